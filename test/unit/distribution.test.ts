import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeDistribution, type DistributionTrancheInput } from '../../core/distributions/compute.ts';
import { buildDistributionTree, verifyDistributionProof } from '../../core/distributions/tree/merkle.ts';
import { DomainInputError } from '../../core/domain/errors.ts';

type ProRataVector = {
  id: string;
  amount: string;
  balances: string[];
  expected: { payouts: string[]; dust: string };
};

const vectors = JSON.parse(
  readFileSync(new URL('../../spec/vectors/waterfall.json', import.meta.url), 'utf8'),
) as { prorata: ProRataVector[] };

/** Distinct lowercase address for index `i`. */
const addr = (i: number): string => `0x${(i + 1).toString(16).padStart(40, '0')}`;

const payoutOf = (holders: { account: string; payout: bigint }[], account: string): bigint =>
  holders.find((h) => h.account === account)?.payout ?? 0n;

describe('computeDistribution() on the pro-rata vectors', () => {
  it('has pro-rata vectors to check', () => {
    expect(vectors.prorata.length).toBeGreaterThan(0);
  });

  it.each(vectors.prorata.map((v) => [v.id, v] as const))(
    '%s gives the expected payouts and dust',
    (_id, v) => {
      const result = computeDistribution({
        tranches: [
          {
            trancheId: 1n,
            amount: BigInt(v.amount),
            balances: v.balances.map((balance, i) => ({ account: addr(i), balance: BigInt(balance) })),
          },
        ],
      });
      v.balances.forEach((_b, i) => {
        expect(payoutOf(result.holders, addr(i))).toBe(BigInt(v.expected.payouts[i]));
      });
      expect(result.perTranche[0].dustOut).toBe(BigInt(v.expected.dust));
    },
  );
});

describe('computeDistribution()', () => {
  it('computeDistribution() sums an account over the tranches it holds and adds the previous cumulative', () => {
    const a = addr(0);
    const b = addr(1);
    const c = addr(2);
    const result = computeDistribution({
      tranches: [
        {
          trancheId: 1n,
          amount: 10n,
          balances: [
            { account: a, balance: 1n },
            { account: b, balance: 1n },
            { account: c, balance: 1n },
          ],
        },
        {
          trancheId: 2n,
          amount: 5n,
          carryIn: 1n,
          balances: [
            { account: a.toUpperCase().replace('0X', '0x'), balance: 2n },
            { account: b, balance: 1n },
          ],
        },
      ],
      previousCumulative: { [b]: 7n },
    });
    expect(result.holders).toEqual([
      { account: a, payout: 3n + 4n, cumulative: 7n },
      { account: b, payout: 3n + 2n, cumulative: 12n },
      { account: c, payout: 3n, cumulative: 3n },
    ]);
    expect(result.perTranche).toEqual([
      { trancheId: 1n, distributed: 9n, dustOut: 1n },
      { trancheId: 2n, distributed: 6n, dustOut: 0n },
    ]);
    expect(result.totalPayout).toBe(15n);
    expect(result.total).toBe(22n);
  });

  it('computeDistribution() keeps accounts with a previous cumulative but no payout in the result', () => {
    const result = computeDistribution({
      tranches: [{ trancheId: 1n, amount: 4n, balances: [{ account: addr(1), balance: 1n }] }],
      previousCumulative: new Map([[addr(5), 9n]]),
    });
    expect(result.holders).toEqual([
      { account: addr(1), payout: 4n, cumulative: 4n },
      { account: addr(5), payout: 0n, cumulative: 9n },
    ]);
  });

  it('computeDistribution() carries everything of a tranche with zero supply', () => {
    const result = computeDistribution({
      tranches: [{ trancheId: 3n, amount: 8n, carryIn: 2n, balances: [{ account: addr(0), balance: 0n }] }],
    });
    expect(result.holders).toEqual([]);
    expect(result.perTranche).toEqual([{ trancheId: 3n, distributed: 0n, dustOut: 10n }]);
  });

  it.each([
    ['a negative amount', { tranches: [{ trancheId: 1n, amount: -1n, balances: [] }] }, 'tranches[0].amount'],
    [
      'a negative carryIn',
      { tranches: [{ trancheId: 1n, amount: 1n, carryIn: -1n, balances: [] }] },
      'tranches[0].carryIn',
    ],
    [
      'a bad account',
      { tranches: [{ trancheId: 1n, amount: 1n, balances: [{ account: '0x12', balance: 1n }] }] },
      'tranches[0].balances[0].account',
    ],
    [
      'an account twice in a tranche',
      {
        tranches: [
          {
            trancheId: 1n,
            amount: 1n,
            balances: [
              { account: addr(0), balance: 1n },
              { account: addr(0), balance: 2n },
            ],
          },
        ],
      },
      'tranches[0].balances[1].account',
    ],
    [
      'a negative balance',
      { tranches: [{ trancheId: 1n, amount: 1n, balances: [{ account: addr(0), balance: -1n }] }] },
      'tranches[0].balances[0].balance',
    ],
    [
      'a tranche twice',
      {
        tranches: [
          { trancheId: 1n, amount: 1n, balances: [] },
          { trancheId: 1n, amount: 1n, balances: [] },
        ],
      },
      'tranches[1].trancheId',
    ],
    [
      'a negative previous cumulative',
      { tranches: [], previousCumulative: { [addr(0)]: -1n } },
      `previousCumulative.${addr(0)}`,
    ],
  ] as const)('computeDistribution() rejects %s', (_name, input, field) => {
    let error: unknown;
    try {
      computeDistribution(input as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainInputError);
    expect((error as DomainInputError).field).toBe(field);
  });
});

const trancheArb = (id: number): fc.Arbitrary<DistributionTrancheInput> =>
  fc.record({
    trancheId: fc.constant(BigInt(id)),
    amount: fc.bigInt({ min: 0n, max: 10n ** 30n }),
    carryIn: fc.bigInt({ min: 0n, max: 1000n }),
    balances: fc
      .uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 12 })
      .chain((ids) =>
        fc
          .tuple(...ids.map(() => fc.bigInt({ min: 0n, max: 10n ** 24n })))
          .map((balances) => ids.map((i, k) => ({ account: addr(i), balance: balances[k] }))),
      ),
  });

const inputArb = fc.record({
  tranches: fc
    .integer({ min: 0, max: 4 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, t) => trancheArb(t)))),
  previous: fc.dictionary(
    fc.integer({ min: 0, max: 60 }).map(addr),
    fc.bigInt({ min: 0n, max: 10n ** 30n }),
    { maxKeys: 10 },
  ),
});

describe('computeDistribution() properties', () => {
  it('computeDistribution() conserves amount + carryIn and keeps dust below the holder count', () => {
    fc.assert(
      fc.property(inputArb, ({ tranches, previous }) => {
        const result = computeDistribution({ tranches, previousCumulative: previous });
        const funded = tranches.reduce((s, t) => s + t.amount + (t.carryIn ?? 0n), 0n);
        const dust = result.perTranche.reduce((s, t) => s + t.dustOut, 0n);
        expect(result.totalPayout + dust).toBe(funded);
        expect(result.holders.reduce((s, h) => s + h.payout, 0n)).toBe(result.totalPayout);

        for (const [t, tranche] of tranches.entries()) {
          const supply = tranche.balances.reduce((s, b) => s + b.balance, 0n);
          const pot = tranche.amount + (tranche.carryIn ?? 0n);
          const holders = tranche.balances.filter((b) => b.balance > 0n).length;
          if (supply === 0n) expect(result.perTranche[t].dustOut).toBe(pot);
          else expect(result.perTranche[t].dustOut < BigInt(holders)).toBe(true);
          expect(result.perTranche[t].distributed + result.perTranche[t].dustOut).toBe(pot);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('computeDistribution() payouts are each at most the exact share of each tranche', () => {
    fc.assert(
      fc.property(trancheArb(0), (tranche) => {
        const result = computeDistribution({ tranches: [tranche] });
        const supply = tranche.balances.reduce((s, b) => s + b.balance, 0n);
        const pot = tranche.amount + (tranche.carryIn ?? 0n);
        for (const b of tranche.balances) {
          const payout = payoutOf(result.holders, b.account);
          // payout <= pot * balance / supply  <=>  payout * supply <= pot * balance
          expect(payout * supply <= pot * b.balance).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('computeDistribution() cumulative is monotone, keeps every previous account, and total is their sum', () => {
    fc.assert(
      fc.property(inputArb, ({ tranches, previous }) => {
        const result = computeDistribution({ tranches, previousCumulative: previous });
        const byAccount = new Map(result.holders.map((h) => [h.account, h]));
        for (const [account, amount] of Object.entries(previous)) {
          const holder = byAccount.get(account);
          expect(holder).toBeDefined();
          expect(holder!.cumulative >= amount).toBe(true);
          expect(holder!.cumulative).toBe(amount + holder!.payout);
        }
        expect(result.holders.reduce((s, h) => s + h.cumulative, 0n)).toBe(result.total);
        const accounts = result.holders.map((h) => h.account);
        expect(accounts).toEqual([...accounts].sort());
        expect(new Set(accounts).size).toBe(accounts.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('computeDistribution() into the Merkle tree', () => {
  it('buildDistributionTree() over (account, cumulative) gives a root whose proofs verify', () => {
    const balances = Array.from({ length: 37 }, (_, i) => ({ account: addr(i), balance: BigInt(i * 7 + 1) }));
    const first = computeDistribution({
      tranches: [
        { trancheId: 1n, amount: 1_000_003n, balances },
        { trancheId: 2n, amount: 55_555n, balances: balances.slice(10, 20) },
      ],
    });
    const previousCumulative = new Map(first.holders.map((h) => [h.account, h.cumulative]));
    const second = computeDistribution({
      tranches: [
        { trancheId: 1n, amount: 999n, carryIn: first.perTranche[0].dustOut, balances: balances.slice(5) },
        { trancheId: 2n, amount: 0n, carryIn: first.perTranche[1].dustOut, balances: [] },
      ],
      previousCumulative,
    });
    expect(second.holders.length).toBe(37);
    const tree = buildDistributionTree(
      second.holders.map((h) => ({ account: h.account, amount: h.cumulative })),
    );
    let sum = 0n;
    for (const h of second.holders) {
      const proof = tree.proof(h.account);
      expect(
        verifyDistributionProof({ root: tree.root, account: h.account, amount: h.cumulative, proof }),
      ).toBe(true);
      expect(
        verifyDistributionProof({ root: tree.root, account: h.account, amount: h.cumulative + 1n, proof }),
      ).toBe(false);
      sum += tree.amount(tree.leafIndexOf(h.account));
    }
    expect(sum).toBe(second.total);
  });
});
