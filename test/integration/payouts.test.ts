/**
 * The recovery-to-claim flow over REST on anvil + Postgres + Redis: the offering closed and a
 * recovery deposited through the routes, the worker (indexer + distribution job, no pushes) makes
 * the root claimable, GET /v1/investors/:address/payouts answers cumulative / claimed / claimable
 * and a proof the Distributor accepts, POST /v1/investors/:address/claims pays exactly claimable to
 * the holder, once. Then a later claimMany push by the worker that includes an account that
 * already claimed still ends `paid`, paying nobody twice.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { type Address, getAddress, type Hex, maxUint256, zeroAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortfolio } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { distributorAbi } from '../../core/chain/generated/index.ts';
import { createRelayer } from '../../core/chain/relayer/relayer.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { computeDistribution } from '../../core/distributions/compute.ts';
import { createTreeCache, warmTrees } from '../../core/distributions/payouts.ts';
import { handleDistribution } from '../../core/distributions/run.ts';
import type { createRedis } from '../../core/platform/queue.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import type { NplWorker } from '../../worker/main.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import {
  type DistributionEnv,
  startDistributionEnv,
  startDistributionWorker,
  waitDistributions,
} from '../helpers/distribution.ts';
import { allowlistAndBuy, balancesAtBlock, recordPublishedPortfolio } from '../helpers/portfolio.ts';
import { signedDeposit } from '../helpers/recoveries.ts';
import { claimedFrom, fundServicer, payTokenBalance } from '../helpers/stack.ts';

const usd = (whole: bigint) => whole * 10n ** 6n;

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holders: ChainClients[];
let platform: PlatformChain;
let env: DistributionEnv;
let t: TestApp;
let dir: string;
let worker: NplWorker | undefined;
let workerRedis: ReturnType<typeof createRedis>;
let issuer: Headers;
let firstDistributionId: string;
let servicerKey: Headers;

beforeAll(async () => {
  env = await startDistributionEnv({ name: 'payouts', accounts: 8, holders: [3, 4, 5] });
  ({ anvil, deployer, stack, servicer, holders, t, dir, platform, workerRedis } = env);
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  servicerKey = await apiKeyHeaders(t.db.prisma, 'servicer', servicer.account.address);
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await env?.close();
});

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(300n), couponBps: 0, priceBps: 5_000 },
];
/** Pay units of face each holder buys of each tranche. */
const purchases = [
  [usd(300n), usd(17n)],
  [usd(211n), usd(50n)],
  [usd(89n), 0n],
];

async function publishedPortfolio() {
  const now = (await deployer.publicClient.getBlock()).timestamp;
  const created = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: servicer.account.address,
    issuer: platform.clients.account.address,
    rootProposer: platform.clients.account.address,
    timelockDelay: 2,
    offeringEnd: now + 86_400n,
    tranches: tranchesSpec,
  });
  await allowlistAndBuy(deployer, {
    stack,
    portfolio: created.portfolio,
    holders,
    purchases,
    expiry: now + 10n * 365n * 86_400n,
  });
  const row = await recordPublishedPortfolio(t.db.prisma, {
    name: 'Payouts test',
    servicer: servicer.account.address,
    chainId: anvil.chainId,
    created,
    tranches: tranchesSpec,
  });
  return { id: row.id, ...created };
}

const payBalance = (account: Address) => payTokenBalance(deployer, stack, account);
const claimedOf = (distributor: Address, account: Address) => claimedFrom(deployer, distributor, account);

async function waitRelay(id: string) {
  for (let i = 0; i < 400; i++) {
    const row = await t.db.prisma.relayTx.findUniqueOrThrow({ where: { id } });
    if (row.status !== 'pending') return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`relay tx ${id} still pending`);
}

/** Until the portfolio has `count` distributions, the last one in one of `statuses`. */
const waitStatus = (portfolioId: string, count: number, statuses: string[], timeoutMs = 90_000) =>
  waitDistributions(
    t,
    portfolioId,
    (rows) => rows.length === count && statuses.includes(rows[count - 1].status),
    { timeoutMs, late: 'timeout' },
  );

async function startWorker() {
  // nobody is pushed: holders claim themselves
  worker = await startDistributionWorker({
    t,
    redis: workerRedis,
    platform,
    stack,
    distribution: { minPush: maxUint256 },
  });
}

type PayoutItem = {
  portfolioId: string;
  distributor: Address;
  payToken: Address;
  distributionId: string | null;
  root: Hex | null;
  cumulative: string;
  claimed: string;
  claimable: string;
  proof: Hex[];
  pending: string;
  claimedAsOfBlock: string | null;
};

async function payouts(account: string): Promise<PayoutItem[]> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/investors/${account}/payouts` });
  expect(res.statusCode).toBe(200);
  return res.json().items;
}

/** A deposit the servicer consents to: its DepositIntent signed with the servicer's own key. */
const consentedDeposit = async (portfolioId: string, amount: bigint, reportSha256: string) =>
  (
    await signedDeposit(t, {
      portfolioId,
      headers: servicerKey,
      body: { amount: amount.toString(), reportSha256 },
      signer: servicer.account,
    })
  ).payload;

const claim = (account: string, payload?: object) =>
  t.app.inject({ method: 'POST', url: `/v1/investors/${account}/claims`, payload });

describe('payouts and claims', () => {
  let portfolio: Awaited<ReturnType<typeof publishedPortfolio>>;
  let expected: Map<string, bigint>;

  it('close and recover over REST; the worker makes the root claimable; payouts answer verifiable proofs', async () => {
    portfolio = await publishedPortfolio();
    const close = await t.app.inject({
      method: 'POST',
      url: `/v1/portfolios/${portfolio.id}/offering/close`,
      headers: issuer,
    });
    expect(close.statusCode).toBe(202);
    expect((await waitRelay(close.json().relayTxId)).status).toBe('mined');

    await fundServicer(deployer, servicer, { stack, portfolio: portfolio.portfolio, amount: usd(100_000n) });
    const amount = usd(123n) + 7n;
    const deposit = await t.app.inject({
      method: 'POST',
      url: `/v1/portfolios/${portfolio.id}/recoveries`,
      headers: servicerKey,
      payload: await consentedDeposit(portfolio.id, amount, 'ab'.repeat(32)),
    });
    expect(deposit.statusCode).toBe(202);
    expect((await waitRelay(deposit.json().id)).status).toBe('mined');

    // nothing mines blocks: the recovery over REST is the last transaction, the worker's own pass the timelock
    await startWorker();
    const [row] = await waitStatus(portfolio.id, 1, ['paid']);
    firstDistributionId = row.id;

    // expected cumulative amounts, from the chain alone: balances at the snapshot and the recovery's tranche amounts
    const recovery = (
      await t.app.inject({ method: 'GET', url: `/v1/recoveries/${deposit.json().id}` })
    ).json();
    expect(recovery.distribution).toEqual({ id: row.id, status: 'paid' });
    const tranches = [];
    for (const [i, token] of portfolio.tranches.entries()) {
      const balances = await balancesAtBlock(deployer.publicClient, {
        token,
        accounts: holders.map((h) => h.account.address),
        blockNumber: row.snapshotBlock,
      });
      tranches.push({ trancheId: i, amount: BigInt(recovery.tranches[i].total), carryIn: 0n, balances });
    }
    const computed = computeDistribution({ tranches });
    expected = new Map(computed.holders.map((h) => [getAddress(h.account), h.cumulative]));
    const root = await deployer.publicClient.readContract({
      address: portfolio.distributor,
      abi: distributorAbi,
      functionName: 'root',
    });

    for (const holder of holders) {
      const account = holder.account.address;
      const cumulative = expected.get(account) as bigint;
      expect(cumulative).toBeGreaterThan(0n);
      // any letter case of the address
      const items = await payouts(account.toLowerCase());
      expect(items).toEqual([
        {
          portfolioId: portfolio.id,
          distributor: portfolio.distributor,
          payToken: getAddress(stack.testStablecoin as Address),
          distributionId: row.id,
          root,
          cumulative: cumulative.toString(),
          claimed: '0',
          claimable: cumulative.toString(),
          proof: expect.any(Array),
          pending: '0',
          claimedAsOfBlock: expect.stringMatching(/^[0-9]+$/),
        },
      ]);
      // the proof verifies on-chain: Distributor.claim simulated from a stranger pays exactly cumulative
      const { result } = await deployer.publicClient.simulateContract({
        account: anvil.accounts[6].address,
        address: portfolio.distributor,
        abi: distributorAbi,
        functionName: 'claim',
        args: [account, cumulative, items[0].proof],
      });
      expect(result).toBe(cumulative);
    }
    // a wrong amount with the same proof does not verify
    const [first] = await payouts(holders[0].account.address);
    await expect(
      deployer.publicClient.simulateContract({
        address: portfolio.distributor,
        abi: distributorAbi,
        functionName: 'claim',
        args: [holders[0].account.address, BigInt(first.cumulative) + 1n, first.proof],
      }),
    ).rejects.toThrow(/DistributorProofInvalid/);
  }, 150_000);

  it('payouts: 422 for an invalid address, no items for an account without leaves', async () => {
    for (const bad of ['0x1234', 'nope', `0x${'g'.repeat(40)}`]) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/investors/${bad}/payouts` });
      expect(res.statusCode).toBe(422);
      expect(res.json().code).toBe('VALIDATION_FAILED');
      expect(res.json().details[0].path).toBe('params.address');
    }
    expect(await payouts(anvil.accounts[7].address)).toEqual([]);
    expect(await payouts(zeroAddress)).toEqual([]);
  });

  it('claims: bad input changes nothing; a claim pays exactly claimable once; a double POST sends once', async () => {
    const sent = async () => ({
      relay: await t.db.prisma.relayTx.count(),
      nonce: await deployer.publicClient.getTransactionCount({ address: platform.clients.account.address }),
    });
    const before = await sent();
    const a = holders[0].account.address;
    const badAddress = await claim('0x1234');
    expect([badAddress.statusCode, badAddress.json().details[0].path]).toEqual([422, 'params.address']);
    const badPortfolio = await claim(a, { portfolioId: 'nope' });
    expect([badPortfolio.statusCode, badPortfolio.json().details[0].path]).toEqual([422, 'body.portfolioId']);
    const unknown = await claim(a, { portfolioId: randomUUID() });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'NOT_FOUND']);
    const nothing = await claim(anvil.accounts[7].address);
    expect([nothing.statusCode, nothing.json().code, nothing.json().details.reason]).toEqual([
      409,
      'CONFLICT',
      'NOTHING_TO_CLAIM',
    ]);
    expect(await sent()).toEqual(before);

    const [payout] = await payouts(a);
    const balance = await payBalance(a);
    const res = await claim(a, { portfolioId: portfolio.id });
    expect(res.statusCode).toBe(202);
    expect(res.json().items).toEqual([
      {
        portfolioId: portfolio.id,
        distributionId: firstDistributionId,
        amount: payout.claimable,
        status: 'pending',
        txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
      },
    ]);
    const relay = await t.db.prisma.relayTx.findFirstOrThrow({
      where: { txHash: res.json().items[0].txHash },
    });
    expect((await waitRelay(relay.id)).status).toBe('mined');
    expect((await payBalance(a)) - balance).toBe(BigInt(payout.claimable));
    expect(await claimedOf(portfolio.distributor, a)).toBe(BigInt(payout.cumulative));
    // `claimed` is the indexed one: it shows the claim once the indexer reached its block
    const { blockNumber } = await deployer.publicClient.getTransactionReceipt({
      hash: res.json().items[0].txHash,
    });
    await expect
      .poll(async () => BigInt((await payouts(a))[0].claimedAsOfBlock ?? '0') >= blockNumber, {
        timeout: 30_000,
      })
      .toBe(true);
    const [after] = await payouts(a);
    expect([after.claimed, after.claimable]).toEqual([payout.cumulative, '0']);
    const again = await claim(a);
    expect([again.statusCode, again.json().code]).toEqual([409, 'CONFLICT']);
    const audits = await t.db.prisma.auditLog.findMany({
      where: { resourceType: 'claim', resourceId: a },
      orderBy: { id: 'asc' },
    });
    expect(audits.map((row) => row.statusCode)).toEqual([202]);

    // two POSTs at once for another holder: one transaction
    const b = holders[1].account.address;
    const [payoutB] = await payouts(b);
    const balanceB = await payBalance(b);
    const [r1, r2] = await Promise.all([claim(b), claim(b)]);
    expect([r1.statusCode, r2.statusCode]).toEqual([202, 202]);
    expect(r1.json().items[0].txHash).toBe(r2.json().items[0].txHash);
    expect(
      await t.db.prisma.relayTx.count({ where: { kind: 'claim', refId: `${firstDistributionId}:${b}` } }),
    ).toBe(1);
    const relayB = await t.db.prisma.relayTx.findFirstOrThrow({
      where: { txHash: r1.json().items[0].txHash },
    });
    expect((await waitRelay(relayB.id)).status).toBe('mined');
    expect((await payBalance(b)) - balanceB).toBe(BigInt(payoutB.claimable));
  }, 60_000);

  it('a later distribution not accepted yet shows as pending; the accepted root stays the one to claim', async () => {
    // the Distributor's admin (the deployer) lengthens the timelock: the change waits out the delay in
    // force (2 s), then the next root stays proposed
    await sendAndWait(deployer, { contract: 'Distributor', functionName: 'proposeTimelockDelay' }, () =>
      deployer.walletClient.writeContract({
        address: portfolio.distributor,
        abi: distributorAbi,
        functionName: 'proposeTimelockDelay',
        args: [86_400n],
      }),
    );
    await createAnvilTestClient(anvil.rpcUrl).increaseTime({ seconds: 3 });
    await sendAndWait(deployer, { contract: 'Distributor', functionName: 'acceptTimelockDelay' }, () =>
      deployer.walletClient.writeContract({
        address: portfolio.distributor,
        abi: distributorAbi,
        functionName: 'acceptTimelockDelay',
      }),
    );
    const deposit = await t.app.inject({
      method: 'POST',
      url: `/v1/portfolios/${portfolio.id}/recoveries`,
      headers: servicerKey,
      payload: await consentedDeposit(portfolio.id, usd(50n), 'cd'.repeat(32)),
    });
    expect(deposit.statusCode).toBe(202);
    const rows = await waitStatus(portfolio.id, 2, ['proposed']);
    const second = rows[1];
    for (const holder of holders) {
      const account = holder.account.address;
      const row = await t.db.prisma.distributionHolder.findUniqueOrThrow({
        where: { distributionId_account: { distributionId: second.id, account } },
      });
      const [item] = await payouts(account);
      expect(BigInt(item.pending)).toBeGreaterThan(0n);
      expect(item.pending).toBe(row.payout.toFixed(0));
      expect(item.distributionId).toBe(firstDistributionId);
      expect(item.cumulative).toBe((expected.get(account) as bigint).toString());
    }
  }, 90_000);

  it('a claimMany push after holders claimed themselves still ends paid and pays nobody twice', async () => {
    await worker?.close();
    worker = undefined;
    const distributor = portfolio.distributor;
    const balances = await Promise.all(holders.map((h) => payBalance(h.account.address)));
    const claimed = await Promise.all(holders.map((h) => claimedOf(distributor, h.account.address)));
    // holders 0 and 1 claimed through the API, holder 2 did not
    expect(claimed.map((c, i) => c === expected.get(holders[i].account.address))).toEqual([
      true,
      true,
      false,
    ]);
    // the first distribution pushed again, now to everybody (minPush 0): its recorded push (no batch,
    // every holder was below the minimum) dropped, as an operator starting the push over would
    await t.db.prisma.distribution.update({
      where: { id: firstDistributionId },
      data: { status: 'claimable', pushBatchSize: null },
    });
    await t.db.prisma.distributionHolder.updateMany({
      where: { distributionId: firstDistributionId },
      data: { pushBatch: null },
    });
    const relayer = createRelayer({ clients: platform.clients, prisma: t.db.prisma, pollIntervalMs: 50 });
    const result = await handleDistribution(
      { db: t.db, platform, relayer, config: t.config, minPush: 0n },
      { distributionId: firstDistributionId },
    );
    expect(result.status).toBe('paid');
    const row = await t.db.prisma.distribution.findUniqueOrThrow({ where: { id: firstDistributionId } });
    expect(row.status).toBe('paid');
    const after = await Promise.all(holders.map((h) => payBalance(h.account.address)));
    const owed = (expected.get(holders[2].account.address) as bigint) - claimed[2];
    expect(after.map((b, i) => b - balances[i])).toEqual([0n, 0n, owed]);
    for (const holder of holders) {
      expect(await claimedOf(distributor, holder.account.address)).toBe(expected.get(holder.account.address));
    }
    expect(
      await t.db.prisma.relayTx.count({ where: { refId: firstDistributionId, kind: 'claimMany' } }),
    ).toBe(1);
  }, 60_000);
});

describe('the tree cache', () => {
  it('loads a tree once, keeps the most recent ones and rejects a tree whose root is not the recorded one', async () => {
    const rows = await t.db.prisma.distribution.findMany({
      where: { root: { not: null } },
      orderBy: { recoveryId: 'asc' },
    });
    expect(rows.length).toBe(2);
    const cache = createTreeCache({ prisma: t.db.prisma, maxTrees: 1 });
    const [a, b] = rows.map((r) => ({ id: r.id, root: r.root, treePath: r.treePath }));
    const tree = await cache.get(a);
    expect(await cache.get(a)).toBe(tree);
    expect(tree.root).toBe(a.root);
    await cache.get(b);
    expect(cache.size()).toBe(1);
    expect(await cache.get(a)).not.toBe(tree);
    // without the dump file, from the holder rows: the same root
    const fromRows = await createTreeCache({ prisma: t.db.prisma }).get({
      ...a,
      treePath: path.join(dir, 'missing.json'),
    });
    expect(fromRows.root).toBe(a.root);
    await expect(cache.get({ ...b, id: randomUUID(), root: a.root })).rejects.toThrow(/root/);

    // warming loads the latest accepted tree of each portfolio (the second distribution is only proposed)
    const warm = createTreeCache({ prisma: t.db.prisma });
    expect(await warmTrees(t.db.prisma, warm)).toEqual([firstDistributionId]);
    expect(warm.has(firstDistributionId)).toBe(true);
    expect(await warmTrees(t.db.prisma, warm)).toEqual([]);
  });
});

describe('claims settle through the state machine', () => {
  it('a claim a reorg removes goes back to pending and the relayer sends it again; it pays once', async () => {
    await worker?.close();
    worker = undefined;
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    // the second distribution, proposed above, accepted once its timelock passed (nobody pushed)
    const second = await t.db.prisma.distribution.findFirstOrThrow({ where: { status: 'proposed' } });
    const { distributorAddress } = await t.db.prisma.portfolio.findUniqueOrThrow({
      where: { id: second.portfolioId },
    });
    const distributor = getAddress(distributorAddress as string);
    await testClient.increaseTime({ seconds: 86_401 });
    await testClient.mine({ blocks: 1 });
    const relayer = createRelayer({ clients: platform.clients, prisma: t.db.prisma, pollIntervalMs: 50 });
    await handleDistribution(
      { db: t.db, platform, relayer, config: t.config, minPush: maxUint256 },
      { distributionId: second.id },
    );
    const account = holders[0].account.address;
    const [payout] = await payouts(account);
    expect(payout.distributionId).toBe(second.id);
    expect(BigInt(payout.claimable)).toBeGreaterThan(0n);

    const slow = createIndexer({
      db: t.db,
      publicClient: deployer.publicClient,
      stack,
      confirmations: 1_000,
    });
    await slow.syncOnce();
    const snapshot = await testClient.snapshot();
    const res = await claim(account, { portfolioId: second.portfolioId });
    expect(res.statusCode, res.body).toBe(202);
    const relay = await t.db.prisma.relayTx.findFirstOrThrow({
      where: { txHash: res.json().items[0].txHash },
    });
    const mined = await waitRelay(relay.id);
    expect(mined.status).toBe('mined');
    await slow.syncOnce();
    expect(await t.db.prisma.claimEvent.count({ where: { txHash: relay.txHash } })).toBe(1);

    // the claim's block leaves the chain; the new branch passes its height without it
    await testClient.revert({ id: snapshot });
    await testClient.mine({ blocks: 2 });
    await slow.syncOnce();
    expect(await t.db.prisma.claimEvent.count({ where: { txHash: relay.txHash } })).toBe(0);
    expect(await claimedOf(distributor, account)).toBe(BigInt(payout.claimed));

    // asked again: the same transaction, back to pending, and the relayer sends it again
    const again = await claim(account, { portfolioId: second.portfolioId });
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json().items).toEqual([
      expect.objectContaining({ status: 'pending', txHash: relay.txHash }),
    ]);
    const remined = await waitRelay(relay.id);
    expect(remined.status).toBe('mined');
    expect(await claimedOf(distributor, account)).toBe(BigInt(payout.cumulative));
    expect(
      await t.db.prisma.relayTx.count({ where: { kind: 'claim', refId: `${second.id}:${account}` } }),
    ).toBe(1);
  }, 90_000);
});
