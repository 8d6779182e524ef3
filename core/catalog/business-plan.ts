/**
 * The business plan of a draft (waterfall spec v2's trigger): the CSV the issuer uploads
 * (`months_after_close,cumulative_collections`), or the same points as JSON, turned into
 * `{ atSeconds, cumulative }` points in pay-token base units, checked by the domain's rules
 * (core/domain/waterfall.ts `validateBusinessPlan`) and stored as a whole in one transaction.
 *
 * The CSV is read with the loan tape's reader (`CsvRecordReader`, the same csv-parse options) and its
 * cells with the loan tape's validators (`validateCell`: a month is a whole number, an amount a decimal
 * of at most 20 digits and 4 decimals); a bad file answers the loan tape's 422 (`tableRejected`), one
 * `{ row, column, value, reason }` per bad cell (plus `path` for a JSON body), and stores nothing.
 */
import type { PrismaClient } from '../db/index.ts';
import {
  type BusinessPlanPoint,
  MAX_BUSINESS_PLAN_POINTS,
  SECONDS_PER_YEAR,
  validateBusinessPlan,
} from '../domain/waterfall.ts';
import { ConflictError, NotFoundError } from '../platform/errors/index.ts';
import { CsvRecordReader } from './loan-tape/csv-records.ts';
import { type LoanTapeError, tableRejected } from './loan-tape/ingest.ts';
import { type LoanTapeColumn, validateCell } from './loan-tape/rules.ts';

/** One month of the business plan: a twelfth of the waterfall's year (365 days), 2,628,000 s. */
export const BUSINESS_PLAN_MONTH_SECONDS = Number(SECONDS_PER_YEAR / 12n);
/** The latest month a point may have (100 years after the close). */
export const MAX_BUSINESS_PLAN_MONTHS = 1_200;
/** The latest `atSeconds` a point may have: MAX_BUSINESS_PLAN_MONTHS months. */
export const MAX_BUSINESS_PLAN_SECONDS = MAX_BUSINESS_PLAN_MONTHS * BUSINESS_PLAN_MONTH_SECONDS;
/** Bytes a business-plan CSV may have (64 points take about 2 KiB). */
export const BUSINESS_PLAN_MAX_BYTES = 64 * 1024;

export const businessPlanCsvColumns = [
  { name: 'months_after_close', required: true, type: { kind: 'integer', min: 0 } },
  { name: 'cumulative_collections', required: true, type: { kind: 'decimal' } },
] as const satisfies readonly LoanTapeColumn[];

/** A bad cell; `path` names the JSON field of a JSON body (null for the CSV). */
export type BusinessPlanError = LoanTapeError & { path: string | null };

/** A stored point: base units as decimal strings, as the API answers them. */
export type StoredBusinessPlanPoint = { atSeconds: number; cumulative: string };

/**
 * `amount` (a decimal of the loan tape's `decimal` cell: digits, an optional dot and up to 4 decimals)
 * in base units of a token with `decimals`, exactly; null when it has more decimals than the token.
 */
export function decimalToBaseUnits(amount: string, decimals: number): bigint | null {
  const [whole, fraction = ''] = amount.split('.');
  const significant = fraction.replace(/0+$/, '');
  if (significant.length > decimals) return null;
  return BigInt(whole + significant.padEnd(decimals, '0'));
}

/** The points' rule errors (domain `validateBusinessPlan`), per cell: `row` is the 1-based point. */
function ruleErrors(
  points: readonly BusinessPlanPoint[],
  planPath: string | null,
  cell: (
    index: number,
    field: 'atSeconds' | 'cumulative',
  ) => { column: string; value: string; path: string | null },
): BusinessPlanError[] {
  return validateBusinessPlan(points).map((issue) => {
    const m = /^businessPlan\[(\d+)\]\.(atSeconds|cumulative)$/.exec(issue.field);
    if (m === null) {
      // the whole plan (no point, or more than MAX_BUSINESS_PLAN_POINTS)
      const row = points.length > MAX_BUSINESS_PLAN_POINTS ? MAX_BUSINESS_PLAN_POINTS + 1 : 1;
      return { row, column: null, value: null, reason: issue.message, path: planPath };
    }
    const index = Number(m[1]);
    return { row: index + 1, ...cell(index, m[2] as 'atSeconds' | 'cumulative'), reason: issue.message };
  });
}

/**
 * Reads a business-plan CSV: the header `months_after_close,cumulative_collections` (any case and
 * order, no other column), then one point per row, months → `atSeconds` (× BUSINESS_PLAN_MONTH_SECONDS),
 * currency units → base units (× 10^payTokenDecimals, exactly). Throws the 422 with every bad cell.
 */
export function parseBusinessPlanCsv(csv: Buffer, payTokenDecimals: number): BusinessPlanPoint[] {
  const errors: BusinessPlanError[] = [];
  const report = (e: Omit<BusinessPlanError, 'path'>) => errors.push({ ...e, path: null });
  const points: BusinessPlanPoint[] = [];
  const raws: [string, string][] = [];
  let positions: number[] | null | undefined;
  let width = 0;
  let row = 0;
  const handle = (record: string[]) => {
    if (positions === undefined) {
      const names = record.map((h) => h.trim().toLowerCase());
      width = names.length;
      positions = businessPlanCsvColumns.map((c) => names.indexOf(c.name));
      const known = new Set<string>(businessPlanCsvColumns.map((c) => c.name));
      names.forEach((name, i) => {
        if (!known.has(name))
          report({ row: 0, column: name || null, value: record[i], reason: 'unknown column in the header' });
        else if (names.indexOf(name) !== i)
          report({ row: 0, column: name, value: record[i], reason: 'column appears twice in the header' });
      });
      businessPlanCsvColumns.forEach((c, i) => {
        if (positions![i] < 0)
          report({ row: 0, column: c.name, value: null, reason: 'required column missing from the header' });
      });
      if (errors.length > 0) positions = null;
      return;
    }
    if (positions === null) return;
    row++;
    if (record.length !== width) {
      report({
        row,
        column: null,
        value: null,
        reason: `has ${record.length} cells; the header has ${width}`,
      });
      return;
    }
    const [monthRaw, amountRaw] = positions.map((at) => record[at].trim());
    raws.push([monthRaw, amountRaw]);
    const month = validateCell(businessPlanCsvColumns[0], monthRaw);
    const amount = validateCell(businessPlanCsvColumns[1], amountRaw);
    let atSeconds: number | undefined;
    let cumulative: bigint | null | undefined;
    if (!month.ok) report({ row, column: 'months_after_close', value: monthRaw, reason: month.reason });
    else if (Number(month.value) > MAX_BUSINESS_PLAN_MONTHS)
      report({
        row,
        column: 'months_after_close',
        value: monthRaw,
        reason: `must be at most ${MAX_BUSINESS_PLAN_MONTHS}`,
      });
    else atSeconds = Number(month.value) * BUSINESS_PLAN_MONTH_SECONDS;
    if (!amount.ok)
      report({ row, column: 'cumulative_collections', value: amountRaw, reason: amount.reason });
    else {
      cumulative = decimalToBaseUnits(amount.value!, payTokenDecimals);
      if (cumulative === null)
        report({
          row,
          column: 'cumulative_collections',
          value: amountRaw,
          reason: `has more decimals than the pay token's ${payTokenDecimals}`,
        });
    }
    if (atSeconds !== undefined && typeof cumulative === 'bigint') points.push({ atSeconds, cumulative });
  };
  const reader = new CsvRecordReader(handle);
  try {
    reader.write(csv);
    reader.end();
  } catch (error) {
    report({ row: row + 1, column: null, value: null, reason: `not valid CSV: ${(error as Error).message}` });
  }
  if (positions === undefined)
    report({ row: 0, column: null, value: null, reason: 'the file is empty; a header row is required' });
  else if (positions !== null && row === 0)
    report({ row: 1, column: null, value: null, reason: 'the business plan has no points' });
  if (errors.length === 0) {
    errors.push(
      ...ruleErrors(points, null, (index, field) => {
        const column = field === 'atSeconds' ? 'months_after_close' : 'cumulative_collections';
        return { column, value: raws[index]?.[field === 'atSeconds' ? 0 : 1] ?? '', path: null };
      }),
    );
  }
  if (errors.length > 0) throw tableRejected('Business plan', errors.length, errors.slice(0, 1_000));
  return points;
}

/** The JSON plan's rule errors as the CSV's (422, per point and field, with its `body.businessPlan.i.field` path). */
export function checkBusinessPlanJson(points: readonly BusinessPlanPoint[]): void {
  const errors = ruleErrors(points, 'body.businessPlan', (index, field) => ({
    column: field,
    value: String(points[index]?.[field] ?? ''),
    path: `body.businessPlan.${index}.${field}`,
  }));
  if (errors.length > 0) throw tableRejected('Business plan', errors.length, errors);
}

/** 409 unless the business plan may still change (draft only, as the loan tape). */
export function assertBusinessPlanEditable(status: string): void {
  if (status !== 'draft')
    throw new ConflictError(`Portfolio is ${status}; the business plan can only change in draft`);
}

export type ReplaceBusinessPlanParameters = {
  portfolioId: string;
  points: readonly BusinessPlanPoint[];
  /** sets (or replaces) the trigger's ratio; without it the draft must have a trigger already */
  collectionRatioBps?: number;
};

/**
 * Replaces the draft's business plan (every point, in one transaction under the portfolio's row lock,
 * which re-checks the draft state: a publish request that won the race leaves nothing changed) and sets
 * the trigger's ratio when given. 409 when the portfolio is no longer a draft, or has no trigger and no
 * ratio was given.
 */
export async function replaceBusinessPlan(
  prisma: PrismaClient,
  parameters: ReplaceBusinessPlanParameters,
): Promise<{ collectionRatioBps: number; businessPlan: StoredBusinessPlanPoint[] }> {
  const { portfolioId, points, collectionRatioBps } = parameters;
  return prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ status: string; trigger_collection_ratio_bps: number | null }[]>`
      SELECT status, trigger_collection_ratio_bps FROM portfolio WHERE id = ${portfolioId}::uuid FOR UPDATE`;
    if (rows.length === 0) throw new NotFoundError('Portfolio', portfolioId);
    assertBusinessPlanEditable(rows[0].status);
    const ratio = collectionRatioBps ?? rows[0].trigger_collection_ratio_bps;
    if (ratio === null) {
      throw new ConflictError(
        'The portfolio has no trigger: create the draft with trigger.collectionRatioBps, or send collectionRatioBps with the JSON business plan',
        { details: { missing: ['trigger.collectionRatioBps'] } },
      );
    }
    await tx.businessPlanPoint.deleteMany({ where: { portfolioId } });
    await tx.businessPlanPoint.createMany({
      data: points.map((p, position) => ({
        portfolioId,
        position,
        atSeconds: BigInt(p.atSeconds),
        cumulative: p.cumulative.toString(),
      })),
    });
    await tx.portfolio.update({ where: { id: portfolioId }, data: { triggerCollectionRatioBps: ratio } });
    return {
      collectionRatioBps: ratio,
      businessPlan: points.map((p) => ({
        atSeconds: Number(p.atSeconds),
        cumulative: p.cumulative.toString(),
      })),
    };
  });
}
