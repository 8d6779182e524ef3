import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { CsvError } from 'csv-parse';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationFailedError,
} from '../../platform/errors/index.ts';
import { CsvRecordReader } from './csv-records.ts';
import { compileCellCheck, INVALID_CELL, loanTapeColumns, validateCell } from './rules.ts';

/**
 * Loan-tape ingest: the CSV is streamed through a SHA-256 and a byte meter, read into records
 * (csv-records.ts: csv-parse's results, with a fast path for lines without quotes), validated cell by
 * cell, and streamed as COPY text into `loan` inside one transaction that first deletes the previous
 * tape. Any bad cell stops the COPY; parsing continues so that every error is counted (the first
 * `maxErrors` are reported), then the transaction is rolled back: nothing is stored. On success the
 * portfolio statistics are recomputed in SQL in the same transaction.
 *
 * Parsing overlaps with Postgres: COPY text is written in 256 KiB pieces into a 16 MiB buffer that the
 * connection drains while the next records are parsed; the source is only paused when that buffer is full.
 * The API gives it the upload already spooled to a file (spool.ts), so the transaction (its
 * pooled connection and the portfolio's row lock) lasts as long as the ingest, never as long as a slow client.
 */

export type LoanTapeError = { row: number; column: string | null; value: string | null; reason: string };

export type IngestLoanTapeParameters = {
  pool: pg.Pool;
  portfolioId: string;
  source: Readable;
  maxBytes: number;
  /** errors reported in full (the count is always exact); default 1,000 */
  maxErrors?: number;
};

export type IngestLoanTapeReturnType = { loanCount: number; sha256: string; size: number };

const COPY_COLUMNS = ['portfolio_id', 'row_number', ...loanTapeColumns.map((c) => c.name), 'extra'];
const COPY_SQL = `COPY loan (${COPY_COLUMNS.map((c) => `"${c}"`).join(', ')}) FROM STDIN`;
const FLUSH_AT = 256 * 1024;
const COPY_BUFFER_BYTES = 16 * 1024 * 1024;
/** bytes buffered between the upload, the meter and the parser */
const READ_BUFFER_BYTES = 1024 * 1024;
const NEEDS_ESCAPE = /[\\\t\n\r]/;
/** per column, in loanTapeColumns order: the compiled check, and whether its value needs COPY escaping */
const CELL_CHECKS = loanTapeColumns.map(compileCellCheck);
const IS_TEXT = loanTapeColumns.map((c) => c.type.kind === 'text');
/** a Map key at least this long is copied, so that it does not keep the whole decoded chunk alive */
const SLICE_MIN_LENGTH = 13;

/** COPY text-format escaping of a free-text value. */
export function copyEscape(value: string): string {
  return NEEDS_ESCAPE.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : value;
}

/** Counts and hashes the bytes that pass; fails with 413 past `maxBytes`. */
class Meter extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly maxBytes: number) {
    super({ highWaterMark: READ_BUFFER_BYTES });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      cb(tooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/**
 * The Writable end of a CSV-to-COPY pipeline: feeds the bytes to `reader` (whose record handler fills
 * the caller's COPY buffer) and awaits `flush` whenever `pending()` reaches FLUSH_AT, and once more at
 * the end, so the buffer never grows past one flush's worth and back-pressure reaches the source.
 */
export function csvCopySink(
  reader: CsvRecordReader,
  pending: () => number,
  flush: () => Promise<void>,
): Writable {
  return new Writable({
    highWaterMark: READ_BUFFER_BYTES,
    write(chunk: Buffer, _enc, cb) {
      try {
        reader.write(chunk);
      } catch (error) {
        cb(error as Error);
        return;
      }
      if (pending() >= FLUSH_AT) flush().then(() => cb(), cb);
      else cb();
    },
    final(cb) {
      try {
        reader.end();
      } catch (error) {
        cb(error as Error);
        return;
      }
      flush().then(() => cb(), cb);
    },
  });
}

/**
 * Pipes `source` (an HTTP request) into `target`, outside the pipeline that consumes `target`: on an
 * error that pipeline must not destroy the request, or the client would get a reset connection instead
 * of our answer. An error of the source, or its close before its end (the client went away), destroys
 * `target`. Returns the function that detaches the two.
 */
export function pipeUpload(source: Readable, target: Transform): () => void {
  const onSourceError = (error: Error) => target.destroy(error);
  const onSourceClose = () => {
    if (!source.readableEnded) target.destroy(new Error('the upload was interrupted'));
  };
  source.once('error', onSourceError);
  source.once('close', onSourceClose);
  source.pipe(target);
  return () => {
    source.off('error', onSourceError);
    source.off('close', onSourceClose);
    source.unpipe(target);
  };
}

/** 413 for an upload past `maxBytes` (`what`: the loan tape, a remittance report). */
export const tooLarge = (maxBytes: number, what = 'Loan tape') =>
  new PayloadTooLargeError(`${what} is larger than ${maxBytes} bytes`, {
    statusCode: 413,
    details: { maxBytes },
  });

/**
 * The 422 of a rejected table upload (the loan tape, the business plan): `{ errorCount, errors, truncated }`
 * with one `{ row, column, value, reason }` per bad cell, `errors` holding the first ones.
 */
export function tableRejected<E extends LoanTapeError>(
  what: string,
  errorCount: number,
  errors: readonly E[],
): ValidationFailedError {
  return new ValidationFailedError(`${what} rejected: ${errorCount} error${errorCount === 1 ? '' : 's'}`, {
    statusCode: 422,
    details: { errorCount, errors, truncated: errorCount > errors.length },
  });
}

type Header = {
  /** index of each known column in the CSV record, in loanTapeColumns order (-1: absent) */
  positions: number[];
  /** unknown columns: [index, lower-cased name] */
  extras: [number, string][];
  width: number;
};

function readHeader(record: string[], report: (e: LoanTapeError) => void): Header | null {
  const names = record.map((h) => h.trim().toLowerCase());
  let ok = true;
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === '') {
      report({ row: 0, column: null, value: record[i], reason: `header cell ${i + 1} is empty` });
      ok = false;
    } else if (seen.has(name)) {
      report({ row: 0, column: name, value: record[i], reason: 'column appears twice in the header' });
      ok = false;
    }
    seen.set(name, i);
  });
  for (const column of loanTapeColumns) {
    if (column.required && !seen.has(column.name)) {
      report({ row: 0, column: column.name, value: null, reason: 'required column missing from the header' });
      ok = false;
    }
  }
  if (!ok) return null;
  const known = new Set(loanTapeColumns.map((c) => c.name));
  return {
    positions: loanTapeColumns.map((c) => seen.get(c.name) ?? -1),
    extras: names.flatMap((n, i) => (known.has(n) ? [] : [[i, n] as [number, string]])),
    width: names.length,
  };
}

/** Statistics of LOAN_TAPE.md, computed by Postgres over the stored loans (one scan with grouping sets). */
const STATS_SQL = `
WITH g AS (
  SELECT GROUPING(asset_class) AS g_ac, GROUPING(jurisdiction) AS g_ju, asset_class, jurisdiction,
         count(*)::int AS n, coalesce(sum(principal_balance), 0) AS upb,
         coalesce(sum(collateral_value), 0) AS coll,
         coalesce(sum(principal_balance * days_past_due), 0) AS upb_dpd,
         count(*) FILTER (WHERE legal_status = 'in_court')::int AS in_court
  FROM loan WHERE portfolio_id = $1
  GROUP BY GROUPING SETS ((), (asset_class), (jurisdiction))
), t AS (SELECT * FROM g WHERE g_ac = 1 AND g_ju = 1)
UPDATE portfolio p SET
  loan_count = t.n,
  total_upb = t.upb,
  total_collateral = t.coll,
  wa_days_past_due = CASE WHEN t.upb > 0 THEN round(t.upb_dpd / t.upb, 4) END,
  collateral_coverage = CASE WHEN t.upb > 0 THEN round(t.coll / t.upb, 6) END,
  in_court_share = CASE WHEN t.n > 0 THEN round(t.in_court::numeric / t.n, 6) END,
  cents_per_dollar = CASE WHEN t.upb > 0
    THEN round(p.asking_price / power(10::numeric, p.pay_token_decimals) / t.upb * 100, 4) END,
  breakdown = jsonb_build_object(
    'assetClass', coalesce((SELECT jsonb_object_agg(asset_class, jsonb_build_object('count', n, 'upb', upb::text))
                            FROM g WHERE g_ac = 0), '{}'::jsonb),
    'jurisdiction', coalesce((SELECT jsonb_object_agg(jurisdiction, jsonb_build_object('count', n, 'upb', upb::text))
                              FROM g WHERE g_ju = 0), '{}'::jsonb)),
  tape_sha256 = $2,
  tape_file_size = $3,
  tape_uploaded_at = now(),
  updated_at = now()
FROM t WHERE p.id = $1`;

export async function refreshPortfolioStats(
  client: pg.ClientBase,
  portfolioId: string,
  tape: { sha256: string | null; size: number | null },
): Promise<void> {
  await client.query(STATS_SQL, [portfolioId, tape.sha256, tape.size]);
}

export async function ingestLoanTape({
  pool,
  portfolioId,
  source,
  maxBytes,
  maxErrors = 1_000,
}: IngestLoanTapeParameters): Promise<IngestLoanTapeReturnType> {
  const errors: LoanTapeError[] = [];
  let errorCount = 0;
  const report = (e: LoanTapeError) => {
    errorCount++;
    if (errors.length < maxErrors) errors.push(e);
  };

  const client = await pool.connect();
  let released = false;
  const release = (error?: Error) => {
    if (!released) client.release(error);
    released = true;
  };
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ status: string }>(
      'SELECT status FROM portfolio WHERE id = $1 FOR UPDATE',
      [portfolioId],
    );
    if (rows.length === 0) throw new NotFoundError('Portfolio', portfolioId);
    if (rows[0].status !== 'draft')
      throw new ConflictError(`Portfolio is ${rows[0].status}; the loan tape can only change in draft`);
    await client.query('DELETE FROM loan WHERE portfolio_id = $1', [portfolioId]);

    // a deep buffer lets parsing run ahead while Postgres ingests (the two overlap on two cores)
    const copy = client.query(copyFrom(COPY_SQL, { highWaterMark: COPY_BUFFER_BYTES }));
    let copyError: (Error & { code?: string; where?: string }) | null = null;
    copy.on('error', (error) => {
      copyError ??= error;
    });
    /** Ends the COPY with a CopyFail so the connection can roll back. */
    const abortCopy = async () => {
      if (copy.closed) return;
      const closed = once(copy, 'close').catch(() => {});
      copy.destroy(new Error('loan tape rejected'));
      await closed;
    };

    const meter = new Meter(maxBytes);
    const firstRow = new Map<string, number>();
    const prefix = `${portfolioId}\t`;
    let header: Header | null | undefined;
    let row = 0;
    let buffer = '';

    const flush = async () => {
      if (buffer === '' || copyError !== null) return;
      const ok = copy.write(buffer);
      buffer = '';
      if (!ok) await Promise.race([once(copy, 'drain'), once(copy, 'error')]).catch(() => {});
    };

    const handle = (record: string[]): void => {
      if (header === undefined) {
        header = readHeader(record, report);
        return;
      }
      if (header === null) return;
      row++;
      if (record.length !== header.width) {
        report({
          row,
          column: null,
          value: null,
          reason: `has ${record.length} cells; the header has ${header.width}`,
        });
        return;
      }
      let line = prefix + row;
      const { positions } = header;
      for (let c = 0; c < positions.length; c++) {
        const at = positions[c];
        const raw = at < 0 ? '' : record[at].trim();
        const value = CELL_CHECKS[c](raw);
        if (value === INVALID_CELL) {
          const column = loanTapeColumns[c];
          const result = validateCell(column, raw);
          report({ row, column: column.name, value: raw, reason: result.ok ? 'is invalid' : result.reason });
        } else if (value === null) line += '\t\\N';
        else line += IS_TEXT[c] ? `\t${copyEscape(value)}` : `\t${value}`;
      }
      const loanId = positions[0] < 0 ? '' : record[positions[0]].trim();
      if (loanId !== '') {
        const first = firstRow.get(loanId);
        if (first === undefined)
          firstRow.set(loanId.length < SLICE_MIN_LENGTH ? loanId : Buffer.from(loanId).toString(), row);
        else
          report({
            row,
            column: 'loan_id',
            value: loanId,
            reason: `duplicate loan_id (first in row ${first})`,
          });
      }
      if (errorCount !== 0) return;
      let extra = '{}';
      if (header.extras.length > 0) {
        const obj: Record<string, string> = {};
        for (const [i, name] of header.extras) {
          const v = record[i].trim();
          if (v !== '') obj[name] = v;
        }
        extra = JSON.stringify(obj);
      }
      buffer += `${line}\t${copyEscape(extra)}\n`;
    };

    const sink = csvCopySink(new CsvRecordReader(handle), () => buffer.length, flush);

    // a client that goes away mid-upload must not leave the transaction (and its row lock) open
    const detach = pipeUpload(source, meter);
    try {
      await pipeline(meter, sink);
    } catch (error) {
      if (!(error instanceof CsvError)) {
        await abortCopy();
        throw error;
      }
      report({
        row: row + 1,
        column: null,
        value: null,
        reason: `not valid CSV: ${(error as Error).message}`,
      });
    } finally {
      detach();
    }

    if (header === undefined) {
      report({ row: 0, column: null, value: null, reason: 'the file is empty; a header row is required' });
    } else if (header !== null && row === 0) {
      report({ row: 1, column: null, value: null, reason: 'the tape has no loans' });
    }
    if (errorCount === 0 && copyError === null) {
      copy.end();
      await finished(copy).catch(() => {});
    }
    const pgError = copyError as (Error & { code?: string; where?: string }) | null;
    if (errorCount === 0 && pgError !== null && /^2[23]/.test(pgError.code ?? '')) {
      // a value Postgres refused although it passed our checks (e.g. out of range)
      const line = /line (\d+)/.exec(pgError.where ?? '')?.[1];
      report({ row: line ? Number(line) : 0, column: null, value: null, reason: pgError.message });
    }
    if (errorCount > 0) {
      await abortCopy();
      throw tableRejected('Loan tape', errorCount, errors);
    }
    if (pgError !== null) throw pgError;

    const sha256 = meter.hash.digest('hex');
    await refreshPortfolioStats(client, portfolioId, { sha256, size: meter.size });
    await client.query('COMMIT');
    return { loanCount: row, sha256, size: meter.size };
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      release(rollbackError as Error);
    }
    throw error;
  } finally {
    release();
  }
}
