import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DomainInputError } from '../../core/domain/errors.ts';
import { fillExpected, parseWithSchema, waterfallCaseSchema } from '../../core/domain/vectors.ts';

const vectorsText = readFileSync(new URL('../../spec/vectors/waterfall.json', import.meta.url), 'utf8');
type Json = Record<string, unknown> & {
  waterfall: Record<string, unknown>[];
  prorata: Record<string, unknown>[];
};
type Mutable = {
  tranches: Record<string, unknown>[];
  recoveries: Record<string, unknown>[];
  [key: string]: unknown;
};
const vectors = (): Json => JSON.parse(vectorsText);

const withoutExpected = (file: Json): Json => ({
  ...file,
  waterfall: file.waterfall.map(({ expected: _, ...rest }) => rest),
  prorata: file.prorata.map(({ expected: _, ...rest }) => rest),
});

const issuesOf = (input: unknown): string[] => {
  try {
    fillExpected(input);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainInputError);
    return (error as DomainInputError).issues.map((i) => i.field);
  }
  throw new Error('expected a DomainInputError');
};

describe('fillExpected()', () => {
  it('fillExpected() reproduces the vectors file byte for byte in key order', () => {
    const filled = fillExpected(withoutExpected(vectors()));
    expect(JSON.stringify(filled)).toBe(JSON.stringify(vectors()));
  });

  it('fillExpected() replaces a wrong expected in place', () => {
    const file = vectors();
    file.waterfall[0].expected = 'wrong';
    file.prorata[0].expected = { payouts: [], dust: '9' };
    expect(JSON.stringify(fillExpected(file))).toBe(JSON.stringify(vectors()));
  });

  it('fillExpected() fills a single waterfall case', () => {
    const { expected, ...input } = vectors().waterfall[1];
    expect(fillExpected(input)).toEqual({ ...input, expected });
  });

  it('fillExpected() accepts a file with only prorata cases', () => {
    const { prorata } = vectors();
    const filled = fillExpected({ prorata: prorata.map(({ expected: _, ...rest }) => rest) });
    expect(filled).toEqual({ prorata });
  });

  it('fillExpected() defaults the mode to interestFirst', () => {
    const { expected, mode: _, ...input } = vectors().waterfall[0];
    expect(fillExpected(input).expected).toEqual(expected);
  });

  it.each([
    ['a non-object', [], ['']],
    ['an object with neither list', { about: 'x' }, ['']],
    ['a number amount', { prorata: [{ amount: 5, balances: [] }] }, ['prorata[0].amount']],
    ['a negative balance', { prorata: [{ amount: '5', balances: ['1', '-1'] }] }, ['prorata[0].balances[1]']],
    ['a leading zero', { prorata: [{ amount: '05', balances: [] }] }, ['prorata[0].amount']],
  ] as const)('rejects %s with the path of the bad field', (_name, input, fields) => {
    expect(issuesOf(input)).toEqual(fields);
  });

  it.each([
    [
      'a fractional elapsedSeconds',
      (c: Mutable) => {
        c.recoveries[0].elapsedSeconds = 1.5;
      },
      'recoveries[0].elapsedSeconds',
    ],
    [
      'a coupon above 10000 bps',
      (c: Mutable) => {
        c.tranches[1].couponBps = 10_001;
      },
      'tranches[1].couponBps',
    ],
    [
      'fees summing above 10000 bps',
      (c: Mutable) => {
        c.fees = { servicerBps: 5000, protocolBps: 5001 };
      },
      'fees',
    ],
    [
      'no tranches',
      (c: Mutable) => {
        c.tranches = [];
      },
      'tranches',
    ],
    [
      'a residual tranche that is not last',
      (c: Mutable) => {
        c.tranches[0].residual = true;
      },
      'tranches[0].residual',
    ],
    [
      'a last tranche flagged as not residual',
      (c: Mutable) => {
        c.tranches[2].residual = false;
      },
      'tranches[2].residual',
    ],
    [
      'an unknown mode',
      (c: Mutable) => {
        c.mode = 'turbo';
      },
      'mode',
    ],
    [
      'a negative amount',
      (c: Mutable) => {
        c.recoveries[0].amount = '-1';
      },
      'recoveries[0].amount',
    ],
    [
      'a missing face',
      (c: Mutable) => {
        delete c.tranches[2].face;
      },
      'tranches[2].face',
    ],
  ])('rejects a waterfall case with %s', (_name, mutate, field) => {
    const file = vectors();
    mutate(file.waterfall[3] as Mutable);
    expect(issuesOf(file)).toContain(`waterfall[3].${field}`);
    const single = vectors().waterfall[3];
    mutate(single as Mutable);
    expect(issuesOf(single)).toContain(field);
  });

  it('parses amounts to bigint', () => {
    const parsed = parseWithSchema(waterfallCaseSchema, vectors().waterfall[0]);
    expect(parsed.tranches[0].face).toBe(600_000_000n);
    expect(parsed.recoveries[0].amount).toBe(100_000_000n);
  });
});

describe('fillExpected() on spec v2 vectors', () => {
  const v2Text = readFileSync(new URL('../../spec/vectors/waterfall-v2.json', import.meta.url), 'utf8');
  const v2 = (): Json => JSON.parse(v2Text);
  const v1Case = (): Record<string, unknown> => vectors().waterfall[0];

  it('reproduces waterfall-v2.json in key order, v1 cases with their v2 fields at zero/false', () => {
    const filled = fillExpected(withoutExpected(v2()));
    expect(JSON.stringify(filled)).toBe(JSON.stringify(v2()));
  });

  it('fills a single v2 case as v2, a single v1 case as v1, and --spec overrides', () => {
    const v2Case = v2().waterfall[13];
    const { expected, ...input } = v2Case;
    expect(fillExpected(input)).toEqual(v2Case);
    const { expected: v1Expected, ...v1Input } = v1Case();
    expect(fillExpected(v1Input).expected).toEqual(v1Expected);
    // the same v1 case computed as spec v2 is the v2 file's copy of it
    expect(fillExpected(v1Input, { spec: 2 }).expected).toEqual(v2().waterfall[0].expected);
  });

  it('a v2 field in a case computed as spec v1 is an error naming the field', () => {
    const file = v2();
    let fields: string[] = [];
    try {
      fillExpected(file, { spec: 1 });
    } catch (error) {
      expect(error).toBeInstanceOf(DomainInputError);
      fields = (error as DomainInputError).issues.map((i) => i.field);
    }
    // the first failing case: waterfall[6] has a reserve (cases 0-5 are v1 cases)
    expect(fields).toEqual(['waterfall[6].reserve']);
  });

  it.each([
    [
      'unsorted plan points',
      (c: Mutable) => {
        const plan = (c.trigger as { businessPlan: unknown[] }).businessPlan;
        [plan[1], plan[2]] = [plan[2], plan[1]];
      },
      'trigger.businessPlan[2].atSeconds',
    ],
    [
      'a reserve target above 10000 bps',
      (c: Mutable) => {
        (c.reserve as Record<string, unknown>).targetBps = 10_001;
      },
      'reserve.targetBps',
    ],
    [
      'a number cumulative',
      (c: Mutable) => {
        (c.trigger as { businessPlan: Record<string, unknown>[] }).businessPlan[0].cumulative = 5;
      },
      'trigger.businessPlan[0].cumulative',
    ],
    [
      'a non-boolean final',
      (c: Mutable) => {
        c.recoveries[0].final = 1;
      },
      'recoveries[0].final',
    ],
    [
      'a recovery after the final one',
      (c: Mutable) => {
        c.recoveries.push({ elapsedSeconds: 1, amount: '0' });
      },
      `recoveries[5]`,
    ],
  ])('rejects a v2 case with %s', (_name, mutate, field) => {
    const file = v2();
    mutate(file.waterfall[13] as Mutable);
    expect(issuesOf(file)).toContain(`waterfall[13].${field}`);
  });
});
