/**
 * The distribution as it should be, recomputed from what history.ts read and nothing else (pure, no
 * node): each recovery's waterfall (core/domain/waterfall.ts `computeWaterfall`: terms, sold amounts,
 * block timestamps), the balances at each snapshot from the Transfer records, the pro-rata split of
 * every recovery (core/distributions/compute.ts: dust carried per tranche, cumulative per account), and
 * the expected Merkle tree of the last one.
 */
import { zeroAddress } from 'viem';
import {
  type ComputeWaterfallReturnType,
  computeWaterfall,
  type TrancheState,
} from '../../domain/waterfall.ts';
import { computeDistribution, type DistributionHolder } from '../compute.ts';
import { buildDistributionTree, type DistributionTree } from '../tree/merkle.ts';
import type { DistributionHistory, RecoveryRecord, TransferRecord } from './history.ts';
import type { VerifiedRecovery } from './types.ts';

/** What recomputing needs from the history. */
export type RecomputeInput = Pick<
  DistributionHistory,
  'fees' | 'mode' | 'trancheTerms' | 'closed' | 'recoveries' | 'transfers'
>;

/** One account's balance of one tranche at a snapshot (non-zero; negative only when the logs are inconsistent). */
export type SnapshotBalance = { account: string; balance: bigint };

export type RecomputedDistribution = {
  /** Per recovery (history order): the waterfall as computed from the terms and the previous state. */
  waterfalls: ComputeWaterfallReturnType[];
  /** Per recovery, per tranche: the non-zero balances at its snapshot block, from the Transfer records. */
  balances: SnapshotBalance[][][];
  recoveries: VerifiedRecovery[];
  /** The last recovery's holders: every account's cumulative amount. */
  holders: DistributionHolder[];
  tree: DistributionTree;
  total: bigint;
};

/** Each recovery's waterfall, the tranche state carried from one to the next. */
export function recomputeWaterfalls(
  input: Pick<RecomputeInput, 'fees' | 'mode' | 'trancheTerms' | 'closed' | 'recoveries'>,
): ComputeWaterfallReturnType[] {
  let state: TrancheState[] = input.trancheTerms.map((t, i) => ({
    face: t.face,
    couponBps: Number(t.couponBps),
    outstanding: input.closed.sold[i] ?? 0n,
    interestArrears: 0n,
  }));
  let previousAt = input.closed.closedAt;
  const out: ComputeWaterfallReturnType[] = [];
  for (const recovery of input.recoveries) {
    const expected = computeWaterfall({
      tranches: state,
      fees: input.fees,
      mode: input.mode,
      elapsedSeconds: recovery.blockTimestamp - previousAt,
      amount: recovery.amount,
    });
    out.push(expected);
    state = expected.state;
    previousAt = recovery.blockTimestamp;
  }
  return out;
}

/** Per snapshot block (ascending), per tranche: the non-zero balances after every transfer up to it. */
export function balancesAtSnapshots(
  trancheCount: number,
  transfers: readonly TransferRecord[],
  snapshotBlocks: readonly bigint[],
): SnapshotBalance[][][] {
  const balances = Array.from({ length: trancheCount }, () => new Map<string, bigint>());
  const out: SnapshotBalance[][][] = [];
  let next = 0;
  for (const snapshot of snapshotBlocks) {
    for (; next < transfers.length && transfers[next].blockNumber <= snapshot; next++) {
      const { tranche, from, to, value } = transfers[next];
      const map = balances[tranche];
      if (map === undefined) continue;
      if (from !== zeroAddress) map.set(from.toLowerCase(), (map.get(from.toLowerCase()) ?? 0n) - value);
      if (to !== zeroAddress) map.set(to.toLowerCase(), (map.get(to.toLowerCase()) ?? 0n) + value);
    }
    out.push(
      balances.map((map) =>
        [...map].filter(([, b]) => b !== 0n).map(([account, balance]) => ({ account, balance })),
      ),
    );
  }
  return out;
}

/** Per tranche: the recovery's interest + principal + residual. */
export const trancheTotalsOf = (
  recovery: Pick<RecoveryRecord, 'interest' | 'principal' | 'residual'>,
  trancheCount: number,
): bigint[] =>
  Array.from(
    { length: trancheCount },
    (_, i) => (recovery.interest[i] ?? 0n) + (recovery.principal[i] ?? 0n) + (recovery.residual[i] ?? 0n),
  );

/** The whole recomputation: waterfalls, balances, every distribution up to the last, its tree. */
export function recomputeDistribution(input: RecomputeInput): RecomputedDistribution {
  const trancheCount = input.trancheTerms.length;
  const waterfalls = recomputeWaterfalls(input);
  const balances = balancesAtSnapshots(
    trancheCount,
    input.transfers,
    input.recoveries.map((r) => r.snapshotBlock),
  );
  const recoveries: VerifiedRecovery[] = [];
  let previousCumulative = new Map<string, bigint>();
  let carry = Array.from({ length: trancheCount }, () => 0n);
  let holders: DistributionHolder[] = [];
  for (const [k, recovery] of input.recoveries.entries()) {
    const trancheTotals = trancheTotalsOf(recovery, trancheCount);
    const result = computeDistribution({
      tranches: balances[k].map((list, i) => ({
        trancheId: i,
        amount: trancheTotals[i],
        carryIn: carry[i],
        balances: list.filter((b) => b.balance > 0n),
      })),
      previousCumulative,
    });
    recoveries.push({
      recoveryId: recovery.recoveryId,
      blockNumber: recovery.blockNumber,
      snapshotBlock: recovery.snapshotBlock,
      amount: recovery.amount,
      trancheTotals,
      carryIn: carry,
      distributed: result.perTranche.map((t) => t.distributed),
      dustOut: result.perTranche.map((t) => t.dustOut),
      supplies: recovery.supplies,
      holders: result.holders.length,
      payout: result.totalPayout,
    });
    carry = result.perTranche.map((t) => t.dustOut);
    previousCumulative = new Map(result.holders.map((h) => [h.account, h.cumulative]));
    holders = result.holders;
  }
  const tree = buildDistributionTree(holders.map((h) => ({ account: h.account, amount: h.cumulative })));
  const total = holders.reduce((s, h) => s + h.cumulative, 0n);
  return { waterfalls, balances, recoveries, holders, tree, total };
}
