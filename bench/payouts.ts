/**
 * Payout proof benchmark (issue 5, "Benchmarks"): `GET /v1/investors/:address/payouts` of the real
 * app for random holders of a distribution with N holders (default 1,000,000) under autocannon,
 * against a bare Fastify route answering a constant JSON of the same size on the same path pattern,
 * same run. Target: p99 <= 20 ms under load.
 *
 *   npx tsx bench/payouts.ts [--holders 1000000] [--connections 20] [--duration 10] [--warmup 3]
 *
 * Setup: anvil with the stack and one portfolio (its Distributor is real; the route takes `claimed`
 * from the indexed Claimed events, so a request makes no RPC call),
 * a benchmark database with the portfolio, one `claimable` distribution and its N holder rows
 * (inserted with COPY), the tree built by core/distributions/tree/merkle.ts and its dump file written where the
 * worker would (the route loads it once into its tree cache: that first request is timed apart).
 * The Distributor's on-chain root is not this tree's root (nothing is proposed): the route never
 * compares them, so the work per request is the same. Printed, never asserted.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { from as copyFrom } from 'pg-copy-streams';
import type { Address } from 'viem';
import { createPortfolio } from '../core/chain/actions.ts';
import { startAnvil } from '../core/chain/anvil.ts';
import { createChainClients } from '../core/chain/clients.ts';
import { deployStack } from '../core/chain/deploy.ts';
import { saveDeployment } from '../core/chain/deployment.ts';
import { loadTree } from '../core/distributions/payouts.ts';
import { createKeccakEngine, KECCAK_LAYOUT } from '../core/distributions/tree/keccak.ts';
import { buildDistributionTree, verifyDistributionProof } from '../core/distributions/tree/merkle.ts';
import { BENCH_RATE_LIMIT_MAX, type BenchApp, startBenchApp } from './lib/app.ts';
import { autocannon, type LoadResult } from './lib/autocannon.ts';
import { createBenchDatabase } from './lib/db.ts';
import { expectJson } from './lib/http.ts';
import { formatInt, NOISE_NOTE, type SummaryRow } from './lib/summary.ts';
import { formatMs, formatTable } from './lib/table.ts';

export type PayoutsBenchOptions = {
  /** Holders in the distribution; default 1,000,000. */
  holders?: number;
  /** Default 20. */
  connections?: number;
  /** Seconds measured per target; default 10. */
  durationSeconds?: number;
  /** Seconds of warm-up load per target (not measured); default 3. */
  warmupSeconds?: number;
  /** Distinct random holders the load draws from; default 20,000. */
  sample?: number;
  log?: (line: string) => void;
};

export type PayoutsBenchResult = {
  holders: number;
  seedMs: number;
  /** core/distributions/payouts loadTree from the dump file (every hash checked), as the route's cache loads it. */
  treeLoadMs: number;
  /** The first request (the route warms its tree cache in the background: usually already loaded). */
  firstMs: number;
  responseBytes: number;
  proofLength: number;
  connections: number;
  durationSeconds: number;
  sample: number;
  app: LoadResult;
  bare: LoadResult;
  /** The app with one connection (no queueing: the service time of one request). */
  single: LoadResult;
};

type PayoutsBody = {
  items: { cumulative: string; claimed: string; root: string; proof: string[] }[];
};

/** `n` random EIP-55 checksummed accounts (as distribution_holder stores them) and amounts < 2^48. */
function randomHolders(n: number): { accounts: string[]; amounts: bigint[] } {
  const heap = KECCAK_LAYOUT.heap;
  const engine = createKeccakEngine(heap + 62 * n);
  engine.bytes().set(randomBytes(20 * n), heap);
  engine.checksums(heap, n, heap + 20 * n);
  const text = Buffer.from(engine.bytes().buffer, heap + 20 * n, 42 * n);
  const amountBytes = randomBytes(6 * n);
  const accounts = new Array<string>(n);
  const amounts = new Array<bigint>(n);
  for (let k = 0; k < n; k++) {
    accounts[k] = text.toString('latin1', 42 * k, 42 * k + 42);
    amounts[k] = BigInt(amountBytes.readUIntBE(6 * k, 6));
  }
  return { accounts, amounts };
}

export async function runPayoutsBench(options: PayoutsBenchOptions = {}): Promise<PayoutsBenchResult> {
  const n = options.holders ?? 1_000_000;
  const connections = options.connections ?? 20;
  const durationSeconds = options.durationSeconds ?? 10;
  const warmupSeconds = options.warmupSeconds ?? 3;
  const sample = Math.min(n, options.sample ?? 20_000);
  const log = options.log ?? (() => {});

  const anvil = await startAnvil({ accounts: 3 });
  const db = await createBenchDatabase('payouts');
  const dir = await mkdtemp(path.join(tmpdir(), 'npl-bench-payouts-'));
  const bareApp = Fastify({ logger: false });
  let bench: BenchApp | undefined;
  try {
    const deployer = createChainClients({
      rpcUrl: anvil.rpcUrl,
      privateKey: anvil.accounts[0].privateKey,
      pollingInterval: 20,
    });
    const stack = await deployStack(deployer);
    const deploymentFile = path.join(dir, 'deployment.json');
    await saveDeployment(deploymentFile, stack);
    const now = (await deployer.publicClient.getBlock()).timestamp;
    const created = await createPortfolio(deployer, {
      factory: stack.portfolioFactory,
      payToken: stack.testStablecoin as Address,
      registry: stack.complianceRegistry,
      servicer: anvil.accounts[2].address,
      rootProposer: anvil.accounts[1].address,
      timelockDelay: 2,
      offeringEnd: now + 86_400n,
      tranches: [{ name: 'Residual', symbol: 'R', face: 1_000_000n, couponBps: 0 }],
    });
    bench = await startBenchApp(db, {
      RPC_URL: anvil.rpcUrl,
      DEPLOYMENT_FILE: deploymentFile,
      PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
      DATA_DIR: dir,
    });

    log(`payouts: ${formatInt(n)} holders: tree, dump file and COPY`);
    const t0 = performance.now();
    const portfolio = await db.prisma.portfolio.create({
      data: {
        owner: 'bench',
        name: 'Payouts bench',
        assetClass: 'corporate',
        jurisdiction: 'IT',
        currency: 'EUR',
        askingPrice: '1',
        servicerAddress: anvil.accounts[2].address,
        servicerFeeBps: 0,
        protocolFeeBps: 0,
        status: 'published',
        chainId: anvil.chainId,
        portfolioAddress: created.portfolio,
        distributorAddress: created.distributor,
        offeringAddress: created.portfolio,
        publishedAt: new Date(),
      },
    });
    const { accounts, amounts } = randomHolders(n);
    const tree = buildDistributionTree(accounts.map((account, k) => ({ account, amount: amounts[k] })));
    const distribution = await db.prisma.distribution.create({
      data: {
        portfolioId: portfolio.id,
        chainId: anvil.chainId,
        portfolio: created.portfolio,
        recoveryTxHash: `0x${randomBytes(32).toString('hex')}`,
        recoveryLogIdx: 0,
        recoveryId: '1',
        snapshotBlock: 1n,
        status: 'claimable',
        snapshotAt: new Date(),
        computedAt: new Date(),
        root: tree.root,
        total: amounts.reduce((a, b) => a + b, 0n).toString(),
        payout: amounts.reduce((a, b) => a + b, 0n).toString(),
      },
    });
    // the dump where the worker writes it
    const distributions = path.join(dir, 'distributions');
    mkdirSync(distributions, { recursive: true });
    const treePath = path.join(distributions, `${distribution.id}.json`);
    const fd = openSync(treePath, 'w');
    try {
      tree.writeDump((chunk) => {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
      });
    } finally {
      closeSync(fd);
    }
    await db.prisma.distribution.update({
      where: { id: distribution.id },
      data: { treePath, treeHash: `0x${'00'.repeat(32)}` },
    });
    // the holder rows, COPY in 10k-row chunks of text
    const client = await db.pool.connect();
    try {
      const rows = async function* () {
        for (let from = 0; from < n; from += 10_000) {
          let text = '';
          for (let k = from; k < Math.min(n, from + 10_000); k++)
            text += `${distribution.id}\t${accounts[k]}\t${amounts[k]}\t${amounts[k]}\n`;
          yield text;
        }
      };
      await pipeline(
        Readable.from(rows()),
        client.query(
          copyFrom('COPY distribution_holder (distribution_id, account, payout, cumulative) FROM STDIN'),
        ),
      );
      await client.query('VACUUM ANALYZE distribution_holder');
    } finally {
      client.release();
    }
    const seedMs = performance.now() - t0;
    log(`payouts: seeded in ${formatMs(seedMs)}`);
    // what the route's tree cache does once per distribution (in the background, off the request path)
    const loadStart = performance.now();
    const loaded = await loadTree(db.prisma, { id: distribution.id, root: tree.root, treePath });
    const treeLoadMs = performance.now() - loadStart;
    if (loaded.root !== tree.root) throw new Error('payouts: loaded tree root differs');
    log(`payouts: tree loaded from its dump file in ${formatMs(treeLoadMs)}`);

    // first request, its answer checked against the tree
    const pick = () => Math.floor(Math.random() * n);
    const probe = pick();
    const urlOf = (k: number) => `/v1/investors/${accounts[k]}/payouts`;
    const cold = await expectJson<PayoutsBody>({ method: 'GET', url: `${bench.url}${urlOf(probe)}` }, 200);
    const item = cold.json.items[0];
    if (
      cold.json.items.length !== 1 ||
      item.cumulative !== amounts[probe].toString() ||
      item.root !== tree.root ||
      !verifyDistributionProof({
        root: tree.root,
        account: accounts[probe],
        amount: amounts[probe],
        proof: item.proof,
      })
    )
      throw new Error(`payouts: unexpected answer ${cold.body.slice(0, 500)}`);
    log(`payouts: first request ${formatMs(cold.ms)}`);

    // the bare baseline: the same answer as a constant, same path pattern
    const constant = cold.json;
    bareApp.get('/v1/investors/:address/payouts', async () => constant);
    await bareApp.listen({ host: '127.0.0.1', port: 0 });
    const bareOrigin = `http://127.0.0.1:${(bareApp.server.address() as AddressInfo).port}`;
    const bareBody = await expectJson({ method: 'GET', url: `${bareOrigin}${urlOf(probe)}` }, 200);
    if (bareBody.body.length !== cold.body.length)
      throw new Error(`payouts: bare answer ${bareBody.body.length} bytes, real ${cold.body.length}`);

    const paths = Array.from({ length: sample }, () => urlOf(pick()));
    const measure = async (name: string, origin: string, at = connections) => {
      log(`payouts: ${name}: warm-up ${warmupSeconds} s`);
      await autocannon({ url: origin, connections: at, durationSeconds: warmupSeconds, paths });
      log(`payouts: ${name}: ${durationSeconds} s at ${at} connections`);
      const result = await autocannon({ url: origin, connections: at, durationSeconds, paths });
      if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
        throw new Error(`payouts: ${name}: ${JSON.stringify(result)}`);
      return result;
    };
    const app = await measure('app', bench.url);
    const bare = await measure('bare fastify', bareOrigin);
    const single = await measure('app, one connection', bench.url, 1);
    return {
      holders: n,
      seedMs,
      treeLoadMs,
      firstMs: cold.ms,
      responseBytes: Buffer.byteLength(cold.body),
      proofLength: item.proof.length,
      connections,
      durationSeconds,
      sample,
      app,
      bare,
      single,
    };
  } finally {
    await bareApp.close();
    await bench?.close();
    await db.drop();
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatPayoutsBench(r: PayoutsBenchResult): string {
  const row = (name: string, x: LoadResult) => [
    name,
    formatInt(x.requestsPerSecond),
    `${x.p50} ms`,
    `${x.p99} ms`,
    `${x.max} ms`,
    formatInt(x.requests),
  ];
  return [
    `GET /v1/investors/:address/payouts: one claimable distribution of ${formatInt(r.holders)} holders ` +
      `(seeded in ${formatMs(r.seedMs)}); answer ${formatInt(r.responseBytes)} bytes, proof of ${r.proofLength} hashes; ` +
      `random holders out of ${formatInt(r.sample)}; autocannon ${r.connections} connections, ${r.durationSeconds} s each after a warm-up`,
    `tree loaded from its dump file, every hash checked (core/distributions/payouts loadTree; the route's cache does it once per ` +
      `distribution, in the background): ${formatMs(r.treeLoadMs)}; first request ${formatMs(r.firstMs)}`,
    formatTable(
      ['target', 'req/s', 'p50', 'p99', 'max', 'requests'],
      [
        row('app GET /v1/investors/:address/payouts', r.app),
        row('bare fastify, constant JSON, same path', r.bare),
        row('app, 1 connection (service time, no queueing)', r.single),
      ],
    ),
    `app p99 = ${r.app.p99} ms (target <= 20 ms: ${r.app.p99 <= 20 ? 'ok' : 'MISSED'}); bare p99 ${r.bare.p99} ms`,
    'Per request the app runs one SQL statement (holder row, latest accepted distribution, pending, indexed ' +
      'claimed) and takes the proof from the cached tree; no RPC call. App: NODE_ENV=production, ' +
      `logging off, RATE_LIMIT_MAX raised to ${formatInt(BENCH_RATE_LIMIT_MAX)}. autocannon in a child process ` +
      `on the same cores as the app and Postgres: at ${r.connections} connections the p99 is mostly queueing ` +
      '(compare the one-connection service time).',
    NOISE_NOTE,
  ].join('\n');
}

export function payoutsSummary(r: PayoutsBenchResult): SummaryRow[] {
  const judged = r.holders >= 1_000_000;
  return [
    {
      benchmark: `GET payouts p99, ${formatInt(r.holders)} holders, ${r.connections} connections`,
      measured: `${r.app.p99} ms`,
      baseline: `${r.bare.p99} ms (bare)`,
      ratio: r.bare.p99 > 0 ? `${(r.app.p99 / r.bare.p99).toFixed(2)}x` : '-',
      target: judged ? '<= 20 ms' : '<= 20 ms (at 1M, not judged)',
      ok: judged ? r.app.p99 <= 20 : undefined,
    },
    {
      benchmark: `GET payouts p99, ${formatInt(r.holders)} holders, 1 connection`,
      measured: `${r.single.p99} ms`,
      baseline: '-',
      ratio: '-',
      target: '(reported: service time)',
    },
    {
      benchmark: `GET payouts req/s, ${formatInt(r.holders)} holders`,
      measured: `${formatInt(r.app.requestsPerSecond)} req/s`,
      baseline: `${formatInt(r.bare.requestsPerSecond)} req/s (bare)`,
      ratio: `${(r.app.requestsPerSecond / r.bare.requestsPerSecond).toFixed(2)}x`,
      target: '(reported)',
    },
  ];
}

function parseArgs(argv: readonly string[]): PayoutsBenchOptions {
  const options: PayoutsBenchOptions = { log: (line) => console.error(line) };
  const int = (s: string) => {
    const v = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(v) || v < 1) throw new Error(`not a positive integer: ${s}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--holders') options.holders = int(argv[++i]);
    else if (arg === '--connections') options.connections = int(argv[++i]);
    else if (arg === '--duration') options.durationSeconds = int(argv[++i]);
    else if (arg === '--warmup') options.warmupSeconds = int(argv[++i]);
    else if (arg === '--sample') options.sample = int(argv[++i]);
    else throw new Error(`unknown argument ${arg}`);
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runPayoutsBench(parseArgs(process.argv.slice(2)));
  console.log(formatPayoutsBench(result));
  process.exit(0);
}
