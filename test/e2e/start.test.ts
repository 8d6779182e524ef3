/**
 * `npm start` end to end, with real processes: anvil, redis-server and the embedded PGlite started
 * by `startMarketplace` exactly as `npm start` starts them (no DATABASE_URL / REDIS_URL / RPC_URL),
 * then stopped and started again on the same data dir.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createPublicClient, erc20Abi, http } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getFreePort, startAnvil } from '../../core/chain/anvil.ts';
import { createChainClients } from '../../core/chain/clients.ts';
import { deployStack } from '../../core/chain/deploy.ts';
import { saveDeployment } from '../../core/chain/deployment.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../scripts/services/postgres.ts';
import { type RunningMarketplace, startMarketplace } from '../../scripts/start.ts';
import { buildApp } from '../../server/app.ts';
import { testConfig } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';

const { Client, Pool } = pg;

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** No service URLs at all: every service is embedded. */
const bareEnv = (): Record<string, string | undefined> => ({
  PATH: process.env.PATH,
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
});

const draftBody = {
  name: 'Embedded start smoke test',
  description: 'Residential NPLs',
  assetClass: 'residential_mortgage',
  jurisdiction: 'IT',
  currency: 'EUR',
  askingPrice: '2500000',
  servicerAddress: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
  fees: { servicerBps: 150, protocolBps: 50 },
  waterfallMode: 'sequential',
  tranches: [
    { name: 'Senior', symbol: 'SMKA', face: '1500000', couponBps: 500 },
    { name: 'Residual', symbol: 'SMKR', face: '1000000' },
  ],
};

// biome-ignore lint/suspicious/noExplicitAny: response bodies of many shapes, checked field by field
type Json = any;

async function api(
  running: RunningMarketplace,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json; text: string; headers: Headers }> {
  const response = await fetch(`${running.urls.api}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

const bearer = (running: RunningMarketplace) => ({ authorization: `Bearer ${running.apiKey}` });

async function startOn(dataDir: string) {
  return startMarketplace({
    env: bareEnv(),
    dataDir,
    port: 0,
    servicePorts: { anvil: await getFreePort() },
    print: () => {},
  });
}

describe('npm start on embedded services', () => {
  let dataDir: string;
  let first: RunningMarketplace | undefined;
  let second: RunningMarketplace | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'npl-start-'));
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('starts everything, serves the API, and finds its data again after a restart', async () => {
    first = await startOn(dataDir);
    expect(first.embedded).toEqual({ postgres: true, redis: true, chain: true });
    expect(first.reusedDeployment).toBe(false);
    expect(first.chainId).toBe(31337);

    const health = await api(first, 'GET', '/health');
    expect(health.status, health.text).toBe(200);
    expect(health.json.postgres.status).toBe('ok');
    expect(health.json.redis.status).toBe('ok');
    expect(health.json.chain).toMatchObject({ status: 'ok', chainId: 31337 });
    expect(health.json.worker.status).toBe('ok');

    // the dev key is admin and stays private on disk
    const keyFile = join(dataDir, 'dev-api-key');
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(first.apiKey);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);

    // faucet: mints whole test dollars on the local chain
    const investor = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
    const chain = createPublicClient({ transport: http(first.urls.rpc) });
    const token = first.deployment.testStablecoin;
    expect(token).toBeDefined();
    const before = await chain.readContract({
      address: token!,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [investor],
    });
    const minted = await api(first, 'POST', '/v1/dev/faucet', { address: investor, amount: '2500.5' });
    expect(minted.status, minted.text).toBe(200);
    expect(minted.json.amountBaseUnits).toBe('2500500000');
    const after = await chain.readContract({
      address: token!,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [investor],
    });
    expect(after - before).toBe(2_500_500_000n);
    expect((await api(first, 'POST', '/v1/dev/faucet', { address: investor, amount: '0' })).status).toBe(422);

    // a draft with a loan tape (COPY FROM STDIN through the embedded Postgres), published by the worker
    const created = await api(first, 'POST', '/v1/portfolios', draftBody, bearer(first));
    expect(created.status, created.text).toBe(201);
    const id: string = created.json.id;
    const tape = await api(first, 'PUT', `/v1/portfolios/${id}/loan-tape`, loanTapeCsv({ rows: 250 }), {
      ...bearer(first),
      'content-type': 'text/csv',
    });
    expect(tape.status, tape.text).toBe(200);
    const published = await api(first, 'POST', `/v1/portfolios/${id}/publish`, undefined, bearer(first));
    expect(published.status, published.text).toBe(202);
    let job = published.json.job;
    for (let i = 0; i < 200 && (job.status === 'queued' || job.status === 'running'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = (await api(first, 'GET', `/v1/jobs/${job.id}`, undefined, bearer(first))).json;
    }
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    const detail = await api(first, 'GET', `/v1/portfolios/${id}`);
    expect(detail.json.status).toBe('published');
    expect(detail.json.stats.loanCount).toBe(250);
    const portfolioAddress = detail.json.chain.portfolio as `0x${string}`;

    const deployment = first.deployment;
    const apiKey = first.apiKey;
    await first.stop();
    first = undefined;

    // second start on the same data dir: same key, same deployment, same rows, same chain state
    second = await startOn(dataDir);
    expect(second.reusedDeployment).toBe(true);
    expect(second.deployment).toEqual(deployment);
    expect(second.apiKey).toBe(apiKey);
    const chain2 = createPublicClient({ transport: http(second.urls.rpc) });
    expect(await chain2.getCode({ address: deployment.portfolioFactory })).toMatch(/^0x[0-9a-f]{2,}/);
    expect(await chain2.getCode({ address: portfolioAddress })).toMatch(/^0x[0-9a-f]{2,}/);
    const balance = await chain2.readContract({
      address: token!,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [investor],
    });
    expect(balance).toBe(after);

    const again = await api(second, 'GET', `/v1/portfolios/${id}`);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id, name: draftBody.name, status: 'published' });
    expect(again.json.chain.portfolio).toBe(portfolioAddress);
    expect((await api(second, 'GET', '/health')).json.status).toBe('ok');
  });

  test('the queue dashboard needs an admin key (Bearer, or ?key= once, then a cookie)', async () => {
    const running = second ?? first;
    if (running === undefined) throw new Error('the marketplace did not start');
    expect((await api(running, 'GET', '/admin/queues')).status).toBe(401);
    expect((await api(running, 'GET', '/admin/queues?key=npl_wrong')).status).toBe(401);

    const viaBearer = await api(running, 'GET', '/admin/queues/api/queues', undefined, bearer(running));
    expect(viaBearer.status, viaBearer.text).toBe(200);
    expect(viaBearer.json.queues.map((q: { name: string }) => q.name)).toContain('publish');

    const viaQuery = await api(running, 'GET', `/admin/queues?key=${running.apiKey}`);
    expect(viaQuery.status).toBe(303);
    expect(viaQuery.headers.get('location')).toBe('/admin/queues');
    const cookie = (viaQuery.headers.get('set-cookie') ?? '').split(';')[0];
    expect(cookie).toMatch(/^npl_dashboard=npd_/);
    expect(cookie).not.toContain(running.apiKey);
    const page = await api(running, 'GET', '/admin/queues', undefined, { cookie });
    expect(page.status).toBe(200);
    expect(page.text).toContain('NPL marketplace queues');
  });
});

describe('npm start refuses a bad environment', () => {
  test('a bad variable stops the start with a message naming it (exit code 1)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, PORT: 'not-a-port', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/Invalid environment variable: PORT/);
    expect(stderr).toMatch(/PORT: /);
  });

  test('without redis-server and REDIS_URL it says how to install Redis', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'npl-start-noredis-'));
    try {
      await expect(
        startMarketplace({
          env: {
            PATH: '/nonexistent',
            LOG_LEVEL: 'silent',
            DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/test',
            RPC_URL: `http://127.0.0.1:${await getFreePort()}`,
          },
          dataDir,
          print: () => {},
        }),
      ).rejects.toThrow(/apt-get install redis-server.*brew install redis.*REDIS_URL/s);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the embedded Postgres (PGlite over the wire protocol)', () => {
  let pg: EmbeddedPostgres;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'npl-pglite-'));
    pg = await startEmbeddedPostgres({ dataDir });
  });

  afterAll(async () => {
    await pg?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('concurrent parameterized statements of several pools never see each other', async () => {
    const pools = [
      new Pool({ connectionString: pg.url, max: 4 }),
      new Pool({ connectionString: pg.url, max: 4 }),
    ];
    try {
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          const pool = pools[i % 2];
          if (i % 3 === 0) return pool.query('SELECT $1::int AS v', [i]).then((r) => r.rows[0].v === i);
          if (i % 3 === 1) {
            return pool
              .query(`SELECT $1::text || 'x' AS v, 2 AS w`, [String(i)])
              .then((r) => r.rows[0].v === `${i}x`);
          }
          return pool
            .query('SELECT count(*)::int AS v FROM generate_series(1, $1::int)', [i])
            .then((r) => r.rows[0].v === i);
        }),
      );
      expect(results.filter((ok) => !ok)).toEqual([]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  test('a transaction is never interleaved with another connection, and a vanished client rolls back', async () => {
    const a = new Client({ connectionString: pg.url });
    const b = new Client({ connectionString: pg.url });
    await a.connect();
    await b.connect();
    try {
      await a.query('CREATE TABLE tx_probe (x int)');
      await a.query('BEGIN');
      await a.query('INSERT INTO tx_probe VALUES (1)');
      const seenByB = b.query('SELECT count(*)::int AS n FROM tx_probe').then((r) => r.rows[0].n);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await a.query('ROLLBACK');
      // B waited for A's transaction to end instead of reading inside it
      expect(await seenByB).toBe(0);

      const c = new Client({ connectionString: pg.url });
      await c.connect();
      await c.query('BEGIN');
      await c.query('INSERT INTO tx_probe VALUES (2)');
      c.on('error', () => {});
      (c as unknown as { connection: { stream: { destroy: () => void } } }).connection.stream.destroy();
      expect((await b.query('SELECT count(*)::int AS n FROM tx_probe')).rows[0].n).toBe(0);
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('COPY FROM STDIN loads rows, and a bad row fails the COPY without loading any', async () => {
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE copy_probe (a int, b text, n numeric(78,0))');
      const rows = Array.from({ length: 2000 }, (_, i) => `${i}\trow\\t${i}\t${10n ** 70n + BigInt(i)}\n`);
      await pipeline(Readable.from(rows), client.query(copyFrom('COPY copy_probe (a, b, n) FROM STDIN')));
      const loaded = await client.query(
        'SELECT count(*)::int AS c, max(n)::text AS m, min(b) AS b FROM copy_probe',
      );
      expect(loaded.rows[0]).toEqual({ c: 2000, m: (10n ** 70n + 1999n).toString(), b: 'row\t0' });

      await client.query('BEGIN');
      await expect(
        pipeline(
          Readable.from(['1\tok\t1\n', '2\tbad\tnot-a-number\n']),
          client.query(copyFrom('COPY copy_probe FROM STDIN')),
        ),
      ).rejects.toThrow(/numeric/);
      await client.query('ROLLBACK');
      expect((await client.query('SELECT count(*)::int AS c FROM copy_probe')).rows[0].c).toBe(2000);
    } finally {
      await client.end();
    }
  });
});

describe('POST /v1/dev/faucet exists on local chains only', () => {
  test('on a non-local chain id (with a TestStablecoin deployed) the route is not registered', async () => {
    const anvil = await startAnvil({ chainId: 4242 });
    const dir = await mkdtemp(join(tmpdir(), 'npl-faucet-'));
    const db = await createTestDatabase();
    try {
      const clients = createChainClients({
        rpcUrl: anvil.rpcUrl,
        chainId: 4242,
        privateKey: anvil.accounts[0].privateKey,
      });
      const stack = await deployStack(clients, { withTestStablecoin: true });
      const file = join(dir, 'deployment.json');
      await saveDeployment(file, stack);
      const config = testConfig(db.url, { RPC_URL: anvil.rpcUrl, DEPLOYMENT_FILE: file });
      const app = await buildApp({ config, db, redis: null });
      try {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/dev/faucet',
          payload: { address: anvil.accounts[1].address, amount: '1' },
        });
        expect(res.statusCode).toBe(404);
        expect((await app.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(404);
      } finally {
        await app.close();
      }
    } finally {
      await db.drop();
      await anvil.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
