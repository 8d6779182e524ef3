/**
 * The distribution job's reliability defects of issue 10 (section 4: 1, 4, 5, 10, 15), each against a
 * real anvil (automine: a block only when a transaction arrives, nothing here mines blocks unless the
 * case is about blocks), Postgres and the relayer. The job runs in-process (`handleDistribution`),
 * taking its waits (`DistributionDelay`) the way the worker does; the indexer is synced in between.
 */
import { randomBytes } from 'node:crypto';
import { type Address, type Hex, maxUint256, parseEventLogs } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approve, mintTestStablecoin } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { distributorAbi, portfolioAbi } from '../../core/chain/generated/index.ts';
import { createRelayer, type Relayer } from '../../core/chain/relayer/relayer.ts';
import {
  type DistributionContext,
  DistributionDelay,
  distributionPushKey,
  findNewDistributions,
  handleDistribution,
} from '../../core/distributions/run.ts';
import { ServiceUnavailableError } from '../../core/platform/errors/index.ts';
import { createIndexer, type Indexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { createClosedPortfolio } from '../helpers/portfolio.ts';
import {
  accountClients,
  claimedFrom,
  createStackApp,
  platformChainOf,
  type StackApp,
  startStack,
} from '../helpers/stack.ts';

const usd = (whole: bigint) => whole * 10n ** 6n;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let stranger: ChainClients;
let holders: ChainClients[];
let platform: PlatformChain;
let relayer: Relayer;
let indexer: Indexer;
let app: StackApp;
let t: TestApp;

beforeAll(async () => {
  const chain = await startStack({ accounts: 10 });
  ({ anvil, deployer, stack } = chain);
  [servicer, stranger] = accountClients(chain, [2, 8]);
  holders = accountClients(chain, [3, 4, 5, 6, 7]);
  app = await createStackApp(chain, {
    name: 'distribution-reliability',
    deploymentFile: false,
    overrides: { QUEUE_PREFIX: `npl-test-distribution-rel-${randomBytes(4).toString('hex')}` },
  });
  t = app.t;
  platform = await platformChainOf(t, stack);
  relayer = createRelayer({ clients: platform.clients, prisma: t.db.prisma, pollIntervalMs: 50 });
  indexer = createIndexer({ db: t.db, publicClient: platform.clients.publicClient, stack, confirmations: 0 });
  await mintTestStablecoin(deployer, {
    token: stack.testStablecoin as Address,
    to: servicer.account.address,
    amount: usd(1_000_000n),
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await anvil?.stop();
});

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(200n), couponBps: 0, priceBps: 5_000 },
];
const purchases = [
  [usd(300n), usd(7n)],
  [usd(211n), usd(50n)],
  [usd(100n), 0n],
  [0n, usd(13n)],
  [usd(189n), usd(30n)],
];

async function publishedPortfolio(name: string) {
  const portfolio = await createClosedPortfolio(deployer, t.db.prisma, {
    stack,
    name,
    servicer: servicer.account.address,
    rootProposer: platform.clients.account.address,
    timelockDelay: 2,
    tranches: tranchesSpec,
    holders,
    purchases,
  });
  await approve(servicer, {
    token: stack.testStablecoin as Address,
    spender: portfolio.portfolio,
    amount: maxUint256,
  });
  return portfolio;
}

type Portfolio = Awaited<ReturnType<typeof publishedPortfolio>>;

/**
 * `Portfolio.depositRecovery` by the servicer, with a gas limit: estimated on the latest block, whose
 * timestamp an automining anvil leaves behind the one the deposit is mined in, the waterfall's
 * interest accrual can need more gas than the estimate.
 */
async function deposit(portfolio: Portfolio, amount: bigint) {
  const hash = await servicer.walletClient.writeContract({
    address: portfolio.portfolio,
    abi: portfolioAbi,
    functionName: 'depositRecovery',
    args: [amount, `0x${randomBytes(32).toString('hex')}` as Hex],
    gas: 2_000_000n,
    chain: servicer.chain,
    account: servicer.account,
  });
  const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe('success');
  const [event] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'RecoveryDistributed' });
  return { txHash: hash, recoveryId: event.args.recoveryId, snapshotBlock: event.args.snapshotBlock };
}

/** Indexes up to the head and creates the distributions of final recoveries; this portfolio's, by recovery id. */
async function newDistributions(portfolio: Portfolio, sync: Indexer = indexer) {
  await sync.syncOnce();
  await findNewDistributions(t.db);
  return t.db.prisma.distribution.findMany({
    where: { portfolioId: portfolio.id },
    orderBy: { recoveryId: 'asc' },
  });
}

function contextOf(overrides: Partial<DistributionContext> = {}): DistributionContext {
  return { db: t.db, platform, relayer, config: t.config, ...overrides };
}

/**
 * Runs the job like the worker: a `DistributionDelay` waits (at most a second here) and runs it
 * again, after an indexer pass. Gives up after `rounds` runs (a distribution that never gets there).
 */
async function drive(id: string, context = contextOf(), rounds = 25): Promise<string> {
  let last = '';
  for (let round = 0; round < rounds; round++) {
    try {
      return (await handleDistribution(context, { distributionId: id })).status;
    } catch (error) {
      if (!(error instanceof DistributionDelay)) throw error;
      last = error.message;
      await indexer.syncOnce();
      await sleep(Math.min(error.delayMs, 1_000));
    }
  }
  const row = await t.db.prisma.distribution.findUniqueOrThrow({ where: { id } });
  throw new Error(`distribution ${id} still ${row.status} after ${rounds} runs (last wait: ${last})`);
}

/** A relayer whose `submit` of `key` fails once before sending anything, like an unreachable RPC node. */
function failingOnce(key: string): Relayer {
  let failed = false;
  return {
    ...relayer,
    submit: (async (parameters) => {
      if (parameters.idempotencyKey === key && !failed) {
        failed = true;
        throw new ServiceUnavailableError(`RPC node unreachable (${key})`, { retryable: true });
      }
      return relayer.submit(parameters);
    }) as Relayer['submit'],
  };
}

const claimedOnChain = (portfolio: Portfolio, account: Address) =>
  claimedFrom(deployer, portfolio.distributor, account);

/** Every pushed holder of the distribution: claimed on chain == its cumulative, and its tx paid it. */
async function expectPushedAndClaimed(portfolio: Portfolio, distributionId: string) {
  const rows = await t.db.prisma.distributionHolder.findMany({
    where: { distributionId, payout: { gt: 0 } },
  });
  expect(rows.length).toBeGreaterThan(0);
  for (const h of rows) {
    expect(h.pushedTx).not.toBeNull();
    expect(await claimedOnChain(portfolio, h.account as Address)).toBe(BigInt(h.cumulative.toFixed(0)));
    const receipt = await deployer.publicClient.getTransactionReceipt({ hash: h.pushedTx as Hex });
    const claims = parseEventLogs({ abi: distributorAbi, logs: receipt.logs, eventName: 'Claimed' });
    expect(claims.map((c) => c.args.account.toLowerCase())).toContain(h.account.toLowerCase());
  }
}

describe('the distribution job on an anvil that mines only when a transaction arrives', () => {
  // defect 15: the accept step waited for the latest block's timestamp to pass the timelock
  it('reaches paid on its own: nothing but the job’s own transactions makes blocks', async () => {
    const portfolio = await publishedPortfolio('Automine');
    await deposit(portfolio, usd(100n) + 3n);
    const [row] = await newDistributions(portfolio);
    expect(await drive(row.id)).toBe('paid');
    await expectPushedAndClaimed(portfolio, row.id);
  }, 120_000);

  // defect 1: acceptRoot is public once the timelock passed
  it('counts an acceptRoot sent by a stranger as done', async () => {
    const portfolio = await publishedPortfolio('Stranger accepts');
    await deposit(portfolio, usd(77n));
    const [row] = await newDistributions(portfolio);
    // the job up to the timelock
    await expect(handleDistribution(contextOf(), { distributionId: row.id })).rejects.toBeInstanceOf(
      DistributionDelay,
    );
    const proposed = await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: row.id } });
    expect(proposed.status).toBe('proposed');
    await sleep(Number(proposed.validAt as bigint) * 1000 - Date.now() + 1_000);
    // a gas limit given: no estimate on the latest block, the stranger's transaction mines the block
    const hash = await stranger.walletClient.writeContract({
      address: portfolio.distributor,
      abi: distributorAbi,
      functionName: 'acceptRoot',
      gas: 200_000n,
      chain: stranger.chain,
      account: stranger.account,
    });
    const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe('success');
    await indexer.syncOnce();

    expect(await drive(row.id)).toBe('paid');
    const after = await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: row.id } });
    expect(after.acceptTx).toBe(hash);
    expect(await t.db.prisma.relayTx.count({ where: { refId: row.id, kind: 'acceptRoot' } })).toBe(0);
    await expectPushedAndClaimed(portfolio, row.id);
  }, 120_000);

  // defect 5: N+1 accepted while N pushes makes N's remaining claimMany batches revert
  it('proposes distribution N+1 only once N is paid, even when N’s push stopped half way', async () => {
    const portfolio = await publishedPortfolio('Push order');
    await deposit(portfolio, usd(500n) + 1n);
    await deposit(portfolio, usd(300n) + 2n);
    const [first, second] = await newDistributions(portfolio);
    expect(second).toBeDefined();
    // N's push: batch 2 (of one holder each) meets an unreachable node, batches 0 and 1 are paid
    const stopped = contextOf({ pushBatchSize: 1, relayer: failingOnce(distributionPushKey(first.id, 2)) });
    await expect(drive(first.id, stopped)).rejects.toThrow(/unreachable/);
    expect((await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: first.id } })).status).toBe(
      'claimable',
    );
    // N+1 meanwhile: computed (N's amounts are final), never proposed while N is not paid
    await expect(drive(second.id, contextOf(), 4)).rejects.toThrow(/not paid yet/);
    const waiting = await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: second.id } });
    expect(waiting.status).toBe('computing');
    expect(waiting.computedAt).not.toBeNull();
    expect(await t.db.prisma.relayTx.count({ where: { refId: second.id } })).toBe(0);

    expect(await drive(first.id, contextOf({ pushBatchSize: 1 }))).toBe('paid');
    await expectPushedAndClaimed(portfolio, first.id);
    expect(await drive(second.id)).toBe('paid');
    await expectPushedAndClaimed(portfolio, second.id);
  }, 180_000);

  // defect 10: a resumed push re-sliced the holders with the batch size of the restarted worker
  it('resumes a push with the batches fixed when it started, whatever DISTRIBUTION_PUSH_BATCH is now', async () => {
    const portfolio = await publishedPortfolio('Push resume');
    await deposit(portfolio, usd(250n) + 9n);
    const [row] = await newDistributions(portfolio);
    // batches of 2: batch 0 mined, then the node is unreachable for batch 1
    const stopped = contextOf({ pushBatchSize: 2, relayer: failingOnce(distributionPushKey(row.id, 1)) });
    await expect(drive(row.id, stopped)).rejects.toThrow(/unreachable/);
    // as if the worker died after batch 0 was mined, before recording it (crash point mid-push)
    await t.db.prisma.distributionHolder.updateMany({
      where: { distributionId: row.id },
      data: { pushedTx: null },
    });
    // restarted with batches of 3
    expect(await drive(row.id, contextOf({ pushBatchSize: 3 }))).toBe('paid');
    await expectPushedAndClaimed(portfolio, row.id);
    // the batches of 2 the push started with
    const pushed = await t.db.prisma.distributionHolder.count({
      where: { distributionId: row.id, payout: { gt: 0 } },
    });
    expect(pushed).toBeGreaterThan(2);
    expect(await t.db.prisma.relayTx.count({ where: { refId: row.id, kind: 'claimMany' } })).toBe(
      Math.ceil(pushed / 2),
    );
  }, 120_000);

  // defect 15, with the chain's clock ahead of ours (evm_increaseTime, as a test or a user moves it)
  it('reaches paid on its own when the chain’s clock runs ahead of the wall clock', async () => {
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    await testClient.increaseTime({ seconds: 30 * 86_400 });
    await testClient.mine({ blocks: 1 });
    const portfolio = await publishedPortfolio('Clock ahead');
    await deposit(portfolio, usd(90n) + 1n);
    const [row] = await newDistributions(portfolio);
    expect(await drive(row.id)).toBe('paid');
    await expectPushedAndClaimed(portfolio, row.id);
  }, 120_000);
});

describe('distributions and finality', () => {
  // defect 4: distributions were created from unfinalized recovery events
  it('starts a distribution only once its recovery event is final', async () => {
    const portfolio = await publishedPortfolio('Finality');
    const deep = createIndexer({
      db: t.db,
      publicClient: platform.clients.publicClient,
      stack,
      confirmations: 2,
    });
    await deposit(portfolio, usd(40n));
    expect(await newDistributions(portfolio, deep)).toHaveLength(0);
    await createAnvilTestClient(anvil.rpcUrl).mine({ blocks: 2 });
    const rows = await newDistributions(portfolio, deep);
    expect(rows).toHaveLength(1);
    expect(await drive(rows[0].id)).toBe('paid');
  }, 120_000);

  // defect 4: a re-included deposit got a second distribution (or kept the first one's snapshot)
  it('reconciles a distribution whose recovery a reorg moved to another block: one distribution, the new snapshot', async () => {
    const portfolio = await publishedPortfolio('Reorg');
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const shallow = createIndexer({
      db: t.db,
      publicClient: platform.clients.publicClient,
      stack,
      confirmations: 1,
    });
    await shallow.syncOnce();
    const snapshot = await testClient.snapshot();
    const first = await deposit(portfolio, usd(60n));
    await testClient.mine({ blocks: 2 });
    // indexed in one range with the deposit already final: the window keeps the block before it
    const [started] = await newDistributions(portfolio, shallow);
    expect(started.snapshotBlock).toBe(first.snapshotBlock);
    // the job computes it, then the node is unreachable for proposeRoot
    const stopped = contextOf({ relayer: failingOnce(`distribution-propose-${started.id}`) });
    await expect(drive(started.id, stopped)).rejects.toThrow(/unreachable/);
    expect(
      (await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: started.id } })).computedAt,
    ).not.toBeNull();

    // the reorg: the deposit lands one block later on the new branch
    await testClient.revert({ id: snapshot });
    await testClient.mine({ blocks: 1 });
    const again = await deposit(portfolio, usd(60n));
    expect(again.recoveryId).toBe(first.recoveryId);
    expect(again.snapshotBlock).toBe(first.snapshotBlock + 1n);
    await testClient.mine({ blocks: 2 });
    const rows = await newDistributions(portfolio, shallow);
    expect(rows).toHaveLength(1);
    expect(rows[0].snapshotBlock).toBe(again.snapshotBlock);
    expect(rows[0].recoveryTxHash).toBe(again.txHash);
    expect(await drive(rows[0].id)).toBe('paid');
    await expectPushedAndClaimed(portfolio, rows[0].id);
  }, 120_000);
});
