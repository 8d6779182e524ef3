/**
 * Issue 5's acceptance test: recoveries and Merkle distributions end to end, on anvil + Postgres +
 * Redis with the API and the worker running.
 *
 * A portfolio with three tranches and hundreds of holders (a few buyers buy during the offering, then
 * hand the tokens out); three recoveries deposited by the servicer through
 * POST /v1/portfolios/:id/recoveries, with trading in between (plain transfers and a Marketplace
 * fill); the worker distributes all three (holders below the push minimum claim themselves). Then:
 * - every account received exactly what the test computes on its own: the waterfall of
 *   spec/vectors/waterfall.json's rules (computeWaterfall on the listed terms and the block times),
 *   and a pro-rata split written here over balances the test tracked from its own transfers;
 * - per tranche, Σ payouts + the dust carried out == what the recoveries funded;
 * - `verifyDistribution` (the CLI's check, from the chain and the published tree only) agrees for
 *   each distribution, and the CLI verb itself agrees against the listening server;
 * - a tree with one leaf amount changed, served by a throwaway server, makes it DISAGREE.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  type Address,
  getAddress,
  type Hex,
  keccak256,
  maxUint256,
  type PublicClient,
  parseEther,
  parseEventLogs,
  toHex,
  zeroAddress,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  approve,
  buy,
  closeOffering,
  createPortfolio,
  mintTestStablecoin,
} from '../../core/chain/actions.ts';
import { type ChainClients, withAccount } from '../../core/chain/clients.ts';
import {
  fillCost,
  fillOrder,
  NO_DECAY,
  type Order,
  signOrder,
} from '../../core/chain/contracts/marketplace.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { distributorAbi, portfolioAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { fetchPublishedDistribution, verifyDistribution } from '../../core/distributions/verify/index.ts';
import { computeWaterfall, type TrancheState } from '../../core/domain/waterfall.ts';
import type { createRedis } from '../../core/platform/queue.ts';
import type { NplWorker } from '../../worker/main.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders } from '../helpers/auth.ts';
import {
  type DistributionEnv,
  startDistributionEnv,
  startDistributionWorker,
  waitDistributionsPaid,
} from '../helpers/distribution.ts';
import { recordPublishedPortfolio } from '../helpers/portfolio.ts';
import { signedDeposit } from '../helpers/recoveries.ts';
import { fundServicer, payTokenBalance } from '../helpers/stack.ts';

const HOLDERS = Number(process.env.ACCEPTANCE_HOLDERS ?? 300);
const usd = (whole: bigint) => whole * 10n ** 6n;
const SCALE = 10n ** 12n; // tranche tokens have 18 decimals, the TestStablecoin 6
const DAY = 86_400;
const MIN_PUSH = usd(1n);
const repo = fileURLToPath(new URL('../../', import.meta.url));

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(300_000n), couponBps: 800, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'MEZ', face: usd(150_000n), couponBps: 1_200, priceBps: 9_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(150_000n), couponBps: 0, priceBps: 5_000 },
];
const fees = { servicerBps: 150, protocolBps: 50 };
const mode = 'interestFirst' as const;
/** Face units each buyer buys of each tranche. */
const buyUnits = [usd(90_000n), usd(45_000n), usd(45_000n)];

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let buyers: ChainClients[];
let platform: PlatformChain;
let env: DistributionEnv;
let t: TestApp;
let worker: NplWorker | undefined;
let workerRedis: ReturnType<typeof createRedis>;
let client: PublicClient;

beforeAll(async () => {
  env = await startDistributionEnv({ name: 'acceptance', accounts: 8, holders: [3, 4, 5] });
  ({ anvil, deployer, stack, servicer, holders: buyers, t, platform, workerRedis } = env);
  client = deployer.publicClient as unknown as PublicClient;
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await env?.close();
});

// ------------------------------------------------------------------ the test's own ledger

/** balances[tranche][lowercase account], kept from the transfers this test makes. */
const ledger = tranchesSpec.map(() => new Map<string, bigint>());
function move(tranche: number, from: Address, to: Address, amount: bigint) {
  const book = ledger[tranche];
  if (from !== zeroAddress) {
    const left = (book.get(from.toLowerCase()) ?? 0n) - amount;
    if (left < 0n) throw new Error(`ledger: ${from} overspends tranche ${tranche}`);
    book.set(from.toLowerCase(), left);
  }
  book.set(to.toLowerCase(), (book.get(to.toLowerCase()) ?? 0n) + amount);
}
const snapshotLedger = () => ledger.map((book) => new Map([...book].filter(([, b]) => b > 0n)));

/** Sends token transfers from `sender` back to back (own nonces, no receipt awaited), then checks them all. */
async function transferMany(
  sender: ChainClients,
  transfers: { tranche: number; token: Address; to: Address; amount: bigint }[],
) {
  let nonce = await client.getTransactionCount({ address: sender.account.address, blockTag: 'pending' });
  const hashes: Hex[] = [];
  for (const tr of transfers) {
    hashes.push(
      await sender.walletClient.writeContract({
        address: tr.token,
        abi: trancheTokenAbi,
        functionName: 'transfer',
        args: [tr.to, tr.amount],
        nonce: nonce++,
        gas: 200_000n,
        maxFeePerGas: 50_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
      }),
    );
    move(tr.tranche, sender.account.address, tr.to, tr.amount);
  }
  const receipts = await Promise.all(hashes.map((hash) => client.waitForTransactionReceipt({ hash })));
  expect(receipts.every((r) => r.status === 'success')).toBe(true);
}

// ------------------------------------------------------------------ independent expectations

/** floor((amount + carry) × balance / supply) per holder; the rest is carried. Written here on purpose. */
function proRata(amount: bigint, carry: bigint, balances: Map<string, bigint>) {
  const pot = amount + carry;
  let supply = 0n;
  for (const b of balances.values()) supply += b;
  const payouts = new Map<string, bigint>();
  let paid = 0n;
  if (supply > 0n) {
    for (const [account, balance] of balances) {
      const share = (pot * balance) / supply;
      if (share > 0n) payouts.set(account, share);
      paid += share;
    }
  }
  return { payouts, paid, dust: pot - paid };
}

const payBalance = (account: Address) => payTokenBalance(deployer, stack, account);

const waitPaid = (portfolioId: string, count: number, timeoutMs: number) =>
  waitDistributionsPaid(t, portfolioId, count, { timeoutMs, pollMs: 250 });

type Run = { code: number; stdout: string; stderr: string };
const cli = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'scripts/cli.ts', ...args],
      { cwd: repo, timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });

describe('issue 5: recoveries and Merkle distributions', () => {
  it('pays hundreds of holders exactly, and the distributions verify from the chain alone', async () => {
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const payToken = stack.testStablecoin as Address;
    const now = (await client.getBlock()).timestamp;

    // ---------------------------------------------------------------- the portfolio and its holders
    const created = await createPortfolio(deployer, {
      factory: stack.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: servicer.account.address,
      rootProposer: platform.clients.account.address,
      timelockDelay: 2,
      servicerFeeBps: fees.servicerBps,
      protocolFeeBps: fees.protocolBps,
      mode,
      offeringEnd: now + 30n * 86_400n,
      tranches: tranchesSpec,
    });
    const tokens = created.tranches;
    const keys = Array.from({ length: HOLDERS }, (_, i) => keccak256(toHex(`acceptance-holder-${i}`)));
    const holders = keys.map((key) => withAccount(deployer, key));
    const holderAddresses = holders.map((h) => h.account.address);
    const expiry = now + 10n * 365n * 86_400n;
    for (let i = 0; i < holderAddresses.length; i += 100) {
      await allowlistInvestors(deployer, {
        registry: stack.complianceRegistry,
        accounts: holderAddresses.slice(i, i + 100),
        expiry,
      });
    }
    await allowlistInvestors(deployer, {
      registry: stack.complianceRegistry,
      accounts: buyers.map((b) => b.account.address),
      expiry,
    });
    for (const buyer of buyers) {
      await mintTestStablecoin(deployer, {
        token: payToken,
        to: buyer.account.address,
        amount: usd(1_000_000n),
      });
      await approve(buyer, { token: payToken, spender: created.portfolio, amount: maxUint256 });
      for (const [trancheId, units] of buyUnits.entries()) {
        await buy(buyer, {
          portfolio: created.portfolio,
          trancheId,
          amount: units * SCALE,
          maxCost: maxUint256,
        });
        move(trancheId, zeroAddress, buyer.account.address, units * SCALE);
      }
    }
    // each holder gets one tranche (some two); every 25th only a sliver, paid less than MIN_PUSH
    const handout = buyers.map(() => [] as Parameters<typeof transferMany>[1]);
    const perTranche: number[] = [];
    for (const [k, to] of holderAddresses.entries()) {
      const tranchesOf = k % 5 === 0 ? [k % 3, (k + 1) % 3] : [k % 3];
      for (const tranche of tranchesOf) {
        const amount =
          k % 25 === 1 ? SCALE * 997n + BigInt(k) : usd(100n + BigInt((k * 37) % 900)) * SCALE + BigInt(k);
        // the buyers take turns per tranche, so each hands out about a third of it
        const turn = (perTranche[tranche] ?? 0) + 1;
        perTranche[tranche] = turn;
        handout[turn % buyers.length].push({ tranche, token: tokens[tranche], to, amount });
      }
    }
    await Promise.all(buyers.map((buyer, b) => transferMany(buyer, handout[b])));
    const closed = await closeOffering(deployer, { portfolio: created.portfolio });
    expect(closed.sold).toEqual(buyUnits.map((u) => u * 3n));

    const row = await recordPublishedPortfolio(t.db.prisma, {
      name: 'Acceptance',
      servicer: servicer.account.address,
      chainId: anvil.chainId,
      created: { ...created, tranches: tokens },
      tranches: tranchesSpec,
      fees: { servicerBps: fees.servicerBps, protocolBps: fees.protocolBps },
    });

    // ---------------------------------------------------------------- recoveries, trading in between
    await fundServicer(deployer, servicer, { stack, portfolio: created.portfolio, amount: usd(2_000_000n) });
    const servicerKey = await apiKeyHeaders(t.db.prisma, 'servicer', servicer.account.address);
    const snapshots: Map<string, bigint>[][] = [];
    const recoveries: { amount: bigint; blockTimestamp: bigint; args: Record<string, unknown> }[] = [];
    const deposit = async (amount: bigint, advanceDays: number) => {
      await testClient.increaseTime({ seconds: advanceDays * DAY });
      await testClient.mine({ blocks: 1 });
      // the servicer consents to this deposit: its signed DepositIntent
      const { payload } = await signedDeposit(t, {
        portfolioId: row.id,
        headers: servicerKey,
        body: { amount: amount.toString(), reportSha256: randomBytes(32).toString('hex') },
        signer: servicer.account,
      });
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/portfolios/${row.id}/recoveries`,
        headers: servicerKey,
        payload,
      });
      expect(res.statusCode, res.body).toBe(202);
      const receipt = await client.waitForTransactionReceipt({ hash: res.json().txHash as Hex });
      const [event] = parseEventLogs({
        abi: portfolioAbi,
        logs: receipt.logs,
        eventName: 'RecoveryDistributed',
      });
      expect(event).toBeDefined();
      const block = await client.getBlock({ blockNumber: receipt.blockNumber });
      snapshots.push(snapshotLedger());
      recoveries.push({ amount, blockTimestamp: block.timestamp, args: event.args });
    };
    /** Traders need gas: anvil_setBalance instead of funding transactions. */
    const trade = async (round: number) => {
      const transfers: { from: number; to: number }[] = [];
      for (let k = 2 + round; k < HOLDERS; k += 29)
        transfers.push({ from: k, to: (k * 7 + round) % HOLDERS });
      for (const { from, to } of transfers) {
        const sender = holders[from];
        await testClient.setBalance({ address: sender.account.address, value: parseEther('1') });
        const tranche = from % 3;
        const balance = ledger[tranche].get(sender.account.address.toLowerCase()) ?? 0n;
        await transferMany(sender, [
          { tranche, token: tokens[tranche], to: holderAddresses[to], amount: balance / 3n + 1n },
        ]);
      }
    };

    await deposit(usd(40_000n) + 7n, 90);
    await trade(0);
    // a Marketplace fill: holder 3 sells part of its senior tokens to buyer 0
    const maker = holders[3];
    await testClient.setBalance({ address: maker.account.address, value: parseEther('1') });
    const marketplace = stack.marketplace as Address;
    const makerBalance = ledger[0].get(maker.account.address.toLowerCase()) ?? 0n;
    const order: Order = {
      maker: maker.account.address,
      taker: zeroAddress,
      tranche: tokens[0],
      payToken,
      sellAmount: makerBalance / 2n,
      price: usd(1n) * (makerBalance / 2n / (SCALE * 10n ** 6n) + 1n),
      expiry: now + 365n * 86_400n,
      salt: 1n,
      counter: 0n,
      partialFill: true,
      maxFeeBps: 100,
      ...NO_DECAY,
    };
    const signature = await signOrder(privateKeyToAccount(keys[3]), {
      marketplace,
      chainId: anvil.chainId,
      order,
    });
    await maker.walletClient.writeContract({
      address: tokens[0],
      abi: trancheTokenAbi,
      functionName: 'approve',
      args: [marketplace, order.sellAmount],
    });
    await approve(buyers[0], { token: payToken, spender: marketplace, amount: maxUint256 });
    const fillAmount = order.sellAmount / 2n + 3n;
    const fill = await fillOrder(buyers[0], { marketplace, order, signature, amount: fillAmount });
    expect(fill.amount).toBe(fillAmount);
    expect(fill.cost).toBe(fillCost(order, fillAmount));
    move(0, maker.account.address, buyers[0].account.address, fillAmount);

    await deposit(usd(120_000n) + 3n, 180);
    await trade(1);
    await deposit(usd(500_000n) + 11n, 200);

    // ---------------------------------------------------------------- independent expectations
    let state: TrancheState[] = tranchesSpec.map((spec, i) => ({
      face: spec.face,
      couponBps: spec.couponBps,
      outstanding: closed.sold[i],
      interestArrears: 0n,
    }));
    let previousAt = closed.closedAt;
    const carry = tranchesSpec.map(() => 0n);
    const funded = tranchesSpec.map(() => 0n);
    const expectedPaid = new Map<string, bigint>();
    const expectedCumulative: Map<string, bigint>[] = [];
    for (const [r, recovery] of recoveries.entries()) {
      const waterfall = computeWaterfall({
        tranches: state,
        fees,
        mode,
        elapsedSeconds: recovery.blockTimestamp - previousAt,
        amount: recovery.amount,
      });
      state = waterfall.state;
      previousAt = recovery.blockTimestamp;
      // the chain ran the same waterfall
      expect({
        servicerFee: recovery.args.servicerFee,
        protocolFee: recovery.args.protocolFee,
        interest: recovery.args.interest,
        principal: recovery.args.principal,
        residual: recovery.args.residual,
      }).toEqual({
        servicerFee: waterfall.servicerFee,
        protocolFee: waterfall.protocolFee,
        interest: waterfall.tranches.map((x) => x.interest),
        principal: waterfall.tranches.map((x) => x.principal),
        residual: waterfall.tranches.map((x) => x.residual),
      });
      for (const [i, payment] of waterfall.tranches.entries()) {
        funded[i] += payment.total;
        const split = proRata(payment.total, carry[i], snapshots[r][i]);
        carry[i] = split.dust;
        for (const [account, payout] of split.payouts) {
          expectedPaid.set(account, (expectedPaid.get(account) ?? 0n) + payout);
        }
      }
      expectedCumulative.push(new Map(expectedPaid));
    }
    // the interesting cases happened: every tranche paid, principal and residual, dust carried
    expect(funded.every((f) => f > 0n)).toBe(true);
    expect(carry.some((c) => c > 0n)).toBe(true);
    const smallPayees = [...expectedPaid].filter(([, paid]) => paid > 0n && paid < MIN_PUSH);
    expect(smallPayees.length).toBeGreaterThan(0);

    // ---------------------------------------------------------------- the worker distributes
    const accounts = [...new Set([...holderAddresses, ...buyers.map((b) => b.account.address)])];
    const before = new Map(await Promise.all(accounts.map(async (a) => [a, await payBalance(a)] as const)));
    worker = await startDistributionWorker({
      t,
      redis: workerRedis,
      platform,
      stack,
      distribution: { minPush: MIN_PUSH },
    });
    // nothing mines blocks: the worker's own acceptRoot passes each timelock (anvil mines on transactions)
    const rows = await waitPaid(row.id, 3, 300_000);
    await worker.close();
    worker = undefined;

    // holders below the push minimum claim themselves, with a proof from the published tree
    const lastTree = await t.app.inject({ method: 'GET', url: `/v1/distributions/${rows[2].id}/tree` });
    expect(lastTree.statusCode).toBe(200);
    const tree = StandardMerkleTree.load(JSON.parse(lastTree.body) as never);
    let claims = 0;
    for (const [index, [account, amount]] of tree.entries() as Iterable<[number, [string, string]]>) {
      const claimed = await client.readContract({
        address: created.distributor,
        abi: distributorAbi,
        functionName: 'claimed',
        args: [account as Address],
      });
      if (claimed >= BigInt(amount)) continue;
      claims++;
      const hash = await deployer.walletClient.writeContract({
        address: created.distributor,
        abi: distributorAbi,
        functionName: 'claim',
        args: [account as Address, BigInt(amount), tree.getProof(index) as Hex[]],
      });
      expect((await client.waitForTransactionReceipt({ hash })).status).toBe('success');
    }
    expect(claims).toBeGreaterThan(0);

    // ---------------------------------------------------------------- every account got exactly its share
    let received = 0n;
    const wrong: string[] = [];
    for (const account of accounts) {
      const got = (await payBalance(account)) - (before.get(account) ?? 0n);
      received += got;
      const want = expectedPaid.get(account.toLowerCase()) ?? 0n;
      if (got !== want) wrong.push(`${account}: received ${got}, expected ${want}`);
    }
    expect(wrong).toEqual([]);
    expect(expectedPaid.size).toBeGreaterThanOrEqual(HOLDERS);
    const totalFunded = await client.readContract({
      address: created.distributor,
      abi: distributorAbi,
      functionName: 'totalFunded',
    });
    const totalDust = carry.reduce((a, b) => a + b, 0n);
    expect(received + totalDust).toBe(totalFunded);
    expect(funded.reduce((a, b) => a + b, 0n)).toBe(totalFunded);
    // per tranche, from the published breakdown: Σ distributed + the dust carried out == funded
    const listed = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${row.id}/distributions` });
    const items = listed.json().items as {
      status: string;
      tranches: { amount: string; distributed: string; dustOut: string; carryIn: string }[];
    }[];
    expect(items.map((i) => i.status)).toEqual(['paid', 'paid', 'paid']);
    for (const i of tranchesSpec.keys()) {
      const distributed = items.reduce((s, item) => s + BigInt(item.tranches[i].distributed), 0n);
      const amount = items.reduce((s, item) => s + BigInt(item.tranches[i].amount), 0n);
      expect(amount).toBe(funded[i]);
      expect(distributed + BigInt(items[2].tranches[i].dustOut)).toBe(funded[i]);
      expect(BigInt(items[2].tranches[i].dustOut)).toBe(carry[i]);
    }

    // ---------------------------------------------------------------- the holder's check agrees
    for (const [r, distribution] of rows.entries()) {
      const detail = (
        await t.app.inject({ method: 'GET', url: `/v1/distributions/${distribution.id}` })
      ).json();
      const bytes = (await t.app.inject({ method: 'GET', url: `/v1/distributions/${distribution.id}/tree` }))
        .rawPayload;
      const result = await verifyDistribution({
        publicClient: client,
        distribution: detail,
        treeBytes: bytes,
      });
      expect(result.reasons).toEqual([]);
      expect(result.agree).toBe(true);
      expect(result.report.trimEnd().split('\n').at(-1)).toBe('agree');
      expect(result.recoveries).toHaveLength(r + 1);
      // the root commits to the cumulative amounts this test computed on its own
      expect(result.expected.total).toBe([...expectedCumulative[r].values()].reduce((a, b) => a + b, 0n));
    }

    // the CLI verb itself, against the listening API
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const good = await cli('verify-distribution', rows[2].id, '--rpc', anvil.rpcUrl, '--api', address);
    if (process.env.ACCEPTANCE_PRINT) console.info(good.stderr + good.stdout);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout.trimEnd().split('\n').at(-1)).toBe('agree');

    // the same through the listening API; an unknown id is a usage error (exit 2), not a disagreement
    const fetched = await fetchPublishedDistribution(address, rows[0].id);
    expect(fetched.distribution).toEqual({
      id: rows[0].id,
      chainId: anvil.chainId,
      portfolio: getAddress(created.portfolio),
      recoveryId: '1',
    });
    expect((await verifyDistribution({ publicClient: client, ...fetched })).agree).toBe(true);
    const unknown = await cli('verify-distribution', randomUUID(), '--rpc', anvil.rpcUrl, '--api', address);
    expect(unknown.code, unknown.stderr).toBe(2);
    expect(unknown.stderr).toMatch(/answered 404/);

    // ---------------------------------------------------------------- wrong trees and ids disagree
    // another distribution's (valid) tree: the leaves and the roots differ
    const later = await fetchPublishedDistribution(address, rows[2].id);
    const swapped = await verifyDistribution({
      publicClient: client,
      distribution: fetched.distribution,
      treeBytes: later.treeBytes,
    });
    expect(swapped.agree).toBe(false);
    expect(swapped.reasons.map((r) => r.split(':')[0])).toEqual(
      expect.arrayContaining(['leaves', 'root (published)', 'tree hash']),
    );
    expect(swapped.differenceCount).toBeGreaterThan(0);
    // a distribution id the Distributor never saw: nothing committed
    const uncommitted = await verifyDistribution({
      publicClient: client,
      distribution: { ...fetched.distribution, id: randomUUID() },
      treeBytes: fetched.treeBytes,
    });
    expect(uncommitted.agree).toBe(false);
    expect(uncommitted.reasons).toEqual([expect.stringMatching(/^committed: no RootProposed/)]);

    // ---------------------------------------------------------------- a tampered tree disagrees
    const detail = (await t.app.inject({ method: 'GET', url: `/v1/distributions/${rows[1].id}` })).json();
    const dump = JSON.parse(
      (await t.app.inject({ method: 'GET', url: `/v1/distributions/${rows[1].id}/tree` })).body,
    ) as { values: { value: [string, string] }[] };
    const victim = dump.values[7].value;
    victim[1] = (BigInt(victim[1]) + 1n).toString();
    const tampered = Buffer.from(JSON.stringify(dump));
    const result = await verifyDistribution({
      publicClient: client,
      distribution: detail,
      treeBytes: tampered,
    });
    expect(result.agree).toBe(false);
    expect(result.differences).toEqual([
      { account: getAddress(victim[0]), expected: BigInt(victim[1]) - 1n, published: BigInt(victim[1]) },
    ]);
    expect(result.reasons.some((r) => r.startsWith('tree hash'))).toBe(true);
    expect(result.report.trimEnd().split('\n').at(-1)).toMatch(/^DISAGREE: /);

    const fake: FastifyInstance = Fastify();
    fake.get('/v1/distributions/:id', async () => detail);
    fake.get('/v1/distributions/:id/tree', async (_request, reply) =>
      reply.type('application/json').send(tampered),
    );
    try {
      const fakeAddress = await fake.listen({ port: 0, host: '127.0.0.1' });
      const bad = await cli('verify-distribution', rows[1].id, '--rpc', anvil.rpcUrl, '--api', fakeAddress);
      expect(bad.code, bad.stderr).toBe(1);
      expect(bad.stdout).toContain(getAddress(victim[0]));
      expect(bad.stdout.trimEnd().split('\n').at(-1)).toMatch(/^DISAGREE: .*leaves/);
    } finally {
      await fake.close();
    }
  }, 600_000);
});
