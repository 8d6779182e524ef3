/**
 * Crash safety of the distribution job, tested on the real thing: 10,000 holders over three tranches
 * (test/helpers/holders.ts), the worker run as a child process (`node --import tsx worker/main.ts`)
 * and killed with SIGKILL by its own crash points (core/platform/crash-point.ts, NPL_CRASH_AT) at each step:
 * after the snapshot, mid-tree, right after proposeRoot was sent, mid-push; then restarted without
 * NPL_CRASH_AT. And once with the worker's own Redis (a redis-server started here) killed while the
 * distribution waits for its timelock, and started again empty.
 *
 * One recovery per scenario on one portfolio (each distribution builds on the previous one's
 * cumulative amounts and dust). After each, from the chain alone: exactly one RootProposed and one
 * RootAccepted for that distribution id; exactly one Claimed per holder with a payout, of exactly the
 * payout computeDistribution gives on the balances at the snapshot block (replayed from the tranche
 * tokens' Transfer logs); every pay-token balance grew by exactly that; Σ payouts + carried dust =
 * Σ funded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Address, createPublicClient, erc20Abi, type Hex, http, maxUint256, parseEventLogs } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  approve,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
  type RecoveryDistributed,
} from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { saveDeployment } from '../../core/chain/deployment.ts';
import { distributorAbi } from '../../core/chain/generated/index.ts';
import { computeDistribution } from '../../core/distributions/compute.ts';
import { distributionChainId, distributionProposeKey } from '../../core/distributions/run.ts';
import { type AnvilInstance, createAnvilTestClient, getFreePort, startAnvil } from '../helpers/anvil.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';
import { HOLDERS_GAS_LIMIT, type SeededHolders, seedHolders } from '../helpers/holders.ts';
import { recordPublishedPortfolio } from '../helpers/portfolio.ts';

const HOLDERS = 10_000;
const PUSH_BATCH = 1_000;
const repoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const usd = (whole: bigint) => whole * 10n ** 6n;

let anvil: AnvilInstance;
let deployer: ChainClients;
let servicer: ChainClients;
let stack: DeployedStack;
let db: TestDatabase;
let dataDir: string;
let deploymentFile: string;
let seeded: SeededHolders;
let accounts: Address[];
let portfolio: Awaited<ReturnType<typeof createPortfolio>>;
let portfolioId: string;
let miner: NodeJS.Timeout | undefined;
const queuePrefix = `npl-test-crash-${randomBytes(4).toString('hex')}`;
const children = new Set<ChildProcess>();
/** Expected state carried from one scenario to the next (from the chain, never the worker's tables). */
let previousCumulative = new Map<string, bigint>();
let carry = [0n, 0n, 0n];
let fundedTotal = 0n;
let paidTotal = 0n;
let workerLogs = 0;

const reader = () =>
  createPublicClient({
    chain: deployer.chain,
    transport: http(anvil.rpcUrl, { batch: { batchSize: 250 }, timeout: 120_000 }),
  });

beforeAll(async () => {
  const started = Date.now();
  anvil = await startAnvil({ accounts: 4, gasLimit: HOLDERS_GAS_LIMIT });
  deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  servicer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[2].privateKey,
    pollingInterval: 20,
  });
  stack = await deployStack(deployer);
  db = await createTestDatabase();
  dataDir = await mkdtemp(path.join(tmpdir(), 'npl-crash-'));
  deploymentFile = path.join(dataDir, 'deployment.json');
  await saveDeployment(deploymentFile, stack);

  const now = (await deployer.publicClient.getBlock()).timestamp;
  const face = BigInt(HOLDERS) * 1_000_000n;
  const tranches = [
    { name: 'Senior', symbol: 'SNR', face, couponBps: 500, priceBps: 10_000 },
    { name: 'Mezzanine', symbol: 'MEZ', face, couponBps: 900, priceBps: 9_000 },
    { name: 'Equity', symbol: 'EQ', face, couponBps: 0, priceBps: 5_000 },
  ];
  portfolio = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: servicer.account.address,
    rootProposer: anvil.accounts[1].address,
    timelockDelay: 3,
    mode: 'interestFirst',
    offeringEnd: now + 86_400n,
    tranches,
  });
  const seedStarted = Date.now();
  seeded = await seedHolders({
    clients: deployer,
    stack,
    portfolio: portfolio.portfolio,
    tranches: portfolio.tranches,
    count: HOLDERS,
    seed: 'distribution-crash',
    // everyone holds the residual tranche: the first recovery repays the debt tranches, and every
    // later one pays all 10,000 holders through the equity tranche
    holdPercent: [80, 50, 100],
  });
  console.log(`seeded ${HOLDERS} holders in ${Date.now() - seedStarted} ms`, seeded.timings);
  accounts = [...seeded.holders, ...seeded.buyers];
  await closeOffering(deployer, { portfolio: portfolio.portfolio });
  await mintTestStablecoin(deployer, {
    token: stack.testStablecoin as Address,
    to: servicer.account.address,
    amount: usd(100_000_000n),
  });
  await approve(servicer, {
    token: stack.testStablecoin as Address,
    spender: portfolio.portfolio,
    amount: maxUint256,
  });
  const row = await recordPublishedPortfolio(db.prisma, {
    name: 'Crash test',
    servicer: servicer.account.address,
    chainId: anvil.chainId,
    created: portfolio,
    tranches,
  });
  portfolioId = row.id;
  // anvil mines only on transactions; the timelock and the indexer's confirmations need blocks
  const testClient = createAnvilTestClient(anvil.rpcUrl);
  miner = setInterval(() => void testClient.mine({ blocks: 1 }).catch(() => {}), 500);
  console.log(`setup in ${Date.now() - started} ms`);
}, 240_000);

afterAll(async () => {
  if (miner) clearInterval(miner);
  for (const child of children) child.kill('SIGKILL');
  await db?.drop();
  await anvil?.stop();
  // NPL_KEEP_CRASH_DATA=1 keeps the worker logs and tree dumps to look at
  if (dataDir && !process.env.NPL_KEEP_CRASH_DATA) await rm(dataDir, { recursive: true, force: true });
  else if (dataDir) console.log(`worker logs and dumps kept in ${dataDir}`);
});

/** The last lines of the latest worker log (a failure in CI says what the worker was doing). */
async function workerLogTail(lines = 30): Promise<string> {
  if (workerLogs === 0) return '(no worker started)';
  const file = path.join(dataDir, `worker-${workerLogs}.log`);
  const text = await readFile(file, 'utf8').catch(() => '');
  return `${file}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };
type Worker = { child: ChildProcess; exited: Promise<Exit> };

/** `node --import tsx worker/main.ts` with the env of `npm run worker`; its log goes to DATA_DIR. */
async function startWorker(env: { NPL_CRASH_AT?: string; REDIS_URL?: string } = {}): Promise<Worker> {
  const log = await open(path.join(dataDir, `worker-${++workerLogs}.log`), 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: repoRoot,
    stdio: ['ignore', log.fd, log.fd],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      REDIS_URL: env.REDIS_URL ?? REDIS_URL,
      RPC_URL: anvil.rpcUrl,
      DATA_DIR: dataDir,
      DEPLOYMENT_FILE: deploymentFile,
      PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
      QUEUE_PREFIX: queuePrefix,
      JOB_ATTEMPTS: '5',
      JOB_BACKOFF_MS: '200',
      JOB_LOCK_MS: '20000',
      DISTRIBUTION_MIN_PUSH: '0',
      DISTRIBUTION_PUSH_BATCH: String(PUSH_BATCH),
      ...(env.NPL_CRASH_AT ? { NPL_CRASH_AT: env.NPL_CRASH_AT } : {}),
    },
  });
  children.add(child);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      void log.close();
      resolve({ code, signal });
    });
  });
  return { child, exited };
}

async function stopWorker(worker: Worker): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(timer);
}

async function distributionOf(recovery: RecoveryDistributed, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await db.prisma.distribution.findFirst({
      where: { portfolioId, recoveryTxHash: recovery.txHash },
    });
    if (row !== null) return row;
    if (Date.now() > deadline) throw new Error('no distribution row in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 240_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not in time\n${await workerLogTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitPaid(id: string) {
  return waitFor(`distribution ${id} paid`, async () => {
    const row = await db.prisma.distribution.findUniqueOrThrow({ where: { id } });
    if (row.status === 'failed') throw new Error(`distribution ${id} failed: ${row.error}`);
    return row.status === 'paid' ? row : undefined;
  });
}

async function payBalances(): Promise<bigint[]> {
  const client = reader();
  const out: bigint[] = [];
  for (let start = 0; start < accounts.length; start += 1_000) {
    out.push(
      ...(await Promise.all(
        accounts.slice(start, start + 1_000).map((account) =>
          client.readContract({
            address: stack.testStablecoin as Address,
            abi: erc20Abi,
            functionName: 'balanceOf',
            args: [account],
          }),
        ),
      )),
    );
  }
  return out;
}

/** Balances of every tranche at `block`, replayed from the tokens' Transfer logs. */
async function balancesAt(block: bigint) {
  return Promise.all(
    portfolio.tranches.map(async (token) => {
      const logs = parseEventLogs({
        abi: erc20Abi,
        eventName: 'Transfer',
        logs: await deployer.publicClient.getLogs({ address: token, fromBlock: 0n, toBlock: block }),
      });
      const balances = new Map<string, bigint>();
      for (const { args } of logs) {
        const from = args.from.toLowerCase();
        const to = args.to.toLowerCase();
        if (from !== '0x0000000000000000000000000000000000000000') {
          balances.set(from, (balances.get(from) ?? 0n) - args.value);
        }
        balances.set(to, (balances.get(to) ?? 0n) + args.value);
      }
      return [...balances].filter(([, b]) => b > 0n).map(([account, balance]) => ({ account, balance }));
    }),
  );
}

let recoveryNumber = 0;
let lastBalances: bigint[] | undefined;

/** Deposits a recovery and returns it with the pay balances before and the block range to check. */
async function deposit() {
  // nothing but the distributions moves these accounts' pay tokens: the last scenario's end balances
  const before = lastBalances ?? (await payBalances());
  lastBalances = undefined; // set again only by a scenario whose checks all passed
  recoveryNumber++;
  const recovery = await depositRecovery(servicer, {
    portfolio: portfolio.portfolio,
    amount: usd(1_234_567n * BigInt(recoveryNumber)) + 7n * BigInt(recoveryNumber),
  });
  return { recovery, before };
}

/** The end checks: one root, every holder paid its exact payout once, Σ payouts + dust = funded. */
async function checkPaid(recovery: RecoveryDistributed, before: bigint[], id: string) {
  const row = await db.prisma.distribution.findUniqueOrThrow({ where: { id } });
  expect(row.status).toBe('paid');
  const snapshot = await balancesAt(recovery.snapshotBlock);
  let funded = 0n;
  const tranches = snapshot.map((balances, i) => {
    const amount = recovery.interest[i] + recovery.principal[i] + recovery.residual[i];
    funded += amount;
    return { trancheId: i, amount, carryIn: carry[i], balances };
  });
  expect(snapshot[0].length + snapshot[1].length + snapshot[2].length).toBeGreaterThan(HOLDERS);
  const expected = computeDistribution({ tranches, previousCumulative });
  const payouts = new Map(expected.holders.map((h) => [h.account, h.payout]));
  const paidHolders = expected.holders.filter((h) => h.payout > 0n).length;
  expect(paidHolders).toBeGreaterThanOrEqual(HOLDERS);

  // exactly one root proposed and accepted for this distribution id
  const chainId = distributionChainId(id);
  const rootLogs = await deployer.publicClient.getLogs({
    address: portfolio.distributor,
    fromBlock: recovery.blockNumber,
    toBlock: 'latest',
  });
  const rootEvents = parseEventLogs({ abi: distributorAbi, logs: rootLogs });
  const proposed = rootEvents.filter(
    (e) => e.eventName === 'RootProposed' && e.args.distributionId === chainId,
  );
  const accepted = rootEvents.filter(
    (e) => e.eventName === 'RootAccepted' && e.args.distributionId === chainId,
  );
  expect(proposed).toHaveLength(1);
  expect(accepted).toHaveLength(1);
  expect(rootEvents.filter((e) => e.eventName === 'RootProposed')).toHaveLength(1);
  expect((accepted[0].args as { root: Hex }).root).toBe(row.root);
  expect(
    await deployer.publicClient.readContract({
      address: portfolio.distributor,
      abi: distributorAbi,
      functionName: 'root',
    }),
  ).toBe(row.root);

  // one Claimed per holder with a payout, of exactly that payout
  const claimed = new Map<string, bigint[]>();
  for (const e of rootEvents) {
    if (e.eventName !== 'Claimed') continue;
    const args = e.args as { account: Address; amount: bigint; cumulative: bigint };
    const key = args.account.toLowerCase();
    claimed.set(key, [...(claimed.get(key) ?? []), args.amount]);
  }
  expect(claimed.size).toBe(paidHolders);
  for (const [account, amounts] of claimed) {
    expect(amounts).toEqual([payouts.get(account)]);
  }

  // every balance grew by exactly its payout (no other pay-token movement touches these accounts)
  const after = await payBalances();
  let mismatches = 0;
  for (const [i, account] of accounts.entries()) {
    if (after[i] - before[i] !== (payouts.get(account.toLowerCase()) ?? 0n)) mismatches++;
  }
  expect(mismatches).toBe(0);
  lastBalances = after;

  // Σ payouts + carried dust = funded, per distribution and over all of them
  const payout = expected.holders.reduce((a, h) => a + h.payout, 0n);
  const carryIn = carry.reduce((a, b) => a + b, 0n);
  const dustOut = expected.perTranche.reduce((a, t) => a + t.dustOut, 0n);
  expect(payout + dustOut).toBe(funded + carryIn);
  fundedTotal += funded;
  paidTotal += payout;
  expect(paidTotal + dustOut).toBe(fundedTotal);
  expect(row.payout?.toFixed(0)).toBe(payout.toString());
  expect(
    await db.prisma.relayTx.count({ where: { refId: id, kind: { in: ['proposeRoot', 'acceptRoot'] } } }),
  ).toBe(2);
  expect(await db.prisma.relayTx.count({ where: { refId: id, kind: 'claimMany' } })).toBe(
    Math.ceil(paidHolders / PUSH_BATCH),
  );

  carry = expected.perTranche.map((t) => t.dustOut);
  previousCumulative = new Map(expected.holders.map((h) => [h.account, h.cumulative]));
}

/** What the database shows right after the worker died at `point`. */
async function expectDiedAt(point: string, id: string) {
  const row = await db.prisma.distribution.findUniqueOrThrow({ where: { id } });
  const file = path.join(dataDir, 'distributions', `${id}.json`);
  const proposeSent =
    (await db.prisma.relayTx.count({ where: { idempotencyKey: distributionProposeKey(id) } })) > 0;
  const pushes = await db.prisma.relayTx.count({ where: { refId: id, kind: 'claimMany' } });
  const pushed = await db.prisma.distributionHolder.count({
    where: { distributionId: id, pushedTx: { not: null } },
  });
  switch (point) {
    case 'after-snapshot':
      expect([row.computedAt !== null, row.treeHash, proposeSent]).toEqual([true, null, false]);
      expect(await db.prisma.distributionHolder.count({ where: { distributionId: id } })).toBeGreaterThan(
        HOLDERS,
      );
      break;
    case 'mid-tree':
      expect([row.computedAt !== null, row.treeHash, existsSync(`${file}.tmp`), existsSync(file)]).toEqual([
        true,
        null,
        true,
        false,
      ]);
      break;
    case 'after-propose-sent':
      expect([row.status, row.proposeTx, proposeSent]).toEqual(['computing', null, true]);
      break;
    case 'mid-push':
      expect([row.status, pushes, pushed]).toEqual(['claimable', 1, 0]);
      break;
    default:
      throw new Error(point);
  }
}

describe(`the distribution job survives SIGKILL and a Redis restart (${HOLDERS} holders)`, () => {
  for (const point of ['after-snapshot', 'mid-tree', 'after-propose-sent', 'mid-push']) {
    it(`killed at ${point}, restarted: one root, everyone paid once, nothing lost`, async () => {
      const started = Date.now();
      const { recovery, before } = await deposit();
      const crashing = await startWorker({ NPL_CRASH_AT: point });
      const exit = await Promise.race([
        crashing.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`worker did not reach ${point}`)), 240_000),
        ),
      ]).catch(async (error) => {
        await stopWorker(crashing);
        throw error;
      });
      expect(exit, await workerLogTail()).toEqual({ code: null, signal: 'SIGKILL' });
      const row = await distributionOf(recovery, 1_000);
      await expectDiedAt(point, row.id);
      const crashedAt = Date.now();

      const restarted = await startWorker();
      let paidAt: number;
      try {
        await waitPaid(row.id);
        paidAt = Date.now();
      } finally {
        await stopWorker(restarted);
      }
      const stoppedAt = Date.now();
      await checkPaid(recovery, before, row.id);
      console.log(
        `${point}: killed after ${crashedAt - started} ms, paid ${paidAt - crashedAt} ms after the restart (worker stop ${stoppedAt - paidAt} ms, checks ${Date.now() - stoppedAt} ms)`,
      );
    }, 540_000);
  }

  it('Redis killed and restarted empty mid-run: the worker re-enqueues from Postgres', async () => {
    const started = Date.now();
    const port = await getFreePort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    const startRedis = async () => {
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      children.add(child);
      const exited = new Promise<Exit>((resolve) =>
        child.once('exit', (code, signal) => {
          children.delete(child);
          resolve({ code, signal });
        }),
      );
      await waitFor('redis-server up', async () => {
        const probe = new Redis(redisUrl, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        probe.on('error', () => {});
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG' ? true : undefined;
        } catch {
          return undefined;
        } finally {
          probe.disconnect();
        }
      });
      return { child, exited };
    };
    let redis = await startRedis();
    const { recovery, before } = await deposit();
    const worker = await startWorker({ REDIS_URL: redisUrl });
    try {
      const row = await distributionOf(recovery);
      // the job waits in BullMQ's delayed set for the timelock: kill Redis now, it keeps nothing
      await waitFor('proposed', async () => {
        const current = await db.prisma.distribution.findUniqueOrThrow({ where: { id: row.id } });
        if (current.status === 'failed') throw new Error(`failed: ${current.error}`);
        return current.status === 'proposed' ? true : undefined;
      });
      const probe = new Redis(redisUrl);
      const keys = await probe.keys(`${queuePrefix}:distribution:*`);
      probe.disconnect();
      expect(keys.length).toBeGreaterThan(0);
      redis.child.kill('SIGKILL');
      expect((await redis.exited).signal).toBe('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      redis = await startRedis();
      await waitPaid(row.id);
      expect(worker.child.exitCode).toBe(null);
      await checkPaid(recovery, before, row.id);
    } finally {
      await stopWorker(worker);
      redis.child.kill('SIGKILL');
      await redis.exited;
    }
    console.log(`redis restart: paid in ${Date.now() - started} ms`);
  }, 540_000);
});
