import {
  type Address,
  getAddress,
  type Hex,
  keccak256,
  maxUint256,
  type TypedDataDefinition,
  toHex,
} from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  approve,
  createPortfolio,
  mintTestStablecoin,
  nonceInvalidationTypedData,
  readTrancheState,
} from '../../core/chain/actions.ts';
import { type ChainClients, withAccount } from '../../core/chain/clients.ts';
import { COMPLIANCE_ROLE, type DeployedStack } from '../../core/chain/deploy.ts';
import { complianceRegistryAbi, portfolioAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { createIndexer, type Indexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { recordPublishedPortfolio } from '../helpers/portfolio.ts';
import { createStackApp, type StackApp, setFrozen, startStack } from '../helpers/stack.ts';

const DAY = 24 * 3600;
/** TestStablecoin has 6 decimals: 10^12 tranche-token base units are one pay unit of face. */
const SCALE = 10n ** 12n;
const TOKEN = 10n ** 18n;

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let testClient: ReturnType<typeof createAnvilTestClient>;
let app: StackApp;
let t: TestApp;
let admin: Headers;
let issuer: Headers;
let indexer: Indexer;

/** Chain time (seconds) of the latest block. */
async function chainNow(): Promise<bigint> {
  return (await deployer.publicClient.getBlock()).timestamp;
}

beforeAll(async () => {
  const chain = await startStack({ accounts: 4 });
  ({ anvil, deployer, stack } = chain);
  testClient = createAnvilTestClient(anvil.rpcUrl);
  // the API's relayer signs with its own key (never the key this test sends setup transactions with)
  const relayerAddress = anvil.accounts[1].address;
  await sendAndWait(deployer, { contract: 'ComplianceRegistry', functionName: 'grantRole' }, () =>
    deployer.walletClient.writeContract({
      address: stack.complianceRegistry,
      abi: complianceRegistryAbi,
      functionName: 'grantRole',
      args: [COMPLIANCE_ROLE, relayerAddress],
    }),
  );
  app = await createStackApp(chain, { name: 'purchases' });
  t = app.t;
  // the chain indexer, run one pass at a time by the tests (final at once: anvil does not reorg here)
  indexer = createIndexer({ db: t.db, publicClient: deployer.publicClient, stack, confirmations: 0 });
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
}, 120_000);

afterAll(async () => {
  await app?.close();
  await anvil?.stop();
});

// ------------------------------------------------------------------ fixtures

type TrancheSpec = { face: bigint; priceBps?: number; couponBps?: number };

/**
 * A portfolio as the publish job leaves it: deployed through the factory (offering open for
 * `offeringDays`) and recorded `published` with its addresses. Returns the tranche row ids.
 */
async function publishedPortfolio(
  tranches: TrancheSpec[] = [{ face: 1_000_000_000n, priceBps: 9_500 }],
  options: { offeringDays?: number } = {},
) {
  const now = await chainNow();
  const specs = tranches.map((tr, i) => ({
    name: `Tranche ${i}`,
    symbol: `T${i}`,
    face: tr.face,
    couponBps: i === tranches.length - 1 ? 0 : (tr.couponBps ?? 500),
    priceBps: tr.priceBps ?? 10_000,
  }));
  const created = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: anvil.accounts[2].address,
    tranches: specs,
    offeringStart: now,
    offeringEnd: now + BigInt((options.offeringDays ?? 365) * DAY),
  });
  const portfolio = await recordPublishedPortfolio(t.db.prisma, {
    name: 'Purchases test',
    servicer: anvil.accounts[2].address,
    chainId: anvil.chainId,
    created: created,
    tranches: specs,
  });
  return {
    portfolioId: portfolio.id,
    portfolio: created.portfolio,
    trancheIds: portfolio.tranches.map((tr) => tr.id),
    tokens: created.tranches,
  };
}

/** A fresh investor: allowlisted on-chain (by the test's deployer key) and funded with `funds` pay units. */
async function investor(options: { funds?: bigint; allowlist?: boolean; key?: Hex } = {}) {
  const key = options.key ?? keccak256(toHex(`investor-${Math.random()}`));
  const account = Object.assign(privateKeyToAccount(key), { key });
  if (options.allowlist ?? true) {
    await allowlistInvestors(deployer, {
      registry: stack.complianceRegistry,
      accounts: [account.address],
      expiry: (await chainNow()) + BigInt(3 * 365 * DAY),
    });
  }
  if ((options.funds ?? 0n) > 0n) {
    await mintTestStablecoin(deployer, {
      token: stack.testStablecoin as Address,
      to: account.address,
      amount: options.funds as bigint,
    });
  }
  return account;
}

type QuoteBody = {
  id: string;
  trancheId: string;
  chainId: number;
  portfolio: Address;
  buyer: Address;
  amount: string;
  cost: string;
  payToken: Address;
  nonce: string;
  deadline: string;
  expiresAt: string;
  typedData: { purchase: TypedDataDefinition; permit: TypedDataDefinition };
};

async function quote(trancheId: string, buyer: Address, amount: bigint | string) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/tranches/${trancheId}/quotes`,
    payload: { buyer, amount: amount.toString() },
  });
}

async function quoteOk(trancheId: string, buyer: Address, amount: bigint): Promise<QuoteBody> {
  const res = await quote(trancheId, buyer, amount);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as QuoteBody;
}

/** The buyer signs the typed data exactly as the API handed it out (JSON, uint256 as strings). */
async function sign(account: PrivateKeyAccount, q: QuoteBody) {
  return {
    quoteId: q.id,
    purchaseSignature: await account.signTypedData(q.typedData.purchase),
    permitSignature: await account.signTypedData(q.typedData.permit),
  };
}

async function purchase(body: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/v1/purchases', payload: body });
}

type PurchaseBody = {
  id: string;
  status: 'pending' | 'mined' | 'confirmed' | 'failed';
  tokens: string | null;
  cost: string | null;
  blockNumber: string | null;
  txHash: string | null;
  reason: string | null;
  revert: string | null;
};

async function getPurchase(id: string): Promise<PurchaseBody> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/purchases/${id}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as PurchaseBody;
}

/** Runs the indexer and polls until every purchase is confirmed or failed (or the timeout). */
async function settled(ids: string[], timeoutMs = 60_000): Promise<PurchaseBody[]> {
  return settledBy(ids, indexOnce, (p) => p.status === 'confirmed' || p.status === 'failed', timeoutMs);
}

/** Runs `sync` (an indexer pass) and polls until `done` holds for every purchase (or the timeout). */
async function settledBy(
  ids: string[],
  sync: () => Promise<unknown>,
  done: (p: PurchaseBody) => boolean,
  timeoutMs = 60_000,
): Promise<PurchaseBody[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    await sync();
    const all = await Promise.all(ids.map(getPurchase));
    if (all.every(done) || Date.now() > until) return all;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One pass of the chain indexer over what anvil has mined so far. */
async function indexOnce(): Promise<void> {
  await indexer.syncOnce();
}

/** What was stored or sent: rejected input must change none of these. */
async function footprint() {
  const [purchases, relayTxs] = await Promise.all([
    t.db.prisma.purchase.count(),
    t.db.prisma.relayTx.count(),
  ]);
  const nonce = await deployer.publicClient.getTransactionCount({ address: anvil.accounts[1].address });
  return { purchases, relayTxs, nonce };
}

// ------------------------------------------------------------------ allowlist

describe('POST /v1/investors/:address/allowlist', () => {
  it('allowlists on-chain through the relayer and mirrors the registry into the investor table on receipt; its status is mined until the Allowlisted event is final, then confirmed', async () => {
    const account = privateKeyToAccount(keccak256(toHex('allowlist-route')));
    const expiresAt = new Date(Number((await chainNow()) + BigInt(30 * DAY)) * 1000);
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/investors/${account.address.toLowerCase()}/allowlist`,
      headers: admin,
      payload: { expiresAt: expiresAt.toISOString() },
    });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body.address).toBe(account.address);
    expect(body.relayTx.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(body.investorRecord).toBe('on-receipt');

    const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash: body.relayTx.txHash });
    expect(receipt.status).toBe('success');
    const allowed = await deployer.publicClient.readContract({
      address: stack.complianceRegistry,
      abi: complianceRegistryAbi,
      functionName: 'isAllowed',
      args: [account.address],
    });
    expect(allowed).toBe(true);
    let row = null;
    for (let i = 0; i < 100 && row === null; i++) {
      row = await t.db.prisma.investor.findFirst({
        where: { address: account.address, allowlistedUntil: { not: null } },
      });
      if (row === null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(row?.allowlistedUntil?.getTime()).toBe(Math.floor(expiresAt.getTime() / 1000) * 1000);
    expect(row?.frozen).toBe(false);

    // the same address and expiry again: the same relay transaction, nothing new sent
    const again = await t.app.inject({
      method: 'POST',
      url: `/v1/investors/${account.address}/allowlist`,
      headers: admin,
      payload: { expiresAt: expiresAt.toISOString() },
    });
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json().relayTx.id).toBe(body.relayTx.id);
    // settled by the state machine: mined until its Allowlisted event is final in the index
    expect(again.json().relayTx.status).toBe('mined');
    await indexer.syncOnce();
    const final = await t.app.inject({
      method: 'POST',
      url: `/v1/investors/${account.address}/allowlist`,
      headers: admin,
      payload: { expiresAt: expiresAt.toISOString() },
    });
    expect(final.statusCode, final.body).toBe(202);
    expect(final.json().relayTx).toEqual({ ...body.relayTx, status: 'confirmed' });
  });

  it('needs an admin key and a future expiry', async () => {
    const address = privateKeyToAccount(keccak256(toHex('allowlist-denied'))).address;
    const url = `/v1/investors/${address}/allowlist`;
    const future = new Date(Date.now() + 30 * DAY * 1000).toISOString();
    const before = await footprint();
    const anonymous = await t.app.inject({ method: 'POST', url, payload: { expiresAt: future } });
    expect(anonymous.statusCode).toBe(401);
    const asIssuer = await t.app.inject({
      method: 'POST',
      url,
      headers: issuer,
      payload: { expiresAt: future },
    });
    expect(asIssuer.statusCode).toBe(403);
    const past = await t.app.inject({
      method: 'POST',
      url,
      headers: admin,
      payload: { expiresAt: new Date(Date.now() - 1000).toISOString() },
    });
    expect(past.statusCode).toBe(422);
    expect(past.json().code).toBe('VALIDATION_FAILED');
    const badAddress = await t.app.inject({
      method: 'POST',
      url: '/v1/investors/0x1234/allowlist',
      headers: admin,
      payload: { expiresAt: future },
    });
    expect(badAddress.statusCode).toBe(400);
    expect(await footprint()).toEqual(before);
  });
});

// ------------------------------------------------------------------ quotes and purchases

describe('quotes and purchases', () => {
  it('quotes the on-chain cost with typed data a wallet can sign, and settles the purchase (confirmed)', async () => {
    const { trancheIds, portfolio, tokens } = await publishedPortfolio([
      { face: 5_000_000_000n, priceBps: 9_500 },
      { face: 1_000_000_000n },
    ]);
    const buyer = await investor({ funds: 10_000_000_000n });
    const amount = 1_234n * TOKEN;
    const q = await quoteOk(trancheIds[0], buyer.address, amount);
    const onChainCost = await deployer.publicClient.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'quote',
      args: [0n, amount],
    });
    expect(q.cost).toBe(onChainCost.toString());
    expect(q.cost).toBe(((1_234n * 1_000_000n * 9_500n) / 10_000n).toString());
    expect(q.buyer).toBe(buyer.address);
    expect(q.portfolio).toBe(portfolio);
    expect(BigInt(q.nonce)).toBeGreaterThan(0n);
    expect(q.typedData.purchase.domain).toEqual({
      name: 'NPL Portfolio',
      version: '1',
      chainId: anvil.chainId,
      verifyingContract: portfolio,
    });
    expect(q.typedData.purchase.message).toEqual({
      buyer: buyer.address,
      trancheId: '0',
      amount: amount.toString(),
      maxCost: q.cost,
      nonce: q.nonce,
      deadline: q.deadline,
    });
    expect(q.typedData.permit.message).toEqual({
      owner: buyer.address,
      spender: portfolio,
      value: q.cost,
      nonce: '0',
      deadline: q.deadline,
    });
    expect(new Date(q.expiresAt).getTime()).toBe(Number(q.deadline) * 1000);

    const res = await purchase(await sign(buyer, q));
    expect(res.statusCode, res.body).toBe(202);
    const accepted = res.json();
    expect(accepted.status).toBe('pending');
    expect(accepted.txHash).toMatch(/^0x[0-9a-f]{64}$/);

    const [done] = await settled([accepted.id]);
    expect(done.status).toBe('confirmed');
    expect(done.tokens).toBe(amount.toString());
    expect(done.cost).toBe(q.cost);
    expect(done.blockNumber).not.toBeNull();
    expect(await trancheBalance(tokens[0], buyer.address)).toBe(amount);
  });

  it('relays without a permit when the buyer approved the cost beforehand', async () => {
    const { trancheIds, portfolio } = await publishedPortfolio();
    const buyer = await investor({ funds: 1_000_000_000n });
    await approveFrom(buyer, portfolio, 1_000_000_000n);
    const q = await quoteOk(trancheIds[0], buyer.address, 10n * TOKEN);
    const { permitSignature: _unused, ...withoutPermit } = await sign(buyer, q);
    const res = await purchase(withoutPermit);
    expect(res.statusCode, res.body).toBe(202);
    const [done] = await settled([res.json().id]);
    expect(done.status).toBe('confirmed');
  });

  it('a purchase that passes every check but loses the race on-chain ends failed with SOLD_OUT', async () => {
    const { trancheIds, portfolio } = await publishedPortfolio([{ face: 100_000_000n }]);
    const buyer = await investor({ funds: 200_000_000n });
    // a direct buyer with its own key outbids the relayer's transaction in the same block
    const rival = Object.assign(privateKeyToAccount(anvil.accounts[3].privateKey), {
      key: anvil.accounts[3].privateKey,
    });
    await investor({ key: rival.key, funds: 200_000_000n });
    await approveFrom(rival, portfolio, 200_000_000n);
    const q = await quoteOk(trancheIds[0], buyer.address, 60n * TOKEN);
    await testClient.setAutomine(false);
    let accepted: Awaited<ReturnType<typeof purchase>>;
    try {
      accepted = await purchase(await sign(buyer, q));
      expect(accepted.statusCode, accepted.body).toBe(202);
      await withAccount(deployer, rival.key).walletClient.writeContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'buy',
        args: [0n, 50n * TOKEN, 50_000_000n],
        gas: 500_000n,
        maxPriorityFeePerGas: 100n * 10n ** 9n,
        maxFeePerGas: 200n * 10n ** 9n,
      });
      await testClient.mine({ blocks: 1 });
    } finally {
      await testClient.setAutomine(true);
    }
    const [done] = await settled([accepted.json().id]);
    expect(done.status).toBe('failed');
    expect(done.reason).toBe('SOLD_OUT');
    expect(done.revert).toMatch(/OfferingCapExceeded/);
    expect(done.tokens).toBeNull();
    expect(done.txHash).toBe(accepted.json().txHash);
    const [state] = await readTrancheState(deployer.publicClient, { portfolio, trancheId: 0 });
    expect(state.totalSupply).toBe(50n * TOKEN);
  });
});

describe('purchase settlement', () => {
  it('a purchase is mined until its Purchased event is final; a reorg that removes it sends it back to pending', async () => {
    const { trancheIds, tokens } = await publishedPortfolio();
    const buyer = await investor({ funds: 1_000_000_000n });
    const amount = 25n * TOKEN;
    const signed = await sign(buyer, await quoteOk(trancheIds[0], buyer.address, amount));
    await indexOnce();
    // an indexer on the same cursor that finalizes nothing new (finality never moves back)
    const unfinalizing = createIndexer({
      db: t.db,
      publicClient: deployer.publicClient,
      stack,
      confirmations: 1_000,
    });
    const snapshot = await testClient.snapshot();

    const res = await purchase(signed);
    expect(res.statusCode, res.body).toBe(202);
    const { id } = res.json() as { id: string };
    const indexedOnly = (p: PurchaseBody) => p.status !== 'pending' && p.tokens !== null;
    const [mined] = await settledBy([id], () => unfinalizing.syncOnce(), indexedOnly);
    expect(mined).toMatchObject({ status: 'mined', tokens: amount.toString() });
    expect((await t.db.prisma.purchase.findUniqueOrThrow({ where: { id } })).status).toBe('pending');

    // the purchase's block leaves the chain; the new branch passes its height without it
    await testClient.revert({ id: snapshot });
    await testClient.mine({ blocks: 2 });
    await unfinalizing.syncOnce();
    expect(await getPurchase(id)).toMatchObject({ status: 'pending', tokens: null });

    // the relayer sends it again; confirmed once its new block is final
    const [again] = await settledBy([id], () => unfinalizing.syncOnce(), indexedOnly);
    expect(again.status).toBe('mined');
    expect(BigInt(again.blockNumber ?? 0)).toBeGreaterThan(BigInt(mined.blockNumber ?? 0));
    const [done] = await settled([id]);
    expect(done).toMatchObject({
      status: 'confirmed',
      tokens: amount.toString(),
      blockNumber: again.blockNumber,
    });
    expect(await trancheBalance(tokens[0], buyer.address)).toBe(amount);
  }, 90_000);
});

/** `account`'s balance of the tranche token `token`, read from the chain. */
function trancheBalance(token: Address, account: Address): Promise<bigint> {
  return deployer.publicClient.readContract({
    address: token,
    abi: trancheTokenAbi,
    functionName: 'balanceOf',
    args: [account],
  });
}

/** `account` approves `amount` of the pay token to `spender` with its own key (gas funded by anvil). */
async function approveFrom(account: { address: Address; key: Hex }, spender: Address, amount: bigint) {
  await testClient.setBalance({ address: account.address, value: 10n ** 18n });
  await approve(withAccount(deployer, account.key), {
    token: stack.testStablecoin as Address,
    spender,
    amount,
  });
}

// ------------------------------------------------------------------ bad input

describe('bad input: a clear code, nothing stored, nothing sent', () => {
  let trancheIds: string[];
  let portfolio: Address;
  let buyer: Awaited<ReturnType<typeof investor>>;

  beforeAll(async () => {
    ({ trancheIds, portfolio } = await publishedPortfolio([
      { face: 1_000_000_000n },
      { face: 500_000_000n },
    ]));
    buyer = await investor({ funds: 100_000_000_000n });
  });

  /** Runs `act`, expects `status` and `code`, and that no purchase, relay row or transaction appeared. */
  async function rejects(
    act: () => Promise<{ statusCode: number; body: string; json: () => unknown }>,
    status: number,
    code: string,
  ) {
    const before = await footprint();
    const res = await act();
    expect(res.statusCode, res.body).toBe(status);
    expect((res.json() as { code: string }).code).toBe(code);
    expect(await footprint()).toEqual(before);
    return res.json() as { code: string; details?: unknown; message: string };
  }

  it('amount 0, negative, non-integer, above uint256, not a multiple of the scale: VALIDATION_FAILED, no quote', async () => {
    const quotes = await t.db.prisma.quote.count();
    for (const amount of ['0', '-1000000000000', '1.5', '1e18', (maxUint256 + 1n).toString(), 'abc', '']) {
      const body = await rejects(() => quote(trancheIds[0], buyer.address, amount), 400, 'VALIDATION_FAILED');
      expect(JSON.stringify(body.details), amount).toContain('body.amount');
    }
    await rejects(() => quote(trancheIds[0], buyer.address, SCALE + 1n), 400, 'VALIDATION_FAILED');
    await rejects(() => quote(trancheIds[0], buyer.address, maxUint256), 400, 'VALIDATION_FAILED');
    await rejects(() => quote(trancheIds[0], '0x1234' as Address, TOKEN), 400, 'VALIDATION_FAILED');
    expect(await t.db.prisma.quote.count()).toBe(quotes);
  });

  it('an unknown tranche is 404, an unpublished one 409', async () => {
    await rejects(
      () => quote('00000000-0000-4000-8000-000000000000', buyer.address, TOKEN),
      404,
      'NOT_FOUND',
    );
    await rejects(() => quote('not-a-uuid', buyer.address, TOKEN), 404, 'NOT_FOUND');
    const draft = await t.db.prisma.portfolio.create({
      data: {
        owner: 'acme',
        name: 'Draft',
        assetClass: 'corporate',
        jurisdiction: 'IT',
        currency: 'EUR',
        askingPrice: '1',
        servicerAddress: anvil.accounts[2].address,
        servicerFeeBps: 0,
        protocolFeeBps: 0,
        tranches: {
          create: [{ seniority: 0, name: 'R', symbol: 'R', face: '1000', couponBps: 0, residual: true }],
        },
      },
      include: { tranches: true },
    });
    const body = await rejects(() => quote(draft.tranches[0].id, buyer.address, TOKEN), 409, 'CONFLICT');
    expect(body.details).toMatchObject({ reason: 'NOT_PUBLISHED' });
  });

  it('a buyer never allowlisted, or frozen, gets NOT_ALLOWLISTED at quote time', async () => {
    const stranger = await investor({ funds: 1_000_000_000n, allowlist: false });
    await rejects(() => quote(trancheIds[0], stranger.address, TOKEN), 403, 'NOT_ALLOWLISTED');
    const frozen = await investor({ funds: 1_000_000_000n });
    await freeze(frozen.address, true);
    const body = await rejects(() => quote(trancheIds[0], frozen.address, TOKEN), 403, 'NOT_ALLOWLISTED');
    expect(body.details).toMatchObject({ frozen: true });
  });

  it('a buyer frozen after the quote gets NOT_ALLOWLISTED at purchase time', async () => {
    const later = await investor({ funds: 1_000_000_000n });
    const q = await quoteOk(trancheIds[0], later.address, TOKEN);
    await freeze(later.address, true);
    try {
      await rejects(async () => purchase(await sign(later, q)), 403, 'NOT_ALLOWLISTED');
    } finally {
      await freeze(later.address, false);
    }
  });

  it('a signature by another key, or for another chain or contract, is SIGNATURE_INVALID', async () => {
    const q = await quoteOk(trancheIds[0], buyer.address, TOKEN);
    const good = await sign(buyer, q);
    const other = privateKeyToAccount(keccak256(toHex('someone else')));
    const purchaseTd = q.typedData.purchase as TypedDataDefinition & { domain: Record<string, unknown> };
    const permitTd = q.typedData.permit as TypedDataDefinition & { domain: Record<string, unknown> };
    const variants = {
      otherSigner: { ...good, purchaseSignature: await other.signTypedData(purchaseTd) },
      otherChain: {
        ...good,
        purchaseSignature: await buyer.signTypedData({
          ...purchaseTd,
          domain: { ...purchaseTd.domain, chainId: 1 },
        }),
      },
      otherContract: {
        ...good,
        purchaseSignature: await buyer.signTypedData({
          ...purchaseTd,
          domain: { ...purchaseTd.domain, verifyingContract: stack.portfolioFactory },
        }),
      },
      otherAmount: {
        ...good,
        purchaseSignature: await buyer.signTypedData({
          ...purchaseTd,
          message: { ...(purchaseTd.message as Record<string, unknown>), amount: (2n * TOKEN).toString() },
        }),
      },
      permitOtherSigner: { ...good, permitSignature: await other.signTypedData(permitTd) },
      permitOtherChain: {
        ...good,
        permitSignature: await buyer.signTypedData({
          ...permitTd,
          domain: { ...permitTd.domain, chainId: 10 },
        }),
      },
      garbage: { ...good, purchaseSignature: `0x${'11'.repeat(65)}` },
    };
    for (const [name, body] of Object.entries(variants)) {
      const res = await rejects(() => purchase(body), 401, 'SIGNATURE_INVALID');
      expect(res.message, name).toMatch(/signature/);
    }
    await rejects(() => purchase({ ...good, purchaseSignature: '0x1234' }), 400, 'VALIDATION_FAILED');
  });

  it('an expired quote is ORDER_EXPIRED', async () => {
    const q = await quoteOk(trancheIds[0], buyer.address, TOKEN);
    const signed = await sign(buyer, q);
    await testClient.increaseTime({ seconds: 301 });
    await testClient.mine({ blocks: 1 });
    await rejects(() => purchase(signed), 410, 'ORDER_EXPIRED');
  });

  it('an unknown quote is 404', async () => {
    const q = await quoteOk(trancheIds[0], buyer.address, TOKEN);
    const signed = await sign(buyer, q);
    await rejects(
      () => purchase({ ...signed, quoteId: '00000000-0000-4000-8000-000000000000' }),
      404,
      'NOT_FOUND',
    );
  });

  it('insufficient balance, or no allowance and no permit: CONFLICT with the reason', async () => {
    const poor = await investor({ funds: 1n });
    const q = await quoteOk(trancheIds[0], poor.address, TOKEN);
    const body = await rejects(async () => purchase(await sign(poor, q)), 409, 'CONFLICT');
    expect(body.details).toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });

    const q2 = await quoteOk(trancheIds[0], buyer.address, TOKEN);
    const { permitSignature: _permit, ...noPermit } = await sign(buyer, q2);
    const body2 = await rejects(() => purchase(noPermit), 409, 'CONFLICT');
    expect(body2.details).toMatchObject({ reason: 'INSUFFICIENT_ALLOWANCE' });
  });

  it('an amount above the remaining cap, or a sold-out tranche, is SOLD_OUT', async () => {
    await rejects(() => quote(trancheIds[1], buyer.address, 501n * TOKEN), 409, 'SOLD_OUT');
    // the whole tranche, bought directly
    const q = await quoteOk(trancheIds[1], buyer.address, 500n * TOKEN);
    const res = await purchase(await sign(buyer, q));
    expect(res.statusCode, res.body).toBe(202);
    const [done] = await settled([res.json().id]);
    expect(done.status).toBe('confirmed');
    const body = await rejects(() => quote(trancheIds[1], buyer.address, TOKEN), 409, 'SOLD_OUT');
    expect(body.details).toMatchObject({ remaining: '0' });
  });

  it('a quote for a tranche that sold out since is SOLD_OUT at purchase time', async () => {
    const { trancheIds: ids } = await publishedPortfolio([{ face: 10_000_000n }]);
    const q1 = await quoteOk(ids[0], buyer.address, 10n * TOKEN);
    const q2 = await quoteOk(ids[0], buyer.address, 10n * TOKEN);
    const first = await purchase(await sign(buyer, q1));
    expect(first.statusCode, first.body).toBe(202);
    await deployer.publicClient.waitForTransactionReceipt({ hash: first.json().txHash });
    await rejects(async () => purchase(await sign(buyer, q2)), 409, 'SOLD_OUT');
  });

  it('a replayed intent is CONFLICT, also when both copies arrive at once', async () => {
    const q = await quoteOk(trancheIds[0], buyer.address, TOKEN);
    const signed = await sign(buyer, q);
    const both = await Promise.all([purchase(signed), purchase(signed)]);
    expect(both.map((r) => r.statusCode).sort()).toEqual([202, 409]);
    const accepted = both.find((r) => r.statusCode === 202)!;
    const body = await rejects(() => purchase(signed), 409, 'CONFLICT');
    expect(body.details).toMatchObject({ reason: 'REPLAYED' });
    expect(await t.db.prisma.relayTx.count({ where: { idempotencyKey: `purchase:${q.id}` } })).toBe(1);
    const [done] = await settled([accepted.json().id]);
    expect(done.status).toBe('confirmed');
  });

  it('a closed offering is CONFLICT', async () => {
    const { trancheIds: ids, portfolio: closedPortfolio } = await publishedPortfolio([{ face: 10_000_000n }]);
    await sendAndWait(deployer, { contract: 'Portfolio', functionName: 'closeOffering' }, () =>
      deployer.walletClient.writeContract({
        address: closedPortfolio,
        abi: portfolioAbi,
        functionName: 'closeOffering',
      }),
    );
    const body = await rejects(() => quote(ids[0], buyer.address, TOKEN), 409, 'CONFLICT');
    expect(body.details).toMatchObject({ reason: 'OFFERING_NOT_OPEN', closed: true });
    void portfolio;
  });
});

/** The deployer holds the registry's GUARDIAN_ROLE (deployStack's defaults). */
const freeze = (address: Address, frozen: boolean) => setFrozen(deployer, stack, address, frozen);

// ------------------------------------------------------------------ load and races

describe('load and races', () => {
  it('200 concurrent purchases against a cap of 150: exactly the cap is sold, the rest SOLD_OUT; Postgres agrees with the chain', async () => {
    const N = 200;
    const CAP_BUYS = 150n;
    const each = 5n * TOKEN;
    const eachCost = 5_000_000n;
    const { trancheIds, portfolio, tokens } = await publishedPortfolio([{ face: CAP_BUYS * eachCost }]);
    const investors = Array.from({ length: N }, (_, i) => {
      const key = keccak256(toHex(i, { size: 32 }));
      return Object.assign(privateKeyToAccount(key), { key });
    });
    await allowlistInvestors(deployer, {
      registry: stack.complianceRegistry,
      accounts: investors.map((a) => a.address),
      expiry: (await chainNow()) + BigInt(365 * DAY),
    });
    for (const a of investors) {
      await mintTestStablecoin(deployer, {
        token: stack.testStablecoin as Address,
        to: a.address,
        amount: eachCost,
      });
    }
    const quotes = await Promise.all(investors.map((a) => quoteOk(trancheIds[0], a.address, each)));
    const signed = await Promise.all(quotes.map((q, i) => sign(investors[i], q)));

    const answers = await Promise.all(signed.map((body) => purchase(body)));
    const accepted = answers.filter((r) => r.statusCode === 202).map((r) => r.json().id as string);
    const rejected = answers.filter((r) => r.statusCode !== 202);
    for (const r of rejected) {
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json().code, r.body).toBe('SOLD_OUT');
    }
    const final = await settled(accepted, 180_000);
    const confirmed = final.filter((p) => p.status === 'confirmed');
    const failed = final.filter((p) => p.status === 'failed');
    expect(final.filter((p) => p.status === 'pending')).toEqual([]);
    for (const p of failed) expect(p.reason, JSON.stringify(p)).toBe('SOLD_OUT');
    expect(confirmed.length).toBe(Number(CAP_BUYS));
    expect(confirmed.length + failed.length + rejected.length).toBe(N);

    const [state] = await readTrancheState(deployer.publicClient, { portfolio, trancheId: 0 });
    expect(state.sold).toBe(CAP_BUYS * eachCost);
    expect(state.totalSupply).toBe(CAP_BUYS * each);
    const confirmedTokens = confirmed.reduce((sum, p) => sum + BigInt(p.tokens as string), 0n);
    expect(confirmedTokens).toBe(state.totalSupply);
    const rows = await t.db.prisma.purchase.findMany({
      where: { trancheId: trancheIds[0], status: 'confirmed' },
    });
    expect(rows.reduce((sum, r) => sum + BigInt(r.tokens?.toFixed(0) ?? '0'), 0n)).toBe(state.totalSupply);
    const indexed = await t.db.prisma.purchaseEvent.findMany({ where: { portfolio } });
    expect(indexed.reduce((sum, e) => sum + BigInt(e.amount.toFixed(0)), 0n)).toBe(state.totalSupply);
    expect(indexed.length).toBe(Number(CAP_BUYS));
    console.info(
      `race: ${accepted.length} accepted (${confirmed.length} confirmed, ${failed.length} failed on-chain), ` +
        `${rejected.length} answered SOLD_OUT`,
    );
    // every confirmed buyer holds exactly what Postgres says
    const balances = await Promise.all(
      rows.map((r) =>
        deployer.publicClient.readContract({
          address: tokens[0],
          abi: trancheTokenAbi,
          functionName: 'balanceOf',
          args: [getAddress(r.buyer)],
        }),
      ),
    );
    expect(balances.every((b) => b === each)).toBe(true);
  }, 300_000);
});

// ------------------------------------------------------------------ nonce invalidations

describe('POST /v1/intents/invalidations (purchase intents)', () => {
  async function invalidate(body: Record<string, unknown>) {
    return t.app.inject({ method: 'POST', url: '/v1/intents/invalidations', payload: body });
  }

  it('relays the buyer’s signed invalidation; once mined, the signed intent answers CONFLICT and nothing is relayed', async () => {
    const { portfolioId, portfolio, trancheIds, tokens } = await publishedPortfolio();
    const buyer = await investor({ funds: 1_000n });
    const q = await quoteOk(trancheIds[0], buyer.address, 100n * SCALE);
    const signed = await sign(buyer, q);
    const invalidation = q.typedData as unknown as { invalidation: TypedDataDefinition };
    const res = await invalidate({
      contract: 'portfolio',
      portfolioId,
      account: buyer.address,
      nonce: q.nonce,
      deadline: q.deadline,
      signature: await buyer.signTypedData(invalidation.invalidation),
    });
    expect(res.statusCode, res.body).toBe(202);
    const accepted = res.json();
    expect(accepted).toMatchObject({
      contract: 'portfolio',
      verifyingContract: portfolio,
      account: buyer.address,
      nonce: q.nonce,
      status: 'pending',
    });
    const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash: accepted.txHash });
    expect(receipt.status).toBe('success');
    const used = await deployer.publicClient.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'nonceUsed',
      args: [buyer.address, BigInt(q.nonce)],
    });
    expect(used).toBe(true);

    const before = await footprint();
    const refused = await purchase(signed);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'CONFLICT', details: { reason: 'REPLAYED' } });
    // the same invalidation again: the nonce is used
    const again = await invalidate({
      contract: 'portfolio',
      portfolioId,
      account: buyer.address,
      nonce: q.nonce,
      deadline: q.deadline,
      signature: await buyer.signTypedData(invalidation.invalidation),
    });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json()).toMatchObject({ code: 'CONFLICT', details: { reason: 'NONCE_USED' } });
    expect(await footprint()).toEqual(before);
    const held = await deployer.publicClient.readContract({
      address: tokens[0],
      abi: trancheTokenAbi,
      functionName: 'balanceOf',
      args: [buyer.address],
    });
    expect(held).toBe(0n);
  });

  it('refuses a stranger’s signature (401), an expired invalidation (410), an account the registry does not know (403) and a missing portfolio (400), sending nothing', async () => {
    const { portfolioId } = await publishedPortfolio();
    const buyer = await investor();
    const stranger = await investor({ allowlist: false });
    const deadline = (await chainNow()) + 600n;
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: portfolioId } });
    const withContract = (d: bigint) =>
      nonceInvalidationTypedData({
        domain: {
          name: 'NPL Portfolio',
          version: '1',
          chainId: anvil.chainId,
          verifyingContract: getAddress(row.portfolioAddress as string),
        },
        invalidation: { account: buyer.address, nonce: 7n, deadline: d },
      });
    const before = await footprint();
    const body = { contract: 'portfolio', portfolioId, account: buyer.address, nonce: '7' };

    const wrongSigner = await invalidate({
      ...body,
      deadline: deadline.toString(),
      signature: await stranger.signTypedData(withContract(deadline)),
    });
    expect(wrongSigner.statusCode, wrongSigner.body).toBe(401);
    expect(wrongSigner.json().code).toBe('SIGNATURE_INVALID');

    const past = (await chainNow()) - 1n;
    const expired = await invalidate({
      ...body,
      deadline: past.toString(),
      signature: await buyer.signTypedData(withContract(past)),
    });
    expect(expired.statusCode, expired.body).toBe(410);
    expect(expired.json().code).toBe('ORDER_EXPIRED');

    const unknown = nonceInvalidationTypedData({
      ...withContract(deadline),
      invalidation: { account: stranger.address, nonce: 7n, deadline },
    });
    const notInvestor = await invalidate({
      ...body,
      account: stranger.address,
      deadline: deadline.toString(),
      signature: await stranger.signTypedData(unknown),
    });
    expect(notInvestor.statusCode, notInvestor.body).toBe(403);
    expect(notInvestor.json().code).toBe('NOT_ALLOWLISTED');

    const noPortfolio = await invalidate({
      ...body,
      portfolioId: undefined,
      deadline: deadline.toString(),
      signature: await buyer.signTypedData(withContract(deadline)),
    });
    expect(noPortfolio.statusCode, noPortfolio.body).toBe(400);
    expect(noPortfolio.json().details).toEqual([expect.objectContaining({ path: 'body.portfolioId' })]);
    expect(await footprint()).toEqual(before);
  });
});
