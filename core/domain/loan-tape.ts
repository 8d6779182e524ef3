/**
 * Loan tape v1 (shared/LOAN_TAPE.md): the columns, and pure validators that turn one CSV cell
 * into the text Postgres stores (or a reason it is invalid). No I/O: the streaming parser and the
 * COPY into Postgres live in core/db/loan-tape.ts.
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
