/**
 * Remittance reports (issue 12, waterfall spec v2): the servicer's loan-level CSV
 * `loan_id,collected,collected_on,resolution`, one row per loan of the portfolio's tape, stored with the
 * SHA-256 of the exact bytes received. A recovery with `reportId` deposits exactly the report's total and
 * anchors that hash on-chain (`reportForRecovery`).
 *
 * Read like the loan tape (core/catalog/loan-tape): the upload is spooled to a file first (spool.ts, which
 * also hashes it), then read with the tape's CSV reader (`CsvRecordReader`) and its cell validators
 * (`validateCell`), and streamed as COPY text into `remittance_report_line` inside one transaction that
 * also writes the report row. Every bad cell is counted (the first `maxErrors` reported) and nothing is
 * stored: the 422 is the loan tape's (`tableRejected`), one `{ row, column, value, reason }` per bad cell.
 * A loan of the tape missing from the report is reported at the row after the last data row.
 *
 * Memory: the tape's loan ids (one Map entry per loan) and the bad cells kept; the lines are streamed.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { CsvError } from 'csv-parse';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { PrismaClient } from '../db/index.ts';
import { ConflictError, NotFoundError, ValidationFailedError } from '../platform/errors/index.ts';
import { decimalToBaseUnits } from './business-plan.ts';
import { CsvRecordReader } from './loan-tape/csv-records.ts';
import { copyEscape, csvCopySink, type LoanTapeError, tableRejected, tooLarge } from './loan-tape/ingest.ts';
import { type LoanTapeColumn, validateCell } from './loan-tape/rules.ts';

export const resolutionKinds = ['settled', 'written_off', 'sold', 'restructured', 'foreclosed'] as const;
export type ResolutionKind = (typeof resolutionKinds)[number];

/** The report's columns (every one in the header, any order and case, no other). */
export const remittanceReportColumns = [
  { name: 'loan_id', required: true, type: { kind: 'text', maxLength: 200 } },
  { name: 'collected', required: true, type: { kind: 'decimal' } },
  { name: 'collected_on', required: false, type: { kind: 'date' } },
  { name: 'resolution', required: false, type: { kind: 'enum', values: resolutionKinds } },
] as const satisfies readonly LoanTapeColumn[];

export const remittanceTooLarge = (maxBytes: number) => tooLarge(maxBytes, 'Remittance report');

export type RemittanceReportView = {
  id: string;
  portfolioId: string;
  sha256: string;
  size: number;
  /** pay-token base units, decimal string */
  total: string;
  loanCount: number;
  resolvedCount: number;
  createdAt: string;
};

export type IngestRemittanceReportParameters = {
  pool: pg.Pool;
  portfolioId: string;
  /** the spooled bytes, and their SHA-256 and size as received */
  source: Readable;
  sha256: string;
  size: number;
  /** owner of the API key that sent it */
  submittedBy: string;
  /** errors reported in full (the count is always exact); default 1,000 */
  maxErrors?: number;
};

const COPY_SQL =
  'COPY remittance_report_line (report_id, portfolio_id, loan_id, row_number, collected, collected_on, resolution) FROM STDIN';
const COPY_BUFFER_BYTES = 4 * 1024 * 1024;

type ReportRow = {
  id: string;
  portfolio_id: string;
  sha256: string;
  size: string;
  total: string;
  loan_count: number;
  resolved_count: number;
  created_at: Date;
};

const REPORT_COLUMNS =
  'id, portfolio_id, sha256, size::text AS size, total::text AS total, loan_count, resolved_count, created_at';

const toView = (r: ReportRow): RemittanceReportView => ({
  id: r.id,
  portfolioId: r.portfolio_id,
  sha256: r.sha256,
  size: Number(r.size),
  total: r.total,
  loanCount: r.loan_count,
  resolvedCount: r.resolved_count,
  createdAt: r.created_at.toISOString(),
});

/** 409 unless remittance reports may be sent: the portfolio is published and has a loan tape. */
export function assertReportable(portfolio: { status: string; loanCount: number }): void {
  if (portfolio.status !== 'published') {
    throw new ConflictError(
      `Portfolio is ${portfolio.status}; remittance reports start once it is published`,
      { details: { reason: 'NOT_PUBLISHED' } },
    );
  }
  if (portfolio.loanCount === 0)
    throw new ConflictError('The portfolio has no loan tape', { details: { reason: 'NO_LOAN_TAPE' } });
}

type Header = { positions: number[]; width: number };

function readHeader(record: string[], report: (e: LoanTapeError) => void): Header | null {
  const names = record.map((h) => h.trim().toLowerCase());
  const known = new Set<string>(remittanceReportColumns.map((c) => c.name));
  let ok = true;
  names.forEach((name, i) => {
    if (!known.has(name)) {
      report({ row: 0, column: name || null, value: record[i], reason: 'unknown column in the header' });
      ok = false;
    } else if (names.indexOf(name) !== i) {
      report({ row: 0, column: name, value: record[i], reason: 'column appears twice in the header' });
      ok = false;
    }
  });
  const positions = remittanceReportColumns.map((c) => names.indexOf(c.name));
  remittanceReportColumns.forEach((c, i) => {
    if (positions[i] < 0) {
      report({ row: 0, column: c.name, value: null, reason: 'required column missing from the header' });
      ok = false;
    }
  });
  return ok ? { positions, width: names.length } : null;
}

/**
 * Validates and stores a remittance report in one transaction (the report row and one line per loan), or
 * throws the 422 with every bad cell and stores nothing. The same bytes again for the portfolio answer the
 * report stored before (`existing: true`). 404 unknown portfolio, 409 not published or no tape.
 */
export async function ingestRemittanceReport(
  parameters: IngestRemittanceReportParameters,
): Promise<{ report: RemittanceReportView; existing: boolean }> {
  const { pool, portfolioId, sha256, size, maxErrors = 1_000 } = parameters;
  const errors: LoanTapeError[] = [];
  let errorCount = 0;
  const report = (e: LoanTapeError) => {
    errorCount++;
    if (errors.length < maxErrors) errors.push(e);
  };
  const findExisting = async (db: pg.ClientBase | pg.Pool) => {
    const { rows } = await db.query<ReportRow>(
      `SELECT ${REPORT_COLUMNS} FROM remittance_report WHERE portfolio_id = $1 AND sha256 = $2`,
      [portfolioId, sha256],
    );
    return rows.length === 0 ? null : toView(rows[0]);
  };

  const client = await pool.connect();
  let released = false;
  const release = (error?: Error) => {
    if (!released) client.release(error);
    released = true;
  };
  try {
    await client.query('BEGIN');
    // the tape and the status do not change while the report is read
    const { rows } = await client.query<{ status: string; loan_count: number; pay_token_decimals: number }>(
      'SELECT status, loan_count, pay_token_decimals FROM portfolio WHERE id = $1 FOR SHARE',
      [portfolioId],
    );
    if (rows.length === 0) throw new NotFoundError('Portfolio', portfolioId);
    assertReportable({ status: rows[0].status, loanCount: rows[0].loan_count });
    const decimals = rows[0].pay_token_decimals;
    const earlier = await findExisting(client);
    if (earlier !== null) {
      await client.query('ROLLBACK');
      return { report: earlier, existing: true };
    }

    // every loan of the tape, in tape order: the data row of the report that names it (0: not yet)
    const { rows: loans } = await client.query<{ loan_id: string }>(
      'SELECT loan_id FROM loan WHERE portfolio_id = $1 ORDER BY row_number',
      [portfolioId],
    );
    const seenAt = new Map<string, number>();
    for (const { loan_id } of loans) seenAt.set(loan_id, 0);

    let reportId: string;
    try {
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO remittance_report (portfolio_id, sha256, size, total, loan_count, resolved_count, submitted_by)
         VALUES ($1, $2, $3, 0, 0, 0, $4) RETURNING id`,
        [portfolioId, sha256, size, parameters.submittedBy],
      );
      reportId = inserted.rows[0].id;
    } catch (error) {
      // the same bytes were stored concurrently (unique portfolio_id, sha256): that report
      if ((error as { code?: string }).code !== '23505') throw error;
      await client.query('ROLLBACK');
      const raced = await findExisting(pool);
      if (raced === null) throw error;
      return { report: raced, existing: true };
    }

    const copy = client.query(copyFrom(COPY_SQL, { highWaterMark: COPY_BUFFER_BYTES }));
    let copyError: Error | null = null;
    copy.on('error', (error) => {
      copyError ??= error;
    });
    const abortCopy = async () => {
      if (copy.closed) return;
      const closed = once(copy, 'close').catch(() => {});
      copy.destroy(new Error('remittance report rejected'));
      await closed;
    };

    const prefix = `${reportId}\t${portfolioId}\t`;
    let header: Header | null | undefined;
    let row = 0;
    let total = 0n;
    let resolvedCount = 0;
    let buffer = '';
    const flush = async () => {
      if (buffer === '' || copyError !== null) return;
      const ok = copy.write(buffer);
      buffer = '';
      if (!ok) await Promise.race([once(copy, 'drain'), once(copy, 'error')]).catch(() => {});
    };
    const [loanIdColumn, collectedColumn, dateColumn, resolutionColumn] = remittanceReportColumns;

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
      const [loanIdRaw, collectedRaw, dateRaw, resolutionRaw] = header.positions.map((at) =>
        record[at].trim(),
      );
      const loanId = validateCell(loanIdColumn, loanIdRaw);
      if (!loanId.ok) report({ row, column: 'loan_id', value: loanIdRaw, reason: loanId.reason });
      else {
        const first = seenAt.get(loanIdRaw);
        if (first === undefined)
          report({ row, column: 'loan_id', value: loanIdRaw, reason: "not a loan of the portfolio's tape" });
        else if (first !== 0)
          report({
            row,
            column: 'loan_id',
            value: loanIdRaw,
            reason: `duplicate loan_id (first in row ${first})`,
          });
        else seenAt.set(loanIdRaw, row);
      }
      const collected = validateCell(collectedColumn, collectedRaw);
      let amount: bigint | null = null;
      if (!collected.ok) report({ row, column: 'collected', value: collectedRaw, reason: collected.reason });
      else {
        amount = decimalToBaseUnits(collected.value as string, decimals);
        if (amount === null)
          report({
            row,
            column: 'collected',
            value: collectedRaw,
            reason: `has more decimals than the pay token's ${decimals}`,
          });
      }
      const date = validateCell(dateColumn, dateRaw);
      if (!date.ok) report({ row, column: 'collected_on', value: dateRaw, reason: date.reason });
      else if (date.value === null && amount !== null && amount > 0n)
        report({
          row,
          column: 'collected_on',
          value: dateRaw,
          reason: 'is required when collected is above 0',
        });
      const resolution = validateCell(resolutionColumn, resolutionRaw);
      if (!resolution.ok)
        report({ row, column: 'resolution', value: resolutionRaw, reason: resolution.reason });
      if (errorCount !== 0) return;
      total += amount as bigint;
      if (resolution.ok && resolution.value !== null) resolvedCount++;
      buffer +=
        `${prefix}${copyEscape(loanIdRaw)}\t${row}\t${amount}\t${date.ok && date.value !== null ? date.value : '\\N'}` +
        `\t${resolution.ok && resolution.value !== null ? resolution.value : '\\N'}\n`;
    };

    const sink = csvCopySink(new CsvRecordReader(handle), () => buffer.length, flush);
    try {
      await pipeline(parameters.source, sink);
    } catch (error) {
      if (!(error instanceof CsvError)) {
        await abortCopy();
        throw error;
      }
      report({ row: row + 1, column: null, value: null, reason: `not valid CSV: ${error.message}` });
    }

    if (header === undefined) {
      report({ row: 0, column: null, value: null, reason: 'the file is empty; a header row is required' });
    } else if (header !== null) {
      // every loan of the tape must be in the report: the missing ones at the row after the last
      for (const [loanId, at] of seenAt) {
        if (at === 0)
          report({
            row: row + 1,
            column: 'loan_id',
            value: loanId,
            reason: "a loan of the portfolio's tape missing from the report",
          });
      }
    }
    if (errorCount === 0 && copyError === null) {
      copy.end();
      await finished(copy).catch(() => {});
    }
    if (errorCount > 0) {
      await abortCopy();
      throw tableRejected('Remittance report', errorCount, errors);
    }
    if (copyError !== null) throw copyError;

    const { rows: stored } = await client.query<ReportRow>(
      `UPDATE remittance_report SET total = $2, loan_count = $3, resolved_count = $4 WHERE id = $1
       RETURNING ${REPORT_COLUMNS}`,
      [reportId, total.toString(), row, resolvedCount],
    );
    await client.query('COMMIT');
    return { report: toView(stored[0]), existing: false };
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A stored report of the portfolio, or null (unknown id, or another portfolio's report). */
export async function findRemittanceReport(
  prisma: PrismaClient,
  portfolioId: string,
  reportId: string,
): Promise<RemittanceReportView | null> {
  if (!UUID.test(reportId)) return null;
  const r = await prisma.remittanceReport.findUnique({ where: { id: reportId } });
  if (r === null || r.portfolioId !== portfolioId) return null;
  return {
    id: r.id,
    portfolioId: r.portfolioId,
    sha256: r.sha256,
    size: Number(r.size),
    total: r.total.toFixed(0),
    loanCount: r.loanCount,
    resolvedCount: r.resolvedCount,
    createdAt: r.createdAt.toISOString(),
  };
}

/**
 * The SHA-256 a recovery with `reportId` anchors: the report must be the portfolio's (else 422
 * `body.reportId`) and its total must equal `amount` (else 422 `body.amount`, naming the total).
 */
export async function reportForRecovery(
  prisma: PrismaClient,
  parameters: { portfolioId: string; reportId: string; amount: bigint },
): Promise<RemittanceReportView> {
  const found = await findRemittanceReport(prisma, parameters.portfolioId, parameters.reportId);
  if (found === null) {
    throw new ValidationFailedError('Unknown remittance report', {
      statusCode: 422,
      details: [{ path: 'body.reportId', message: 'is not a remittance report of this portfolio' }],
    });
  }
  if (BigInt(found.total) !== parameters.amount) {
    throw new ValidationFailedError("The amount differs from the remittance report's total", {
      statusCode: 422,
      details: [
        {
          path: 'body.amount',
          message: `must equal the report's total, ${found.total} (pay-token base units)`,
        },
      ],
    });
  }
  return found;
}
