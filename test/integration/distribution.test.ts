/**
 * The distribution job end to end on anvil + Postgres + Redis: a published portfolio with three
 * tranches and a handful of holders, two recoveries deposited by the servicer, and the worker
 * (indexer + distribution job) running until both distributions are paid. The expected payouts are
 * recomputed here from the chain (balanceOf at the snapshot block, the RecoveryDistributed amounts)
 * with core/domain's computeDistribution, never from the worker's tables.
 */
import { readFile } from 'node:fs/promises';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import pino from 'pino';
import { type Address, keccak256 } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositRecovery, type RecoveryDistributed } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { distributorAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { createRelayer } from '../../core/chain/relayer/relayer.ts';
import { computeDistribution } from '../../core/distributions/compute.ts';
import { handleDistribution } from '../../core/distributions/run.ts';
import { loadDistributionTreeJson } from '../../core/distributions/tree/merkle.ts';
import { bullJobId, JOB_NAMES, JOB_QUEUE } from '../../core/platform/jobs.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { createWorker, type NplWorker } from '../../worker/main.ts';
import type { TestApp } from '../helpers/app.ts';
import {
  type DistributionEnv,
  startDistributionEnv,
  startDistributionWorker,
  waitDistributionsPaid,
} from '../helpers/distribution.ts';
import { balancesAtBlock, createClosedPortfolio } from '../helpers/portfolio.ts';
import { fundServicer, payTokenBalance } from '../helpers/stack.ts';

const silent = pino({ level: 'silent' });
const usd = (whole: bigint) => whole * 10n ** 6n;
const SCALE = 10n ** 12n; // tranche tokens have 18 decimals, the TestStablecoin 6

let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holders: ChainClients[];
let platform: PlatformChain;
let env: DistributionEnv;
let t: TestApp;
let worker: NplWorker | undefined;
let workerRedis: ReturnType<typeof createRedis>;
let paidRows: Awaited<ReturnType<typeof waitPaid>> = [];
let paidPortfolio: Awaited<ReturnType<typeof publishedPortfolio>>;

beforeAll(async () => {
  env = await startDistributionEnv({
    name: 'distribution',
    accounts: 10,
    holders: [3, 4, 5, 6, 7],
    deploymentFile: false,
  });
  ({ deployer, stack, servicer, holders, t, platform, workerRedis } = env);
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await env?.close();
});

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'MEZ', face: usd(500n), couponBps: 900, priceBps: 9_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(200n), couponBps: 0, priceBps: 5_000 },
];
/** Units (pay-token base units of face) each holder buys of each tranche; 0 = none. */
const purchases = [
  [usd(300n), usd(100n), usd(7n)],
  [usd(211n), 0n, usd(50n)],
  [usd(100n), usd(333n), 0n],
  [0n, usd(67n), usd(13n)],
  [usd(189n), 0n, usd(30n)],
];

async function publishedPortfolio() {
  return createClosedPortfolio(deployer, t.db.prisma, {
    stack,
    name: 'Distribution test',
    servicer: servicer.account.address,
    rootProposer: platform.clients.account.address,
    timelockDelay: 2,
    tranches: tranchesSpec,
    holders,
    purchases,
  });
}

const payBalance = (account: Address) => payTokenBalance(deployer, stack, account);

const waitPaid = (portfolioId: string, count: number, timeoutMs?: number) =>
  waitDistributionsPaid(t, portfolioId, count, { timeoutMs });

describe('the distribution job', () => {
  it('pays every holder exactly computeDistribution’s payout, recovery after recovery, and carries the dust', async () => {
    const portfolio = await publishedPortfolio();
    await fundServicer(deployer, servicer, { stack, portfolio: portfolio.portfolio, amount: usd(100_000n) });
    const before = await Promise.all(holders.map((h) => payBalance(h.account.address)));

    // two recoveries before the worker runs: the second waits for the first (strict order per portfolio)
    const recoveries: RecoveryDistributed[] = [];
    recoveries.push(
      await depositRecovery(servicer, { portfolio: portfolio.portfolio, amount: usd(123n) + 7n }),
    );
    // a trade between the recoveries: holder 0 sends some senior units to holder 3
    const trade = await holders[0].walletClient.writeContract({
      address: portfolio.tranches[0],
      abi: trancheTokenAbi,
      functionName: 'transfer',
      args: [holders[3].account.address, usd(50n) * SCALE + 1n],
      chain: holders[0].chain,
      account: holders[0].account,
    });
    await deployer.publicClient.waitForTransactionReceipt({ hash: trade });
    recoveries.push(
      await depositRecovery(servicer, { portfolio: portfolio.portfolio, amount: usd(611n) + 3n }),
    );

    worker = await startDistributionWorker({
      t,
      redis: workerRedis,
      platform,
      stack,
      // several claimMany batches for five holders
      distribution: { pushBatchSize: 2 },
    });
    // nothing mines blocks: anvil mines on transactions only, the job's own acceptRoot passes the timelock
    const rows = await waitPaid(portfolio.id, 2);

    // expected, from the chain alone
    let previous = new Map<string, bigint>();
    const carry = [0n, 0n, 0n];
    const expectedPaid = new Map<string, bigint>();
    let funded = 0n;
    for (const [r, recovery] of recoveries.entries()) {
      const tranches = [];
      for (const [i, token] of portfolio.tranches.entries()) {
        const balances = await balancesAtBlock(deployer.publicClient, {
          token,
          accounts: holders.map((h) => h.account.address),
          blockNumber: recovery.snapshotBlock,
        });
        const amount = recovery.interest[i] + recovery.principal[i] + recovery.residual[i];
        funded += amount;
        tranches.push({ trancheId: i, amount, carryIn: carry[i], balances });
      }
      const expected = computeDistribution({ tranches, previousCumulative: previous });
      expected.perTranche.forEach((tr, i) => {
        carry[i] = tr.dustOut;
      });
      for (const h of expected.holders)
        expectedPaid.set(h.account, (expectedPaid.get(h.account) ?? 0n) + h.payout);
      previous = new Map(expected.holders.map((h) => [h.account, h.cumulative]));

      const row = rows[r];
      expect(row.recoveryId.toFixed(0)).toBe(recovery.recoveryId.toString());
      expect(row.snapshotBlock).toBe(recovery.snapshotBlock);
      expect(row.total?.toFixed(0)).toBe(expected.total.toString());
      const stored = await t.db.prisma.distributionHolder.findMany({ where: { distributionId: row.id } });
      expect(
        new Map(stored.map((h) => [h.account.toLowerCase(), [h.payout.toFixed(0), h.cumulative.toFixed(0)]])),
      ).toEqual(
        new Map(expected.holders.map((h) => [h.account, [h.payout.toString(), h.cumulative.toString()]])),
      );
      const storedTranches = await t.db.prisma.distributionTranche.findMany({
        where: { distributionId: row.id },
        orderBy: { trancheIndex: 'asc' },
      });
      expect(storedTranches.map((tr) => tr.dustOut.toFixed(0))).toEqual(
        expected.perTranche.map((tr) => tr.dustOut.toString()),
      );
      // the dump on disk is the tree whose root and hash went on-chain
      const bytes = await readFile(row.treePath as string);
      expect(keccak256(bytes)).toBe(row.treeHash);
      expect(loadDistributionTreeJson(bytes).root).toBe(row.root);
    }

    // on-chain: every holder received exactly its payouts, claimed == cumulative, the last root is ours
    for (const [h, holder] of holders.entries()) {
      const account = holder.account.address;
      const paid = expectedPaid.get(account.toLowerCase()) ?? 0n;
      expect(paid).toBeGreaterThan(0n);
      expect((await payBalance(account)) - before[h]).toBe(paid);
      const claimed = await deployer.publicClient.readContract({
        address: portfolio.distributor,
        abi: distributorAbi,
        functionName: 'claimed',
        args: [account],
      });
      expect(claimed).toBe(previous.get(account.toLowerCase()));
    }
    const root = await deployer.publicClient.readContract({
      address: portfolio.distributor,
      abi: distributorAbi,
      functionName: 'root',
    });
    expect(root).toBe(rows[1].root);
    const totalPaid = [...expectedPaid.values()].reduce((a, b) => a + b, 0n);
    expect(totalPaid + carry.reduce((a, b) => a + b, 0n)).toBe(funded);
    // the relayer sent exactly one proposeRoot and one acceptRoot per distribution
    for (const row of rows) {
      const pushes = await t.db.prisma.relayTx.count({ where: { refId: row.id, kind: 'claimMany' } });
      const pushed = await t.db.prisma.distributionHolder.count({
        where: { distributionId: row.id, payout: { gt: 0 } },
      });
      expect(pushes).toBe(Math.ceil(pushed / 2));
      expect(await t.db.prisma.relayTx.count({ where: { refId: row.id, kind: 'proposeRoot' } })).toBe(1);
      expect(await t.db.prisma.relayTx.count({ where: { refId: row.id, kind: 'acceptRoot' } })).toBe(1);
    }
    paidRows = rows;
    paidPortfolio = portfolio;
  }, 150_000);

  it('a re-run after a crash at any step sends nothing twice and pays nobody twice', async () => {
    expect(paidRows).toHaveLength(2);
    await worker?.close();
    worker = undefined;
    const row = paidRows[1];
    const balances = await Promise.all(holders.map((h) => payBalance(h.account.address)));
    const relayed = await t.db.prisma.relayTx.count({ where: { refId: row.id } });
    // as if the worker died right after sending proposeRoot, before recording anything after the tree
    await t.db.prisma.distribution.update({
      where: { id: row.id },
      data: { status: 'computing', proposeTx: null, acceptTx: null, validAt: null },
    });
    await t.db.prisma.distributionHolder.updateMany({
      where: { distributionId: row.id },
      data: { pushedTx: null },
    });
    const relayer = createRelayer({ clients: platform.clients, prisma: t.db.prisma, pollIntervalMs: 50 });
    const result = await handleDistribution(
      { db: t.db, platform, relayer, config: t.config },
      { distributionId: row.id },
    );
    expect(result.status).toBe('paid');
    const after = await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: row.id } });
    expect([after.status, after.proposeTx, after.acceptTx]).toEqual(['paid', row.proposeTx, row.acceptTx]);
    expect(await t.db.prisma.relayTx.count({ where: { refId: row.id } })).toBe(relayed);
    expect(await Promise.all(holders.map((h) => payBalance(h.account.address)))).toEqual(balances);
    const root = await deployer.publicClient.readContract({
      address: paidPortfolio.distributor,
      abi: distributorAbi,
      functionName: 'root',
    });
    expect(root).toBe(row.root);
  }, 60_000);

  it('a restarted worker takes up an unfinished distribution whose BullMQ job already ended', async () => {
    const row = paidRows[0];
    const relayed = await t.db.prisma.relayTx.count({ where: { refId: row.id } });
    await t.db.prisma.distribution.update({ where: { id: row.id }, data: { status: 'claimable' } });
    await t.db.prisma.distributionHolder.updateMany({
      where: { distributionId: row.id },
      data: { pushedTx: null },
    });
    worker = await createWorker({
      config: t.config,
      db: t.db,
      redis: workerRedis,
      platform,
      logger: silent,
      indexer: false,
    });
    const rows = await waitPaid(paidPortfolio.id, 2, 30_000);
    expect(rows[0].status).toBe('paid');
    const pushed = await t.db.prisma.distributionHolder.count({
      where: { distributionId: row.id, pushedTx: { not: null } },
    });
    expect(pushed).toBeGreaterThan(0);
    expect(await t.db.prisma.relayTx.count({ where: { refId: row.id } })).toBe(relayed);
  }, 60_000);

  it('a running worker retries, at its next poll, an unfinished distribution whose BullMQ job failed', async () => {
    await worker?.close();
    worker = undefined;
    const row = paidRows[0];
    const relayed = await t.db.prisma.relayTx.count({ where: { refId: row.id } });
    await t.db.prisma.distribution.update({ where: { id: row.id }, data: { status: 'claimable' } });
    await t.db.prisma.distributionHolder.updateMany({
      where: { distributionId: row.id },
      data: { pushedTx: null },
    });
    // the job ran out of attempts (here: failed for good) while the row stayed unfinished
    const definition = { name: JOB_NAMES.distribution, data: { distributionId: row.id } } as const;
    const connection = createRedis(t.config.REDIS_URL as string);
    const queue = new Queue(JOB_QUEUE.distribution, { connection, prefix: t.config.QUEUE_PREFIX });
    await (await queue.getJob(bullJobId(definition)))?.remove();
    await queue.add(definition.name, definition.data, { jobId: bullJobId(definition), attempts: 1 });
    const failing = new Worker(
      JOB_QUEUE.distribution,
      async () => {
        throw new UnrecoverableError('the RPC node was down for too long');
      },
      { connection, prefix: t.config.QUEUE_PREFIX },
    );
    await expect
      .poll(async () => (await queue.getJob(bullJobId(definition)))?.isFailed(), { timeout: 20_000 })
      .toBe(true);
    await failing.close();
    await queue.close();
    connection.disconnect();
    // no re-queue at start: only the poll can take it up
    worker = await createWorker({
      config: t.config,
      db: t.db,
      redis: workerRedis,
      platform,
      logger: silent,
      indexer: false,
      requeuePending: false,
      distributionPollMs: 200,
    });
    const rows = await waitPaid(paidPortfolio.id, 2, 30_000);
    expect(rows[0].status).toBe('paid');
    expect(await t.db.prisma.relayTx.count({ where: { refId: row.id } })).toBe(relayed);
  }, 60_000);
});
