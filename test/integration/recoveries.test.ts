/**
 * POST /v1/portfolios/:id/offering/close, POST /v1/portfolios/:id/recoveries(/intents) and
 * GET /v1/recoveries/:id on anvil + Postgres: every rejection answers its code with the field and
 * sends nothing (no relay row, the platform nonce unchanged); the accepted ones go through the
 * app's relayer, and the same report twice deposits once (recoveryCount on-chain).
 *
 * The main portfolio's servicer key is the app's development servicer key (DATA_DIR/dev-servicer-key),
 * so the API signs its deposit intents; a second portfolio's servicer keeps its key and signs itself.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Address, erc20Abi, getAddress, maxUint256, parseGwei, type TypedDataDefinition } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  approve,
  buy,
  createPortfolio,
  mintTestStablecoin,
} from '../../core/chain/actions.ts';
import { type ChainClients, withAccount } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { findNewDistributions } from '../../core/distributions/run.ts';
import { DEV_SERVICER_KEY_FILE } from '../../core/servicing/dev-servicer.ts';
import { createIndexer, type Indexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { recordPublishedPortfolio } from '../helpers/portfolio.ts';
import { depositIntent, signedDeposit } from '../helpers/recoveries.ts';
import { accountClients, createStackApp, fundServicer, type StackApp, startStack } from '../helpers/stack.ts';

const usd = (whole: bigint) => whole * 10n ** 6n;
const SCALE = 10n ** 12n;
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holder: ChainClients;
let platformAddress: Address;
let app: StackApp;
let t: TestApp;
let indexer: Indexer;
let admin: Headers;
let issuer: Headers;
let otherIssuer: Headers;
let servicerKey: Headers;
let otherServicer: Headers;

beforeAll(async () => {
  const chain = await startStack({ accounts: 5 });
  ({ anvil, deployer, stack } = chain);
  [servicer, holder] = accountClients(chain, [2, 3]);
  platformAddress = anvil.accounts[1].address;
  app = await createStackApp(chain, {
    name: 'recoveries',
    // the API holds the servicer's key, as `npm start` holds its development servicer's
    prepare: (dir) =>
      writeFile(path.join(dir, DEV_SERVICER_KEY_FILE), `${anvil.accounts[2].privateKey}\n`, { mode: 0o600 }),
  });
  t = app.t;
  indexer = createIndexer({ db: t.db, publicClient: deployer.publicClient, stack, confirmations: 0 });
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
  // the servicer key's owner is the servicer's address, in another letter case than the portfolio row's
  servicerKey = await apiKeyHeaders(t.db.prisma, 'servicer', servicer.account.address.toLowerCase());
  otherServicer = await apiKeyHeaders(t.db.prisma, 'servicer', anvil.accounts[4].address);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await anvil?.stop();
});

/** A portfolio as the publish job leaves it (the platform key is issuer and root proposer), one holder. */
async function publishedPortfolio(servicerClients: ChainClients = servicer) {
  const now = (await deployer.publicClient.getBlock()).timestamp;
  const tranches = [
    { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
    { name: 'Equity', symbol: 'EQ', face: usd(200n), couponBps: 0, priceBps: 5_000 },
  ];
  const created = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: servicerClients.account.address,
    issuer: platformAddress,
    rootProposer: platformAddress,
    offeringEnd: now + 86_400n,
    tranches,
  });
  await allowlistInvestors(deployer, {
    registry: stack.complianceRegistry,
    accounts: [holder.account.address],
    expiry: now + 365n * 86_400n,
  });
  await mintTestStablecoin(deployer, {
    token: stack.testStablecoin as Address,
    to: holder.account.address,
    amount: usd(10_000n),
  });
  await approve(holder, {
    token: stack.testStablecoin as Address,
    spender: created.portfolio,
    amount: maxUint256,
  });
  await buy(holder, {
    portfolio: created.portfolio,
    trancheId: 0,
    amount: usd(400n) * SCALE,
    maxCost: maxUint256,
  });
  await buy(holder, {
    portfolio: created.portfolio,
    trancheId: 1,
    amount: usd(100n) * SCALE,
    maxCost: maxUint256,
  });
  const row = await recordPublishedPortfolio(t.db.prisma, {
    name: 'Recoveries test',
    servicer: servicerClients.account.address,
    chainId: anvil.chainId,
    created: created,
    tranches,
  });
  return { id: row.id, ...created };
}

async function draftPortfolio() {
  const row = await t.db.prisma.portfolio.create({
    data: {
      owner: 'acme',
      name: 'Draft',
      assetClass: 'corporate',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '1000',
      servicerAddress: servicer.account.address,
      servicerFeeBps: 0,
      protocolFeeBps: 0,
    },
  });
  return row.id;
}

/** What a rejected request must leave unchanged: relay rows, audit-free chain state. */
async function sideEffects(portfolio?: Address) {
  const [relayTxs, nonce, recoveryCount] = await Promise.all([
    t.db.prisma.relayTx.count(),
    deployer.publicClient.getTransactionCount({ address: platformAddress }),
    portfolio === undefined
      ? Promise.resolve(0n)
      : deployer.publicClient.readContract({
          address: portfolio,
          abi: portfolioAbi,
          functionName: 'recoveryCount',
        }),
  ]);
  return { relayTxs, nonce, recoveryCount };
}

const post = (url: string, headers: Headers | undefined, payload?: unknown) =>
  t.app.inject({ method: 'POST', url, headers, payload: payload as object });

/** The Portfolio's on-chain recovery count. */
const recoveryCount = (address: Address) =>
  deployer.publicClient.readContract({ address, abi: portfolioAbi, functionName: 'recoveryCount' });

/** An indexer on the same cursor that finalizes nothing new (finality never moves back). */
const unfinalizing = () =>
  createIndexer({ db: t.db, publicClient: deployer.publicClient, stack, confirmations: 1_000 });

async function waitMined(relayTxId: string) {
  for (let i = 0; i < 200; i++) {
    const row = await t.db.prisma.relayTx.findUniqueOrThrow({ where: { id: relayTxId } });
    if (row.status !== 'pending') return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`relay tx ${relayTxId} still pending`);
}

describe('offering close and recoveries', () => {
  let portfolio: Awaited<ReturnType<typeof publishedPortfolio>>;
  let recoveryId: string;
  const report = sha('servicer report 2026-Q3');

  it('rejects bad recovery requests with their code and field, sending nothing', async () => {
    portfolio = await publishedPortfolio();
    const draft = await draftPortfolio();
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    const good = { amount: usd(100n).toString(), reportSha256: report };
    const before = await sideEffects(portfolio.portfolio);

    expect((await post(url, undefined, good)).statusCode).toBe(401);
    for (const headers of [issuer, otherServicer]) {
      const res = await post(url, headers, good);
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('FORBIDDEN');
    }
    const invalid: [unknown, string][] = [
      [{ ...good, amount: '0' }, 'body.amount'],
      [{ ...good, amount: '-5' }, 'body.amount'],
      [{ ...good, amount: '1.5' }, 'body.amount'],
      [{ ...good, amount: 100 }, 'body.amount'],
      [{ ...good, amount: (maxUint256 + 1n).toString() }, 'body.amount'],
      [{ reportSha256: report }, 'body.amount'],
      [{ ...good, reportSha256: report.slice(2) }, 'body.reportSha256'],
      [{ ...good, reportSha256: `0x${report}` }, 'body.reportSha256'],
      [{ ...good, reportSha256: 'z'.repeat(64) }, 'body.reportSha256'],
      [{ ...good, reportSha256: '0'.repeat(64) }, 'body.reportSha256'],
      [{ amount: good.amount }, 'body.reportSha256'],
    ];
    for (const [payload, field] of invalid) {
      const res = await post(url, servicerKey, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(422);
      expect(res.json().code).toBe('VALIDATION_FAILED');
      expect(res.json().details.map((d: { path: string }) => d.path)).toContain(field);
    }
    const unknown = await post(`/v1/portfolios/${randomUUID()}/recoveries`, servicerKey, good);
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'NOT_FOUND']);
    expect((await post('/v1/portfolios/nope/recoveries', servicerKey, good)).statusCode).toBe(404);
    const notPublished = await post(`/v1/portfolios/${draft}/recoveries`, servicerKey, good);
    expect([notPublished.statusCode, notPublished.json().details.reason]).toEqual([409, 'NOT_PUBLISHED']);
    const open = await post(url, servicerKey, good);
    expect([open.statusCode, open.json().code, open.json().details.reason]).toEqual([
      409,
      'CONFLICT',
      'OFFERING_OPEN',
    ]);
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);
  }, 60_000);

  it('closes the offering through the relayer once; GET /v1/portfolios/:id shows it closed', async () => {
    const draft = await draftPortfolio();
    const url = `/v1/portfolios/${portfolio.id}/offering/close`;
    const before = await sideEffects();
    expect((await post(url, undefined)).statusCode).toBe(401);
    expect((await post(url, servicerKey)).statusCode).toBe(403);
    expect((await post(url, otherIssuer)).statusCode).toBe(403);
    expect((await post(`/v1/portfolios/${randomUUID()}/offering/close`, issuer)).statusCode).toBe(404);
    const notPublished = await post(`/v1/portfolios/${draft}/offering/close`, issuer);
    expect([notPublished.statusCode, notPublished.json().details.reason]).toEqual([409, 'NOT_PUBLISHED']);
    expect(await sideEffects()).toEqual(before);

    const detailBefore = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${portfolio.id}` });
    expect(detailBefore.json().offering).toEqual({
      closed: false,
      closedAt: null,
      closeTxHash: null,
      closeBlock: null,
    });

    const res = await post(url, issuer);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      status: 'pending',
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    const mined = await waitMined(res.json().relayTxId);
    expect(mined.status).toBe('mined');
    const terms = await deployer.publicClient.readContract({
      address: portfolio.portfolio,
      abi: portfolioAbi,
      functionName: 'terms',
    });
    expect(terms.offeringClosed).toBe(true);

    // mined, its OfferingClosed event not in the index yet: the same close is answered again, nothing sent
    const again = await post(url, admin);
    expect([again.statusCode, again.json()]).toEqual([
      202,
      { status: 'mined', txHash: mined.txHash, relayTxId: mined.id },
    ]);
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'closeOffering' } })).toBe(1);

    // its event final in the index: the offering is closed
    await indexer.syncOnce();
    const closed = await post(url, admin);
    expect([closed.statusCode, closed.json().details.reason]).toEqual([409, 'OFFERING_CLOSED']);
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'closeOffering' } })).toBe(1);
    const detail = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${portfolio.id}` });
    expect(detail.json().offering).toMatchObject({ closed: true, closeTxHash: mined.txHash });
    expect(detail.json().offering.closedAt).toMatch(/^\d{4}-/);
  }, 60_000);

  it('answers 409 naming the amount when the servicer’s balance or allowance is short', async () => {
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    const amount = usd(250n) + 7n;
    const before = await sideEffects(portfolio.portfolio);
    const poor = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report });
    expect(poor.statusCode).toBe(409);
    expect(poor.json().details).toMatchObject({
      path: 'body.amount',
      reason: 'INSUFFICIENT_BALANCE',
      amount: amount.toString(),
      balance: '0',
      missing: amount.toString(),
      servicer: getAddress(servicer.account.address),
    });
    await mintTestStablecoin(deployer, {
      token: stack.testStablecoin as Address,
      to: servicer.account.address,
      amount: usd(10_000n),
    });
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: portfolio.portfolio,
      amount: 5n,
    });
    const unapproved = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report });
    expect(unapproved.statusCode).toBe(409);
    expect(unapproved.json().details).toMatchObject({
      path: 'body.amount',
      reason: 'INSUFFICIENT_ALLOWANCE',
      allowance: '5',
      missing: (amount - 5n).toString(),
    });
    const after = await sideEffects(portfolio.portfolio);
    // the two setup transactions above were sent by other keys: the platform sent nothing
    expect(after).toEqual(before);
  }, 60_000);

  it('deposits a recovery once per report; GET /v1/recoveries/:id follows it to its distribution', async () => {
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    const amount = usd(250n) + 7n;
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: portfolio.portfolio,
      amount: maxUint256,
    });
    const res = await post(url, servicerKey, {
      amount: amount.toString(),
      reportSha256: report.toUpperCase(),
    });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toEqual({
      id: expect.any(String),
      portfolioId: portfolio.id,
      amount: amount.toString(),
      final: false,
      reportSha256: report,
      status: 'pending',
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    recoveryId = body.id;
    expect(res.headers.location).toBe(`/v1/recoveries/${recoveryId}`);
    const audit = await t.db.prisma.auditLog.findFirstOrThrow({
      where: { resourceType: 'recovery', resourceId: recoveryId },
    });
    expect([audit.actorRole, audit.statusCode]).toEqual(['servicer', 202]);

    // a retry of the same report: the same recovery, nothing sent
    const retry = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().id).toBe(recoveryId);
    const otherAmount = await post(url, servicerKey, {
      amount: (amount + 1n).toString(),
      reportSha256: report,
    });
    expect([otherAmount.statusCode, otherAmount.json().details.reason]).toEqual([409, 'REPORT_REUSED']);

    const mined = await waitMined(recoveryId);
    expect(mined.status).toBe('mined');
    const minedView = await t.app.inject({ method: 'GET', url: `/v1/recoveries/${recoveryId}` });
    expect(minedView.statusCode).toBe(200);
    expect(minedView.json()).toMatchObject({
      id: recoveryId,
      status: 'mined',
      recoveryId: '1',
      blockNumber: mined.blockNumber?.toString(),
      indexed: false,
      distribution: null,
    });

    // after the deposit was mined the servicer's allowance is spent down, a retry is still the same recovery
    const late = await post(url, admin, { amount: amount.toString(), reportSha256: report });
    expect([late.statusCode, late.json().id]).toEqual([200, recoveryId]);
    const count = await deployer.publicClient.readContract({
      address: portfolio.portfolio,
      abi: portfolioAbi,
      functionName: 'recoveryCount',
    });
    expect(count).toBe(1n);
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'depositRecovery' } })).toBe(1);

    // indexed: per-tranche amounts; then the worker's distribution row
    await indexer.syncOnce();
    const indexed = (await t.app.inject({ method: 'GET', url: `/v1/recoveries/${recoveryId}` })).json();
    expect([indexed.status, indexed.indexed]).toEqual(['confirmed', true]);
    expect(indexed.tranches).toHaveLength(2);
    const event = await t.db.prisma.recoveryEvent.findFirstOrThrow({ where: { txHash: mined.txHash } });
    expect(event.reportHash).toBe(`0x${report}`);
    const totals = indexed.tranches.map((tr: { total: string }) => BigInt(tr.total));
    expect(
      totals.reduce((a: bigint, b: bigint) => a + b, 0n) +
        BigInt(indexed.servicerFee) +
        BigInt(indexed.protocolFee) +
        BigInt(indexed.undistributed),
    ).toBe(amount);
    const [distributionId] = await findNewDistributions(t.db);
    const withDistribution = (
      await t.app.inject({ method: 'GET', url: `/v1/recoveries/${recoveryId}` })
    ).json();
    expect(withDistribution.distribution).toEqual({ id: distributionId, status: 'computing' });

    // an admin key may deposit too; another report is another recovery
    const second = await post(url, admin, { amount: usd(1n).toString(), reportSha256: sha('second') });
    expect(second.statusCode).toBe(202);
    expect(second.json().id).not.toBe(recoveryId);
    expect((await waitMined(second.json().id)).status).toBe('mined');
    expect(
      await deployer.publicClient.readContract({
        address: portfolio.portfolio,
        abi: portfolioAbi,
        functionName: 'recoveryCount',
      }),
    ).toBe(2n);
  }, 90_000);

  it('a recovery is mined, not confirmed, until its RecoveryDistributed event is final in the index', async () => {
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    const res = await post(url, servicerKey, { amount: usd(2n).toString(), reportSha256: sha('finality') });
    expect(res.statusCode, res.body).toBe(202);
    const id = (res.json() as { id: string }).id;
    const mined = await waitMined(id);
    expect(mined.status).toBe('mined');
    const view = async () => (await t.app.inject({ method: 'GET', url: `/v1/recoveries/${id}` })).json();
    // mined, not indexed: the recovery id from the receipt, not confirmed
    expect(await view()).toMatchObject({
      status: 'mined',
      indexed: false,
      recoveryId: expect.stringMatching(/^\d+$/),
      blockNumber: mined.blockNumber?.toString(),
    });
    // indexed, its block not final yet (an indexer on the same cursor that finalizes nothing new)
    await unfinalizing().syncOnce();
    expect(await view()).toMatchObject({ status: 'mined', indexed: true });
    // final in the index: confirmed
    await indexer.syncOnce();
    expect(await view()).toMatchObject({
      status: 'confirmed',
      indexed: true,
      blockNumber: mined.blockNumber?.toString(),
    });
  }, 60_000);

  it('a deposit that reverts on-chain is failed with its reason; the same report may then be deposited again', async () => {
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    const report2 = sha('a report whose deposit reverts');
    const amount = usd(3n);
    const count = () => recoveryCount(portfolio.portfolio);
    const countBefore = await count();
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    await testClient.setAutomine(false);
    let id: string;
    try {
      // simulated fine at the latest block, then the servicer withdraws its approval ahead of it in the block
      const res = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report2 });
      expect(res.statusCode).toBe(202);
      id = res.json().id;
      await servicer.walletClient.writeContract({
        address: stack.testStablecoin as Address,
        abi: erc20Abi,
        functionName: 'approve',
        args: [portfolio.portfolio, 0n],
        maxPriorityFeePerGas: parseGwei('50'),
        maxFeePerGas: parseGwei('100'),
        chain: servicer.chain,
        account: servicer.account,
      });
      await testClient.mine({ blocks: 1 });
    } finally {
      await testClient.setAutomine(true);
    }
    expect((await waitMined(id)).status).toBe('reverted');
    // failed once the reverted transaction's block is final in the index
    await indexer.syncOnce();
    const failed = (await t.app.inject({ method: 'GET', url: `/v1/recoveries/${id}` })).json();
    expect(failed).toMatchObject({ id, status: 'failed', recoveryId: null });
    expect(failed.reason).toEqual(expect.any(String));
    expect(failed.revert).toEqual(expect.any(String));
    expect(await count()).toBe(countBefore);

    // the same report after the failure: a new attempt (new id), deposited once
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: portfolio.portfolio,
      amount: maxUint256,
    });
    const retry = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report2 });
    expect(retry.statusCode).toBe(202);
    expect(retry.json().id).not.toBe(id);
    expect((await waitMined(retry.json().id)).status).toBe('mined');
    const again = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report2 });
    expect([again.statusCode, again.json().id]).toEqual([200, retry.json().id]);
    expect(await count()).toBe(countBefore + 1n);
  }, 60_000);

  it('a report the Portfolio already took is refused on-chain: 409 REPORT_ALREADY_DEPOSITED when its relay row says failed, nothing deposited twice', async () => {
    const url = `/v1/portfolios/${portfolio.id}/recoveries`;
    const report3 = sha('a report whose mined deposit was marked failed');
    const amount = usd(2n);
    const count = () => recoveryCount(portfolio.portfolio);
    const res = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report3 });
    expect(res.statusCode).toBe(202);
    const mined = await waitMined(res.json().id);
    expect(mined.status).toBe('mined');
    const countAfter = await count();
    // what a relayer that failed a mined transaction left (a receipt lagging its nonce): the row says
    // failed, so the API lets the same report be sent again; the Portfolio refuses it
    await t.db.prisma.relayTx.update({
      where: { id: mined.id },
      data: { status: 'failed', revertReason: 'nonce used by another transaction', errorCode: 'CONFLICT' },
    });
    const rows = await t.db.prisma.relayTx.count({ where: { kind: 'depositRecovery' } });
    const again = await post(url, servicerKey, { amount: amount.toString(), reportSha256: report3 });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json()).toMatchObject({
      statusCode: 409,
      code: 'REPORT_ALREADY_DEPOSITED',
      details: { path: 'body.reportSha256', reportSha256: report3, portfolioId: portfolio.id },
    });
    expect(await count()).toBe(countAfter);
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'depositRecovery' } })).toBe(rows);
    expect(
      await deployer.publicClient.readContract({
        address: portfolio.portfolio,
        abi: portfolioAbi,
        functionName: 'reportDeposited',
        args: [`0x${report3}`],
      }),
    ).toBe(true);
  }, 60_000);

  it('GET /v1/recoveries/:id of an unknown id is 404', async () => {
    for (const id of [randomUUID(), 'nope']) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/recoveries/${id}` });
      expect([res.statusCode, res.json().code]).toEqual([404, 'NOT_FOUND']);
    }
    // a relay row of another kind is not a recovery
    const close = await t.db.prisma.relayTx.findFirstOrThrow({ where: { kind: 'closeOffering' } });
    expect((await t.app.inject({ method: 'GET', url: `/v1/recoveries/${close.id}` })).statusCode).toBe(404);
  });
});

describe("the servicer's consent: a deposit intent it signs itself", () => {
  // accounts[4]: a servicer whose key the API does not hold (its API key is `otherServicer`)
  let own: ChainClients;
  let portfolio: Awaited<ReturnType<typeof publishedPortfolio>>;
  const url = () => `/v1/portfolios/${portfolio.id}/recoveries`;
  const amount = usd(40n);
  const report = sha('a report the servicer signs itself');

  beforeAll(async () => {
    own = withAccount(deployer, anvil.accounts[4].privateKey);
    portfolio = await publishedPortfolio(own);
    const closed = await post(`/v1/portfolios/${portfolio.id}/offering/close`, issuer);
    expect(closed.statusCode, closed.body).toBe(202);
    expect((await waitMined(closed.json().relayTxId)).status).toBe('mined');
    await fundServicer(deployer, own, { stack, portfolio: portfolio.portfolio, amount: usd(1_000n) });
  }, 90_000);

  const body = { amount: amount.toString(), reportSha256: report };
  /** The intent of `body`, unsigned (the cases below sign it their own ways). */
  const intentFor = () => depositIntent(t, { portfolioId: portfolio.id, headers: otherServicer, body });
  /** The intent of `body` and the deposit signed by the servicer itself. */
  const signedByOwn = () =>
    signedDeposit(t, { portfolioId: portfolio.id, headers: otherServicer, body, signer: own.account });

  it('refuses a deposit without the servicer’s signature when the API does not hold its key: 422 body.servicerSignature, nothing sent', async () => {
    const before = await sideEffects(portfolio.portfolio);
    const res = await post(url(), otherServicer, { amount: amount.toString(), reportSha256: report });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    expect(res.json().details.map((d: { path: string }) => d.path)).toEqual(['body.servicerSignature']);
    // an admin key is no substitute for the servicer's consent
    const byAdmin = await post(url(), admin, { amount: amount.toString(), reportSha256: report });
    expect([byAdmin.statusCode, byAdmin.json().details[0].path]).toEqual([422, 'body.servicerSignature']);
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);
  });

  it('refuses a signature that is not the servicer’s over exactly this amount and report, an expired or used nonce, sending nothing', async () => {
    const { intent, payload } = await signedByOwn();
    expect(intent.servicer).toBe(getAddress(own.account.address));
    expect(intent.portfolio).toBe(getAddress(portfolio.portfolio));
    const base = { ...body, servicerSignature: payload.servicerSignature };
    const before = await sideEffects(portfolio.portfolio);

    const byOther = await holder.account.signTypedData(intent.typedData.deposit);
    const cases: [Record<string, string>, number, string][] = [
      // the platform's or anyone's key signing for the servicer
      [
        { ...base, servicerSignature: byOther, nonce: intent.nonce, deadline: intent.deadline },
        401,
        'SIGNATURE_INVALID',
      ],
      // the servicer's signature relayed with another amount, report, nonce or deadline
      [
        { ...base, amount: (amount + 1n).toString(), nonce: intent.nonce, deadline: intent.deadline },
        401,
        'SIGNATURE_INVALID',
      ],
      [
        { ...base, reportSha256: sha('another report'), nonce: intent.nonce, deadline: intent.deadline },
        401,
        'SIGNATURE_INVALID',
      ],
      [
        { ...base, nonce: (BigInt(intent.nonce) + 1n).toString(), deadline: intent.deadline },
        401,
        'SIGNATURE_INVALID',
      ],
      [
        { ...base, nonce: intent.nonce, deadline: (BigInt(intent.deadline) + 1n).toString() },
        401,
        'SIGNATURE_INVALID',
      ],
    ];
    for (const [payload, status, code] of cases) {
      const res = await post(url(), otherServicer, payload);
      expect([res.statusCode, res.json().code], JSON.stringify(payload)).toEqual([status, code]);
    }
    const noNonce = await post(url(), otherServicer, { ...base, deadline: intent.deadline });
    expect([noNonce.statusCode, noNonce.json().details.map((d: { path: string }) => d.path)]).toEqual([
      422,
      ['body.nonce'],
    ]);

    // an intent signed with a deadline already past
    const stale = await intentFor();
    const past = (await deployer.publicClient.getBlock()).timestamp - 1n;
    const expiredTyped = {
      ...stale.typedData.deposit,
      message: { ...(stale.typedData.deposit.message as object), deadline: past.toString() },
    } as TypedDataDefinition;
    const expired = await post(url(), otherServicer, {
      ...base,
      servicerSignature: await own.account.signTypedData(expiredTyped),
      nonce: stale.nonce,
      deadline: past.toString(),
    });
    expect([expired.statusCode, expired.json().code]).toEqual([410, 'ORDER_EXPIRED']);

    // a nonce the servicer cancelled on-chain (its own invalidateNonce call)
    const cancelled = await intentFor();
    await own.walletClient.writeContract({
      address: portfolio.portfolio,
      abi: portfolioAbi,
      functionName: 'invalidateNonce',
      args: [BigInt(cancelled.nonce)],
      chain: own.chain,
      account: own.account,
    });
    const used = await post(url(), otherServicer, {
      ...base,
      servicerSignature: await own.account.signTypedData(cancelled.typedData.deposit),
      nonce: cancelled.nonce,
      deadline: cancelled.deadline,
    });
    expect([used.statusCode, used.json().details.reason]).toEqual([409, 'NONCE_USED']);
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);
  }, 60_000);

  it('relays depositRecoveryWithSig with the servicer’s own signature; a retry is the same recovery', async () => {
    const { intent, payload: signed } = await signedByOwn();
    const res = await post(url(), otherServicer, signed);
    expect(res.statusCode, res.body).toBe(202);
    const mined = await waitMined(res.json().id);
    expect(mined.status).toBe('mined');
    expect(await recoveryCount(portfolio.portfolio)).toBe(1n);
    expect(
      await deployer.publicClient.readContract({
        address: portfolio.portfolio,
        abi: portfolioAbi,
        functionName: 'nonceUsed',
        args: [own.account.address, BigInt(intent.nonce)],
      }),
    ).toBe(true);
    const retry = await post(url(), otherServicer, signed);
    expect([retry.statusCode, retry.json().id]).toEqual([200, res.json().id]);
    const view = (await t.app.inject({ method: 'GET', url: `/v1/recoveries/${res.json().id}` })).json();
    expect(view).toMatchObject({ amount: amount.toString(), reportSha256: report, status: 'mined' });
    expect(await recoveryCount(portfolio.portfolio)).toBe(1n);
  }, 60_000);
});

describe('offering close settles through the state machine', () => {
  it('a close that reverts (a stranger closed first) is mined, not failed, until its block is final: nothing is sent again meanwhile', async () => {
    const fresh = await publishedPortfolio();
    const url = `/v1/portfolios/${fresh.id}/offering/close`;
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const rows = () => t.db.prisma.relayTx.count({ where: { kind: 'closeOffering', refId: fresh.id } });
    await indexer.syncOnce();
    await testClient.setAutomine(false);
    let relayTxId: string;
    try {
      // simulated fine by the issuer, then, past the offering's end, a stranger closes it first in the block
      const res = await post(url, issuer);
      expect(res.statusCode, res.body).toBe(202);
      relayTxId = res.json().relayTxId;
      await testClient.increaseTime({ seconds: 2 * 86_400 });
      await holder.walletClient.writeContract({
        address: fresh.portfolio,
        abi: portfolioAbi,
        functionName: 'closeOffering',
        args: [],
        gas: 500_000n,
        maxPriorityFeePerGas: parseGwei('50'),
        maxFeePerGas: parseGwei('100'),
        chain: holder.chain,
        account: holder.account,
      });
      await testClient.mine({ blocks: 1 });
    } finally {
      await testClient.setAutomine(true);
    }
    const reverted = await waitMined(relayTxId);
    expect(reverted.status).toBe('reverted');

    // indexed, its block not final (an indexer on the same cursor that finalizes nothing new)
    await unfinalizing().syncOnce();
    const again = await post(url, issuer);
    expect([again.statusCode, again.json()]).toEqual([
      202,
      { status: 'mined', txHash: reverted.txHash, relayTxId },
    ]);
    expect(await rows()).toBe(1);

    // final: the revert is failed; the offering the stranger closed is closed, nothing is sent
    await indexer.syncOnce();
    const closed = await post(url, issuer);
    expect([closed.statusCode, closed.json().details.reason]).toEqual([409, 'OFFERING_CLOSED']);
    expect(await rows()).toBe(1);
  }, 90_000);
});
