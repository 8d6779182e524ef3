/**
 * The reporting period's "today" (POST /v1/portfolios/:id/remittance-reports) runs on the portfolio's
 * chain when its clock is ahead of the wall clock, as the close date the first period starts from
 * already does: on anvil moved forward 100 days (`evm_increaseTime`, what `npm run demo` does to reach
 * its business plan's months), a report with the default period ends on the chain's date and may
 * collect on it; a period ending after the chain's date is still "in the future" (400). A portfolio of
 * another chain, or an app without a chain client, keeps the wall clock.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createPublicClient, http } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestLoanTape } from '../../core/catalog/loan-tape/ingest.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../../core/chain/anvil.ts';
import type { ChainPublicClient } from '../../core/chain/clients.ts';
import { buildApp } from '../../server/app.ts';
import { reportingToday } from '../../server/routes/remittance-reports.ts';
import { testConfig } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';

const DAY = 86_400;
const loanId = (i: number) => `L${String(i).padStart(8, '0')}`;
const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

let anvil: AnvilInstance;
let db: TestDatabase;
let app: Awaited<ReturnType<typeof buildApp>>;
let admin: Headers;
let chainNowMs: number;

beforeAll(async () => {
  [anvil, db] = await Promise.all([startAnvil(), createTestDatabase()]);
  app = await buildApp({ config: testConfig(db.url, { RPC_URL: anvil.rpcUrl }), db, redis: null });
  await app.ready();
  admin = await apiKeyHeaders(db.prisma, 'admin', 'platform');
  const test = createAnvilTestClient(anvil.rpcUrl, anvil.chainId);
  await test.increaseTime({ seconds: 100 * DAY });
  await test.mine({ blocks: 1 });
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  chainNowMs = Number((await client.getBlock()).timestamp) * 1000;
}, 120_000);

afterAll(async () => {
  await app?.close();
  await anvil?.stop();
  await db?.drop();
});

/** A published 5-loan portfolio on `chainId`, closed (indexed) on the chain's date 10 days ago. */
async function closedPortfolio(chainId: number): Promise<string> {
  const address = `0x${randomBytes(20).toString('hex')}`;
  const created = await db.prisma.portfolio.create({
    data: {
      owner: 'acme',
      name: 'Five loans',
      assetClass: 'corporate',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000',
      servicerAddress: anvil.accounts[2].address,
      servicerFeeBps: 0,
      protocolFeeBps: 0,
      chainId,
      portfolioAddress: address,
      publishedAt: new Date(),
    },
  });
  await ingestLoanTape({
    pool: db.pool,
    portfolioId: created.id,
    source: Readable.from([Buffer.from(loanTapeCsv({ rows: 5 }))]),
    maxBytes: 1 << 20,
  });
  await db.prisma.portfolio.update({ where: { id: created.id }, data: { status: 'published' } });
  await db.prisma.offeringClosedEvent.create({
    data: {
      chainId,
      txHash: `0x${randomBytes(32).toString('hex')}`,
      logIndex: 0,
      blockNumber: 1n,
      portfolio: address,
      closedAt: BigInt(Math.floor(chainNowMs / 1000) - 10 * DAY),
      sold: [],
    },
  });
  return created.id;
}

const report = (collectedOn: string) =>
  `loan_id,collected,collected_on,resolution\n${Array.from({ length: 5 }, (_, i) =>
    i === 1 ? `${loanId(i)},3,${collectedOn},` : `${loanId(i)},0,,`,
  ).join('\n')}\n`;

const post = (portfolioId: string, csv: string, query = '') =>
  app.inject({
    method: 'POST',
    url: `/v1/portfolios/${portfolioId}/remittance-reports${query}`,
    headers: { ...admin, 'content-type': 'text/csv' },
    payload: csv,
  });

describe("the reporting period's today on a chain whose clock is ahead of the wall clock", () => {
  it("defaults periodEnd to the chain's date and accepts a collection on it", async () => {
    const chainToday = utcDate(chainNowMs);
    expect(chainToday > utcDate(Date.now())).toBe(true);
    const id = await closedPortfolio(anvil.chainId);
    const res = await post(id, report(chainToday));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      periodStart: utcDate(chainNowMs - 10 * DAY * 1000),
      periodEnd: chainToday,
      total: '3000000',
    });
  });

  it("answers 400 for a periodEnd after the chain's date", async () => {
    const id = await closedPortfolio(anvil.chainId);
    const tomorrow = utcDate(chainNowMs + DAY * 1000);
    const res = await post(id, report(tomorrow), `?periodEnd=${tomorrow}`);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().details).toEqual([
      {
        path: 'querystring.periodEnd',
        message: `must not be in the future (today is ${utcDate(chainNowMs)} UTC)`,
      },
    ]);
  });

  it('keeps the wall clock for a portfolio of another chain, without a chain client, or when the chain fails', async () => {
    const client = app.chain as ChainPublicClient;
    const wall = Date.now();
    expect(await reportingToday(client, anvil.chainId + 1, () => wall)).toBe(utcDate(wall));
    expect(await reportingToday(null, anvil.chainId, () => wall)).toBe(utcDate(wall));
    expect(await reportingToday(client, null, () => wall)).toBe(utcDate(wall));
    const failing = {
      getChainId: async () => {
        throw new Error('down');
      },
    } as unknown as ChainPublicClient;
    expect(await reportingToday(failing, anvil.chainId, () => wall)).toBe(utcDate(wall));
    // the chain's date once it is ahead
    expect(await reportingToday(client, anvil.chainId, () => wall)).toBe(utcDate(chainNowMs));
  });
});
