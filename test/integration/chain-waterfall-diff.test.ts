/**
 * Differential test: seeded random portfolios and recoveries run through the on-chain waterfall
 * (Portfolio.depositRecovery on anvil) and through `computeWaterfall()`; every RecoveryDistributed
 * amount and the tranche state afterwards must be equal. Elapsed time comes from block timestamps,
 * as the contract computes it. Reproduce a failure with CHAIN_DIFF_SEED=<seed>.
 */
import { type Address, maxUint256 } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestor,
  approve,
  buy,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
  readPortfolioTerms,
  readTrancheState,
} from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import {
  computeWaterfall,
  type TrancheState,
  type WaterfallFees,
  type WaterfallMode,
} from '../../core/domain/waterfall.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';

const CASES = 20;
const BASE_SEED = BigInt(process.env.CHAIN_DIFF_SEED ?? '0x5eed2024');
const SCALE = 10n ** 12n; // TestStablecoin has 6 decimals
const YEAR = 31_536_000;

// ------------------------------------------------------------------ seeded randomness (splitmix64)

const MASK = (1n << 64n) - 1n;
function createRandom(seed: bigint) {
  let state = seed & MASK;
  const next = (): bigint => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  };
  /** Uniform-ish in [0, n). */
  const below = (n: bigint): bigint => {
    let value = 0n;
    for (let bits = 0n; 1n << bits < n * 2n ** 32n; bits += 64n) value = (value << 64n) | next();
    return value % n;
  };
  const between = (min: bigint, max: bigint): bigint => min + below(max - min + 1n);
  const int = (min: number, max: number): number => Number(between(BigInt(min), BigInt(max)));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)];
  return { below, between, int, pick };
}

type Random = ReturnType<typeof createRandom>;

type Case = {
  seed: bigint;
  mode: WaterfallMode;
  fees: WaterfallFees;
  tranches: { face: bigint; couponBps: number; priceBps: number; sold: bigint }[];
  recoveries: { advanceSeconds: number; amount: bigint }[];
};

const usd = (whole: bigint) => whole * 10n ** 6n;

function randomFace(random: Random): bigint {
  return random.pick([
    () => 1n,
    () => 7n,
    () => random.between(1n, 999n),
    () => usd(random.between(1n, 5_000_000n)),
    () => random.between(1n, usd(10n ** 12n)),
    () => (1n << 100n) + random.below(1n << 20n) + 1n,
  ])();
}

function randomFees(random: Random): WaterfallFees {
  return random.pick([
    () => ({ servicerBps: 0, protocolBps: 0 }),
    () => ({ servicerBps: 10_000, protocolBps: 0 }),
    () => ({ servicerBps: 1, protocolBps: 9_999 }),
    () => ({ servicerBps: 1, protocolBps: 1 }),
    () => ({ servicerBps: 333, protocolBps: 77 }),
    () => {
      const servicerBps = random.int(0, 3_000);
      return { servicerBps, protocolBps: random.int(0, 10_000 - servicerBps) };
    },
    () => {
      const servicerBps = random.int(0, 10_000);
      return { servicerBps, protocolBps: random.int(0, 10_000 - servicerBps) };
    },
  ])();
}

function randomCase(seed: bigint): Case {
  const random = createRandom(seed);
  const count = random.int(1, 6);
  const tranches = Array.from({ length: count }, (_, i) => {
    const residual = i === count - 1;
    const face = randomFace(random);
    const sold = random.pick([0n, face, random.between(1n, face), 1n]);
    return {
      face,
      couponBps: residual
        ? 0
        : random.pick([0, 1, 10_000, 9_999, random.int(0, 2_500), random.int(0, 10_000)]),
      priceBps: random.pick([10_000, 1, 65_535, random.int(1, 20_000)]),
      sold,
    };
  });
  const debt = tranches.slice(0, -1).reduce((sum, t) => sum + t.sold, 0n);
  const recoveries = Array.from({ length: random.int(1, 3) }, () => ({
    advanceSeconds: random.pick([0, 1, 59, 86_400, random.int(0, 5 * YEAR), 3 * YEAR + 7]),
    amount: random.pick([
      () => 1n,
      () => 3n,
      () => random.between(1n, 10_000n),
      () => random.between(1n, debt + 1n),
      () => random.between(1n, (debt * 3n) / 2n + 2n),
      () => debt + random.between(1n, usd(1_000n)),
      () => random.between(1n, 10n ** 30n),
    ])(),
  }));
  return {
    seed,
    mode: random.pick(['interestFirst', 'sequential'] as const),
    fees: randomFees(random),
    tranches,
    recoveries,
  };
}

/** Hand-picked edges every seed keeps: partial principal, then a surplus with no residual holders. */
const edgeCases: Case[] = [
  {
    seed: 0n,
    mode: 'interestFirst',
    fees: { servicerBps: 100, protocolBps: 25 },
    tranches: [
      { face: usd(1_000n), couponBps: 500, priceBps: 10_000, sold: usd(1_000n) },
      { face: usd(500n), couponBps: 900, priceBps: 9_000, sold: usd(250n) },
      { face: usd(100n), couponBps: 0, priceBps: 5_000, sold: 0n },
    ],
    recoveries: [
      { advanceSeconds: YEAR / 2, amount: usd(300n) },
      { advanceSeconds: YEAR, amount: usd(5_000n) + 1n },
    ],
  },
  {
    seed: 1n,
    mode: 'sequential',
    fees: { servicerBps: 0, protocolBps: 0 },
    tranches: [{ face: 1_000n, couponBps: 0, priceBps: 10_000, sold: 999n }],
    recoveries: [{ advanceSeconds: 1, amount: 1n }],
  },
];

const cases: Case[] = [
  ...edgeCases,
  ...Array.from({ length: CASES }, (_, i) => randomCase(BASE_SEED + BigInt(i) * 7919n)),
];

// ------------------------------------------------------------------ chain

let anvil: AnvilInstance;
let platform: ChainClients;
let servicer: ChainClients;
let investor: ChainClients;
let stack: DeployedStack;
let payToken: Address;
let testClient: ReturnType<typeof createAnvilTestClient>;
/** What the recoveries exercised, checked once every case ran. */
const seen = {
  interest: 0,
  principal: 0,
  residual: 0,
  undistributed: 0,
  partialPrincipal: 0,
  zeroElapsed: 0,
};

beforeAll(async () => {
  anvil = await startAnvil();
  platform = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  servicer = withAccount(platform, anvil.accounts[2].privateKey);
  investor = withAccount(platform, anvil.accounts[3].privateKey);
  testClient = createAnvilTestClient(anvil.rpcUrl);
  stack = await deployStack(platform, { treasury: anvil.accounts[6].address });
  payToken = stack.testStablecoin as Address;
  await allowlistInvestor(platform, {
    registry: stack.complianceRegistry,
    account: investor.account.address,
    expiry: 2n ** 62n,
  });
});

afterAll(async () => {
  await anvil?.stop();
});

describe('on-chain waterfall vs computeWaterfall()', () => {
  it('generates varied cases (both modes, unsold tranches, sub-unit and huge amounts)', () => {
    expect(new Set(cases.map((c) => c.mode)).size).toBe(2);
    expect(cases.some((c) => c.tranches.at(-1)?.sold === 0n)).toBe(true);
    expect(cases.some((c) => c.tranches.length >= 3)).toBe(true);
    expect(cases.some((c) => c.recoveries.some((r) => r.amount < 100n))).toBe(true);
    expect(cases.some((c) => c.recoveries.some((r) => r.advanceSeconds > YEAR))).toBe(true);
  });

  it.each(cases.map((c, i) => [i, c] as const))('case %i gives identical amounts', async (_, testCase) => {
    const now = (await platform.publicClient.getBlock()).timestamp;
    const created = await createPortfolio(platform, {
      factory: stack.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: servicer.account.address,
      protocolTreasury: stack.config.treasury,
      servicerFeeBps: testCase.fees.servicerBps,
      protocolFeeBps: testCase.fees.protocolBps,
      mode: testCase.mode,
      offeringEnd: now + 86_400n,
      tranches: testCase.tranches.map((t, i) => ({
        name: `Tranche ${i}`,
        symbol: `T${i}`,
        face: t.face,
        couponBps: t.couponBps,
        priceBps: t.priceBps,
      })),
    });
    const portfolio = created.portfolio;

    // primary sales: the investor buys `sold` face of each tranche
    const totalCost = testCase.tranches.reduce(
      (sum, t) => sum + ceilDiv(t.sold * BigInt(t.priceBps), 10_000n),
      0n,
    );
    if (totalCost > 0n) {
      await mintTestStablecoin(platform, {
        token: payToken,
        to: investor.account.address,
        amount: totalCost,
      });
      await approve(investor, { token: payToken, spender: portfolio, amount: maxUint256 });
    }
    for (const [trancheId, tranche] of testCase.tranches.entries()) {
      if (tranche.sold === 0n) continue;
      await buy(investor, { portfolio, trancheId, amount: tranche.sold * SCALE, maxCost: maxUint256 });
    }
    const closed = await closeOffering(platform, { portfolio });
    expect(closed.sold).toEqual(testCase.tranches.map((t) => t.sold));

    const totalRecovered = testCase.recoveries.reduce((sum, r) => sum + r.amount, 0n);
    await mintTestStablecoin(platform, {
      token: payToken,
      to: servicer.account.address,
      amount: totalRecovered,
    });
    await approve(servicer, { token: payToken, spender: portfolio, amount: maxUint256 });

    // the TypeScript side starts from the state closeOffering fixed and threads its own state
    let state: TrancheState[] = testCase.tranches.map((t) => ({
      face: t.face,
      couponBps: t.couponBps,
      outstanding: t.sold,
      interestArrears: 0n,
    }));
    for (const recovery of testCase.recoveries) {
      if (recovery.advanceSeconds > 0) await testClient.increaseTime({ seconds: recovery.advanceSeconds });
      await testClient.mine({ blocks: 1 });
      const { lastRecoveryAt } = await readPortfolioTerms(platform.publicClient, { portfolio });
      const event = await depositRecovery(servicer, { portfolio, amount: recovery.amount });
      const expected = computeWaterfall({
        tranches: state,
        fees: testCase.fees,
        mode: testCase.mode,
        elapsedSeconds: event.blockTimestamp - lastRecoveryAt,
        amount: recovery.amount,
      });
      const context = { seed: `0x${testCase.seed.toString(16)}`, recoveryId: event.recoveryId };
      expect({ ...context, ...pickAmounts(event) }).toEqual({
        ...context,
        servicerFee: expected.servicerFee,
        protocolFee: expected.protocolFee,
        interest: expected.tranches.map((t) => t.interest),
        principal: expected.tranches.map((t) => t.principal),
        residual: expected.tranches.map((t) => t.residual),
        undistributed: expected.undistributed,
      });
      if (event.interest.some((x) => x > 0n)) seen.interest++;
      if (event.principal.some((x) => x > 0n)) seen.principal++;
      if (event.residual.some((x) => x > 0n)) seen.residual++;
      if (event.undistributed > 0n) seen.undistributed++;
      if (
        expected.tranches.some((t, i) => t.principal > 0n && t.outstandingAfter > 0n && i < state.length - 1)
      ) {
        seen.partialPrincipal++;
      }
      if (event.blockTimestamp === lastRecoveryAt) seen.zeroElapsed++;
      state = expected.state;
    }

    const onChain = await readTrancheState(platform.publicClient, { portfolio });
    expect(onChain.map((t) => [t.outstanding, t.arrears])).toEqual(
      state.map((t) => [t.outstanding, t.interestArrears]),
    );
  });
});

describe('differential coverage', () => {
  it('exercised interest, principal (partly paid), residual and undistributed amounts', () => {
    expect(seen.interest).toBeGreaterThan(0);
    expect(seen.principal).toBeGreaterThan(0);
    expect(seen.partialPrincipal).toBeGreaterThan(0);
    expect(seen.residual).toBeGreaterThan(0);
    expect(seen.undistributed).toBeGreaterThan(0);
    console.info('waterfall differential coverage', seen);
  });
});

function pickAmounts(event: Awaited<ReturnType<typeof depositRecovery>>) {
  const { servicerFee, protocolFee, interest, principal, residual, undistributed } = event;
  return { servicerFee, protocolFee, interest, principal, residual, undistributed };
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}
