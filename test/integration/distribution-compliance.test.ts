/**
 * Finding 3 of issue 11 end to end on anvil + Postgres + Redis: a holder the ComplianceRegistry freezes
 * is not paid by the distribution job's claimMany push (the Distributor skips it with ClaimSkipped), the
 * job records the skip and still ends `paid` without retrying, the payouts route keeps the holder's
 * payout claimable and a relayed claim answers NOT_ALLOWLISTED; once unfrozen, the next distribution's
 * push pays it, even though the holder has no payout of its own in that distribution.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { type Address, erc20Abi, maxUint256 } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approve, depositRecovery, mintTestStablecoin } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { createPlatformChain, type PlatformChain, saveDeployment } from '../../core/chain/deployment.ts';
import { complianceRegistryAbi, distributorAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { distributionPushKey } from '../../core/distributions/run.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import { createWorker, type NplWorker } from '../../worker/main.ts';
import { type AnvilInstance, startAnvil } from '../helpers/anvil.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createClosedPortfolio } from '../helpers/portfolio.ts';

const silent = pino({ level: 'silent' });
const usd = (whole: bigint) => whole * 10n ** 6n;

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holders: ChainClients[];
let platform: PlatformChain;
let t: TestApp;
let worker: NplWorker | undefined;
let workerRedis: ReturnType<typeof createRedis>;
let dataDir: string;

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 8 });
  deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  servicer = withAccount(deployer, anvil.accounts[2].privateKey);
  holders = [3, 4, 5].map((i) => withAccount(deployer, anvil.accounts[i].privateKey));
  stack = await deployStack(deployer);
  dataDir = await mkdtemp(path.join(tmpdir(), 'npl-distribution-compliance-'));
  // the API reads the deployment (payouts, relayed claims) from its file
  const deploymentFile = path.join(dataDir, 'deployment.json');
  await saveDeployment(deploymentFile, stack);
  t = await createTestApp({
    overrides: {
      RPC_URL: anvil.rpcUrl,
      DEPLOYMENT_FILE: deploymentFile,
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `npl-test-dist-compliance-${randomBytes(4).toString('hex')}`,
      JOB_ATTEMPTS: 3,
      JOB_BACKOFF_MS: 200,
      PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
    },
  });
  platform = await createPlatformChain(t.config, { deployment: stack, pollingInterval: 20 });
  workerRedis = createRedis(t.config.REDIS_URL as string);
}, 120_000);

afterAll(async () => {
  await worker?.close();
  workerRedis?.disconnect();
  await t?.close();
  await anvil?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(300n), couponBps: 0, priceBps: 5_000 },
];
const purchases = [
  [usd(300n), usd(17n)],
  [usd(211n), usd(50n)],
  [usd(89n), 0n],
];

const payBalance = (account: Address) =>
  deployer.publicClient.readContract({
    address: stack.testStablecoin as Address,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [account],
  });

const claimedOf = (distributor: Address, account: Address) =>
  deployer.publicClient.readContract({
    address: distributor,
    abi: distributorAbi,
    functionName: 'claimed',
    args: [account],
  });

/** The deployer holds the registry's GUARDIAN_ROLE (deployStack's defaults). */
const setFrozen = (account: Address, frozen: boolean) =>
  sendAndWait(
    deployer,
    { contract: 'ComplianceRegistry', functionName: frozen ? 'freeze' : 'unfreeze' },
    () =>
      deployer.walletClient.writeContract({
        address: stack.complianceRegistry,
        abi: complianceRegistryAbi,
        functionName: frozen ? 'freeze' : 'unfreeze',
        args: [account],
      }),
  );

async function waitPaid(portfolioId: string, count: number, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await t.db.prisma.distribution.findMany({
      where: { portfolioId },
      orderBy: { recoveryId: 'asc' },
    });
    const failed = rows.find((r) => r.status === 'failed');
    if (failed) throw new Error(`distribution ${failed.id} failed: ${failed.error}`);
    if (rows.length === count && rows.every((r) => r.status === 'paid')) return rows;
    if (Date.now() > deadline)
      throw new Error(`not paid in time: ${JSON.stringify(rows.map((r) => r.status))}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('a holder the registry does not allow', () => {
  it('is skipped by the push, stays claimable, and is paid by the next push once allowed again', async () => {
    const portfolio = await createClosedPortfolio(deployer, t.db.prisma, {
      stack,
      name: 'Compliance test',
      servicer: servicer.account.address,
      rootProposer: platform.clients.account.address,
      timelockDelay: 2,
      tranches: tranchesSpec,
      holders,
      purchases,
    });
    await mintTestStablecoin(deployer, {
      token: stack.testStablecoin as Address,
      to: servicer.account.address,
      amount: usd(100_000n),
    });
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: portfolio.portfolio,
      amount: maxUint256,
    });
    const frozen = holders[1].account.address;
    const others = [holders[0].account.address, holders[2].account.address];
    const frozenBefore = await payBalance(frozen);
    await setFrozen(frozen, true);

    await depositRecovery(servicer, { portfolio: portfolio.portfolio, amount: usd(123n) });
    worker = await createWorker({
      config: t.config,
      db: t.db,
      redis: workerRedis,
      platform,
      logger: silent,
      distributionPollMs: 200,
      indexer: createIndexer({
        db: t.db,
        publicClient: platform.clients.publicClient,
        stack,
        confirmations: 0,
      }),
    });
    const [first] = await waitPaid(portfolio.id, 1);

    // the push paid the others, skipped the frozen holder, and recorded why
    const rows = await t.db.prisma.distributionHolder.findMany({ where: { distributionId: first.id } });
    const frozenRow = rows.find((r) => r.account === frozen);
    expect(frozenRow?.payout.gt(0)).toBe(true);
    expect(frozenRow?.pushedTx).not.toBeNull();
    expect(frozenRow?.pushSkipped).toBe('not_allowed');
    for (const account of others) {
      const row = rows.find((r) => r.account === account);
      expect(row?.pushSkipped).toBeNull();
      expect(await claimedOf(portfolio.distributor, account)).toBe(BigInt(row?.cumulative.toFixed(0) ?? -1));
    }
    expect(await payBalance(frozen)).toBe(frozenBefore);
    expect(await claimedOf(portfolio.distributor, frozen)).toBe(0n);
    // one claimMany, sent once: no retry of the skipped holder
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'claimMany', refId: first.id } })).toBe(1);
    expect(
      await t.db.prisma.relayTx.count({ where: { idempotencyKey: distributionPushKey(first.id, 0) } }),
    ).toBe(1);

    // not marked paid: the payouts route still shows it claimable, from the chain and from the index
    const cumulative = (frozenRow?.cumulative.toFixed(0) ?? '') as string;
    const chainView = await t.app.inject({ method: 'GET', url: `/v1/investors/${frozen}/payouts` });
    expect(chainView.statusCode, chainView.body).toBe(200);
    expect(chainView.json().items[0]).toMatchObject({ claimed: '0', claimable: cumulative });

    // a relayed claim is refused while frozen (simulated, nothing sent)
    const refused = await t.app.inject({ method: 'POST', url: `/v1/investors/${frozen}/claims` });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('NOT_ALLOWLISTED');
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'claim' } })).toBe(0);

    // allowed again; it moves all its tranche tokens away, so it has no payout of the next recovery
    await setFrozen(frozen, false);
    for (const token of portfolio.tranches) {
      const balance = await deployer.publicClient.readContract({
        address: token,
        abi: trancheTokenAbi,
        functionName: 'balanceOf',
        args: [frozen],
      });
      if (balance === 0n) continue;
      const hash = await holders[1].walletClient.writeContract({
        address: token,
        abi: trancheTokenAbi,
        functionName: 'transfer',
        args: [others[0], balance],
        chain: holders[1].chain,
        account: holders[1].account,
      });
      await deployer.publicClient.waitForTransactionReceipt({ hash });
    }
    await depositRecovery(servicer, { portfolio: portfolio.portfolio, amount: usd(77n) });
    const [, second] = await waitPaid(portfolio.id, 2);
    const secondRow = await t.db.prisma.distributionHolder.findUniqueOrThrow({
      where: { distributionId_account: { distributionId: second.id, account: frozen } },
    });
    expect(secondRow.payout.toFixed(0)).toBe('0');
    expect(secondRow.cumulative.toFixed(0)).toBe(cumulative);
    expect(secondRow.pushBatch).not.toBeNull();
    expect(secondRow.pushSkipped).toBeNull();
    expect(await claimedOf(portfolio.distributor, frozen)).toBe(BigInt(cumulative));
    expect((await payBalance(frozen)) - frozenBefore).toBe(BigInt(cumulative));
  }, 180_000);
});
