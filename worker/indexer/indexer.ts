/**
 * The chain indexer (Ponder style): follows the platform's contracts' logs into Postgres.
 *
 *   const indexer = createIndexer({ db, publicClient, stack, confirmations: 2 });
 *   await indexer.syncOnce();   // tests: one pass up to the head
 *   indexer.start();            // polls every `pollIntervalMs`
 *   await indexer.stop();
 *
 * - One cursor per chain (`indexer_cursor`): every followed log up to `indexedBlock` is stored.
 * - Roots: the factory, the compliance registry and the marketplace of the deployment; each
 *   `PortfolioCreated` adds the portfolio, its distributor and its tranche tokens to the followed set
 *   (`indexed_contract`), followed from their creation block on.
 * - Logs are fetched with raw `eth_getLogs` over bounded ranges (at most `blockRange` blocks, sized
 *   from the log density seen to answer about `logsPerRequest` logs, halved on "too many results" or
 *   an oversized body: `isTooManyResults` of core/chain/logs.ts), filtered by address and the followed
 *   selectors. A range ends at a block with a `PortfolioCreated` (the new contracts' logs of that
 *   block are fetched at once). The next range is fetched and decoded while the current one is
 *   written.
 * - Finality: blocks up to `head - confirmations` are final. Everything up to the head is indexed, and
 *   the unfinalized window's block hashes (each block holding a followed log, each range end) are kept
 *   in `indexer_block`. Each poll compares the hash of the cursor's block with the chain; on a
 *   mismatch it walks the window down to the newest block whose hash still matches (the fork point),
 *   deletes everything above it in one transaction (holdings moved back), resets the cursor there and
 *   indexes the new branch. A reorg deeper than the window is a non-retryable error.
 * - Every write is idempotent by (chain_id, tx_hash, log_index); a range and the cursor move in one
 *   transaction.
 */
import type { Address, Hex } from 'viem';
import type { ChainPublicClient } from '../../core/chain/clients.ts';
import { isLocalChain } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { isTooManyResults } from '../../core/chain/logs.ts';
import {
  addRow,
  type Batch,
  type Cursor,
  createBatch,
  loadContracts,
  loadCursor,
  loadWindow,
  type Queryable,
  rollbackAbove,
  updateFinality,
  writeRange,
} from '../../core/chain-index/store.ts';
import { BaseError } from '../../core/platform/errors/index.ts';
import {
  type ContractKind,
  checksum,
  type DecodedEvent,
  decodeFollowedLog,
  followedEvents,
  followedSelectors,
  type RpcLog,
} from './events.ts';

type PoolLike = Queryable & {
  connect: () => Promise<Queryable & { release: (error?: Error | boolean) => void }>;
};

export type IndexerLogger = {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
  error: (obj: object, msg: string) => void;
};

export type CreateIndexerOptions = {
  /** Postgres: the pg pool of `createDb()` (batched raw SQL). */
  db: { pool: PoolLike };
  /** Reads logs and blocks. */
  publicClient: ChainPublicClient;
  /** The deployment: the roots to follow and where to start. */
  stack: Pick<DeployedStack, 'chainId' | 'portfolioFactory' | 'complianceRegistry' | 'startBlock'> & {
    marketplace?: Address;
  };
  /**
   * Blocks below the head that count as final; default 12, 0 on local chains (31337 / 1337): a local
   * anvil reorgs only when told to (`evm_revert`, `anvil_reorg`), and one that mines only when a
   * transaction arrives (anvil's default) would otherwise keep its last blocks unfinal until the next
   * transaction, and nothing waiting for finality (a distribution) would start. Pass a depth to
   * reconcile shallow reverts on a local chain.
   */
  confirmations?: number;
  /** Poll interval of `start()`; default 1000 ms (250 on local chains). */
  pollIntervalMs?: number;
  /** Largest block range of one `eth_getLogs`; default 2000. */
  blockRange?: number;
  /** Logs one `eth_getLogs` should answer: the block range follows the density seen; default 5000. */
  logsPerRequest?: number;
  /** Most addresses in one `eth_getLogs` filter; larger followed sets are split; default 1000. */
  maxAddressesPerRequest?: number;
  /** First block to index on a fresh database; default `stack.startBlock`. */
  startBlock?: number | bigint;
  log?: IndexerLogger;
};

export type SyncResult = {
  /** First and last block indexed by this pass (null when there was nothing new). */
  fromBlock: bigint | null;
  toBlock: bigint | null;
  headBlock: bigint;
  finalizedBlock: bigint;
  /** Followed logs decoded and written by this pass. */
  logs: number;
  /** Set when this pass reconciled a reorg. */
  reorg: { forkBlock: bigint; depth: bigint; transfersRemoved: number; eventsRemoved: number } | null;
};

export type IndexerStatus = {
  chainId: number;
  running: boolean;
  headBlock: bigint | null;
  indexedBlock: bigint | null;
  finalizedBlock: bigint | null;
  /** Blocks between the chain head and the indexed block at the last sync. */
  lag: bigint | null;
  reorgs: number;
  lastSyncAt: Date | null;
  lastError: string | null;
};

export type Indexer = {
  /** Polls every `pollIntervalMs` until `stop()`; errors are logged and retried on the next tick. */
  start: () => void;
  /** Stops polling and waits for the pass in flight. */
  stop: () => Promise<void>;
  /** One pass: reconcile a reorg if any, then index up to the head. Concurrent calls share the pass. */
  syncOnce: () => Promise<SyncResult>;
  /** The last block indexed (null before the first pass). */
  head: () => bigint | null;
  status: () => IndexerStatus;
};

export class IndexerError extends BaseError {
  override name = 'IndexerError';
}

const toHex = (n: bigint): Hex => `0x${n.toString(16)}`;

type Watched = { kind: ContractKind; portfolio?: Address; trancheIndex?: number };

type Fetched = { fromBlock: bigint; toBlock: bigint; toHash: Hex; logs: RpcLog[] };

type Prepared = {
  fromBlock: bigint;
  batch: Batch;
  toBlock: bigint;
  toHash: Hex;
  /** The next range's fetch, started before this one was decoded (only when it could not end early). */
  ahead: Promise<Fetched> | null;
};

/** topic0 of `PortfolioCreated`: the only event that changes the followed set (and ends a range). */
const PORTFOLIO_CREATED_SELECTOR = [...followedEvents].find(([, e]) => e.type === 'PortfolioCreated')?.[0];

export function createIndexer(options: CreateIndexerOptions): Indexer {
  const { publicClient, stack } = options;
  const pool = options.db.pool;
  const chainId = stack.chainId;
  const local = isLocalChain(chainId);
  const confirmations = BigInt(options.confirmations ?? (local ? 0 : 12));
  const pollIntervalMs = options.pollIntervalMs ?? (local ? 250 : 1000);
  const maxRange = BigInt(options.blockRange ?? 2000);
  const maxAddresses = options.maxAddressesPerRequest ?? 1000;
  const logsPerRequest = BigInt(options.logsPerRequest ?? 5000);
  const startBlock = BigInt(options.startBlock ?? stack.startBlock);
  const log = options.log;

  /** lower-case address -> what it is */
  const watched = new Map<string, Watched>();
  let range = maxRange;

  let cursor: Cursor | null = null;
  let running = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<SyncResult> | null = null;
  let lastSyncAt: Date | null = null;
  let lastError: string | null = null;

  function resetWatched(
    children: { address: Address; kind: ContractKind; portfolio: Address; trancheIndex: number | null }[],
  ) {
    watched.clear();
    watched.set(stack.portfolioFactory.toLowerCase(), { kind: 'factory' });
    watched.set(stack.complianceRegistry.toLowerCase(), { kind: 'registry' });
    if (stack.marketplace) watched.set(stack.marketplace.toLowerCase(), { kind: 'marketplace' });
    for (const child of children) {
      watched.set(child.address.toLowerCase(), {
        kind: child.kind,
        portfolio: child.portfolio,
        trancheIndex: child.trancheIndex ?? undefined,
      });
    }
  }

  async function rpc<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isTooManyResults(error)) throw error;
      throw new IndexerError(`chain ${chainId}: ${what} failed`, {
        code: 'SERVICE_UNAVAILABLE',
        retryable: true,
        cause: error,
      });
    }
  }

  async function getBlockHash(blockNumber: bigint): Promise<Hex | null> {
    const block = await rpc(`eth_getBlockByNumber(${blockNumber})`, () =>
      publicClient.request({ method: 'eth_getBlockByNumber', params: [toHex(blockNumber), false] }),
    );
    return (block?.hash as Hex | undefined) ?? null;
  }

  async function getLogs(addresses: Hex[], fromBlock: bigint, toBlock: bigint): Promise<RpcLog[]> {
    const groups: Hex[][] = [];
    for (let i = 0; i < addresses.length; i += maxAddresses)
      groups.push(addresses.slice(i, i + maxAddresses));
    const results = await Promise.all(
      groups.map((address) =>
        rpc(`eth_getLogs(${fromBlock}..${toBlock})`, () =>
          publicClient.request(
            {
              method: 'eth_getLogs',
              params: [
                {
                  address,
                  topics: [followedSelectors],
                  fromBlock: toHex(fromBlock),
                  toBlock: toHex(toBlock),
                },
              ],
            },
            // no transport retries: an oversized answer is retried here with a smaller range
            { retryCount: 0 },
          ),
        ),
      ),
    );
    const logs = (results.length === 1 ? results[0] : results.flat()) as unknown as RpcLog[];
    if (results.length > 1) logs.sort(compareLogs);
    return logs;
  }

  /** Logs of [fromBlock, toBlock] of the followed set, with the hash of `toBlock` read first. */
  async function fetchRange(fromBlock: bigint, toBlock: bigint): Promise<Fetched> {
    const addresses = [...watched.keys()] as Hex[];
    // the end block's hash before its logs: a reorg in between leaves a stale hash, caught next poll
    const toHash = await getBlockHash(toBlock);
    if (toHash === null)
      throw new IndexerError(`chain ${chainId}: block ${toBlock} not found`, {
        code: 'SERVICE_UNAVAILABLE',
        retryable: true,
      });
    const logs = await getLogs(addresses, fromBlock, toBlock);
    return { fromBlock, toBlock, toHash, logs };
  }

  /**
   * Fetches a range sized from the log density seen so far (about `logsPerRequest` logs), halving it
   * while the node answers "too many results" (or the body is over the transport's size limit).
   */
  async function fetchAdaptive(fromBlock: bigint, head: bigint): Promise<Fetched> {
    for (;;) {
      const toBlock = min(fromBlock + range - 1n, head);
      try {
        const fetched = await fetchRange(fromBlock, toBlock);
        const blocks = toBlock - fromBlock + 1n;
        const count = BigInt(fetched.logs.length);
        range =
          count === 0n ? min(range * 2n, maxRange) : clamp((blocks * logsPerRequest) / count, 1n, maxRange);
        return fetched;
      } catch (error) {
        if (!isTooManyResults(error) || toBlock === fromBlock) throw error;
        range = max(1n, (toBlock - fromBlock + 1n) / 2n);
        log?.warn({ chainId, fromBlock, range }, 'indexer: too many logs, halving the block range');
      }
    }
  }

  /**
   * Decodes a fetched range into a batch. A `PortfolioCreated` ends the range at its block: the new
   * contracts join the followed set, their logs of that one block are fetched here, and the blocks
   * after it are fetched again (with the new addresses, range sized as usual) by the next range.
   */
  async function decodeRange(
    fetched: Fetched,
    finalizedBlock: bigint,
  ): Promise<{ batch: Batch; toBlock: bigint; toHash: Hex }> {
    const batch = createBatch();
    const created: Address[] = [];
    const cut = decodeInto(batch, fetched.logs, finalizedBlock, created);
    if (cut === null) return { batch, toBlock: fetched.toBlock, toHash: fetched.toHash };
    const newLogs = await getLogs(
      created.map((address) => address.toLowerCase() as Hex),
      cut.blockNumber,
      cut.blockNumber,
    );
    decodeInto(batch, newLogs, finalizedBlock, created);
    return { batch, toBlock: cut.blockNumber, toHash: cut.blockHash };
  }

  /**
   * Decodes `logs` into `batch`. Returns the block of the first `PortfolioCreated` (after decoding the
   * rest of that block's logs and skipping later blocks), or null when there was none.
   */
  function decodeInto(
    batch: Batch,
    logs: RpcLog[],
    finalizedBlock: bigint,
    created: Address[],
  ): { blockNumber: bigint; blockHash: Hex } | null {
    let cut: { blockNumber: bigint; blockHash: Hex } | null = null;
    for (const raw of logs) {
      if (raw.removed) continue;
      const blockNumber = BigInt(raw.blockNumber);
      if (cut !== null && blockNumber > cut.blockNumber) break;
      const contract = watched.get(raw.address.toLowerCase());
      if (contract === undefined) continue;
      const event = decodeFollowedLog(contract.kind, raw);
      if (event === null) continue;
      const key = [raw.transactionHash, Number.parseInt(raw.logIndex, 16), blockNumber.toString()] as const;
      if (blockNumber > finalizedBlock) batch.blocks.set(blockNumber, raw.blockHash);
      batch.logs++;
      if (addEvent(batch, key, checksum(raw.address), event, created)) {
        cut ??= { blockNumber, blockHash: raw.blockHash };
      }
    }
    return cut;
  }

  function addEvent(
    batch: Batch,
    key: readonly [Hex, number, string],
    address: Address,
    event: DecodedEvent,
    created: Address[],
  ): boolean {
    const s = (v: bigint) => v.toString();
    switch (event.type) {
      case 'Transfer':
        addRow(batch, 'transfer', [...key, address, event.from, event.to, s(event.value)]);
        return false;
      case 'PortfolioCreated': {
        const before = created.length;
        const add = (
          child: Address,
          kind: 'portfolio' | 'distributor' | 'tranche',
          trancheIndex: number | null,
        ) => {
          addRow(batch, 'contract', [...key, child, kind, event.portfolio, trancheIndex]);
          // already followed (a range written again): its logs of this range are in hand
          if (watched.has(child.toLowerCase())) return;
          watched.set(child.toLowerCase(), {
            kind,
            portfolio: event.portfolio,
            trancheIndex: trancheIndex ?? undefined,
          });
          created.push(child);
        };
        add(event.portfolio, 'portfolio', null);
        add(event.distributor, 'distributor', null);
        event.tranches.forEach((tranche, i) => {
          add(tranche, 'tranche', i);
        });
        if (created.length === before) return false;
        return true;
      }
      case 'Purchased':
        addRow(batch, 'purchase', [
          ...key,
          address,
          Number(event.trancheId),
          event.buyer,
          s(event.amount),
          s(event.cost),
          s(event.nonce),
        ]);
        return false;
      case 'OfferingClosed':
        addRow(batch, 'offeringClosed', [
          ...key,
          address,
          s(event.closedAt),
          JSON.stringify(event.sold.map(s)),
        ]);
        return false;
      case 'RecoveryDistributed':
        addRow(batch, 'recovery', [
          ...key,
          address,
          s(event.recoveryId),
          s(event.amount),
          s(event.servicerFee),
          s(event.protocolFee),
          s(event.undistributed),
          s(event.snapshotBlock),
          event.reportHash,
        ]);
        event.interest.forEach((interest, i) => {
          const principal = event.principal[i] ?? 0n;
          const residual = event.residual[i] ?? 0n;
          addRow(batch, 'recoveryTranche', [
            key[0],
            key[1],
            key[2],
            i,
            s(interest),
            s(principal),
            s(residual),
            s(interest + principal + residual),
          ]);
        });
        return false;
      case 'RecoveryTriggerAndReserve':
        addRow(batch, 'triggerReserve', [
          ...key,
          address,
          s(event.recoveryId),
          event.triggerBreached,
          s(event.collected),
          s(event.planned),
          s(event.released),
          s(event.drawn),
          s(event.replenished),
          s(event.reserveBalance),
        ]);
        return false;
      case 'ReserveFunded':
        addRow(batch, 'reserveFunded', [...key, address, event.from, s(event.amount), s(event.balance)]);
        return false;
      case 'ResolutionProposed':
        addRow(batch, 'resolutionProposed', [...key, address, s(event.executableAt)]);
        return false;
      case 'ResolutionVetoed':
        addRow(batch, 'resolutionVetoed', [...key, address, event.guardian, s(event.executableAt)]);
        return false;
      case 'PortfolioResolved':
        addRow(batch, 'resolved', [...key, address, s(event.recoveryId)]);
        event.principalWrittenOff.forEach((principal, i) => {
          addRow(batch, 'resolvedTranche', [
            key[0],
            key[1],
            key[2],
            i,
            s(principal),
            s(event.interestWrittenOff[i] ?? 0n),
          ]);
        });
        return false;
      case 'DocumentsAnchored':
        addRow(batch, 'documentsAnchored', [
          ...key,
          address,
          s(event.version),
          event.documentRoot,
          event.loanTapeHash,
        ]);
        return false;
      case 'Funded':
        addRow(batch, 'funded', [...key, address, s(event.amount), s(event.totalFunded)]);
        return false;
      case 'RootProposed':
        addRow(batch, 'root', [
          ...key,
          address,
          'proposed',
          event.root,
          s(event.total),
          event.treeHash,
          s(event.distributionId),
          s(event.validAt),
        ]);
        return false;
      case 'RootAccepted':
        addRow(batch, 'root', [
          ...key,
          address,
          'accepted',
          event.root,
          s(event.total),
          event.treeHash,
          s(event.distributionId),
          null,
        ]);
        return false;
      case 'RootRevoked':
        addRow(batch, 'root', [
          ...key,
          address,
          'revoked',
          event.root,
          null,
          null,
          s(event.distributionId),
          null,
        ]);
        return false;
      case 'Claimed':
        addRow(batch, 'claim', [...key, address, event.account, s(event.amount), s(event.cumulative)]);
        return false;
      case 'OrderFilled':
        addRow(batch, 'fill', [
          ...key,
          address,
          event.orderHash,
          event.maker,
          event.taker,
          event.tranche,
          s(event.amount),
          s(event.cost),
          s(event.fee),
          s(event.nonce),
        ]);
        return false;
      case 'OrderCancelled':
        addRow(batch, 'cancel', [...key, address, event.orderHash, event.maker]);
        return false;
      case 'CounterIncremented':
        addRow(batch, 'counter', [...key, address, event.maker, s(event.newCounter)]);
        return false;
      case 'InvestorAllowlisted':
      case 'InvestorRevoked':
      case 'InvestorFrozen':
      case 'InvestorUnfrozen': {
        const kind = event.type.slice('Investor'.length).toLowerCase();
        const expiry = event.type === 'InvestorAllowlisted' ? s(event.expiry) : null;
        addRow(batch, 'allowlist', [...key, address, event.account, kind, expiry]);
        batch.allowlistAccounts.add(event.account);
        return false;
      }
    }
  }

  /** Compares the cursor's block with the chain; on a mismatch rolls back to the fork point. */
  async function reconcile(current: Cursor, head: bigint): Promise<SyncResult['reorg']> {
    if (current.indexedHash === '' || current.indexedBlock < startBlock) return null;
    const onChain = current.indexedBlock <= head ? await getBlockHash(current.indexedBlock) : null;
    if (onChain === current.indexedHash) return null;

    const window = await loadWindow(pool, chainId);
    let fork: { number: bigint; hash: Hex } | null = null;
    for (const block of window) {
      if (block.number > head) continue;
      if ((await getBlockHash(block.number)) === block.hash) {
        fork = block;
        break;
      }
    }
    if (fork === null) {
      throw new IndexerError(
        `chain ${chainId}: reorg below the unfinalized window (indexed block ${current.indexedBlock}, ` +
          `finalized ${current.finalizedBlock}); raise confirmations and re-index`,
        { code: 'INTERNAL', retryable: false },
      );
    }
    const removed = await rollbackAbove(pool, { chainId, forkBlock: fork.number, forkHash: fork.hash });
    resetWatched(await loadContracts(pool, chainId));
    const reorg = {
      forkBlock: fork.number,
      depth: current.indexedBlock - fork.number,
      transfersRemoved: removed.transfers,
      eventsRemoved: removed.events,
    };
    log?.warn({ chainId, ...reorg }, 'indexer: reorg reconciled');
    return reorg;
  }

  async function pass(): Promise<SyncResult> {
    const head = await rpc('eth_blockNumber', () => publicClient.getBlockNumber({ cacheTime: 0 }));
    let current = await loadCursor(pool, chainId, startBlock);
    if (cursor === null || watched.size === 0) resetWatched(await loadContracts(pool, chainId));
    const reorg = await reconcile(current, head);
    if (reorg !== null) current = await loadCursor(pool, chainId, startBlock);

    const finalizedTarget = max(head - confirmations, current.finalizedBlock);
    const result: SyncResult = {
      fromBlock: null,
      toBlock: null,
      headBlock: head,
      finalizedBlock: min(finalizedTarget, current.indexedBlock),
      logs: 0,
      reorg,
    };
    // ranges are fetched and decoded in order, one ahead of the writer: range k+1 is fetched and
    // decoded (its PortfolioCreated extending the followed set) while range k is written; a range
    // without PortfolioCreated keeps the followed set and its end, so the fetch of the range after it
    // starts before it is decoded
    const prepare = async (fromBlock: bigint, fetching?: Promise<Fetched> | null): Promise<Prepared> => {
      const fetched = await (fetching ?? fetchAdaptive(fromBlock, head));
      let ahead: Promise<Fetched> | null = null;
      if (fetched.toBlock < head && !fetched.logs.some((l) => l.topics[0] === PORTFOLIO_CREATED_SELECTOR)) {
        ahead = fetchAdaptive(fetched.toBlock + 1n, head);
        ahead.catch(() => {});
      }
      try {
        return { fromBlock, ...(await decodeRange(fetched, finalizedTarget)), ahead };
      } catch (error) {
        await ahead?.catch(() => {});
        throw error;
      }
    };
    /** Waits for a prepared range not to be written and the fetch it started ahead, ignoring their errors. */
    const settle = async (pending: Promise<Prepared> | null) => {
      const prepared = await pending?.catch(() => null);
      await prepared?.ahead?.catch(() => {});
    };
    const from = current.indexedBlock + 1n;
    let next: Promise<Prepared> | null = from <= head ? prepare(from) : null;
    while (next !== null) {
      const prepared: Prepared = await next;
      next = null;
      const { batch, toBlock, toHash } = prepared;
      if (toBlock < head) {
        next = prepare(toBlock + 1n, prepared.ahead);
        next.catch(() => {});
      }
      const finalizedBlock = min(finalizedTarget, toBlock);
      const written = await writeRange(pool, {
        chainId,
        expectedIndexedBlock: prepared.fromBlock - 1n,
        toBlock,
        toHash,
        finalizedBlock,
        headBlock: head,
        batch,
      }).catch(async (error: unknown) => {
        await settle(next);
        throw error;
      });
      if (!written) {
        // another writer moved the cursor: start over from where it is on the next pass
        await settle(next);
        next = null;
        resetWatched(await loadContracts(pool, chainId));
        break;
      }
      result.fromBlock ??= prepared.fromBlock;
      result.toBlock = toBlock;
      result.finalizedBlock = finalizedBlock;
      result.logs += batch.logs;
      cursor = { ...current, indexedBlock: toBlock, indexedHash: toHash, finalizedBlock, headBlock: head };
    }
    if (result.toBlock === null) {
      await updateFinality(pool, { chainId, finalizedBlock: finalizedTarget, headBlock: head });
    }
    cursor = await loadCursor(pool, chainId, startBlock);
    result.finalizedBlock = cursor.finalizedBlock;
    lastSyncAt = new Date();
    lastError = null;
    return result;
  }

  function syncOnce(): Promise<SyncResult> {
    if (inFlight) return inFlight;
    inFlight = pass()
      .catch((error: unknown) => {
        lastError = error instanceof Error ? error.message : String(error);
        throw error;
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  }

  function schedule(): void {
    if (!running) return;
    timer = setTimeout(async () => {
      timer = null;
      try {
        const result = await syncOnce();
        if (result.logs > 0 || result.reorg) {
          log?.info(
            { chainId, fromBlock: result.fromBlock, toBlock: result.toBlock, logs: result.logs },
            'indexer: synced',
          );
        }
      } catch (error) {
        log?.error({ chainId, err: error }, 'indexer: sync failed');
        if (error instanceof BaseError && !error.retryable) {
          running = false;
          return;
        }
      }
      schedule();
    }, pollIntervalMs);
  }

  return {
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      await inFlight?.catch(() => {});
    },
    syncOnce,
    head: () => cursor?.indexedBlock ?? null,
    status: () => ({
      chainId,
      running,
      headBlock: cursor?.headBlock ?? null,
      indexedBlock: cursor?.indexedBlock ?? null,
      finalizedBlock: cursor?.finalizedBlock ?? null,
      lag: cursor ? cursor.headBlock - cursor.indexedBlock : null,
      reorgs: cursor?.reorgs ?? 0,
      lastSyncAt,
      lastError,
    }),
  };
}

function compareLogs(a: RpcLog, b: RpcLog): number {
  const block = BigInt(a.blockNumber) - BigInt(b.blockNumber);
  if (block !== 0n) return block < 0n ? -1 : 1;
  return Number.parseInt(a.logIndex, 16) - Number.parseInt(b.logIndex, 16);
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
const clamp = (v: bigint, lo: bigint, hi: bigint) => min(max(v, lo), hi);
