/**
 * The payouts tree cache (core/distributions/payouts.ts) loads a tree without the whole-tree work on the event
 * loop: the dump's parse and hash checks, or the build from the holder rows, run in a worker thread.
 * Structural check: the tree functions of core/distributions/tree/merkle.ts are counted on this (the main) thread,
 * where the worker thread's own copy of the module is not; and the rows are read in bounded pages.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTreeCache, TREE_ROWS_PAGE } from '../../core/distributions/payouts.ts';
import { buildDistributionTree, type DistributionTree } from '../../core/distributions/tree/merkle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { recordPublishedPortfolio } from '../helpers/portfolio.ts';

const mainThread = vi.hoisted(() => ({ parsed: 0, built: 0 }));

vi.mock('../../core/distributions/tree/merkle.ts', async (importOriginal) => {
  const merkle = await importOriginal<typeof import('../../core/distributions/tree/merkle.ts')>();
  return {
    ...merkle,
    loadDistributionTreeJson: (...args: Parameters<typeof merkle.loadDistributionTreeJson>) => {
      mainThread.parsed++;
      return merkle.loadDistributionTreeJson(...args);
    },
    loadDistributionTree: (...args: Parameters<typeof merkle.loadDistributionTree>) => {
      mainThread.parsed++;
      return merkle.loadDistributionTree(...args);
    },
    buildDistributionTree: (...args: Parameters<typeof merkle.buildDistributionTree>) => {
      mainThread.built++;
      return merkle.buildDistributionTree(...args);
    },
  };
});

// more holders than one page of rows
const HOLDERS = 2 * TREE_ROWS_PAGE + 5_000;

let db: TestDatabase;
let dir: string;
let distributionId: string;
let treePath: string;
let fixture: DistributionTree;
const PORTFOLIO = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const account = (i: number) => getAddress(`0x${(i + 1).toString(16).padStart(40, '0')}`);

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'npl-tree-cache-'));
  const portfolio = await recordPublishedPortfolio(db.prisma, {
    name: 'Tree cache',
    servicer: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    chainId: 31337,
    created: { portfolio: PORTFOLIO, distributor: PORTFOLIO, tranches: [] },
    tranches: [],
  });
  const entries = Array.from({ length: HOLDERS }, (_, i) => ({
    account: account(i),
    // a few amounts above 2^53 travel as bigints
    amount: i % 1_000 === 0 ? 2n ** 70n + BigInt(i) : BigInt(1_000 + i),
  }));
  fixture = buildDistributionTree(entries);
  const chunks: Uint8Array[] = [];
  fixture.writeDump((c) => chunks.push(c.slice()));
  treePath = path.join(dir, 'tree.json');
  await writeFile(treePath, Buffer.concat(chunks));
  const distribution = await db.prisma.distribution.create({
    data: {
      portfolioId: portfolio.id,
      chainId: 31337,
      portfolio: PORTFOLIO,
      recoveryTxHash: `0x${'1'.repeat(64)}`,
      recoveryLogIdx: 0,
      recoveryId: '1',
      snapshotBlock: 10n,
      status: 'claimable',
      root: fixture.root,
      treePath,
    },
  });
  distributionId = distribution.id;
  for (let from = 0; from < HOLDERS; from += 5_000) {
    await db.prisma.distributionHolder.createMany({
      data: entries.slice(from, from + 5_000).map((e) => ({
        distributionId,
        account: e.account,
        payout: e.amount.toString(),
        cumulative: e.amount.toString(),
      })),
    });
  }
}, 120_000);

afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function expectSameTree(tree: DistributionTree) {
  expect(tree.root).toBe(fixture.root);
  expect(tree.length).toBe(HOLDERS);
  for (const i of [0, 1, 999, 1_000, HOLDERS - 1]) {
    const k = tree.leafIndexOf(account(i));
    expect(tree.amount(k)).toBe(fixture.amount(fixture.leafIndexOf(account(i))));
    expect(tree.proof(account(i))).toEqual(fixture.proof(account(i)));
  }
  expect(tree.leafIndexOf(account(HOLDERS))).toBe(-1);
}

describe('the tree cache loads off the main thread', () => {
  it('parses and checks a dump file in a worker thread', async () => {
    mainThread.parsed = 0;
    mainThread.built = 0;
    const cache = createTreeCache({ prisma: db.prisma });
    const tree = await cache.get({ id: distributionId, root: fixture.root, treePath });
    expectSameTree(tree);
    expect(mainThread).toEqual({ parsed: 0, built: 0 });
  });

  it('rebuilds from the holder rows in a worker thread, reading them in pages', async () => {
    mainThread.parsed = 0;
    mainThread.built = 0;
    // every result Postgres hands to this thread, through the pool Prisma queries (adapter-pg: pool.query)
    const pool = db.pool;
    const query = pool.query;
    const results: number[] = [];
    pool.query = (async (...args: Parameters<typeof query>) => {
      const result = await (query as (...a: unknown[]) => Promise<{ rows?: unknown[] }>).apply(pool, args);
      results.push(result?.rows?.length ?? 0);
      return result;
    }) as typeof query;
    try {
      const cache = createTreeCache({ prisma: db.prisma });
      const tree = await cache.get({
        id: distributionId,
        root: fixture.root,
        treePath: path.join(dir, 'missing.json'),
      });
      expectSameTree(tree);
    } finally {
      pool.query = query;
    }
    expect(mainThread).toEqual({ parsed: 0, built: 0 });
    expect(results.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(HOLDERS);
    expect(Math.max(...results)).toBeLessThanOrEqual(TREE_ROWS_PAGE);
  });

  it('runs one load at a time', async () => {
    let running = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const cache = createTreeCache({
      prisma: db.prisma,
      load: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        return fixture;
      },
    });
    const ids = ['a', 'b', 'c'];
    const loads = ids.map((id) => cache.get({ id, root: fixture.root, treePath: null }));
    for (let i = 0; i < ids.length; i++) {
      await vi.waitFor(() => expect(gates).toHaveLength(i + 1));
      expect(running).toBe(1);
      gates[i]();
    }
    expect(await Promise.all(loads)).toEqual([fixture, fixture, fixture]);
    expect(most).toBe(1);
  });

  it('answers a corrupt dump with the parser error, and a distribution without rows or file as unavailable', async () => {
    const corrupt = path.join(dir, 'corrupt.json');
    await writeFile(
      corrupt,
      '{"format":"standard-v1","leafEncoding":["address","uint256"],"tree":[],"values":[]}',
    );
    const cache = createTreeCache({ prisma: db.prisma });
    await expect(
      cache.get({ id: distributionId, root: fixture.root, treePath: corrupt }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    await expect(
      cache.get({ id: '00000000-0000-4000-8000-000000000000', root: fixture.root, treePath: null }),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/neither/) });
  });
});
