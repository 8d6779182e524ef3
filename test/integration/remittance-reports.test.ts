/**
 * POST /v1/portfolios/:id/remittance-reports (and its GET) and POST /v1/portfolios/:id/recoveries(/intents)
 * with `{ amount, reportId }` on anvil + Postgres, through the app: a 3,000-loan report stored with the
 * SHA-256 of its bytes and one line per loan; every bad cell answered in the loan tape's 422 shape with
 * nothing stored; a recovery backed by a report deposits exactly its total and anchors its hash on-chain
 * (the indexed RecoveryDistributed event), once per report.
 *
 * The portfolio's servicer key is the app's development servicer key (DATA_DIR/dev-servicer-key), so the
 * API signs the deposit intents.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestLoanTape } from '../../core/catalog/loan-tape/ingest.ts';
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

const postReport = (portfolioId: string, headers: Headers | undefined, csv: string, type = 'text/csv') =>
  t.app.inject({
    method: 'POST',
    url: `/v1/portfolios/${portfolioId}/remittance-reports`,
    headers: { ...headers, 'content-type': type },
    payload: csv,
  });

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
    const res = await postReport(portfolio.id, servicerKey, csv);
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
    );
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().details.errors).toEqual([
      { row: 0, column: 'amount', value: 'amount', reason: 'unknown column in the header' },
      { row: 0, column: 'loan_id', value: 'loan_id', reason: 'column appears twice in the header' },
      { row: 0, column: 'collected', value: null, reason: 'required column missing from the header' },
    ]);

    const empty = await postReport(portfolio.id, servicerKey, '');
    expect(empty.statusCode).toBe(422);
    expect(empty.json().details.errors[0].reason).toBe('the file is empty; a header row is required');

    // every loan missing: each counted, the first 1,000 listed
    const headerOnly = await postReport(portfolio.id, servicerKey, `${COLUMNS.join(',')}\n`);
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
    const wide = await postReport(portfolio.id, servicerKey, narrow);
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

  it('stores a valid report with the SHA-256 of its bytes, one line per loan, in base units (201)', async () => {
    const rows = Array.from({ length: LOANS }, (_, i) => reportRow(i)).reverse(); // any order
    // header in another order and case, CRLF line ends: the hash is of these exact bytes
    const header = 'Resolution,LOAN_ID,collected_on,collected';
    const csv = `${header}\r\n${rows.map((r) => [r.resolution, r.loan_id, r.collected_on, r.collected].join(',')).join('\r\n')}\r\n`;
    const res = await postReport(portfolio.id, servicerKey, csv);
    expect(res.statusCode, res.body).toBe(201);
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

    // the same bytes again: the same report (200), nothing new stored
    const again = await postReport(portfolio.id, admin, csv);
    expect([again.statusCode, again.json().id]).toEqual([200, reportId]);
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
});
