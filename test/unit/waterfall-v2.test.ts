import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainInputError } from '../../core/domain/errors.ts';
import { parseWithSchema, waterfallCaseSchema } from '../../core/domain/vectors.ts';
import {
  type ComputeWaterfallV2Parameters,
  computeWaterfall,
  computeWaterfallV2,
  MAX_BUSINESS_PLAN_POINTS,
  plannedCollections,
  type RunWaterfallV2Parameters,
  runWaterfall,
  runWaterfallV2,
  SECONDS_PER_YEAR,
  type TrancheState,
  type WaterfallMode,
  type WaterfallTrigger,
} from '../../core/domain/waterfall.ts';

type Json = Record<string, unknown>;
const v2Text = readFileSync(new URL('../../spec/vectors/waterfall-v2.json', import.meta.url), 'utf8');
const v1Text = readFileSync(new URL('../../spec/vectors/waterfall.json', import.meta.url), 'utf8');
const v2Cases = (JSON.parse(v2Text) as { waterfall: Json[] }).waterfall;
const v1Cases = (JSON.parse(v1Text) as { waterfall: Json[] }).waterfall;

/** A vector case parsed by the same schema the CLI uses (amounts -> bigint). */
const parseCase = (raw: Json) => parseWithSchema(waterfallCaseSchema, raw);

/** Result as JSON-shaped strings, fields in the vectors' key order, to compare with `expected`. */
const toVectorJson = (result: ReturnType<typeof computeWaterfallV2>) => ({
  servicerFee: String(result.servicerFee),
  protocolFee: String(result.protocolFee),
  triggerBreached: result.triggerBreached,
  reserve: {
    released: String(result.reserve.released),
    drawn: String(result.reserve.drawn),
    replenished: String(result.reserve.replenished),
    balanceAfter: String(result.reserve.balanceAfter),
  },
  tranches: result.tranches.map((t) => ({
    interest: String(t.interest),
    principal: String(t.principal),
    residual: String(t.residual),
    total: String(t.total),
    outstandingAfter: String(t.outstandingAfter),
    interestArrearsAfter: String(t.interestArrearsAfter),
    principalWrittenOff: String(t.principalWrittenOff),
    interestWrittenOff: String(t.interestWrittenOff),
  })),
  undistributed: String(result.undistributed),
});

describe('runWaterfallV2() on the normative v2 vectors', () => {
  it('has the 14 v2 cases, the first six being the v1 cases', () => {
    expect(v2Cases).toHaveLength(14);
    const strip = ({ expected: _, ...rest }: Json) => rest;
    expect(v2Cases.slice(0, 6).map(strip)).toEqual(v1Cases.map(strip));
  });

  it.each(v2Cases.map((c) => [c.id as string, c] as const))('%s gives every expected field', (_id, raw) => {
    const { results } = runWaterfallV2(parseCase(raw));
    const expected = raw.expected as unknown[];
    expect(results).toHaveLength(expected.length);
    for (const [i, result] of results.entries()) {
      // field by field, so a failure names the recovery; then the whole object in key order
      expect(toVectorJson(result), `recovery ${i}`).toEqual(expected[i]);
      expect(JSON.stringify(toVectorJson(result))).toBe(JSON.stringify(expected[i]));
    }
  });

  it.each(v1Cases.map((c) => [c.id as string, c] as const))(
    '%s: the v1 vector through v2 has the v1 numbers and zero/false v2 fields',
    (_id, raw) => {
      const { results } = runWaterfallV2(parseCase(raw));
      for (const [i, result] of results.entries()) {
        const { triggerBreached, reserve, tranches, ...v1 } = toVectorJson(result);
        expect(triggerBreached).toBe(false);
        expect(reserve).toEqual({ released: '0', drawn: '0', replenished: '0', balanceAfter: '0' });
        const expected = (raw.expected as Json[])[i];
        expect({
          ...v1,
          tranches: tranches.map(({ principalWrittenOff, interestWrittenOff, ...t }) => {
            expect([principalWrittenOff, interestWrittenOff]).toEqual(['0', '0']);
            return t;
          }),
        }).toEqual(expected);
      }
    },
  );
});

const year = Number(SECONDS_PER_YEAR);
const abc = (): TrancheState[] => [
  { name: 'A', face: 600n, outstanding: 600n, interestArrears: 0n, couponBps: 1000 },
  { name: 'B', face: 300n, outstanding: 300n, interestArrears: 0n, couponBps: 2000 },
  { name: 'C', face: 100n, outstanding: 100n, interestArrears: 0n, couponBps: 0, residual: true },
];
const noFees = { servicerBps: 0, protocolBps: 0 };
const plan: WaterfallTrigger = {
  collectionRatioBps: 9000,
  businessPlan: [
    { atSeconds: 100, cumulative: 1000n },
    { atSeconds: 200, cumulative: 2000n },
  ],
};

describe('computeWaterfallV2()', () => {
  it('plannedCollections() takes the last point at or before T, 0 before the first', () => {
    const points = plan.businessPlan;
    expect(plannedCollections(points, 99n)).toBe(0n);
    expect(plannedCollections(points, 100n)).toBe(1000n);
    expect(plannedCollections(points, 199n)).toBe(1000n);
    expect(plannedCollections(points, 200n)).toBe(2000n);
    expect(plannedCollections(points, 10n ** 12n)).toBe(2000n);
  });

  it('breaches exactly when collected * 10000 < ratio * plan(T), counting this recovery', () => {
    const at = (collected: bigint, amount: bigint) =>
      computeWaterfallV2({
        tranches: abc(),
        fees: noFees,
        elapsedSeconds: 50,
        clockSeconds: 50,
        collected,
        amount,
        trigger: plan,
      });
    // plan(100) = 1000, threshold 900
    expect(at(0n, 899n).triggerBreached).toBe(true);
    expect(at(0n, 900n).triggerBreached).toBe(false);
    expect(at(800n, 100n).triggerBreached).toBe(false);
    expect(at(800n, 99n).triggerBreached).toBe(true);
    expect(at(800n, 99n)).toMatchObject({ clockSeconds: 100n, collected: 899n, planned: 1000n });
  });

  it('carries the clock and the collections across recoveries in runWaterfallV2()', () => {
    const { results, clockSeconds, collected } = runWaterfallV2({
      tranches: abc(),
      fees: noFees,
      trigger: plan,
      recoveries: [
        { elapsedSeconds: 99, amount: 0n }, // T 99: nothing planned yet
        { elapsedSeconds: 1, amount: 899n }, // T 100: 899 < 900
        { elapsedSeconds: 100, amount: 901n }, // T 200: 1800 >= 1800
      ],
    });
    expect(results.map((r) => r.triggerBreached)).toEqual([false, true, false]);
    expect(results.map((r) => r.planned)).toEqual([0n, 1000n, 2000n]);
    expect([clockSeconds, collected]).toEqual([200n, 1800n]);
  });

  it('draws on the reserve only for the senior interest, never for junior interest or principal', () => {
    const result = computeWaterfallV2({
      tranches: abc(),
      fees: noFees,
      elapsedSeconds: year,
      amount: 10n,
      reserve: { targetBps: 1000, balance: 500n },
    });
    // A accrues 60, B 60; target 60, so 440 is released; 450 pays A's 60, the reserve is at its
    // target (nothing replenished), B is paid its 60 and 330 is principal of A.
    expect(result.reserve).toEqual({ released: 440n, drawn: 0n, replenished: 0n, balanceAfter: 60n });
    expect(result.tranches.map((t) => [t.interest, t.principal])).toEqual([
      [60n, 330n],
      [60n, 0n],
      [0n, 0n],
    ]);
    const short = computeWaterfallV2({
      tranches: abc(),
      fees: noFees,
      elapsedSeconds: year,
      amount: 10n,
      reserve: { targetBps: 1000, balance: 30n },
    });
    expect(short.reserve).toEqual({ released: 0n, drawn: 30n, replenished: 0n, balanceAfter: 0n });
    expect(short.tranches[0]).toMatchObject({ interest: 40n, interestArrearsAfter: 20n });
    expect(short.tranches[1]).toMatchObject({ interest: 0n, interestArrearsAfter: 60n });
  });

  it('on final releases the whole reserve and writes off what is left; no recovery may follow', () => {
    const parameters: RunWaterfallV2Parameters = {
      tranches: abc(),
      fees: noFees,
      mode: 'sequential',
      reserve: { targetBps: 1000, initial: 60n },
      recoveries: [{ elapsedSeconds: year, amount: 100n, final: true }],
    };
    const { results, state, reserveBalance, resolved } = runWaterfallV2(parameters);
    expect(results[0].reserve).toEqual({ released: 60n, drawn: 0n, replenished: 0n, balanceAfter: 0n });
    expect(results[0].tranches.map((t) => [t.principalWrittenOff, t.interestWrittenOff])).toEqual([
      [500n, 0n],
      [300n, 60n],
      [0n, 0n],
    ]);
    expect(state.map((t) => [t.outstanding, t.interestArrears])).toEqual([
      [0n, 0n],
      [0n, 0n],
      [100n, 0n],
    ]);
    expect([reserveBalance, resolved]).toEqual([0n, true]);

    const after = () =>
      runWaterfallV2({
        ...parameters,
        recoveries: [...parameters.recoveries, { elapsedSeconds: 1, amount: 0n }],
      });
    expect(after).toThrow(DomainInputError);
    expect(fieldsOf(after)).toEqual(['recoveries[1]']);
  });

  it('with only a residual tranche has no senior: the target is 0 and the reserve is released', () => {
    const result = computeWaterfallV2({
      tranches: [{ face: 5n, outstanding: 5n, interestArrears: 0n, couponBps: 0 }],
      fees: noFees,
      elapsedSeconds: 0,
      amount: 7n,
      reserve: { targetBps: 5000, balance: 3n },
    });
    expect(result.reserve).toEqual({ released: 3n, drawn: 0n, replenished: 0n, balanceAfter: 0n });
    expect(result.tranches[0].residual).toBe(10n);
  });

  it('does not mutate its input', () => {
    const tranches = abc();
    const reserve = { targetBps: 1000, balance: 5n };
    const before = JSON.stringify([tranches, reserve], (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    computeWaterfallV2({ tranches, fees: noFees, elapsedSeconds: year, amount: 50n, reserve, final: true });
    expect(JSON.stringify([tranches, reserve], (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(
      before,
    );
  });
});

function fieldsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainInputError);
    return (error as DomainInputError).issues.map((i) => i.field);
  }
  throw new Error('expected a DomainInputError');
}

describe('waterfall v2 rejects bad input with the field', () => {
  const base = (): RunWaterfallV2Parameters & { trigger: WaterfallTrigger } => ({
    tranches: abc(),
    fees: noFees,
    reserve: { targetBps: 400, initial: 10n },
    trigger: {
      collectionRatioBps: 9000,
      businessPlan: [
        { atSeconds: 10, cumulative: 100n },
        { atSeconds: 20, cumulative: 200n },
        { atSeconds: 30, cumulative: 300n },
      ],
    },
    recoveries: [{ elapsedSeconds: 10, amount: 50n }],
  });
  type Mutable = ReturnType<typeof base> & Record<string, unknown>;
  const points = (p: Mutable) => p.trigger.businessPlan as { atSeconds: unknown; cumulative: unknown }[];

  it('accepts the valid baseline', () => {
    expect(runWaterfallV2(base()).results).toHaveLength(1);
  });

  it.each<[string, (p: Mutable) => void, string[]]>([
    [
      'unsorted plan points',
      (p) => {
        points(p).reverse();
        for (const [i, point] of points(p).entries()) point.cumulative = BigInt(i) * 100n;
      },
      ['trigger.businessPlan[1].atSeconds', 'trigger.businessPlan[2].atSeconds'],
    ],
    [
      'a duplicate plan point',
      (p) => {
        points(p)[2].atSeconds = 20;
      },
      ['trigger.businessPlan[2].atSeconds'],
    ],
    [
      'a decreasing cumulative',
      (p) => {
        points(p)[1].cumulative = 99n;
      },
      ['trigger.businessPlan[1].cumulative'],
    ],
    [
      'a negative cumulative',
      (p) => {
        points(p)[0].cumulative = -1n;
      },
      ['trigger.businessPlan[0].cumulative'],
    ],
    [
      'a non-numeric cumulative',
      (p) => {
        points(p)[0].cumulative = '100';
      },
      ['trigger.businessPlan[0].cumulative'],
    ],
    [
      'a negative atSeconds',
      (p) => {
        points(p)[0].atSeconds = -1;
      },
      ['trigger.businessPlan[0].atSeconds'],
    ],
    [
      'a fractional atSeconds',
      (p) => {
        points(p)[0].atSeconds = 1.5;
      },
      ['trigger.businessPlan[0].atSeconds'],
    ],
    [
      `more than ${MAX_BUSINESS_PLAN_POINTS} plan points`,
      (p) => {
        p.trigger.businessPlan = Array.from({ length: MAX_BUSINESS_PLAN_POINTS + 1 }, (_, i) => ({
          atSeconds: i,
          cumulative: BigInt(i),
        }));
      },
      ['trigger.businessPlan'],
    ],
    [
      'an empty plan',
      (p) => {
        p.trigger.businessPlan = [];
      },
      ['trigger.businessPlan'],
    ],
    [
      'a collection ratio above 10000 bps',
      (p) => {
        p.trigger.collectionRatioBps = 10_001;
      },
      ['trigger.collectionRatioBps'],
    ],
    [
      'a reserve target above 10000 bps',
      (p) => {
        p.reserve = { targetBps: 10_001, initial: 0n };
      },
      ['reserve.targetBps'],
    ],
    [
      'a negative initial reserve',
      (p) => {
        p.reserve = { targetBps: 100, initial: -1n };
      },
      ['reserve.initial'],
    ],
    [
      'a non-boolean final',
      (p) => {
        (p.recoveries as unknown as Record<string, unknown>[])[0].final = 'yes';
      },
      ['recoveries[0].final'],
    ],
  ])('rejects %s', (_name, mutate, fields) => {
    const p = base() as Mutable;
    mutate(p);
    expect(fieldsOf(() => runWaterfallV2(p))).toEqual(fields);
  });

  it('accepts a plan of exactly the maximum number of points', () => {
    const p = base();
    p.trigger.businessPlan = Array.from({ length: MAX_BUSINESS_PLAN_POINTS }, (_, i) => ({
      atSeconds: i,
      cumulative: BigInt(i),
    }));
    expect(runWaterfallV2(p).results).toHaveLength(1);
  });

  it('computeWaterfallV2() rejects a negative reserve balance, clock or collected', () => {
    const p: ComputeWaterfallV2Parameters = {
      tranches: abc(),
      fees: noFees,
      elapsedSeconds: 0,
      amount: 0n,
      reserve: { targetBps: 1, balance: -1n },
      clockSeconds: -1,
      collected: -1n,
    };
    expect(fieldsOf(() => computeWaterfallV2(p))).toEqual(['reserve.balance', 'clockSeconds', 'collected']);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const bigintUpTo = (max: bigint) => fc.bigInt({ min: 0n, max });

const trancheTermsArb = fc.record({
  face: fc.oneof(bigintUpTo(10n ** 6n), bigintUpTo(10n ** 15n)),
  couponBps: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 10_000 })),
});

const planArb = fc
  .array(fc.record({ gap: fc.integer({ min: 1, max: year }), step: bigintUpTo(10n ** 15n) }), {
    minLength: 1,
    maxLength: 12,
  })
  .map((steps) => {
    let at = 0;
    let cumulative = 0n;
    return steps.map(({ gap, step }, i) => {
      at += i === 0 ? gap - 1 : gap; // the first point may be at 0
      cumulative += step;
      return { atSeconds: at, cumulative };
    });
  });

const triggerArb: fc.Arbitrary<WaterfallTrigger> = fc.record({
  collectionRatioBps: fc.integer({ min: 0, max: 10_000 }),
  businessPlan: planArb,
});

const recoveryArb = fc.record({
  elapsedSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: year })),
  amount: fc.oneof(fc.constant(0n), bigintUpTo(10n ** 7n), bigintUpTo(10n ** 15n)),
});

const portfolioArb = fc
  .record({
    debt: fc.array(trancheTermsArb, { minLength: 0, maxLength: 7 }),
    residualFace: fc.oneof(fc.constant(0n), bigintUpTo(10n ** 12n)),
    servicerBps: fc.integer({ min: 0, max: 3000 }),
    protocolBps: fc.integer({ min: 0, max: 1000 }),
    mode: fc.constantFrom<WaterfallMode>('interestFirst', 'sequential'),
    reserve: fc.option(
      fc.record({
        targetBps: fc.integer({ min: 0, max: 10_000 }),
        initial: fc.oneof(fc.constant(0n), bigintUpTo(10n ** 7n), bigintUpTo(10n ** 15n)),
      }),
      { nil: undefined },
    ),
    trigger: fc.option(triggerArb, { nil: undefined }),
    recoveries: fc.array(recoveryArb, { minLength: 1, maxLength: 8 }),
    final: fc.boolean(),
  })
  .map(
    (p): RunWaterfallV2Parameters => ({
      mode: p.mode,
      fees: { servicerBps: p.servicerBps, protocolBps: p.protocolBps },
      tranches: [...p.debt, { face: p.residualFace, couponBps: 0, residual: true }],
      reserve: p.reserve,
      trigger: p.trigger,
      recoveries: p.recoveries.map((r, i) => ({ ...r, final: p.final && i === p.recoveries.length - 1 })),
    }),
  );

const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
/** The senior's outstanding after the payments of a recovery, before any write-off. */
const seniorLeft = (result: ReturnType<typeof computeWaterfallV2>) =>
  result.tranches[0].outstandingAfter + result.tranches[0].principalWrittenOff;

describe('waterfall v2 properties', () => {
  it('conserves cash: amount + released + drawn == fees + Σ totals + replenished + undistributed', () => {
    fc.assert(
      fc.property(portfolioArb, (p) => {
        const { results } = runWaterfallV2(p);
        for (const [i, r] of results.entries()) {
          const inflow = p.recoveries[i].amount + r.reserve.released + r.reserve.drawn;
          const outflow =
            r.servicerFee +
            r.protocolFee +
            sum(r.tranches.map((t) => t.total)) +
            r.reserve.replenished +
            r.undistributed;
          expect(outflow).toBe(inflow);
          for (const t of r.tranches) expect(t.total).toBe(t.interest + t.principal + t.residual);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the reserve between 0 and initial + Σ replenished, and books every movement', () => {
    fc.assert(
      fc.property(portfolioArb, (p) => {
        const { results } = runWaterfallV2(p);
        let balance = p.reserve?.initial ?? 0n;
        let replenishedSoFar = 0n;
        for (const r of results) {
          const { released, drawn, replenished, balanceAfter } = r.reserve;
          for (const movement of [released, drawn, replenished]) expect(movement >= 0n).toBe(true);
          expect(balanceAfter).toBe(balance - released - drawn + replenished);
          replenishedSoFar += replenished;
          expect(balanceAfter >= 0n).toBe(true);
          expect(balanceAfter <= (p.reserve?.initial ?? 0n) + replenishedSoFar).toBe(true);
          // never replenished above the target, never released below it
          expect(replenished === 0n || balanceAfter <= r.reserveTarget).toBe(true);
          expect(released === 0n || balance - released === r.reserveTarget).toBe(true);
          // a draw only pays senior interest, and only once the cash did not
          expect(drawn <= r.tranches[0].interest).toBe(true);
          balance = balanceAfter;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('pays no junior principal while a more senior tranche has principal outstanding', () => {
    fc.assert(
      fc.property(portfolioArb, (p) => {
        const { results } = runWaterfallV2(p);
        for (const r of results) {
          const debtCount = r.tranches.length - 1;
          for (let j = 1; j < debtCount; j++) {
            if (r.tranches[j].principal === 0n) continue;
            for (let s = 0; s < j; s++) {
              expect(r.tranches[s].outstandingAfter + r.tranches[s].principalWrittenOff).toBe(0n);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('pays no junior interest while the trigger is breached and the senior has principal outstanding', () => {
    fc.assert(
      fc.property(portfolioArb, (p) => {
        const { results } = runWaterfallV2(p);
        for (const r of results) {
          if (r.tranches.length < 3 || !r.triggerBreached || seniorLeft(r) === 0n) continue;
          for (const t of r.tranches.slice(1, -1)) expect(t.interest).toBe(0n);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('breaches the trigger exactly by its formula, and never without a trigger', () => {
    fc.assert(
      fc.property(portfolioArb, (p) => {
        const { results } = runWaterfallV2(p);
        let clock = 0n;
        let collected = 0n;
        for (const [i, r] of results.entries()) {
          clock += BigInt(p.recoveries[i].elapsedSeconds);
          collected += p.recoveries[i].amount;
          if (p.trigger === undefined) {
            expect(r.triggerBreached).toBe(false);
            continue;
          }
          const reached = p.trigger.businessPlan.filter((point) => BigInt(point.atSeconds) <= clock);
          const planned = reached.length === 0 ? 0n : reached[reached.length - 1].cumulative;
          expect(r.planned).toBe(planned);
          expect(r.triggerBreached).toBe(
            collected * 10_000n < BigInt(p.trigger.collectionRatioBps) * planned,
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('final writes everything off, empties the reserve, and nothing may follow', () => {
    fc.assert(
      fc.property(portfolioArb, (p) => {
        const recoveries = p.recoveries.map((r, i) => ({ ...r, final: i === p.recoveries.length - 1 }));
        const run = runWaterfallV2({ ...p, recoveries });
        const last = run.results[run.results.length - 1];
        const previous = run.results.length > 1 ? run.results[run.results.length - 2].state : undefined;
        expect(run.resolved).toBe(true);
        expect(last.reserve.balanceAfter).toBe(0n);
        expect(last.reserveTarget).toBe(0n);
        for (const [i, t] of last.tranches.slice(0, -1).entries()) {
          expect([t.outstandingAfter, t.interestArrearsAfter]).toEqual([0n, 0n]);
          expect(run.state[i].outstanding).toBe(0n);
          // what is written off is what the payments left: outstanding before - principal paid
          const before = previous?.[i].outstanding ?? p.tranches[i].face;
          expect(t.principalWrittenOff).toBe(before - t.principal);
        }
        const residual = last.tranches[last.tranches.length - 1];
        expect([residual.principalWrittenOff, residual.interestWrittenOff]).toEqual([0n, 0n]);
        expect(() =>
          runWaterfallV2({ ...p, recoveries: [...recoveries, { elapsedSeconds: 0, amount: 0n }] }),
        ).toThrow(DomainInputError);
        // and no write-off before the final recovery
        for (const r of run.results.slice(0, -1)) {
          for (const t of r.tranches) expect([t.principalWrittenOff, t.interestWrittenOff]).toEqual([0n, 0n]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('with no reserve (or a zero one), no trigger (or a zero ratio) and no final recovery equals v1', () => {
    const neutralArb = fc.record({
      portfolio: portfolioArb,
      reserve: fc.constantFrom(undefined, { targetBps: 0, initial: 0n }),
      trigger: fc.option(
        triggerArb.map((t) => ({ ...t, collectionRatioBps: 0 })),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(neutralArb, ({ portfolio, reserve, trigger }) => {
        const recoveries = portfolio.recoveries.map(({ elapsedSeconds, amount }) => ({
          elapsedSeconds,
          amount,
        }));
        const v2 = runWaterfallV2({ ...portfolio, reserve, trigger, recoveries });
        const v1 = runWaterfall({ ...portfolio, recoveries });
        expect(v2.results).toHaveLength(v1.results.length);
        for (const [i, r2] of v2.results.entries()) {
          const r1 = v1.results[i];
          expect(r2.triggerBreached).toBe(false);
          expect(r2.reserve).toEqual({ released: 0n, drawn: 0n, replenished: 0n, balanceAfter: 0n });
          expect([r2.servicerFee, r2.protocolFee, r2.undistributed]).toEqual([
            r1.servicerFee,
            r1.protocolFee,
            r1.undistributed,
          ]);
          expect(
            r2.tranches.map(({ principalWrittenOff, interestWrittenOff, ...t }) => {
              expect([principalWrittenOff, interestWrittenOff]).toEqual([0n, 0n]);
              return t;
            }),
          ).toEqual(r1.tranches);
          expect(r2.state).toEqual(r1.state);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('one recovery of computeWaterfallV2() without v2 terms equals computeWaterfall() from any state', () => {
    fc.assert(
      fc.property(
        portfolioArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }),
        bigintUpTo(10n ** 12n),
        (p, paidDown, arrears) => {
          const tranches = p.tranches.map((t, i) => {
            const isLast = i === p.tranches.length - 1;
            const outstanding = isLast ? t.face : (t.face * BigInt(Math.floor(paidDown[i] * 1000))) / 1000n;
            return { ...t, outstanding, interestArrears: isLast ? 0n : arrears / BigInt(i + 1) };
          });
          const { elapsedSeconds, amount } = p.recoveries[0];
          const common = { tranches, fees: p.fees, mode: p.mode, elapsedSeconds, amount };
          const v1 = computeWaterfall(common);
          const v2 = computeWaterfallV2(common);
          expect(v2.tranches.map(({ principalWrittenOff: _, interestWrittenOff: __, ...t }) => t)).toEqual(
            v1.tranches,
          );
          expect(v2.state).toEqual(v1.state);
          expect(v2.undistributed).toBe(v1.undistributed);
        },
      ),
      { numRuns: 300 },
    );
  });
});
