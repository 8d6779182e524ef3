import { Readable } from 'node:stream';
import { loanTapeColumns } from '../../core/catalog/loan-tape/rules.ts';

/**
 * Synthetic loan tapes in the format of docs/loan-tape.md, deterministic in the row index, for
 * tests and benchmarks. `loanTapeStream` never holds the whole tape in memory.
 */

export const LOAN_TAPE_HEADER: string[] = loanTapeColumns.map((c) => c.name);

const borrowers = ['household', 'sme', 'corporate'];
const assets = ['residential_mortgage', 'commercial_real_estate', 'corporate', 'consumer', 'auto', 'other'];
const legal = ['none', 'out_of_court', 'in_court', 'insolvency', 'settled'];
const countries = ['IT', 'ES', 'GR', 'PT', 'IE'];
const collateral = ['residential', 'commercial', 'land', 'vehicle', 'other', 'none'];
const dates = Array.from({ length: 3000 }, (_, i) =>
  new Date(Date.UTC(2012, 0, 1) + i * 86_400_000).toISOString().slice(0, 10),
);

/** Loan `i` (0-based) as CSV cells in LOAN_TAPE_HEADER order. */
export function loanRow(i: number): string[] {
  const upb = 1_000 + ((i * 7_919) % 499_000);
  const cents = (i * 13) % 100;
  const hasCollateral = i % 4 !== 3;
  return [
    `L${String(i).padStart(8, '0')}`,
    i % 5 === 0 ? '' : `C${Math.floor(i / 2)}`,
    borrowers[i % 3],
    assets[i % 6],
    'EUR',
    dates[i % 2000],
    `${upb}.${String(cents).padStart(2, '0')}`,
    i % 2 === 0 ? `${(upb * 0.07).toFixed(2)}` : '',
    `${upb + 500}.00`,
    String(90 + (i % 1_500)),
    dates[2000 + (i % 900)],
    i % 3 === 0 ? '' : dates[2100 + (i % 800)],
    legal[i % 5],
    countries[i % 5],
    hasCollateral ? collateral[i % 5] : 'none',
    hasCollateral ? `${Math.floor(upb * 1.3)}` : '',
    hasCollateral ? dates[2500 + (i % 400)] : '',
    hasCollateral ? String(1 + (i % 3)) : '',
  ];
}

export type LoanTapeOptions = {
  rows: number;
  /** line ending, default '\n' */
  eol?: string;
  bom?: boolean;
  /** extra unknown columns appended to every row: header -> value of row i */
  extra?: Record<string, (i: number) => string>;
  header?: string[];
  /** rewrite a row's cells (by header name) before it is written */
  edit?: (i: number, cells: Record<string, string>) => void;
};

function rowText(i: number, o: LoanTapeOptions, eol: string): string {
  let cells = loanRow(i);
  const extra = o.extra ? Object.values(o.extra).map((f) => f(i)) : [];
  if (o.edit) {
    const byName: Record<string, string> = Object.fromEntries(LOAN_TAPE_HEADER.map((h, k) => [h, cells[k]]));
    o.edit(i, byName);
    cells = LOAN_TAPE_HEADER.map((h) => byName[h]);
  }
  const all = [...cells, ...extra];
  return all.map((c) => (/[",\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(',') + eol;
}

export function loanTapeHeader(o: LoanTapeOptions): string {
  const eol = o.eol ?? '\n';
  const header = o.header ?? [...LOAN_TAPE_HEADER, ...Object.keys(o.extra ?? {})];
  return (o.bom ? '\uFEFF' : '') + header.join(',') + eol;
}

/** The whole tape as a string (small tapes). */
export function loanTapeCsv(o: LoanTapeOptions): string {
  const eol = o.eol ?? '\n';
  let out = loanTapeHeader(o);
  for (let i = 0; i < o.rows; i++) out += rowText(i, o, eol);
  return out;
}

/** The tape as a stream of ~64 KB chunks. */
export function loanTapeStream(o: LoanTapeOptions): Readable {
  const eol = o.eol ?? '\n';
  let i = 0;
  let headerSent = false;
  return new Readable({
    read() {
      let chunk = headerSent ? '' : loanTapeHeader(o);
      headerSent = true;
      while (i < o.rows && chunk.length < 65_536) chunk += rowText(i++, o, eol);
      this.push(chunk === '' ? null : Buffer.from(chunk, 'utf8'));
      if (i >= o.rows && chunk !== '') this.push(null);
    },
  });
}
