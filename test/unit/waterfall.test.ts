import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainInputError } from '../../core/domain/errors.ts';
import {
  accrueInterest,
  BPS_DENOMINATOR,
  type ComputeWaterfallParameters,
  computeWaterfall,
  runWaterfall,
  SECONDS_PER_YEAR,
  type TrancheState,
  type WaterfallMode,
} from '../../core/domain/waterfall.ts';
import { BaseError } from '../../core/platform/errors/index.ts';

type VectorTrancheResult = {
  interest: string;
  principal: string;
  residual: string;
  total: string;
  outstandingAfter: string;
  interestArrearsAfter: string;
};
type VectorCase = {
  id: string;
  mode: WaterfallMode;
  tranches: { name: string; face: string; couponBps: number; residual?: boolean }[];
  fees: { servicerBps: number; protocolBps: number };
  recoveries: { elapsedSeconds: number; amount: string }[];
  expected: {
    servicerFee: string;
    protocolFee: string;
    tranches: VectorTrancheResult[];
    undistributed: string;
  }[];
};

const vectors = JSON.parse(
  readFileSync(new URL('../../spec/vectors/waterfall.json', import.meta.url), 'utf8'),
) as { waterfall: VectorCase[] };

const trancheFields = [
  'interest',
  'principal',
  'residual',
  'total',
  'outstandingAfter',
  'interestArrearsAfter',
] as const;

describe('computeWaterfall() on the normative vectors', () => {
  it('has waterfall vectors to check', () => {
    expect(vectors.waterfall.length).toBeGreaterThan(0);
  });

  it.each(vectors.waterfall.map((c) => [c.id, c] as const))(
    '%s gives every expected field',
    (_id, vector) => {
      const { results } = runWaterfall({
        mode: vector.mode,
        fees: vector.fees,
        tranches: vector.tranches.map((t) => ({ ...t, face: BigInt(t.face) })),
        recoveries: vector.recoveries.map((r) => ({
          elapsedSeconds: r.elapsedSeconds,
          amount: BigInt(r.amount),
        })),
      });
      expect(results).toHaveLength(vector.expected.length);
      for (const [i, expected] of vector.expected.entries()) {
        const result = results[i];
        expect(result.servicerFee, `recovery ${i} servicerFee`).toBe(BigInt(expected.servicerFee));
        expect(result.protocolFee, `recovery ${i} protocolFee`).toBe(BigInt(expected.protocolFee));
        expect(result.undistributed, `recovery ${i} undistributed`).toBe(BigInt(expected.undistributed));
        expect(result.tranches).toHaveLength(expected.tranches.length);
        for (const [t, tranche] of expected.tranches.entries()) {
          for (const field of trancheFields) {
            expect(result.tranches[t][field], `recovery ${i} tranche ${t} ${field}`).toBe(
              BigInt(tranche[field]),
            );
          }
        }
      }
    },
  );
});

const abc = (): TrancheState[] => [
  { name: 'A', face: 600n, outstanding: 600n, interestArrears: 0n, couponBps: 1000 },
  { name: 'B', face: 300n, outstanding: 300n, interestArrears: 0n, couponBps: 2000 },
  { name: 'C', face: 100n, outstanding: 100n, interestArrears: 0n, couponBps: 0, residual: true },
];
const noFees = { servicerBps: 0, protocolBps: 0 };
const year = Number(SECONDS_PER_YEAR);

describe('computeWaterfall()', () => {
  it('computeWaterfall() pays arrears before principal', () => {
    // A accrues 60, B accrues 60; 100 pays A's 60 interest, then 40 of B's interest, no principal.
    const result = computeWaterfall({ tranches: abc(), fees: noFees, elapsedSeconds: year, amount: 100n });
    expect(result.tranches.map((t) => [t.interest, t.principal])).toEqual([
      [60n, 0n],
      [40n, 0n],
      [0n, 0n],
    ]);
    expect(result.state[1].interestArrears).toBe(20n);
  });

  it('computeWaterfall() in sequential mode pays the senior principal before junior interest', () => {
    const result = computeWaterfall({
      tranches: abc(),
      fees: noFees,
      mode: 'sequential',
      elapsedSeconds: year,
      amount: 700n,
    });
    expect(result.tranches.map((t) => [t.interest, t.principal])).toEqual([
      [60n, 600n],
      [40n, 0n],
      [0n, 0n],
    ]);
  });

  it('computeWaterfall() takes both fees first, floored', () => {
    const result = computeWaterfall({
      tranches: abc(),
      fees: { servicerBps: 333, protocolBps: 17 },
      elapsedSeconds: 0,
      amount: 599n,
    });
    expect(result.servicerFee).toBe(19n); // 19.9467
    expect(result.protocolFee).toBe(1n); // 1.0183
    expect(result.tranches[0].principal).toBe(599n - 20n);
  });

  it('computeWaterfall() gives what is left after all debt to the residual tranche', () => {
    const result = computeWaterfall({ tranches: abc(), fees: noFees, elapsedSeconds: 0, amount: 1234n });
    expect(result.tranches[2]).toMatchObject({ residual: 334n, total: 334n, outstandingAfter: 100n });
    expect(result.undistributed).toBe(0n);
  });

  it('computeWaterfall() leaves cash undistributed when the residual tranche has no holders', () => {
    const [a, b, c] = abc();
    const result = computeWaterfall({
      tranches: [a, b, { ...c, face: 0n, outstanding: 0n }],
      fees: noFees,
      elapsedSeconds: 0,
      amount: 1000n,
    });
    expect(result.undistributed).toBe(100n);
    expect(result.tranches[2].total).toBe(0n);
    expect(result.state.map((t) => t.outstanding)).toEqual([0n, 0n, 0n]);
  });

  it('computeWaterfall() treats the last tranche as the residual tranche without the flag', () => {
    const [a, b, c] = abc();
    const flagged = computeWaterfall({
      tranches: [a, b, c],
      fees: noFees,
      elapsedSeconds: year,
      amount: 2000n,
    });
    const { residual: _, ...unflagged } = c;
    const result = computeWaterfall({
      tranches: [a, b, unflagged],
      fees: noFees,
      elapsedSeconds: year,
      amount: 2000n,
    });
    expect(result.tranches).toEqual(flagged.tranches);
    expect(result.tranches[2].residual).toBe(2000n - 660n - 360n);
  });

  it('computeWaterfall() gives a single residual tranche everything after fees', () => {
    const result = computeWaterfall({
      tranches: [abc()[2]],
      fees: { servicerBps: 1000, protocolBps: 0 },
      elapsedSeconds: year,
      amount: 50n,
    });
    expect(result.tranches[0]).toMatchObject({ interest: 0n, principal: 0n, residual: 45n });
  });

  it('computeWaterfall() does not mutate its input state', () => {
    const tranches = abc();
    computeWaterfall({ tranches, fees: noFees, elapsedSeconds: year, amount: 500n });
    expect(tranches).toEqual(abc());
  });

  it('accrueInterest() floors the full product over the full denominator once', () => {
    // Flooring outstanding * couponBps / 10000 first would give 0 here.
    expect(accrueInterest({ outstanding: 1n, couponBps: 1, elapsedSeconds: 10_000 * year })).toBe(1n);
    expect(accrueInterest({ outstanding: 1n, couponBps: 1, elapsedSeconds: 10_000 * year - 1 })).toBe(0n);
    expect(accrueInterest({ outstanding: 1_000_003n, couponBps: 733, elapsedSeconds: 12_345_678 })).toBe(
      28_695n,
    );
  });

  it('runWaterfall() starts from a given state when one is passed', () => {
    const { results } = runWaterfall({
      fees: noFees,
      tranches: [
        { face: 100n, outstanding: 40n, interestArrears: 5n, couponBps: 0 },
        { face: 1n, couponBps: 0, residual: true },
      ],
      recoveries: [{ elapsedSeconds: 0, amount: 50n }],
    });
    expect(results[0].tranches[0]).toMatchObject({ interest: 5n, principal: 40n, outstandingAfter: 0n });
    expect(results[0].tranches[1].residual).toBe(5n);
  });
});

describe('computeWaterfall() rejects bad input', () => {
  const valid = (): ComputeWaterfallParameters => ({
    tranches: abc(),
    fees: { servicerBps: 100, protocolBps: 10 },
    mode: 'interestFirst',
    elapsedSeconds: 60,
    amount: 1000n,
  });
  const tranchesOf = (p: ComputeWaterfallParameters) => p.tranches as TrancheState[];
  const fieldOf = (run: () => unknown): string => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(DomainInputError);
      return (error as DomainInputError).field;
    }
    throw new Error('expected a DomainInputError');
  };
  const cases: [string, (p: ComputeWaterfallParameters) => void, string][] = [
    [
      'a negative amount',
      (p) => {
        p.amount = -1n;
      },
      'amount',
    ],
    [
      'an amount that is not a bigint',
      (p) => {
        p.amount = 5 as unknown as bigint;
      },
      'amount',
    ],
    [
      'negative elapsed seconds',
      (p) => {
        p.elapsedSeconds = -1;
      },
      'elapsedSeconds',
    ],
    [
      'negative bigint elapsed seconds',
      (p) => {
        p.elapsedSeconds = -1n;
      },
      'elapsedSeconds',
    ],
    [
      'fractional elapsed seconds',
      (p) => {
        p.elapsedSeconds = 1.5;
      },
      'elapsedSeconds',
    ],
    [
      'an unknown mode',
      (p) => {
        p.mode = 'pariPassu' as WaterfallMode;
      },
      'mode',
    ],
    [
      'a servicer fee above 10000 bps',
      (p) => {
        p.fees.servicerBps = 10_001;
      },
      'fees.servicerBps',
    ],
    [
      'a negative protocol fee',
      (p) => {
        p.fees.protocolBps = -1;
      },
      'fees.protocolBps',
    ],
    [
      'a fractional fee',
      (p) => {
        p.fees.protocolBps = 1.5;
      },
      'fees.protocolBps',
    ],
    [
      'fees summing above 10000 bps',
      (p) => {
        p.fees = { servicerBps: 9000, protocolBps: 1001 };
      },
      'fees',
    ],
    [
      'no tranches',
      (p) => {
        p.tranches = [];
      },
      'tranches',
    ],
    [
      'a coupon above 10000 bps',
      (p) => {
        tranchesOf(p)[0].couponBps = 10_001;
      },
      'tranches[0].couponBps',
    ],
    [
      'a negative face',
      (p) => {
        tranchesOf(p)[1].face = -1n;
      },
      'tranches[1].face',
    ],
    [
      'outstanding above face',
      (p) => {
        tranchesOf(p)[0].outstanding = 601n;
      },
      'tranches[0].outstanding',
    ],
    [
      'negative outstanding',
      (p) => {
        tranchesOf(p)[0].outstanding = -1n;
      },
      'tranches[0].outstanding',
    ],
    [
      'negative arrears',
      (p) => {
        tranchesOf(p)[1].interestArrears = -1n;
      },
      'tranches[1].interestArrears',
    ],
    [
      'a residual tranche that is not last',
      (p) => {
        p.tranches = [abc()[2], abc()[0]];
      },
      'tranches[0].residual',
    ],
    [
      'a residual tranche with a coupon',
      (p) => {
        tranchesOf(p)[2].couponBps = 100;
      },
      'tranches[2].couponBps',
    ],
    [
      'a residual tranche with arrears',
      (p) => {
        tranchesOf(p)[2].interestArrears = 1n;
      },
      'tranches[2].interestArrears',
    ],
    [
      'a last tranche flagged as not residual',
      (p) => {
        tranchesOf(p)[2].residual = false;
      },
      'tranches[2].residual',
    ],
    [
      'an unflagged last tranche with a coupon',
      (p) => {
        const last = tranchesOf(p)[2];
        delete last.residual;
        last.couponBps = 5;
      },
      'tranches[2].couponBps',
    ],
  ];

  it('accepts the valid baseline', () => {
    expect(() => computeWaterfall(valid())).not.toThrow();
  });

  it.each(cases)('rejects %s', (_name, mutate, field) => {
    const parameters = valid();
    mutate(parameters);
    expect(fieldOf(() => computeWaterfall(parameters))).toBe(field);
  });

  it('lists every problem at once', () => {
    const parameters = valid();
    parameters.amount = -1n;
    parameters.fees.servicerBps = 20_000;
    try {
      computeWaterfall(parameters);
      expect.unreachable();
    } catch (error) {
      expect((error as DomainInputError).issues.map((i) => i.field)).toEqual(['amount', 'fees.servicerBps']);
      expect((error as DomainInputError).message).toContain('amount: must be a non-negative bigint');
      expect(error).toBeInstanceOf(BaseError);
      expect((error as BaseError).code).toBe('VALIDATION_FAILED');
      expect((error as BaseError).retryable).toBe(false);
      expect((error as BaseError).details).toEqual([
        { path: 'amount', message: 'must be a non-negative bigint' },
        { path: 'fees.servicerBps', message: 'must be an integer from 0 to 10000' },
      ]);
    }
  });

  it('runWaterfall() names the bad recovery', () => {
    const run = () =>
      runWaterfall({
        fees: noFees,
        tranches: abc(),
        recoveries: [
          { elapsedSeconds: 0, amount: 1n },
          { elapsedSeconds: 0, amount: -5n },
        ],
      });
    expect(fieldOf(run)).toBe('recoveries[1].amount');
  });

  it('runWaterfall() validates the tranches even without recoveries', () => {
    expect(fieldOf(() => runWaterfall({ fees: noFees, tranches: [], recoveries: [] }))).toBe('tranches');
  });
});

// ---------- properties ----------

const bigintUpTo = (max: bigint) => fc.bigInt({ min: 0n, max });

const trancheArb = fc
  .record({
    face: bigintUpTo(10n ** 15n),
    couponBps: fc.integer({ min: 0, max: 10_000 }),
    paidDown: fc.double({ min: 0, max: 1, noNaN: true }),
    interestArrears: fc.oneof(fc.constant(0n), bigintUpTo(10n ** 12n)),
  })
  .map(({ face, couponBps, paidDown, interestArrears }) => ({
    face,
    couponBps,
    outstanding: face - (face * BigInt(Math.floor(paidDown * 1000))) / 1000n,
    interestArrears,
  }));

const parametersArb: fc.Arbitrary<ComputeWaterfallParameters> = fc
  .record({
    debt: fc.array(trancheArb, { minLength: 0, maxLength: 4 }),
    residualFace: fc.oneof(fc.constant(0n), bigintUpTo(10n ** 12n)),
    residualFlag: fc.boolean(),
    servicerBps: fc.integer({ min: 0, max: 10_000 }),
    protocolShare: fc.double({ min: 0, max: 1, noNaN: true }),
    mode: fc.constantFrom<WaterfallMode>('interestFirst', 'sequential'),
    elapsedSeconds: fc.integer({ min: 0, max: 10 * year }),
    amount: fc.oneof(bigintUpTo(10n ** 6n), bigintUpTo(10n ** 16n)),
  })
  .map(({ debt, residualFace, residualFlag, servicerBps, protocolShare, mode, elapsedSeconds, amount }) => ({
    tranches: [
      ...debt,
      {
        face: residualFace,
        outstanding: residualFace,
        interestArrears: 0n,
        couponBps: 0,
        ...(residualFlag ? { residual: true } : {}),
      },
    ],
    fees: { servicerBps, protocolBps: Math.floor((10_000 - servicerBps) * protocolShare) },
    mode,
    elapsedSeconds,
    amount,
  }));

const accruedOf = (p: ComputeWaterfallParameters, t: TrancheState) =>
  t === p.tranches.at(-1)
    ? 0n
    : accrueInterest({
        outstanding: t.outstanding,
        couponBps: t.couponBps,
        elapsedSeconds: p.elapsedSeconds,
      });

describe('computeWaterfall() properties', () => {
  it('conserves cash: fees + tranche totals + undistributed == amount', () => {
    fc.assert(
      fc.property(parametersArb, (p) => {
        const r = computeWaterfall(p);
        const paid = r.tranches.reduce((sum, t) => sum + t.total, 0n);
        expect(r.servicerFee + r.protocolFee + paid + r.undistributed).toBe(p.amount);
        for (const t of r.tranches) expect(t.total).toBe(t.interest + t.principal + t.residual);
      }),
    );
  });

  it('pays no junior principal or residual while a senior still has arrears or principal', () => {
    fc.assert(
      fc.property(parametersArb, (p) => {
        const r = computeWaterfall(p);
        for (const [j, junior] of r.tranches.entries()) {
          if (junior.principal + junior.residual === 0n) continue;
          for (const senior of r.tranches.slice(0, j)) {
            expect(senior.outstandingAfter).toBe(0n);
            expect(senior.interestArrearsAfter).toBe(0n);
          }
        }
      }),
    );
  });

  it('pays junior interest only once senior arrears (and, in sequential mode, senior principal) are cleared', () => {
    fc.assert(
      fc.property(parametersArb, (p) => {
        const r = computeWaterfall(p);
        for (const [j, junior] of r.tranches.entries()) {
          if (junior.interest === 0n) continue;
          for (const senior of r.tranches.slice(0, j)) {
            expect(senior.interestArrearsAfter).toBe(0n);
            if (p.mode === 'sequential') expect(senior.outstandingAfter).toBe(0n);
          }
        }
      }),
    );
  });

  it('only leaves cash undistributed when the residual tranche has no holders, once every debt is paid', () => {
    fc.assert(
      fc.property(parametersArb, (p) => {
        const r = computeWaterfall(p);
        if (r.undistributed === 0n) return;
        for (const t of r.tranches) expect(t.outstandingAfter + t.interestArrearsAfter).toBe(0n);
        expect(r.tranches.at(-1)?.residual).toBe(0n);
      }),
    );
  });

  it('never raises outstanding principal and books every payment against the state', () => {
    fc.assert(
      fc.property(parametersArb, (p) => {
        const r = computeWaterfall(p);
        for (const [i, before] of p.tranches.entries()) {
          const t = r.tranches[i];
          expect(t.outstandingAfter <= before.outstanding).toBe(true);
          expect(t.outstandingAfter).toBe(before.outstanding - t.principal);
          expect(t.interestArrearsAfter).toBe(before.interestArrears + accruedOf(p, before) - t.interest);
          expect(r.state[i].outstanding).toBe(t.outstandingAfter);
          expect(r.state[i].interestArrears).toBe(t.interestArrearsAfter);
        }
      }),
    );
  });

  it('keeps outstanding non-increasing over a sequence of recoveries', () => {
    fc.assert(
      fc.property(
        parametersArb,
        fc.array(
          fc.record({ elapsedSeconds: fc.integer({ min: 0, max: year }), amount: bigintUpTo(10n ** 15n) }),
          {
            maxLength: 6,
          },
        ),
        (p, recoveries) => {
          const { results } = runWaterfall({ ...p, recoveries });
          let previous = p.tranches.map((t) => t.outstanding);
          for (const r of results) {
            const current = r.tranches.map((t) => t.outstandingAfter);
            for (const [i, value] of current.entries()) expect(value <= previous[i]).toBe(true);
            previous = current;
          }
        },
      ),
    );
  });

  it('never overpays through rounding', () => {
    fc.assert(
      fc.property(parametersArb, (p) => {
        const r = computeWaterfall(p);
        // fees are floors of the exact fee
        for (const [fee, bps] of [
          [r.servicerFee, p.fees.servicerBps],
          [r.protocolFee, p.fees.protocolBps],
        ] as const) {
          expect(fee * BPS_DENOMINATOR <= p.amount * BigInt(bps)).toBe(true);
          expect((fee + 1n) * BPS_DENOMINATOR > p.amount * BigInt(bps)).toBe(true);
        }
        for (const [i, before] of p.tranches.entries()) {
          const t = r.tranches[i];
          const accrued = accruedOf(p, before);
          // accrual is the floor of the exact interest
          const exact =
            i === p.tranches.length - 1
              ? 0n
              : before.outstanding * BigInt(before.couponBps) * BigInt(p.elapsedSeconds);
          const denominator = BPS_DENOMINATOR * SECONDS_PER_YEAR;
          expect(accrued * denominator <= exact).toBe(true);
          expect((accrued + 1n) * denominator > exact).toBe(true);
          // no tranche gets more than it is owed
          expect(t.interest <= before.interestArrears + accrued).toBe(true);
          expect(t.principal <= before.outstanding).toBe(true);
        }
      }),
    );
  });
});
