import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loanTapeColumns, validateCell } from '../../core/catalog/loan-tape/rules.ts';
import {
  generateDataRoom,
  generateLoanTape,
  loanTapeStats,
  minimalPdf,
  SYNTHETIC_TAPE_COLUMNS,
} from '../../core/catalog/synthetic-portfolio.ts';

const sha = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

describe('generateLoanTape()', () => {
  const tape = generateLoanTape({ seed: 'unit', loans: 5_000 });

  it('gives the same tape for the same seed, byte for byte, and another for another seed', () => {
    expect(sha(generateLoanTape({ seed: 'unit', loans: 5_000 }).csv)).toBe(sha(tape.csv));
    expect(sha(generateLoanTape({ seed: 'unit2', loans: 5_000 }).csv)).not.toBe(sha(tape.csv));
    // the first rows do not depend on how many follow
    const short = generateLoanTape({ seed: 'unit', loans: 10 });
    expect(tape.csv.startsWith(short.csv.split('\n').slice(0, 11).join('\n'))).toBe(true);
  });

  it('follows LOAN_TAPE.md: the header, one row per loan, every cell valid, unique loan ids', () => {
    const rows = tape.csv.trimEnd().split('\n');
    expect(rows[0]).toBe(SYNTHETIC_TAPE_COLUMNS.join(','));
    expect(rows.length).toBe(5_001);
    expect(SYNTHETIC_TAPE_COLUMNS).toEqual(loanTapeColumns.map((c) => c.name));
    const problems: string[] = [];
    for (const [i, loan] of tape.loans.entries()) {
      for (const column of loanTapeColumns) {
        const cell = loan[column.name as keyof typeof loan];
        if (cell.includes(',')) problems.push(`row ${i + 1} ${column.name}: comma`);
        const checked = validateCell(column, cell);
        if (!checked.ok) problems.push(`row ${i + 1} ${column.name}=${cell}: ${checked.reason}`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(new Set(tape.loans.map((l) => l.loan_id)).size).toBe(5_000);
  });

  it('is consistent the way a real NPL tape is: dates in order, days past due from the default, collateral with its value', () => {
    const cutoff = Date.parse('2025-09-30T00:00:00Z');
    for (const loan of tape.loans) {
      const origination = Date.parse(loan.origination_date);
      const defaulted = Date.parse(loan.date_of_default);
      expect(origination).toBeLessThan(defaulted);
      expect(defaulted).toBeLessThan(cutoff);
      if (loan.last_payment_date !== '') {
        expect(Date.parse(loan.last_payment_date)).toBeLessThanOrEqual(defaulted);
        expect(Date.parse(loan.last_payment_date)).toBeGreaterThan(origination);
      }
      expect(Number(loan.days_past_due)).toBe(Math.round((cutoff - defaulted) / 86_400_000) + 90);
      expect(Number(loan.legal_balance)).toBeGreaterThanOrEqual(Number(loan.principal_balance));
      const secured = loan.collateral_type !== 'none';
      expect(loan.collateral_value !== '').toBe(secured);
      expect(loan.collateral_valuation_date !== '').toBe(secured);
      if (loan.asset_class === 'residential_mortgage') expect(loan.collateral_type).toBe('residential');
      if (loan.asset_class === 'consumer') expect(loan.borrower_type).toBe('household');
    }
    // several loans share a borrower, and the mix is spread over asset classes and countries
    expect(tape.stats.borrowerCount).toBeLessThan(5_000);
    expect(tape.stats.borrowerCount).toBeGreaterThan(3_500);
    expect(Object.keys(tape.stats.byAssetClass).length).toBe(6);
    expect(Object.keys(tape.stats.byJurisdiction).length).toBeGreaterThanOrEqual(5);
  });

  it('sums the stratification from the rows', () => {
    const stats = loanTapeStats(tape.loans);
    const upb = tape.loans.reduce((sum, l) => sum + BigInt(l.principal_balance.replace('.', '')), 0n);
    expect(stats.totalUpbCents).toBe(upb);
    const byClass = Object.values(stats.byAssetClass).reduce((sum, b) => sum + b.upbCents, 0n);
    expect(byClass).toBe(upb);
    expect(Object.values(stats.byLegalStatus).reduce((n, b) => n + b.count, 0)).toBe(5_000);
  });

  it('refuses a bad size or cut-off date', () => {
    expect(() => generateLoanTape({ seed: 1, loans: 0 })).toThrow(/loans/);
    expect(() => generateLoanTape({ seed: 1, cutoffDate: 'soon' })).toThrow(/cutoffDate/);
  });
});

describe('generateDataRoom()', () => {
  it('makes a valid one-page PDF (xref offsets point at the objects) and text reports, deterministic', () => {
    const tape = generateLoanTape({ seed: 'docs', loans: 50 });
    const parameters = {
      seed: 'docs',
      portfolioName: 'Test (ünïcode)',
      stats: tape.stats,
      tranches: [{ name: 'Senior', symbol: 'S', face: '1,000.00', couponBps: 500, priceBps: 10_000 }],
    };
    const documents = generateDataRoom(parameters);
    expect(documents.map((d) => d.filename)).toEqual([
      'offering-memorandum.pdf',
      'stratification.txt',
      'servicing-summary.txt',
    ]);
    expect(generateDataRoom(parameters).map((d) => sha(d.bytes))).toEqual(documents.map((d) => sha(d.bytes)));
    const pdf = new TextDecoder().decode(documents[0].bytes);
    expect(pdf.startsWith('%PDF-1.4\n')).toBe(true);
    expect(pdf.endsWith('%%EOF\n')).toBe(true);
    const xrefAt = Number(pdf.match(/startxref\n(\d+)\n/)?.[1]);
    expect(pdf.slice(xrefAt, xrefAt + 4)).toBe('xref');
    const offsets = [...pdf.slice(xrefAt).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    expect(offsets.length).toBe(5);
    offsets.forEach((offset, i) => {
      expect(pdf.slice(offset, offset + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`);
    });
    expect(new TextDecoder().decode(minimalPdf(['a (b) \\ c']))).toContain('(a \\(b\\) \\\\ c)');
    expect(new TextDecoder().decode(documents[1].bytes)).toContain('50 loans');
  });
});
