/**
 * Loan tape v1 (docs/loan-tape.md): the columns, and pure validators that turn one CSV cell
 * into the text Postgres stores (or a reason it is invalid). No I/O: the streaming parser and the
 * COPY into Postgres live in core/catalog/loan-tape/ingest.ts.
 */

export const borrowerTypes = ['household', 'sme', 'corporate'] as const;
export const loanAssetClasses = [
  'residential_mortgage',
  'commercial_real_estate',
  'corporate',
  'consumer',
  'auto',
  'other',
] as const;
export const legalStatuses = ['none', 'out_of_court', 'in_court', 'insolvency', 'settled'] as const;
export const collateralTypes = ['residential', 'commercial', 'land', 'vehicle', 'other', 'none'] as const;

/** A cell's stored text (COPY text format, `null` for SQL NULL), or the reason it is invalid. */
export type CellResult = { ok: true; value: string | null } | { ok: false; reason: string };

export type ColumnType =
  | { kind: 'text'; maxLength: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'currency' }
  | { kind: 'country' }
  | { kind: 'date' }
  | { kind: 'decimal' }
  | { kind: 'integer'; min: number };

export type LoanTapeColumn = {
  /** CSV header (lower case) and database column */
  name: string;
  required: boolean;
  type: ColumnType;
};

/** In database column order (after portfolio_id, which the tape does not carry). */
export const loanTapeColumns: readonly LoanTapeColumn[] = [
  { name: 'loan_id', required: true, type: { kind: 'text', maxLength: 200 } },
  { name: 'counterparty_id', required: false, type: { kind: 'text', maxLength: 200 } },
  { name: 'borrower_type', required: true, type: { kind: 'enum', values: borrowerTypes } },
  { name: 'asset_class', required: true, type: { kind: 'enum', values: loanAssetClasses } },
  { name: 'currency', required: true, type: { kind: 'currency' } },
  { name: 'origination_date', required: true, type: { kind: 'date' } },
  { name: 'principal_balance', required: true, type: { kind: 'decimal' } },
  { name: 'accrued_interest', required: false, type: { kind: 'decimal' } },
  { name: 'legal_balance', required: false, type: { kind: 'decimal' } },
  { name: 'days_past_due', required: true, type: { kind: 'integer', min: 0 } },
  { name: 'date_of_default', required: false, type: { kind: 'date' } },
  { name: 'last_payment_date', required: false, type: { kind: 'date' } },
  { name: 'legal_status', required: true, type: { kind: 'enum', values: legalStatuses } },
  { name: 'jurisdiction', required: true, type: { kind: 'country' } },
  { name: 'collateral_type', required: false, type: { kind: 'enum', values: collateralTypes } },
  { name: 'collateral_value', required: false, type: { kind: 'decimal' } },
  { name: 'collateral_valuation_date', required: false, type: { kind: 'date' } },
  { name: 'lien_position', required: false, type: { kind: 'integer', min: 1 } },
];

export const requiredLoanTapeColumns = loanTapeColumns.filter((c) => c.required).map((c) => c.name);

/** NUMERIC(24,4): up to 20 integer digits and 4 decimals. */
const DECIMAL = /^\d{1,20}(?:\.\d{1,4})?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INTEGER = /^\d{1,9}$/;

let currencies: Set<string> | undefined;
const countries = new Map<string, boolean>();
let regionNames: Intl.DisplayNames | undefined;

/** ISO 4217 codes known to the runtime's ICU data. */
export function isCurrencyCode(code: string): boolean {
  currencies ??= new Set(Intl.supportedValuesOf('currency'));
  return currencies.has(code);
}

/** CLDR regions that are not ISO 3166-1 alpha-2 country codes (reserved, groupings, unknown). */
const NOT_COUNTRIES = new Set(['AC', 'CP', 'DG', 'EA', 'EU', 'EZ', 'IC', 'QO', 'TA', 'UK', 'UN', 'ZZ']);

/** ISO 3166-1 alpha-2 codes known to the runtime's ICU data (unknown codes echo back unchanged). */
export function isCountryCode(code: string): boolean {
  if (!/^[A-Z]{2}$/.test(code) || NOT_COUNTRIES.has(code)) return false;
  let known = countries.get(code);
  if (known === undefined) {
    regionNames ??= new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });
    known = regionNames.of(code) !== code;
    countries.set(code, known);
  }
  return known;
}

const OK_NULL: CellResult = { ok: true, value: null };

/** Validates one trimmed cell; an empty cell is NULL for optional columns. */
export function validateCell(column: LoanTapeColumn, raw: string): CellResult {
  if (raw === '') return column.required ? { ok: false, reason: 'is required' } : OK_NULL;
  const type = column.type;
  switch (type.kind) {
    case 'text':
      return raw.length > type.maxLength
        ? { ok: false, reason: `longer than ${type.maxLength} characters` }
        : { ok: true, value: raw };
    case 'enum': {
      const v = raw.toLowerCase();
      return type.values.includes(v)
        ? { ok: true, value: v }
        : { ok: false, reason: `must be one of ${type.values.join(', ')}` };
    }
    case 'currency':
      return isCurrencyCode(raw)
        ? { ok: true, value: raw }
        : { ok: false, reason: 'must be an ISO 4217 code' };
    case 'country':
      return isCountryCode(raw)
        ? { ok: true, value: raw }
        : { ok: false, reason: 'must be an ISO 3166-1 alpha-2 code' };
    case 'date': {
      const m = DATE.exec(raw);
      if (m !== null) {
        const y = Number(m[1]);
        const mo = Number(m[2]);
        const d = Number(m[3]);
        const t = new Date(Date.UTC(y, mo - 1, d));
        if (y >= 1900 && y <= 2200 && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d)
          return { ok: true, value: raw };
      }
      return { ok: false, reason: 'must be a date YYYY-MM-DD' };
    }
    case 'decimal':
      if (DECIMAL.test(raw)) return { ok: true, value: raw };
      if (/^-\d/.test(raw)) return { ok: false, reason: 'must not be negative' };
      return {
        ok: false,
        reason: 'must be a decimal number (at most 20 digits and 4 decimals, dot separator)',
      };
    case 'integer':
      if (INTEGER.test(raw) && Number(raw) >= type.min) return { ok: true, value: String(Number(raw)) };
      if (/^-\d/.test(raw)) return { ok: false, reason: 'must not be negative' };
      return { ok: false, reason: `must be a whole number >= ${type.min}` };
  }
}

/** What a compiled cell check answers for a cell `validateCell` rejects (ask `validateCell` for the reason). */
export const INVALID_CELL: unique symbol = Symbol('invalid cell');

/** A cell's stored text, `null` for SQL NULL, or `INVALID_CELL`. */
export type CellCheck = (raw: string) => string | null | typeof INVALID_CELL;

const DIGIT_0 = 48;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `at` as a number, or -1. */
function twoDigits(s: string, at: number): number {
  const a = s.charCodeAt(at) - DIGIT_0;
  const b = s.charCodeAt(at + 1) - DIGIT_0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** `YYYY-MM-DD`, a real day of the (proleptic Gregorian) calendar in 1900..2200: `validateCell`'s date rule. */
function isTapeDate(s: string): boolean {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  const c = twoDigits(s, 0);
  const y2 = twoDigits(s, 2);
  const m = twoDigits(s, 5);
  const d = twoDigits(s, 8);
  if (c < 0 || y2 < 0 || m < 1 || m > 12 || d < 1) return false;
  const y = c * 100 + y2;
  if (y < 1900 || y > 2200) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1]);
}

/**
 * `validateCell` for one column as a function that allocates nothing per cell (the loan-tape ingest
 * runs it for every cell of a million-row tape): the same accepted cells and stored text, without the
 * reason of a rejection. test/unit/loan-tape-checks.test.ts holds it to `validateCell`.
 */
export function compileCellCheck(column: LoanTapeColumn): CellCheck {
  const required = column.required;
  const type = column.type;
  const empty = required ? INVALID_CELL : null;
  switch (type.kind) {
    case 'text': {
      const max = type.maxLength;
      return (raw) => (raw === '' ? empty : raw.length > max ? INVALID_CELL : raw);
    }
    case 'enum': {
      const values = new Set(type.values);
      return (raw) => {
        if (raw === '') return empty;
        if (values.has(raw)) return raw;
        const lower = raw.toLowerCase();
        return values.has(lower) ? lower : INVALID_CELL;
      };
    }
    case 'currency':
      return (raw) => (raw === '' ? empty : isCurrencyCode(raw) ? raw : INVALID_CELL);
    case 'country':
      return (raw) => (raw === '' ? empty : isCountryCode(raw) ? raw : INVALID_CELL);
    case 'date':
      return (raw) => (raw === '' ? empty : isTapeDate(raw) ? raw : INVALID_CELL);
    case 'decimal':
      return (raw) => (raw === '' ? empty : DECIMAL.test(raw) ? raw : INVALID_CELL);
    case 'integer': {
      const min = type.min;
      return (raw) => {
        if (raw === '') return empty;
        if (!INTEGER.test(raw)) return INVALID_CELL;
        const n = Number(raw);
        if (n < min) return INVALID_CELL;
        return raw.charCodeAt(0) === DIGIT_0 && raw.length > 1 ? String(n) : raw;
      };
    }
  }
}
