/**
 * End-to-end distribution benchmark (issue 5, "Benchmarks"): N holders of a portfolio's tranche
 * tokens on anvil, a recovery deposited, the worker (indexer + distribution job, as in
 * test/integration/distribution.test.ts) running, and the time from the deposit's receipt to the
 * distribution's status `proposed` (the root proposed on-chain). Target: <= 60 s for 100k holders.
 *
 *   npx tsx bench/distribution.ts [--holders 100000]
 *
 * Setup (not timed in the target): anvil with big blocks, the stack, a portfolio of three tranches,
 * `seedHolders` (test/helpers/holders.ts: batch allowlist + BatchTransfer), the offering closed, then
 * the indexer indexes every seeded Transfer log (timed and printed separately: it happens before the
 * deposit). Timed: deposit receipt → row created (indexed + polled) → computed (snapshot from the
 * indexed transfers, payouts, holder rows) → tree written (build + dump file + its hash) → proposed
 * (proposeRoot mined through the relayer). The worker is closed once the root is proposed (the
 * timelock, acceptRoot and the claimMany pushes are not part of this target). Never asserts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { type Address, maxUint256 } from 'viem';
import {
  approve,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
} from '../core/chain/actions.ts';
import { startAnvil } from '../core/chain/anvil.ts';
import { createChainClients, withAccount } from '../core/chain/clients.ts';
import { deployStack } from '../core/chain/deploy.ts';
import { createPlatformChain } from '../core/chain/deployment.ts';
import { createRedis } from '../core/platform/queue.ts';
import { testConfig } from '../test/helpers/app.ts';
import { createTestDatabase, REDIS_URL } from '../test/helpers/db.ts';
import { HOLDERS_GAS_LIMIT, seedHolders } from '../test/helpers/holders.ts';
import { recordPublishedPortfolio } from '../test/helpers/portfolio.ts';
import { createIndexer } from '../worker/indexer/index.ts';
import { createWorker, type NplWorker } from '../worker/main.ts';
import { formatInt, type SummaryRow } from './lib/summary.ts';
import { formatMs, formatTable } from './lib/table.ts';

export type DistributionBenchOptions = {
  /** Holders seeded; default 100,000. */
  holders?: number;
  log?: (line: string) => void;
  /** Give up waiting for `proposed` after this long (ms); default 10 min. */
  timeoutMs?: number;
};

export type DistributionBenchResult = {
  holders: number;
  /** Holders in the distribution (accounts with a balance at the snapshot: the seeded ones + buyers). */
  treeHolders: number;
  transferLogs: number;
  seedMs: number;
  /** The indexer's pass over the seeded blocks (before the deposit). */
  indexMs: number;
  /** Deposit receipt → status `proposed`. */
  totalMs: number;
  steps: { label: string; ms: number }[];
};

const usd = (whole: bigint) => whole * 10n ** 6n;

export async function runDistributionBench(
  options: DistributionBenchOptions = {},
): Promise<DistributionBenchResult> {
  const count = options.holders ?? 100_000;
  const log = options.log ?? ((line: string) => console.error(line));
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;

  const anvil = await startAnvil({ accounts: 3, gasLimit: HOLDERS_GAS_LIMIT });
  const db = await createTestDatabase();
  const redis = createRedis(REDIS_URL);
  const dir = await mkdtemp(path.join(tmpdir(), 'npl-bench-distribution-'));
  let worker: NplWorker | undefined;
  try {
    const deployer = createChainClients({
      rpcUrl: anvil.rpcUrl,
      privateKey: anvil.accounts[0].privateKey,
      pollingInterval: 20,
    });
    const servicer = withAccount(deployer, anvil.accounts[2].privateKey);
    const stack = await deployStack(deployer);
    const config = testConfig(db.url, {
      RPC_URL: anvil.rpcUrl,
      DATA_DIR: dir,
      PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
      QUEUE_PREFIX: `npl-bench-distribution-${randomBytes(4).toString('hex')}`,
      JOB_ATTEMPTS: 3,
      JOB_BACKOFF_MS: 200,
    });
    const platform = await createPlatformChain(config, { deployment: stack, pollingInterval: 20 });

    // a portfolio of three tranches, face enough for every holder's units
    const face = BigInt(count) * 1_000_000n * 1_000_000n;
    const tranchesSpec = [
      { name: 'Senior', symbol: 'SNR', face, couponBps: 500, priceBps: 10_000 },
      { name: 'Mezzanine', symbol: 'MEZ', face, couponBps: 900, priceBps: 9_000 },
      { name: 'Equity', symbol: 'EQ', face, couponBps: 0, priceBps: 5_000 },
    ];
    const now = (await deployer.publicClient.getBlock()).timestamp;
    const created = await createPortfolio(deployer, {
      factory: stack.portfolioFactory,
      payToken: stack.testStablecoin as Address,
      registry: stack.complianceRegistry,
      servicer: servicer.account.address,
      rootProposer: platform.clients.account.address,
      timelockDelay: 2,
      mode: 'interestFirst',
      offeringEnd: now + 86_400n,
      tranches: tranchesSpec,
    });
    log(`distribution: seeding ${formatInt(count)} holders`);
    const seedStart = performance.now();
    const seeded = await seedHolders({
      clients: deployer,
      stack,
      portfolio: created.portfolio,
      tranches: created.tranches,
      count,
      seed: `bench-${count}`,
    });
    await closeOffering(deployer, { portfolio: created.portfolio });
    const seedMs = performance.now() - seedStart;
    const transferLogs = seeded.balances.reduce((sum, b) => sum + b.filter((x) => x > 0n).length, 0);
    log(
      `distribution: seeded in ${formatMs(seedMs)} (allowlist ${formatMs(seeded.timings.allowlist)}, buy ${formatMs(seeded.timings.buy)}, transfers ${formatMs(seeded.timings.transfer)})`,
    );
    await recordPublishedPortfolio(db.prisma, {
      name: 'Distribution bench',
      owner: 'bench',
      askingPrice: '1',
      servicer: servicer.account.address,
      chainId: anvil.chainId,
      created: created,
      tranches: tranchesSpec,
    });

    // the servicer's cash for the recovery
    await mintTestStablecoin(deployer, {
      token: stack.testStablecoin as Address,
      to: servicer.account.address,
      amount: usd(1_000_000_000n),
    });
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: created.portfolio,
      amount: maxUint256,
    });

    // the seeded Transfer logs indexed before the deposit (printed, not part of the target)
    const indexer = createIndexer({
      db,
      publicClient: platform.clients.publicClient,
      stack,
      confirmations: 0,
    });
    const indexStart = performance.now();
    await indexer.syncOnce();
    const indexMs = performance.now() - indexStart;
    log(`distribution: indexed the seeded blocks in ${formatMs(indexMs)}`);

    // the worker's log lines with their times (the tree step logs when its file is written)
    const events = new Map<string, { time: number; ms?: Record<string, number> }>();
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) {
          if (line === '') continue;
          const entry = JSON.parse(line) as { msg?: string; time?: number; ms?: Record<string, number> };
          if (entry.msg !== undefined && entry.time !== undefined && !events.has(entry.msg))
            events.set(entry.msg, { time: entry.time, ms: entry.ms });
        }
        done();
      },
    });
    const workerRedis = createRedis(REDIS_URL);
    worker = await createWorker({
      config,
      db,
      redis: workerRedis,
      platform,
      logger: pino({ level: 'info' }, sink),
      distributionPollMs: 100,
      indexer,
    });
    const closeWorker = async () => {
      await worker?.close();
      worker = undefined;
      workerRedis.disconnect();
    };

    try {
      log('distribution: depositing the recovery');
      const deposit = await depositRecovery(servicer, {
        portfolio: created.portfolio,
        amount: usd(BigInt(count)) + 7n,
      });
      const t0 = Date.now();
      const deadline = t0 + timeoutMs;
      let row: Awaited<ReturnType<typeof db.prisma.distribution.findFirst>> = null;
      for (;;) {
        row = await db.prisma.distribution.findFirst({
          where: { recoveryTxHash: deposit.txHash },
        });
        if (row?.status === 'failed') throw new Error(`distribution failed: ${row.error}`);
        if (row !== null && row.status !== 'computing') break;
        if (Date.now() > deadline) throw new Error(`not proposed within ${formatMs(timeoutMs)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // status `proposed` is set in the same update as proposeTx: updatedAt is that moment
      const proposedAt = row.updatedAt.getTime();
      const createdAt = row.createdAt.getTime();
      // the step's log line comes after its commit (computed_at is now() of its transaction: its start)
      const computedAt = events.get('distribution computed')?.time ?? Number.NaN;
      const treeAt = events.get('distribution tree written')?.time ?? Number.NaN;
      const computeMs = events.get('distribution computed')?.ms ?? {};
      const treeMs = events.get('distribution tree written')?.ms ?? {};
      const part = (ms: number | undefined) => (ms === undefined ? '?' : formatMs(ms));
      const treeHolders = await db.prisma.distributionHolder.count({ where: { distributionId: row.id } });
      await closeWorker();
      const steps = [
        { label: 'index: deposit receipt → distribution row (indexer + poll)', ms: createdAt - t0 },
        {
          label: `snapshot + compute (job pickup; balances ${part(computeMs.snapshot)}, payouts ${part(computeMs.compute)}, holder rows ${part(computeMs.write)})`,
          ms: computedAt - createdAt,
        },
        {
          label: `tree (rows read + build ${part(treeMs.build)}, dump file + hash ${part(treeMs.dump)})`,
          ms: treeAt - computedAt,
        },
        { label: 'propose: proposeRoot sent and mined (relayer)', ms: proposedAt - treeAt },
      ];
      return {
        holders: count,
        treeHolders,
        transferLogs,
        seedMs,
        indexMs,
        totalMs: proposedAt - t0,
        steps,
      };
    } finally {
      await closeWorker();
    }
  } finally {
    await worker?.close().catch(() => {});
    redis.disconnect();
    await db.drop().catch(() => {});
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatDistributionBench(r: DistributionBenchResult): string {
  return [
    `End to end: ${formatInt(r.holders)} holders seeded on anvil (${formatInt(r.transferLogs)} tranche-token transfers; ${formatInt(r.treeHolders)} accounts in the tree)`,
    `setup, not in the target: seeding ${formatMs(r.seedMs)}, indexing the seeded blocks before the deposit ${formatMs(r.indexMs)}`,
    formatTable(
      ['step', 'time', 'share'],
      [
        ...r.steps.map((s) => [s.label, formatMs(s.ms), `${((100 * s.ms) / r.totalMs).toFixed(0)}%`]),
        ['deposit receipt → root proposed', formatMs(r.totalMs), '100%'],
      ],
    ),
    `target: <= 60 s for 100,000 holders: ${r.holders >= 100_000 ? (r.totalMs <= 60_000 ? 'ok' : 'MISSED') : 'not judged at this size'}`,
  ].join('\n');
}

export function distributionSummary(r: DistributionBenchResult): SummaryRow[] {
  const judged = r.holders >= 100_000;
  return [
    {
      benchmark: `distribution deposit → root proposed, ${formatInt(r.holders)} holders`,
      measured: formatMs(r.totalMs),
      baseline: '-',
      ratio: '-',
      target: judged ? '<= 60 s' : '<= 60 s (at 100k, not judged)',
      ok: judged ? r.totalMs <= 60_000 : undefined,
    },
  ];
}

function parseArgs(argv: readonly string[]): DistributionBenchOptions {
  const options: DistributionBenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--holders') options.holders = Number(argv[++i].replace(/_/g, ''));
    else throw new Error(`unknown argument ${arg}`);
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runDistributionBench(parseArgs(process.argv.slice(2)));
  console.log(formatDistributionBench(result));
  process.exit(0);
}
