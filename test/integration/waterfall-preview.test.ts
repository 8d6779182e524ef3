/**
 * POST /v1/portfolios/:id/waterfall/preview on anvil + Postgres: the preview for `amount` at `asOf`
 * equals what `depositRecovery(amount)` then pays when mined at that very timestamp.
 */
import type { Redis } from 'ioredis';
import { type Address, maxUint256, parseEventLogs, zeroHash } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestor,
  approve,
  buy,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
  previewRecovery,
  previewRecoveryV2,
  readTrancheState,
} from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { accrueInterest } from '../../core/domain/waterfall.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { buildApp } from '../../server/app.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import { testConfig } from '../helpers/app.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';

const SCALE = 10n ** 12n; // TestStablecoin has 6 decimals
const DAY = 86_400n;
const usd = (whole: bigint) => whole * 10n ** 6n;

let anvil: AnvilInstance;
let platform: ChainClients;
let servicer: ChainClients;
let investor: ChainClients;
let stack: DeployedStack;
let payToken: Address;
let testClient: ReturnType<typeof createAnvilTestClient>;
let db: TestDatabase;
let redis: Redis;
let app: Awaited<ReturnType<typeof buildApp>>;

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000, sold: usd(800n) },
  { name: 'Mezzanine', symbol: 'MEZ', face: usd(500n), couponBps: 900, priceBps: 9_000, sold: usd(500n) },
  { name: 'Equity', symbol: 'EQ', face: usd(200n), couponBps: 0, priceBps: 5_000, sold: usd(100n) },
];

beforeAll(async () => {
  anvil = await startAnvil();
  platform = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  servicer = withAccount(platform, anvil.accounts[2].privateKey);
  investor = withAccount(platform, anvil.accounts[3].privateKey);
  testClient = createAnvilTestClient(anvil.rpcUrl);
  stack = await deployStack(platform, { treasury: anvil.accounts[6].address });
  payToken = stack.testStablecoin as Address;
  await allowlistInvestor(platform, {
    registry: stack.complianceRegistry,
    account: investor.account.address,
    expiry: 2n ** 62n,
  });
  db = await createTestDatabase();
  redis = createRedis(REDIS_URL);
  app = await buildApp({ config: testConfig(db.url), db, redis, chain: platform.publicClient });
  await app.ready();
}, 120_000);

afterAll(async () => {
  await app?.close();
  redis?.disconnect();
  await db?.drop();
  await anvil?.stop();
});

/** A portfolio deployed on anvil and recorded `status` (default published) in Postgres. */
async function portfolioOnChain(options: { status?: 'draft' | 'published'; buyAndClose?: boolean } = {}) {
  const now = (await platform.publicClient.getBlock()).timestamp;
  const created = await createPortfolio(platform, {
    factory: stack.portfolioFactory,
    payToken,
    registry: stack.complianceRegistry,
    servicer: servicer.account.address,
    protocolTreasury: stack.config.treasury,
    servicerFeeBps: 150,
    protocolFeeBps: 25,
    mode: 'interestFirst',
    offeringEnd: now + DAY,
    tranches: tranchesSpec.map(({ sold: _sold, ...spec }) => spec),
  });
  const portfolio = created.portfolio;
  if (options.buyAndClose) {
    await mintTestStablecoin(platform, {
      token: payToken,
      to: investor.account.address,
      amount: usd(10_000n),
    });
    await approve(investor, { token: payToken, spender: portfolio, amount: maxUint256 });
    for (const [trancheId, tranche] of tranchesSpec.entries()) {
      await buy(investor, { portfolio, trancheId, amount: tranche.sold * SCALE, maxCost: maxUint256 });
    }
    await closeOffering(platform, { portfolio });
  }
  const row = await db.prisma.portfolio.create({
    data: {
      owner: 'acme',
      name: 'Preview test',
      assetClass: 'corporate',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000',
      servicerAddress: servicer.account.address,
      servicerFeeBps: 150,
      protocolFeeBps: 25,
      status: options.status ?? 'published',
      chainId: anvil.chainId,
      portfolioAddress: options.status === 'draft' ? null : portfolio,
      distributorAddress: options.status === 'draft' ? null : created.distributor,
      publishedAt: options.status === 'draft' ? null : new Date(),
      tranches: {
        create: tranchesSpec.map((spec, i) => ({
          seniority: i,
          name: spec.name,
          symbol: spec.symbol,
          face: spec.face.toString(),
          couponBps: spec.couponBps,
          priceBps: spec.priceBps,
          residual: i === tranchesSpec.length - 1,
          address: created.tranches[i],
        })),
      },
    },
    include: { tranches: { orderBy: { seniority: 'asc' } } },
  });
  return { id: row.id, portfolio, trancheIds: row.tranches.map((t) => t.id) };
}

function preview(id: string, body: unknown) {
  return app.inject({
    method: 'POST',
    url: `/v1/portfolios/${id}/waterfall/preview`,
    payload: body as object,
  });
}

/** A chain time in the future of both the chain and the wall clock, in whole seconds. */
async function futureTime(daysAhead: bigint): Promise<bigint> {
  const chain = (await platform.publicClient.getBlock()).timestamp;
  const wall = BigInt(Math.floor(Date.now() / 1000));
  return (chain > wall ? chain : wall) + daysAhead * DAY;
}

describe('POST /v1/portfolios/:id/waterfall/preview', () => {
  it('preview equals what depositRecovery pays at the same timestamp, recovery after recovery', async () => {
    const { id, portfolio, trancheIds } = await portfolioOnChain({ buyAndClose: true });
    await mintTestStablecoin(platform, {
      token: payToken,
      to: servicer.account.address,
      amount: usd(100_000n),
    });
    await approve(servicer, { token: payToken, spender: portfolio, amount: maxUint256 });

    const seen = { principal: false, residual: false };
    // a partial recovery (interest and some principal), then one larger than all the debt (residual)
    for (const [days, amount] of [
      [90n, usd(300n)],
      [200n, usd(5_000n) + 7n],
    ] as const) {
      const at = await futureTime(days);
      const asOf = new Date(Number(at) * 1000).toISOString();
      const res = await preview(id, { amount: amount.toString(), asOf });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();

      await testClient.setNextBlockTimestamp({ timestamp: at });
      const event = await depositRecovery(servicer, { portfolio, amount });
      expect(event.blockTimestamp).toBe(at);
      const after = await readTrancheState(platform.publicClient, { portfolio });

      expect(body).toEqual({
        portfolioId: id,
        amount: amount.toString(),
        asOf,
        elapsedSeconds: body.elapsedSeconds,
        servicerFee: event.servicerFee.toString(),
        protocolFee: event.protocolFee.toString(),
        tranches: tranchesSpec.map((spec, i) => ({
          trancheId: trancheIds[i],
          name: spec.name,
          seniority: i,
          interest: event.interest[i].toString(),
          principal: event.principal[i].toString(),
          residual: event.residual[i].toString(),
          total: (event.interest[i] + event.principal[i] + event.residual[i]).toString(),
          outstandingAfter: after[i].outstanding.toString(),
          interestArrearsAfter: after[i].arrears.toString(),
        })),
        undistributed: event.undistributed.toString(),
      });
      expect(BigInt(body.elapsedSeconds)).toBeGreaterThanOrEqual(days * DAY);
      expect(event.interest.some((x) => x > 0n)).toBe(true);
      seen.principal ||= event.principal.some((x) => x > 0n);
      seen.residual ||= event.residual.some((x) => x > 0n);
    }
    expect(seen).toEqual({ principal: true, residual: true });
  });

  it('answers 404 for an unknown portfolio', async () => {
    expect((await preview('00000000-0000-4000-8000-000000000000', { amount: '1' })).statusCode).toBe(404);
    expect((await preview('not-a-uuid', { amount: '1' })).statusCode).toBe(404);
  });

  it('answers 409 for a portfolio that is not published', async () => {
    const { id } = await portfolioOnChain({ status: 'draft' });
    const res = await preview(id, { amount: '1000' });
    expect(res.statusCode).toBe(409);
  });

  it('answers 409 while the offering is not closed (the contract refuses recoveries before close)', async () => {
    const { id } = await portfolioOnChain();
    const res = await preview(id, { amount: '1000' });
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toMatch(/not closed/);
  });

  it('answers 400 for a bad amount or an asOf in the past', async () => {
    const { id } = await portfolioOnChain({ buyAndClose: true });
    for (const amount of ['-1', '1.5', '', 'abc', 5, (2n ** 256n).toString()]) {
      expect((await preview(id, { amount })).statusCode, String(amount)).toBe(400);
    }
    expect((await preview(id, {})).statusCode).toBe(400);
    expect((await preview(id, { amount: '1', asOf: 'yesterday' })).statusCode).toBe(400);
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect((await preview(id, { amount: '1', asOf: past })).statusCode).toBe(400);
    const ok = await preview(id, { amount: '1' });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('final: true writes off what the amount does not cover; the allocation is the non-final one and conserves', async () => {
    const { id, portfolio, trancheIds } = await portfolioOnChain({ buyAndClose: true });
    const at = await futureTime(120n);
    const asOf = new Date(Number(at) * 1000).toISOString();
    const before = await readTrancheState(platform.publicClient, { portfolio });
    for (const amount of [usd(300n), 0n, usd(1_100n)]) {
      const plain = await preview(id, { amount: amount.toString(), asOf });
      const res = await preview(id, { amount: amount.toString(), asOf, final: true });
      expect(plain.statusCode, plain.body).toBe(200);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      const base = plain.json();
      expect(base.final).toBeUndefined();
      expect(base.reserve).toBeUndefined();
      expect(base.tranches[0].principalWrittenOff).toBeUndefined();
      expect(body.final).toBe(true);
      // spec v1 terms on-chain: no reserve, nothing moves
      expect(body.reserve).toEqual({ released: '0', drawn: '0', replenished: '0', balanceAfter: '0' });
      expect(body.servicerFee).toBe(base.servicerFee);
      expect(body.protocolFee).toBe(base.protocolFee);
      expect(body.undistributed).toBe(base.undistributed);
      expect(body.elapsedSeconds).toBe(base.elapsedSeconds);
      const elapsed = BigInt(body.elapsedSeconds);

      let paid = 0n;
      let writtenOff = 0n;
      for (const [i, tranche] of body.tranches.entries()) {
        const v1 = base.tranches[i];
        expect(tranche.trancheId).toBe(trancheIds[i]);
        // the same allocation as the non-final recovery
        for (const key of ['interest', 'principal', 'residual', 'total'] as const) {
          expect(tranche[key], `${i}.${key}`).toBe(v1[key]);
        }
        expect(BigInt(tranche.total)).toBe(
          BigInt(tranche.interest) + BigInt(tranche.principal) + BigInt(tranche.residual),
        );
        const isResidual = i === body.tranches.length - 1;
        // every debt left is written off: nothing stays owed
        expect(tranche.principalWrittenOff).toBe(isResidual ? '0' : v1.outstandingAfter);
        expect(tranche.interestWrittenOff).toBe(isResidual ? '0' : v1.interestArrearsAfter);
        if (!isResidual) {
          expect(tranche.outstandingAfter).toBe('0');
          expect(tranche.interestArrearsAfter).toBe('0');
          // what was owed = what is paid + what is written off
          const owedInterest =
            before[i].arrears +
            accrueInterest({
              outstanding: before[i].outstanding,
              couponBps: before[i].couponBps,
              elapsedSeconds: elapsed,
            });
          expect(BigInt(tranche.principal) + BigInt(tranche.principalWrittenOff)).toBe(before[i].outstanding);
          expect(BigInt(tranche.interest) + BigInt(tranche.interestWrittenOff)).toBe(owedInterest);
        }
        paid += BigInt(tranche.total);
        writtenOff += BigInt(tranche.principalWrittenOff) + BigInt(tranche.interestWrittenOff);
      }
      // the cash conserves: fees + tranches + undistributed = the amount (no reserve movement)
      expect(BigInt(body.servicerFee) + BigInt(body.protocolFee) + paid + BigInt(body.undistributed)).toBe(
        amount,
      );
      if (amount < usd(1_000n)) expect(writtenOff).toBeGreaterThan(0n);
      if (amount === 0n) expect(BigInt(body.tranches[0].principalWrittenOff)).toBe(before[0].outstanding);
    }
    // nothing was executed on-chain
    expect(await readTrancheState(platform.publicClient, { portfolio })).toEqual(before);
  });

  it('v2 with final: false computes exactly the v1 preview', async () => {
    const { portfolio } = await portfolioOnChain({ buyAndClose: true });
    for (const [days, amount] of [
      [30n, usd(40n)],
      [90n, usd(300n)],
      [400n, usd(5_000n) + 7n],
    ] as const) {
      const at = await futureTime(days);
      const v1 = await previewRecovery(platform.publicClient, { portfolio, amount, at });
      const v2 = await previewRecoveryV2(platform.publicClient, { portfolio, amount, at, final: false });
      expect(v2.servicerFee).toBe(v1.servicerFee);
      expect(v2.protocolFee).toBe(v1.protocolFee);
      expect(v2.undistributed).toBe(v1.undistributed);
      expect(v2.elapsedSeconds).toBe(v1.elapsedSeconds);
      expect(v2.state).toEqual(v1.state);
      expect(v2.tranches).toEqual(
        v1.tranches.map((payment) => ({ ...payment, principalWrittenOff: 0n, interestWrittenOff: 0n })),
      );
      expect(v2.reserve).toEqual({ released: 0n, drawn: 0n, replenished: 0n, balanceAfter: 0n });
      expect(v2.resolved).toBe(false);
    }
  });

  it('answers 400 naming body.final for a final that is not a boolean', async () => {
    const { id } = await portfolioOnChain({ buyAndClose: true });
    for (const final of ['true', 1, 0, null, {}]) {
      const res = await preview(id, { amount: '1000', final });
      expect(res.statusCode, JSON.stringify(final)).toBe(400);
      const body = res.json();
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(body.details.map((d: { path: string }) => d.path)).toContain('body.final');
    }
    const ok = await preview(id, { amount: '1000', final: false });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().final).toBeUndefined();
  });

  it('a portfolio with a reserve and a trigger previews through v2 exactly what depositRecovery pays, breached or not', async () => {
    const now = (await platform.publicClient.getBlock()).timestamp;
    const created = await createPortfolio(platform, {
      factory: stack.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: servicer.account.address,
      protocolTreasury: stack.config.treasury,
      servicerFeeBps: 150,
      protocolFeeBps: 25,
      mode: 'interestFirst',
      offeringEnd: now + DAY,
      tranches: tranchesSpec.map(({ sold: _sold, ...spec }) => spec),
      reserve: { targetBps: 1_000 },
      trigger: {
        collectionRatioBps: 9_000,
        businessPlan: [
          { atSeconds: 30n * DAY, cumulative: usd(100n) },
          { atSeconds: 120n * DAY, cumulative: usd(2_000n) },
        ],
      },
    });
    const portfolio = created.portfolio;
    await mintTestStablecoin(platform, {
      token: payToken,
      to: investor.account.address,
      amount: usd(10_000n),
    });
    await approve(investor, { token: payToken, spender: portfolio, amount: maxUint256 });
    for (const [trancheId, tranche] of tranchesSpec.entries()) {
      await buy(investor, { portfolio, trancheId, amount: tranche.sold * SCALE, maxCost: maxUint256 });
    }
    // the issuer treasury (the platform key here) funds the reserve
    await mintTestStablecoin(platform, { token: payToken, to: platform.account.address, amount: usd(50n) });
    await approve(platform, { token: payToken, spender: portfolio, amount: maxUint256 });
    await platform.publicClient.waitForTransactionReceipt({
      hash: await platform.walletClient.writeContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'fundReserve',
        args: [usd(50n)],
      }),
    });
    await closeOffering(platform, { portfolio });
    const row = await db.prisma.portfolio.create({
      data: {
        owner: 'acme',
        name: 'Preview v2',
        assetClass: 'corporate',
        jurisdiction: 'IT',
        currency: 'EUR',
        askingPrice: '1000',
        servicerAddress: servicer.account.address,
        servicerFeeBps: 150,
        protocolFeeBps: 25,
        status: 'published',
        chainId: anvil.chainId,
        portfolioAddress: portfolio,
        distributorAddress: created.distributor,
        publishedAt: new Date(),
        tranches: {
          create: tranchesSpec.map((spec, i) => ({
            seniority: i,
            name: spec.name,
            symbol: spec.symbol,
            face: spec.face.toString(),
            couponBps: spec.couponBps,
            priceBps: spec.priceBps,
            residual: i === tranchesSpec.length - 1,
            address: created.tranches[i],
          })),
        },
      },
    });
    // until the close is indexed, the trigger's clock is unknown: 409, nothing guessed
    const early = await preview(row.id, { amount: usd(10n).toString() });
    expect(early.statusCode, early.body).toBe(409);
    expect(early.json().details.unsupported).toEqual(['trigger']);
    const indexer = createIndexer({ db, publicClient: platform.publicClient, stack, confirmations: 0 });
    await indexer.syncOnce();

    await mintTestStablecoin(platform, {
      token: payToken,
      to: servicer.account.address,
      amount: usd(100_000n),
    });
    await approve(servicer, { token: payToken, spender: portfolio, amount: maxUint256 });
    const seen = { breached: false, cured: false, drawn: false, replenished: false, arrears: false };
    // on plan (day 40: 150 of 100 planned), far behind (day 130: 250 of 2,000), then caught up
    for (const [days, amount] of [
      [40n, usd(150n)],
      [130n, usd(100n)],
      [140n, usd(3_000n)],
    ] as const) {
      const at = await futureTime(days);
      const asOf = new Date(Number(at) * 1000).toISOString();
      const res = await preview(row.id, { amount: amount.toString(), asOf });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      await testClient.setNextBlockTimestamp({ timestamp: at });
      const hash = await servicer.walletClient.writeContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'depositRecovery',
        args: [amount, zeroHash],
      });
      const receipt = await platform.publicClient.waitForTransactionReceipt({ hash });
      const [distributed] = parseEventLogs({
        abi: portfolioAbi,
        logs: receipt.logs,
        eventName: 'RecoveryDistributed',
      });
      const [risk] = parseEventLogs({
        abi: portfolioAbi,
        logs: receipt.logs,
        eventName: 'RecoveryTriggerAndReserve',
      });
      const event = distributed.args;
      expect(body.final).toBeUndefined();
      expect(body.servicerFee).toBe(event.servicerFee.toString());
      expect(body.protocolFee).toBe(event.protocolFee.toString());
      expect(body.undistributed).toBe(event.undistributed.toString());
      expect(
        body.tranches.map((t: { interest: string; principal: string; residual: string }) => [
          t.interest,
          t.principal,
          t.residual,
        ]),
      ).toEqual(
        tranchesSpec.map((_, i) => [
          event.interest[i].toString(),
          event.principal[i].toString(),
          event.residual[i].toString(),
        ]),
      );
      expect(body.trigger).toEqual({
        breached: risk.args.triggerBreached,
        collected: risk.args.collected.toString(),
        planned: risk.args.planned.toString(),
      });
      expect(body.reserve).toEqual({
        released: risk.args.released.toString(),
        drawn: risk.args.drawn.toString(),
        replenished: risk.args.replenished.toString(),
        balanceAfter: risk.args.reserveBalance.toString(),
      });
      seen.breached ||= risk.args.triggerBreached;
      seen.cured ||= seen.breached && !risk.args.triggerBreached;
      seen.drawn ||= risk.args.drawn > 0n;
      seen.replenished ||= risk.args.replenished > 0n;
      await indexer.syncOnce();
      // GET /v1/portfolios/:id: the tranche state from the index, the arrears from the chain (this app has one)
      const chainState = await readTrancheState(platform.publicClient, { portfolio });
      const detail = await app.inject({ method: 'GET', url: `/v1/portfolios/${row.id}` });
      expect(detail.statusCode, detail.body).toBe(200);
      expect(
        detail
          .json()
          .tranches.map((t: Record<string, string>) => [
            t.sold,
            t.outstanding,
            t.interestArrears,
            t.paidToDate,
          ]),
      ).toEqual(
        chainState.map((t) => [
          t.sold.toString(),
          t.outstanding.toString(),
          t.arrears.toString(),
          t.paidToDate.toString(),
        ]),
      );
      seen.arrears ||= chainState.some((t) => t.arrears > 0n);
    }
    expect(seen.breached && seen.cured).toBe(true);

    expect(seen.arrears).toBe(true);
  });
});
