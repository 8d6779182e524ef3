import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileCellCheck,
  INVALID_CELL,
  loanTapeColumns,
  validateCell,
} from '../../core/catalog/loan-tape/rules.ts';

const checks = loanTapeColumns.map((column) => ({ column, check: compileCellCheck(column) }));

/** Cells near the edges of every rule: dates, decimals, integers, enums in any case, codes, lengths. */
const cell = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.stringMatching(/^-?\d{1,22}(\.\d{0,6})?$/),
  fc
    .tuple(
      fc.integer({ min: 1890, max: 2210 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    )
    .map(([y, m, d]) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`),
  fc.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
  fc.constantFrom(
    'household',
    'SME',
    'Corporate',
    'in_court',
    'IN_COURT',
    'none',
    'EUR',
    'eur',
    'XYZ',
    'IT',
    'UK',
    'ZZ',
    'it',
    '0',
    '00',
    '007',
    '1',
    '999999999',
    '1000000000',
    '2000-02-29',
    '1900-02-29',
    '2100-02-29',
    '2200-12-31',
    '1899-12-31',
    '１２３',
    '',
  ),
  fc.string({ minLength: 195, maxLength: 205 }),
);

describe('compileCellCheck()', () => {
  it('accepts exactly the cells validateCell() accepts, with the same stored text', () => {
    fc.assert(
      fc.property(cell, (raw) => {
        for (const { column, check } of checks) {
          const expected = validateCell(column, raw);
          const got = check(raw);
          expect(
            got === INVALID_CELL ? { ok: false } : { ok: true, value: got },
            `${column.name} ${raw}`,
          ).toEqual(expected.ok ? { ok: true, value: expected.value } : { ok: false });
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('checks every calendar day of 1899..2201 like validateCell()', () => {
    const date = checks.find((c) => c.column.name === 'origination_date')!;
    for (let y = 1899; y <= 2201; y++)
      for (let m = 0; m <= 13; m++)
        for (let d = 0; d <= 32; d++) {
          const raw = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
          const ok = date.check(raw) !== INVALID_CELL;
          if (ok !== validateCell(date.column, raw).ok) expect.fail(`${raw}: compiled ${ok}`);
        }
  });
});
