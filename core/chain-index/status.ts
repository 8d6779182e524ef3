/**
 * The chain indexer's health, shared between processes: the worker runs the indexer, the API answers
 * GET /health. Two sources:
 * - Postgres `indexer_cursor` (written by every successful pass, even an idle one): the indexed
 *   block and when the last pass ended; against the chain head this gives the lag and the staleness;
 * - Redis `<prefix>:indexer:<chainId>:status` (written by the worker every few seconds, expiring):
 *   whether its indexer loop still runs and the last pass's error.
 */
import type { Redis } from 'ioredis';

/** What the worker publishes about its indexer (JSON in Redis). */
export type ReportedIndexerStatus = {
  running: boolean;
  lastError: string | null;
  /** When the worker wrote this (ISO). */
  reportedAt: string;
};

export type IndexerCursorRow = { indexedBlock: bigint; updatedAt: Date };

export type IndexerHealth = {
  status: 'ok' | 'down' | 'unconfigured';
  error?: string;
  chainId?: number;
  indexedBlock?: string;
  /** Blocks between the chain head and the indexed block. */
  lag?: number;
  /** When the last indexer pass ended (the cursor row's `updated_at`). */
  lastSyncAt?: string;
  lastError?: string;
};

/** No pass for this long counts as down (the indexer polls every second at most). */
export const INDEXER_STALE_AFTER_MS = 60_000;

export const indexerStatusKey = (prefix: string, chainId: number) => `${prefix}:indexer:${chainId}:status`;

export async function reportIndexerStatus(
  redis: Redis,
  prefix: string,
  chainId: number,
  status: { running: boolean; lastError: string | null },
  ttlSeconds = 30,
): Promise<void> {
  const body: ReportedIndexerStatus = {
    running: status.running,
    lastError: status.lastError,
    reportedAt: new Date().toISOString(),
  };
  await redis.set(indexerStatusKey(prefix, chainId), JSON.stringify(body), 'EX', ttlSeconds);
}

export async function readReportedIndexerStatus(
  redis: Redis,
  prefix: string,
  chainId: number,
): Promise<ReportedIndexerStatus | null> {
  const raw = await redis.get(indexerStatusKey(prefix, chainId));
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as ReportedIndexerStatus;
  } catch {
    return null;
  }
}

export async function readIndexerCursor(
  pool: { query: (sql: string, values: unknown[]) => Promise<{ rows: unknown[] }> },
  chainId: number,
): Promise<IndexerCursorRow | null> {
  const { rows } = await pool.query(
    'SELECT indexed_block::text AS indexed_block, updated_at FROM indexer_cursor WHERE chain_id = $1',
    [chainId],
  );
  const row = rows[0] as { indexed_block: string; updated_at: Date } | undefined;
  return row ? { indexedBlock: BigInt(row.indexed_block), updatedAt: new Date(row.updated_at) } : null;
}

/**
 * The /health component of the indexer of `chainId` from its cursor, the chain head and what the
 * worker reported (null: nothing reported, e.g. no Redis or an indexer run elsewhere). Down when no
 * pass ever ran, when the last one ended more than `staleAfterMs` ago, or when the worker reports
 * its indexer stopped (a non-retryable failure such as a reorg below the unfinalized window).
 */
export function indexerHealth(input: {
  chainId: number;
  chainHead: bigint;
  cursor: IndexerCursorRow | null;
  reported: ReportedIndexerStatus | null;
  now: Date;
  staleAfterMs?: number;
}): IndexerHealth {
  const { chainId, cursor, reported } = input;
  if (cursor === null) {
    return { status: 'down', chainId, error: `no indexer pass has run on chain ${chainId}` };
  }
  const lag = input.chainHead > cursor.indexedBlock ? Number(input.chainHead - cursor.indexedBlock) : 0;
  const health: IndexerHealth = {
    status: 'ok',
    chainId,
    indexedBlock: cursor.indexedBlock.toString(),
    lag,
    lastSyncAt: cursor.updatedAt.toISOString(),
  };
  if (reported?.lastError) health.lastError = reported.lastError;
  const ageMs = input.now.getTime() - cursor.updatedAt.getTime();
  const staleAfterMs = input.staleAfterMs ?? INDEXER_STALE_AFTER_MS;
  if (reported !== null && !reported.running) {
    health.status = 'down';
    health.error = `the indexer stopped${reported.lastError ? `: ${reported.lastError}` : ''}`;
  } else if (ageMs > staleAfterMs) {
    health.status = 'down';
    health.error = `no indexer pass for ${Math.round(ageMs / 1000)} s${reported?.lastError ? `: ${reported.lastError}` : ''}`;
  }
  return health;
}
