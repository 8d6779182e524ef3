/**
 * The verifier's pure halves (core/distributions/verify/recompute.ts and compare.ts) on plain data,
 * without a node: a two-tranche portfolio (senior + residual), two recoveries, three holders and a
 * transfer between the snapshots, worked out by hand below. Then the comparisons: the honest tree
 * agrees; a tampered leaf, a missing holder, an edited dump, a waterfall or a supply that does not
 * match are each found and named.
 *
 * Terms: servicer fee 1%, no protocol fee, no coupon, senior face 1000 and residual 500, both sold.
 * - recovery 1 (700): fee 7, senior principal 693; senior held 1:1 by A and B → 346 each, dust 1.
 * - B sends its senior token to C; recovery 2 (500): fee 5, senior principal 307 (what is left),
 *   residual 188; senior 307 + 1 carried, held 1:1 by A and C → 154 each; residual (all C's) 188.
 * - cumulative: A 346 + 154 = 500, B 346, C 154 + 188 = 342; total 1188.
 */
import { getAddress, keccak256, zeroAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { buildDistributionTree } from '../../core/distributions/tree/merkle.ts';
import { compareDistribution, readPublishedTree } from '../../core/distributions/verify/compare.ts';
import type { DistributionHistory, RecoveryRecord } from '../../core/distributions/verify/history.ts';
import { VerifyInputError } from '../../core/distributions/verify/index.ts';
import { balancesAtSnapshots, recomputeDistribution } from '../../core/distributions/verify/recompute.ts';
import { BaseError } from '../../core/platform/errors/index.ts';

const A = getAddress('0x00000000000000000000000000000000000000aa');
const B = getAddress('0x00000000000000000000000000000000000000bb');
const C = getAddress('0x00000000000000000000000000000000000000cc');

const recovery = (r: Partial<RecoveryRecord> & Pick<RecoveryRecord, 'recoveryId'>): RecoveryRecord => ({
  blockNumber: 0n,
  blockTimestamp: 0n,
  snapshotBlock: 0n,
  amount: 0n,
  servicerFee: 0n,
  protocolFee: 0n,
  undistributed: 0n,
  interest: [0n, 0n],
  principal: [0n, 0n],
  residual: [0n, 0n],
  supplies: [],
  ...r,
});

function history(): DistributionHistory {
  return {
    chainId: 31337,
    head: 30n,
    fromBlock: 1n,
    portfolio: '0x0000000000000000000000000000000000000001',
    distributor: '0x0000000000000000000000000000000000000002',
    fees: { servicerBps: 100, protocolBps: 0 },
    mode: 'interestFirst',
    tokens: ['0x0000000000000000000000000000000000000003', '0x0000000000000000000000000000000000000004'],
    trancheTerms: [
      { face: 1000n, couponBps: 0 },
      { face: 500n, couponBps: 0 },
    ],
    closed: { closedAt: 1_000n, sold: [1000n, 500n] },
    recoveries: [
      recovery({
        recoveryId: 1n,
        blockNumber: 10n,
        blockTimestamp: 2_000n,
        snapshotBlock: 9n,
        amount: 700n,
        servicerFee: 7n,
        principal: [693n, 0n],
        supplies: [2n, 5n],
      }),
      recovery({
        recoveryId: 2n,
        blockNumber: 20n,
        blockTimestamp: 3_000n,
        snapshotBlock: 19n,
        amount: 500n,
        servicerFee: 5n,
        principal: [307n, 0n],
        residual: [0n, 188n],
        supplies: [2n, 5n],
      }),
    ],
    transfers: [
      { tranche: 0, blockNumber: 2n, from: zeroAddress, to: A, value: 1n },
      { tranche: 0, blockNumber: 3n, from: zeroAddress, to: B, value: 1n },
      { tranche: 1, blockNumber: 4n, from: zeroAddress, to: C, value: 5n },
      { tranche: 0, blockNumber: 15n, from: B, to: C, value: 1n },
    ],
    distributionId: 7n,
    proposed: null,
    accepted: null,
    currentRoot: `0x${'00'.repeat(32)}`,
  };
}

const expectedLeaves = [
  { account: A, amount: 500n },
  { account: B, amount: 346n },
  { account: C, amount: 342n },
];

const dumpBytes = (entries: { account: string; amount: bigint }[]) =>
  new TextEncoder().encode(JSON.stringify(buildDistributionTree(entries).dump()));

/** The history with what the Distributor committed to for `bytes` (the honest tree's root and total). */
function committedTo(h: DistributionHistory, bytes: Uint8Array): DistributionHistory {
  const root = buildDistributionTree(expectedLeaves).root;
  const committed = { root, total: 1188n, treeHash: keccak256(bytes), blockNumber: 25n };
  return { ...h, proposed: { ...committed, blockNumber: 24n }, accepted: committed, currentRoot: root };
}

function compare(h: DistributionHistory, bytes: Uint8Array, expectedChainId?: number) {
  return compareDistribution({
    history: h,
    recomputed: recomputeDistribution(h),
    published: readPublishedTree(bytes),
    expectedChainId,
  });
}

const failed = (r: ReturnType<typeof compare>) => r.checks.filter((c) => !c.ok).map((c) => c.name);

describe('recompute', () => {
  it('recomputes the waterfalls, the pro-rata split with its dust, the cumulative leaves and the tree', () => {
    const r = recomputeDistribution(history());
    expect(r.waterfalls.map((w) => [w.servicerFee, w.tranches.map((t) => t.total), w.undistributed])).toEqual(
      [
        [7n, [693n, 0n], 0n],
        [5n, [307n, 188n], 0n],
      ],
    );
    expect(r.recoveries.map((v) => [v.trancheTotals, v.carryIn, v.distributed, v.dustOut, v.payout])).toEqual(
      [
        [[693n, 0n], [0n, 0n], [692n, 0n], [1n, 0n], 692n],
        [[307n, 188n], [1n, 0n], [308n, 188n], [0n, 0n], 496n],
      ],
    );
    expect(r.holders.map((h) => [getAddress(h.account), h.cumulative])).toEqual([
      [A, 500n],
      [B, 346n],
      [C, 342n],
    ]);
    expect(r.total).toBe(1188n);
    expect(r.tree.root).toBe(buildDistributionTree(expectedLeaves).root);
  });

  it('reads the balances at each snapshot from the transfers (a holder who sold is gone)', () => {
    const h = history();
    expect(
      balancesAtSnapshots(2, h.transfers, [9n, 19n]).map((s) =>
        s.map((t) => t.map((b) => ({ ...b, account: getAddress(b.account) }))),
      ),
    ).toEqual([
      [
        [
          { account: A, balance: 1n },
          { account: B, balance: 1n },
        ],
        [{ account: C, balance: 5n }],
      ],
      [
        [
          { account: A, balance: 1n },
          { account: C, balance: 1n },
        ],
        [{ account: C, balance: 5n }],
      ],
    ]);
  });
});

describe('compare', () => {
  it('agrees with the honest tree and what the Distributor committed', () => {
    const bytes = dumpBytes(expectedLeaves);
    const r = compare(committedTo(history(), bytes), bytes, 31337);
    expect(failed(r)).toEqual([]);
    expect(r.agree).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual([
      'chain',
      'recoveries',
      'waterfall #1',
      'waterfall #2',
      'balances',
      'published tree',
      'leaves',
      'root (published)',
      'committed',
      'root (on-chain)',
      'tree hash',
      'total',
      'accepted == proposed',
    ]);
  });

  it('finds a tampered leaf (a consistent tree, one amount raised)', () => {
    const bytes = dumpBytes([expectedLeaves[0], expectedLeaves[1], { account: C, amount: 9_999n }]);
    const r = compare(committedTo(history(), dumpBytes(expectedLeaves)), bytes);
    expect(r.agree).toBe(false);
    expect(failed(r)).toEqual(['leaves', 'root (published)', 'tree hash']);
    expect(r.differenceCount).toBe(1);
    expect(r.differences).toEqual([{ account: C, expected: 342n, published: 9_999n }]);
  });

  it('finds a missing holder', () => {
    const bytes = dumpBytes([expectedLeaves[0], expectedLeaves[2]]);
    const r = compare(committedTo(history(), bytes), bytes);
    expect(failed(r)).toEqual(['leaves', 'root (published)']);
    expect(r.differences).toEqual([{ account: B, expected: 346n, published: null }]);
    expect(r.reasons).toContain('leaves: 1 of 3 expected leaves differ');
  });

  it('lists the differences of a dump whose values were edited without rebuilding the tree', () => {
    const dump = buildDistributionTree(expectedLeaves).dump();
    for (const v of dump.values) if (v.value[0] === A) v.value[1] = '600';
    const bytes = new TextEncoder().encode(JSON.stringify(dump));
    const r = compare(committedTo(history(), bytes), bytes);
    expect(failed(r)).toEqual(['published tree', 'leaves']);
    expect(r.differences).toEqual([{ account: A, expected: 500n, published: 600n }]);
  });

  it('finds an event whose waterfall does not follow the terms, and a supply the transfers do not sum to', () => {
    const h = history();
    h.recoveries[0] = { ...h.recoveries[0], servicerFee: 8n };
    h.recoveries[1] = { ...h.recoveries[1], supplies: [3n, 5n] };
    const bytes = dumpBytes(expectedLeaves);
    const r = compare(committedTo(h, bytes), bytes, 1);
    expect(failed(r)).toEqual(['chain', 'waterfall #1', 'balances #2 tranche 0', 'balances']);
    expect(r.checks.find((c) => c.name === 'waterfall #1')?.detail).toBe(
      'servicerFee 8 on-chain, 7 recomputed',
    );
  });

  it('says so when nothing was committed for the distribution id', () => {
    const bytes = dumpBytes(expectedLeaves);
    const r = compare(history(), bytes);
    expect(failed(r)).toEqual(['committed']);
    expect(r.reasons[0]).toMatch(/no RootProposed for distributionId 7/);
  });

  it('names a root proposed but not accepted as such, and checks it', () => {
    const bytes = dumpBytes(expectedLeaves);
    const h = committedTo(history(), bytes);
    const r = compare(
      { ...h, accepted: null, proposed: { ...(h.proposed as NonNullable<typeof h.proposed>), total: 1n } },
      bytes,
    );
    expect(failed(r)).toEqual(['total']);
    expect(r.checks.find((c) => c.name === 'committed')?.detail).toBe(
      'proposed (not accepted yet) at block 24',
    );
  });
});

describe('VerifyInputError', () => {
  it('is a BaseError with a code (the CLI exits 2 on it)', () => {
    const error = new VerifyInputError('no RecoveryDistributed', { cause: new Error('x') });
    expect(error).toBeInstanceOf(BaseError);
    expect(error.name).toBe('VerifyInputError');
    expect(error.code).toBe('NOT_FOUND');
    expect(error.cause).toBeInstanceOf(Error);
  });
});
