/**
 * Listing benchmark (issue 3, "Benchmarks"): `GET /v1/portfolios` of the real app (buildApp on a
 * fresh benchmark database holding 1,000 portfolios and 1,000,000 loans) under autocannon at 50
 * connections, against a bare Fastify route answering a constant JSON of the same size (one real
 * response body, captured first and served by a plain `fastify()` instance) in the same run.
 *
 *   npx tsx bench/listing.ts [--portfolios 1000] [--loans 1000000] [--connections 50] [--duration 10]
 *
 * Seeding goes through the API: POST /v1/portfolios for every portfolio, then PUT .../loan-tape
 * (the ingest computes the statistics in SQL exactly as in production). The load generator runs in
 * a child process. Targets: app req/s >= 0.5 x bare route, app p99 < 50 ms. Printed, never asserted.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { LOAN_TAPE_HEADER, loanRow } from '../test/helpers/loan-tape.ts';
import {
  BENCH_RATE_LIMIT_MAX,
  type BenchApp,
  issuerHeaders,
  portfolioBody,
  startBenchApp,
} from './lib/app.ts';
import { autocannon, type LoadResult } from './lib/autocannon.ts';
import { createBenchDatabase } from './lib/db.ts';
import { expectJson } from './lib/http.ts';
import { formatInt, NOISE_NOTE, type SummaryRow } from './lib/summary.ts';
import { formatMs, formatTable } from './lib/table.ts';

export type ListingBenchOptions = {
  /** Default 1,000. */
  portfolios?: number;
  /** Loans in the database, spread evenly over the portfolios; default 1,000,000. */
  loans?: number;
  /** Default 50. */
  connections?: number;
  /** Seconds measured per target; default 10. */
  durationSeconds?: number;
  /** Seconds of warm-up load per target (not measured); default 3. */
  warmupSeconds?: number;
  /** The query measured; default `/v1/portfolios` (first page, default sort and limit). */
  path?: string;
  log?: (line: string) => void;
};

export type ListingBenchResult = {
  portfolios: number;
  loans: number;
  seedMs: number;
  path: string;
  responseBytes: number;
  items: number;
  connections: number;
  durationSeconds: number;
  app: LoadResult;
  bare: LoadResult;
  /** app / bare requests per second; target >= 0.5 */
  ratio: number;
};

/** A CSV tape of loans `offset .. offset + rows - 1` (the generator's cells need no quoting). */
function tapeSlice(offset: number, rows: number): string {
  let out = `${LOAN_TAPE_HEADER.join(',')}\n`;
  for (let i = offset; i < offset + rows; i++) out += `${loanRow(i).join(',')}\n`;
  return out;
}

async function parallel(count: number, concurrency: number, task: (k: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function seed(
  bench: BenchApp,
  headers: { authorization: string },
  portfolios: number,
  loans: number,
  log: (line: string) => void,
): Promise<void> {
  const ids: string[] = new Array(portfolios);
  await parallel(portfolios, 8, async (k) => {
    const res = await bench.app.inject({
      method: 'POST',
      url: '/v1/portfolios',
      headers,
      payload: portfolioBody(k),
    });
    if (res.statusCode !== 201) throw new Error(`seed: POST /v1/portfolios ${res.statusCode} ${res.body}`);
    ids[k] = (res.json() as { id: string }).id;
  });
  log(`listing: ${formatInt(portfolios)} portfolios created`);
  const base = Math.floor(loans / portfolios);
  let offset = 0;
  const offsets = ids.map((_, k) => {
    const rows = base + (k < loans - base * portfolios ? 1 : 0);
    const at = offset;
    offset += rows;
    return [at, rows] as const;
  });
  let done = 0;
  await parallel(portfolios, 2, async (k) => {
    const [at, rows] = offsets[k];
    if (rows === 0) return;
    const res = await bench.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${ids[k]}/loan-tape`,
      headers: { ...headers, 'content-type': 'text/csv' },
      payload: tapeSlice(at, rows),
    });
    if (res.statusCode !== 200)
      throw new Error(`seed: PUT loan-tape ${res.statusCode} ${res.body.slice(0, 300)}`);
    if (++done % 100 === 0) log(`listing: ${formatInt(done)} loan tapes uploaded`);
  });
  await bench.app.db.pool.query('VACUUM ANALYZE portfolio');
}

export async function runListingBench(options: ListingBenchOptions = {}): Promise<ListingBenchResult> {
  const portfolios = options.portfolios ?? 1_000;
  const loans = options.loans ?? 1_000_000;
  const connections = options.connections ?? 50;
  const durationSeconds = options.durationSeconds ?? 10;
  const warmupSeconds = options.warmupSeconds ?? 3;
  const path = options.path ?? '/v1/portfolios';
  const log = options.log ?? (() => {});

  const db = await createBenchDatabase('listing');
  let bench: BenchApp | undefined;
  const bareApp = Fastify({ logger: false });
  try {
    bench = await startBenchApp(db);
    const headers = await issuerHeaders(db);
    log(`listing: seeding ${formatInt(portfolios)} portfolios and ${formatInt(loans)} loans through the API`);
    const t0 = performance.now();
    await seed(bench, headers, portfolios, loans, log);
    const seedMs = performance.now() - t0;
    const { rows: counted } = await db.pool.query<{ p: number; l: number; s: number }>(
      `SELECT (SELECT count(*)::int FROM portfolio) AS p, (SELECT count(*)::int FROM loan) AS l,
              (SELECT coalesce(sum(loan_count), 0)::int FROM portfolio) AS s`,
    );
    if (counted[0].p !== portfolios || counted[0].l !== loans || counted[0].s !== loans)
      throw new Error(`listing: seeded ${JSON.stringify(counted[0])}, expected ${portfolios} / ${loans}`);

    // one real answer, served as a constant by a bare Fastify route
    const real = await expectJson<{ items: { stats: { loanCount: number } }[] }>(
      { method: 'GET', url: `${bench.url}${path}` },
      200,
    );
    if (real.json.items.length === 0 || real.json.items.some((i) => i.stats.loanCount === 0))
      throw new Error('listing: the captured page has no loans in its statistics');
    const constant = real.json;
    bareApp.get(path.split('?')[0], async () => constant);
    await bareApp.listen({ host: '127.0.0.1', port: 0 });
    const bareUrl = `http://127.0.0.1:${(bareApp.server.address() as AddressInfo).port}${path}`;
    const bareBody = await expectJson({ method: 'GET', url: bareUrl }, 200);
    if (bareBody.body.length !== real.body.length)
      throw new Error(`listing: bare answer ${bareBody.body.length} bytes, real ${real.body.length}`);

    const measure = async (name: string, url: string) => {
      log(`listing: ${name}: warm-up ${warmupSeconds} s`);
      await autocannon({ url, connections, durationSeconds: warmupSeconds });
      log(`listing: ${name}: ${durationSeconds} s at ${connections} connections`);
      const result = await autocannon({ url, connections, durationSeconds });
      if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
        throw new Error(`listing: ${name}: ${JSON.stringify(result)}`);
      return result;
    };
    const app = await measure('app', `${bench.url}${path}`);
    const bare = await measure('bare fastify', bareUrl);
    return {
      portfolios,
      loans,
      seedMs,
      path,
      responseBytes: Buffer.byteLength(real.body),
      items: real.json.items.length,
      connections,
      durationSeconds,
      app,
      bare,
      ratio: app.requestsPerSecond / bare.requestsPerSecond,
    };
  } finally {
    await bareApp.close();
    await bench?.close();
    await db.drop();
  }
}

export function formatListingBench(r: ListingBenchResult): string {
  const row = (name: string, x: LoadResult) => [
    name,
    formatInt(x.requestsPerSecond),
    `${x.p50} ms`,
    `${x.p99} ms`,
    `${x.max} ms`,
    formatInt(x.requests),
    (x.bytesPerSecond / 2 ** 20).toFixed(1),
  ];
  const table = formatTable(
    ['target', 'req/s', 'p50', 'p99', 'max', 'requests', 'MB/s'],
    [row(`app GET ${r.path}`, r.app), row('bare fastify, constant JSON', r.bare)],
  );
  const p99ok = r.app.p99 < 50;
  return [
    `GET ${r.path}: ${formatInt(r.portfolios)} portfolios, ${formatInt(r.loans)} loans in the database ` +
      `(seeded through the API in ${formatMs(r.seedMs)}); answer ${formatInt(r.responseBytes)} bytes, ` +
      `${r.items} items; autocannon ${r.connections} connections, ${r.durationSeconds} s each after a warm-up`,
    table,
    `ratio app / bare = ${r.ratio.toFixed(2)} (target >= 0.5: ${r.ratio >= 0.5 ? 'ok' : 'MISSED'}); ` +
      `app p99 = ${r.app.p99} ms (target < 50 ms: ${p99ok ? 'ok' : 'MISSED'})`,
    `The bare route returns the captured page as a constant object (serialized by Fastify per request). ` +
      `App: NODE_ENV=production, logging off, RATE_LIMIT_MAX raised to ${formatInt(BENCH_RATE_LIMIT_MAX)} for the ` +
      'benchmark (the default 600/min would answer 429); helmet, rate-limit and auth hooks stay on.',
    'autocannon runs in a child process on the same machine.',
    NOISE_NOTE,
  ].join('\n');
}

export function listingSummary(r: ListingBenchResult): SummaryRow[] {
  const scale = `${formatInt(r.portfolios)} portfolios, ${formatInt(r.loans)} loans`;
  return [
    {
      benchmark: `GET /v1/portfolios req/s (${scale})`,
      measured: `${formatInt(r.app.requestsPerSecond)} req/s`,
      baseline: `${formatInt(r.bare.requestsPerSecond)} req/s (bare)`,
      ratio: `${r.ratio.toFixed(2)}x`,
      target: '>= 0.5x',
      ok: r.ratio >= 0.5,
    },
    {
      benchmark: `GET /v1/portfolios p99 at ${r.connections} connections`,
      measured: `${r.app.p99} ms`,
      baseline: `${r.bare.p99} ms (bare)`,
      ratio: r.bare.p99 > 0 ? `${(r.app.p99 / r.bare.p99).toFixed(2)}x` : '-',
      target: '< 50 ms',
      ok: r.app.p99 < 50,
    },
  ];
}

function parseArgs(argv: readonly string[]): ListingBenchOptions {
  const options: ListingBenchOptions = { log: (line) => console.error(line) };
  const int = (s: string) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--portfolios') options.portfolios = int(argv[++i]);
    else if (arg === '--loans') options.loans = int(argv[++i]);
    else if (arg === '--connections') options.connections = int(argv[++i]);
    else if (arg === '--duration') options.durationSeconds = int(argv[++i]);
    else if (arg === '--warmup') options.warmupSeconds = int(argv[++i]);
    else if (arg === '--path') options.path = argv[++i];
    else if (arg === '--quick') options.loans = 100_000;
    else throw new Error(`unknown argument ${arg}`);
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runListingBench(parseArgs(process.argv.slice(2)));
  console.log(formatListingBench(result));
}
