/**
 * The indexer's Postgres side: batched, idempotent writes of decoded logs (one transaction per block
 * range, cursor included), the reorg rollback (one transaction), and reads for other parts
 * (`balancesAt` for the distribution job).
 *
 * Every event table is keyed by (chain_id, tx_hash, log_index) and written with multi-row
 * `INSERT ... SELECT FROM unnest($arrays) ON CONFLICT DO NOTHING`: a handful of parameters per table
 * and range, whatever the number of logs. Transfers go in with one COPY per range (the hot path: a
 * duplicate key fails it, and the range then goes through the INSERT). Holdings only move by the
 * transfers that were actually inserted, so writing the same range twice changes nothing.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Address, Hex } from 'viem';
import type { PrismaClient } from '../db/index.ts';
import { withTransaction } from '../db/transaction.ts';
import { isUniqueViolation } from '../db/unique-violation.ts';
import { NotFoundError, ServiceUnavailableError, ValidationFailedError } from '../platform/errors/index.ts';

/** Anything that runs a parameterised query (a pg.Pool or pg.PoolClient). */
export type Queryable = {
  query: <R = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ) => Promise<{ rows: R[]; rowCount: number | null }>;
};

export const ZERO_ADDRESS: Address = '0x0000000000000000000000000000000000000000';

/** Arbitrary first key of the indexer's advisory locks (the second is the chain id). */
const LOCK_KEY = 0x1dec5e;

// ------------------------------------------------------------------ tables

type Column = { name: string; type: 'text' | 'int4' | 'int8' | 'numeric' | 'bool' | 'jsonb' };
type TableSpec = { table: string; columns: readonly Column[]; conflict: string };

const c = (name: string, type: Column['type']): Column => ({ name, type });
const eventKey = [c('tx_hash', 'text'), c('log_index', 'int4'), c('block_number', 'int8')];
const EVENT_CONFLICT = '(chain_id, tx_hash, log_index)';

function spec(table: string, columns: Column[], conflict = EVENT_CONFLICT): TableSpec {
  return { table, columns: [...eventKey, ...columns], conflict };
}

export const tables = {
  purchase: spec('purchase_event', [
    c('portfolio', 'text'),
    c('tranche_id', 'int4'),
    c('buyer', 'text'),
    c('amount', 'numeric'),
    c('cost', 'numeric'),
    c('nonce', 'numeric'),
  ]),
  offeringClosed: spec('offering_closed_event', [
    c('portfolio', 'text'),
    c('closed_at', 'int8'),
    c('sold', 'jsonb'),
  ]),
  recovery: spec('recovery_event', [
    c('portfolio', 'text'),
    c('recovery_id', 'numeric'),
    c('amount', 'numeric'),
    c('servicer_fee', 'numeric'),
    c('protocol_fee', 'numeric'),
    c('undistributed', 'numeric'),
    c('snapshot_block', 'int8'),
    c('report_hash', 'text'),
  ]),
  recoveryTranche: spec(
    'recovery_event_tranche',
    [
      c('tranche_index', 'int4'),
      c('interest', 'numeric'),
      c('principal', 'numeric'),
      c('residual', 'numeric'),
      c('total', 'numeric'),
    ],
    '(chain_id, tx_hash, log_index, tranche_index)',
  ),
  triggerReserve: spec('recovery_trigger_reserve_event', [
    c('portfolio', 'text'),
    c('recovery_id', 'numeric'),
    c('trigger_breached', 'bool'),
    c('collected', 'numeric'),
    c('planned', 'numeric'),
    c('released', 'numeric'),
    c('drawn', 'numeric'),
    c('replenished', 'numeric'),
    c('reserve_balance', 'numeric'),
  ]),
  reserveFunded: spec('reserve_funded_event', [
    c('portfolio', 'text'),
    c('from_address', 'text'),
    c('amount', 'numeric'),
    c('balance', 'numeric'),
  ]),
  resolutionProposed: spec('resolution_proposed_event', [c('portfolio', 'text'), c('executable_at', 'int8')]),
  resolutionVetoed: spec('resolution_vetoed_event', [
    c('portfolio', 'text'),
    c('guardian', 'text'),
    c('executable_at', 'int8'),
  ]),
  resolved: spec('portfolio_resolved_event', [c('portfolio', 'text'), c('recovery_id', 'numeric')]),
  resolvedTranche: spec(
    'portfolio_resolved_event_tranche',
    [c('tranche_index', 'int4'), c('principal_written_off', 'numeric'), c('interest_written_off', 'numeric')],
    '(chain_id, tx_hash, log_index, tranche_index)',
  ),
  documentsAnchored: spec('documents_anchored_event', [
    c('portfolio', 'text'),
    c('version', 'numeric'),
    c('document_root', 'text'),
    c('loan_tape_hash', 'text'),
  ]),
  funded: spec('distributor_funded_event', [
    c('distributor', 'text'),
    c('amount', 'numeric'),
    c('total_funded', 'numeric'),
  ]),
  root: spec('distributor_root_event', [
    c('distributor', 'text'),
    c('kind', 'text'),
    c('root', 'text'),
    c('total', 'numeric'),
    c('tree_hash', 'text'),
    c('distribution_id', 'numeric'),
    c('valid_at', 'int8'),
  ]),
  claim: spec('claim_event', [
    c('distributor', 'text'),
    c('account', 'text'),
    c('amount', 'numeric'),
    c('cumulative', 'numeric'),
  ]),
  fill: spec('order_filled_event', [
    c('marketplace', 'text'),
    c('order_hash', 'text'),
    c('maker', 'text'),
    c('taker', 'text'),
    c('tranche', 'text'),
    c('amount', 'numeric'),
    c('cost', 'numeric'),
    c('fee', 'numeric'),
    c('nonce', 'numeric'),
  ]),
  cancel: spec('order_cancelled_event', [
    c('marketplace', 'text'),
    c('order_hash', 'text'),
    c('maker', 'text'),
  ]),
  counter: spec('counter_incremented_event', [
    c('marketplace', 'text'),
    c('maker', 'text'),
    c('new_counter', 'numeric'),
  ]),
  allowlist: spec('allowlist_event', [
    c('registry', 'text'),
    c('account', 'text'),
    c('kind', 'text'),
    c('expiry', 'int8'),
  ]),
  contract: spec(
    'indexed_contract',
    [c('address', 'text'), c('kind', 'text'), c('portfolio', 'text'), c('tranche_index', 'int4')],
    '(chain_id, address)',
  ),
  transfer: spec('token_transfer', [
    c('tranche', 'text'),
    c('from_address', 'text'),
    c('to_address', 'text'),
    c('value', 'numeric'),
  ]),
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof tables;

/** Tables rolled back by block number on a reorg (transfers are handled with the holdings). */
const rollbackTables = Object.values(tables)
  .map((t) => t.table)
  .filter((t) => t !== 'token_transfer');

/** A value Postgres reads unquoted inside an array literal (hex, decimal, plain words). */
const BARE = /^[0-9A-Za-z_.:+-]+$/;

/**
 * The Postgres array literal of `values` (one text parameter, far cheaper for node-pg than an array
 * of thousands of strings): bare hex and decimals as they are, anything else quoted.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else {
      const text = String(v);
      parts[i] =
        BARE.test(text) && text.toUpperCase() !== 'NULL' ? text : `"${text.replace(/[\\"]/g, '\\$&')}"`;
    }
  }
  return `{${parts.join(',')}}`;
}

/** Postgres reads `unnest` arrays of these types; JSON travels as text and is cast on the way in. */
const arrayType = (type: Column['type']) => (type === 'jsonb' ? 'text' : type);

function insertSql(spec: TableSpec, returning = ''): string {
  const names = spec.columns.map((col) => col.name);
  const unnest = spec.columns.map((col, i) => `$${i + 2}::${arrayType(col.type)}[]`).join(', ');
  const select = spec.columns.map((col) => (col.type === 'jsonb' ? `u.${col.name}::jsonb` : `u.${col.name}`));
  return (
    `INSERT INTO ${spec.table} (chain_id, ${names.join(', ')}) ` +
    `SELECT $1, ${select.join(', ')} FROM unnest(${unnest}) AS u(${names.join(', ')}) ` +
    `ON CONFLICT ${spec.conflict} DO NOTHING${returning}`
  );
}

const insertStatements = Object.fromEntries(
  Object.entries(tables).map(([name, spec]) => [name, insertSql(spec)]),
) as Record<TableName, string>;

/**
 * Transfers in, holdings moved by exactly the rows that went in (a transfer already stored moves
 * nothing), mints and burns skip the zero address.
 */
const insertTransfersSql = `
WITH ins AS (${insertSql(tables.transfer, ' RETURNING tranche, from_address, to_address, value')}),
deltas AS (
  SELECT tranche, to_address AS account, value AS delta FROM ins WHERE to_address <> '${ZERO_ADDRESS}'
  UNION ALL
  SELECT tranche, from_address, -value FROM ins WHERE from_address <> '${ZERO_ADDRESS}'
)
INSERT INTO token_holding (chain_id, tranche, account, balance)
SELECT $1, tranche, account, sum(delta) FROM deltas GROUP BY tranche, account
ON CONFLICT (chain_id, tranche, account) DO UPDATE SET balance = token_holding.balance + excluded.balance`;

/**
 * The `investor` row of each account, recomputed from its registry events on this chain: the latest
 * allowlist/revoke sets the expiry (none: not allowlisted), the latest freeze/unfreeze the flag.
 * Expiries past year 9999 are clamped (uint64 max means "no expiry").
 */
const refreshInvestorsSql = `
INSERT INTO investor (address, allowlisted_until, frozen, updated_at)
SELECT a.account,
  (SELECT CASE WHEN e.kind = 'allowlisted' THEN to_timestamp(LEAST(e.expiry, 253402300799)) END
     FROM allowlist_event e WHERE e.chain_id = $1 AND e.account = a.account AND e.kind IN ('allowlisted', 'revoked')
     ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1),
  COALESCE((SELECT e.kind = 'frozen'
     FROM allowlist_event e WHERE e.chain_id = $1 AND e.account = a.account AND e.kind IN ('frozen', 'unfrozen')
     ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1), false),
  now()
FROM unnest($2::text[]) AS a(account)
ON CONFLICT (address) DO UPDATE
  SET allowlisted_until = excluded.allowlisted_until, frozen = excluded.frozen, updated_at = now()`;

/** Adds summed deltas to the holdings (one row per tranche and account). */
const addHoldingsSql = `
INSERT INTO token_holding (chain_id, tranche, account, balance)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[])
ON CONFLICT (chain_id, tranche, account) DO UPDATE SET balance = token_holding.balance + excluded.balance`;

const COPY_TRANSFERS_SQL =
  'COPY token_transfer (chain_id, tx_hash, log_index, block_number, tranche, from_address, to_address, value) FROM STDIN';

/** Values COPY's text format reads as they are (hex, decimal numbers, addresses). */
const COPY_PLAIN = /^[0-9A-Za-z]*$/;

/**
 * The transfer rows as COPY text (one line per row), or null if a value would need escaping (never
 * for values decoded from logs: hex, decimal numbers, checksummed addresses; then the INSERT path
 * takes them).
 */
function transferCopyText(chainId: number, columns: readonly unknown[][]): string | null {
  const [tx, logIndex, block, tranche, from, to, value] = columns as string[][];
  for (const column of [tx, block, tranche, from, to, value]) {
    if (!COPY_PLAIN.test(column.join(''))) return null;
  }
  const n = tx.length;
  const lines = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    lines[i] =
      `${chainId}\t${tx[i]}\t${logIndex[i]}\t${block[i]}\t${tranche[i]}\t${from[i]}\t${to[i]}\t${value[i]}\n`;
  }
  return lines.join('');
}

/** COPY `text` into token_transfer on the transaction's client (fails as a whole on any duplicate key). */
async function copyTransfers(db: Queryable, text: string): Promise<void> {
  const stream = (
    db as unknown as { query: (s: ReturnType<typeof copyFrom>) => ReturnType<typeof copyFrom> }
  ).query(copyFrom(COPY_TRANSFERS_SQL));
  await pipeline(Readable.from([text]), stream);
}

/**
 * Transfers of a range in, holdings moved. The usual case (none of the rows stored yet) goes in with
 * one COPY and the holdings move by the deltas summed here; if any row was already there (a range
 * written again: the COPY fails on the primary key), that COPY is undone and the rows go through
 * `INSERT ... ON CONFLICT DO NOTHING`, the holdings moving by exactly the rows the database inserted.
 */
async function writeTransfers(db: Queryable, chainId: number, batch: Batch): Promise<void> {
  const columns = batch.columns.transfer;
  const text = transferCopyText(chainId, columns);
  await db.query('SAVEPOINT transfers');
  let copied = false;
  if (text !== null) {
    try {
      await copyTransfers(db, text);
      copied = true;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
  }
  if (!copied) {
    await db.query('ROLLBACK TO SAVEPOINT transfers');
    await db.query(insertTransfersSql, [chainId, ...columns.map(arrayLiteral)]);
    return;
  }
  const [, , , trancheCol, fromCol, toCol, valueCol] = columns as [
    unknown,
    unknown,
    unknown,
    string[],
    string[],
    string[],
    string[],
  ];
  const deltas = new Map<string, bigint>();
  const move = (tranche: string, account: string, delta: bigint) => {
    if (account === ZERO_ADDRESS) return;
    const key = `${tranche}:${account}`;
    deltas.set(key, (deltas.get(key) ?? 0n) + delta);
  };
  for (let i = 0; i < trancheCol.length; i++) {
    const value = BigInt(valueCol[i]);
    move(trancheCol[i], toCol[i], value);
    move(trancheCol[i], fromCol[i], -value);
  }
  const tranches: string[] = [];
  const accounts: string[] = [];
  const amounts: string[] = [];
  for (const [key, delta] of deltas) {
    const [tranche, account] = key.split(':');
    tranches.push(tranche);
    accounts.push(account);
    amounts.push(delta.toString());
  }
  if (tranches.length > 0) {
    await db.query(addHoldingsSql, [
      chainId,
      arrayLiteral(tranches),
      arrayLiteral(accounts),
      arrayLiteral(amounts),
    ]);
  }
}

// ------------------------------------------------------------------ batches

/** Decoded rows of one block range, column by column (what `unnest` wants). */
export type Batch = {
  columns: Record<TableName, unknown[][]>;
  rows: Record<TableName, number>;
  /** Accounts whose allowlist state changed in the range. */
  allowlistAccounts: Set<string>;
  /** Block hashes of the unfinalized window seen in the range (log blocks above the finalized block). */
  blocks: Map<bigint, Hex>;
  logs: number;
};

export function createBatch(): Batch {
  const columns = {} as Record<TableName, unknown[][]>;
  const rows = {} as Record<TableName, number>;
  for (const [name, spec] of Object.entries(tables) as [TableName, TableSpec][]) {
    columns[name] = spec.columns.map(() => []);
    rows[name] = 0;
  }
  return { columns, rows, allowlistAccounts: new Set(), blocks: new Map(), logs: 0 };
}

/** Appends one row, values in the table's column order (tx_hash, log_index, block_number, ...). */
export function addRow(batch: Batch, table: TableName, values: readonly unknown[]): void {
  const cols = batch.columns[table];
  for (let i = 0; i < cols.length; i++) cols[i].push(values[i]);
  batch.rows[table]++;
}

// ------------------------------------------------------------------ cursor

export type Cursor = {
  chainId: number;
  indexedBlock: bigint;
  /** '' until the first range was written. */
  indexedHash: string;
  finalizedBlock: bigint;
  headBlock: bigint;
  reorgs: number;
};

type CursorRow = {
  indexed_block: string;
  indexed_hash: string;
  finalized_block: string;
  head_block: string;
  reorgs: number;
};

const toCursor = (chainId: number, row: CursorRow): Cursor => ({
  chainId,
  indexedBlock: BigInt(row.indexed_block),
  indexedHash: row.indexed_hash,
  finalizedBlock: BigInt(row.finalized_block),
  headBlock: BigInt(row.head_block),
  reorgs: row.reorgs,
});

/** The chain's cursor, created just before `startBlock` on first use. */
export async function loadCursor(db: Queryable, chainId: number, startBlock: bigint): Promise<Cursor> {
  const before = (startBlock - 1n).toString();
  await db.query(
    `INSERT INTO indexer_cursor (chain_id, indexed_block, indexed_hash, finalized_block, head_block)
     VALUES ($1, $2, '', $2, $2) ON CONFLICT (chain_id) DO NOTHING`,
    [chainId, before],
  );
  const { rows } = await db.query<CursorRow>(
    'SELECT indexed_block, indexed_hash, finalized_block, head_block, reorgs FROM indexer_cursor WHERE chain_id = $1',
    [chainId],
  );
  return toCursor(chainId, rows[0] as CursorRow);
}

export type WatchedContract = {
  address: Address;
  kind: ContractKindRow;
  portfolio: Address;
  trancheIndex: number | null;
};
type ContractKindRow = 'portfolio' | 'distributor' | 'tranche';

/** Contracts created through the factory that the indexer follows on this chain. */
export async function loadContracts(db: Queryable, chainId: number): Promise<WatchedContract[]> {
  const { rows } = await db.query<{
    address: Address;
    kind: ContractKindRow;
    portfolio: Address;
    tranche_index: number | null;
  }>('SELECT address, kind, portfolio, tranche_index FROM indexed_contract WHERE chain_id = $1', [chainId]);
  return rows.map((r) => ({
    address: r.address,
    kind: r.kind,
    portfolio: r.portfolio,
    trancheIndex: r.tranche_index,
  }));
}

/** Stored hashes of the unfinalized window, newest first. */
export async function loadWindow(db: Queryable, chainId: number): Promise<{ number: bigint; hash: Hex }[]> {
  const { rows } = await db.query<{ number: string; hash: Hex }>(
    'SELECT number, hash FROM indexer_block WHERE chain_id = $1 ORDER BY number DESC',
    [chainId],
  );
  return rows.map((r) => ({ number: BigInt(r.number), hash: r.hash }));
}

// ------------------------------------------------------------------ writes

type PoolLike = { connect: () => Promise<Queryable & { release: (error?: Error | boolean) => void }> };

async function inTransaction<T>(
  pool: PoolLike,
  chainId: number,
  run: (db: Queryable) => Promise<T>,
): Promise<T> {
  return withTransaction(pool, async (client) => {
    // a range lost in a crash is indexed again (the cursor moves in the same transaction)
    await client.query('SET LOCAL synchronous_commit TO off');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_KEY, chainId]);
    return run(client);
  });
}

export type WriteRangeParameters = {
  chainId: number;
  /** The cursor's block before this range; the write is skipped if another writer moved it. */
  expectedIndexedBlock: bigint;
  toBlock: bigint;
  toHash: Hex;
  finalizedBlock: bigint;
  headBlock: bigint;
  batch: Batch;
};

/**
 * Writes a decoded block range and moves the cursor to its end, all in one transaction (under the
 * chain's advisory lock). Returns false, writing nothing, when the cursor is no longer where the
 * range starts (another indexer process got there first, or a reorg rolled it back).
 */
export async function writeRange(pool: PoolLike, parameters: WriteRangeParameters): Promise<boolean> {
  const { chainId, batch } = parameters;
  return inTransaction(pool, chainId, async (db) => {
    const { rows } = await db.query<{ indexed_block: string }>(
      'SELECT indexed_block FROM indexer_cursor WHERE chain_id = $1',
      [chainId],
    );
    if (rows.length === 0 || BigInt(rows[0].indexed_block) !== parameters.expectedIndexedBlock) return false;

    if (batch.rows.transfer > 0) await writeTransfers(db, chainId, batch);
    for (const name of Object.keys(tables) as TableName[]) {
      if (name === 'transfer' || batch.rows[name] === 0) continue;
      await db.query(insertStatements[name], [chainId, ...batch.columns[name].map(arrayLiteral)]);
    }
    if (batch.allowlistAccounts.size > 0) {
      await db.query(refreshInvestorsSql, [chainId, [...batch.allowlistAccounts]]);
    }

    const blocks = new Map(batch.blocks);
    blocks.set(parameters.toBlock, parameters.toHash);
    const numbers = [...blocks.keys()];
    await db.query(
      `INSERT INTO indexer_block (chain_id, number, hash) SELECT $1, * FROM unnest($2::int8[], $3::text[])
       ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash`,
      [chainId, numbers.map(String), numbers.map((n) => blocks.get(n))],
    );
    // keep the newest block at or below the finalized one as the window's anchor
    await db.query(
      `DELETE FROM indexer_block WHERE chain_id = $1 AND number <
         (SELECT max(number) FROM indexer_block WHERE chain_id = $1 AND number <= $2)`,
      [chainId, parameters.finalizedBlock.toString()],
    );
    await db.query(
      `UPDATE indexer_cursor SET indexed_block = $2, indexed_hash = $3, finalized_block = $4, head_block = $5,
         updated_at = now() WHERE chain_id = $1`,
      [
        chainId,
        parameters.toBlock.toString(),
        parameters.toHash,
        parameters.finalizedBlock.toString(),
        parameters.headBlock.toString(),
      ],
    );
    return true;
  });
}

/** Moves only the finalized block and head (nothing new to index). */
export async function updateFinality(
  db: Queryable,
  parameters: { chainId: number; finalizedBlock: bigint; headBlock: bigint },
): Promise<void> {
  await db.query(
    `UPDATE indexer_cursor SET finalized_block = GREATEST(finalized_block, LEAST($2, indexed_block)), head_block = $3,
       updated_at = now() WHERE chain_id = $1`,
    [parameters.chainId, parameters.finalizedBlock.toString(), parameters.headBlock.toString()],
  );
  await db.query(
    `DELETE FROM indexer_block WHERE chain_id = $1 AND number <
       (SELECT max(number) FROM indexer_block WHERE chain_id = $1 AND number <=
          (SELECT finalized_block FROM indexer_cursor WHERE chain_id = $1))`,
    [parameters.chainId],
  );
}

export type RollbackResult = { transfers: number; events: number };

/**
 * Removes everything indexed above `forkBlock` in one transaction: events, followed contracts,
 * transfers (holdings moved back by them), allowlist state recomputed for the accounts concerned,
 * window blocks; the cursor goes back to `forkBlock` / `forkHash`.
 */
export async function rollbackAbove(
  pool: PoolLike,
  parameters: { chainId: number; forkBlock: bigint; forkHash: Hex },
): Promise<RollbackResult> {
  const { chainId } = parameters;
  const fork = parameters.forkBlock.toString();
  return inTransaction(pool, chainId, async (db) => {
    const transfers = await db.query<{ transfers: number }>(
      `WITH del AS (
         DELETE FROM token_transfer WHERE chain_id = $1 AND block_number > $2
           AND tranche = ANY (SELECT address FROM indexed_contract WHERE chain_id = $1 AND kind = 'tranche')
         RETURNING tranche, from_address, to_address, value
       ),
       deltas AS (
         SELECT tranche, to_address AS account, -value AS delta FROM del WHERE to_address <> '${ZERO_ADDRESS}'
         UNION ALL
         SELECT tranche, from_address, value FROM del WHERE from_address <> '${ZERO_ADDRESS}'
       ),
       moved AS (SELECT tranche, account, sum(delta) AS delta FROM deltas GROUP BY tranche, account),
       updated AS (
         UPDATE token_holding h SET balance = h.balance + m.delta FROM moved m
         WHERE h.chain_id = $1 AND h.tranche = m.tranche AND h.account = m.account
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM del)::int AS transfers, (SELECT count(*) FROM updated)::int AS holdings`,
      [chainId, fork],
    );
    await db.query('DELETE FROM token_holding WHERE chain_id = $1 AND balance = 0', [chainId]);
    const { rows: accounts } = await db.query<{ account: string }>(
      'DELETE FROM allowlist_event WHERE chain_id = $1 AND block_number > $2 RETURNING account',
      [chainId, fork],
    );
    let events = accounts.length;
    for (const table of rollbackTables) {
      if (table === 'allowlist_event') continue;
      const result = await db.query(`DELETE FROM ${table} WHERE chain_id = $1 AND block_number > $2`, [
        chainId,
        fork,
      ]);
      events += result.rowCount ?? 0;
    }
    if (accounts.length > 0) {
      await db.query(refreshInvestorsSql, [chainId, [...new Set(accounts.map((a) => a.account))]]);
    }
    await db.query('DELETE FROM indexer_block WHERE chain_id = $1 AND number > $2', [chainId, fork]);
    await db.query(
      `INSERT INTO indexer_block (chain_id, number, hash) VALUES ($1, $2, $3)
       ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash`,
      [chainId, fork, parameters.forkHash],
    );
    await db.query(
      `UPDATE indexer_cursor SET indexed_block = $2, indexed_hash = $3,
         finalized_block = LEAST(finalized_block, $2), reorgs = reorgs + 1, updated_at = now()
       WHERE chain_id = $1`,
      [chainId, fork, parameters.forkHash],
    );
    return { transfers: transfers.rows[0].transfers, events };
  });
}

// ------------------------------------------------------------------ reads

export type BalancesAtParameters = {
  /** The tranche token. */
  tranche: Address;
  /** Balances after every transfer of this block (inclusive). */
  blockNumber: bigint | number;
  /** Needed only when the same token address is indexed on several chains. */
  chainId?: number;
};

export type HolderBalance = { account: Address; balance: bigint };

export type BalancesAtReturnType = {
  chainId: number;
  blockNumber: bigint;
  /** Non-zero balances, by account (ascending, as stored: checksummed). */
  balances: HolderBalance[];
  /** Sum of the balances: the token's totalSupply at that block (mints from, burns to the zero address). */
  totalSupply: bigint;
  /** True when `blockNumber` is at or below the indexer's finalized block. */
  finalized: boolean;
};

/**
 * Balances of every holder of `tranche` at the end of `blockNumber`, summed from the indexed
 * transfers (for the distribution job's snapshot). Throws a retryable error while the indexer has
 * not reached that block, and NOT_FOUND for a token it does not follow.
 */
export async function balancesAt(
  prisma: PrismaClient,
  parameters: BalancesAtParameters,
): Promise<BalancesAtReturnType> {
  const blockNumber = BigInt(parameters.blockNumber);
  const contracts = await prisma.indexedContract.findMany({
    where: {
      address: parameters.tranche,
      kind: 'tranche',
      ...(parameters.chainId === undefined ? {} : { chainId: parameters.chainId }),
    },
    select: { chainId: true },
  });
  if (contracts.length === 0) {
    throw new NotFoundError(`The indexer does not follow the tranche token ${parameters.tranche}`);
  }
  if (contracts.length > 1) {
    throw new ValidationFailedError(
      `The tranche token ${parameters.tranche} is indexed on several chains; pass chainId`,
      { statusCode: 400 },
    );
  }
  const chainId = contracts[0].chainId;
  const cursor = await prisma.indexerCursor.findUnique({ where: { chainId } });
  if (cursor === null || cursor.indexedBlock < blockNumber) {
    throw new ServiceUnavailableError(
      `The indexer of chain ${chainId} has not reached block ${blockNumber} yet (at ${cursor?.indexedBlock ?? 'none'})`,
      { retryable: true },
    );
  }
  const rows = await prisma.$queryRawUnsafe<{ account: Address; balance: string }[]>(
    `SELECT account, sum(delta)::text AS balance FROM (
       SELECT to_address AS account, value AS delta FROM token_transfer
        WHERE chain_id = $1 AND tranche = $2 AND block_number <= $3
       UNION ALL
       SELECT from_address, -value FROM token_transfer
        WHERE chain_id = $1 AND tranche = $2 AND block_number <= $3
     ) t WHERE account <> '${ZERO_ADDRESS}'
     GROUP BY account HAVING sum(delta) <> 0 ORDER BY account`,
    chainId,
    parameters.tranche,
    blockNumber,
  );
  let totalSupply = 0n;
  const balances = rows.map((row) => {
    const balance = BigInt(row.balance);
    totalSupply += balance;
    return { account: row.account, balance };
  });
  return { chainId, blockNumber, balances, totalSupply, finalized: blockNumber <= cursor.finalizedBlock };
}
