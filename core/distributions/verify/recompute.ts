/**
 * The distribution as it should be, recomputed from what history.ts read and nothing else (pure, no
 * node): each recovery's waterfall (core/domain/waterfall.ts: terms, sold amounts, block timestamps,
 * and for spec v2 the risk terms, the reserve fundings and which recovery was final), the balances at
 * each snapshot from the Transfer records, the pro-rata split of every recovery
 * (core/distributions/compute.ts: dust carried per tranche, cumulative per account), and the expected
 * Merkle tree of the last one.
 *
 * Which waterfall: as the contract, a recovery of a portfolio with a reserve target or a trigger, and
 * the final recovery of any portfolio, run spec v2 (`computeWaterfallV2`, the reserve balance,
 * cumulative collections and clock carried from recovery to recovery, reserve fundings added in
 * between); any other recovery runs `computeWaterfall` (v1) exactly as before.
 */
import { zeroAddress } from 'viem';
import {
  type ComputeWaterfallReturnType,
  type ComputeWaterfallV2ReturnType,
  computeWaterfall,
  computeWaterfallV2,
  type TrancheState,
  type WaterfallTrigger,
} from '../../domain/waterfall.ts';
import { computeDistribution, type DistributionHolder } from '../compute.ts';
import { buildDistributionTree, type DistributionTree } from '../tree/merkle.ts';
import type {
  DistributionHistory,
  RecoveryRecord,
  ReserveFundingRecord,
  RiskTermsRecord,
  TransferRecord,
} from './history.ts';
import type { VerifiedRecovery } from './types.ts';

/** What recomputing needs from the history. */
export type RecomputeInput = Pick<
  DistributionHistory,
  'fees' | 'mode' | 'trancheTerms' | 'closed' | 'recoveries' | 'transfers'
> &
  Partial<Pick<DistributionHistory, 'riskTerms' | 'reserveFundings'>>;

/** One account's balance of one tranche at a snapshot (non-zero; negative only when the logs are inconsistent). */
export type SnapshotBalance = { account: string; balance: bigint };

/**
 * One recovery's waterfall as recomputed, in the v2 shape (a v1 recovery: never breached, no reserve
 * movement, nothing written off, planned 0), with how it was run.
 */
export type RecomputedWaterfall = ComputeWaterfallV2ReturnType & {
  /** Run through `computeWaterfallV2` (v2 terms, or the final recovery); false: `computeWaterfall`. */
  v2: boolean;
  /** The resolving recovery (its `PortfolioResolved` is on-chain). */
  final: boolean;
  /** The reserve balance it started from: the previous balance after plus the fundings since. */
  reserveBefore: bigint;
};

export type RecomputedDistribution = {
  /** Per recovery (history order): the waterfall as computed from the terms and the previous state. */
  waterfalls: RecomputedWaterfall[];
  /** Per recovery, per tranche: the non-zero balances at its snapshot block, from the Transfer records. */
  balances: SnapshotBalance[][][];
  recoveries: VerifiedRecovery[];
  /** The last recovery's holders: every account's cumulative amount. */
  holders: DistributionHolder[];
  tree: DistributionTree;
  total: bigint;
};

/** True when the portfolio has spec-v2 terms the contract runs (a reserve target or a trigger). */
export const hasV2Terms = (riskTerms: RiskTermsRecord | null | undefined): boolean =>
  riskTerms != null && (riskTerms.reserveTargetBps !== 0 || riskTerms.collectionRatioBps !== 0);

/** `fundings` strictly after `after` (null: from the start) and strictly before `before`, by log position. */
const fundedBetween = (
  fundings: readonly ReserveFundingRecord[],
  after: Pick<RecoveryRecord, 'blockNumber' | 'logIndex'> | null,
  before: Pick<RecoveryRecord, 'blockNumber' | 'logIndex'>,
): bigint => {
  const lt = (a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }) =>
    a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.logIndex < b.logIndex);
  return fundings
    .filter((f) => (after === null || lt(after, f)) && lt(f, before))
    .reduce((sum, f) => sum + f.amount, 0n);
};

/** A v1 result in the v2 shape: no trigger, no reserve movement, nothing written off. */
function asV2(
  result: ComputeWaterfallReturnType,
  reserveBalance: bigint,
  clockSeconds: bigint,
  collected: bigint,
): ComputeWaterfallV2ReturnType {
  return {
    ...result,
    tranches: result.tranches.map((t) => ({ ...t, principalWrittenOff: 0n, interestWrittenOff: 0n })),
    triggerBreached: false,
    reserve: { released: 0n, drawn: 0n, replenished: 0n, balanceAfter: reserveBalance },
    reserveTarget: 0n,
    planned: 0n,
    clockSeconds,
    collected,
    resolved: false,
  };
}

/**
 * Each recovery's waterfall, the tranche state (and for v2 the reserve balance, the clock and the
 * collections so far) carried from one to the next. A recovery is final when the history has its
 * `PortfolioResolved`.
 */
export function recomputeWaterfalls(
  input: Pick<
    RecomputeInput,
    'fees' | 'mode' | 'trancheTerms' | 'closed' | 'recoveries' | 'riskTerms' | 'reserveFundings'
  >,
): RecomputedWaterfall[] {
  let state: TrancheState[] = input.trancheTerms.map((t, i) => ({
    face: t.face,
    couponBps: Number(t.couponBps),
    outstanding: input.closed.sold[i] ?? 0n,
    interestArrears: 0n,
  }));
  const riskTerms = input.riskTerms ?? null;
  const v2Terms = hasV2Terms(riskTerms);
  const targetBps = riskTerms?.reserveTargetBps ?? 0;
  // as the contract: the business plan counts only with a collection ratio, the reserve only with a target
  const trigger: WaterfallTrigger | undefined =
    riskTerms !== null && riskTerms.collectionRatioBps !== 0
      ? { collectionRatioBps: riskTerms.collectionRatioBps, businessPlan: riskTerms.businessPlan }
      : undefined;
  const fundings = input.reserveFundings ?? [];
  let previousAt = input.closed.closedAt;
  let previous: RecoveryRecord | null = null;
  let reserveBalance = 0n;
  let clockSeconds = 0n;
  let collected = 0n;
  const out: RecomputedWaterfall[] = [];
  for (const recovery of input.recoveries) {
    const elapsedSeconds = recovery.blockTimestamp - previousAt;
    const final = recovery.resolved != null;
    const reserveBefore = targetBps === 0 ? 0n : reserveBalance + fundedBetween(fundings, previous, recovery);
    let result: ComputeWaterfallV2ReturnType;
    if (v2Terms || final) {
      result = computeWaterfallV2({
        tranches: state,
        fees: input.fees,
        mode: input.mode,
        elapsedSeconds,
        amount: recovery.amount,
        reserve: targetBps === 0 ? undefined : { targetBps, balance: reserveBefore },
        trigger,
        clockSeconds,
        collected,
        final,
      });
    } else {
      // v1, exactly as before spec v2 (v2 without terms gives the same numbers)
      const v1 = computeWaterfall({
        tranches: state,
        fees: input.fees,
        mode: input.mode,
        elapsedSeconds,
        amount: recovery.amount,
      });
      result = asV2(v1, reserveBefore, clockSeconds + elapsedSeconds, collected + recovery.amount);
    }
    out.push({ ...result, v2: v2Terms || final, final, reserveBefore });
    state = result.state;
    reserveBalance = result.reserve.balanceAfter;
    clockSeconds = result.clockSeconds;
    collected = result.collected;
    previousAt = recovery.blockTimestamp;
    previous = recovery;
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

/** What the report shows of a recomputed v2 waterfall (nulls for a v1 one). */
const v2Summary = (
  w: RecomputedWaterfall,
): Pick<VerifiedRecovery, 'final' | 'triggerBreached' | 'reserve' | 'writtenOff'> =>
  w.v2
    ? {
        final: w.final,
        triggerBreached: w.triggerBreached,
        reserve: { before: w.reserveBefore, ...w.reserve },
        writtenOff: w.final
          ? {
              principal: w.tranches.map((t) => t.principalWrittenOff),
              interest: w.tranches.map((t) => t.interestWrittenOff),
            }
          : null,
      }
    : { final: false, triggerBreached: null, reserve: null, writtenOff: null };

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
      ...v2Summary(waterfalls[k]),
    });
    carry = result.perTranche.map((t) => t.dustOut);
    previousCumulative = new Map(result.holders.map((h) => [h.account, h.cumulative]));
    holders = result.holders;
  }
  const tree = buildDistributionTree(holders.map((h) => ({ account: h.account, amount: h.cumulative })));
  const total = holders.reduce((s, h) => s + h.cumulative, 0n);
  return { waterfalls, balances, recoveries, holders, tree, total };
}
