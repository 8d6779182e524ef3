/**
 * POST /v1/portfolios/:id/remittance-reports (and its GET) and POST /v1/portfolios/:id/recoveries(/intents)
 * with `{ amount, reportId }` on anvil + Postgres, through the app: a 3,000-loan report stored with the
 * SHA-256 of its bytes and one line per loan; every bad cell answered in the loan tape's 422 shape with
 * nothing stored; a recovery backed by a report deposits exactly its total and anchors its hash on-chain
 * (the indexed RecoveryDistributed event), once per report. The reporting period (explicit and
 * defaulted, collected_on inside it, periods following one another) and the loans' servicing state
 * (resolution final, a resolved loan collecting no more, collected to date), written with the report or
 * not at all, and two reports of a portfolio sent at once checked one after the other.
 *
 * The portfolio's servicer key is the app's development servicer key (DATA_DIR/dev-servicer-key), so the
 * API signs the deposit intents.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestLoanTape } from '../../core/catalog/loan-tape/ingest.ts';
import { ingestRemittanceReport } from '../../core/catalog/remittance-reports.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { DEV_SERVICER_KEY_FILE } from '../../core/servicing/dev-servicer.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import type { AnvilInstance } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { createClosedPortfolio } from '../helpers/portfolio.ts';
import { depositIntent } from '../helpers/recoveries.ts';
import { accountClients, createStackApp, fundServicer, type StackApp, startStack } from '../helpers/stack.ts';

const LOANS = 3_000;
const usd = (whole: bigint) => whole * 10n ** 6n;
const sha = (bytes: string) => createHash('sha256').update(bytes).digest('hex');
const loanId = (i: number) => `L${String(i).padStart(8, '0')}`;

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holder: ChainClients;
let app: StackApp;
let t: TestApp;
let admin: Headers;
let issuer: Headers;
let otherIssuer: Headers;
let servicerKey: Headers;
let otherServicer: Headers;
let portfolio: { id: string; portfolio: Address };
let draftId: string;

/** Report row i: every third loan collects 12.34 (plus i cents, as 4-decimal text), every 100th is settled. */
type Row = { loan_id: string; collected: string; collected_on: string; resolution: string };
function reportRow(i: number): Row {
  const collects = i % 3 === 0;
  return {
    loan_id: loanId(i),
    collected: collects ? `12.${String(34 + (i % 60)).padStart(2, '0')}00` : '0',
    collected_on: collects ? '2026-03-31' : '',
    resolution: i % 100 === 0 ? 'settled' : i % 250 === 1 ? 'written_off' : '',
  };
}
const COLUMNS = ['loan_id', 'collected', 'collected_on', 'resolution'] as const;

/** A report of `rows` rows (default: every loan of the tape, in order), `edit` changing rows first. */
function reportCsv(
  options: { rows?: Row[]; edit?: (rows: Row[]) => Row[]; header?: string; eol?: string } = {},
) {
  let rows = options.rows ?? Array.from({ length: LOANS }, (_, i) => reportRow(i));
  if (options.edit) rows = options.edit(rows);
  const eol = options.eol ?? '\n';
  return (
    (options.header ?? COLUMNS.join(',')) +
    eol +
    rows.map((r) => COLUMNS.map((c) => r[c]).join(',')).join(eol) +
    eol
  );
}

/** The report's total in base units, from the rows (independently of the API's decimal conversion). */
const totalOf = (rows: Row[]) =>
  rows.reduce((sum, r) => {
    const [whole, fraction = ''] = r.collected.split('.');
    return sum + BigInt(whole) * 10n ** 6n + BigInt(fraction.padEnd(6, '0'));
  }, 0n);

/** The first report's period (the rows of `reportRow` collect on 2026-03-31). */
const P1 = { periodStart: '2026-01-01', periodEnd: '2026-03-31' };
type Period = { periodStart?: string; periodEnd?: string };

const postReport = (
  portfolioId: string,
  headers: Headers | undefined,
  csv: string,
  options: { type?: string; period?: Period } = {},
) => {
  const query = new URLSearchParams(options.period as Record<string, string> | undefined).toString();
  return t.app.inject({
    method: 'POST',
    url: `/v1/portfolios/${portfolioId}/remittance-reports${query === '' ? '' : `?${query}`}`,
    headers: { ...headers, 'content-type': options.type ?? 'text/csv' },
    payload: csv,
  });
};

const utcDate = (offsetDays = 0) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

const post = (url: string, headers: Headers | undefined, payload?: unknown) =>
  t.app.inject({ method: 'POST', url, headers, payload: payload as object });

const stored = async () => ({
  reports: await t.db.prisma.remittanceReport.count(),
  lines: await t.db.prisma.remittanceReportLine.count(),
});

async function waitMined(relayTxId: string) {
  for (let i = 0; i < 200; i++) {
    const row = await t.db.prisma.relayTx.findUniqueOrThrow({ where: { id: relayTxId } });
    if (row.status !== 'pending') return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`relay tx ${relayTxId} still pending`);
}

beforeAll(async () => {
  const chain = await startStack({ accounts: 5 });
  ({ anvil, deployer, stack } = chain);
  [servicer, holder] = accountClients(chain, [2, 3]);
  app = await createStackApp(chain, {
    name: 'remittance',
    prepare: (dir) =>
      writeFile(path.join(dir, DEV_SERVICER_KEY_FILE), `${anvil.accounts[2].privateKey}\n`, { mode: 0o600 }),
  });
  t = app.t;
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
  servicerKey = await apiKeyHeaders(t.db.prisma, 'servicer', servicer.account.address.toLowerCase());
  otherServicer = await apiKeyHeaders(t.db.prisma, 'servicer', anvil.accounts[4].address);

  portfolio = await createClosedPortfolio(deployer, t.db.prisma, {
    stack,
    name: 'Remittance test',
    servicer: servicer.account.address,
    rootProposer: anvil.accounts[1].address,
    timelockDelay: 2,
    tranches: [
      { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
      { name: 'Equity', symbol: 'EQ', face: usd(200n), couponBps: 0, priceBps: 5_000 },
    ],
    holders: [holder],
    purchases: [[400n, 100n]],
  });
  // its loan tape, ingested while a draft (as before publish), then published again
  await t.db.prisma.portfolio.update({ where: { id: portfolio.id }, data: { status: 'draft' } });
  await ingestLoanTape({
    pool: t.db.pool,
    portfolioId: portfolio.id,
    source: Readable.from([Buffer.from(loanTapeCsv({ rows: LOANS }))]),
    maxBytes: 1 << 30,
  });
  await t.db.prisma.portfolio.update({ where: { id: portfolio.id }, data: { status: 'published' } });
  const draft = await t.db.prisma.portfolio.create({
    data: {
      owner: 'acme',
      name: 'Draft',
      assetClass: 'corporate',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000',
      servicerAddress: servicer.account.address,
      servicerFeeBps: 0,
      protocolFeeBps: 0,
    },
  });
  draftId = draft.id;
}, 180_000);

afterAll(async () => {
  await app?.close();
  await anvil?.stop();
});

describe('POST /v1/portfolios/:id/remittance-reports', () => {
  it('answers 401/403/404/409/415 before reading the report, storing nothing', async () => {
    const csv = reportCsv();
    expect((await postReport(portfolio.id, undefined, csv)).statusCode).toBe(401);
    for (const headers of [issuer, otherServicer]) {
      const res = await postReport(portfolio.id, headers, csv);
      expect([res.statusCode, res.json().code]).toEqual([403, 'FORBIDDEN']);
    }
    expect((await postReport(randomUUID(), servicerKey, csv)).statusCode).toBe(404);
    const draft = await postReport(draftId, servicerKey, csv);
    expect([draft.statusCode, draft.json().details.reason]).toEqual([409, 'NOT_PUBLISHED']);
    const json = await post(`/v1/portfolios/${portfolio.id}/remittance-reports`, servicerKey, { csv });
    expect(json.statusCode).toBe(415);
    // a period that is wrong on its own: 400 before the body is read
    const future = await postReport(portfolio.id, servicerKey, csv, { period: { periodEnd: utcDate(1) } });
    expect([future.statusCode, future.json().details[0].path]).toEqual([400, 'querystring.periodEnd']);
    expect(await stored()).toEqual({ reports: 0, lines: 0 });
  }, 60_000);

  it('answers 422 with every bad cell (row, column, value, reason) and stores nothing', async () => {
    const csv = reportCsv({
      edit: (rows) => {
        rows[1] = { ...rows[1], collected: 'abc' };
        rows[2] = { ...rows[2], collected: '-5' };
        rows[4] = { ...rows[4], collected: '1.12345' };
        rows[5] = { ...rows[5], collected: '3', collected_on: '2026-02-30' };
        rows[7] = { ...rows[7], resolution: 'paid' };
        rows[8] = { ...rows[8], loan_id: 'NOPE' };
        rows[10] = { ...rows[10], loan_id: loanId(9) };
        rows[11] = { ...rows[11], collected: '4', collected_on: '' };
        rows[12] = { ...rows[12], resolution: 'WRITTEN_OFF' }; // any case, as the loan tape's enums
        return rows;
      },
    });
    const before = await stored();
    const res = await postReport(portfolio.id, servicerKey, csv, { period: P1 });
    expect(res.statusCode, res.body).toBe(422);
    const body = res.json();
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.details).toEqual({
      errorCount: 10,
      truncated: false,
      errors: [
        {
          row: 2,
          column: 'collected',
          value: 'abc',
          reason: 'must be a decimal number (at most 20 digits and 4 decimals, dot separator)',
        },
        { row: 3, column: 'collected', value: '-5', reason: 'must not be negative' },
        {
          row: 5,
          column: 'collected',
          value: '1.12345',
          reason: 'must be a decimal number (at most 20 digits and 4 decimals, dot separator)',
        },
        { row: 6, column: 'collected_on', value: '2026-02-30', reason: 'must be a date YYYY-MM-DD' },
        {
          row: 8,
          column: 'resolution',
          value: 'paid',
          reason: 'must be one of settled, written_off, sold, restructured, foreclosed',
        },
        { row: 9, column: 'loan_id', value: 'NOPE', reason: "not a loan of the portfolio's tape" },
        { row: 11, column: 'loan_id', value: loanId(9), reason: 'duplicate loan_id (first in row 10)' },
        { row: 12, column: 'collected_on', value: '', reason: 'is required when collected is above 0' },
        // the two loans no row names: at the row after the last
        {
          row: LOANS + 1,
          column: 'loan_id',
          value: loanId(8),
          reason: "a loan of the portfolio's tape missing from the report",
        },
        {
          row: LOANS + 1,
          column: 'loan_id',
          value: loanId(10),
          reason: "a loan of the portfolio's tape missing from the report",
        },
      ],
    });
    expect(await stored()).toEqual(before);
  }, 60_000);

  it('rejects a wrong header, a short or empty report, or rows of the wrong width (422, nothing stored)', async () => {
    const before = await stored();
    const wrong = await postReport(
      portfolio.id,
      servicerKey,
      reportCsv({ header: 'loan_id,amount,collected_on,resolution,loan_id' }),
      { period: P1 },
    );
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().details.errors).toEqual([
      { row: 0, column: 'amount', value: 'amount', reason: 'unknown column in the header' },
      { row: 0, column: 'loan_id', value: 'loan_id', reason: 'column appears twice in the header' },
      { row: 0, column: 'collected', value: null, reason: 'required column missing from the header' },
    ]);

    const empty = await postReport(portfolio.id, servicerKey, '', { period: P1 });
    expect(empty.statusCode).toBe(422);
    expect(empty.json().details.errors[0].reason).toBe('the file is empty; a header row is required');

    // every loan missing: each counted, the first 1,000 listed
    const headerOnly = await postReport(portfolio.id, servicerKey, `${COLUMNS.join(',')}\n`, { period: P1 });
    expect(headerOnly.statusCode).toBe(422);
    expect(headerOnly.json().details).toMatchObject({ errorCount: LOANS, truncated: true });
    expect(headerOnly.json().details.errors).toHaveLength(1_000);
    expect(headerOnly.json().details.errors[0]).toEqual({
      row: 1,
      column: 'loan_id',
      value: loanId(0),
      reason: "a loan of the portfolio's tape missing from the report",
    });

    const narrow = reportCsv({ edit: (rows) => rows }).replace(`${loanId(3)},`, `${loanId(3)},1,`);
    const wide = await postReport(portfolio.id, servicerKey, narrow, { period: P1 });
    expect(wide.statusCode).toBe(422);
    expect(wide.json().details.errors).toEqual([
      { row: 4, column: null, value: null, reason: 'has 5 cells; the header has 4' },
      {
        row: LOANS + 1,
        column: 'loan_id',
        value: loanId(3),
        reason: "a loan of the portfolio's tape missing from the report",
      },
    ]);
    expect(await stored()).toEqual(before);
  }, 60_000);

  let reportId: string;
  let reportSha: string;
  let reportTotal: bigint;
  let reportBytes: string;

  it('stores a valid report with the SHA-256 of its bytes, one line per loan, in base units (201)', async () => {
    const rows = Array.from({ length: LOANS }, (_, i) => reportRow(i)).reverse(); // any order
    // header in another order and case, CRLF line ends: the hash is of these exact bytes
    const header = 'Resolution,LOAN_ID,collected_on,collected';
    const csv = `${header}\r\n${rows.map((r) => [r.resolution, r.loan_id, r.collected_on, r.collected].join(',')).join('\r\n')}\r\n`;
    const res = await postReport(portfolio.id, servicerKey, csv, { period: P1 });
    expect(res.statusCode, res.body).toBe(201);
    reportBytes = csv;
    reportTotal = totalOf(rows);
    const resolved = rows.filter((r) => r.resolution !== '').length;
    expect(res.json()).toEqual({
      id: expect.any(String),
      portfolioId: portfolio.id,
      sha256: sha(csv),
      size: Buffer.byteLength(csv),
      total: reportTotal.toString(),
      loanCount: LOANS,
      resolvedCount: resolved,
      periodStart: P1.periodStart,
      periodEnd: P1.periodEnd,
      createdAt: expect.any(String),
    });
    reportId = res.json().id;
    reportSha = res.json().sha256;
    expect(res.headers.location).toBe(`/v1/portfolios/${portfolio.id}/remittance-reports/${reportId}`);
    expect(await stored()).toEqual({ reports: 1, lines: LOANS });
    const lines = await t.db.prisma.remittanceReportLine.findMany({
      where: { reportId, loanId: { in: [loanId(0), loanId(1), loanId(3), loanId(251)] } },
      orderBy: { loanId: 'asc' },
    });
    expect(
      lines.map((l) => [
        l.loanId,
        l.rowNumber,
        l.collected.toFixed(0),
        l.collectedOn?.toISOString().slice(0, 10) ?? null,
        l.resolution,
      ]),
    ).toEqual([
      [loanId(0), LOANS, '12340000', '2026-03-31', 'settled'],
      [loanId(1), LOANS - 1, '0', null, 'written_off'],
      [loanId(3), LOANS - 3, '12370000', '2026-03-31', null],
      [loanId(251), LOANS - 251, '0', null, 'written_off'],
    ]);
    const sum = await t.db.prisma.remittanceReportLine.aggregate({
      where: { reportId },
      _sum: { collected: true },
    });
    expect(sum._sum.collected?.toFixed(0)).toBe(reportTotal.toString());

    // the same bytes again (its period or the defaults): the same report (200), nothing new stored
    for (const period of [P1, {}]) {
      const again = await postReport(portfolio.id, admin, csv, { period });
      expect([again.statusCode, again.json().id]).toEqual([200, reportId]);
    }
    expect(await stored()).toEqual({ reports: 1, lines: LOANS });
  }, 60_000);

  it('GET answers the report to its servicer, the owning issuer and admins', async () => {
    const url = `/v1/portfolios/${portfolio.id}/remittance-reports/${reportId}`;
    for (const headers of [servicerKey, issuer, admin]) {
      const res = await t.app.inject({ method: 'GET', url, headers });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id: reportId, sha256: reportSha, total: reportTotal.toString() });
    }
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    for (const headers of [otherIssuer, otherServicer])
      expect((await t.app.inject({ method: 'GET', url, headers })).statusCode).toBe(403);
    const unknown = `/v1/portfolios/${portfolio.id}/remittance-reports/${randomUUID()}`;
    expect((await t.app.inject({ method: 'GET', url: unknown, headers: servicerKey })).statusCode).toBe(404);
    const elsewhere = `/v1/portfolios/${draftId}/remittance-reports/${reportId}`;
    expect((await t.app.inject({ method: 'GET', url: elsewhere, headers: admin })).statusCode).toBe(404);
  });

  it('a recovery with reportId deposits exactly the report total and anchors its SHA-256, once', async () => {
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    await fundServicer(deployer, servicer, {
      stack,
      portfolio: portfolio.portfolio,
      amount: usd(1_000_000n),
    });
    const relayBefore = await t.db.prisma.relayTx.count();
    // another portfolio's report is not this portfolio's
    const foreign = await t.db.prisma.remittanceReport.create({
      data: {
        portfolioId: draftId,
        sha256: sha('foreign'),
        size: 7n,
        total: '5',
        loanCount: 0,
        resolvedCount: 0,
        periodStart: new Date('2026-01-01'),
        periodEnd: new Date('2026-01-31'),
        submittedBy: 'test',
      },
    });
    const invalid: [unknown, string][] = [
      [{ amount: (reportTotal + 1n).toString(), reportId }, 'body.amount'],
      [{ amount: (reportTotal - 1n).toString(), reportId }, 'body.amount'],
      [{ amount: reportTotal.toString(), reportId: randomUUID() }, 'body.reportId'],
      [{ amount: '5', reportId: foreign.id }, 'body.reportId'],
      [{ amount: reportTotal.toString(), reportId: 'nope' }, 'body.reportId'],
      [{ amount: reportTotal.toString(), reportId, reportSha256: reportSha }, 'body.reportId'],
      [{ amount: reportTotal.toString() }, 'body.reportSha256'],
    ];
    for (const [payload, field] of invalid) {
      for (const path of [url, `${url}/intents`]) {
        const res = await post(path, servicerKey, payload);
        expect(res.statusCode, `${path} ${JSON.stringify(payload)} ${res.body}`).toBe(422);
        expect(res.json().code).toBe('VALIDATION_FAILED');
        expect(res.json().details.map((d: { path: string }) => d.path)).toContain(field);
      }
    }
    // the role check comes first: another servicer learns nothing about the report
    const forbidden = await post(url, otherServicer, { amount: '1', reportId });
    expect(forbidden.statusCode).toBe(403);
    expect(await t.db.prisma.relayTx.count()).toBe(relayBefore);

    // the intent to sign carries the report's hash
    const intent = await depositIntent(t, {
      portfolioId: portfolio.id,
      headers: servicerKey,
      body: { amount: reportTotal.toString(), reportId } as never,
    });
    expect((intent as unknown as { reportSha256: string }).reportSha256).toBe(reportSha);
    expect((intent.typedData.deposit.message as { reportHash: string }).reportHash).toBe(`0x${reportSha}`);

    const res = await post(url, servicerKey, { amount: reportTotal.toString(), reportId });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ amount: reportTotal.toString(), reportSha256: reportSha });
    const recoveryId = res.json().id;
    const mined = await waitMined(recoveryId);
    expect(mined.status).toBe('mined');

    // one recovery per report, through its hash: by id or by hash, the same recovery, nothing sent
    const retry = await post(url, servicerKey, { amount: reportTotal.toString(), reportId });
    expect([retry.statusCode, retry.json().id]).toEqual([200, recoveryId]);
    const byHash = await post(url, servicerKey, { amount: reportTotal.toString(), reportSha256: reportSha });
    expect([byHash.statusCode, byHash.json().id]).toEqual([200, recoveryId]);
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'depositRecovery' } })).toBe(1);

    // on-chain: one recovery of exactly the total, its reportHash the report's SHA-256
    const count = await deployer.publicClient.readContract({
      address: portfolio.portfolio,
      abi: portfolioAbi,
      functionName: 'recoveryCount',
    });
    expect(count).toBe(1n);
    await createIndexer({
      db: t.db,
      publicClient: deployer.publicClient,
      stack,
      confirmations: 0,
    }).syncOnce();
    const event = await t.db.prisma.recoveryEvent.findFirstOrThrow({ where: { txHash: mined.txHash } });
    expect([event.reportHash, event.amount.toFixed(0)]).toEqual([`0x${reportSha}`, reportTotal.toString()]);
  }, 120_000);

  // ---------------------------------------------------------------- periods and the loans' state

  /** The second report's period and rows: the loans report 1 left unresolved collect or resolve. */
  const P2 = { periodStart: '2026-04-01', periodEnd: '2026-06-30' };
  const resolvedBy1 = (i: number) => reportRow(i).resolution || null;
  function report2Row(i: number): Row {
    const resolved = resolvedBy1(i) !== null;
    const collects = !resolved && i % 3 === 1;
    return {
      loan_id: loanId(i),
      collected: collects ? '5.5' : '0',
      collected_on: collects ? '2026-05-15' : '',
      // a resolved loan: its resolution repeated (every 200th) or nothing; else every 7th sold
      resolution: resolved ? (i % 200 === 0 ? reportRow(i).resolution : '') : i % 7 === 0 ? 'sold' : '',
    };
  }
  const report2Rows = () => Array.from({ length: LOANS }, (_, i) => report2Row(i));
  let report2Id: string;

  /** Every loan's servicing state, in tape order. */
  const loanState = async (portfolioId = portfolio.id) =>
    (
      await t.db.prisma.loan.findMany({
        where: { portfolioId },
        orderBy: { rowNumber: 'asc' },
        select: {
          loanId: true,
          resolution: true,
          resolvedAt: true,
          resolutionReportId: true,
          collectedToDate: true,
        },
      })
    ).map((l) => [
      l.loanId,
      l.resolution,
      l.resolvedAt?.toISOString().slice(0, 10) ?? null,
      l.resolutionReportId,
      l.collectedToDate.toFixed(0),
    ]);

  it('answers 400 for a bad period and 409 for one that does not follow the previous report, storing nothing', async () => {
    const before = await stored();
    const state = await loanState();
    const csv = reportCsv({ rows: report2Rows() });
    const bad: [Period, string, RegExp][] = [
      [{ periodStart: '2026-02-30', periodEnd: '2026-06-30' }, 'querystring.periodStart', /YYYY-MM-DD/],
      [{ periodStart: '2026-04-01', periodEnd: 'June' }, 'querystring.periodEnd', /YYYY-MM-DD/],
      [{ periodStart: '2026-04-01', periodEnd: utcDate(1) }, 'querystring.periodEnd', /future/],
      [{ periodStart: '2026-05-01', periodEnd: '2026-04-30' }, 'querystring.periodStart', /after periodEnd/],
      [{ periodStart: utcDate(1) }, 'querystring.periodStart', /after periodEnd \(today/],
    ];
    for (const [period, path, message] of bad) {
      const res = await postReport(portfolio.id, servicerKey, csv, { period });
      expect(res.statusCode, JSON.stringify(period)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_FAILED');
      expect(res.json().details).toEqual([{ path, message: expect.stringMatching(message) }]);
    }
    // report 1 covers 2026-01-01..2026-03-31: overlapping it, before it, or ending before the next day
    const previous = { id: reportId, periodStart: '2026-01-01', periodEnd: '2026-03-31' };
    const overlapping: [Period, { periodStart: string; periodEnd: string }][] = [
      [
        { periodStart: '2026-03-31', periodEnd: '2026-06-30' },
        { periodStart: '2026-03-31', periodEnd: '2026-06-30' },
      ],
      [
        { periodStart: '2026-02-01', periodEnd: '2026-02-28' },
        { periodStart: '2026-02-01', periodEnd: '2026-02-28' },
      ],
      [
        { periodStart: '2025-01-01', periodEnd: '2025-12-31' },
        { periodStart: '2025-01-01', periodEnd: '2025-12-31' },
      ],
      // the default start, the day after report 1's end, is after this end
      [{ periodEnd: '2026-03-15' }, { periodStart: '2026-04-01', periodEnd: '2026-03-15' }],
    ];
    for (const [period, asked] of overlapping) {
      const res = await postReport(portfolio.id, servicerKey, csv, { period });
      expect(res.statusCode, JSON.stringify(period)).toBe(409);
      expect(res.json()).toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining('the next one starts on 2026-04-01 at the earliest'),
        details: { reason: 'PERIOD_OVERLAP', ...asked, previous },
      });
    }
    // report 1's bytes for another period: not report 1
    const same = await postReport(portfolio.id, servicerKey, reportBytes, { period: P2 });
    expect([same.statusCode, same.json().details]).toEqual([
      409,
      { reason: 'REPORT_EXISTS', report: previous },
    ]);
    expect(await stored()).toEqual(before);
    expect(await loanState()).toEqual(state);
  }, 60_000);

  it('answers 422 for a collected_on outside the period and a resolved loan collecting or resolved again; nothing written', async () => {
    const csv = reportCsv({
      edit: (rows) => {
        rows[0] = { ...rows[0], collected: '1', collected_on: '2026-05-01' }; // settled by report 1
        rows[1] = { ...rows[1], resolution: 'settled' }; // written off by report 1
        rows[4] = { ...rows[4], collected_on: '2026-03-31' }; // the day before the period
        rows[5] = { ...rows[5], collected: '0', collected_on: '2026-01-01' }; // a date, even without collection
        rows[7] = { ...rows[7], collected_on: '2026-07-01' }; // the day after
        rows[100] = { ...rows[100], resolution: 'SETTLED' }; // its resolution again: fine
        rows[251] = { ...rows[251], resolution: 'written_off' };
        return rows;
      },
      rows: report2Rows(),
    });
    const before = await stored();
    const state = await loanState();
    const res = await postReport(portfolio.id, servicerKey, csv, { period: P2 });
    expect(res.statusCode, res.body).toBe(422);
    const by = (resolution: string) =>
      `the loan was resolved (${resolution}) by remittance report ${reportId} (period 2026-01-01 to 2026-03-31)`;
    const outside = "is outside the report's period, 2026-04-01 to 2026-06-30";
    expect(res.json().details).toEqual({
      errorCount: 5,
      truncated: false,
      errors: [
        {
          row: 1,
          column: 'collected',
          value: '1',
          reason: `${by('settled')}: a resolved loan cannot collect again`,
        },
        {
          row: 2,
          column: 'resolution',
          value: 'settled',
          reason: `${by('written_off')}: its resolution cannot change`,
        },
        { row: 5, column: 'collected_on', value: '2026-03-31', reason: outside },
        { row: 6, column: 'collected_on', value: '2026-01-01', reason: outside },
        { row: 8, column: 'collected_on', value: '2026-07-01', reason: outside },
      ],
    });
    expect(await stored()).toEqual(before);
    expect(await loanState()).toEqual(state);
  }, 60_000);

  it("stores the second report and the loans' state after both: resolution, resolvedAt, collected to date", async () => {
    const rows = report2Rows();
    const res = await postReport(portfolio.id, servicerKey, reportCsv({ rows }), { period: P2 });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      ...P2,
      total: totalOf(rows).toString(),
      resolvedCount: rows.filter((r) => r.resolution !== '').length,
    });
    report2Id = res.json().id;
    // independently, from the two reports' rows
    const expected = Array.from({ length: LOANS }, (_, i) => {
      const first = resolvedBy1(i);
      const second = report2Row(i).resolution || null;
      return [
        loanId(i),
        first ?? second,
        first !== null ? '2026-03-31' : second !== null ? '2026-06-30' : null,
        first !== null ? reportId : second !== null ? report2Id : null,
        (totalOf([reportRow(i)]) + totalOf([rows[i]])).toString(),
      ];
    });
    expect(await loanState()).toEqual(expected);
    // the figures the checks above rest on: some loans resolved by each report, some collecting in both
    expect(expected.filter((l) => l[3] === reportId).length).toBe(30 + 12);
    expect(expected.filter((l) => l[3] === report2Id).length).toBeGreaterThan(100);

    // GET /v1/portfolios/:id/loans carries the state (decimal string base units)
    const page = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${portfolio.id}/loans?limit=8`,
      headers: issuer,
    });
    expect(page.statusCode, page.body).toBe(200);
    expect(
      page
        .json()
        .items.map((l: Record<string, unknown>) => [l.loanId, l.resolution, l.resolvedAt, l.collectedToDate]),
    ).toEqual(
      expected.slice(0, 8).map(([id, resolution, at, , collected]) => [id, resolution, at, collected]),
    );
    expect(page.json().items[0]).toMatchObject({
      loanId: loanId(0),
      resolution: 'settled',
      resolvedAt: '2026-03-31',
      collectedToDate: '12340000',
    });
  }, 60_000);

  it("defaults the period: from the day after the previous report's end to today (UTC)", async () => {
    const today = utcDate();
    const third = (collected: string) =>
      reportCsv({
        rows: Array.from({ length: LOANS }, (_, i) =>
          i === 2
            ? { loan_id: loanId(2), collected, collected_on: today, resolution: '' }
            : { loan_id: loanId(i), collected: '0', collected_on: '', resolution: '' },
        ),
      });
    const before = (await loanState())[2];
    const res = await postReport(portfolio.id, servicerKey, third('1'));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ periodStart: '2026-07-01', periodEnd: today, total: '1000000' });
    expect((await loanState())[2]).toEqual([
      ...before.slice(0, 4),
      (BigInt(before[4] as string) + 1_000_000n).toString(),
    ]);
    // the same bytes again with the defaults: that report; other bytes: the next period starts tomorrow
    const again = await postReport(portfolio.id, servicerKey, third('1'));
    expect([again.statusCode, again.json().id]).toEqual([200, res.json().id]);
    const next = await postReport(portfolio.id, servicerKey, third('2'));
    expect(next.statusCode).toBe(409);
    expect(next.json().details).toMatchObject({
      reason: 'PERIOD_OVERLAP',
      periodStart: utcDate(1),
      periodEnd: today,
      previous: { id: res.json().id, periodStart: '2026-07-01', periodEnd: today },
    });
  }, 60_000);

  // ---------------------------------------------------------------- small portfolios of 5 loans

  /** A published portfolio with a 5-loan tape (no chain): its id. */
  async function tapedPortfolio(data: { publishedAt?: Date; chainId?: number; portfolioAddress?: string }) {
    const created = await t.db.prisma.portfolio.create({
      data: {
        owner: 'acme',
        name: 'Five loans',
        assetClass: 'corporate',
        jurisdiction: 'IT',
        currency: 'EUR',
        askingPrice: '1000',
        servicerAddress: servicer.account.address,
        servicerFeeBps: 0,
        protocolFeeBps: 0,
        ...data,
      },
    });
    await ingestLoanTape({
      pool: t.db.pool,
      portfolioId: created.id,
      source: Readable.from([Buffer.from(loanTapeCsv({ rows: 5 }))]),
      maxBytes: 1 << 20,
    });
    await t.db.prisma.portfolio.update({ where: { id: created.id }, data: { status: 'published' } });
    return created.id;
  }
  type Line = { collected: string; on?: string; resolution?: string };
  const smallCsv = (lines: Record<number, Line>) =>
    `${COLUMNS.join(',')}\n${Array.from({ length: 5 }, (_, i) => {
      const line = lines[i];
      return `${loanId(i)},${line?.collected ?? '0'},${line?.on ?? ''},${line?.resolution ?? ''}`;
    }).join('\n')}\n`;

  it("starts a first report's default period at the offering's indexed close, else at the publish date", async () => {
    const today = utcDate();
    const published = await tapedPortfolio({ publishedAt: new Date('2026-02-10T23:30:00Z') });
    const early = await postReport(published, servicerKey, smallCsv({}), {
      period: { periodEnd: '2026-02-09' },
    });
    expect([early.statusCode, early.json().details]).toEqual([
      400,
      [
        {
          path: 'querystring.periodStart',
          message: 'is required: its default, the publish date (2026-02-10), is after periodEnd (2026-02-09)',
        },
      ],
    ]);
    const outside = await postReport(
      published,
      servicerKey,
      smallCsv({ 1: { collected: '3', on: '2026-02-09' } }),
    );
    expect(outside.statusCode).toBe(422);
    expect(outside.json().details.errors).toEqual([
      {
        row: 2,
        column: 'collected_on',
        value: '2026-02-09',
        reason: `is outside the report's period, 2026-02-10 to ${today}`,
      },
    ]);
    const ok = await postReport(
      published,
      servicerKey,
      smallCsv({ 1: { collected: '3', on: '2026-02-10' } }),
    );
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json()).toMatchObject({ periodStart: '2026-02-10', periodEnd: today, total: '3000000' });

    // the close indexed (the event's address in another case than the row's): its UTC date
    const address = `0x${randomBytes(20).toString('hex')}`;
    const closed = await tapedPortfolio({
      publishedAt: new Date('2026-02-10T10:00:00Z'),
      chainId: anvil.chainId,
      portfolioAddress: address,
    });
    await t.db.prisma.offeringClosedEvent.create({
      data: {
        chainId: anvil.chainId,
        txHash: `0x${randomBytes(32).toString('hex')}`,
        logIndex: 0,
        blockNumber: 1n,
        portfolio: address.toUpperCase().replace('0X', '0x'),
        closedAt: BigInt(Date.parse('2026-03-05T23:59:59Z') / 1000),
        sold: [],
      },
    });
    const res = await postReport(closed, servicerKey, smallCsv({}));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ periodStart: '2026-03-05', periodEnd: today });
  }, 60_000);

  const JANUARY = { periodStart: '2026-01-01', periodEnd: '2026-01-31' };
  const FEBRUARY = { periodStart: '2026-02-01', periodEnd: '2026-02-28' };
  /** January settles loan 0 (10 collected); February collects 5 on it. */
  const resolving = smallCsv({
    0: { collected: '10', on: '2026-01-15', resolution: 'settled' },
    3: { collected: '1', on: '2026-01-20' },
  });
  const collecting = smallCsv({
    0: { collected: '5', on: '2026-02-10' },
    3: { collected: '2', on: '2026-02-11' },
  });

  it('checks two reports of a portfolio sent at once one after the other: the second against the first', async () => {
    const id = await tapedPortfolio({ publishedAt: new Date('2026-01-01T00:00:00Z') });
    const ingest = (source: Readable, bytes: string, period: Period) =>
      ingestRemittanceReport({
        pool: t.db.pool,
        portfolioId: id,
        source,
        sha256: sha(bytes),
        size: Buffer.byteLength(bytes),
        submittedBy: 'test',
        period,
      });
    const waitingOnLock = async () =>
      Number(
        (
          await t.db.pool.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rows[0].n,
      );
    // January's body arrives only once February's report is waiting: January holds the portfolio then
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reading = () => {};
    const readingStarted = new Promise<void>((resolve) => {
      reading = resolve;
    });
    let asked = false;
    const held = new Readable({
      read() {
        reading();
        if (asked) return;
        asked = true;
        void released.then(() => {
          this.push(Buffer.from(resolving));
          this.push(null);
        });
      },
    });
    const before = await stored();
    try {
      const first = ingest(held, resolving, JANUARY);
      first.catch(() => {});
      await Promise.race([readingStarted, first]);
      const second = ingest(Readable.from([Buffer.from(collecting)]), collecting, FEBRUARY);
      second.catch(() => {});
      // February waits for January's row lock (with a FOR SHARE lock it would not: both would pass)
      await vi.waitFor(async () => expect(await waitingOnLock()).toBe(1), { timeout: 20_000, interval: 50 });
      release();
      const [a, b] = await Promise.allSettled([first, second]);
      expect(a.status).toBe('fulfilled');
      const stored1 = (a as PromiseFulfilledResult<Awaited<typeof first>>).value;
      expect(stored1.existing).toBe(false);
      const january = stored1.report;
      expect(january).toMatchObject(JANUARY);
      expect(b.status).toBe('rejected');
      const error = (b as PromiseRejectedResult).reason;
      expect([error.statusCode, error.code]).toEqual([422, 'VALIDATION_FAILED']);
      expect(error.details.errors).toEqual([
        {
          row: 1,
          column: 'collected',
          value: '5',
          reason: `the loan was resolved (settled) by remittance report ${january.id} (period 2026-01-01 to 2026-01-31): a resolved loan cannot collect again`,
        },
      ]);
      expect(await stored()).toEqual({ reports: before.reports + 1, lines: before.lines + 5 });
      expect((await loanState(id)).map((l) => [l[1], l[2], l[4]])).toEqual([
        ['settled', '2026-01-31', '10000000'],
        [null, null, '0'],
        [null, null, '0'],
        [null, null, '1000000'],
        [null, null, '0'],
      ]);
    } finally {
      release();
    }
  }, 60_000);

  it('two POSTs at once through the API: exactly one is stored, the other refused by its state', async () => {
    const id = await tapedPortfolio({ publishedAt: new Date('2026-01-01T00:00:00Z') });
    const [january, february] = await Promise.all([
      postReport(id, servicerKey, resolving, { period: JANUARY }),
      postReport(id, servicerKey, collecting, { period: FEBRUARY }),
    ]);
    const statuses = [january.statusCode, february.statusCode];
    expect(
      statuses.filter((s) => s === 201),
      JSON.stringify(statuses),
    ).toHaveLength(1);
    const state = (await loanState(id)).map((l) => [l[1], l[4]]);
    if (january.statusCode === 201) {
      // January first: February collects on a settled loan
      expect(february.statusCode, february.body).toBe(422);
      expect(
        february.json().details.errors.map((e: { row: number; column: string }) => [e.row, e.column]),
      ).toEqual([[1, 'collected']]);
      expect(state[0]).toEqual(['settled', '10000000']);
    } else {
      // February first: January's period is before it
      expect(january.statusCode, january.body).toBe(409);
      expect(january.json().details.reason).toBe('PERIOD_OVERLAP');
      expect(state[0]).toEqual([null, '5000000']);
    }
    expect(await t.db.prisma.remittanceReport.count({ where: { portfolioId: id } })).toBe(1);
  }, 60_000);
});
