import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { LOAN_TAPE_HEADER, loanRow, loanTapeCsv } from '../helpers/loan-tape.ts';

/** CSV edge cases of the loan-tape ingest around its fast path (core/catalog/loan-tape/csv-records.ts). */

let t: TestApp;
let issuer: Headers;

beforeAll(async () => {
  t = await createTestApp();
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
});

afterAll(async () => {
  await t?.close();
});

async function upload(csv: string) {
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    headers: issuer,
    payload: {
      name: 'CSV edge cases',
      assetClass: 'mixed',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000000000',
      servicerAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      fees: { servicerBps: 100, protocolBps: 0 },
      tranches: [{ name: 'Residual', symbol: 'RES', face: '1000000000' }],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const id: string = created.json().id;
  const res = await t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/loan-tape`,
    headers: { ...issuer, 'content-type': 'text/csv' },
    payload: csv,
  });
  return { id, res };
}

const line = (i: number, edit?: (cells: string[]) => void) => {
  const cells = loanRow(i);
  edit?.(cells);
  return cells.join(',');
};

describe('PUT /v1/portfolios/:id/loan-tape, CSV quoting', () => {
  it('stores quoted cells (commas, quotes, line breaks) after many unquoted lines', async () => {
    const rows = Array.from({ length: 2_000 }, (_, i) => line(i));
    rows.push(line(2_000, (c) => (c[1] = '"Rossi, Mario ""Jr""\nline 2"')));
    rows.push(line(2_001));
    const { id, res } = await upload(`${LOAN_TAPE_HEADER.join(',')}\r\n${rows.join('\r\n')}\r\n`);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.json().loanCount).toBe(2_002);
    const loan = await t.db.prisma.loan.findUniqueOrThrow({
      where: { portfolioId_loanId: { portfolioId: id, loanId: 'L00002000' } },
    });
    expect(loan.counterpartyId).toBe('Rossi, Mario "Jr"\nline 2');
    expect(loan.rowNumber).toBe(2_001);
  });

  it('answers 422 naming the CSV line (header + row) for a quote inside an unquoted cell', async () => {
    const csv = loanTapeCsv({ rows: 1_500 }).replace('C700,', 'C7"00,');
    const { res } = await upload(csv);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(422);
    const { errors } = res.json().details;
    expect(errors).toEqual([
      {
        row: 1_402,
        column: null,
        value: null,
        reason: expect.stringMatching(/^not valid CSV: Invalid Opening Quote: .* at line 1403,/),
      },
    ]);
  });

  it('answers 422 for a quote left open at the end of the file', async () => {
    const { res } = await upload(`${loanTapeCsv({ rows: 10 })}${line(10, (c) => (c[1] = '"open'))}\n`);
    expect(res.statusCode).toBe(422);
    expect(res.json().details.errors.at(-1).reason).toMatch(/^not valid CSV: Quote Not Closed/);
  });
});
