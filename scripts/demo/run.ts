/**
 * The demo flow (`npm run demo`, test/e2e/demo.test.ts): a synthetic portfolio from a seed goes through
 * the whole marketplace over REST, as an issuer, three investors and a servicer would use it:
 *
 *   tape + data room → publish (three tranches) → allowlist + faucet → primary purchases (EIP-712
 *   intent + ERC-2612 permit) → one secondary trade (signed order, signed fill) → close the offering →
 *   three recoveries, each through the on-chain waterfall and a Merkle distribution pushed to the
 *   holders → verify-distribution of each distribution.
 *
 * Investors and the servicer are fresh keys of this run (their ether for gas comes from
 * `anvil_setBalance`: the demo needs a local chain, as the faucet does). Everything is printed
 * through `print` as it happens; the returned `DemoResult` carries what a test needs to check the
 * payouts independently (blocks, addresses, measured balance changes).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  type Address,
  erc20Abi,
  formatUnits,
  getAddress,
  type Hex,
  hexToBigInt,
  maxUint256,
  type PublicClient,
  parseEventLogs,
  type TypedDataDefinition,
  zeroAddress,
} from 'viem';
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import {
  permitTypedData,
  readPermitDomain,
  readPortfolioTerms,
  readTrancheState,
} from '../../core/chain/actions.ts';
import { createAnvilTestClient } from '../../core/chain/anvil.ts';
import {
  type ChainClients,
  createChainClients,
  isLocalChain,
  withAccount,
} from '../../core/chain/clients.ts';
import { marketplaceAbi, portfolioAbi } from '../../core/chain/generated/index.ts';
import { fillCost, type Order, signFillIntent, signOrder } from '../../core/chain/marketplace.ts';
import {
  formatCents,
  generateDataRoom,
  generateLoanTape,
  servicerReport,
} from '../../core/domain/synthetic-portfolio.ts';
import { verifyDistribution } from '../../core/verify-distribution.ts';
import { ApiError, createApiClient, type Json } from './api.ts';

export const DEFAULT_DEMO_SEED = 'npl-demo-1';

export type DemoOptions = {
  /** The API's base URL, e.g. http://localhost:3000. */
  apiUrl: string;
  /** An admin API key (npm start's dev key). */
  apiKey: string;
  /** JSON-RPC of the marketplace's chain (a local anvil). */
  rpcUrl: string;
  /** The Marketplace contract (the EIP-712 domain of sell orders). */
  marketplace: Address;
  /** Seed of the synthetic portfolio; default DEFAULT_DEMO_SEED. */
  seed?: string;
  /** Loans in the tape; default 5,000. */
  loans?: number;
  /** Where progress goes, one line at a time; default console.log. */
  print?: (line: string) => void;
  /** Longest wait for one asynchronous step (publish, a purchase, a distribution), ms; default 180 s. */
  stepTimeoutMs?: number;
};

export type DemoInvestor = { name: string; address: Address };

export type DemoRecovery = {
  index: number;
  amount: bigint;
  reportSha256: string;
  txHash: Hex;
  blockNumber: bigint;
  snapshotBlock: bigint;
  recoveryId: bigint;
  waterfall: {
    servicerFee: bigint;
    protocolFee: bigint;
    interest: bigint[];
    principal: bigint[];
    residual: bigint[];
    undistributed: bigint;
  };
  distributionId: string | null;
  /** Pay-token balances were read at `before` (just before the deposit) and `after` (distribution paid). */
  balanceBlocks: { before: bigint; after: bigint } | null;
  /** Pay-token received per investor address from this recovery's distribution. */
  payouts: Record<Address, bigint>;
};

export type DemoResult = {
  seed: string;
  portfolioId: string;
  portfolio: Address;
  distributor: Address;
  payToken: Address;
  tranches: { id: string; name: string; symbol: string; address: Address }[];
  investors: DemoInvestor[];
  servicer: Address;
  purchases: { investor: string; tranche: string; tokens: bigint; cost: bigint; txHash: string }[];
  trade: {
    orderHash: Hex;
    maker: Address;
    taker: Address;
    tranche: Address;
    amount: bigint;
    cost: bigint;
  } | null;
  recoveries: DemoRecovery[];
  verification: { distributionId: string; ok: boolean; summary: string }[];
  /** Steps that could not run because the API (or the project) lacks what they need; empty when complete. */
  missing: string[];
};

const PAY_DECIMALS = 6;
const SCALE = 10n ** 12n; // 18-decimal tranche tokens per 6-decimal pay unit of face
const whole = (units: bigint) => units * 10n ** BigInt(PAY_DECIMALS);
const tokens = (units: bigint) => whole(units) * SCALE;

/** `1,234,567.891011` (pay-token base units, every digit kept). */
export function formatPay(baseUnits: bigint): string {
  const negative = baseUnits < 0n;
  const text = formatUnits(negative ? -baseUnits : baseUnits, PAY_DECIMALS);
  const [int, frac = ''] = text.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}.${frac.padEnd(PAY_DECIMALS, '0')}`;
}

const formatTokens = (baseUnits: bigint) => formatPay(baseUnits / SCALE).replace(/\.0+$/, '');

/** The three tranches, as shares of the asking price. */
const TRANCHE_PLAN = [
  { name: 'Senior', symbol: 'NPLSR', share: 55n, couponBps: 600, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'NPLMZ', share: 25n, couponBps: 1_000, priceBps: 9_500 },
  { name: 'Residual', symbol: 'NPLRS', share: 20n, couponBps: 0, priceBps: 5_000 },
] as const;

/** What each investor buys in the offering (whole units of face per tranche: senior, mezzanine, residual). */
const INVESTOR_PLAN = [
  { name: 'Alice (pension fund)', buys: [2_000_000n, 250_000n, 0n] },
  { name: 'Bob (credit fund)', buys: [1_000_000n, 750_000n, 200_000n] },
  { name: 'Carol (distressed-debt fund)', buys: [0n, 500_000n, 600_000n] },
] as const;

/** The secondary trade: Alice sells this much senior face to Carol at 100.5% of par. */
const TRADE = { maker: 0, taker: 2, tranche: 0, units: 500_000n, priceBps: 10_050n } as const;

/** Three recoveries (whole pay units): senior principal, then mezzanine, then the residual. */
const RECOVERIES = [2_000_000n, 2_500_000n, 1_200_000n] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class MissingFeature extends Error {}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const seed = options.seed ?? DEFAULT_DEMO_SEED;
  const stepTimeoutMs = options.stepTimeoutMs ?? 180_000;
  const api = createApiClient({ baseUrl: options.apiUrl, apiKey: options.apiKey });
  const missing: string[] = [];
  let stepNo = 0;
  const STEPS = 13;
  const step = (title: string) => {
    stepNo += 1;
    print('');
    print(`[${stepNo}/${STEPS}] ${title}`);
  };
  const info = (line: string) => print(`      ${line}`);

  /** Polls `read` until `done` says so (or the step timeout). */
  const until = async <T>(
    what: string,
    read: () => Promise<T>,
    done: (value: T) => boolean,
    tick?: () => Promise<void>,
  ) => {
    const deadline = Date.now() + stepTimeoutMs;
    for (;;) {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value, jsonBig)}`);
      if (tick) await tick();
      await sleep(250);
    }
  };

  // ---------------------------------------------------------------- chain and accounts
  const health: Json = await api.request('GET', '/health', { auth: false });
  const probe = createChainClients({ rpcUrl: options.rpcUrl, privateKey: generatePrivateKey() });
  const chainId = await probe.publicClient.getChainId();
  if (!isLocalChain(chainId)) {
    throw new Error(
      `the demo needs a local chain (anvil, 31337 / 1337); ${options.rpcUrl} is chain ${chainId}`,
    );
  }
  if (health?.chain?.chainId !== undefined && health.chain.chainId !== chainId) {
    throw new Error(
      `the API runs on chain ${health.chain.chainId}, but ${options.rpcUrl} is chain ${chainId}`,
    );
  }
  const base = createChainClients({ rpcUrl: options.rpcUrl, chainId, privateKey: generatePrivateKey() });
  const testClient = createAnvilTestClient(options.rpcUrl, chainId);
  const chainNow = async () => (await base.publicClient.getBlock()).timestamp;

  const newAccount = async (): Promise<{ account: PrivateKeyAccount; clients: ChainClients }> => {
    const key = generatePrivateKey();
    const clients = withAccount(base, key);
    await testClient.setBalance({ address: clients.account.address, value: 10n ** 19n });
    return { account: privateKeyToAccount(key), clients };
  };
  const people = await Promise.all(INVESTOR_PLAN.map(() => newAccount()));
  const investors: DemoInvestor[] = INVESTOR_PLAN.map((plan, i) => ({
    name: plan.name,
    address: people[i].account.address,
  }));
  const servicer = await newAccount();

  print(`NPL marketplace demo: seed "${seed}", API ${api.baseUrl}, chain ${chainId} at ${options.rpcUrl}`);

  // ---------------------------------------------------------------- 1. the portfolio
  step(`Generating a synthetic portfolio from seed "${seed}"`);
  const cutoffDate = '2025-09-30';
  const tape = generateLoanTape({ seed, loans: options.loans ?? 5_000, cutoffDate });
  const { stats } = tape;
  info(
    `${stats.loanCount.toLocaleString('en-US')} loans, ${stats.borrowerCount.toLocaleString('en-US')} borrowers, ` +
      `UPB EUR ${formatCents(stats.totalUpbCents)}, collateral EUR ${formatCents(stats.totalCollateralCents)}, ` +
      `WA days past due ${stats.waDaysPastDue}`,
  );
  const mix = Object.entries(stats.byAssetClass)
    .sort((a, b) => (a[1].upbCents > b[1].upbCents ? -1 : 1))
    .map(([k, v]) => `${k} ${((Number(v.upbCents) / Number(stats.totalUpbCents)) * 100).toFixed(0)}%`)
    .join(', ');
  info(`by UPB: ${mix}`);
  // asking price: 14 cents per euro of UPB, in pay-token base units (cents * 10^4)
  const askingPrice = ((stats.totalUpbCents * 14n) / 100n) * 10n ** BigInt(PAY_DECIMALS - 2);
  const askingWhole = askingPrice / whole(1n);
  const tranchePlan = TRANCHE_PLAN.map((t) => ({ ...t, face: whole((askingWhole * t.share) / 100n) }));
  const portfolioName = `Mediterranean NPL Portfolio (seed ${seed})`;

  step('Creating the draft, uploading the loan tape and the data room');
  const draft = await api.post('/v1/portfolios', {
    name: portfolioName,
    description:
      'Synthetic secured and unsecured non-performing loans (Italy, Spain, Greece, Portugal, Ireland, Cyprus), generated by npm run demo.',
    assetClass: 'mixed',
    jurisdiction: 'IT',
    currency: 'EUR',
    askingPrice: askingPrice.toString(),
    payTokenDecimals: PAY_DECIMALS,
    servicerAddress: servicer.account.address,
    fees: { servicerBps: 150, protocolBps: 50 },
    waterfallMode: 'interestFirst',
    tranches: tranchePlan.map((t, i) => ({
      name: t.name,
      symbol: t.symbol,
      face: t.face.toString(),
      ...(i < tranchePlan.length - 1 ? { couponBps: t.couponBps } : {}),
      priceBps: t.priceBps,
    })),
  });
  const portfolioId: string = draft.id;
  info(`draft ${portfolioId}: asking price ${formatPay(askingPrice)} (14 cents per euro of UPB)`);
  for (const t of tranchePlan) {
    info(
      `  ${t.name.padEnd(10)} ${t.symbol}  face ${formatPay(t.face).padStart(22)}  coupon ${(t.couponBps / 100).toFixed(2)}%  price ${(t.priceBps / 100).toFixed(2)}% of par`,
    );
  }
  const tapeStarted = Date.now();
  await api.request('PUT', `/v1/portfolios/${portfolioId}/loan-tape`, {
    body: tape.csv,
    contentType: 'text/csv',
  });
  info(
    `loan tape uploaded: ${stats.loanCount.toLocaleString('en-US')} rows, ${(tape.csv.length / 1024).toFixed(0)} KiB, ` +
      `sha256 ${sha256(tape.csv).slice(0, 16)}... (${Date.now() - tapeStarted} ms)`,
  );
  const documents = generateDataRoom({
    seed,
    portfolioName,
    stats,
    cutoffDate,
    tranches: tranchePlan.map((t) => ({
      name: t.name,
      symbol: t.symbol,
      face: formatPay(t.face),
      couponBps: t.couponBps,
      priceBps: t.priceBps,
    })),
  });
  for (const document of documents) {
    const form = new FormData();
    form.append('file', new Blob([document.bytes], { type: document.contentType }), document.filename);
    const stored = await api.request('POST', `/v1/portfolios/${portfolioId}/documents`, { body: form });
    info(
      `document ${document.filename} (${document.bytes.length} bytes) sha256 ${String(stored.sha256).slice(0, 16)}...`,
    );
  }

  // ---------------------------------------------------------------- 2. publish
  step('Publishing: the worker deploys the Portfolio, three tranche tokens and the Distributor');
  const published = await api.post(`/v1/portfolios/${portfolioId}/publish`);
  const job = await until(
    'the publish job',
    () => api.get(`/v1/jobs/${published.job.id}`),
    (j: Json) => j.status === 'succeeded' || j.status === 'failed',
  );
  if (job.status !== 'succeeded') throw new Error(`publish failed: ${job.error}`);
  const detail = await api.get(`/v1/portfolios/${portfolioId}`);
  const portfolio = getAddress(detail.chain.portfolio) as Address;
  const distributor = getAddress(detail.chain.distributor) as Address;
  const tranches = (detail.tranches as Json[])
    .sort((a, b) => a.seniority - b.seniority)
    .map((t) => ({
      id: t.id as string,
      name: t.name as string,
      symbol: t.symbol as string,
      address: getAddress(t.address) as Address,
    }));
  const terms = await readPortfolioTerms(base.publicClient, { portfolio });
  const payToken = terms.payToken;
  info(`job ${job.id} succeeded (tx ${job.txHash}); portfolio ${portfolio}`);
  info(`document root ${detail.chain.documentRoot}, loan tape hash anchored on-chain`);
  for (const t of tranches) info(`  ${t.name.padEnd(10)} ${t.symbol.padEnd(6)} ${t.address}`);

  // ---------------------------------------------------------------- 3. investors
  step('Allowlisting three investors (admin) and funding them from the test-stablecoin faucet');
  const expiresAt = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const allowTxs: Hex[] = [];
  for (const investor of investors) {
    const accepted = await api.post(`/v1/investors/${investor.address}/allowlist`, { expiresAt });
    if (accepted.relayTx?.txHash) allowTxs.push(accepted.relayTx.txHash);
    info(`${investor.name.padEnd(30)} ${investor.address} allowlisted until ${expiresAt.slice(0, 10)}`);
  }
  await Promise.all(
    allowTxs.map((hash) => base.publicClient.waitForTransactionReceipt({ hash, timeout: stepTimeoutMs })),
  );
  const fundsNeeded = INVESTOR_PLAN.map((plan, i) => {
    let total = 0n;
    plan.buys.forEach((units, t) => {
      total += (units * BigInt(TRANCHE_PLAN[t].priceBps)) / 10_000n;
    });
    if (i === TRADE.taker) total += (TRADE.units * TRADE.priceBps) / 10_000n;
    return total + 1_000n;
  });
  for (const [i, investor] of investors.entries()) {
    const minted = await api.request('POST', '/v1/dev/faucet', {
      body: { address: investor.address, amount: fundsNeeded[i].toString() },
      auth: false,
    });
    info(`${investor.name.padEnd(30)} received ${formatPay(BigInt(minted.amountBaseUnits))} test USD`);
  }

  // ---------------------------------------------------------------- 4. primary purchases
  step('Buying tranche tokens over REST: quote → sign intent + permit (EIP-712) → relayed buyWithSig');
  const purchases: DemoResult['purchases'] = [];
  for (const [i, plan] of INVESTOR_PLAN.entries()) {
    const signer = people[i].account;
    for (const [t, units] of plan.buys.entries()) {
      if (units === 0n) continue;
      const quote = await api.request('POST', `/v1/tranches/${tranches[t].id}/quotes`, {
        body: { buyer: signer.address, amount: tokens(units).toString() },
        auth: false,
      });
      const purchaseSignature = await signer.signTypedData(quote.typedData.purchase as TypedDataDefinition);
      const permitSignature = await signer.signTypedData(quote.typedData.permit as TypedDataDefinition);
      const accepted = await api.request('POST', '/v1/purchases', {
        body: { quoteId: quote.id, purchaseSignature, permitSignature },
        auth: false,
      });
      const done = await until(
        `purchase ${accepted.id}`,
        () => api.request('GET', `/v1/purchases/${accepted.id}`, { auth: false }),
        // mined and indexed is enough to go on (final comes with later blocks; anvil mines on transactions)
        (p: Json) =>
          p.status === 'confirmed' || p.status === 'failed' || (p.status === 'mined' && p.tokens !== null),
      );
      if (done.status === 'failed')
        throw new Error(`purchase ${accepted.id} failed: ${done.reason ?? done.revert}`);
      purchases.push({
        investor: plan.name,
        tranche: tranches[t].symbol,
        tokens: BigInt(done.tokens),
        cost: BigInt(done.cost),
        txHash: done.txHash,
      });
      info(
        `${plan.name.padEnd(30)} bought ${formatTokens(BigInt(done.tokens)).padStart(10)} ${tranches[t].symbol} for ${formatPay(BigInt(done.cost)).padStart(18)}  (block ${done.blockNumber})`,
      );
    }
  }

  // ---------------------------------------------------------------- 5. secondary trade
  step('Secondary trade: a signed sell order in the book, filled by another investor (relayed fillWithSig)');
  const maker = people[TRADE.maker];
  const taker = people[TRADE.taker];
  const tradeTranche = tranches[TRADE.tranche];
  const sellAmount = tokens(TRADE.units);
  const approveHash = await maker.clients.walletClient.writeContract({
    address: tradeTranche.address,
    abi: erc20Abi,
    functionName: 'approve',
    args: [options.marketplace, sellAmount],
  });
  await base.publicClient.waitForTransactionReceipt({ hash: approveHash });
  const counter = await base.publicClient.readContract({
    address: options.marketplace,
    abi: marketplaceAbi,
    functionName: 'counter',
    args: [maker.account.address],
  });
  const order: Order = {
    maker: maker.account.address,
    taker: zeroAddress,
    tranche: tradeTranche.address,
    payToken,
    sellAmount,
    price: (whole(TRADE.units) * TRADE.priceBps) / 10_000n,
    expiry: (await chainNow()) + 86_400n,
    salt: hexToBigInt(`0x${randomBytes(16).toString('hex')}`),
    counter,
    partialFill: true,
  };
  const orderSignature = await signOrder(maker.account, { marketplace: options.marketplace, chainId, order });
  const placed = await api.request('POST', '/v1/orders', {
    body: { order: stringify(order), signature: orderSignature },
    auth: false,
  });
  const orderHash = placed.hash as Hex;
  info(
    `${investors[TRADE.maker].name} offers ${formatTokens(sellAmount)} ${tradeTranche.symbol} for ${formatPay(order.price)} (order ${orderHash.slice(0, 18)}...)`,
  );
  const cost = fillCost(order, sellAmount);
  const intent = {
    orderHash,
    taker: taker.account.address,
    amount: sellAmount,
    maxCost: cost,
    nonce: hexToBigInt(`0x${randomBytes(16).toString('hex')}`),
    deadline: (await chainNow()) + 600n,
  };
  const fillSignature = await signFillIntent(taker.account, {
    marketplace: options.marketplace,
    chainId,
    intent,
  });
  const permitDomain = await readPermitDomain(base.publicClient, {
    token: payToken,
    owner: taker.account.address,
  });
  const fillPermit = await taker.account.signTypedData(
    permitTypedData({
      token: payToken,
      chainId,
      name: permitDomain.name,
      version: permitDomain.version,
      owner: taker.account.address,
      spender: options.marketplace,
      value: cost,
      nonce: permitDomain.nonce,
      deadline: intent.deadline,
    }),
  );
  const fillAccepted = await api.request('POST', `/v1/orders/${orderHash}/fills`, {
    body: {
      intent: stringify(intent),
      signature: fillSignature,
      permit: { value: cost.toString(), deadline: intent.deadline.toString(), signature: fillPermit },
    },
    auth: false,
  });
  const fill = await until(
    `fill ${fillAccepted.id}`,
    () => api.request('GET', `/v1/orders/${orderHash}/fills/${fillAccepted.id}`, { auth: false }),
    (f: Json) =>
      f.status === 'confirmed' || f.status === 'failed' || (f.status === 'mined' && f.cost !== null),
  );
  if (fill.status === 'failed')
    throw new Error(`fill ${fillAccepted.id} failed: ${JSON.stringify(fill.failure)}`);
  const trade = {
    orderHash,
    maker: maker.account.address,
    taker: taker.account.address,
    tranche: tradeTranche.address,
    amount: sellAmount,
    cost: BigInt(fill.cost),
  };
  info(
    `${investors[TRADE.taker].name} bought ${formatTokens(sellAmount)} ${tradeTranche.symbol} for ${formatPay(trade.cost)} ` +
      `(marketplace fee ${formatPay(BigInt(fill.fee ?? 0))}, block ${fill.blockNumber})`,
  );

  const result: DemoResult = {
    seed,
    portfolioId,
    portfolio,
    distributor,
    payToken,
    tranches,
    investors,
    servicer: servicer.account.address,
    purchases,
    trade,
    recoveries: [],
    verification: [],
    missing,
  };

  try {
    await afterTrading();
  } catch (error) {
    if (!(error instanceof MissingFeature)) throw error;
    missing.push(error.message);
    print('');
    print(`NOT DONE: ${error.message}`);
  }
  print('');
  print(missing.length === 0 ? 'Demo complete.' : `Demo stopped early; missing: ${missing.join('; ')}`);
  return result;

  // ---------------------------------------------------------------- 6.. recoveries
  async function afterTrading() {
    step('Closing the offering (issuer): outstanding principal is fixed at what was sold');
    try {
      await api.post(`/v1/portfolios/${portfolioId}/offering/close`);
    } catch (error) {
      if (error instanceof ApiError && error.routeMissing) {
        throw new MissingFeature(
          'POST /v1/portfolios/:id/offering/close is not in this API build (helper "api")',
        );
      }
      throw error;
    }
    await until(
      'the offering to close',
      () => readPortfolioTerms(base.publicClient, { portfolio }),
      (t) => t.offeringClosed,
    );
    const closedState = await readTrancheState(base.publicClient, { portfolio });
    for (const t of closedState) {
      info(
        `${tranches[t.trancheId].name.padEnd(10)} sold ${formatPay(t.sold).padStart(20)} of face ${formatPay(t.face).padStart(20)}, outstanding ${formatPay(t.outstanding)}`,
      );
    }

    step('Servicer: test stablecoin for the collections, and an allowance to the Portfolio');
    const totalRecoveries = RECOVERIES.reduce((a, b) => a + b, 0n);
    await api.request('POST', '/v1/dev/faucet', {
      body: { address: servicer.account.address, amount: totalRecoveries.toString() },
      auth: false,
    });
    const approval = await servicer.clients.walletClient.writeContract({
      address: payToken,
      abi: erc20Abi,
      functionName: 'approve',
      args: [portfolio, maxUint256],
    });
    await base.publicClient.waitForTransactionReceipt({ hash: approval });
    info(
      `servicer ${servicer.account.address} holds ${formatPay(whole(totalRecoveries))} and approved the Portfolio`,
    );

    const payBalance = (address: Address, blockNumber: bigint) =>
      base.publicClient.readContract({
        address: payToken,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [address],
        blockNumber,
      });
    const mine = async () => {
      // anvil mines on transactions only; the distribution's timelock is checked on the latest block
      await testClient.mine({ blocks: 1 }).catch(() => {});
    };

    for (const [k, units] of RECOVERIES.entries()) {
      const amount = whole(units);
      step(`Recovery ${k + 1} of ${RECOVERIES.length}: the servicer deposits ${formatPay(amount)}`);
      const report = servicerReport({ seed, portfolioName, period: k + 1, amount: formatPay(amount) });
      const reportSha256 = sha256(report);
      const before = await base.publicClient.getBlockNumber();
      let accepted: Json;
      try {
        accepted = await api.post(`/v1/portfolios/${portfolioId}/recoveries`, {
          amount: amount.toString(),
          reportSha256,
        });
      } catch (error) {
        if (error instanceof ApiError && error.routeMissing) {
          throw new MissingFeature(
            'POST /v1/portfolios/:id/recoveries is not in this API build (helper "api")',
          );
        }
        throw error;
      }
      const recoveryRow = await until(
        `recovery ${accepted.id}`,
        () => api.get(`/v1/recoveries/${accepted.id}`),
        (r: Json) => r.txHash && r.status !== 'pending' && r.status !== 'queued' && r.status !== 'submitted',
      );
      if (recoveryRow.status === 'failed')
        throw new Error(`recovery ${accepted.id} failed: ${JSON.stringify(recoveryRow)}`);
      const receipt = await base.publicClient.waitForTransactionReceipt({
        hash: recoveryRow.txHash,
        timeout: stepTimeoutMs,
      });
      const [event] = parseEventLogs({
        abi: portfolioAbi,
        logs: receipt.logs,
        eventName: 'RecoveryDistributed',
      });
      if (event === undefined) throw new Error(`no RecoveryDistributed event in ${recoveryRow.txHash}`);
      const w = event.args;
      const recovery: DemoRecovery = {
        index: k,
        amount,
        reportSha256,
        txHash: recoveryRow.txHash,
        blockNumber: receipt.blockNumber,
        snapshotBlock: w.snapshotBlock,
        recoveryId: w.recoveryId,
        waterfall: {
          servicerFee: w.servicerFee,
          protocolFee: w.protocolFee,
          interest: [...w.interest],
          principal: [...w.principal],
          residual: [...w.residual],
          undistributed: w.undistributed,
        },
        distributionId: null,
        balanceBlocks: null,
        payouts: {},
      };
      result.recoveries.push(recovery);
      info(
        `deposited in block ${receipt.blockNumber} (tx ${recoveryRow.txHash}), snapshot block ${w.snapshotBlock}`,
      );
      info(`waterfall (report sha256 ${reportSha256.slice(0, 16)}...):`);
      info(
        `  ${'tranche'.padEnd(20)} ${'interest'.padStart(20)} ${'principal'.padStart(20)} ${'residual'.padStart(20)} ${'total'.padStart(20)}`,
      );
      for (const [t, tranche] of tranches.entries()) {
        const total = w.interest[t] + w.principal[t] + w.residual[t];
        info(
          `  ${`${tranche.name} (${tranche.symbol})`.padEnd(20)} ${formatPay(w.interest[t]).padStart(20)} ${formatPay(w.principal[t]).padStart(20)} ${formatPay(w.residual[t]).padStart(20)} ${formatPay(total).padStart(20)}`,
        );
      }
      info(`  ${'servicer fee'.padEnd(20)} ${formatPay(w.servicerFee).padStart(20)}`);
      info(`  ${'protocol fee'.padEnd(20)} ${formatPay(w.protocolFee).padStart(20)}`);
      if (w.undistributed > 0n)
        info(`  ${'undistributed'.padEnd(20)} ${formatPay(w.undistributed).padStart(20)}`);

      // the worker: indexer → distribution row → tree → proposeRoot → timelock → acceptRoot → claimMany
      let distribution: Json;
      try {
        let lastStatus = '';
        distribution = await until(
          `the distribution of recovery ${w.recoveryId}`,
          async () => {
            const page = await api.request('GET', `/v1/portfolios/${portfolioId}/distributions`, {
              auth: false,
            });
            const items: Json[] = page.items ?? page;
            const found = items.find((d) => String(d.recoveryId) === String(w.recoveryId));
            if (found && found.status !== lastStatus) {
              lastStatus = found.status;
              info(`distribution ${found.id}: ${found.status}`);
            }
            return found ?? { status: 'not yet created' };
          },
          (d: Json) => d.status === 'paid' || d.status === 'failed',
          // only while the root waits for its timelock: blocks make the chain's clock move
          () => (lastStatus === 'proposed' ? mine() : Promise.resolve()),
        );
      } catch (error) {
        if (error instanceof ApiError && error.routeMissing) {
          throw new MissingFeature(
            'GET /v1/portfolios/:id/distributions is not in this API build (helper "verify")',
          );
        }
        throw error;
      }
      if (distribution.status !== 'paid')
        throw new Error(`distribution ${distribution.id} failed: ${distribution.error ?? ''}`);
      recovery.distributionId = distribution.id;
      const after = await base.publicClient.getBlockNumber();
      recovery.balanceBlocks = { before, after };
      info('payouts received on-chain (pay-token balance change):');
      for (const investor of investors) {
        const delta =
          (await payBalance(investor.address, after)) - (await payBalance(investor.address, before));
        recovery.payouts[investor.address] = delta;
        info(`  ${investor.name.padEnd(30)} ${formatPay(delta).padStart(20)}`);
      }
    }

    step('Payouts per investor and recovery');
    info(
      `${'investor'.padEnd(30)} ${result.recoveries.map((r) => `recovery ${r.index + 1}`.padStart(18)).join(' ')} ${'total'.padStart(18)}`,
    );
    for (const investor of investors) {
      const values = result.recoveries.map((r) => r.payouts[investor.address] ?? 0n);
      info(
        `${investor.name.padEnd(30)} ${values.map((v) => formatPay(v).padStart(18)).join(' ')} ${formatPay(values.reduce((a, b) => a + b, 0n)).padStart(18)}`,
      );
    }
    info(
      'GET /v1/investors/:address/payouts (cumulative in the accepted root, claimed as indexed, claimable):',
    );
    for (const investor of investors) {
      try {
        const payouts = await api.request('GET', `/v1/investors/${investor.address}/payouts`, {
          auth: false,
        });
        const item = (payouts.items as Json[]).find((p) => p.portfolioId === portfolioId);
        info(
          item === undefined
            ? `  ${investor.name.padEnd(30)} (no payout listed)`
            : `  ${investor.name.padEnd(30)} cumulative ${formatPay(BigInt(item.cumulative))}, claimed ${formatPay(BigInt(item.claimed))}, claimable ${formatPay(BigInt(item.claimable))}`,
        );
      } catch (error) {
        if (!(error instanceof ApiError && error.routeMissing)) throw error;
        info('  (this API build has no payouts route)');
        break;
      }
    }

    step('verify-distribution: recomputing every distribution from the chain and the published tree');
    // what `npm run cli -- verify-distribution <id> --rpc URL --api URL` does, in this process
    for (const recovery of result.recoveries) {
      const id = recovery.distributionId as string;
      const detail = await api.request('GET', `/v1/distributions/${id}`, { auth: false });
      const tree = await fetch(`${api.baseUrl}/v1/distributions/${id}/tree`);
      if (!tree.ok) throw new Error(`GET /v1/distributions/${id}/tree answered ${tree.status}`);
      const verified = await verifyDistribution({
        publicClient: base.publicClient as unknown as PublicClient,
        distribution: {
          id,
          chainId: detail.chainId,
          portfolio: detail.portfolio,
          recoveryId: detail.recoveryId,
        },
        treeBytes: new Uint8Array(await tree.arrayBuffer()),
      });
      const failed = verified.checks.filter((c) => !c.ok);
      const summary = verified.agree
        ? `agrees: root ${verified.expected.root.slice(0, 18)}..., cumulative ${formatPay(verified.expected.total)}, ${verified.expected.leaves} leaves, ${verified.checks.length} checks ok`
        : `DISAGREES: ${verified.reasons.join('; ')}`;
      result.verification.push({ distributionId: id, ok: verified.agree, summary });
      info(`recovery ${recovery.index + 1}, distribution ${id}: ${summary}`);
      for (const check of failed) info(`  FAIL ${check.name}: ${check.detail}`);
    }
    if (result.verification.every((v) => v.ok)) {
      info(
        `verify-distribution agrees with all ${result.verification.length} distributions; the same check from a shell, while the marketplace runs:`,
      );
      info(
        `  npm run cli -- verify-distribution ${result.recoveries[result.recoveries.length - 1]?.distributionId} --rpc ${options.rpcUrl} --api ${api.baseUrl}`,
      );
    } else {
      throw new Error('verify-distribution disagrees (see above)');
    }
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function stringify(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]),
  );
}

function jsonBig(_key: string, value: unknown) {
  return typeof value === 'bigint' ? value.toString() : value;
}
