/**
 * The public distribution routes on a real Postgres: rows as the worker leaves them at each step
 * (computing without a tree, proposed, paid with pushes), the tree dump streamed from disk.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, keccak256 } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDistributionTree } from '../../core/distributions/tree/merkle.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';

let t: TestApp;
let dir: string;
let portfolioId: string;
let emptyPortfolioId: string;
const ids: string[] = [];
const PORTFOLIO = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const TRANCHES = [
  '0xe7f1725e7734ce288f8367e1bb143e90bb3f0512',
  '0x9fe46736679d2d9a65f0992f10d4f0ceaa4fb8a4',
] as const;
const holders = Array.from({ length: 5 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, 'a')}`);
const txHash = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
let treeBytes: Buffer;

async function portfolio(name: string) {
  const row = await t.db.prisma.portfolio.create({
    data: {
      owner: 'acme',
      name,
      assetClass: 'corporate',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000',
      servicerFeeBps: 0,
      protocolFeeBps: 0,
      status: 'published',
      chainId: 31337,
      portfolioAddress: getAddress(PORTFOLIO),
      servicerAddress: getAddress(TRANCHES[0]),
    },
  });
  return row.id;
}

beforeAll(async () => {
  t = await createTestApp();
  dir = await mkdtemp(path.join(tmpdir(), 'npl-distributions-api-'));
  portfolioId = await portfolio('With distributions');
  emptyPortfolioId = await portfolio('Without distributions');
  // five recoveries, inserted out of order; each has its indexed event amounts
  for (const r of [3, 1, 5, 2, 4]) {
    await t.db.prisma.recoveryEventTranche.createMany({
      data: TRANCHES.map((_, i) => ({
        chainId: 31337,
        txHash: txHash(r),
        logIndex: 2,
        trancheIndex: i,
        blockNumber: BigInt(10 * r),
        interest: '0',
        principal: String(100 * r + i),
        residual: '0',
        total: String(100 * r + i),
      })),
    });
    const row = await t.db.prisma.distribution.create({
      data: {
        portfolioId,
        chainId: 31337,
        portfolio: PORTFOLIO,
        recoveryTxHash: txHash(r),
        recoveryLogIdx: 2,
        recoveryId: String(r),
        snapshotBlock: BigInt(10 * r - 1),
      },
    });
    ids[r] = row.id;
  }
  // recovery 1: paid, with its tree on disk and two pushes; recovery 2: proposed; the rest computing
  const entries = holders.map((account, i) => ({ account: getAddress(account), amount: BigInt(40 + i) }));
  const tree = buildDistributionTree(entries);
  const chunks: Uint8Array[] = [];
  tree.writeDump((c) => chunks.push(c));
  treeBytes = Buffer.concat(chunks);
  const treePath = path.join(dir, `${ids[1]}.json`);
  await writeFile(treePath, treeBytes);
  await t.db.prisma.distributionHolder.createMany({
    data: entries.map((e, i) => ({
      distributionId: ids[1],
      account: e.account,
      payout: e.amount.toString(),
      cumulative: e.amount.toString(),
      pushedTx: i === 4 ? null : txHash(100 + (i % 2)),
    })),
  });
  await t.db.prisma.distributionTranche.createMany({
    data: TRANCHES.map((tranche, i) => ({
      distributionId: ids[1],
      trancheIndex: i,
      tranche,
      amount: String(100 + i),
      carryIn: '0',
      distributed: String(100 + i - 1),
      dustOut: '1',
      supply: '1000000',
    })),
  });
  await t.db.prisma.distribution.update({
    where: { id: ids[1] },
    data: {
      status: 'paid',
      computedAt: new Date(),
      payout: '210',
      total: '210',
      root: tree.root,
      treeHash: keccak256(treeBytes),
      treePath,
      proposeTx: txHash(90),
      acceptTx: txHash(91),
      validAt: 1_700_000_000n,
    },
  });
  await t.db.prisma.distribution.update({
    where: { id: ids[2] },
    data: { status: 'proposed', computedAt: new Date(), proposeTx: txHash(92), validAt: 1_700_000_100n },
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('GET /v1/portfolios/:id/distributions', () => {
  it('lists every distribution in recoveryId order, page by page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/portfolios/${portfolioId}/distributions?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { items: { recoveryId: string }[]; nextCursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((i) => i.recoveryId));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(seen).toEqual(['1', '2', '3', '4', '5']);
    expect(pages).toBe(3);
  });

  it('gives the breakdown of a paid distribution and nulls for the steps not run', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${portfolioId}/distributions` });
    expect(res.statusCode).toBe(200);
    const [paid, proposed, computing] = res.json().items;
    expect(paid).toMatchObject({
      id: ids[1],
      portfolioId,
      chainId: 31337,
      portfolio: getAddress(PORTFOLIO),
      recoveryId: '1',
      status: 'paid',
      snapshotBlock: '9',
      recoveryTxHash: txHash(1),
      amount: '201',
      payout: '210',
      total: '210',
      treeHash: keccak256(treeBytes),
      holderCount: 5,
      tranches: [
        {
          index: 0,
          tranche: getAddress(TRANCHES[0]),
          amount: '100',
          carryIn: '0',
          distributed: '99',
          dustOut: '1',
          supply: '1000000',
        },
        {
          index: 1,
          tranche: getAddress(TRANCHES[1]),
          amount: '101',
          carryIn: '0',
          distributed: '100',
          dustOut: '1',
          supply: '1000000',
        },
      ],
    });
    expect(paid.root).toMatch(/^0x[0-9a-f]{64}$/);
    expect(Number.isNaN(Date.parse(paid.createdAt))).toBe(false);
    expect(proposed.status).toBe('proposed');
    expect(computing).toMatchObject({
      recoveryId: '3',
      status: 'computing',
      amount: '601',
      payout: null,
      total: null,
      root: null,
      treeHash: null,
      holderCount: 0,
      tranches: [],
    });
    expect('validAt' in paid).toBe(false);
  });

  it('is an empty page for a portfolio without recoveries', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${emptyPortfolioId}/distributions`,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [], nextCursor: null });
  });

  it.each([
    ['an unknown portfolio', '00000000-0000-4000-8000-000000000000'],
    ['a non-uuid id', 'nope'],
  ])('404 for %s', async (_, id) => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}/distributions` });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });

  it.each([
    ['a bad cursor', 'cursor=garbage'],
    ['a cursor that is not a recovery id', `cursor=${Buffer.from('["x"]').toString('base64url')}`],
    ['a limit out of range', 'limit=0'],
  ])('400 for %s', async (_, query) => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${portfolioId}/distributions?${query}`,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
  });
});

describe('GET /v1/distributions/:id', () => {
  it('adds the timelock, the error and the distinct transactions', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/distributions/${ids[1]}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id: ids[1], status: 'paid', validAt: '1700000000', error: null });
    expect(body.transactions).toEqual({
      recovery: txHash(1),
      propose: txHash(90),
      accept: txHash(91),
      pushes: [txHash(100), txHash(101)],
    });
    const computing = (await t.app.inject({ method: 'GET', url: `/v1/distributions/${ids[3]}` })).json();
    expect(computing).toMatchObject({
      status: 'computing',
      validAt: null,
      transactions: { recovery: txHash(3), propose: null, accept: null, pushes: [] },
    });
  });

  it('lists the transactions of 10,000 pushed holders reading a bounded number of rows', async () => {
    // 10,000 holders of recovery 5's distribution: three claimMany transactions, every fourth unpushed
    await t.db.pool.query(
      `INSERT INTO distribution_holder (distribution_id, account, payout, cumulative, pushed_tx)
       SELECT $1::uuid, '0x' || lpad(to_hex(g), 40, '0'), 1, 1,
              CASE WHEN g % 4 = 0 THEN NULL ELSE '0x' || lpad(to_hex(200 + g % 3), 64, '0') END
         FROM generate_series(1, 10000) g`,
      [ids[5]],
    );
    // every row Postgres hands to the app, through the pool Prisma queries (adapter-pg: pool.query)
    const pool = t.db.pool;
    const original = pool.query;
    let rowsFetched = 0;
    pool.query = (async (...args: Parameters<typeof original>) => {
      const result = await (original as (...a: unknown[]) => Promise<{ rows?: unknown[] }>).apply(pool, args);
      rowsFetched += result?.rows?.length ?? 0;
      return result;
    }) as typeof original;
    let res: Awaited<ReturnType<typeof t.app.inject>>;
    try {
      res = await t.app.inject({ method: 'GET', url: `/v1/distributions/${ids[5]}` });
    } finally {
      pool.query = original;
    }
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.holderCount).toBe(10_000);
    expect(body.transactions.pushes).toEqual([txHash(200), txHash(201), txHash(202)]);
    // the distribution row, its tranches, the count, the amounts and three transactions: not 7,500 holder rows
    expect(rowsFetched).toBeLessThan(50);
    await t.db.pool.query('DELETE FROM distribution_holder WHERE distribution_id = $1', [ids[5]]);
  });

  it('404 for an unknown id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'x']) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/distributions/${id}` });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: 'NOT_FOUND' });
    }
  });
});

describe('GET /v1/distributions/:id/tree', () => {
  it('streams the dump bytes the tree hash commits to, loadable by @openzeppelin/merkle-tree', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/distributions/${ids[1]}/tree` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.rawPayload.equals(treeBytes)).toBe(true);
    expect(res.headers.etag).toBe(`"${keccak256(res.rawPayload)}"`);
    const tree = StandardMerkleTree.load(JSON.parse(res.body));
    const detail = (await t.app.inject({ method: 'GET', url: `/v1/distributions/${ids[1]}` })).json();
    expect(tree.root).toBe(detail.root);
    expect(keccak256(res.rawPayload)).toBe(detail.treeHash);
    expect([...tree.entries()].map(([, [account, amount]]) => [account.toLowerCase(), amount])).toEqual(
      holders.map((a, i) => [a, String(40 + i)]),
    );
  });

  it('409 while the tree is not built, 404 for an unknown id', async () => {
    for (const r of [2, 3]) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/distributions/${ids[r]}/tree` });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ statusCode: 409, code: 'CONFLICT' });
    }
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/distributions/00000000-0000-4000-8000-000000000000/tree',
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });
});
