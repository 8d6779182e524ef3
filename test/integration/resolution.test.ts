/**
 * Waterfall spec v2 over REST on anvil + Postgres: POST /v1/portfolios/:id/reserve/funding, POST/GET/DELETE
 * /v1/portfolios/:id/resolution (+ /intents) and the final recovery (`final: true`). Every rejection answers
 * its code and sends nothing (relay rows and the platform nonce unchanged); the accepted ones move the
 * chain exactly as asked (reserve balance, executableAt, resolved), and once resolved nothing moves.
 *
 * The portfolio's issuer treasury and guardian are the app's relayer key (as `npm start`'s default issuer
 * treasury); its servicer is the app's development servicer key, so the API signs its intents, except
 * where the test signs as the servicer itself.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Address, erc20Abi, parseEventLogs, zeroAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortfolio, mintTestStablecoin } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import { NO_DECAY, type Order, signOrder } from '../../core/chain/contracts/marketplace.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { DEV_SERVICER_KEY_FILE } from '../../core/servicing/dev-servicer.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { allowlistAndBuy, recordPublishedPortfolio } from '../helpers/portfolio.ts';
import { accountClients, createStackApp, fundServicer, type StackApp, startStack } from '../helpers/stack.ts';

const usd = (whole: bigint) => whole * 10n ** 6n;
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const RESOLUTION_DELAY = 3_600;

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holder: ChainClients;
let platformAddress: Address;
let app: StackApp;
let t: TestApp;
let admin: Headers;
let issuer: Headers;
let otherIssuer: Headers;
let servicerKey: Headers;

beforeAll(async () => {
  const chain = await startStack({ accounts: 5 });
  ({ anvil, deployer, stack } = chain);
  [servicer, holder] = accountClients(chain, [2, 3]);
  platformAddress = anvil.accounts[1].address;
  app = await createStackApp(chain, {
    name: 'resolution',
    prepare: (dir) =>
      writeFile(path.join(dir, DEV_SERVICER_KEY_FILE), `${anvil.accounts[2].privateKey}\n`, { mode: 0o600 }),
  });
  t = app.t;
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
  servicerKey = await apiKeyHeaders(t.db.prisma, 'servicer', servicer.account.address);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await anvil?.stop();
});

const tranches = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'MEZ', face: usd(300n), couponBps: 900, priceBps: 8_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(200n), couponBps: 0, priceBps: 5_000 },
];

/** A v2 portfolio (10% reserve, 90% trigger over a two-point plan) or a v1 one, one holder, recorded published. */
async function portfolioOnChain(options: { v2: boolean; guardian?: Address }) {
  const now = (await deployer.publicClient.getBlock()).timestamp;
  const created = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: servicer.account.address,
    issuer: platformAddress,
    issuerTreasury: platformAddress,
    guardian: options.guardian ?? platformAddress,
    rootProposer: platformAddress,
    timelockDelay: 2,
    offeringEnd: now + 86_400n,
    tranches,
    ...(options.v2
      ? {
          reserve: { targetBps: 1_000 },
          trigger: {
            collectionRatioBps: 9_000,
            businessPlan: [
              { atSeconds: 30n * 86_400n, cumulative: usd(100n) },
              { atSeconds: 90n * 86_400n, cumulative: usd(400n) },
            ],
          },
          resolutionDelay: RESOLUTION_DELAY,
        }
      : {}),
  });
  await allowlistAndBuy(deployer, {
    stack,
    portfolio: created.portfolio,
    holders: [holder],
    purchases: [[usd(800n), usd(200n), usd(100n)]],
    expiry: now + 10n * 365n * 86_400n,
  });
  // the proceeds an issuer may put into its reserve are its indexed purchases
  await createIndexer({ db: t.db, publicClient: deployer.publicClient, stack, confirmations: 0 }).syncOnce();
  const row = await recordPublishedPortfolio(t.db.prisma, {
    name: options.v2 ? 'Resolution v2' : 'Resolution v1',
    servicer: servicer.account.address,
    chainId: anvil.chainId,
    created,
    tranches,
  });
  return { id: row.id, ...created };
}

const request = (method: 'POST' | 'GET' | 'DELETE', url: string, headers?: Headers, payload?: unknown) =>
  t.app.inject({ method, url, headers, payload: payload as object });

/** What a rejected request must leave unchanged. */
async function sideEffects(portfolio: Address) {
  const [relayTxs, nonce, reserve, resolution, recoveries] = await Promise.all([
    t.db.prisma.relayTx.count(),
    deployer.publicClient.getTransactionCount({ address: platformAddress }),
    read(portfolio, 'reserve'),
    read(portfolio, 'resolution'),
    read(portfolio, 'recoveryCount'),
  ]);
  return { relayTxs, nonce, reserve, resolution, recoveries };
}

function read(portfolio: Address, functionName: 'reserve'): Promise<readonly [bigint, bigint]>;
function read(portfolio: Address, functionName: 'resolution'): Promise<readonly [bigint, boolean]>;
function read(portfolio: Address, functionName: 'recoveryCount'): Promise<bigint>;
function read(portfolio: Address, functionName: 'reserve' | 'resolution' | 'recoveryCount') {
  return deployer.publicClient.readContract({ address: portfolio, abi: portfolioAbi, functionName });
}

/** The offering closed by the owning issuer over REST (the platform key holds ISSUER_ROLE). */
async function closeOverRest(id: string) {
  const res = await request('POST', `/v1/portfolios/${id}/offering/close`, issuer);
  expect(res.statusCode, res.body).toBe(202);
  await waitMined(res.json().relayTxId);
}

async function waitMined(relayTxId: string) {
  for (let i = 0; i < 200; i++) {
    const row = await t.db.prisma.relayTx.findUniqueOrThrow({ where: { id: relayTxId } });
    if (row.status !== 'pending') return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`relay tx ${relayTxId} still pending`);
}

function expectCode(
  res: { statusCode: number; body: string; json: () => unknown },
  status: number,
  reason?: string,
) {
  expect(res.statusCode, res.body).toBe(status);
  if (reason !== undefined)
    expect((res.json() as { details?: { reason?: string } }).details?.reason).toBe(reason);
}

describe('reserve funding, resolution and the final recovery over REST', () => {
  let portfolio: Awaited<ReturnType<typeof portfolioOnChain>>;
  let v1: Awaited<ReturnType<typeof portfolioOnChain>>;

  it('rejects bad reserve fundings with their code, sending nothing', async () => {
    portfolio = await portfolioOnChain({ v2: true });
    v1 = await portfolioOnChain({ v2: false });
    const url = `/v1/portfolios/${portfolio.id}/reserve/funding`;
    const before = await sideEffects(portfolio.portfolio);

    expect((await request('POST', url, undefined, { amount: '1' })).statusCode).toBe(401);
    expect((await request('POST', url, otherIssuer, { amount: '1' })).statusCode).toBe(403);
    for (const amount of ['0', '-5', '1.5', 'abc']) {
      const res = await request('POST', url, issuer, { amount });
      expectCode(res, 422);
      expect(res.json().details[0].path).toBe('body.amount');
    }
    // no reserve target on a v1 portfolio
    expectCode(
      await request('POST', `/v1/portfolios/${v1.id}/reserve/funding`, issuer, {
        amount: usd(1n).toString(),
      }),
      409,
      'RESERVE_NOT_CONFIGURED',
    );
    // the treasury is shared by both portfolios: an issuer funds at most its own offering's proceeds
    const greedy = await request('POST', url, issuer, { amount: (usd(1_010n) + 1n).toString() });
    expectCode(greedy, 409, 'EXCEEDS_PORTFOLIO_PROCEEDS');
    expect(greedy.json().details).toMatchObject({
      proceeds: usd(1_010n).toString(),
      available: usd(1_010n).toString(),
    });
    // the treasury (the platform key) holds only the two offerings' proceeds: 2 × (800 + 160 + 50)
    const res = await request('POST', url, admin, { amount: usd(100_000n).toString() });
    expectCode(res, 409, 'INSUFFICIENT_BALANCE');
    expect(res.json().details.missing).toBe((usd(100_000n) - usd(2_020n)).toString());
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);
  });

  it('funds the reserve from the issuer treasury before the close, and again with the same key only once', async () => {
    await mintTestStablecoin(deployer, {
      token: stack.testStablecoin as Address,
      to: platformAddress,
      amount: usd(500n),
    });
    const url = `/v1/portfolios/${portfolio.id}/reserve/funding`;
    const headers = { ...issuer, 'idempotency-key': 'first-funding' };
    const res = await request('POST', url, headers, { amount: usd(60n).toString() });
    expectCode(res, 202);
    expect(res.json()).toMatchObject({ amount: usd(60n).toString(), issuerTreasury: platformAddress });
    await waitMined(res.json().id);
    // the same Idempotency-Key answers the same funding, nothing sent again
    const again = await request('POST', url, headers, { amount: usd(60n).toString() });
    expectCode(again, 202);
    expect(again.json().txHash).toBe(res.json().txHash);
    // another one (an admin may act for the owner)
    const second = await request('POST', url, admin, { amount: usd(40n).toString() });
    expectCode(second, 202);
    await waitMined(second.json().id);
    const [balance, funded] = await read(portfolio.portfolio, 'reserve');
    expect(balance).toBe(usd(100n));
    expect(funded).toBe(usd(100n));
    const treasury = await deployer.publicClient.readContract({
      address: stack.testStablecoin as Address,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [platformAddress],
    });
    // the two offerings' proceeds went to the treasury too, minus the 100 funded
    expect(treasury).toBe(usd(500n) + usd(2_020n) - usd(100n));
  });

  it('refuses resolution requests that cannot run, sending nothing', async () => {
    const url = `/v1/portfolios/${portfolio.id}/resolution`;
    let before = await sideEffects(portfolio.portfolio);
    // before the close
    expectCode(await request('POST', url, servicerKey), 409, 'OFFERING_OPEN');
    expect((await request('POST', url, issuer)).statusCode).toBe(403);
    expect((await request('DELETE', url, issuer)).statusCode).toBe(403);
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);

    await closeOverRest(portfolio.id);
    await fundServicer(deployer, servicer, { stack, portfolio: portfolio.portfolio, amount: usd(5_000n) });
    before = await sideEffects(portfolio.portfolio);
    // a veto of nothing; a final recovery without a proposal
    expectCode(await request('DELETE', url, admin), 409, 'RESOLUTION_NOT_PROPOSED');
    expectCode(
      await request('POST', `/v1/portfolios/${portfolio.id}/recoveries`, servicerKey, {
        amount: '0',
        final: true,
        reportSha256: sha('final report'),
      }),
      409,
      'RESOLUTION_NOT_PROPOSED',
    );
    // an amount of 0 is a final recovery's only
    const zero = await request('POST', `/v1/portfolios/${portfolio.id}/recoveries`, servicerKey, {
      amount: '0',
      reportSha256: sha('empty report'),
    });
    expectCode(zero, 422);
    expect(zero.json().details[0].path).toBe('body.amount');
    // a stranger's signature is no proposal
    const intent = await request('POST', `${url}/intents`, servicerKey);
    expectCode(intent, 200);
    const stranger = privateKeyToAccount(anvil.accounts[4].privateKey);
    const forged = await stranger.signTypedData(intent.json().typedData.resolution);
    expectCode(
      await request('POST', url, servicerKey, {
        servicerSignature: forged,
        nonce: intent.json().nonce,
        deadline: intent.json().deadline,
      }),
      401,
    );
    expect((await request('GET', url)).json()).toMatchObject({ status: 'open', executableAt: null });
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);
  });

  it('proposes (signed by the servicer), refuses a second proposal and an early final recovery, and vetoes', async () => {
    const url = `/v1/portfolios/${portfolio.id}/resolution`;
    const intent = (await request('POST', `${url}/intents`, servicerKey)).json();
    const signature = await privateKeyToAccount(anvil.accounts[2].privateKey).signTypedData(
      intent.typedData.resolution,
    );
    const res = await request('POST', url, servicerKey, {
      servicerSignature: signature,
      nonce: intent.nonce,
      deadline: intent.deadline,
    });
    expectCode(res, 202);
    const mined = await waitMined(res.json().id);
    const receipt = await deployer.publicClient.getTransactionReceipt({
      hash: mined.txHash as `0x${string}`,
    });
    const [proposed] = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'ResolutionProposed',
    });
    const block = await deployer.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    expect(proposed.args.executableAt).toBe(block.timestamp + BigInt(RESOLUTION_DELAY));
    const [executableAt] = await read(portfolio.portfolio, 'resolution');
    expect(executableAt).toBe(proposed.args.executableAt);
    expect((await request('GET', url)).json()).toMatchObject({
      status: 'resolving',
      executableAt: executableAt.toString(),
      executable: false,
    });

    const before = await sideEffects(portfolio.portfolio);
    expectCode(await request('POST', url, servicerKey), 409, 'RESOLUTION_PENDING');
    // the same signed intent again: the nonce is spent (and a proposal pends)
    expectCode(
      await request('POST', url, servicerKey, {
        servicerSignature: signature,
        nonce: intent.nonce,
        deadline: intent.deadline,
      }),
      409,
    );
    const early = await request('POST', `/v1/portfolios/${portfolio.id}/recoveries`, servicerKey, {
      amount: usd(10n).toString(),
      final: true,
      reportSha256: sha('early final'),
    });
    expectCode(early, 409, 'RESOLUTION_NOT_EXECUTABLE');
    expect(early.json().details.executableAt).toBe(executableAt.toString());
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);

    // the guardian (the relayer key here) vetoes
    const veto = await request('DELETE', url, admin);
    expectCode(veto, 200);
    expect(veto.json().vetoedExecutableAt).toBe(executableAt.toString());
    await waitMined(
      (await t.db.prisma.relayTx.findFirstOrThrow({ where: { txHash: veto.json().txHash } })).id,
    );
    expect(await read(portfolio.portfolio, 'resolution')).toEqual([0n, false]);
    expect((await request('GET', url)).json()).toMatchObject({ status: 'open' });
  });

  it('runs the final recovery after the delay: the reserve released, the portfolio resolved, then nothing moves', async () => {
    const url = `/v1/portfolios/${portfolio.id}/resolution`;
    // an ordinary recovery first (the API signs as the development servicer)
    const ordinary = await request('POST', `/v1/portfolios/${portfolio.id}/recoveries`, servicerKey, {
      amount: usd(150n).toString(),
      reportSha256: sha('recovery 1'),
    });
    expectCode(ordinary, 202);
    await waitMined(ordinary.json().id);
    // the vetoed proposal's relay row still reads pending, as when the relayer's monitor lags its receipt:
    // it is mined, so it is no proposal in flight and a new one is sent
    const vetoed = await t.db.prisma.relayTx.findMany({
      where: { kind: 'proposeResolution', refId: { startsWith: `${portfolio.id}:` } },
    });
    expect(vetoed).toHaveLength(1);
    await t.db.prisma.relayTx.updateMany({
      where: { id: vetoed[0].id },
      data: { status: 'pending', blockNumber: null },
    });
    // proposed by the API with the development servicer's key
    const proposal = await request('POST', url, servicerKey);
    expectCode(proposal, 202);
    expect(proposal.json().id).not.toBe(vetoed[0].id);
    await waitMined(proposal.json().id);
    const [executableAt] = await read(portfolio.portfolio, 'resolution');
    expect(executableAt).toBeGreaterThan(0n);
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    await testClient.increaseTime({ seconds: RESOLUTION_DELAY + 1 });
    await testClient.mine({ blocks: 1 });
    expect((await request('GET', url)).json()).toMatchObject({
      executable: true,
      executableAt: executableAt.toString(),
    });

    const [reserveBefore] = await read(portfolio.portfolio, 'reserve');
    expect(reserveBefore).toBeGreaterThan(0n);
    const final = await request('POST', `/v1/portfolios/${portfolio.id}/recoveries`, servicerKey, {
      amount: usd(20n).toString(),
      final: true,
      reportSha256: sha('final report'),
    });
    expectCode(final, 202);
    expect(final.json().final).toBe(true);
    const mined = await waitMined(final.json().id);
    expect(mined.status).toBe('mined');
    const receipt = await deployer.publicClient.getTransactionReceipt({
      hash: mined.txHash as `0x${string}`,
    });
    const [resolved] = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'PortfolioResolved',
    });
    const [movements] = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'RecoveryTriggerAndReserve',
    });
    expect(resolved).toBeDefined();
    expect(movements.args.released).toBe(reserveBefore);
    expect(movements.args.reserveBalance).toBe(0n);
    expect(await read(portfolio.portfolio, 'resolution')).toEqual([executableAt, true]);
    expect((await request('GET', url)).json()).toMatchObject({ status: 'resolved' });
    const view = await request('GET', `/v1/recoveries/${final.json().id}`);
    expect(view.json()).toMatchObject({ final: true, amount: usd(20n).toString() });

    // after resolution: no recovery, no funding, no proposal, no veto; nothing sent
    const before = await sideEffects(portfolio.portfolio);
    expectCode(
      await request('POST', `/v1/portfolios/${portfolio.id}/recoveries`, servicerKey, {
        amount: usd(5n).toString(),
        reportSha256: sha('after resolution'),
      }),
      409,
      'PORTFOLIO_RESOLVED',
    );
    expectCode(
      await request('POST', `/v1/portfolios/${portfolio.id}/reserve/funding`, issuer, {
        amount: usd(1n).toString(),
      }),
      409,
      'PORTFOLIO_RESOLVED',
    );
    expectCode(await request('POST', url, servicerKey), 409, 'PORTFOLIO_RESOLVED');
    expectCode(await request('DELETE', url, admin), 409, 'PORTFOLIO_RESOLVED');
    // the tranche tokens no longer transfer: a sell order is refused before it is stored
    const senior = portfolio.tranches[0] as Address;
    const order: Order = {
      maker: holder.account.address,
      taker: zeroAddress,
      tranche: senior,
      payToken: stack.testStablecoin as Address,
      sellAmount: 10n ** 18n,
      price: usd(1n),
      expiry: (await deployer.publicClient.getBlock()).timestamp + 86_400n,
      salt: 7n,
      counter: 0n,
      partialFill: true,
      maxFeeBps: 100,
      ...NO_DECAY,
    };
    const signature = await signOrder(privateKeyToAccount(anvil.accounts[3].privateKey), {
      marketplace: stack.marketplace as Address,
      chainId: anvil.chainId,
      order,
    });
    const orders = await t.db.prisma.order.count();
    const placed = await request('POST', '/v1/orders', undefined, {
      order: Object.fromEntries(
        Object.entries(order).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]),
      ),
      signature,
    });
    expectCode(placed, 409, 'PORTFOLIO_RESOLVED');
    expect(await t.db.prisma.order.count()).toBe(orders);
    await expect(
      holder.walletClient.writeContract({
        address: senior,
        abi: erc20Abi,
        functionName: 'transfer',
        args: [anvil.accounts[4].address, 1n],
      }),
    ).rejects.toThrow();
    expect(await sideEffects(portfolio.portfolio)).toEqual(before);
  });

  it('says GUARDIAN_NOT_HELD when neither the relayer nor a key of this server is the guardian', async () => {
    const other = await portfolioOnChain({ v2: true, guardian: anvil.accounts[4].address });
    await closeOverRest(other.id);
    const proposal = await request('POST', `/v1/portfolios/${other.id}/resolution`, servicerKey);
    expectCode(proposal, 202);
    await waitMined(proposal.json().id);
    const before = await sideEffects(other.portfolio);
    expectCode(
      await request('DELETE', `/v1/portfolios/${other.id}/resolution`, admin),
      409,
      'GUARDIAN_NOT_HELD',
    );
    expect(await sideEffects(other.portfolio)).toEqual(before);
  });

  it('a second proposal while the first is still unmined answers that one, sending nothing', async () => {
    const third = await portfolioOnChain({ v2: true });
    await closeOverRest(third.id);
    const url = `/v1/portfolios/${third.id}/resolution`;
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    let firstId = '';
    await testClient.setAutomine(false);
    try {
      const first = await request('POST', url, servicerKey);
      expectCode(first, 202);
      firstId = first.json().id;
      expect(first.json()).toMatchObject({ status: 'pending', executableAt: null });
      const nonce = await deployer.publicClient.getTransactionCount({
        address: platformAddress,
        blockTag: 'pending',
      });
      const second = await request('POST', url, servicerKey);
      expectCode(second, 202);
      expect(second.json()).toMatchObject({ id: first.json().id, txHash: first.json().txHash });
      expect(
        await deployer.publicClient.getTransactionCount({ address: platformAddress, blockTag: 'pending' }),
      ).toBe(nonce);
    } finally {
      await testClient.setAutomine(true);
      await testClient.mine({ blocks: 1 });
    }
    await waitMined(firstId);
    expect((await request('GET', url)).json()).toMatchObject({ status: 'resolving' });
    expect(
      await t.db.prisma.relayTx.count({
        where: { kind: 'proposeResolution', refId: { startsWith: `${third.id}:` } },
      }),
    ).toBe(1);
  });
});
