import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { allowlist, apiKeyHeaders, type Headers, signIn } from '../helpers/auth.ts';
import { LOAN_TAPE_HEADER, loanTapeCsv, loanTapeStream } from '../helpers/loan-tape.ts';

let t: TestApp;
let issuer: Headers;
let otherIssuer: Headers;

beforeAll(async () => {
  t = await createTestApp();
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
});

afterAll(async () => {
  await t?.close();
});

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

async function createPortfolio(headers: Headers = issuer): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    headers,
    payload: {
      name: 'Tape test',
      assetClass: 'mixed',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000000000',
      servicerAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      fees: { servicerBps: 100, protocolBps: 0 },
      tranches: [{ name: 'Residual', symbol: 'RES', face: '1000000000' }],
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

function put(
  id: string,
  payload: string | Buffer | NodeJS.ReadableStream,
  headers: Record<string, string> = {},
) {
  return t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/loan-tape`,
    headers: { ...issuer, 'content-type': 'text/csv', ...headers },
    payload: payload as string,
  });
}

type TapeError = { row: number; column: string | null; value: string | null; reason: string };

/** Uploads `csv` to a portfolio that already holds a valid 3-loan tape; expects 422 and the old tape intact. */
async function rejected(
  csv: string | Buffer,
): Promise<{ errorCount: number; errors: TapeError[]; truncated: boolean }> {
  const id = await createPortfolio();
  const good = loanTapeCsv({ rows: 3 });
  expect((await put(id, good)).statusCode).toBe(200);
  const res = await put(id, csv);
  expect(res.statusCode, res.body.slice(0, 500)).toBe(422);
  const body = res.json();
  expect(body).toMatchObject({ statusCode: 422, code: 'VALIDATION_FAILED', message: expect.any(String) });
  // all or nothing: the previous tape is untouched
  expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(3);
  const p = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
  expect(p.tapeSha256).toBe(sha256(good));
  expect(p.loanCount).toBe(3);
  return body.details;
}

/** A 2-row tape where `edit` changes the second row's cells. */
const tapeWith = (edit: (cells: Record<string, string>) => void) =>
  loanTapeCsv({ rows: 2, edit: (i, cells) => (i === 1 ? edit(cells) : undefined) });

describe('PUT /v1/portfolios/:id/loan-tape', () => {
  it('stores every loan with typed columns, keeps unknown columns, and the SHA-256 of the bytes', async () => {
    const id = await createPortfolio();
    const csv = loanTapeCsv({
      rows: 25,
      extra: {
        Servicer_Note: (i) => (i === 0 ? 'says "hi", twice\tand a tab' : `note ${i}`),
        region: () => '',
      },
    });
    const res = await put(id, csv);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      portfolioId: id,
      loanCount: 25,
      sha256: sha256(csv),
      size: Buffer.byteLength(csv),
    });
    const loan = await t.db.prisma.loan.findUniqueOrThrow({
      where: { portfolioId_loanId: { portfolioId: id, loanId: 'L00000000' } },
    });
    expect(loan).toMatchObject({
      rowNumber: 1,
      counterpartyId: null,
      borrowerType: 'household',
      assetClass: 'residential_mortgage',
      currency: 'EUR',
      daysPastDue: 90,
      legalStatus: 'none',
      jurisdiction: 'IT',
      collateralType: 'residential',
      lienPosition: 1,
      extra: { servicer_note: 'says "hi", twice\tand a tab' },
    });
    expect(loan.principalBalance.toFixed(2)).toBe('1000.00');
    expect(loan.originationDate.toISOString().slice(0, 10)).toBe('2012-01-01');
    expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(25);
    const p = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(p.tapeSha256).toBe(sha256(csv));
    expect(Number(p.tapeFileSize)).toBe(Buffer.byteLength(csv));
  });

  it('accepts a BOM, CRLF line ends and headers in any case', async () => {
    const id = await createPortfolio();
    const lf = loanTapeCsv({ rows: 4, header: LOAN_TAPE_HEADER.map((h) => h.toUpperCase()) });
    const crlf = `\uFEFF${lf.replaceAll('\n', '\r\n')}`;
    const res = await put(id, Buffer.from(crlf, 'utf8'));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().loanCount).toBe(4);
    expect(res.json().sha256).toBe(sha256(Buffer.from(crlf, 'utf8')));
    const ids = await t.db.prisma.loan.findMany({
      where: { portfolioId: id },
      select: { loanId: true, currency: true },
    });
    expect(ids.map((l) => l.loanId).sort()).toEqual(['L00000000', 'L00000001', 'L00000002', 'L00000003']);
    expect(ids.every((l) => l.currency === 'EUR')).toBe(true);
  });

  it('replaces the previous tape', async () => {
    const id = await createPortfolio();
    expect((await put(id, loanTapeCsv({ rows: 10 }))).statusCode).toBe(200);
    const second = loanTapeCsv({ rows: 3 });
    expect((await put(id, second)).statusCode).toBe(200);
    expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(3);
    const p = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect([p.loanCount, p.tapeSha256]).toEqual([3, sha256(second)]);
  });

  it('rejects a file without a header row', async () => {
    const csv = loanTapeCsv({ rows: 3 }).split('\n').slice(1).join('\n');
    const d = await rejected(csv);
    expect(d.errors).toEqual(
      expect.arrayContaining([
        { row: 0, column: 'loan_id', value: null, reason: 'required column missing from the header' },
      ]),
    );
    expect(d.errors.every((e) => e.row === 0)).toBe(true);
  });

  it('rejects a tape missing a required column', async () => {
    const header = LOAN_TAPE_HEADER.filter((h) => h !== 'currency');
    const csv = loanTapeCsv({ rows: 2, header, edit: () => {} })
      .split('\n')
      .map((line, i) =>
        i === 0
          ? line
          : line
              .split(',')
              .filter((_, k) => k !== 4)
              .join(','),
      )
      .join('\n');
    const d = await rejected(csv);
    expect(d).toEqual({
      errorCount: 1,
      errors: [
        { row: 0, column: 'currency', value: null, reason: 'required column missing from the header' },
      ],
      truncated: false,
    });
  });

  it('rejects a bad number', async () => {
    const d = await rejected(tapeWith((c) => (c.principal_balance = '12,5')));
    expect(d.errors).toEqual([
      {
        row: 2,
        column: 'principal_balance',
        value: '12,5',
        reason: expect.stringContaining('must be a decimal number'),
      },
    ]);
  });

  it('rejects a negative balance', async () => {
    const d = await rejected(tapeWith((c) => (c.principal_balance = '-100.00')));
    expect(d.errors).toEqual([
      { row: 2, column: 'principal_balance', value: '-100.00', reason: 'must not be negative' },
    ]);
  });

  it('rejects a bad date (wrong format and impossible day)', async () => {
    const d = await rejected(
      tapeWith((c) => {
        c.origination_date = '01/02/2020';
        c.date_of_default = '2023-02-30';
      }),
    );
    expect(d.errors).toEqual([
      { row: 2, column: 'origination_date', value: '01/02/2020', reason: 'must be a date YYYY-MM-DD' },
      { row: 2, column: 'date_of_default', value: '2023-02-30', reason: 'must be a date YYYY-MM-DD' },
    ]);
  });

  it('rejects an unknown enum value', async () => {
    const d = await rejected(tapeWith((c) => (c.borrower_type = 'alien')));
    expect(d.errors).toEqual([
      { row: 2, column: 'borrower_type', value: 'alien', reason: 'must be one of household, sme, corporate' },
    ]);
  });

  it('rejects unknown currency and country codes', async () => {
    const d = await rejected(
      tapeWith((c) => {
        c.currency = 'EUX';
        c.jurisdiction = 'XX';
      }),
    );
    expect(d.errors.map((e) => e.column)).toEqual(['currency', 'jurisdiction']);
  });

  it('rejects a duplicate loan_id, naming the first row', async () => {
    const d = await rejected(tapeWith((c) => (c.loan_id = 'L00000000')));
    expect(d.errors).toEqual([
      { row: 2, column: 'loan_id', value: 'L00000000', reason: 'duplicate loan_id (first in row 1)' },
    ]);
  });

  it('rejects an empty file', async () => {
    const d = await rejected('');
    expect(d.errors).toEqual([
      { row: 0, column: null, value: null, reason: 'the file is empty; a header row is required' },
    ]);
  });

  it('rejects a header-only tape', async () => {
    const d = await rejected(loanTapeCsv({ rows: 0 }));
    expect(d.errors[0].reason).toBe('the tape has no loans');
  });

  it('rejects a row with the wrong number of cells', async () => {
    const csv = `${loanTapeCsv({ rows: 2 })}L9,household\n`;
    const d = await rejected(csv);
    expect(d.errors).toEqual([
      { row: 3, column: null, value: null, reason: 'has 2 cells; the header has 18' },
    ]);
  });

  it('reports at most 1,000 errors with the total count', async () => {
    const csv = loanTapeCsv({ rows: 1_500, edit: (_i, c) => (c.days_past_due = 'x') });
    const d = await rejected(csv);
    expect(d.errorCount).toBe(1_500);
    expect(d.errors).toHaveLength(1_000);
    expect(d.truncated).toBe(true);
    expect(d.errors[999]).toMatchObject({ row: 1_000, column: 'days_past_due' });
  });

  it('answers 413 for a file over the size limit (declared or streamed), storing nothing', async () => {
    const small = await createTestApp({ db: t.db, overrides: { LOAN_TAPE_MAX_BYTES: 10_000 } });
    try {
      const id = await createPortfolio();
      const csv = loanTapeCsv({ rows: 200 });
      expect(Buffer.byteLength(csv)).toBeGreaterThan(10_000);
      for (const payload of [csv, loanTapeStream({ rows: 200 })]) {
        const res = await small.app.inject({
          method: 'PUT',
          url: `/v1/portfolios/${id}/loan-tape`,
          headers: { ...issuer, 'content-type': 'text/csv' },
          payload: payload as string,
        });
        expect(res.statusCode).toBe(413);
        expect(res.json()).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
      }
      expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(0);
      const fits = await small.app.inject({
        method: 'PUT',
        url: `/v1/portfolios/${id}/loan-tape`,
        headers: { ...issuer, 'content-type': 'text/csv' },
        payload: loanTapeCsv({ rows: 20 }),
      });
      expect(fits.statusCode).toBe(200);
    } finally {
      await small.app.close();
      small.redis.disconnect();
    }
  });

  it('answers 415 for a body that is not text/csv', async () => {
    const id = await createPortfolio();
    const res = await put(id, JSON.stringify({ loans: [] }), { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 404 for an unknown portfolio, 403 for another issuer, 401 without a key, 409 once published', async () => {
    const csv = loanTapeCsv({ rows: 2 });
    const unknown = await put('00000000-0000-4000-8000-000000000000', csv);
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'NOT_FOUND']);
    const id = await createPortfolio();
    const other = await put(id, csv, otherIssuer);
    expect([other.statusCode, other.json().code]).toEqual([403, 'FORBIDDEN']);
    const anonymous = await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/loan-tape`,
      headers: { 'content-type': 'text/csv' },
      payload: csv,
    });
    expect([anonymous.statusCode, anonymous.json().code]).toEqual([401, 'UNAUTHORIZED']);
    await t.db.prisma.portfolio.update({ where: { id }, data: { status: 'published' } });
    const published = await put(id, csv);
    expect([published.statusCode, published.json().code]).toEqual([409, 'CONFLICT']);
    expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(0);
  });

  it('an interrupted upload stores nothing and releases the portfolio', async () => {
    const id = await createPortfolio();
    let sent = 0;
    const broken = new Readable({
      read() {
        if (sent++ === 0) this.push(loanTapeCsv({ rows: 500 }));
        else this.destroy(new Error('client went away'));
      },
    });
    await put(id, broken).catch(() => undefined);
    const res = await put(id, loanTapeCsv({ rows: 2 }));
    expect(res.statusCode).toBe(200);
    expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(2);
  });

  it('accepts a 1,000,000-row tape', { timeout: 600_000 }, async () => {
    const id = await createPortfolio();
    const rows = 1_000_000;
    const started = performance.now();
    const res = await put(id, loanTapeStream({ rows, extra: { region: (i) => `R${i % 7}` } }));
    const seconds = (performance.now() - started) / 1000;
    expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
    expect(res.json().loanCount).toBe(rows);
    console.log(
      `1,000,000-row tape: ${seconds.toFixed(1)} s, ${Math.round(rows / seconds)} rows/s (incl. generation)`,
    );
    const { rows: counted } = await t.db.pool.query<{ n: string; upb: string }>(
      'SELECT count(*) AS n, sum(principal_balance) AS upb FROM loan WHERE portfolio_id = $1',
      [id],
    );
    const p = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(Number(counted[0].n)).toBe(rows);
    expect(p.loanCount).toBe(rows);
    expect(p.totalUpb.toFixed(4)).toBe(counted[0].upb);
    // free the space for the rest of the suite
    await t.db.pool.query('DELETE FROM loan WHERE portfolio_id = $1', [id]);
  });
});

/** A PUT of a loan tape over a real socket whose body the test sends piece by piece. */
function slowUpload(app: TestApp, id: string) {
  const { port } = app.app.server.address() as AddressInfo;
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'PUT',
    path: `/v1/portfolios/${id}/loan-tape`,
    headers: { ...issuer, 'content-type': 'text/csv', 'transfer-encoding': 'chunked' },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
  });
  answer.catch(() => {});
  return { request, answer };
}

describe('PUT /v1/portfolios/:id/loan-tape: slow uploads', () => {
  let live: TestApp;
  let dataDir: string;
  /** the loan-tape requests the server received */
  const received: http.IncomingMessage[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'npl-loan-tape-upload-'));
    live = await createTestApp({
      db: t.db,
      overrides: { DATA_DIR: dataDir, LISTING_CACHE_TTL_MS: 0 },
    });
    await live.app.listen({ host: '127.0.0.1', port: 0 });
    live.app.server.on('request', (req: http.IncomingMessage) => {
      if (req.url?.endsWith('/loan-tape')) received.push(req);
    });
  });

  afterAll(async () => {
    await live?.app.close();
    live?.redis.disconnect();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('holds no pooled connection nor row lock while the clients are still sending; other routes answer', async () => {
    // one more upload than the pool has connections (createTestDatabase: max 5)
    const count = 6;
    const ids = await Promise.all(Array.from({ length: count }, () => createPortfolio()));
    const csv = loanTapeCsv({ rows: 40 });
    const half = csv.length >> 1;
    received.length = 0;
    const uploads = ids.map((id) => {
      const upload = slowUpload(live, id);
      upload.request.write(csv.slice(0, half));
      return upload;
    });
    // every upload is being read by its handler (piped into the ingest before the fix, the spool after)
    await vi.waitFor(() => expect(received.filter((r) => r.readableFlowing === true)).toHaveLength(count), {
      timeout: 20_000,
      interval: 20,
    });
    const pool = t.db.pool;
    expect(pool.totalCount - pool.idleCount).toBe(0);
    // no upload holds the portfolio rows
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      const locked = await client.query(
        'SELECT id FROM portfolio WHERE id = ANY($1::uuid[]) FOR UPDATE NOWAIT',
        [ids],
      );
      expect(locked.rowCount).toBe(count);
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
    // other routes answer meanwhile
    const listing = await live.app.inject({ method: 'GET', url: '/v1/portfolios?limit=100' });
    expect(listing.statusCode).toBe(200);
    const one = await live.app.inject({ method: 'GET', url: `/v1/portfolios/${ids[0]}` });
    expect(one.statusCode).toBe(200);
    // the uploads complete
    for (const upload of uploads) upload.request.end(csv.slice(half));
    for (const { answer } of uploads) {
      const res = await answer;
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body).loanCount).toBe(40);
    }
    expect(await t.db.prisma.loan.count({ where: { portfolioId: { in: ids } } })).toBe(40 * count);
    expect(await readdir(path.join(dataDir, 'uploads'))).toEqual([]);
  });

  it('ingests at most LOAN_TAPE_CONCURRENT_INGESTS complete tapes at once', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => createPortfolio()));
    // another session holds every portfolio row: each ingest that starts waits on it with its connection
    const holder = new pg.Client({ connectionString: t.db.url });
    await holder.connect();
    const pool = t.db.pool;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM portfolio WHERE id = ANY($1::uuid[]) FOR UPDATE', [ids]);
      const puts = ids.map((id) =>
        live.app.inject({
          method: 'PUT',
          url: `/v1/portfolios/${id}/loan-tape`,
          headers: { ...issuer, 'content-type': 'text/csv' },
          payload: loanTapeCsv({ rows: 5 }),
        }),
      );
      const waitingOnLock = async () =>
        Number(
          (
            await holder.query(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          ).rows[0].n,
        );
      await vi.waitFor(
        async () => expect(await waitingOnLock()).toBe(live.config.LOAN_TAPE_CONCURRENT_INGESTS),
        {
          timeout: 20_000,
          interval: 50,
        },
      );
      expect(pool.totalCount - pool.idleCount).toBe(live.config.LOAN_TAPE_CONCURRENT_INGESTS);
      // other routes still get a connection
      expect((await live.app.inject({ method: 'GET', url: `/v1/portfolios/${ids[0]}` })).statusCode).toBe(
        200,
      );
      await holder.query('ROLLBACK');
      for (const res of await Promise.all(puts)) expect(res.statusCode, res.body).toBe(200);
    } finally {
      await holder.end();
    }
    expect(await t.db.prisma.loan.count({ where: { portfolioId: { in: ids } } })).toBe(20);
  });

  it('answers 408 REQUEST_TIMEOUT to an upload slower than LOAN_TAPE_UPLOAD_TIMEOUT_MS, storing nothing', async () => {
    const quick = await createTestApp({
      db: t.db,
      overrides: { DATA_DIR: dataDir, LOAN_TAPE_UPLOAD_TIMEOUT_MS: 1_500 },
    });
    try {
      await quick.app.listen({ host: '127.0.0.1', port: 0 });
      await timesOut(quick);
    } finally {
      await quick.app.close();
      quick.redis.disconnect();
    }
  });

  async function timesOut(quick: TestApp) {
    const id = await createPortfolio();
    const csv = loanTapeCsv({ rows: 10 });
    const upload = slowUpload(quick, id);
    upload.request.write(csv.slice(0, 300));
    // a guard against the answer never coming (before the fix): not a speed assertion
    const res = await Promise.race([
      upload.answer,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in 20 s')), 20_000)),
    ]);
    upload.request.destroy();
    expect(res.status, res.body).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({
      statusCode: 408,
      code: 'REQUEST_TIMEOUT',
      message: expect.stringContaining('LOAN_TAPE_UPLOAD_TIMEOUT_MS'),
      details: { timeoutMs: 1_500, setting: 'LOAN_TAPE_UPLOAD_TIMEOUT_MS' },
    });
    expect(await t.db.prisma.loan.count({ where: { portfolioId: id } })).toBe(0);
    const p = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect([p.tapeSha256, p.loanCount]).toEqual([null, 0]);
    expect(await readdir(path.join(dataDir, 'uploads'))).toEqual([]);
    // the portfolio is free: the same tape sent at once is stored
    const again = await quick.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/loan-tape`,
      headers: { ...issuer, 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(again.statusCode, again.body).toBe(200);
  }
});

describe('GET /v1/portfolios/:id/loans', () => {
  let id: string;

  beforeAll(async () => {
    id = await createPortfolio();
    expect((await put(id, loanTapeCsv({ rows: 30, extra: { region: (i) => `R${i}` } }))).statusCode).toBe(
      200,
    );
  });

  it('answers 401 to anonymous callers', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}/loans` });
    expect([res.statusCode, res.json().code]).toEqual([401, 'UNAUTHORIZED']);
  });

  it('answers 403 NOT_ALLOWLISTED to a signed-in investor who is not (or no longer) allowlisted', async () => {
    const { headers, address } = await signIn(t);
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}/loans`, headers });
    expect([res.statusCode, res.json().code]).toEqual([403, 'NOT_ALLOWLISTED']);
    await allowlist(t.db.prisma, address, new Date(Date.now() - 1000));
    const expired = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}/loans`, headers });
    expect([expired.statusCode, expired.json().code]).toEqual([403, 'NOT_ALLOWLISTED']);
    await allowlist(t.db.prisma, address);
    await t.db.prisma.investor.update({ where: { address }, data: { frozen: true } });
    const frozen = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}/loans`, headers });
    expect(frozen.statusCode).toBe(403);
  });

  it('pages through the tape for an allowlisted investor, with filters', async () => {
    const { headers, address } = await signIn(t);
    await allowlist(t.db.prisma, address);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/portfolios/${id}/loans?limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await t.app.inject({ method: 'GET', url, headers });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      seen.push(...page.items.map((l: { loanId: string }) => l.loanId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `L${String(i).padStart(8, '0')}`));

    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${id}/loans?legalStatus=in_court&jurisdiction=GR&limit=100`,
      headers,
    });
    const items = res.json().items;
    expect(items.length).toBe(6);
    expect(items[0]).toMatchObject({
      loanId: 'L00000002',
      row: 3,
      legalStatus: 'in_court',
      jurisdiction: 'GR',
      originationDate: '2012-01-03',
      extra: { region: 'R2' },
      // no remittance report yet: no resolution, nothing collected
      resolution: null,
      resolvedAt: null,
      collectedToDate: '0',
    });
  });

  it('lets the owning issuer read, and answers 404 for an unknown portfolio', async () => {
    const own = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${id}/loans?limit=1`,
      headers: issuer,
    });
    expect(own.statusCode).toBe(200);
    const other = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${id}/loans`,
      headers: otherIssuer,
    });
    expect(other.statusCode).toBe(403);
    const unknown = await t.app.inject({
      method: 'GET',
      url: '/v1/portfolios/00000000-0000-4000-8000-000000000000/loans',
      headers: issuer,
    });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'NOT_FOUND']);
  });
});
