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
 * The reporting period (`periodStart`..`periodEnd`, both days included, UTC dates): each report declares
 * one (or takes the defaults: from the day after the previous report's end, or for the first report the
 * offering's indexed close date, else the publish date; to today), and a portfolio's periods follow one
 * another: a new one starts after the latest stored `periodEnd` (409 `PERIOD_OVERLAP` naming that report).
 * Every `collected_on` must be inside it (a per-cell 422).
 *
 * The loans' servicing state (`loan.resolution`, `resolved_at`, `resolution_report_id`,
 * `collected_to_date`) is updated in the same transaction: a loan's first resolution is final (a later
 * report may repeat it, not change it: 422 on `resolution`), and a resolved loan collects no more (422 on
 * `collected`). The portfolio row is locked (`FOR NO KEY UPDATE`) for the whole transaction, so two reports
 * of a portfolio are checked and stored one after the other, each against the state the other left; FK
 * inserts elsewhere (documents, jobs) referencing the portfolio are not blocked by it.
 *
 * Memory: the tape's loan ids (one Map entry per loan), the resolved loans' resolutions and the bad cells
 * kept; the lines are streamed.
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
  /** the reporting period, both days included (YYYY-MM-DD, UTC) */
  periodStart: string;
  periodEnd: string;
  createdAt: string;
};

/** A report's period as asked for (query `periodStart`, `periodEnd`); an absent bound takes its default. */
export type ReportPeriodRequest = { periodStart?: string; periodEnd?: string };

const DATE_COLUMN = {
  name: 'period',
  required: true,
  type: { kind: 'date' },
} as const satisfies LoanTapeColumn;

/** `YYYY-MM-DD`, a real calendar day (the loan tape's date rule). */
export const isReportDate = (text: string): boolean => validateCell(DATE_COLUMN, text).ok;

/** Today's UTC date, YYYY-MM-DD. */
export const utcToday = (now = new Date()): string => now.toISOString().slice(0, 10);

/** The UTC day after `date` (YYYY-MM-DD). */
function nextDay(date: string): string {
  const t = new Date(`${date}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

const periodLabel = (start: string, end: string) => `${start} to ${end}`;

type PeriodProblem = { path: 'querystring.periodStart' | 'querystring.periodEnd'; message: string };

/** 400 VALIDATION_FAILED with the period's problems. */
export const periodInvalid = (problems: PeriodProblem[]) =>
  new ValidationFailedError('Invalid reporting period', { statusCode: 400, details: problems });

/**
 * What is wrong with a period asked for, on its own (400): dates YYYY-MM-DD, `periodEnd` not after
 * `today`, `periodStart` not after `periodEnd` (default: today).
 */
export function periodRequestProblems(period: ReportPeriodRequest, today: string): PeriodProblem[] {
  const problems: PeriodProblem[] = [];
  const { periodStart: start, periodEnd: end } = period;
  if (start !== undefined && !isReportDate(start))
    problems.push({ path: 'querystring.periodStart', message: 'must be a date YYYY-MM-DD' });
  if (end !== undefined && !isReportDate(end))
    problems.push({ path: 'querystring.periodEnd', message: 'must be a date YYYY-MM-DD' });
  if (problems.length > 0) return problems;
  if (end !== undefined && end > today)
    problems.push({
      path: 'querystring.periodEnd',
      message: `must not be in the future (today is ${today} UTC)`,
    });
  if (start !== undefined && start > (end ?? today))
    problems.push({
      path: 'querystring.periodStart',
      message: `must not be after periodEnd (${end ?? `today, ${today} UTC`})`,
    });
  return problems;
}

export type IngestRemittanceReportParameters = {
  pool: pg.Pool;
  portfolioId: string;
  /** the spooled bytes, and their SHA-256 and size as received */
  source: Readable;
  sha256: string;
  size: number;
  /** owner of the API key that sent it */
  submittedBy: string;
  /** the period asked for (absent bounds: the defaults) */
  period?: ReportPeriodRequest;
  /** today's UTC date, YYYY-MM-DD (default: the clock's) */
  today?: string;
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
  period_start: string;
  period_end: string;
  created_at: Date;
};

const REPORT_COLUMNS =
  'id, portfolio_id, sha256, size::text AS size, total::text AS total, loan_count, resolved_count, ' +
  "to_char(period_start, 'YYYY-MM-DD') AS period_start, to_char(period_end, 'YYYY-MM-DD') AS period_end, " +
  'created_at';

const toView = (r: ReportRow): RemittanceReportView => ({
  id: r.id,
  portfolioId: r.portfolio_id,
  sha256: r.sha256,
  size: Number(r.size),
  total: r.total,
  loanCount: r.loan_count,
  resolvedCount: r.resolved_count,
  periodStart: r.period_start,
  periodEnd: r.period_end,
  createdAt: r.created_at.toISOString(),
});

type PortfolioRow = {
  status: string;
  loan_count: number;
  pay_token_decimals: number;
  /** the indexed OfferingClosed's chain time, as a UTC date (null: not indexed) */
  closed_on: string | null;
  published_on: string | null;
  created_on: string;
};

/**
 * The period of the next report of a portfolio, from the request and the stored reports (read under the
 * portfolio's row lock): `periodEnd` defaults to `today`; `periodStart` to the day after the latest stored
 * `periodEnd`, or for the first report the offering's close date (indexed), else the publish date, else
 * the day the portfolio was created. 400 for a bad request (`periodRequestProblems`; a first report whose
 * default start is after its end), 409 `PERIOD_OVERLAP` when it does not start after the latest period.
 */
async function resolvePeriod(
  client: pg.ClientBase,
  portfolioId: string,
  portfolio: PortfolioRow,
  request: ReportPeriodRequest,
  today: string,
): Promise<{ start: string; end: string }> {
  const problems = periodRequestProblems(request, today);
  if (problems.length > 0) throw periodInvalid(problems);
  const { rows } = await client.query<{ id: string; period_start: string; period_end: string }>(
    `SELECT id, to_char(period_start, 'YYYY-MM-DD') AS period_start, to_char(period_end, 'YYYY-MM-DD') AS period_end
       FROM remittance_report WHERE portfolio_id = $1 ORDER BY period_end DESC, created_at DESC LIMIT 1`,
    [portfolioId],
  );
  const latest = rows[0];
  const end = request.periodEnd ?? today;
  const start =
    request.periodStart ??
    (latest === undefined
      ? (portfolio.closed_on ?? portfolio.published_on ?? portfolio.created_on)
      : nextDay(latest.period_end));
  if (latest !== undefined && (start <= latest.period_end || start > end)) {
    const next = nextDay(latest.period_end);
    throw new ConflictError(
      `The reporting period ${periodLabel(start, end)} does not start after the previous report's ` +
        `(${latest.id}, ${periodLabel(latest.period_start, latest.period_end)}): periods follow one ` +
        `another, the next one starts on ${next} at the earliest`,
      {
        details: {
          reason: 'PERIOD_OVERLAP',
          periodStart: start,
          periodEnd: end,
          previous: { id: latest.id, periodStart: latest.period_start, periodEnd: latest.period_end },
        },
      },
    );
  }
  if (start > end) {
    const from =
      portfolio.closed_on !== null
        ? "the offering's close date"
        : portfolio.published_on !== null
          ? 'the publish date'
          : 'the creation date';
    throw periodInvalid([
      {
        path: 'querystring.periodStart',
        message: `is required: its default, ${from} (${start}), is after periodEnd (${end})`,
      },
    ]);
  }
  return { start, end };
}

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
    // the tape, the status, the reports and the loans' state do not change while the report is read: a
    // concurrent report of the portfolio waits here until this one committed or rolled back
    const { rows } = await client.query<PortfolioRow>(
      `SELECT p.status, p.loan_count, p.pay_token_decimals,
              to_char(p.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS published_on,
              to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS created_on,
              (SELECT to_char(to_timestamp(e.closed_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                 FROM offering_closed_event e
                WHERE e.chain_id = p.chain_id AND lower(e.portfolio) = lower(p.portfolio_address)
                ORDER BY e.block_number, e.log_index LIMIT 1) AS closed_on
         FROM portfolio p WHERE p.id = $1 FOR NO KEY UPDATE OF p`,
      [portfolioId],
    );
    if (rows.length === 0) throw new NotFoundError('Portfolio', portfolioId);
    assertReportable({ status: rows[0].status, loanCount: rows[0].loan_count });
    const decimals = rows[0].pay_token_decimals;
    const requested = parameters.period ?? {};
    const earlier = await findExisting(client);
    if (earlier !== null) {
      // a retry: the stored report, unless it asks for another period than the stored one
      const other =
        (requested.periodStart !== undefined && requested.periodStart !== earlier.periodStart) ||
        (requested.periodEnd !== undefined && requested.periodEnd !== earlier.periodEnd);
      await client.query('ROLLBACK');
      if (other) {
        throw new ConflictError(
          `The same bytes were stored as report ${earlier.id} for the period ` +
            `${periodLabel(earlier.periodStart, earlier.periodEnd)}`,
          {
            details: {
              reason: 'REPORT_EXISTS',
              report: { id: earlier.id, periodStart: earlier.periodStart, periodEnd: earlier.periodEnd },
            },
          },
        );
      }
      return { report: earlier, existing: true };
    }
    const period = await resolvePeriod(
      client,
      portfolioId,
      rows[0],
      requested,
      parameters.today ?? utcToday(),
    );
    const periodText = periodLabel(period.start, period.end);

    // every loan of the tape, in tape order: the data row of the report that names it (0: not yet)
    const { rows: loans } = await client.query<{
      loan_id: string;
      resolution: ResolutionKind | null;
      resolution_report_id: string | null;
    }>(
      'SELECT loan_id, resolution, resolution_report_id FROM loan WHERE portfolio_id = $1 ORDER BY row_number',
      [portfolioId],
    );
    const seenAt = new Map<string, number>();
    // the loans resolved by earlier reports: their resolution and the report that gave it
    const resolvedBefore = new Map<string, { resolution: ResolutionKind; reportId: string | null }>();
    for (const { loan_id, resolution, resolution_report_id } of loans) {
      seenAt.set(loan_id, 0);
      if (resolution !== null) resolvedBefore.set(loan_id, { resolution, reportId: resolution_report_id });
    }
    const reportPeriods = new Map<string, string>();
    if (resolvedBefore.size > 0) {
      const { rows: reports } = await client.query<{ id: string; period_start: string; period_end: string }>(
        `SELECT id, to_char(period_start, 'YYYY-MM-DD') AS period_start, to_char(period_end, 'YYYY-MM-DD') AS period_end
           FROM remittance_report WHERE portfolio_id = $1`,
        [portfolioId],
      );
      for (const r of reports) reportPeriods.set(r.id, periodLabel(r.period_start, r.period_end));
    }
    const resolvedBy = (prior: { resolution: ResolutionKind; reportId: string | null }) =>
      prior.reportId === null
        ? `the loan was resolved (${prior.resolution}) by an earlier remittance report`
        : `the loan was resolved (${prior.resolution}) by remittance report ${prior.reportId} ` +
          `(period ${reportPeriods.get(prior.reportId) ?? 'unknown'})`;

    let reportId: string;
    try {
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO remittance_report
           (portfolio_id, sha256, size, total, loan_count, resolved_count, period_start, period_end, submitted_by)
         VALUES ($1, $2, $3, 0, 0, 0, $4, $5, $6) RETURNING id`,
        [portfolioId, sha256, size, period.start, period.end, parameters.submittedBy],
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
      // the loan's resolution by an earlier report, if any
      let prior: { resolution: ResolutionKind; reportId: string | null } | undefined;
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
        else {
          seenAt.set(loanIdRaw, row);
          prior = resolvedBefore.get(loanIdRaw);
        }
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
        else if (amount > 0n && prior !== undefined)
          report({
            row,
            column: 'collected',
            value: collectedRaw,
            reason: `${resolvedBy(prior)}: a resolved loan cannot collect again`,
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
      else if (date.value !== null && (date.value < period.start || date.value > period.end))
        report({
          row,
          column: 'collected_on',
          value: dateRaw,
          reason: `is outside the report's period, ${periodText}`,
        });
      const resolution = validateCell(resolutionColumn, resolutionRaw);
      if (!resolution.ok)
        report({ row, column: 'resolution', value: resolutionRaw, reason: resolution.reason });
      else if (prior !== undefined && resolution.value !== null && resolution.value !== prior.resolution)
        report({
          row,
          column: 'resolution',
          value: resolutionRaw,
          reason: `${resolvedBy(prior)}: its resolution cannot change`,
        });
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

    // the loans' state: what they collected, and the first resolution (this report's period end and id)
    await client.query(
      `UPDATE loan l
          SET collected_to_date = l.collected_to_date + r.collected,
              resolution = COALESCE(l.resolution, r.resolution),
              resolved_at = CASE WHEN l.resolution IS NULL AND r.resolution IS NOT NULL THEN $2::date
                                 ELSE l.resolved_at END,
              resolution_report_id = CASE WHEN l.resolution IS NULL AND r.resolution IS NOT NULL THEN r.report_id
                                          ELSE l.resolution_report_id END
         FROM remittance_report_line r
        WHERE r.report_id = $1 AND l.portfolio_id = r.portfolio_id AND l.loan_id = r.loan_id
          AND (r.collected > 0 OR (r.resolution IS NOT NULL AND l.resolution IS NULL))`,
      [reportId, period.end],
    );

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
    periodStart: r.periodStart.toISOString().slice(0, 10),
    periodEnd: r.periodEnd.toISOString().slice(0, 10),
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
