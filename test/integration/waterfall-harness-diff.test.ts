/**
 * Differential fuzz of `WaterfallLib` (through `contracts/src/test/WaterfallHarness.sol` on a fresh anvil)
 * against `computeWaterfall()` (core/domain/waterfall.ts), beyond the fixed vectors of spec/vectors/.
 *
 * fast-check generates batches of portfolios (1 to 8 tranches, any starting outstanding and arrears, both
 * modes, any fees) with several recoveries each (amounts from 0 to 2^256 - 1, many of them close to what is
 * owed, elapsed times from 0 to 2^64 - 1 seconds). A batch is one `eth_call`; every output field and the
 * state after each recovery must be the same integers on both sides. On a mismatch fast-check shrinks the
 * batch to a minimal case and prints it with its seed.
 *
 *   WATERFALL_FUZZ_SEED=<int>   seed (default below; a failure prints the one it used)
 *   WATERFALL_FUZZ_RUNS=<int>   fast-check runs, each a batch of 1 to 50 portfolios (default below)
 *
 * Bounds are the contracts': at most 8 tranches (Portfolio.MAX_TRANCHES), face and outstanding at most
 * 2^128 - 1 (Portfolio.initialize), coupons and fees in bps with servicer + protocol <= 10 000, elapsed
 * seconds below 2^64 (uint64 timestamps). Starting arrears go up to 2^192, far beyond what accrual can
 * reach (each recovery adds at most ~2^168), and never near the uint256 overflow of `arrears +=`.
 */
import fc from 'fast-check';
import { type Address, BaseError, ContractFunctionRevertedError, maxUint256 } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChainClients, createChainClients } from '../../core/chain/clients.ts';
import { waterfallHarnessAbi, waterfallHarnessBytecode } from '../../core/chain/generated/index.ts';
import { DomainInputError } from '../../core/domain/errors.ts';
import {
  accrueInterest,
  BPS_DENOMINATOR,
  computeWaterfall,
  type TrancheState,
  type WaterfallFees,
  type WaterfallMode,
} from '../../core/domain/waterfall.ts';
import { type AnvilInstance, startAnvil } from '../helpers/anvil.ts';

const SEED = Number(process.env.WATERFALL_FUZZ_SEED ?? 0x5eed11);
/** fast-check runs; each is one eth_call of 1 to MAX_BATCH portfolios (about 24 on average). */
const RUNS = Number(process.env.WATERFALL_FUZZ_RUNS ?? 300);
/** Portfolios per eth_call (fast-check's array, so a failing batch shrinks to one portfolio). */
const MAX_BATCH = 50;

const MAX_TRANCHES = 8;
const MAX_FACE = (1n << 128n) - 1n;
const MAX_ELAPSED = (1n << 64n) - 1n;
const MAX_ARREARS = 1n << 192n;
const YEAR = 31_536_000n;
const MODES: readonly WaterfallMode[] = ['interestFirst', 'sequential'];

// ------------------------------------------------------------------ generators

/**
 * How a recovery's amount is chosen: absolute, or relative to what the portfolio owes when it arrives
 * (`withInterest` ? all interest : none, plus `numerator / denominator` of the principal, grossed up for
 * the fees, plus `delta`), so that partial payments and exact payoffs come up often.
 */
type AmountSpec =
  | { kind: 'absolute'; value: bigint }
  | { kind: 'owed'; withInterest: boolean; numerator: bigint; denominator: bigint; delta: bigint };

type FuzzTranche = { face: bigint; outstanding: bigint; arrears: bigint; couponBps: number };
type FuzzRecovery = { elapsedSeconds: bigint; amount: AmountSpec };
type FuzzCase = {
  mode: number;
  fees: WaterfallFees;
  tranches: FuzzTranche[];
  recoveries: FuzzRecovery[];
};

const faceArb = fc.oneof(
  fc.bigInt({ min: 1n, max: 1_000n }),
  fc.bigInt({ min: 1n, max: 10n ** 15n }),
  fc.bigInt({ min: 1n, max: MAX_FACE }),
  fc.constant(MAX_FACE),
);

/** A tranche whose outstanding is anywhere in [0, face] with a bias to face, 0 and 1. */
const trancheArb = (residual: boolean): fc.Arbitrary<FuzzTranche> =>
  faceArb.chain((face) =>
    fc.record({
      face: fc.constant(face),
      outstanding: fc.oneof(
        fc.constant(face),
        fc.constant(0n),
        fc.constant(1n),
        fc.bigInt({ min: 0n, max: face }),
      ),
      arrears: residual
        ? fc.constant(0n)
        : fc.oneof(
            { weight: 6, arbitrary: fc.constant(0n) },
            fc.bigInt({ min: 0n, max: 1n << 64n }),
            fc.bigInt({ min: 0n, max: MAX_ARREARS }),
          ),
      couponBps: residual
        ? fc.constant(0)
        : fc.oneof(
            fc.constantFrom(0, 1, 9_999, 10_000),
            fc.integer({ min: 0, max: 2_500 }),
            fc.integer({ min: 0, max: 10_000 }),
          ),
    }),
  );

const feesArb: fc.Arbitrary<WaterfallFees> = fc.oneof(
  fc.constantFrom(
    { servicerBps: 0, protocolBps: 0 },
    { servicerBps: 10_000, protocolBps: 0 },
    { servicerBps: 0, protocolBps: 10_000 },
    { servicerBps: 1, protocolBps: 9_999 },
    { servicerBps: 5_000, protocolBps: 5_000 },
    { servicerBps: 1, protocolBps: 1 },
  ),
  fc
    .integer({ min: 0, max: 3_000 })
    .chain((servicerBps) =>
      fc.integer({ min: 0, max: 10_000 - servicerBps }).map((protocolBps) => ({ servicerBps, protocolBps })),
    ),
  fc
    .integer({ min: 0, max: 10_000 })
    .chain((servicerBps) =>
      fc.integer({ min: 0, max: 10_000 - servicerBps }).map((protocolBps) => ({ servicerBps, protocolBps })),
    ),
);

const elapsedArb = fc.oneof(
  fc.constantFrom(0n, 1n, 59n, 86_400n, YEAR, MAX_ELAPSED),
  fc.bigInt({ min: 0n, max: 5n * YEAR }),
  fc.bigInt({ min: 0n, max: MAX_ELAPSED }),
);

const amountArb: fc.Arbitrary<AmountSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('owed' as const),
      withInterest: fc.boolean(),
      numerator: fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 1_000n })),
      denominator: fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 1_000n })),
      delta: fc.oneof(fc.constant(0n), fc.bigInt({ min: -3n, max: 3n })),
    }),
  },
  fc.record({
    kind: fc.constant('absolute' as const),
    value: fc.oneof(
      fc.constantFrom(0n, 1n, 2n, 9_999n, 10_000n, 10_001n, maxUint256, maxUint256 - 1n),
      fc.bigInt({ min: 0n, max: 10n ** 12n }),
      fc.bigInt({ min: 0n, max: 1n << 140n }),
      fc.bigInt({ min: 0n, max: maxUint256 }),
    ),
  }),
);

const caseArb: fc.Arbitrary<FuzzCase> = fc.integer({ min: 1, max: MAX_TRANCHES }).chain((count) =>
  fc.record({
    mode: fc.constantFrom(0, 1),
    fees: feesArb,
    tranches: fc.tuple(...Array.from({ length: count }, (_, i) => trancheArb(i === count - 1))),
    recoveries: fc.array(fc.record({ elapsedSeconds: elapsedArb, amount: amountArb }), {
      minLength: 1,
      maxLength: 8,
    }),
  }),
);

// ------------------------------------------------------------------ the TypeScript side

type Expected = { amounts: bigint[]; steps: ReturnType<typeof computeWaterfall>[] };

/** What the debt tranches owe once `elapsedSeconds` accrued: interest (arrears + accrual) and principal. */
function owedOf(
  state: readonly TrancheState[],
  elapsedSeconds: bigint,
): { interest: bigint; principal: bigint } {
  let interest = 0n;
  let principal = 0n;
  for (const tranche of state.slice(0, -1)) {
    principal += tranche.outstanding;
    interest += tranche.interestArrears;
    interest += accrueInterest({
      outstanding: tranche.outstanding,
      couponBps: tranche.couponBps,
      elapsedSeconds,
    });
  }
  return { interest, principal };
}

function resolveAmount(
  spec: AmountSpec,
  owed: { interest: bigint; principal: bigint },
  fees: WaterfallFees,
): bigint {
  if (spec.kind === 'absolute') return spec.value;
  const net = (spec.withInterest ? owed.interest : 0n) + (owed.principal * spec.numerator) / spec.denominator;
  // nothing (or nothing chosen) owed: a small surplus rather than yet another zero
  if (net === 0n) return spec.numerator + spec.delta + 3n;
  // grossed up (ceil) so that what the fees leave is `net`; with 100 % fees nothing is left anyway
  const kept = BPS_DENOMINATOR - BigInt(fees.servicerBps + fees.protocolBps);
  const gross = kept === 0n ? net : (net * BPS_DENOMINATOR + kept - 1n) / kept;
  const amount = gross + spec.delta;
  if (amount < 0n) return 0n;
  return amount > maxUint256 ? maxUint256 : amount;
}

/** Runs a case through computeWaterfall, the state carried; resolves the amounts on the way. */
function expectedOf(testCase: FuzzCase): Expected {
  let state: TrancheState[] = testCase.tranches.map((t) => ({
    face: t.face,
    couponBps: t.couponBps,
    outstanding: t.outstanding,
    interestArrears: t.arrears,
  }));
  const amounts: bigint[] = [];
  const steps: Expected['steps'] = [];
  for (const recovery of testCase.recoveries) {
    const owed = owedOf(state, recovery.elapsedSeconds);
    const amount = resolveAmount(recovery.amount, owed, testCase.fees);
    amounts.push(amount);
    const step = computeWaterfall({
      tranches: state,
      fees: testCase.fees,
      // an index past MODES (the unknown-mode test) must reach computeWaterfall as an unknown mode, not undefined
      mode: MODES[testCase.mode] ?? (`unknown-${testCase.mode}` as WaterfallMode),
      elapsedSeconds: recovery.elapsedSeconds,
      amount,
    });
    steps.push(step);
    state = step.state;
  }
  return { amounts, steps };
}

/** A step's numbers in one shape for both sides, so a mismatch diff shows the field. */
type Comparable = {
  servicerFee: bigint;
  protocolFee: bigint;
  undistributed: bigint;
  tranches: {
    interest: bigint;
    principal: bigint;
    residual: bigint;
    total: bigint;
    outstanding: bigint;
    arrears: bigint;
    couponBps: bigint;
  }[];
};

function comparableExpected(step: ReturnType<typeof computeWaterfall>): Comparable {
  return {
    servicerFee: step.servicerFee,
    protocolFee: step.protocolFee,
    undistributed: step.undistributed,
    tranches: step.tranches.map((t, i) => {
      // computeWaterfall reports the state twice (per payment and as `state`): they must agree too
      expect([t.outstandingAfter, t.interestArrearsAfter]).toEqual([
        step.state[i].outstanding,
        step.state[i].interestArrears,
      ]);
      return {
        interest: t.interest,
        principal: t.principal,
        residual: t.residual,
        total: t.total,
        outstanding: step.state[i].outstanding,
        arrears: step.state[i].interestArrears,
        couponBps: BigInt(step.state[i].couponBps),
      };
    }),
  };
}

type HarnessStep = Awaited<ReturnType<typeof runOnChain>>[number][number];

function comparableActual(step: HarnessStep): Comparable {
  const { result, totals, stateAfter } = step;
  return {
    servicerFee: result.servicerFee,
    protocolFee: result.protocolFee,
    undistributed: result.undistributed,
    tranches: stateAfter.map((t, i) => ({
      interest: result.interest[i],
      principal: result.principal[i],
      residual: result.residual[i],
      total: totals[i],
      outstanding: t.outstanding,
      arrears: t.arrears,
      couponBps: t.couponBps,
    })),
  };
}

// ------------------------------------------------------------------ the chain side

let anvil: AnvilInstance;
let clients: ChainClients;
let harness: Address;

type HarnessSequence = {
  tranches: { outstanding: bigint; arrears: bigint; couponBps: bigint }[];
  mode: number;
  servicerFeeBps: bigint;
  protocolFeeBps: bigint;
  amounts: bigint[];
  elapsedSeconds: bigint[];
};

function toSequence(testCase: FuzzCase, amounts: readonly bigint[]): HarnessSequence {
  return {
    tranches: testCase.tranches.map((t) => ({
      outstanding: t.outstanding,
      arrears: t.arrears,
      couponBps: BigInt(t.couponBps),
    })),
    mode: testCase.mode,
    servicerFeeBps: BigInt(testCase.fees.servicerBps),
    protocolFeeBps: BigInt(testCase.fees.protocolBps),
    amounts: [...amounts],
    elapsedSeconds: testCase.recoveries.map((r) => r.elapsedSeconds),
  };
}

function runOnChain(sequences: readonly HarnessSequence[]) {
  return clients.publicClient.readContract({
    address: harness,
    abi: waterfallHarnessAbi,
    functionName: 'runSequences',
    args: [sequences],
  });
}

/** What the runs exercised; checked at the end so the generators cannot silently go degenerate. */
const seen = {
  portfolios: 0,
  steps: 0,
  partialInterest: 0,
  partialPrincipal: 0,
  exactPayoff: 0,
  residual: 0,
  undistributed: 0,
  zeroAmount: 0,
  hugeAmount: 0,
  accrualOnHugeElapsed: 0,
  sequential: 0,
  interestFirst: 0,
  allFees: 0,
  eightTranches: 0,
};

function record(testCase: FuzzCase, expected: Expected): void {
  seen.portfolios++;
  seen[testCase.mode === 0 ? 'interestFirst' : 'sequential']++;
  if (testCase.tranches.length === MAX_TRANCHES) seen.eightTranches++;
  for (const [k, step] of expected.steps.entries()) {
    seen.steps++;
    const amount = expected.amounts[k];
    const debt = step.tranches.slice(0, -1);
    if (amount === 0n) seen.zeroAmount++;
    if (amount > 1n << 200n) seen.hugeAmount++;
    if (step.servicerFee + step.protocolFee === amount && amount > 0n) seen.allFees++;
    if (debt.some((t) => t.interest > 0n && t.interestArrearsAfter > 0n)) seen.partialInterest++;
    if (debt.some((t) => t.principal > 0n && t.outstandingAfter > 0n)) seen.partialPrincipal++;
    if (
      debt.some((t) => t.principal > 0n) &&
      debt.every((t) => t.outstandingAfter === 0n && t.interestArrearsAfter === 0n) &&
      step.undistributed === 0n &&
      (step.tranches.at(-1)?.residual ?? 0n) === 0n
    ) {
      seen.exactPayoff++;
    }
    if ((step.tranches.at(-1)?.residual ?? 0n) > 0n) seen.residual++;
    if (step.undistributed > 0n) seen.undistributed++;
    if (testCase.recoveries[k].elapsedSeconds > 1n << 40n && debt.some((t) => t.interest > 1n << 100n)) {
      seen.accrualOnHugeElapsed++;
    }
  }
}

beforeAll(async () => {
  anvil = await startAnvil({ gasLimit: 2_000_000_000n });
  clients = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  const hash = await clients.walletClient.deployContract({
    abi: waterfallHarnessAbi,
    bytecode: waterfallHarnessBytecode,
  });
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new Error('WaterfallHarness deploy failed');
  harness = receipt.contractAddress;
});

afterAll(async () => {
  await anvil?.stop();
});

describe('WaterfallLib (on anvil) vs computeWaterfall()', () => {
  it(`gives the same integers on ${RUNS} random batches of portfolios with recoveries in sequence (seed ${SEED})`, async () => {
    const property = fc.asyncProperty(
      fc.array(caseArb, { minLength: 1, maxLength: MAX_BATCH, size: 'max' }),
      async (batch) => {
        const expected = batch.map(expectedOf);
        const steps = await runOnChain(batch.map((c, i) => toSequence(c, expected[i].amounts)));
        expect(steps).toHaveLength(batch.length);
        for (const [s, testCase] of batch.entries()) {
          expect(steps[s]).toHaveLength(testCase.recoveries.length);
          for (const [k, step] of expected[s].steps.entries()) {
            const context = { portfolio: s, recovery: k, amount: expected[s].amounts[k] };
            expect({ ...context, ...comparableActual(steps[s][k]) }).toEqual({
              ...context,
              ...comparableExpected(step),
            });
          }
        }
        for (const [s, testCase] of batch.entries()) record(testCase, expected[s]);
      },
    );
    try {
      await fc.assert(property, { seed: SEED, numRuns: RUNS });
    } catch (error) {
      // fast-check's message has the seed and the shrunk counterexample, its cause the field that differs
      const { message, cause } = error as Error;
      throw new Error(
        `waterfall differential fuzz failed; reproduce with WATERFALL_FUZZ_SEED=${SEED} WATERFALL_FUZZ_RUNS=${RUNS}\n${message}`,
        { cause },
      );
    }
    console.info('waterfall harness differential coverage', { seed: SEED, runs: RUNS, ...seen });
    // bounded by RUNS, not by time: the timeout only catches a hung anvil (the default 60 s can be hit on
    // a loaded machine, and a larger WATERFALL_FUZZ_RUNS needs longer)
  }, 3_600_000);

  it('exercised every branch: partial payments, exact payoffs, residual, undistributed, extremes, both modes', () => {
    for (const [field, count] of Object.entries(seen)) {
      expect({ field, atLeastOnce: count > 0 }).toEqual({ field, atLeastOnce: true });
    }
  });

  it('both reject what neither accepts: no tranche, fees above 10 000 bps, an unknown mode', async () => {
    const tranche = { face: 100n, outstanding: 100n, arrears: 0n, couponBps: 500 };
    const valid: FuzzCase = {
      mode: 0,
      fees: { servicerBps: 0, protocolBps: 0 },
      tranches: [tranche, { ...tranche, couponBps: 0 }],
      recoveries: [{ elapsedSeconds: 10n, amount: { kind: 'absolute', value: 50n } }],
    };
    const invalid: FuzzCase[] = [
      { ...valid, tranches: [] },
      { ...valid, fees: { servicerBps: 5_001, protocolBps: 5_000 } },
      { ...valid, fees: { servicerBps: 10_001, protocolBps: 0 } },
      { ...valid, mode: 2 },
    ];
    // the valid base case runs on both sides (so the rejections below are about the change)
    const expected = expectedOf(valid);
    const [steps] = await runOnChain([toSequence(valid, expected.amounts)]);
    expect(comparableActual(steps[0])).toEqual(comparableExpected(expected.steps[0]));
    for (const testCase of invalid) {
      expect(() => expectedOf(testCase)).toThrow(DomainInputError);
      // 10 000: fees above 10 000 bps only panic when their floors exceed the amount (10 001 bps of 50 is 50)
      const error = await runOnChain([toSequence(testCase, [10_000n])]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BaseError);
      expect((error as BaseError).walk((e) => e instanceof ContractFunctionRevertedError)).toBeTruthy();
    }
  });
  // A coupon above 10 000 bps, which computeWaterfall rejects, was accepted by Portfolio.initialize:
  // found here, fixed there (Portfolio.t.sol test_initialize_revertsOnCouponAboveTheWhole).
});
