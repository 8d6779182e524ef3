/**
 * The events the indexer follows, and their decoding from raw `eth_getLogs` entries (pure, no I/O).
 *
 * Every log is matched by its first topic against the generated ABIs and decoded with viem's
 * `decodeEventLog`, except the tranche tokens' `Transfer`, the bulk of the logs, which has a fixed
 * layout (two indexed addresses, one uint256) and is read straight from its topics and data (the unit
 * test checks it against `decodeEventLog`). Addresses come out checksummed (EIP-55), memoised.
 */
import { type AbiEvent, type Address, decodeEventLog, getAddress, type Hex, toEventSelector } from 'viem';
import type { TriggerAndReserve } from '../../core/chain/contracts/portfolio.ts';
import {
  complianceRegistryAbi,
  distributorAbi,
  marketplaceAbi,
  portfolioAbi,
  portfolioFactoryAbi,
  trancheTokenAbi,
} from '../../core/chain/generated/index.ts';

/** What an address is to the indexer. */
export type ContractKind = 'factory' | 'registry' | 'marketplace' | 'portfolio' | 'distributor' | 'tranche';

/** A log as `eth_getLogs` answers it (hex quantities, no formatting). */
export type RpcLog = {
  address: Hex;
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  blockHash: Hex;
  transactionHash: Hex;
  logIndex: Hex;
  removed?: boolean;
};

export type DecodedEvent =
  | { type: 'Transfer'; from: Address; to: Address; value: bigint }
  | {
      type: 'PortfolioCreated';
      portfolio: Address;
      distributor: Address;
      tranches: Address[];
      issuer: Address;
    }
  | { type: 'Purchased'; trancheId: bigint; buyer: Address; amount: bigint; cost: bigint; nonce: bigint }
  | { type: 'OfferingClosed'; closedAt: bigint; sold: readonly bigint[] }
  | {
      type: 'RecoveryDistributed';
      recoveryId: bigint;
      amount: bigint;
      servicerFee: bigint;
      protocolFee: bigint;
      interest: readonly bigint[];
      principal: readonly bigint[];
      residual: readonly bigint[];
      undistributed: bigint;
      snapshotBlock: bigint;
      reportHash: Hex;
    }
  | ({ type: 'RecoveryTriggerAndReserve'; recoveryId: bigint } & TriggerAndReserve)
  | { type: 'ReserveFunded'; from: Address; amount: bigint; balance: bigint }
  | { type: 'ResolutionProposed'; executableAt: bigint }
  | { type: 'ResolutionVetoed'; guardian: Address; executableAt: bigint }
  | {
      type: 'PortfolioResolved';
      recoveryId: bigint;
      principalWrittenOff: readonly bigint[];
      interestWrittenOff: readonly bigint[];
    }
  | { type: 'DocumentsAnchored'; version: bigint; documentRoot: Hex; loanTapeHash: Hex }
  | { type: 'Funded'; amount: bigint; totalFunded: bigint }
  | {
      type: 'RootProposed';
      root: Hex;
      total: bigint;
      treeHash: Hex;
      distributionId: bigint;
      validAt: bigint;
    }
  | { type: 'RootAccepted'; root: Hex; total: bigint; treeHash: Hex; distributionId: bigint }
  | { type: 'RootRevoked'; root: Hex; distributionId: bigint }
  | { type: 'Claimed'; account: Address; amount: bigint; cumulative: bigint }
  | {
      type: 'OrderFilled';
      orderHash: Hex;
      maker: Address;
      taker: Address;
      tranche: Address;
      amount: bigint;
      cost: bigint;
      fee: bigint;
      /** the fill intent's nonce, or DIRECT_FILL_NONCE (2^256 - 1) for a direct fill */
      nonce: bigint;
    }
  | { type: 'OrderCancelled'; orderHash: Hex; maker: Address }
  | { type: 'CounterIncremented'; maker: Address; newCounter: bigint }
  | { type: 'InvestorAllowlisted'; account: Address; expiry: bigint }
  | { type: 'InvestorRevoked'; account: Address }
  | { type: 'InvestorFrozen'; account: Address }
  | { type: 'InvestorUnfrozen'; account: Address };

export type EventType = DecodedEvent['type'];

/** Which contract kind emits which of the followed events. */
const followed: Record<ContractKind, { abi: readonly unknown[]; events: EventType[] }> = {
  factory: { abi: portfolioFactoryAbi, events: ['PortfolioCreated'] },
  registry: {
    abi: complianceRegistryAbi,
    events: ['InvestorAllowlisted', 'InvestorRevoked', 'InvestorFrozen', 'InvestorUnfrozen'],
  },
  marketplace: { abi: marketplaceAbi, events: ['OrderFilled', 'OrderCancelled', 'CounterIncremented'] },
  portfolio: {
    abi: portfolioAbi,
    events: [
      'Purchased',
      'OfferingClosed',
      'RecoveryDistributed',
      'RecoveryTriggerAndReserve',
      'ReserveFunded',
      'ResolutionProposed',
      'ResolutionVetoed',
      'PortfolioResolved',
      'DocumentsAnchored',
    ],
  },
  distributor: {
    abi: distributorAbi,
    events: ['Funded', 'RootProposed', 'RootAccepted', 'RootRevoked', 'Claimed'],
  },
  tranche: { abi: trancheTokenAbi, events: ['Transfer'] },
};

type EventEntry = { kind: ContractKind; item: AbiEvent; type: EventType };

/** topic0 -> the followed event with that signature (signatures are unique across our contracts' followed events). */
export const followedEvents: ReadonlyMap<Hex, EventEntry> = (() => {
  const map = new Map<Hex, EventEntry>();
  for (const [kind, { abi, events }] of Object.entries(followed) as [
    ContractKind,
    (typeof followed)[ContractKind],
  ][]) {
    for (const type of events) {
      const item = (abi as AbiEvent[]).find((x) => x.type === 'event' && x.name === type);
      if (!item) throw new Error(`event ${type} is missing from the ${kind} ABI`);
      const selector = toEventSelector(item);
      if (map.has(selector)) throw new Error(`two followed events share the selector of ${type}`);
      map.set(selector, { kind, item, type });
    }
  }
  return map;
})();

/** Every followed event selector: the `topics[0]` filter of `eth_getLogs`. */
export const followedSelectors: Hex[] = [...followedEvents.keys()];

export const TRANSFER_SELECTOR: Hex = toEventSelector('Transfer(address,address,uint256)');

const checksummed = new Map<string, Address>();

/** EIP-55 form of a 0x-prefixed 40-hex-digit address, memoised (holders repeat across logs). */
export function checksum(address: string): Address {
  let cached = checksummed.get(address);
  if (cached === undefined) {
    cached = getAddress(address);
    if (checksummed.size > 200_000) checksummed.clear();
    checksummed.set(address, cached);
  }
  return cached;
}

/** The address in the low 20 bytes of a 32-byte topic. */
export const topicAddress = (topic: Hex): Address => checksum(`0x${topic.slice(26)}`);

/**
 * Decodes a followed event emitted by a contract of `kind`, or returns null for any other log
 * (an event of another contract kind that happens to share the selector is ignored too).
 */
export function decodeFollowedLog(
  kind: ContractKind,
  log: Pick<RpcLog, 'topics' | 'data'>,
): DecodedEvent | null {
  const topic0 = log.topics[0];
  if (topic0 === undefined) return null;
  if (topic0 === TRANSFER_SELECTOR) {
    if (kind !== 'tranche' || log.topics.length !== 3 || log.data.length !== 66) return null;
    return {
      type: 'Transfer',
      from: topicAddress(log.topics[1] as Hex),
      to: topicAddress(log.topics[2] as Hex),
      value: BigInt(log.data),
    };
  }
  const entry = followedEvents.get(topic0);
  if (entry === undefined || entry.kind !== kind) return null;
  const { args } = decodeEventLog({
    abi: [entry.item],
    topics: log.topics as [Hex, ...Hex[]],
    data: log.data,
  }) as unknown as { args: Record<string, unknown> };
  return { type: entry.type, ...args } as DecodedEvent;
}
