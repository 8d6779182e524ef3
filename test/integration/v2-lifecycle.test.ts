/**
 * Issue 12's acceptance test: a spec-v2 portfolio walked through its whole life over REST on anvil +
 * Postgres + Redis, with the API and the worker (publish job, indexer, distribution job) running.
 *
 * - the issuer drafts it with a cash reserve (`reserve { targetBps, initial }`) and a collection-ratio
 *   trigger, uploads the loan tape and the business plan (CSV, in months), publishes it (the job funds
 *   `reserve.initial` from the issuer treasury, the platform key); three investors are allowlisted and
 *   buy different amounts of senior, mezzanine and residual (quotes, EIP-712 intent + permit, relayed);
 *   the issuer closes the offering;
 * - every recovery is backed by a remittance report (`reportId`), and the chain clock is moved past the
 *   plan's points: recovery 1 keeps up with the plan; recovery 2 comes after the 3-month point and is far
 *   behind it: the trigger is breached and the mezzanine's interest is deferred behind senior principal;
 *   recovery 3 is small and late: the reserve is drawn for the senior's interest; the issuer funds the
 *   reserve again over REST; recovery 4 catches up with the plan (cured) and replenishes the reserve
 *   toward its target; the servicer proposes resolution, the guardian vetoes it, the servicer proposes
 *   again, and after the delay the final recovery (`final: true`) releases the reserve and writes off
 *   the rest of the debt;
 * - the worker distributes each recovery (holders paid at least MIN_PUSH pushed, the others claim over
 *   REST, one of them also halfway through); then every holder's total pay-token receipts equal, to the
 *   unit, what this test computes on its own: `computeWaterfallV2` per recovery from the block times,
 *   the reserve carried and the funding added, and a floor-and-carry pro-rata split written here over
 *   the balances this test tracked from its own purchases and transfer;
 * - `verifyDistribution` agrees on every distribution of the walk and disagrees on a tampered tree leaf
 *   and on a tampered RecoveryTriggerAndReserve field;
 * - once resolved, a remittance report collecting on the (resolved) loans answers 422, a further recovery
 *   answers 409 PORTFOLIO_RESOLVED and a tranche-token transfer reverts. Each report is for its own month.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import {
  type Address,
  getAddress,
  type Hex,
  maxUint256,
  type PublicClient,
  parseEventLogs,
  type TypedDataDefinition,
  zeroAddress,
} from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSINESS_PLAN_MONTH_SECONDS } from '../../core/catalog/business-plan.ts';
import { approve, mintTestStablecoin } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack, MINTER_ROLE } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import {
  distributorAbi,
  portfolioAbi,
  testStablecoinAbi,
  trancheTokenAbi,
} from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { distributionChainId } from '../../core/distributions/compute.ts';
import { compareDistribution, readPublishedTree } from '../../core/distributions/verify/compare.ts';
import { readDistributionHistory } from '../../core/distributions/verify/history.ts';
import { verifyDistribution } from '../../core/distributions/verify/index.ts';
import { recomputeDistribution } from '../../core/distributions/verify/recompute.ts';
import {
  type BusinessPlanPoint,
  type ComputeWaterfallV2ReturnType,
  computeWaterfallV2,
  type TrancheState,
} from '../../core/domain/waterfall.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { DEV_SERVICER_KEY_FILE } from '../../core/servicing/dev-servicer.ts';
import type { NplWorker } from '../../worker/main.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import {
  startDistributionWorker,
  waitDistributions,
  waitDistributionsPaid,
} from '../helpers/distribution.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { createDistributionApp, payTokenBalance, platformChainOf, type StackApp } from '../helpers/stack.ts';

const UNIT = 10n ** 6n; // the TestStablecoin has 6 decimals
const usd = (whole: bigint) => whole * UNIT;
/** Tranche tokens have 18 decimals: 10^12 token base units per pay-token base unit of face. */
const SCALE = 10n ** 12n;
const DAY = 86_400n;
const MONTH = BigInt(BUSINESS_PLAN_MONTH_SECONDS);
/** The Distributors' timelock, and so the resolution delay (the floor on a local chain). */
const TIMELOCK = 2;
const LOANS = 20;
/** Holders paid less than this by a distribution are not pushed: they claim over REST. */
const MIN_PUSH = usd(10_000n);

const tranchesSpec = [
  { name: 'Senior', symbol: 'LCSNR', face: usd(1_000_000n), couponBps: 600, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'LCMEZ', face: usd(400_000n), couponBps: 1_000, priceBps: 9_000 },
  { name: 'Residual', symbol: 'LCRES', face: usd(200_000n), couponBps: 0, priceBps: 5_000 },
];
const fees = { servicerBps: 150, protocolBps: 50 };
const mode = 'interestFirst' as const;
const reserveTerms = { targetBps: 500, initial: usd(45_000n) };
const collectionRatioBps = 9_000;
/** The business plan as uploaded: months after the close → cumulative collections (whole units). */
const planCsv = [
  [1n, 50_000n],
  [3n, 300_000n],
  [6n, 600_000n],
  [10n, 900_000n],
] as const;
const businessPlan: BusinessPlanPoint[] = planCsv.map(([months, whole]) => ({
  atSeconds: months * MONTH,
  cumulative: usd(whole),
}));
/** Pay units of face each investor buys of each tranche (0: none). */
const purchasesSpec: Record<'alice' | 'bob' | 'carol', readonly bigint[]> = {
  alice: [usd(600_000n), usd(100_000n), usd(120_000n)],
  bob: [usd(300_000n), usd(250_000n), usd(30_000n)],
  carol: [usd(7_777n) + 770_000n, 0n, usd(5_000n)],
};

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let minter: ChainClients;
let servicer: ChainClients;
let investors: { name: keyof typeof purchasesSpec; clients: ChainClients; account: PrivateKeyAccount }[];
let app: StackApp;
let t: TestApp;
let platform: PlatformChain;
let workerRedis: ReturnType<typeof createRedis>;
let worker: NplWorker | undefined;
let client: PublicClient;
let issuer: Headers;
let admin: Headers;
let servicerKey: Headers;

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 10 });
  deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  client = deployer.publicClient as unknown as PublicClient;
  // account 0 deploys and holds every platform role (as `npm start`'s platform key): the app's and the
  // worker's relayer key, the issuer treasury, the guardian and the root proposer
  stack = await deployStack(deployer, { timelockDelay: TIMELOCK });
  // the test's own minter, so that the platform key sends nothing but through the relayer from here on
  minter = withAccount(deployer, anvil.accounts[9].privateKey);
  await sendAndWait(deployer, { contract: 'TestStablecoin', functionName: 'grantRole' }, () =>
    deployer.walletClient.writeContract({
      address: stack.testStablecoin as Address,
      abi: testStablecoinAbi,
      functionName: 'grantRole',
      args: [MINTER_ROLE, minter.account.address],
    }),
  );
  servicer = withAccount(deployer, anvil.accounts[2].privateKey);
  investors = (['alice', 'bob', 'carol'] as const).map((name, i) => ({
    name,
    clients: withAccount(deployer, anvil.accounts[3 + i].privateKey),
    account: privateKeyToAccount(anvil.accounts[3 + i].privateKey),
  }));
  app = await createDistributionApp(
    { anvil, deployer, stack },
    {
      name: 'v2-lifecycle',
      overrides: { PLATFORM_PRIVATE_KEY: anvil.accounts[0].privateKey },
      // the servicer's key is the app's development servicer key: the API signs its intents
      prepare: (dir) =>
        writeFile(path.join(dir, DEV_SERVICER_KEY_FILE), `${anvil.accounts[2].privateKey}\n`, {
          mode: 0o600,
        }),
    },
  );
  t = app.t;
  platform = await platformChainOf(t, stack);
  workerRedis = createRedis(t.config.REDIS_URL as string);
  worker = await startDistributionWorker({
    t,
    redis: workerRedis,
    platform,
    stack,
    distribution: { minPush: MIN_PUSH },
  });
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  servicerKey = await apiKeyHeaders(t.db.prisma, 'servicer', servicer.account.address);
}, 120_000);

afterAll(async () => {
  await worker?.close();
  workerRedis?.disconnect();
  await app?.close();
  await anvil?.stop();
});

// ------------------------------------------------------------------ REST and chain helpers

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
const api = (method: Method, url: string, headers?: Headers, payload?: unknown) =>
  t.app.inject({ method, url, headers, payload: payload as object });
const csv = (method: Method, url: string, headers: Headers, body: string) =>
  t.app.inject({ method, url, headers: { ...headers, 'content-type': 'text/csv' }, payload: body });

function expectStatus(res: LightMyRequestResponse, status: number) {
  expect(res.statusCode, `${res.statusCode} ${res.body}`).toBe(status);
  return res.json();
}

async function poll<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what}: not done in time`);
}

/** A relayed transaction (relay_tx row) out of `pending`; it must have been mined. */
async function relayMined(relayTxId: string) {
  const row = await poll(
    `relay tx ${relayTxId}`,
    () => t.db.prisma.relayTx.findUniqueOrThrow({ where: { id: relayTxId } }),
    (r) => r.status !== 'pending',
  );
  expect(row.status, row.revertReason ?? '').toBe('mined');
  return client.getTransactionReceipt({ hash: row.txHash as Hex });
}

const receiptOf = async (hash: Hex) => {
  const receipt = await client.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe('success');
  return receipt;
};

/** Base units (a multiple of 100) as a decimal with 4 decimals, the remittance report's cell. */
function decimal4(amount: bigint): string {
  expect(amount % 100n).toBe(0n);
  return `${amount / UNIT}.${String((amount % UNIT) / 100n).padStart(4, '0')}`;
}

const loanId = (i: number) => `L${String(i).padStart(8, '0')}`;

// ------------------------------------------------------------------ the test's own ledger

/** balances[tranche][lowercase account], kept from this test's own purchases and transfer. */
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
  return { payouts, dust: pot - paid };
}

// ------------------------------------------------------------------ what the walk records

type Recorded = {
  amount: bigint;
  final: boolean;
  timestamp: bigint;
  /** Reserve funded (ReserveFunded) since the previous recovery. */
  fundedBefore: bigint;
  snapshot: Map<string, bigint>[];
  distributed: {
    servicerFee: bigint;
    protocolFee: bigint;
    interest: readonly bigint[];
    principal: readonly bigint[];
    residual: readonly bigint[];
    undistributed: bigint;
    reportHash: Hex;
  };
  v2: {
    triggerBreached: boolean;
    collected: bigint;
    planned: bigint;
    released: bigint;
    drawn: bigint;
    replenished: bigint;
    reserveBalance: bigint;
  };
  resolved: { principalWrittenOff: readonly bigint[]; interestWrittenOff: readonly bigint[] } | null;
};

describe('issue 12: a spec-v2 portfolio from draft to resolution over REST', () => {
  let portfolioId: string;
  let portfolio: Address;
  let distributor: Address;
  let tokens: Address[];
  let closedAt: bigint;
  let sold: bigint[];
  const recorded: Recorded[] = [];
  const expected: ComputeWaterfallV2ReturnType[] = [];
  const expectedCumulative: Map<string, bigint>[] = [];
  const baseline = new Map<string, bigint>();
  let fundedSinceRecovery = 0n;
  let restClaims = 0;
  let distributionRows: Awaited<ReturnType<typeof waitDistributionsPaid>>;

  it('drafts, publishes, sells and closes the portfolio over REST', async () => {
    // ---------------------------------------------------------------- the draft, its tape and its business plan
    const draft = expectStatus(
      await api('POST', '/v1/portfolios', issuer, {
        name: 'Lifecycle v2',
        assetClass: 'corporate',
        jurisdiction: 'IT',
        currency: 'EUR',
        askingPrice: usd(1_000_000n).toString(),
        payTokenDecimals: 6,
        servicerAddress: servicer.account.address,
        fees,
        waterfallMode: mode,
        tranches: tranchesSpec.map((s, i) => ({
          name: s.name,
          symbol: s.symbol,
          face: s.face.toString(),
          ...(i === tranchesSpec.length - 1 ? {} : { couponBps: s.couponBps }),
          priceBps: s.priceBps,
        })),
        reserve: { targetBps: reserveTerms.targetBps, initial: reserveTerms.initial.toString() },
        trigger: { collectionRatioBps },
      }),
      201,
    );
    portfolioId = draft.id;
    expectStatus(
      await csv('PUT', `/v1/portfolios/${portfolioId}/loan-tape`, issuer, loanTapeCsv({ rows: LOANS })),
      200,
    );
    const plan = expectStatus(
      await csv(
        'PUT',
        `/v1/portfolios/${portfolioId}/business-plan`,
        issuer,
        `months_after_close,cumulative_collections\n${planCsv.map(([m, c]) => `${m},${c}`).join('\n')}\n`,
      ),
      200,
    );
    expect(plan.trigger).toEqual({
      collectionRatioBps,
      businessPlan: businessPlan.map((p) => ({
        atSeconds: Number(p.atSeconds),
        cumulative: p.cumulative.toString(),
      })),
    });

    // ---------------------------------------------------------------- publish: the job funds reserve.initial from the treasury
    const treasury = platform.clients.account.address;
    await mintTestStablecoin(minter, {
      token: stack.testStablecoin as Address,
      to: treasury,
      amount: reserveTerms.initial,
    });
    // the initial reserve spends the (shared) issuer treasury before anything was sold: an admin publishes it
    const refused = expectStatus(await api('POST', `/v1/portfolios/${portfolioId}/publish`, issuer), 403);
    expect(refused.message).toMatch(/reserve\.initial/);
    const published = expectStatus(await api('POST', `/v1/portfolios/${portfolioId}/publish`, admin), 202);
    const job = await poll(
      'publish job',
      async () => expectStatus(await api('GET', `/v1/jobs/${published.job.id}`, issuer), 200),
      (j) => j.status === 'succeeded' || j.status === 'failed',
    );
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    const detail = expectStatus(await api('GET', `/v1/portfolios/${portfolioId}`), 200);
    portfolio = getAddress(detail.chain.portfolio);
    distributor = getAddress(detail.chain.distributor);
    tokens = detail.tranches.map((tr: { address: string }) => getAddress(tr.address));
    const trancheIds: string[] = detail.tranches.map((tr: { id: string }) => tr.id);
    const [terms, reserveAtPublish] = await Promise.all([
      client.readContract({ address: portfolio, abi: portfolioAbi, functionName: 'riskTerms' }),
      client.readContract({ address: portfolio, abi: portfolioAbi, functionName: 'reserve' }),
    ]);
    expect(terms[0]).toBe(BigInt(reserveTerms.targetBps));
    expect(terms[1]).toBe(BigInt(collectionRatioBps));
    expect(terms[2].map((p) => [p.atSeconds, p.cumulative])).toEqual(
      businessPlan.map((p) => [p.atSeconds, p.cumulative]),
    );
    expect(terms[3]).toBe(BigInt(TIMELOCK));
    expect(reserveAtPublish).toEqual([reserveTerms.initial, reserveTerms.initial]);

    // ---------------------------------------------------------------- allowlisted over REST, then the purchases
    const expiresAt = new Date(Date.now() + 20 * 365 * 86_400_000).toISOString();
    for (const investor of investors) {
      const address = investor.account.address;
      const allowed = expectStatus(
        await api('POST', `/v1/investors/${address}/allowlist`, admin, { expiresAt }),
        202,
      );
      await relayMined(allowed.relayTx.id);
      await mintTestStablecoin(minter, {
        token: stack.testStablecoin as Address,
        to: address,
        amount: usd(1_000_000n),
      });
    }
    for (const investor of investors) {
      for (const [tranche, face] of purchasesSpec[investor.name].entries()) {
        if (face === 0n) continue;
        const amount = face * SCALE;
        const quote = expectStatus(
          await api('POST', `/v1/tranches/${trancheIds[tranche]}/quotes`, undefined, {
            buyer: investor.account.address,
            amount: amount.toString(),
          }),
          201,
        );
        expect(BigInt(quote.cost)).toBe((face * BigInt(tranchesSpec[tranche].priceBps)) / 10_000n);
        const typed = quote.typedData as { purchase: TypedDataDefinition; permit: TypedDataDefinition };
        const accepted = expectStatus(
          await api('POST', '/v1/purchases', undefined, {
            quoteId: quote.id,
            purchaseSignature: await investor.account.signTypedData(typed.purchase),
            permitSignature: await investor.account.signTypedData(typed.permit),
          }),
          202,
        );
        const settled = await poll(
          `purchase ${accepted.id}`,
          async () => expectStatus(await api('GET', `/v1/purchases/${accepted.id}`), 200),
          (p) => p.status !== 'pending',
        );
        expect(settled.status, settled.reason ?? '').toMatch(/^(mined|confirmed)$/);
        move(tranche, zeroAddress, investor.account.address, amount);
      }
    }
    for (const [tranche, token] of tokens.entries()) {
      for (const investor of investors) {
        const balance = await client.readContract({
          address: token,
          abi: trancheTokenAbi,
          functionName: 'balanceOf',
          args: [investor.account.address],
        });
        expect(balance).toBe(ledger[tranche].get(investor.account.address.toLowerCase()) ?? 0n);
      }
    }
    for (const investor of investors) {
      const address = investor.account.address;
      baseline.set(address, await payTokenBalance(deployer, stack, address));
    }

    // ---------------------------------------------------------------- the issuer closes the offering
    const close = expectStatus(
      await api('POST', `/v1/portfolios/${portfolioId}/offering/close`, issuer),
      202,
    );
    const closeReceipt = await relayMined(close.relayTxId);
    const [closed] = parseEventLogs({
      abi: portfolioAbi,
      logs: closeReceipt.logs,
      eventName: 'OfferingClosed',
    });
    closedAt = closed.args.closedAt;
    sold = [...closed.args.sold];
    expect(sold).toEqual(
      tranchesSpec.map((_, i) => investors.reduce((s, inv) => s + purchasesSpec[inv.name][i], 0n)),
    );

    // the servicer's wallet holds the collections and lets the Portfolio pull them
    await mintTestStablecoin(minter, {
      token: stack.testStablecoin as Address,
      to: servicer.account.address,
      amount: usd(2_000_000n),
    });
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: portfolio,
      amount: maxUint256,
    });
  }, 60_000);

  // ---------------------------------------------------------------- the walk's steps

  const testClient = () => createAnvilTestClient(anvil.rpcUrl);

  /** Moves the chain clock to `seconds` after the close (no-op when it is already later). */
  async function clockAt(seconds: bigint) {
    const now = (await client.getBlock()).timestamp;
    const target = closedAt + seconds;
    if (target <= now) return;
    await testClient().increaseTime({ seconds: Number(target - now) });
    await testClient().mine({ blocks: 1 });
  }

  let reports = 0;
  /** The calendar month of `date` (YYYY-MM-DD) as a report's period query (the months follow one another). */
  const monthOf = (date: string) => {
    const [y, m] = date.split('-').map(Number);
    const last = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
    return `periodStart=${date.slice(0, 8)}01&periodEnd=${last}`;
  };
  /**
   * The servicer's remittance report for `amount` (every loan of the tape, the amount spread over three
   * loans), uploaded over REST for the month of `collectedOn`; `final`: the last one, every loan resolved
   * (settled or written off).
   */
  function remittanceBody(amount: bigint, collectedOn: string, final = false) {
    const n = reports++;
    const collecting = [0, 1, 2].map((k) => (n * 3 + k) % LOANS);
    const part = (amount / 3n / 100n) * 100n;
    const lines = Array.from({ length: LOANS }, (_, i) => {
      const k = collecting.indexOf(i);
      const collected = k === -1 ? 0n : k < 2 ? part : amount - 2n * part;
      const resolution = final ? (collected === 0n ? 'written_off' : 'settled') : '';
      return `${loanId(i)},${collected === 0n ? '0' : decimal4(collected)},${collected === 0n ? '' : collectedOn},${resolution}`;
    });
    return `loan_id,collected,collected_on,resolution\n${lines.join('\n')}\n`;
  }
  async function remittanceReport(amount: bigint, collectedOn: string, final = false) {
    const body = remittanceBody(amount, collectedOn, final);
    const url = `/v1/portfolios/${portfolioId}/remittance-reports?${monthOf(collectedOn)}`;
    const report = expectStatus(await csv('POST', url, servicerKey, body), 201);
    expect(report.total).toBe(amount.toString());
    expect(report.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    return report as { id: string; sha256: string };
  }

  /** One recovery over REST behind its remittance report; records what the chain did with it. */
  async function recover(amount: bigint, collectedOn: string, options: { final?: boolean } = {}) {
    const final = options.final ?? false;
    const report = await remittanceReport(amount, collectedOn, final);
    const accepted = expectStatus(
      await api('POST', `/v1/portfolios/${portfolioId}/recoveries`, servicerKey, {
        amount: amount.toString(),
        reportId: report.id,
        ...(final ? { final: true } : {}),
      }),
      202,
    );
    expect(accepted).toMatchObject({ final, reportSha256: report.sha256, amount: amount.toString() });
    const view = await poll(
      `recovery ${accepted.id}`,
      async () => expectStatus(await api('GET', `/v1/recoveries/${accepted.id}`), 200),
      (v) => v.status !== 'pending',
    );
    expect(view.status, view.reason ?? '').toMatch(/^(mined|confirmed)$/);
    const receipt = await receiptOf(view.txHash as Hex);
    const [distributed] = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'RecoveryDistributed',
    });
    const [v2] = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'RecoveryTriggerAndReserve',
    });
    const resolved = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'PortfolioResolved',
    });
    expect(distributed.args.recoveryId).toBe(BigInt(recorded.length + 1));
    expect(distributed.args.reportHash).toBe(`0x${report.sha256}`);
    expect(distributed.args.snapshotBlock).toBe(receipt.blockNumber - 1n);
    expect(resolved).toHaveLength(final ? 1 : 0);
    const block = await client.getBlock({ blockNumber: receipt.blockNumber });
    recorded.push({
      amount,
      final,
      timestamp: block.timestamp,
      fundedBefore: fundedSinceRecovery,
      snapshot: snapshotLedger(),
      distributed: distributed.args,
      v2: v2.args,
      resolved: resolved[0]?.args ?? null,
    });
    fundedSinceRecovery = 0n;
    return recorded.at(-1) as Recorded;
  }

  /** The issuer funds the reserve over REST (from the issuer treasury, the platform key). */
  async function fundReserve(amount: bigint) {
    const funding = expectStatus(
      await api('POST', `/v1/portfolios/${portfolioId}/reserve/funding`, issuer, {
        amount: amount.toString(),
      }),
      202,
    );
    const receipt = await relayMined(funding.id);
    const [funded] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'ReserveFunded' });
    expect(funded.args.amount).toBe(amount);
    fundedSinceRecovery += amount;
    return funded.args;
  }

  /** Claims over REST what the latest accepted root still owes `address`; returns the amount (0: nothing). */
  async function claimOverRest(address: Address) {
    const before = await payTokenBalance(deployer, stack, address);
    const res = await api('POST', `/v1/investors/${address}/claims`, undefined, { portfolioId });
    if (res.statusCode === 409) return 0n;
    const { items } = expectStatus(res, 202) as { items: { txHash: Hex }[] };
    expect(items).toHaveLength(1);
    await receiptOf(items[0].txHash);
    restClaims++;
    return (await payTokenBalance(deployer, stack, address)) - before;
  }

  const resolution = async () =>
    expectStatus(await api('GET', `/v1/portfolios/${portfolioId}/resolution`), 200) as {
      status: string;
      executableAt: string | null;
      executable: boolean;
    };

  it('walks the portfolio through breach, deferral, draw, funding, cure, veto and resolution', async () => {
    // recovery 1 at 40 days: ahead of the 1-month point of the plan (80,000 ≥ 90% of 50,000)
    await clockAt(40n * DAY);
    const r1 = await recover(usd(80_000n) + 123_400n, '2026-02-10');
    expect(r1.v2.triggerBreached).toBe(false);

    // carol claims her first payout over REST (below the push minimum) once it is claimable
    await waitDistributions(t, portfolioId, (rows) => rows.length === 1 && rows[0].status === 'paid', {
      timeoutMs: 30_000,
      pollMs: 100,
    });
    const carol = investors[2].account.address;
    const carolFirst = await claimOverRest(carol);
    expect(carolFirst).toBeGreaterThan(0n);

    // alice sells mezzanine to bob between recoveries: later snapshots differ
    const handed = usd(40_000n) * SCALE;
    const alice = investors[0];
    await receiptOf(
      await alice.clients.walletClient.writeContract({
        address: tokens[1],
        abi: trancheTokenAbi,
        functionName: 'transfer',
        args: [investors[1].account.address, handed],
      }),
    );
    move(1, alice.account.address, investors[1].account.address, handed);

    // recovery 2 at 95 days, past the 3-month point: 110,000 collected against 90% of 300,000 planned
    await clockAt(95n * DAY);
    const r2 = await recover(usd(30_000n), '2026-04-05');
    expect(r2.v2.triggerBreached).toBe(true);
    expect(r2.v2.planned).toBe(businessPlan[1].cumulative);

    // recovery 3 at 160 days: small and late, the senior's interest drawn from the reserve
    await clockAt(160n * DAY);
    const r3 = await recover(usd(2_000n) + 500_000n, '2026-06-10');
    expect(r3.v2.triggerBreached).toBe(true);
    expect(r3.v2.drawn).toBeGreaterThan(0n);

    // the issuer tops the reserve up over REST (less than the draw took out)
    const funded = await fundReserve(usd(2_000n));
    expect(funded.balance).toBe(r3.v2.reserveBalance + usd(2_000n));

    // recovery 4 at 200 days, past the 6-month point: 762,000 collected against 90% of 600,000: cured
    await clockAt(200n * DAY);
    const r4 = await recover(usd(650_000n), '2026-07-20');
    expect(r4.v2.triggerBreached).toBe(false);
    expect(r4.v2.replenished).toBeGreaterThan(0n);

    // resolution: proposed (the API signs as the development servicer), vetoed by the guardian, proposed again
    const first = expectStatus(
      await api('POST', `/v1/portfolios/${portfolioId}/resolution`, servicerKey),
      202,
    );
    await relayMined(first.id);
    const proposed = await resolution();
    expect(proposed.status).toBe('resolving');
    const veto = expectStatus(await api('DELETE', `/v1/portfolios/${portfolioId}/resolution`, admin), 200);
    expect(veto.vetoedExecutableAt).toBe(proposed.executableAt);
    await receiptOf(veto.txHash as Hex);
    expect((await resolution()).status).toBe('open');
    // a final recovery without a standing proposal is refused, nothing sent
    const refused = await api('POST', `/v1/portfolios/${portfolioId}/recoveries`, servicerKey, {
      amount: usd(1n).toString(),
      reportSha256: 'ab'.repeat(32),
      final: true,
    });
    expect(expectStatus(refused, 409).details.reason).toBe('RESOLUTION_NOT_PROPOSED');
    const second = expectStatus(
      await api('POST', `/v1/portfolios/${portfolioId}/resolution`, servicerKey),
      202,
    );
    await relayMined(second.id);
    const again = await resolution();
    expect(again.status).toBe('resolving');
    expect(BigInt(again.executableAt as string)).toBeGreaterThanOrEqual(
      BigInt(proposed.executableAt as string),
    );

    // the final recovery at 230 days, after the delay: the reserve released, the rest written off
    await clockAt(230n * DAY);
    expect((await resolution()).executable).toBe(true);
    const r5 = await recover(usd(50_000n) + 100n, '2026-08-20', { final: true });
    expect(r5.v2.released).toBeGreaterThan(0n);
    expect(r5.v2.reserveBalance).toBe(0n);
    expect(r5.resolved?.principalWrittenOff.every((w, i) => i === 2 || w > 0n)).toBe(true);
    expect((await resolution()).status).toBe('resolved');

    // ---------------------------------------------------------------- after resolution nothing moves
    // every loan was resolved by the final report: a later report collecting on them is refused (422)
    const lateBody = remittanceBody(usd(1_000n), '2026-09-01');
    const late = await csv(
      'POST',
      `/v1/portfolios/${portfolioId}/remittance-reports?${monthOf('2026-09-01')}`,
      servicerKey,
      lateBody,
    );
    expect(
      expectStatus(late, 422).details.errors.map((e: { column: string; reason: string }) => [
        e.column,
        e.reason,
      ]),
    ).toEqual(
      Array.from({ length: 3 }, () => [
        'collected',
        expect.stringMatching(/a resolved loan cannot collect again$/),
      ]),
    );
    const afterwards = await api('POST', `/v1/portfolios/${portfolioId}/recoveries`, servicerKey, {
      amount: usd(1_000n).toString(),
      reportSha256: createHash('sha256').update(lateBody).digest('hex'),
    });
    expect(expectStatus(afterwards, 409).details.reason).toBe('PORTFOLIO_RESOLVED');
    await expect(
      client.simulateContract({
        account: alice.account,
        address: tokens[0],
        abi: trancheTokenAbi,
        functionName: 'transfer',
        args: [investors[1].account.address, 1n],
      }),
    ).rejects.toThrow(/TrancheTokenPaused/);
    expect(
      await client.readContract({ address: portfolio, abi: portfolioAbi, functionName: 'recoveryCount' }),
    ).toBe(5n);
  }, 60_000);

  it('pays every holder exactly what the waterfall and the pro-rata rule give, computed here', async () => {
    // ---------------------------------------------------------------- independent expectations
    let state: TrancheState[] = tranchesSpec.map((spec, i) => ({
      face: spec.face,
      couponBps: spec.couponBps,
      outstanding: sold[i],
      interestArrears: 0n,
    }));
    let reserve = reserveTerms.initial;
    let clockSeconds = 0n;
    let collected = 0n;
    let previousAt = closedAt;
    const carry = tranchesSpec.map(() => 0n);
    const paid = new Map<string, bigint>();
    for (const r of recorded) {
      reserve += r.fundedBefore;
      const input = {
        tranches: state,
        fees,
        mode,
        elapsedSeconds: r.timestamp - previousAt,
        amount: r.amount,
        reserve: { targetBps: reserveTerms.targetBps, balance: reserve },
        trigger: { collectionRatioBps, businessPlan },
        clockSeconds,
        collected,
        final: r.final,
      };
      const w = computeWaterfallV2(input);
      expected.push(w);
      // the chain ran the same waterfall
      expect(r.distributed).toMatchObject({
        servicerFee: w.servicerFee,
        protocolFee: w.protocolFee,
        interest: w.tranches.map((x) => x.interest),
        principal: w.tranches.map((x) => x.principal),
        residual: w.tranches.map((x) => x.residual),
        undistributed: w.undistributed,
      });
      expect(r.v2).toMatchObject({
        triggerBreached: w.triggerBreached,
        collected: w.collected,
        planned: w.planned,
        released: w.reserve.released,
        drawn: w.reserve.drawn,
        replenished: w.reserve.replenished,
        reserveBalance: w.reserve.balanceAfter,
      });
      expect(r.resolved).toEqual(
        r.final
          ? {
              recoveryId: BigInt(expected.length),
              principalWrittenOff: w.tranches.map((x) => x.principalWrittenOff),
              interestWrittenOff: w.tranches.map((x) => x.interestWrittenOff),
            }
          : null,
      );
      if (expected.length === 2) {
        // breached: the cash left after the senior's interest went to senior principal, the mezzanine's
        // interest deferred (it accrued and waits); not breached it would have been paid first
        expect(w.triggerBreached).toBe(true);
        expect(w.tranches[0].principal).toBeGreaterThan(0n);
        expect(w.tranches[1].interest).toBe(0n);
        expect(w.tranches[1].interestArrearsAfter).toBeGreaterThan(0n);
        const unbreached = computeWaterfallV2({ ...input, trigger: undefined });
        expect(unbreached.tranches[1].interest).toBe(w.tranches[1].interestArrearsAfter);
      }
      state = w.state;
      reserve = w.reserve.balanceAfter;
      clockSeconds = w.clockSeconds;
      collected = w.collected;
      previousAt = r.timestamp;
      for (const [i, payment] of w.tranches.entries()) {
        const split = proRata(payment.total, carry[i], r.snapshot[i]);
        carry[i] = split.dust;
        for (const [account, payout] of split.payouts) paid.set(account, (paid.get(account) ?? 0n) + payout);
      }
      expectedCumulative.push(new Map(paid));
    }
    // the walk's story, recomputed: kept up, breached (deferral), breached (draw), cured (replenished), final
    expect(expected.map((w) => w.triggerBreached)).toEqual([false, true, true, false, false]);
    expect(expected[2].reserve.drawn).toBeGreaterThan(0n);
    expect(expected[2].tranches[1].interest).toBe(0n);
    expect(expected[3].reserve.replenished).toBeGreaterThan(0n);
    expect(expected[3].reserve.balanceAfter).toBe(expected[3].reserveTarget);
    expect(expected[3].tranches[1].interest).toBeGreaterThan(0n);
    expect(expected[4].resolved).toBe(true);
    expect(expected[4].tranches[1].principalWrittenOff).toBe(sold[1]);
    expect(carry.some((c) => c > 0n)).toBe(true);

    // ---------------------------------------------------------------- the worker distributed all five
    distributionRows = await waitDistributionsPaid(t, portfolioId, 5, { timeoutMs: 60_000, pollMs: 100 });
    const listed = expectStatus(await api('GET', `/v1/portfolios/${portfolioId}/distributions`), 200);
    const items = listed.items as { recoveryId: string; tranches: { amount: string }[] }[];
    expect(items.map((i) => i.tranches.map((x) => BigInt(x.amount)))).toEqual(
      expected.map((w) => w.tranches.map((x) => x.total)),
    );

    // holders not pushed claim the rest over REST
    for (const investor of investors) await claimOverRest(investor.account.address);
    expect(restClaims).toBeGreaterThanOrEqual(2);

    // ---------------------------------------------------------------- to the unit
    let received = 0n;
    for (const investor of investors) {
      const address = investor.account.address;
      const got = (await payTokenBalance(deployer, stack, address)) - (baseline.get(address) ?? 0n);
      received += got;
      expect(got, investor.name).toBe(paid.get(address.toLowerCase()) ?? 0n);
      const claimed = await client.readContract({
        address: distributor,
        abi: distributorAbi,
        functionName: 'claimed',
        args: [address],
      });
      expect(claimed).toBe(got);
    }
    expect(paid.size).toBe(investors.length);
    const totalFunded = await client.readContract({
      address: distributor,
      abi: distributorAbi,
      functionName: 'totalFunded',
    });
    expect(received + carry.reduce((a, b) => a + b, 0n)).toBe(totalFunded);

    // the index tells the same story (GET /performance)
    const performance = expectStatus(await api('GET', `/v1/portfolios/${portfolioId}/performance`), 200);
    expect(performance.resolution).toMatchObject({ status: 'resolved', proposals: 2, vetoes: 1 });
    expect(
      performance.collections.history.map((h: { triggerBreached: boolean; drawn: string }) => [
        h.triggerBreached,
        BigInt(h.drawn),
      ]),
    ).toEqual(expected.map((w) => [w.triggerBreached, w.reserve.drawn]));
    expect(BigInt(performance.reserve.funded)).toBe(reserveTerms.initial + usd(2_000n));
    const sum = (pick: (x: ComputeWaterfallV2ReturnType['tranches'][number]) => bigint, i: number) =>
      expected.reduce((s, w) => s + pick(w.tranches[i]), 0n).toString();
    expect(performance.tranches).toMatchObject(
      tranchesSpec.map((_, i) => ({
        sold: sold[i].toString(),
        outstanding: i === tranchesSpec.length - 1 ? sold[i].toString() : '0',
        paidInterest: sum((x) => x.interest, i),
        paidPrincipal: sum((x) => x.principal, i),
        paidResidual: sum((x) => x.residual, i),
        principalWrittenOff: sum((x) => x.principalWrittenOff, i),
        interestWrittenOff: sum((x) => x.interestWrittenOff, i),
      })),
    );
    // and GET /v1/portfolios/:id shows the same tranche state, from the index (this app has no chain
    // client, so the arrears, chain state in no event, are null)
    const detail = expectStatus(await api('GET', `/v1/portfolios/${portfolioId}`), 200);
    expect(
      detail.tranches.map(
        (t: { sold: string; outstanding: string; paidToDate: string; interestArrears: null }) => [
          t.sold,
          t.outstanding,
          t.paidToDate,
          t.interestArrears,
        ],
      ),
    ).toEqual(
      tranchesSpec.map((_, i) => [
        sold[i].toString(),
        i === tranchesSpec.length - 1 ? sold[i].toString() : '0',
        expected.reduce((s, w) => s + w.tranches[i].total, 0n).toString(),
        null,
      ]),
    );
  }, 90_000);

  it('verify-distribution agrees on every distribution of the walk and disagrees on tampered ones', async () => {
    const treeOf = async (id: string) => (await api('GET', `/v1/distributions/${id}/tree`)).rawPayload;
    for (const [r, row] of distributionRows.entries()) {
      const detail = expectStatus(await api('GET', `/v1/distributions/${row.id}`), 200);
      const result = await verifyDistribution({
        publicClient: client,
        distribution: detail,
        treeBytes: await treeOf(row.id),
      });
      expect(result.reasons).toEqual([]);
      expect(result.agree).toBe(true);
      expect(result.recoveries).toHaveLength(r + 1);
      const last = result.recoveries[r];
      expect(last.final).toBe(r === 4);
      expect(last.triggerBreached).toBe(expected[r].triggerBreached);
      expect(last.reserve).toMatchObject({
        released: expected[r].reserve.released,
        drawn: expected[r].reserve.drawn,
        replenished: expected[r].reserve.replenished,
        balanceAfter: expected[r].reserve.balanceAfter,
      });
      // the root commits to the cumulative amounts this test computed on its own
      expect(result.expected.total).toBe([...expectedCumulative[r].values()].reduce((a, b) => a + b, 0n));
      expect(result.report.trimEnd().split('\n').at(-1)).toBe('agree');
    }

    // one leaf of the draw's distribution changed: caught, the account named
    const drawRow = distributionRows[2];
    const detail = expectStatus(await api('GET', `/v1/distributions/${drawRow.id}`), 200);
    const dump = JSON.parse(Buffer.from(await treeOf(drawRow.id)).toString('utf8')) as {
      values: { value: [string, string] }[];
    };
    const victim = dump.values[0].value;
    victim[1] = (BigInt(victim[1]) + 1n).toString();
    const tampered = await verifyDistribution({
      publicClient: client,
      distribution: detail,
      treeBytes: Buffer.from(JSON.stringify(dump)),
    });
    expect(tampered.agree).toBe(false);
    expect(tampered.differences).toEqual([
      { account: getAddress(victim[0]), expected: BigInt(victim[1]) - 1n, published: BigInt(victim[1]) },
    ]);
    expect(tampered.report.trimEnd().split('\n').at(-1)).toMatch(/^DISAGREE: /);

    // one RecoveryTriggerAndReserve field of the chain history changed (the cure's replenishment): caught
    const lastRow = distributionRows[4];
    const history = await readDistributionHistory(client, {
      portfolio,
      recoveryId: 5n,
      distributionId: distributionChainId(lastRow.id),
      range: 2000n,
      progress: () => {},
    });
    const published = readPublishedTree(await treeOf(lastRow.id));
    const honest = compareDistribution({ history, recomputed: recomputeDistribution(history), published });
    expect(honest.reasons).toEqual([]);
    const forged = structuredClone(history);
    const cure = forged.recoveries[3].triggerAndReserve;
    expect(cure?.replenished).toBe(expected[3].reserve.replenished);
    if (cure) cure.replenished += 1n;
    const caught = compareDistribution({
      history: forged,
      recomputed: recomputeDistribution(forged),
      published,
    });
    expect(caught.agree).toBe(false);
    expect(caught.reasons).toEqual([
      `waterfall #4: replenished ${expected[3].reserve.replenished + 1n} on-chain, ${expected[3].reserve.replenished} recomputed`,
    ]);
  }, 60_000);
});
