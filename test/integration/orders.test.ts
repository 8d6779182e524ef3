import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type Address,
  erc20Abi,
  getAddress,
  type Hex,
  keccak256,
  maxUint256,
  toHex,
  zeroAddress,
} from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  approve,
  buy,
  createPortfolio,
  mintTestStablecoin,
  nonceInvalidationTypedData,
  permitTypedData,
  readPermitDomain,
} from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import {
  cancelOrder as cancelOnChain,
  type FillIntent,
  fillCost,
  fillWithSigArgs,
  hashOrder,
  incrementOrderCounter,
  marketplaceDomain,
  NO_DECAY,
  type Order,
  priceAt,
  signFillIntent,
  signOrder,
  signOrderCancel,
} from '../../core/chain/contracts/marketplace.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { saveDeployment } from '../../core/chain/deployment.ts';
import { marketplaceAbi } from '../../core/chain/generated/index.ts';
import { currentPriceSql, fillIdempotencyKey, fillRowData } from '../../core/trading/orders.ts';
import { createIndexer, type Indexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { recordPublishedPortfolio } from '../helpers/portfolio.ts';

const DAY = 24 * 3600;
const SCALE = 10n ** 12n;
/** Tranche-token base units of `usd` whole pay units of face (6-decimal stablecoin). */
const tokens = (usd: bigint) => usd * 10n ** 6n * SCALE;
const usd = (units: bigint) => units * 10n ** 6n;

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let t: TestApp;
let indexer: Indexer;
let deploymentDir: string;
let marketplace: Address;
let payToken: Address;
/** Two tranches of one published portfolio. */
let trancheA: Address;
let trancheB: Address;
const relayerAddress = () => anvil.accounts[1].address;

async function chainNow(): Promise<bigint> {
  return (await deployer.publicClient.getBlock()).timestamp;
}

type Investor = PrivateKeyAccount & { clients: ChainClients };

/** A fresh investor: allowlisted (unless told not to), funded with pay units, optionally holding tranche tokens. */
async function investor(
  options: { allowlist?: boolean; funds?: bigint; holdA?: bigint; approveMarketplace?: boolean } = {},
): Promise<Investor> {
  const key = keccak256(toHex(`orders-${Math.random()}`));
  const account = privateKeyToAccount(key);
  const clients = withAccount(deployer, key);
  if (options.allowlist ?? true) {
    await allowlistInvestors(deployer, {
      registry: stack.complianceRegistry,
      accounts: [account.address],
      expiry: (await chainNow()) + BigInt(3 * 365 * DAY),
    });
  }
  const funds = options.funds ?? 0n;
  const gas = await deployer.walletClient.sendTransaction({ to: account.address, value: 10n ** 18n });
  await deployer.publicClient.waitForTransactionReceipt({ hash: gas });
  if (funds > 0n) await mintTestStablecoin(deployer, { token: payToken, to: account.address, amount: funds });
  if (options.holdA) {
    await mintTestStablecoin(deployer, {
      token: payToken,
      to: account.address,
      amount: options.holdA / SCALE,
    });
    await buy(clients, {
      portfolio: portfolioAddress,
      trancheId: 0,
      amount: options.holdA,
      maxCost: maxUint256,
      approve: true,
    });
    if (options.approveMarketplace ?? true) {
      await approve(clients, { token: trancheA, spender: marketplace, amount: maxUint256 });
    }
  }
  return Object.assign(account, { clients });
}
let portfolioAddress: Address;

async function newOrder(maker: Investor, overrides: Partial<Order> = {}): Promise<Order> {
  return {
    maker: maker.address,
    taker: zeroAddress,
    tranche: trancheA,
    payToken,
    sellAmount: tokens(10n),
    price: usd(9n),
    expiry: (await chainNow()) + BigInt(DAY),
    salt: BigInt(Math.floor(Math.random() * 1e15)),
    counter: 0n,
    partialFill: true,
    maxFeeBps: 100,
    ...NO_DECAY,
    ...overrides,
  };
}

/** The marketplace admin (the deployer) sets the fee. */
async function setMarketplaceFee(feeBps: number) {
  const hash = await deployer.walletClient.writeContract({
    address: marketplace,
    abi: marketplaceAbi,
    functionName: 'setFeeBps',
    args: [feeBps],
  });
  await deployer.publicClient.waitForTransactionReceipt({ hash });
}

const json = (order: Order) =>
  Object.fromEntries(Object.entries(order).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));

async function post(order: Order, signature: Hex) {
  return t.app.inject({ method: 'POST', url: '/v1/orders', payload: { order: json(order), signature } });
}

async function place(maker: Investor, order: Order) {
  const res = await post(order, await signOrder(maker, { marketplace, chainId: anvil.chainId, order }));
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { hash: Hex; status: string; remaining: string };
}

async function book(query = `tranche=${trancheA}&limit=100`) {
  const res = await t.app.inject({ method: 'GET', url: `/v1/orders?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as {
    items: { hash: string; remaining: string; status: string }[];
    nextCursor: string | null;
  };
}

const orderCount = () => t.db.prisma.order.count();
const fillCount = () => t.db.prisma.orderFill.count();
const relayerNonce = () => deployer.publicClient.getTransactionCount({ address: relayerAddress() });

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 4 });
  deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
    nonceManager: true,
  });
  stack = await deployStack(deployer);
  marketplace = stack.marketplace as Address;
  payToken = stack.testStablecoin as Address;
  deploymentDir = await mkdtemp(path.join(tmpdir(), 'npl-orders-'));
  const deploymentFile = path.join(deploymentDir, 'deployment.json');
  await saveDeployment(deploymentFile, stack);
  t = await createTestApp({
    overrides: {
      RPC_URL: anvil.rpcUrl,
      DEPLOYMENT_FILE: deploymentFile,
      PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
    },
  });
  const now = await chainNow();
  const specs = [
    { name: 'Senior', symbol: 'SNR', face: usd(1_000_000n), couponBps: 500, priceBps: 10_000 },
    { name: 'Residual', symbol: 'RES', face: usd(1_000_000n), couponBps: 0, priceBps: 10_000 },
  ];
  const created = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken,
    registry: stack.complianceRegistry,
    servicer: anvil.accounts[2].address,
    tranches: specs,
    offeringStart: now,
    offeringEnd: now + BigInt(365 * DAY),
  });
  portfolioAddress = created.portfolio;
  [trancheA, trancheB] = created.tranches;
  await recordPublishedPortfolio(t.db.prisma, {
    name: 'Orders test',
    servicer: anvil.accounts[2].address,
    chainId: anvil.chainId,
    created: created,
    tranches: specs,
  });
  indexer = createIndexer({ db: t.db, publicClient: deployer.publicClient, stack, confirmations: 0 });
}, 120_000);

afterAll(async () => {
  await indexer?.stop();
  await t?.close();
  await anvil?.stop();
  if (deploymentDir) await rm(deploymentDir, { recursive: true, force: true });
});

describe('POST /v1/orders', () => {
  it('stores a checked order under its EIP-712 hash (= Marketplace.hashOrder) as open', async () => {
    const maker = await investor({ holdA: tokens(100n) });
    const order = await newOrder(maker);
    const placed = await place(maker, order);
    const onChain = await deployer.publicClient.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'hashOrder',
      args: [order],
    });
    expect(placed.hash).toBe(onChain.toLowerCase());
    expect(placed.hash).toBe(hashOrder({ marketplace, chainId: anvil.chainId, order }).toLowerCase());
    expect(placed).toMatchObject({ status: 'open', remaining: order.sellAmount.toString() });
    const again = await post(order, await signOrder(maker, { marketplace, chainId: anvil.chainId, order }));
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('CONFLICT');
  });

  it('maxFeeBps: stored and returned; omitted = the current fee, which the maker must have signed; below the fee is 422', async () => {
    const maker = await investor({ holdA: tokens(100n) });
    const signed = await newOrder(maker, { maxFeeBps: 0 }); // the fee is 0 on this stack
    const signature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order: signed });
    const { maxFeeBps: _omitted, ...withoutFee } = json(signed);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/orders',
      payload: { order: withoutFee, signature },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().order.maxFeeBps).toBe(0);
    expect(res.json().hash).toBe(
      hashOrder({ marketplace, chainId: anvil.chainId, order: signed }).toLowerCase(),
    );
    expect((await t.db.prisma.order.findUniqueOrThrow({ where: { hash: res.json().hash } })).maxFeeBps).toBe(
      0,
    );

    // signed over 100 but sent without it: checked against the current fee (0), the signature fails
    const other = await newOrder(maker, { maxFeeBps: 100 });
    const otherSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order: other });
    const { maxFeeBps: _dropped, ...otherWithout } = json(other);
    const mismatch = await t.app.inject({
      method: 'POST',
      url: '/v1/orders',
      payload: { order: otherWithout, signature: otherSignature },
    });
    expect(mismatch.statusCode, mismatch.body).toBe(401);
    expect(mismatch.json().code).toBe('SIGNATURE_INVALID');

    const badValue = await t.app.inject({
      method: 'POST',
      url: '/v1/orders',
      payload: { order: { ...json(other), maxFeeBps: 70_000 }, signature: otherSignature },
    });
    expect(badValue.statusCode).toBe(400);
    expect(badValue.json().details[0].path).toContain('maxFeeBps');

    await setMarketplaceFee(30);
    try {
      const low = await newOrder(maker, { maxFeeBps: 29 });
      const lowRes = await post(
        low,
        await signOrder(maker, { marketplace, chainId: anvil.chainId, order: low }),
      );
      expect(lowRes.statusCode, lowRes.body).toBe(422);
      expect(lowRes.json().details[0]).toMatchObject({
        path: 'body.order.maxFeeBps',
        reason: 'OrderFeeAboveMax',
      });
      // omitted now means 30: a maker that signed 30 is accepted
      const atFee = await newOrder(maker, { maxFeeBps: 30 });
      const { maxFeeBps: _none, ...atFeeWithout } = json(atFee);
      const atFeeRes = await t.app.inject({
        method: 'POST',
        url: '/v1/orders',
        payload: {
          order: atFeeWithout,
          signature: await signOrder(maker, { marketplace, chainId: anvil.chainId, order: atFee }),
        },
      });
      expect(atFeeRes.statusCode, atFeeRes.body).toBe(201);
      expect(atFeeRes.json().order.maxFeeBps).toBe(30);
    } finally {
      await setMarketplaceFee(0);
    }
  });

  it('rejects bad orders with a clear code and stores nothing', async () => {
    const maker = await investor({ holdA: tokens(50n) });
    const stranger = privateKeyToAccount(keccak256(toHex('stranger')));
    const before = await orderCount();
    const base = await newOrder(maker);
    const sign = (order: Order, domain: { chainId?: number; marketplace?: Address } = {}, signer = maker) =>
      signOrder(signer, {
        marketplace: domain.marketplace ?? marketplace,
        chainId: domain.chainId ?? anvil.chainId,
        order,
      });
    const expectCode = async (res: Awaited<ReturnType<typeof post>>, status: number, code: string) => {
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json().code, res.body).toBe(code);
      return res.json();
    };

    await expectCode(await post(base, await sign(base, {}, stranger as Investor)), 401, 'SIGNATURE_INVALID');
    await expectCode(await post(base, await sign(base, { chainId: 1 })), 401, 'SIGNATURE_INVALID');
    await expectCode(
      await post(base, await sign(base, { marketplace: stack.portfolioFactory })),
      401,
      'SIGNATURE_INVALID',
    );

    const expired = { ...base, expiry: (await chainNow()) - 1n };
    await expectCode(await post(expired, await sign(expired)), 410, 'ORDER_EXPIRED');

    const unknownToken = { ...base, tranche: payToken };
    const unknown = await expectCode(
      await post(unknownToken, await sign(unknownToken)),
      422,
      'VALIDATION_FAILED',
    );
    expect(unknown.details[0].path).toBe('body.order.tranche');

    const otherTranchesToken = { ...base, payToken: trancheB };
    const wrongPay = await expectCode(
      await post(otherTranchesToken, await sign(otherTranchesToken)),
      422,
      'VALIDATION_FAILED',
    );
    expect(wrongPay.details[0].path).toBe('body.order.payToken');

    const stale = { ...base, counter: 1n };
    expect(
      (await expectCode(await post(stale, await sign(stale)), 422, 'VALIDATION_FAILED')).details[0].path,
    ).toBe('body.order.counter');

    const tooMuch = { ...base, sellAmount: tokens(51n) };
    expect(
      (await expectCode(await post(tooMuch, await sign(tooMuch)), 422, 'VALIDATION_FAILED')).details[0]
        .reason,
    ).toBe('INSUFFICIENT_BALANCE');

    const unapproved = await investor({ holdA: tokens(20n), approveMarketplace: false });
    const noAllowance = await newOrder(unapproved);
    const allowanceRes = await post(
      noAllowance,
      await signOrder(unapproved, { marketplace, chainId: anvil.chainId, order: noAllowance }),
    );
    expect((await expectCode(allowanceRes, 422, 'VALIDATION_FAILED')).details[0].reason).toBe(
      'INSUFFICIENT_ALLOWANCE',
    );

    const outsider = await investor({ allowlist: false });
    const outsiderOrder = await newOrder(outsider);
    await expectCode(
      await post(
        outsiderOrder,
        await signOrder(outsider, { marketplace, chainId: anvil.chainId, order: outsiderOrder }),
      ),
      403,
      'NOT_ALLOWLISTED',
    );

    const signature = await sign(base);
    for (const sellAmount of ['0', '-1', '1.5', (maxUint256 + 1n).toString(), 'abc']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/orders',
        payload: { order: { ...json(base), sellAmount }, signature },
      });
      await expectCode(res, 400, 'VALIDATION_FAILED');
    }
    expect(await orderCount()).toBe(before);
  });
});

describe('GET /v1/orders', () => {
  it('lists open orders by tranche, lowest price per token first (exact fractions), paginated', async () => {
    const maker = await investor({ holdA: tokens(100n) });
    // 3/10 = 0.3, 1/3 = 0.333.., 2/7 = 0.2857.., 6/20 = 0.3 (same as the first, placed later)
    const specs = [
      { sellAmount: 10n, price: 3n },
      { sellAmount: 3n, price: 1n },
      { sellAmount: 7n, price: 2n },
      { sellAmount: 20n, price: 6n },
    ];
    const hashes: string[] = [];
    for (const spec of specs) {
      const order = await newOrder(maker, { sellAmount: tokens(spec.sellAmount), price: usd(spec.price) });
      hashes.push((await place(maker, order)).hash);
    }
    const expected = [hashes[2], hashes[0], hashes[3], hashes[1]];
    const mine = (items: { hash: string }[]) => items.map((i) => i.hash).filter((h) => hashes.includes(h));
    expect(mine((await book(`tranche=${trancheA}&maker=${maker.address}`)).items)).toEqual(expected);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await book(`maker=${maker.address}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((i) => i.hash));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(expected);
    expect((await book(`tranche=${trancheB}`)).items.filter((i) => hashes.includes(i.hash))).toEqual([]);
    const bad = await t.app.inject({ method: 'GET', url: '/v1/orders?cursor=nope' });
    expect(bad.statusCode).toBe(400);
  });

  it('drops orders cancelled on-chain, voided by a counter bump, or expired (indexer and clock)', async () => {
    const maker = await investor({ holdA: tokens(30n) });
    const cancelled = await newOrder(maker);
    const voided = await newOrder(maker);
    const other = await investor({ holdA: tokens(10n) });
    const shortLived = await newOrder(other, { expiry: (await chainNow()) + 4n });
    const placed = [
      await place(maker, cancelled),
      await place(maker, voided),
      await place(other, shortLived),
    ];
    const open = async () =>
      [...(await book(`maker=${maker.address}`)).items, ...(await book(`maker=${other.address}`)).items].map(
        (i) => i.hash,
      );
    expect(await open()).toHaveLength(3);

    await cancelOnChain(maker.clients, { marketplace, order: cancelled });
    await indexer.syncOnce();
    expect(await open()).not.toContain(placed[0].hash);
    await incrementOrderCounter(maker.clients, { marketplace });
    await indexer.syncOnce();
    expect(await open()).not.toContain(placed[1].hash);
    await new Promise((resolve) => setTimeout(resolve, Number(shortLived.expiry) * 1000 - Date.now() + 1100));
    expect(await open()).toEqual([]);
    const one = await t.app.inject({ method: 'GET', url: `/v1/orders/${placed[1].hash}` });
    expect(one.json().status).toBe('cancelled');
  });
});

describe('crafted cursors', () => {
  it('a cursor with numbers beyond its columns answers 400, not 500 (book and trades)', async () => {
    const cursor = (values: unknown[]) => Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
    const hash = `0x${'11'.repeat(32)}`;
    const urls = [
      `/v1/trades?cursor=${cursor([(2n ** 64n).toString(), 0, hash])}`,
      `/v1/trades?cursor=${cursor(['-1', 0, hash])}`,
      `/v1/trades?cursor=${cursor(['1', 2 ** 31, hash])}`,
      `/v1/trades?cursor=${cursor(['1', -1, hash])}`,
      `/v1/orders?tranche=${trancheA}&cursor=${cursor(['9'.repeat(300), '2026-01-01T00:00:00.000Z', hash])}`,
      `/v1/orders?tranche=${trancheA}&cursor=${cursor(['1', '+275760-09-13T00:00:00.000Z', hash])}`,
    ];
    for (const url of urls) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      expect(res.json().details).toEqual([{ path: 'querystring.cursor', message: expect.any(String) }]);
    }
  });
});

describe('DELETE /v1/orders/:hash', () => {
  it("takes the order off the book with the maker's signed cancel only", async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const order = await newOrder(maker);
    const { hash } = await place(maker, order);
    const stranger = privateKeyToAccount(keccak256(toHex('not the maker')));
    const wrong = await t.app.inject({
      method: 'DELETE',
      url: `/v1/orders/${hash}`,
      payload: {
        signature: await signOrderCancel(stranger, { marketplace, chainId: anvil.chainId, orderHash: hash }),
      },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('SIGNATURE_INVALID');
    const signature = await signOrderCancel(maker, { marketplace, chainId: anvil.chainId, orderHash: hash });
    const res = await t.app.inject({ method: 'DELETE', url: `/v1/orders/${hash}`, payload: { signature } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().status).toBe('cancelled');
    expect((await book(`maker=${maker.address}`)).items).toEqual([]);
    const again = await t.app.inject({ method: 'DELETE', url: `/v1/orders/${hash}`, payload: { signature } });
    expect(again.statusCode).toBe(409);
    const missing = await t.app.inject({
      method: 'DELETE',
      url: `/v1/orders/0x${'11'.repeat(32)}`,
      payload: { signature },
    });
    expect(missing.statusCode).toBe(404);
  });

  it("says the order stays executable on-chain and offers the maker's Marketplace.cancel, which then blocks a fill", async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const taker = await investor({ funds: usd(100n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const order = await newOrder(maker);
    const makerSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order });
    const res0 = await post(order, makerSignature);
    expect(res0.statusCode, res0.body).toBe(201);
    const { hash } = res0.json() as { hash: Hex };
    const signature = await signOrderCancel(maker, { marketplace, chainId: anvil.chainId, orderHash: hash });
    const res = await t.app.inject({ method: 'DELETE', url: `/v1/orders/${hash}`, payload: { signature } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as {
      status: string;
      onChain: {
        executable: boolean;
        message: string;
        cancel: { from: string; to: string; data: Hex; value: string; chainId: number } | null;
      };
    };
    expect(body.status).toBe('cancelled');
    expect(body.onChain.executable).toBe(true);
    expect(body.onChain.message).toMatch(/executable on-chain/);
    expect(body.onChain.cancel).toMatchObject({
      from: maker.address,
      to: marketplace,
      value: '0',
      chainId: anvil.chainId,
    });
    const call = body.onChain.cancel!;

    // the off-chain cancel alone leaves the order fillable: the chain accepts the taker's fill
    const fillArgs = [order, makerSignature, tokens(1n)] as const;
    await deployer.publicClient.simulateContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'fill',
      args: fillArgs,
      account: taker.address,
    });
    // a stranger cannot send the offered call: the contract only takes the maker's own
    await expect(
      taker.clients.walletClient.sendTransaction({ to: call.to as Address, data: call.data }),
    ).rejects.toThrow(/OrderCallerNotMaker|reverted/);

    const tx = await maker.clients.walletClient.sendTransaction({ to: call.to as Address, data: call.data });
    const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash: tx });
    expect(receipt.status).toBe('success');
    expect(
      await deployer.publicClient.readContract({
        address: marketplace,
        abi: marketplaceAbi,
        functionName: 'cancelled',
        args: [hash],
      }),
    ).toBe(true);
    const fill = await deployer.publicClient
      .simulateContract({
        address: marketplace,
        abi: marketplaceAbi,
        functionName: 'fill',
        args: fillArgs,
        account: taker.address,
      })
      .then(
        () => null,
        (error: Error) => error,
      );
    expect(fill?.message).toMatch(/OrderWasCancelled/);
  });

  it('offers no on-chain cancel for an order the chain already refuses', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const order = await newOrder(maker);
    const { hash } = await place(maker, order);
    await cancelOnChain(maker.clients, { marketplace, order });
    await indexer.syncOnce();
    const signature = await signOrderCancel(maker, { marketplace, chainId: anvil.chainId, orderHash: hash });
    const res = await t.app.inject({ method: 'DELETE', url: `/v1/orders/${hash}`, payload: { signature } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().onChain).toMatchObject({ executable: false, cancel: null });
  });
});

// ------------------------------------------------------------------ fills (through the relayer)

async function intentFor(
  taker: Investor,
  orderHash: Hex,
  amount: bigint,
  overrides: Partial<FillIntent> = {},
) {
  const intent: FillIntent = {
    orderHash,
    taker: taker.address,
    amount,
    maxCost: maxUint256,
    nonce: BigInt(Math.floor(Math.random() * 1e15)),
    deadline: (await chainNow()) + 600n,
    ...overrides,
  };
  return intent;
}

async function postFill(hash: string, intent: FillIntent, signature: Hex, permit?: Record<string, string>) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/orders/${hash}/fills`,
    payload: {
      intent: Object.fromEntries(
        Object.entries(intent).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]),
      ),
      signature,
      ...(permit ? { permit } : {}),
    },
  });
}

async function signedFill(taker: Investor, hash: Hex, amount: bigint, overrides: Partial<FillIntent> = {}) {
  const intent = await intentFor(taker, hash, amount, overrides);
  return { intent, signature: await signFillIntent(taker, { marketplace, chainId: anvil.chainId, intent }) };
}

type FillBody = {
  id: string;
  status: string;
  amount: string;
  txHash: string | null;
  blockNumber: string | null;
  cost: string | null;
  failure: { code: string; reason: string } | null;
};

async function getFillBody(hash: string, id: string): Promise<FillBody> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/orders/${hash}/fills/${id}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as FillBody;
}

/** Polls the fill, running `sync` (an indexer pass) before each read, until `done` says so. */
async function pollFill(
  hash: string,
  id: string,
  sync: () => Promise<unknown>,
  done: (body: FillBody) => boolean,
): Promise<FillBody> {
  let body: FillBody | undefined;
  for (let i = 0; i < 400; i++) {
    await sync();
    body = await getFillBody(hash, id);
    if (done(body)) return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`fill ${id} still ${body?.status}`);
}

/** Polls the fill (syncing the indexer, whose blocks are final at once) until confirmed or failed. */
async function settled(hash: string, id: string): Promise<FillBody> {
  return pollFill(
    hash,
    id,
    () => indexer.syncOnce(),
    (body) => body.status === 'confirmed' || body.status === 'failed',
  );
}

describe('POST /v1/orders/:hash/fills', () => {
  it('relays a partial fill with a permit: confirmed from the indexer, remaining shrinks, listed in trades', async () => {
    const maker = await investor({ holdA: tokens(100n) });
    const taker = await investor({ funds: usd(1_000n) });
    const order = await newOrder(maker, { sellAmount: tokens(100n), price: usd(90n) });
    const { hash } = await place(maker, order);
    const amount = tokens(40n);
    const { intent, signature } = await signedFill(taker, hash, amount);
    const domain = await readPermitDomain(deployer.publicClient, { token: payToken, owner: taker.address });
    const permitSignature = await taker.signTypedData(
      permitTypedData({
        token: payToken,
        chainId: anvil.chainId,
        name: domain.name,
        version: domain.version,
        owner: taker.address,
        spender: marketplace,
        value: usd(36n),
        nonce: domain.nonce,
        deadline: intent.deadline,
      }),
    );
    const res = await postFill(hash, intent, signature, {
      value: usd(36n).toString(),
      deadline: intent.deadline.toString(),
      signature: permitSignature,
    });
    expect(res.statusCode, res.body).toBe(202);
    const accepted = res.json() as { id: string; status: string; txHash: string };
    expect(accepted.status).toBe('pending');
    const replay = await postFill(hash, intent, signature, {
      value: usd(36n).toString(),
      deadline: intent.deadline.toString(),
      signature: permitSignature,
    });
    expect(replay.statusCode).toBe(202);
    expect(replay.json().id).toBe(accepted.id);

    const fill = await settled(hash, accepted.id);
    expect(fill).toMatchObject({ status: 'confirmed', cost: usd(36n).toString() });
    const filledOnChain = await deployer.publicClient.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'filled',
      args: [hash],
    });
    expect(filledOnChain).toBe(amount);
    const listed = (await book(`maker=${maker.address}`)).items.find((i) => i.hash === hash);
    expect(listed?.remaining).toBe((order.sellAmount - amount).toString());

    const trades = await t.app.inject({ method: 'GET', url: `/v1/trades?account=${taker.address}` });
    expect(trades.statusCode).toBe(200);
    expect(trades.json().items).toEqual([
      expect.objectContaining({
        orderHash: hash,
        maker: maker.address,
        taker: getAddress(taker.address),
        amount: amount.toString(),
        // the OrderFilled event names the intent's nonce
        nonce: intent.nonce.toString(),
      }),
    ]);
    const byTranche = await t.app.inject({ method: 'GET', url: `/v1/trades?tranche=${trancheA}&limit=1` });
    expect(byTranche.json().items).toHaveLength(1);
  });

  it('the admin raises the fee above the maxFeeBps of an order in the book: its fills are refused (409 OrderFeeAboveMax), nothing stored or sent; at the bound again they go through', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const taker = await investor({ funds: usd(100n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const order = await newOrder(maker, { maxFeeBps: 0 });
    const { hash } = await place(maker, order);
    await setMarketplaceFee(25);
    try {
      const { intent, signature } = await signedFill(taker, hash, tokens(1n));
      const [fills, nonce] = [await fillCount(), await relayerNonce()];
      const res = await postFill(hash, intent, signature);
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().details).toMatchObject({ reason: 'OrderFeeAboveMax', feeBps: 25, maxFeeBps: 0 });
      expect(await fillCount()).toBe(fills);
      expect(await relayerNonce()).toBe(nonce);
    } finally {
      await setMarketplaceFee(0);
    }
    const { intent, signature } = await signedFill(taker, hash, tokens(1n));
    const ok = await postFill(hash, intent, signature);
    expect(ok.statusCode, ok.body).toBe(202);
    expect(await settled(hash, ok.json().id)).toMatchObject({ status: 'confirmed', fee: '0' });
  });

  it('rejects bad fills with a clear code: nothing stored, nothing sent', async () => {
    const maker = await investor({ holdA: tokens(20n) });
    const taker = await investor({ funds: usd(100n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const { hash } = await place(maker, await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) }));
    const wholeOrder = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n), partialFill: false });
    const whole = await place(maker, wholeOrder);
    const fills = await fillCount();
    const nonce = await relayerNonce();
    const expectCode = async (res: Awaited<ReturnType<typeof postFill>>, status: number, code: string) => {
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json().code, res.body).toBe(code);
      return res.json();
    };

    const good = await signedFill(taker, hash, tokens(1n));
    const stranger = privateKeyToAccount(keccak256(toHex('fill stranger')));
    await expectCode(
      await postFill(
        hash,
        good.intent,
        await signFillIntent(stranger, { marketplace, chainId: anvil.chainId, intent: good.intent }),
      ),
      401,
      'SIGNATURE_INVALID',
    );
    await expectCode(
      await postFill(
        hash,
        good.intent,
        await signFillIntent(taker, { marketplace, chainId: 1, intent: good.intent }),
      ),
      401,
      'SIGNATURE_INVALID',
    );
    const late = await signedFill(taker, hash, tokens(1n), { deadline: (await chainNow()) - 1n });
    await expectCode(await postFill(hash, late.intent, late.signature), 410, 'ORDER_EXPIRED');
    const part = await signedFill(taker, whole.hash, tokens(5n));
    await expectCode(await postFill(whole.hash, part.intent, part.signature), 422, 'VALIDATION_FAILED');
    const cheap = await signedFill(taker, hash, tokens(10n), { maxCost: usd(9n) - 1n });
    await expectCode(await postFill(hash, cheap.intent, cheap.signature), 422, 'VALIDATION_FAILED');

    const outsider = await investor({ allowlist: false, funds: usd(100n) });
    const out = await signedFill(outsider, hash, tokens(1n));
    await expectCode(await postFill(hash, out.intent, out.signature), 403, 'NOT_ALLOWLISTED');
    const poor = await investor({ funds: 1n });
    const poorFill = await signedFill(poor, hash, tokens(1n));
    expect(
      (await expectCode(await postFill(hash, poorFill.intent, poorFill.signature), 422, 'VALIDATION_FAILED'))
        .details[0].reason,
    ).toBe('INSUFFICIENT_BALANCE');
    const unapproved = await investor({ funds: usd(100n) });
    const noAllowance = await signedFill(unapproved, hash, tokens(1n));
    expect(
      (
        await expectCode(
          await postFill(hash, noAllowance.intent, noAllowance.signature),
          422,
          'VALIDATION_FAILED',
        )
      ).details[0].reason,
    ).toBe('INSUFFICIENT_ALLOWANCE');
    const otherOrder = await signedFill(taker, whole.hash, tokens(10n));
    await expectCode(await postFill(hash, otherOrder.intent, otherOrder.signature), 422, 'VALIDATION_FAILED');
    for (const amount of ['0', '-5', '2.5', (maxUint256 + 1n).toString()]) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/orders/${hash}/fills`,
        payload: {
          intent: {
            ...JSON.parse(JSON.stringify(good.intent, (_, v) => (typeof v === 'bigint' ? v.toString() : v))),
            amount,
          },
          signature: good.signature,
        },
      });
      await expectCode(res, 400, 'VALIDATION_FAILED');
    }
    expect(await fillCount()).toBe(fills);
    expect(await relayerNonce()).toBe(nonce);
  });

  it('two takers racing for one all-or-nothing order: one fill lands, the other gets 409 (nothing left counting the pending fill)', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const takers = [await investor({ funds: usd(100n) }), await investor({ funds: usd(100n) })];
    for (const taker of takers)
      await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n), partialFill: false });
    const { hash } = await place(maker, order);
    const signed = await Promise.all(takers.map((taker) => signedFill(taker, hash, order.sellAmount)));
    const nonceBefore = await relayerNonce();
    const results = await Promise.all(signed.map((s) => postFill(hash, s.intent, s.signature)));
    const accepted = results.filter((r) => r.statusCode === 202);
    const refused = results.filter((r) => r.statusCode !== 202);
    expect(accepted).toHaveLength(1);
    expect(accepted[0].json().amount).toBe(order.sellAmount.toString());
    expect(refused).toHaveLength(1);
    expect(refused[0].statusCode).toBe(409);
    expect(refused[0].json().details).toMatchObject({ reason: 'OrderOverfilled', remaining: '0' });
    const fill = await settled(hash, accepted[0].json().id);
    expect(fill).toMatchObject({ status: 'confirmed', amount: order.sellAmount.toString() });
    expect(await relayerNonce()).toBe(nonceBefore + 1);
    expect(await t.db.prisma.orderFill.count({ where: { orderHash: hash } })).toBe(1);
    const winner = takers[results.indexOf(accepted[0])];
    const filledOnChain = await deployer.publicClient.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'filled',
      args: [hash],
    });
    expect(filledOnChain).toBe(order.sellAmount);
    const events = await t.db.prisma.orderFilledEvent.findMany({ where: { orderHash: hash } });
    expect(events.map((e) => e.taker)).toEqual([getAddress(winner.address)]);
    expect((await book(`maker=${maker.address}`)).items).toEqual([]);
  });

  it('two takers racing for 7 of a 10-token partial order: the first takes 7, the second the remaining 3, a third gets 409', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const takers = [await investor({ funds: usd(100n) }), await investor({ funds: usd(100n) })];
    const late = await investor({ funds: usd(100n) });
    for (const taker of [...takers, late])
      await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) });
    const { hash } = await place(maker, order);
    const signed = await Promise.all(takers.map((taker) => signedFill(taker, hash, tokens(7n))));
    const results = await Promise.all(signed.map((s) => postFill(hash, s.intent, s.signature)));
    for (const res of results) expect(res.statusCode, res.body).toBe(202);
    const answered = results.map((r) => r.json() as { id: string; amount: string });
    expect(answered.map((a) => a.amount).sort()).toEqual([tokens(3n).toString(), tokens(7n).toString()]);
    const fills = await Promise.all(answered.map((a) => settled(hash, a.id)));
    for (const [i, fill] of fills.entries()) {
      expect(fill).toMatchObject({ status: 'confirmed', amount: answered[i].amount });
      expect(fill.cost).toBe(fillCost(order, BigInt(answered[i].amount)).toString());
    }
    const filledOnChain = await deployer.publicClient.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'filled',
      args: [hash],
    });
    expect(filledOnChain).toBe(order.sellAmount);
    // nothing left (the index has both fills): a clear 409
    const third = await signedFill(late, hash, tokens(1n));
    const refused = await postFill(hash, third.intent, third.signature);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().details).toMatchObject({ orderHash: hash, status: 'filled' });
  });

  it('a 1-wei fill front-running a relayed fill of the whole order: the relayed fill takes the rest (amount from its OrderFilled event)', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const taker = await investor({ funds: usd(100n) });
    const attacker = await investor({ funds: usd(1n) });
    for (const account of [taker, attacker]) {
      await approve(account.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    }
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) });
    const { hash } = await place(maker, order);
    const makerSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order });
    const s = await signedFill(taker, hash, order.sellAmount, { maxCost: order.price });
    await deployer.publicClient.request({ method: 'evm_setAutomine' as never, params: [false] as never });
    let accepted: { id: string; amount: string };
    try {
      const res = await postFill(hash, s.intent, s.signature);
      expect(res.statusCode, res.body).toBe(202);
      accepted = res.json();
      expect(accepted.amount).toBe(order.sellAmount.toString());
      // the attacker's 1-wei fill outbids the relayed one in the same block (anvil orders by priority fee)
      const frontRun = attacker.clients.walletClient.writeContract({
        address: marketplace,
        abi: marketplaceAbi,
        functionName: 'fill',
        args: [order, makerSignature, 1n],
        gas: 500_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 10n ** 11n,
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await deployer.publicClient.request({ method: 'evm_mine' as never, params: [] as never });
      await frontRun;
    } finally {
      await deployer.publicClient.request({ method: 'evm_setAutomine' as never, params: [true] as never });
    }
    const fill = await settled(hash, accepted.id);
    const rest = order.sellAmount - 1n;
    expect(fill).toMatchObject({ status: 'confirmed', amount: rest.toString() });
    expect(fill.cost).toBe(fillCost(order, rest).toString());
    expect(BigInt(fill.cost ?? '0')).toBeLessThanOrEqual(order.price);
    const events = await t.db.prisma.orderFilledEvent.findMany({
      where: { orderHash: hash },
      orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
    });
    expect(events.map((e) => [e.taker, e.amount.toString()])).toEqual([
      [getAddress(attacker.address), '1'],
      [getAddress(taker.address), rest.toString()],
    ]);
    const again = await signedFill(taker, hash, order.sellAmount);
    const refused = await postFill(hash, again.intent, again.signature);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().details).toMatchObject({ orderHash: hash, status: 'filled' });
  });

  it('a fill larger than what is left on-chain is accepted for what is left, priced on it', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const taker = await investor({ funds: usd(100n) });
    const attacker = await investor({ funds: usd(1n) });
    for (const account of [taker, attacker]) {
      await approve(account.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    }
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) });
    const { hash } = await place(maker, order);
    const makerSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order });
    const tx = await attacker.clients.walletClient.writeContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'fill',
      args: [order, makerSignature, 1n],
      chain: attacker.clients.chain,
      account: attacker.clients.account,
    });
    await deployer.publicClient.waitForTransactionReceipt({ hash: tx });
    const rest = order.sellAmount - 1n;
    // maxCost covers what is left, not the whole order: still accepted
    const s = await signedFill(taker, hash, order.sellAmount, { maxCost: fillCost(order, rest) });
    const res = await postFill(hash, s.intent, s.signature);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().amount).toBe(rest.toString());
    expect(await settled(hash, res.json().id)).toMatchObject({
      status: 'confirmed',
      amount: rest.toString(),
    });
  });

  it('a relayed fill that loses the race on-chain ends failed with the decoded reason', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const apiTaker = await investor({ funds: usd(100n) });
    const directTaker = await investor({ funds: usd(100n) });
    for (const taker of [apiTaker, directTaker]) {
      await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    }
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n), partialFill: false });
    const { hash } = await place(maker, order);
    const makerSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order });
    const s = await signedFill(apiTaker, hash, order.sellAmount);
    await deployer.publicClient.request({ method: 'evm_setAutomine' as never, params: [false] as never });
    let accepted: { id: string };
    try {
      const res = await postFill(hash, s.intent, s.signature);
      expect(res.statusCode, res.body).toBe(202);
      accepted = res.json();
      // the direct fill outbids the relayed one in the same block (anvil orders by priority fee)
      const direct = directTaker.clients.walletClient.writeContract({
        address: marketplace,
        abi: marketplaceAbi,
        functionName: 'fill',
        args: [order, makerSignature, order.sellAmount],
        gas: 500_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 10n ** 11n,
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await deployer.publicClient.request({ method: 'evm_mine' as never, params: [] as never });
      await direct.catch(() => undefined);
    } finally {
      await deployer.publicClient.request({ method: 'evm_setAutomine' as never, params: [true] as never });
    }
    const fill = await settled(hash, accepted.id);
    expect(fill.status).toBe('failed');
    expect(fill.failure?.reason).toMatch(/OrderOverfilled/);
  });
});

describe('fill settlement: reorgs and crashes around the relay', () => {
  /** An indexer on the same cursor that leaves the new blocks unfinalized (finality never moves back). */
  const unfinalizing = () =>
    createIndexer({ db: t.db, publicClient: deployer.publicClient, stack, confirmations: 1_000 });

  it('a fill whose OrderFilled event a reorg removes goes back to pending, then confirms once re-included', async () => {
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const maker = await investor({ holdA: tokens(10n) });
    const taker = await investor({ funds: usd(100n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const { hash } = await place(maker, await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) }));
    const { intent, signature } = await signedFill(taker, hash, tokens(4n));
    await indexer.syncOnce();
    const slow = unfinalizing();
    const snapshot = await testClient.snapshot();

    const res = await postFill(hash, intent, signature);
    expect(res.statusCode, res.body).toBe(202);
    const { id } = res.json() as { id: string };
    const mined = await pollFill(
      hash,
      id,
      () => slow.syncOnce(),
      (b) => b.status !== 'pending' && b.cost !== null,
    );
    expect(mined).toMatchObject({ status: 'mined', cost: (usd(36n) / 10n).toString() });
    expect(await t.db.prisma.orderFilledEvent.count({ where: { orderHash: hash } })).toBe(1);

    // the fill's block leaves the chain; the new branch passes its height without it
    await testClient.revert({ id: snapshot });
    await testClient.mine({ blocks: 2 });
    await slow.syncOnce();
    expect(await t.db.prisma.orderFilledEvent.count({ where: { orderHash: hash } })).toBe(0);
    const back = await getFillBody(hash, id);
    expect(back.status).toBe('pending');
    expect((await t.db.prisma.orderFill.findUniqueOrThrow({ where: { id } })).status).toBe('pending');

    // the relayer sends it again: mined at a new block, confirmed once that block is final
    const again = await pollFill(
      hash,
      id,
      () => slow.syncOnce(),
      (b) => b.status !== 'pending' && b.cost !== null,
    );
    expect(again.status).toBe('mined');
    expect(BigInt(again.blockNumber ?? 0)).toBeGreaterThan(BigInt(mined.blockNumber ?? 0));
    const done = await settled(hash, id);
    expect(done).toMatchObject({ status: 'confirmed', blockNumber: again.blockNumber });
    const filledOnChain = await deployer.publicClient.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'filled',
      args: [hash],
    });
    expect(filledOnChain).toBe(tokens(4n));
  }, 90_000);

  it('a fill a reorg removes, whose order someone else filled on the new branch, ends failed', async () => {
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const maker = await investor({ holdA: tokens(10n) });
    const apiTaker = await investor({ funds: usd(100n) });
    const directTaker = await investor({ funds: usd(100n) });
    for (const taker of [apiTaker, directTaker]) {
      await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    }
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n), partialFill: false });
    const { hash } = await place(maker, order);
    const makerSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order });
    const { intent, signature } = await signedFill(apiTaker, hash, order.sellAmount);
    await indexer.syncOnce();
    const slow = unfinalizing();
    const snapshot = await testClient.snapshot();

    const res = await postFill(hash, intent, signature);
    expect(res.statusCode, res.body).toBe(202);
    const { id } = res.json() as { id: string };
    expect(
      (
        await pollFill(
          hash,
          id,
          () => slow.syncOnce(),
          (b) => b.status !== 'pending',
        )
      ).status,
    ).toBe('mined');

    await testClient.revert({ id: snapshot });
    const direct = await directTaker.clients.walletClient.writeContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'fill',
      args: [order, makerSignature, order.sellAmount],
      chain: directTaker.clients.chain,
      account: directTaker.clients.account,
    });
    await deployer.publicClient.waitForTransactionReceipt({ hash: direct });
    await slow.syncOnce();
    expect((await getFillBody(hash, id)).status).toBe('pending');

    const done = await pollFill(
      hash,
      id,
      () => indexer.syncOnce(),
      (b) => b.status === 'failed' || b.status === 'confirmed',
    );
    expect(done.status).toBe('failed');
    expect(done.failure?.reason).toMatch(/OrderOverfilled/);
  }, 90_000);

  it('a fill whose process died before relayer.submit: the same signed intent again relays that fill', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const taker = await investor({ funds: usd(100n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const { hash } = await place(maker, await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) }));
    const { intent, signature } = await signedFill(taker, hash, tokens(10n));
    // what submitFill stores before relaying; the process dies before relayer.submit
    const id = randomUUID();
    await t.db.prisma.orderFill.create({ data: fillRowData(id, hash, intent, signature) });

    const res = await postFill(hash, intent, signature);
    expect(res.statusCode, res.body).toBe(202);
    expect((res.json() as { id: string }).id).toBe(id);
    expect(await settled(hash, id)).toMatchObject({ status: 'confirmed' });
    expect(await t.db.prisma.orderFill.count({ where: { orderHash: hash } })).toBe(1);
  }, 90_000);

  it('a fill whose process died between relayer.submit and writing relayTxId: found by its key, counted once', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const takers = [await investor({ funds: usd(100n) }), await investor({ funds: usd(100n) })];
    for (const taker of takers) {
      await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    }
    const order = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) });
    const { hash } = await place(maker, order);
    const makerSignature = await signOrder(maker, { marketplace, chainId: anvil.chainId, order });
    const { intent, signature } = await signedFill(takers[0], hash, tokens(4n));

    // what submitFill stores before relaying, then the relay itself; the process dies before the link
    const id = randomUUID();
    const key = fillIdempotencyKey(hash, intent.taker, intent.nonce);
    await t.db.prisma.orderFill.create({ data: fillRowData(id, hash, intent, signature) });
    const { relayer } = await t.app.trading();
    const relayTx = await relayer.submit({
      idempotencyKey: key,
      kind: 'fillWithSig',
      to: marketplace,
      abi: marketplaceAbi,
      functionName: 'fillWithSig',
      args: fillWithSigArgs({ order, makerSignature, intent, takerSignature: signature }),
      refId: id,
    });
    for (let i = 0; i < 400; i++) {
      const row = await t.db.prisma.relayTx.findUniqueOrThrow({ where: { id: relayTx.id } });
      if (row.status !== 'pending') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await indexer.syncOnce();
    expect((await t.db.prisma.orderFill.findUniqueOrThrow({ where: { id } })).relayTxId).toBeNull();

    // 4 of 10 filled on-chain: the other 6 can be taken (the crashed fill counts once, not twice)
    const rest = await signedFill(takers[1], hash, tokens(6n));
    const restRes = await postFill(hash, rest.intent, rest.signature);
    expect(restRes.statusCode, restRes.body).toBe(202);

    // the crashed fill's row finds its relay row by key, settles, and the same intent again is that fill
    expect(await settled(hash, id)).toMatchObject({ status: 'confirmed', txHash: relayTx.txHash });
    expect((await t.db.prisma.orderFill.findUniqueOrThrow({ where: { id } })).relayTxId).toBe(relayTx.id);
    const replay = await postFill(hash, intent, signature);
    expect([replay.statusCode, replay.json().id]).toEqual([202, id]);
    expect(await settled(hash, (restRes.json() as { id: string }).id)).toMatchObject({ status: 'confirmed' });
    const orderRes = await t.app.inject({ method: 'GET', url: `/v1/orders/${hash}` });
    expect(orderRes.json()).toMatchObject({ status: 'filled', remaining: '0' });
  }, 90_000);
});

describe('POST /v1/intents/invalidations (fill intents)', () => {
  const invalidationOf = (account: Address, nonce: bigint, deadline: bigint) =>
    nonceInvalidationTypedData({
      domain: marketplaceDomain({ marketplace, chainId: anvil.chainId }),
      invalidation: { account, nonce, deadline },
    });
  const invalidate = (body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/v1/intents/invalidations', payload: body });

  it('relays the taker’s signed invalidation; once mined, the signed fill intent is refused (NONCE_INVALID) and nothing is relayed', async () => {
    const maker = await investor({ holdA: tokens(20n) });
    const taker = await investor({ funds: usd(100n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const { hash } = await place(maker, await newOrder(maker));
    const { intent, signature } = await signedFill(taker, hash, tokens(1n));
    const deadline = (await chainNow()) + 600n;
    const body = {
      contract: 'marketplace',
      account: taker.address,
      nonce: intent.nonce.toString(),
      deadline: deadline.toString(),
    };

    const stranger = privateKeyToAccount(keccak256(toHex('invalidation stranger')));
    const before = { fills: await fillCount(), nonce: await relayerNonce() };
    const forged = await invalidate({
      ...body,
      signature: await stranger.signTypedData(invalidationOf(taker.address, intent.nonce, deadline)),
    });
    expect(forged.statusCode, forged.body).toBe(401);
    expect(forged.json().code).toBe('SIGNATURE_INVALID');
    expect(await relayerNonce()).toBe(before.nonce);

    const res = await invalidate({
      ...body,
      signature: await taker.signTypedData(invalidationOf(taker.address, intent.nonce, deadline)),
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({
      contract: 'marketplace',
      verifyingContract: marketplace,
      status: 'pending',
    });
    const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash: res.json().txHash });
    expect(receipt.status).toBe('success');
    expect(
      await deployer.publicClient.readContract({
        address: marketplace,
        abi: marketplaceAbi,
        functionName: 'nonceUsed',
        args: [taker.address, intent.nonce],
      }),
    ).toBe(true);

    const nonce = await relayerNonce();
    const refused = await postFill(hash, intent, signature);
    expect(refused.statusCode, refused.body).toBe(401);
    expect(refused.json().code).toBe('NONCE_INVALID');
    expect(await fillCount()).toBe(before.fills);
    expect(await relayerNonce()).toBe(nonce);
  });
});

describe('Dutch orders (decaying price)', () => {
  const wallNow = () => BigInt(Math.floor(Date.now() / 1000));

  it('rejects a decay that rises or ends before it starts (422, reason the revert) and stores nothing', async () => {
    const maker = await investor({ holdA: tokens(10n) });
    const before = await orderCount();
    const now = await chainNow();
    const cases: [Partial<Order>, string, string | undefined][] = [
      [
        { startPriceBps: 9_000, endPriceBps: 9_001, decayStart: now, decayEnd: now + 100n },
        'body.order.endPriceBps',
        'OrderDecayPriceRises',
      ],
      [
        { startPriceBps: 10_000, endPriceBps: 9_000, decayStart: now + 100n, decayEnd: now + 99n },
        'body.order.decayEnd',
        'OrderDecayEndsBeforeStart',
      ],
      [{ startPriceBps: 10_000, endPriceBps: 9_000, decayStart: now }, 'body.order.decayEnd', undefined],
      [
        { startPriceBps: 0, endPriceBps: 0, decayStart: now, decayEnd: now + 1n },
        'body.order.startPriceBps',
        undefined,
      ],
    ];
    for (const [overrides, path, reason] of cases) {
      const order = await newOrder(maker, overrides);
      const res = await post(order, await signOrder(maker, { marketplace, chainId: anvil.chainId, order }));
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().code).toBe('VALIDATION_FAILED');
      expect(res.json().details[0]).toMatchObject({ path, ...(reason ? { reason } : {}) });
    }
    expect(await orderCount()).toBe(before);
  });

  it('the book shows the current price and sorts by it', async () => {
    const maker = await investor({ holdA: tokens(100n) });
    const wall = wallNow();
    // per token now: fixed 0.9; `ended` decayed from 1.0 to 0.8 an hour ago; `later` starts at 1.0 (125% of
    // 0.8) in an hour: by reference price `later` would come first and `ended` last
    const fixed = await newOrder(maker, { sellAmount: tokens(10n), price: usd(9n) });
    const ended = await newOrder(maker, {
      sellAmount: tokens(10n),
      price: usd(10n),
      startPriceBps: 10_000,
      endPriceBps: 8_000,
      decayStart: wall - 7_200n,
      decayEnd: wall - 3_600n,
    });
    const later = await newOrder(maker, {
      sellAmount: tokens(10n),
      price: usd(8n),
      startPriceBps: 12_500,
      endPriceBps: 10_000,
      decayStart: wall + 3_600n,
      decayEnd: wall + 7_200n,
    });
    const hashes = [];
    for (const order of [later, fixed, ended]) hashes.push((await place(maker, order)).hash);
    const [laterHash, fixedHash, endedHash] = hashes;

    const res = await t.app.inject({ method: 'GET', url: `/v1/orders?maker=${maker.address}` });
    expect(res.statusCode, res.body).toBe(200);
    const items = res.json().items as {
      hash: string;
      currentPrice: string;
      priceAsOf: string;
      order: Record<string, unknown>;
    }[];
    expect(items.map((i) => i.hash)).toEqual([endedHash, fixedHash, laterHash]);
    expect(items.map((i) => i.currentPrice)).toEqual([usd(8n), usd(9n), usd(10n)].map(String));
    expect(items[0].order).toMatchObject({
      startPriceBps: 10_000,
      endPriceBps: 8_000,
      decayStart: ended.decayStart.toString(),
      decayEnd: ended.decayEnd.toString(),
    });
    expect(items[1].order).toMatchObject({
      startPriceBps: 0,
      endPriceBps: 0,
      decayStart: '0',
      decayEnd: '0',
    });

    // walked one by one: the same order, every page priced at the first page's time
    const seen: string[] = [];
    const times = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await t.app.inject({
        method: 'GET',
        url: `/v1/orders?maker=${maker.address}&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      });
      const body = page.json() as { items: { hash: string; priceAsOf: string }[]; nextCursor: string | null };
      seen.push(...body.items.map((i) => i.hash));
      for (const i of body.items) times.add(i.priceAsOf);
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual([endedHash, fixedHash, laterHash]);
    expect(times.size).toBe(1);
  });

  it('the TS priceAt and the SQL price of the book are Marketplace.priceAt exactly', async () => {
    const maker = await investor();
    const base = await newOrder(maker);
    const cases: [Order, bigint][] = [];
    let seed = 7n;
    const next = (mod: bigint) => {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      return seed % mod;
    };
    for (let i = 0; i < 40; i++) {
      const a = Number(next(65_536n));
      const b = Number(next(65_536n));
      const decayStart = next(2n ** 40n);
      const order = {
        ...base,
        price: next(2n ** 120n),
        startPriceBps: Math.max(a, b),
        endPriceBps: Math.min(a, b),
        decayStart,
        decayEnd: decayStart + next(2n ** 20n),
      };
      cases.push([order, decayStart - 10n + next(2n ** 20n + 20n)]);
    }
    for (const [order, at] of cases) {
      const onChain = await deployer.publicClient.readContract({
        address: marketplace,
        abi: marketplaceAbi,
        functionName: 'priceAt',
        args: [order, at],
      });
      expect(priceAt(order, at)).toBe(onChain);
      const [{ p }] = await t.db.prisma.$queryRawUnsafe<{ p: string }[]>(
        `SELECT ${currentPriceSql('$1::numeric')}::text AS p
         FROM (VALUES ($2::numeric, $3::int, $4::int, $5::numeric, $6::numeric))
           AS o(price, start_price_bps, end_price_bps, decay_start, decay_end)`,
        at.toString(),
        order.price.toString(),
        order.startPriceBps,
        order.endPriceBps,
        order.decayStart.toString(),
        order.decayEnd.toString(),
      );
      expect(BigInt(p)).toBe(onChain);
    }
  });

  it('a Dutch order filled at two different timestamps pays the two prices (over REST, relayed)', async () => {
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const maker = await investor({ holdA: tokens(100n) });
    const taker = await investor({ funds: usd(1_000n) });
    await approve(taker.clients, { token: payToken, spender: marketplace, amount: maxUint256 });
    const t0 = await chainNow();
    // 100 tokens for 90 USD in total, from 110% (99 USD) at t0 + 1000 down to 80% (72 USD) at t0 + 5000
    const order = await newOrder(maker, {
      sellAmount: tokens(100n),
      price: usd(90n),
      startPriceBps: 11_000,
      endPriceBps: 8_000,
      decayStart: t0 + 1_000n,
      decayEnd: t0 + 5_000n,
    });
    const placed = (await place(maker, order)) as unknown as {
      hash: Hex;
      currentPrice: string;
      priceAsOf: string;
    };
    expect(placed.currentPrice).toBe(priceAt(order, BigInt(placed.priceAsOf)).toString());
    const { hash } = placed;
    const amount = tokens(10n);
    const balanceBefore = await deployer.publicClient.readContract({
      address: payToken,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [taker.address],
    });

    const fillAt = async (timestamp: bigint) => {
      // the taker signs for the start price: the chain charges the price of the block the fill lands in
      const { intent, signature } = await signedFill(taker, hash, amount, {
        maxCost: fillCost(order, amount, 0n),
        deadline: t0 + 10_000n,
      });
      await testClient.setNextBlockTimestamp({ timestamp });
      const res = await postFill(hash, intent, signature);
      expect(res.statusCode, res.body).toBe(202);
      const fill = await settled(hash, res.json().id);
      expect(fill.status).toBe('confirmed');
      const block = await deployer.publicClient.getBlock({ blockNumber: BigInt(fill.blockNumber as string) });
      expect(block.timestamp).toBe(timestamp);
      return BigInt(fill.cost as string);
    };

    const first = await fillAt(t0 + 2_000n); // 102.5%: 92.25 USD for 100 tokens
    const second = await fillAt(t0 + 4_000n); // 87.5%: 78.75 USD for 100 tokens
    expect(first).toBe(9_225_000n);
    expect(second).toBe(7_875_000n);
    expect(first).toBe(fillCost(order, amount, t0 + 2_000n));
    expect(second).toBe(fillCost(order, amount, t0 + 4_000n));
    const balanceAfter = await deployer.publicClient.readContract({
      address: payToken,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [taker.address],
    });
    expect(balanceBefore - balanceAfter).toBe(first + second);

    // a maxCost below the price now (not yet the end price) is refused up front: nothing stored or sent
    const fills = await fillCount();
    const nonce = await relayerNonce();
    const { intent, signature } = await signedFill(taker, hash, amount, {
      maxCost: fillCost(order, amount, t0 + 5_000n),
      deadline: t0 + 10_000n,
    });
    const low = await postFill(hash, intent, signature);
    expect(low.statusCode, low.body).toBe(422);
    expect(low.json().details[0]).toMatchObject({
      path: 'body.intent.maxCost',
      reason: 'IntentCostExceedsMax',
    });
    expect(await fillCount()).toBe(fills);
    expect(await relayerNonce()).toBe(nonce);
  });
});
