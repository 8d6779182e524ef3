/**
 * What the verifier reads from the chain (over any PublicClient), and nothing else: the Portfolio's
 * terms, tranche tokens and tranche terms, its spec-v2 risk terms (`riskTerms()`), its
 * `OfferingClosed` and every `RecoveryDistributed` up to the distribution's recovery (with each one's
 * block timestamp, its `RecoveryTriggerAndReserve` and, for the final recovery, its
 * `PortfolioResolved`), the `ReserveFunded` before it, the tranche `Transfer` logs up to
 * the last snapshot block and each tranche's `totalSupply` at every snapshot, and the Distributor's
 * `RootProposed` / `RootAccepted` for the distribution id and its current root. Logs are read in
 * bounded ranges from the block the Portfolio was created in (core/chain/logs.ts).
 *
 * The result is plain data: recompute.ts and compare.ts work on it without a node.
 */
import { type AbiEvent, type Address, getAddress, type Hex, type PublicClient, parseEventLogs } from 'viem';
import { readRoot } from '../../chain/contracts/distributor.ts';
import type { TriggerAndReserve } from '../../chain/contracts/portfolio.ts';
import { readPortfolioLayout } from '../../chain/contracts/portfolio.ts';
import { readTotalSupply } from '../../chain/contracts/tranche-token.ts';
import { isChainError } from '../../chain/errors.ts';
import { distributorAbi, portfolioAbi, trancheTokenAbi } from '../../chain/generated/index.ts';
import { compareLogs, findCreationBlock, getLogsInRanges, NoContractCodeError } from '../../chain/logs.ts';
import { readChain } from '../../chain/read.ts';
import type { WaterfallMode } from '../../domain/waterfall.ts';
import { VerifyInputError } from './errors.ts';
import type { CommittedRoot } from './types.ts';

/** One `RecoveryDistributed`, with the timestamp of its block and the tranche supplies at its snapshot. */
export type RecoveryRecord = {
  recoveryId: bigint;
  blockNumber: bigint;
  /** The event's position in its block (orders it against `ReserveFunded`). */
  logIndex: number;
  blockTimestamp: bigint;
  snapshotBlock: bigint;
  amount: bigint;
  servicerFee: bigint;
  protocolFee: bigint;
  undistributed: bigint;
  interest: readonly bigint[];
  principal: readonly bigint[];
  residual: readonly bigint[];
  /** Each tranche token's `totalSupply` at `snapshotBlock`. */
  supplies: bigint[];
  /**
   * Its `RecoveryTriggerAndReserve` (the contract emits one per recovery of a portfolio with a reserve
   * target or a trigger, and for the final recovery); null when there is none.
   */
  triggerAndReserve: TriggerAndReserveRecord | null;
  /**
   * Its `PortfolioResolved` (same recoveryId): this was the final recovery (`depositFinalRecovery`),
   * every debt left written off; null for any other recovery.
   */
  resolved: ResolvedRecord | null;
};

/** One `RecoveryTriggerAndReserve`: the trigger state and reserve movements of a recovery. */
export type TriggerAndReserveRecord = TriggerAndReserve;

/** One `PortfolioResolved`: per tranche (seniority order), what the final recovery wrote off. */
export type ResolvedRecord = {
  principalWrittenOff: readonly bigint[];
  interestWrittenOff: readonly bigint[];
};

/** One `ReserveFunded`: the issuer treasury added `amount`; the reserve was then `balance`. */
export type ReserveFundingRecord = {
  blockNumber: bigint;
  logIndex: number;
  from: Address;
  amount: bigint;
  balance: bigint;
};

/**
 * The Portfolio's spec-v2 terms (`riskTerms()`), fixed at creation. A portfolio whose
 * `reserveTargetBps` and `collectionRatioBps` are both 0 runs the v1 waterfall on every recovery but
 * a final one.
 */
export type RiskTermsRecord = {
  reserveTargetBps: number;
  collectionRatioBps: number;
  businessPlan: { atSeconds: bigint; cumulative: bigint }[];
  resolutionDelay: bigint;
};

/** One tranche `Transfer` (mint: `from` is the zero address; burn: `to` is). */
export type TransferRecord = {
  tranche: number;
  blockNumber: bigint;
  from: Address;
  to: Address;
  value: bigint;
};

export type DistributionHistory = {
  chainId: number;
  head: bigint;
  fromBlock: bigint;
  portfolio: Address;
  distributor: Address;
  fees: { servicerBps: number; protocolBps: number };
  mode: WaterfallMode;
  tokens: Address[];
  trancheTerms: { face: bigint; couponBps: number }[];
  closed: { closedAt: bigint; sold: readonly bigint[] };
  /**
   * `riskTerms()`; null for a Portfolio from before spec v2 (the call reverts without data: no such
   * function), verified as one without v2 terms.
   */
  riskTerms: RiskTermsRecord | null;
  /** `RecoveryDistributed` up to the distribution's recovery, by recoveryId. */
  recoveries: RecoveryRecord[];
  /** `ReserveFunded` before the last of `recoveries`, in chain order. */
  reserveFundings: ReserveFundingRecord[];
  /** Tranche transfers up to the last recovery's snapshot block, in chain order. */
  transfers: TransferRecord[];
  distributionId: bigint;
  proposed: CommittedRoot | null;
  accepted: CommittedRoot | null;
  currentRoot: Hex;
};

export type ReadDistributionHistoryParameters = {
  portfolio: Address;
  recoveryId: bigint;
  distributionId: bigint;
  fromBlock?: bigint | undefined;
  range: bigint;
  progress: (line: string) => void;
};

const eventOf = (abi: readonly unknown[], name: string) =>
  (abi as AbiEvent[]).find((item) => item.type === 'event' && item.name === name) as AbiEvent;

/** Reads the history; `VerifyInputError` when the portfolio, its closing or the recovery is not there. */
export async function readDistributionHistory(
  client: PublicClient,
  parameters: ReadDistributionHistoryParameters,
): Promise<DistributionHistory> {
  const { portfolio, recoveryId, distributionId, range, progress } = parameters;

  // ------------------------------------------------------------------ the portfolio on-chain
  const chainId = await client.getChainId();
  const head = await client.getBlockNumber();
  const code = await client.getCode({ address: portfolio });
  if (code === undefined || code === '0x')
    throw new VerifyInputError(`${portfolio} is not a contract on chain ${chainId}`);
  const layout = await readPortfolioLayout(client, { portfolio });
  const { terms } = layout;
  const tokens = layout.tokens.map((token) => getAddress(token));
  const trancheTerms = layout.trancheTerms.map((t) => ({ face: t.face, couponBps: Number(t.couponBps) }));
  const distributor = getAddress(terms.distributor);
  let fromBlock = parameters.fromBlock;
  if (fromBlock === undefined) {
    try {
      fromBlock = await findCreationBlock(client, portfolio, head);
    } catch (error) {
      if (error instanceof NoContractCodeError) throw new VerifyInputError(error.message, { cause: error });
      throw error;
    }
  }
  const riskTerms = await readRiskTerms(client, portfolio);
  progress(
    `portfolio ${portfolio} (chain ${chainId}, created at block ${fromBlock}): ${tokens.length} tranches, distributor ${distributor}`,
  );
  progress(
    riskTerms === null
      ? 'no riskTerms() (a Portfolio from before spec v2): verified without v2 terms'
      : `risk terms: reserve target ${riskTerms.reserveTargetBps} bps, collection ratio ${riskTerms.collectionRatioBps} bps over ${riskTerms.businessPlan.length} business plan point(s), resolution delay ${riskTerms.resolutionDelay} s`,
  );

  // ------------------------------------------------------------------ recoveries
  const portfolioLogs = await getLogsInRanges(client, {
    address: portfolio,
    events: [
      eventOf(portfolioAbi, 'OfferingClosed'),
      eventOf(portfolioAbi, 'RecoveryDistributed'),
      eventOf(portfolioAbi, 'RecoveryTriggerAndReserve'),
      eventOf(portfolioAbi, 'PortfolioResolved'),
      eventOf(portfolioAbi, 'ReserveFunded'),
    ],
    fromBlock,
    toBlock: head,
    range,
    stop: (logs) =>
      parseEventLogs({ abi: portfolioAbi, logs: logs as never, eventName: 'RecoveryDistributed' }).some(
        (l) => l.args.recoveryId >= recoveryId,
      ),
  });
  portfolioLogs.sort(compareLogs);
  const closed = parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'OfferingClosed',
  })[0];
  if (closed === undefined) throw new VerifyInputError(`${portfolio}: no OfferingClosed event`);
  const events = parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'RecoveryDistributed',
  })
    .filter((l) => l.args.recoveryId <= recoveryId)
    .sort((a, b) => (a.args.recoveryId < b.args.recoveryId ? -1 : 1));
  if (events.length === 0 || events[events.length - 1].args.recoveryId !== recoveryId) {
    throw new VerifyInputError(`${portfolio}: no RecoveryDistributed event with recoveryId ${recoveryId}`);
  }
  progress(`${events.length} recoveries up to #${recoveryId}; offering closed at ${closed.args.closedAt}`);
  // the v2 events of each recovery, by recoveryId (the last one if a recoveryId repeats, which the
  // contract never does: compare.ts then finds the recomputed values differ)
  const triggerAndReserve = new Map<bigint, TriggerAndReserveRecord>();
  for (const l of parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'RecoveryTriggerAndReserve',
  })) {
    const a = l.args;
    triggerAndReserve.set(a.recoveryId, {
      triggerBreached: a.triggerBreached,
      collected: a.collected,
      planned: a.planned,
      released: a.released,
      drawn: a.drawn,
      replenished: a.replenished,
      reserveBalance: a.reserveBalance,
    });
  }
  const resolved = new Map<bigint, ResolvedRecord>();
  for (const l of parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'PortfolioResolved',
  })) {
    resolved.set(l.args.recoveryId, {
      principalWrittenOff: l.args.principalWrittenOff,
      interestWrittenOff: l.args.interestWrittenOff,
    });
  }
  const lastEvent = events[events.length - 1];
  const reserveFundings: ReserveFundingRecord[] = parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'ReserveFunded',
  })
    .filter((l) => compareLogs(l as never, lastEvent as never) < 0)
    .map((l) => ({
      blockNumber: l.blockNumber,
      logIndex: l.logIndex,
      from: getAddress(l.args.from),
      amount: l.args.amount,
      balance: l.args.balance,
    }));
  if (reserveFundings.length > 0 || triggerAndReserve.size > 0) {
    progress(
      `${reserveFundings.length} reserve funding(s), ${triggerAndReserve.size} RecoveryTriggerAndReserve, ${resolved.size} PortfolioResolved`,
    );
  }
  const recoveries: RecoveryRecord[] = [];
  for (const event of events) {
    const block = await client.getBlock({ blockNumber: event.blockNumber });
    const a = event.args;
    recoveries.push({
      recoveryId: a.recoveryId,
      blockNumber: event.blockNumber,
      logIndex: event.logIndex,
      blockTimestamp: block.timestamp,
      snapshotBlock: a.snapshotBlock,
      amount: a.amount,
      servicerFee: a.servicerFee,
      protocolFee: a.protocolFee,
      undistributed: a.undistributed,
      interest: a.interest,
      principal: a.principal,
      residual: a.residual,
      supplies: [],
      triggerAndReserve: triggerAndReserve.get(a.recoveryId) ?? null,
      resolved: resolved.get(a.recoveryId) ?? null,
    });
  }

  // ------------------------------------------------------------------ transfers and supplies
  const lastSnapshot = recoveries[recoveries.length - 1].snapshotBlock;
  const transferLogs = parseEventLogs({
    abi: trancheTokenAbi,
    eventName: 'Transfer',
    logs: (await getLogsInRanges(client, {
      address: tokens,
      events: [eventOf(trancheTokenAbi, 'Transfer')],
      fromBlock,
      toBlock: lastSnapshot,
      range,
    })) as never,
  }).sort(compareLogs as never);
  progress(`${transferLogs.length} tranche transfers up to block ${lastSnapshot}`);
  const trancheOf = new Map(tokens.map((t, i) => [t.toLowerCase(), i]));
  const transfers: TransferRecord[] = [];
  for (const log of transferLogs) {
    const tranche = trancheOf.get(log.address.toLowerCase());
    if (tranche === undefined) continue;
    const { from, to, value } = log.args;
    transfers.push({ tranche, blockNumber: log.blockNumber ?? 0n, from, to, value });
  }
  for (const recovery of recoveries) {
    for (const token of tokens) {
      recovery.supplies.push(await readTotalSupply(client, { token, blockNumber: recovery.snapshotBlock }));
    }
  }

  // ------------------------------------------------------------------ what the Distributor committed
  const distributorLogs = (
    await getLogsInRanges(client, {
      address: distributor,
      events: [eventOf(distributorAbi, 'RootProposed'), eventOf(distributorAbi, 'RootAccepted')],
      fromBlock,
      toBlock: head,
      range,
    })
  ).sort(compareLogs);
  const lastFor = (eventName: 'RootProposed' | 'RootAccepted'): CommittedRoot | null => {
    const l = parseEventLogs({ abi: distributorAbi, logs: distributorLogs as never, eventName })
      .filter((l) => (l.args as { distributionId: bigint }).distributionId === distributionId)
      .at(-1);
    if (l === undefined) return null;
    const args = l.args as { root: Hex; total: bigint; treeHash: Hex };
    return { root: args.root, total: args.total, treeHash: args.treeHash, blockNumber: l.blockNumber };
  };
  const currentRoot = await readRoot(client, { distributor });

  return {
    chainId,
    head,
    fromBlock,
    portfolio,
    distributor,
    fees: { servicerBps: Number(terms.servicerFeeBps), protocolBps: Number(terms.protocolFeeBps) },
    mode: terms.mode,
    tokens,
    trancheTerms,
    closed: { closedAt: closed.args.closedAt, sold: closed.args.sold },
    riskTerms,
    recoveries,
    reserveFundings,
    transfers,
    distributionId,
    proposed: lastFor('RootProposed'),
    accepted: lastFor('RootAccepted'),
    currentRoot,
  };
}

/**
 * `riskTerms()`: the reserve target, the trigger's collection ratio and business plan, the resolution
 * delay. Null when the call reverts without data (a Portfolio from before spec v2 has no such
 * function); any other failure is thrown.
 */
async function readRiskTerms(client: PublicClient, portfolio: Address): Promise<RiskTermsRecord | null> {
  try {
    const [reserveTargetBps, collectionRatioBps, businessPlan, resolutionDelay] = await readChain(
      'Portfolio',
      'riskTerms',
      () => client.readContract({ address: portfolio, abi: portfolioAbi, functionName: 'riskTerms' }),
    );
    return {
      reserveTargetBps: Number(reserveTargetBps),
      collectionRatioBps: Number(collectionRatioBps),
      businessPlan: businessPlan.map((p) => ({ atSeconds: BigInt(p.atSeconds), cumulative: p.cumulative })),
      resolutionDelay,
    };
  } catch (error) {
    if (isChainError(error) && error.kind === 'revert' && error.errorName === undefined && !error.data) {
      return null;
    }
    throw error;
  }
}
