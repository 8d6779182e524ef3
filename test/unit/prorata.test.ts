import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainInputError } from '../../core/domain/errors.ts';
import { splitProRata, splitProRataWithCarry } from '../../core/domain/prorata.ts';

type ProRataVector = {
  id: string;
  amount: string;
  balances: string[];
  expected: { payouts: string[]; dust: string };
};

const vectors = JSON.parse(
  readFileSync(new URL('../../spec/vectors/waterfall.json', import.meta.url), 'utf8'),
) as { prorata: ProRataVector[] };

describe('splitProRata() on the normative vectors', () => {
  it('has pro-rata vectors to check', () => {
    expect(vectors.prorata.length).toBeGreaterThan(0);
  });

  it.each(vectors.prorata.map((v) => [v.id, v] as const))(
    '%s gives the expected payouts and dust',
    (_id, v) => {
      const result = splitProRata({ amount: BigInt(v.amount), balances: v.balances.map(BigInt) });
      expect(result.payouts).toEqual(v.expected.payouts.map(BigInt));
      expect(result.dust).toBe(BigInt(v.expected.dust));
    },
  );
});

describe('splitProRata()', () => {
  it('splitProRata() floors each share and keeps the rest as dust', () => {
    expect(splitProRata({ amount: 10n, balances: [1n, 1n, 1n] })).toEqual({
      payouts: [3n, 3n, 3n],
      dust: 1n,
    });
  });

  it('splitProRata() pays nothing and keeps everything as dust when the total supply is zero', () => {
    expect(splitProRata({ amount: 7n, balances: [0n, 0n] })).toEqual({ payouts: [0n, 0n], dust: 7n });
    expect(splitProRata({ amount: 7n, balances: [] })).toEqual({ payouts: [], dust: 7n });
  });

  it('splitProRata() gives zero-balance holders nothing', () => {
    expect(splitProRata({ amount: 9n, balances: [0n, 3n, 0n] })).toEqual({ payouts: [0n, 9n, 0n], dust: 0n });
  });

  it('splitProRataWithCarry() adds the carried dust and returns the new dust to carry', () => {
    const first = splitProRataWithCarry({ amount: 100n, balances: [300n, 300n, 300n] });
    expect(first).toEqual({ payouts: [33n, 33n, 33n], dust: 1n });
    const second = splitProRataWithCarry({ amount: 101n, carryIn: first.dust, balances: [300n, 300n, 300n] });
    expect(second).toEqual({ payouts: [34n, 34n, 34n], dust: 0n });
  });

  it.each([
    ['a negative amount', () => splitProRata({ amount: -1n, balances: [1n] }), 'amount'],
    ['a non-bigint amount', () => splitProRata({ amount: 1 as unknown as bigint, balances: [1n] }), 'amount'],
    ['a negative balance', () => splitProRata({ amount: 1n, balances: [1n, -1n] }), 'balances[1]'],
    [
      'balances that are not a list',
      () => splitProRata({ amount: 1n, balances: 5 as unknown as bigint[] }),
      'balances',
    ],
    [
      'a negative carry',
      () => splitProRataWithCarry({ amount: 1n, carryIn: -1n, balances: [1n] }),
      'carryIn',
    ],
  ] as const)('rejects %s', (_name, run, field) => {
    expect(run).toThrow(DomainInputError);
    try {
      run();
    } catch (error) {
      expect((error as DomainInputError).field).toBe(field);
    }
  });
});

const amountArb = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: 10n ** 30n }));
const balancesArb = fc.array(
  fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 27n })),
  { maxLength: 50 },
);

describe('splitProRata() properties', () => {
  it('conserves the amount: sum(payouts) + dust == amount', () => {
    fc.assert(
      fc.property(amountArb, balancesArb, (amount, balances) => {
        const { payouts, dust } = splitProRata({ amount, balances });
        expect(payouts).toHaveLength(balances.length);
        expect(payouts.reduce((a, b) => a + b, 0n) + dust).toBe(amount);
      }),
    );
  });

  it('leaves less dust than there are holders when the supply is not zero', () => {
    fc.assert(
      fc.property(amountArb, balancesArb, (amount, balances) => {
        const holders = balances.filter((b) => b > 0n).length;
        fc.pre(holders > 0);
        const { dust } = splitProRata({ amount, balances });
        expect(dust >= 0n).toBe(true);
        expect(dust < BigInt(holders)).toBe(true);
      }),
    );
  });

  it('pays each holder at most, and less than one unit below, the exact share', () => {
    fc.assert(
      fc.property(amountArb, balancesArb, (amount, balances) => {
        const supply = balances.reduce((a, b) => a + b, 0n);
        fc.pre(supply > 0n);
        const { payouts } = splitProRata({ amount, balances });
        for (const [i, payout] of payouts.entries()) {
          expect(payout * supply <= amount * balances[i]).toBe(true);
          expect((payout + 1n) * supply > amount * balances[i]).toBe(true);
        }
      }),
    );
  });

  it('loses nothing across distributions that carry the dust forward', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(amountArb, balancesArb), { maxLength: 8 }), (rounds) => {
        let carry = 0n;
        let paid = 0n;
        let deposited = 0n;
        for (const [amount, balances] of rounds) {
          const { payouts, dust } = splitProRataWithCarry({ amount, balances, carryIn: carry });
          paid += payouts.reduce((a, b) => a + b, 0n);
          deposited += amount;
          carry = dust;
        }
        expect(paid + carry).toBe(deposited);
      }),
    );
  });
});
