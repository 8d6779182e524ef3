/**
 * One settlement state machine for every relayed action (purchases, fills, recoveries, the offering
 * close, claims, the allowlist, the worker's publish job, and every later action that goes through
 * the platform relayer):
 *
 *   pending ──▶ mined ──▶ confirmed   (its event is in the index at or below the finalized block)
 *      ▲          │  └──▶ failed      (reverted at a final block, or given up by the relayer; decoded)
 *      └──────────┘                   (a reorg removed the mined transaction or its event)
 *
 * Inputs, read fresh on every call: the `relay_tx` row (looked up by the record's `relayTxId`, else by
 * its idempotency key, so a record whose process died between `relayer.submit` and writing
 * `relayTxId` still finds it), the action's indexed event (`findEvent`), and the indexer cursor
 * (indexed and finalized block: `isFinal(block)` is `block <= finalizedBlock`).
 *
 * - The event decides first: found and final is `confirmed`, found and not final is `mined`,
 *   whatever the relay row says (a row the relayer marked reverted or failed whose transaction
 *   landed after all is the chain's truth).
 * - Relay row `mined` at block B without the event: `mined` while the index has not reached B; once
 *   the index is at or past B and has no event, a reorg removed it: `pending`, and the relay row is
 *   reopened (status pending; block, sentAt, unknownSinceBlock cleared) so that the relayer's
 *   monitor re-settles it from a receipt or sends the signed transaction again.
 * - Relay row `reverted` at block B: `mined` until B is final, then `failed` with the decoded reason.
 * - Relay row `failed` (the relayer gave it up; no block): `failed`.
 * - Any other status (`pending`, or a state a later relayer adds, such as "nonce used, receipt not
 *   seen yet"), or no relay row at all: `pending`.
 *
 * `confirmed` and `failed` are final (adopters store them); `mined` and `pending` are recomputed on
 * every read. `decideSettlement` is the pure part; `settleRelayed` loads its inputs.
 */

import type { Abi, Address } from 'viem';
import type { ChainPublicClient } from '../chain/clients.ts';
import { ChainError } from '../chain/errors.ts';
import type { PrismaClient } from '../db/index.ts';
import type { ErrorCode } from '../platform/errors/index.ts';

export type SettlementState = 'pending' | 'mined' | 'confirmed' | 'failed';

/** The fields of a `relay_tx` row settlement reads; `status` is any string the relayer stores. */
export type RelayRowSnapshot = {
  id: string;
  txHash: string;
  status: string;
  blockNumber?: bigint | null;
  revertReason?: string | null;
  errorName?: string | null;
  errorCode?: string | null;
};

/** The indexer cursor: everything up to `indexedBlock` is in the index, up to `finalizedBlock` final. */
export type IndexSnapshot = { indexedBlock: bigint; finalizedBlock: bigint };

/** What settlement needs of an indexed event. */
export type IndexedEventRef = { blockNumber: bigint };

export type SettlementFailure = { code: string; reason: string };

export type SettlementInput<E extends IndexedEventRef> = {
  relay: RelayRowSnapshot | null;
  /** The action's indexed event, if the index has it. */
  event: E | null;
  /** The indexer cursor; null when nothing was indexed yet (nothing is final). */
  index: IndexSnapshot | null;
  /**
   * Whether the action emits an indexed event (a `findEvent` was given). Without one a mined row is
   * `confirmed` once its block is final, and a reorg cannot be told from the index.
   */
  expectsEvent: boolean;
};

export type Settlement<E extends IndexedEventRef> =
  | {
      state: 'pending';
      event: null;
      /** The relay row is mined but the index, past its block, has no event: reopen the row. */
      reorged: boolean;
    }
  | { state: 'mined'; event: E | null; blockNumber: bigint | null }
  | { state: 'confirmed'; event: E | null; blockNumber: bigint | null }
  | { state: 'failed'; event: null; failure: SettlementFailure; blockNumber: bigint | null };

/** Relay row statuses that end a transaction's life (anything else is still pending). */
const SETTLED_RELAY_STATUSES = new Set(['mined', 'reverted', 'failed']);

/**
 * Whether a relay row may still land, so that the same intent must not be sent again: anything but
 * given up (`failed`) or reverted at a final block (a revert in a block a reorg may still remove can
 * be re-included and succeed).
 */
export function relayIsLive(relay: RelayRowSnapshot, index: IndexSnapshot | null): boolean {
  if (relay.status === 'failed') return false;
  if (relay.status !== 'reverted') return true;
  const block = relay.blockNumber ?? null;
  return block !== null && (index === null || block > index.finalizedBlock);
}

/** Whether a relay row's transaction has not reached a receipt or been given up yet. */
export const relayIsPending = (status: string): boolean => !SETTLED_RELAY_STATUSES.has(status);

/**
 * The API code and reason of a relayer row that reverted or was given up (shared by every relayed
 * action): a decoded revert keeps its mapped code, a dropped row is SERVICE_UNAVAILABLE.
 */
export function relayFailure(relay: RelayRowSnapshot): SettlementFailure {
  if (relay.errorName) {
    const code =
      (relay.errorCode as ErrorCode | null) ??
      new ChainError('', { kind: 'revert', errorName: relay.errorName }).code;
    return { code, reason: relay.revertReason ?? relay.errorName };
  }
  if (relay.status === 'failed')
    return { code: 'SERVICE_UNAVAILABLE', reason: relay.revertReason ?? 'dropped' };
  return { code: relay.errorCode ?? 'CONFLICT', reason: relay.revertReason ?? 'reverted' };
}

/** The settlement state of one relayed action from plain data (see the module comment). */
export function decideSettlement<E extends IndexedEventRef>(input: SettlementInput<E>): Settlement<E> {
  const { relay, event, index } = input;
  const isFinal = (block: bigint) => index !== null && block <= index.finalizedBlock;
  if (event !== null) {
    return {
      state: isFinal(event.blockNumber) ? 'confirmed' : 'mined',
      event,
      blockNumber: event.blockNumber,
    };
  }
  const pending: Settlement<E> = { state: 'pending', event: null, reorged: false };
  if (relay === null) return pending;
  const block = relay.blockNumber ?? null;
  switch (relay.status) {
    case 'mined':
      if (block === null) return { state: 'mined', event: null, blockNumber: null };
      if (!input.expectsEvent) {
        return { state: isFinal(block) ? 'confirmed' : 'mined', event: null, blockNumber: block };
      }
      if (index !== null && index.indexedBlock >= block) return { ...pending, reorged: true };
      return { state: 'mined', event: null, blockNumber: block };
    case 'reverted':
      if (block !== null && !isFinal(block)) return { state: 'mined', event: null, blockNumber: block };
      return { state: 'failed', event: null, failure: relayFailure(relay), blockNumber: block };
    case 'failed':
      return { state: 'failed', event: null, failure: relayFailure(relay), blockNumber: block };
    default:
      return pending;
  }
}

// ------------------------------------------------------------------ the relayer seam

/** What relayed actions need of the relayer (core/chain/relayer/relayer.ts). */
export type RelaySubmitParameters = {
  idempotencyKey: string;
  kind: string;
  to: Address;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
  refId?: string;
  /** Block the relayer simulates against (`pending`: a call that depends on the clock); default `latest`. */
  blockTag?: 'latest' | 'pending';
};

/** The fields of a `relay_tx` row relayed actions read. */
export type RelayTxView = {
  id: string;
  txHash: string;
  /** pending, mined, reverted, failed, or any state a later relayer adds (settlement reads it as pending). */
  status: string;
  revertReason?: string | null;
  errorName?: string | null;
  errorCode?: string | null;
  blockNumber?: bigint | null;
};

export type PurchaseRelayer = {
  /** Simulates first (a revert throws a ChainError and sends nothing); same key, same row. */
  submit: (parameters: RelaySubmitParameters) => Promise<RelayTxView>;
};

/** What every relayed action's service needs: the database, the chain and the relayer. */
export type RelayedActionContext = {
  prisma: PrismaClient;
  publicClient: ChainPublicClient;
  chainId: number;
  relayer: PurchaseRelayer;
};

// ------------------------------------------------------------------ adapter

type RelayRow = NonNullable<Awaited<ReturnType<PrismaClient['relayTx']['findUnique']>>>;

/**
 * A record of a relayed action: its relay row by id when it was written, else by idempotency key;
 * or the relay row itself, as just read (a recovery is its relay row).
 */
export type RelayedRecord = {
  relayTxId?: string | null;
  idempotencyKey?: string | null;
  relay?: RelayRow;
};

export type FindEventParameters = {
  relay: RelayRow | null;
  /** Every hash the relay row was signed with (the original and each fee bump), lowercase. */
  txHashes: string[];
};

/**
 * A `findEvent` that looks the event up among the relay row's hashes (any letter case): `find` gets
 * the `txHash` condition to spread into its `where`; a row without hashes (none yet) finds nothing.
 */
export function byTxHashes<E>(
  find: (txHash: { txHash: { in: string[]; mode: 'insensitive' } }) => Promise<E | null>,
): (parameters: FindEventParameters) => Promise<E | null> {
  return ({ txHashes }) =>
    txHashes.length === 0 ? Promise.resolve(null) : find({ txHash: { in: txHashes, mode: 'insensitive' } });
}

export type SettleRelayedOptions<E extends IndexedEventRef> = {
  prisma: PrismaClient;
  /** The chain whose indexer cursor says what is indexed and final. */
  chainId: number;
  /** The action's event in the index, if it has it; omit for actions without an indexed event. */
  findEvent?: (parameters: FindEventParameters) => Promise<E | null>;
};

export type SettledRelayed<E extends IndexedEventRef> = Settlement<E> & {
  /** The relay row as read (after a reopen: pending), or null when none exists. */
  relay: RelayRow | null;
};

/** The indexer cursor of `chainId`, or null before the indexer's first pass. */
export async function loadIndexSnapshot(
  prisma: PrismaClient,
  chainId: number,
): Promise<IndexSnapshot | null> {
  const cursor = await prisma.indexerCursor.findUnique({
    where: { chainId },
    select: { indexedBlock: true, finalizedBlock: true },
  });
  return cursor;
}

/**
 * Loads the relay row, the event and the indexer cursor of one relayed action and decides its state;
 * reopens a mined relay row whose transaction a reorg removed. Adopters store `confirmed` / `failed`.
 * The cursor is read before the event: an event indexed in between is judged against the older
 * (lower) finalized block, never the other way round.
 */
export async function settleRelayed<E extends IndexedEventRef>(
  record: RelayedRecord,
  options: SettleRelayedOptions<E>,
): Promise<SettledRelayed<E>> {
  const { prisma } = options;
  const index = await loadIndexSnapshot(prisma, options.chainId);
  let relay: RelayRow | null = record.relay ?? null;
  if (relay === null && record.relayTxId) {
    relay = await prisma.relayTx.findUnique({ where: { id: record.relayTxId } });
  }
  if (relay === null && record.idempotencyKey) {
    relay = await prisma.relayTx.findUnique({ where: { idempotencyKey: record.idempotencyKey } });
  }
  let event: E | null = null;
  if (options.findEvent !== undefined) {
    const txHashes =
      relay === null
        ? []
        : [
            ...new Set(
              [
                relay.txHash,
                ...(
                  await prisma.relayTxAttempt.findMany({
                    where: { relayTxId: relay.id },
                    select: { txHash: true },
                  })
                ).map((a) => a.txHash),
              ].map((h) => h.toLowerCase()),
            ),
          ];
    event = await options.findEvent({ relay, txHashes });
  }
  const decision = decideSettlement({ relay, event, index, expectsEvent: options.findEvent !== undefined });
  if (decision.state === 'pending' && decision.reorged && relay !== null) {
    relay = await reopenRelayRow(prisma, relay);
  }
  return { ...decision, relay };
}

/**
 * A mined relay row whose transaction a reorg removed goes back to pending (only if it is still the
 * row that was read: same status, hash and block), with no block and no send time, so the relayer's
 * monitor settles it again from a receipt of any of its hashes or broadcasts it again.
 */
async function reopenRelayRow(prisma: PrismaClient, relay: RelayRow): Promise<RelayRow> {
  await prisma.relayTx.updateMany({
    where: { id: relay.id, status: 'mined', txHash: relay.txHash, blockNumber: relay.blockNumber },
    data: { status: 'pending', blockNumber: null, sentAt: null, unknownSinceBlock: null },
  });
  return (await prisma.relayTx.findUnique({ where: { id: relay.id } })) ?? relay;
}

// ------------------------------------------------------------------ relaying once per intent

/** The latest relay row of (kind, refId), if any. */
export async function latestRelay(
  prisma: PrismaClient,
  kind: string,
  refId: string,
): Promise<RelayRow | null> {
  return prisma.relayTx.findFirst({ where: { kind, refId }, orderBy: { createdAt: 'desc' } });
}

/**
 * Relays one intent (kind, refId) at most once at a time: the key is `<keyBase>-<attempt>`, where
 * attempt counts the earlier rows of (kind, refId); so the same intent is a new transaction only
 * after the previous one `failed` in the settlement state machine (reverted at a final block, or
 * given up by the relayer). Every earlier row is settled with `findEvent` (the action's indexed
 * event): a revert in a block that is not final yet is `mined` (it may still be re-included and
 * succeed), a mined row whose event a reorg removed is `pending` again (reopened). Returns the row
 * (new or the live one, the latest first) with its settlement state (a new row is `pending`).
 */
export async function relayOnce<E extends IndexedEventRef>(
  context: Pick<RelayedActionContext, 'prisma' | 'relayer' | 'chainId'>,
  parameters: Omit<RelaySubmitParameters, 'idempotencyKey' | 'refId'> & {
    refId: string;
    keyBase: string;
    findEvent?: SettleRelayedOptions<E>['findEvent'];
  },
): Promise<{
  row: RelayTxView;
  existing: boolean;
  state: Exclude<SettlementState, 'failed'>;
  event: E | null;
}> {
  const { keyBase, findEvent, ...call } = parameters;
  const live = await liveRelay(context, parameters);
  if (live !== null) return { ...live, existing: true };
  const row = await context.relayer.submit({
    ...call,
    idempotencyKey: `${keyBase}-${await relayCount(context.prisma, parameters)}`,
  });
  return { row, existing: false, state: 'pending', event: null };
}

const relayCount = (prisma: PrismaClient, intent: { kind: string; refId: string }) =>
  prisma.relayTx.count({ where: { kind: intent.kind, refId: intent.refId } });

/**
 * The latest relay row of one intent (kind, refId) that has not `failed` in the settlement state
 * machine, with its state and event (see relayOnce); null when there is none.
 */
export async function liveRelay<E extends IndexedEventRef>(
  context: Pick<RelayedActionContext, 'prisma' | 'chainId'>,
  intent: { kind: string; refId: string; findEvent?: SettleRelayedOptions<E>['findEvent'] },
): Promise<{ row: RelayRow; state: Exclude<SettlementState, 'failed'>; event: E | null } | null> {
  const rows = await context.prisma.relayTx.findMany({
    where: { kind: intent.kind, refId: intent.refId },
    orderBy: { createdAt: 'desc' },
  });
  for (const row of rows) {
    const settled = await settleRelayed<E>(
      { relay: row },
      { prisma: context.prisma, chainId: context.chainId, findEvent: intent.findEvent },
    );
    if (settled.state !== 'failed')
      return { row: settled.relay ?? row, state: settled.state, event: settled.event };
  }
  return null;
}
