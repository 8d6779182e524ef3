/**
 * GET /v1/portfolios/:id/performance on anvil + Postgres through the app, with real indexer rows: a v2
 * portfolio (reserve, trigger over a business plan) through reserve funding, a recovery that breaches
 * the trigger, one that does not, a proposal, a veto, a second proposal and the final recovery, each
 * recovery backed by a remittance report of a 12-loan tape. Every figure is checked against an
 * independent computation: the waterfall replayed with `computeWaterfallV2` (core/domain) from the
 * blocks' timestamps, the loans grouped here from the report rows and the tape's cells.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Address, Hex, TransactionReceipt } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestLoanTape } from '../../core/catalog/loan-tape/ingest.ts';
import { depositRecovery } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import {
  type ComputeWaterfallV2ReturnType,
  computeWaterfallV2,
  type TrancheState,
} from '../../core/domain/waterfall.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { buildApp } from '../../server/app.ts';
import { createIndexer, type Indexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';
import { LOAN_TAPE_HEADER, loanRow, loanTapeCsv } from '../helpers/loan-tape.ts';
import { createClosedPortfolio, recordPublishedPortfolio } from '../helpers/portfolio.ts';
import {
  depositFinalRecovery,
  fundReserve,
  proposeResolution,
  runV2Scenario,
  USD,
  V2_FINAL_AMOUNT,
  V2_FUNDINGS,
  V2_PLAN,
  V2_RECOVERIES,
  V2_TERMS,
  V2_TRANCHES,
  vetoResolution,
} from '../helpers/portfolio-v2.ts';
import { fundServicer } from '../helpers/stack.ts';

const LOANS = 12;
const loanId = (i: number) => `L${String(i).padStart(8, '0')}`;

let db: TestDatabase;
let redis: ReturnType<typeof createRedis>;
let app: Awaited<ReturnType<typeof buildApp>>;
let noChain: TestApp;
let anvil: AnvilInstance;
let platform: ChainClients;
let servicer: ChainClients;
let treasury: ChainClients;
let guardian: ChainClients;
let holders: ChainClients[];
let stack: DeployedStack;
let testClient: ReturnType<typeof createAnvilTestClient>;
let indexer: Indexer;
let servicerKey: Headers;
let portfolio: Address;
let portfolioId: string;
const reportHashes: Hex[] = [];

// ------------------------------------------------------------------ the independent model

/** What the test did, in order: fundings and recoveries with their blocks. */
type Step =
  | { kind: 'fund'; amount: bigint; receipt: TransactionReceipt }
  | { kind: 'recovery'; amount: bigint; final: boolean; receipt: TransactionReceipt };
const steps: Step[] = [];
let closedAt: bigint;

const blockTime = async (blockNumber: bigint) =>
  (await platform.publicClient.getBlock({ blockNumber })).timestamp;

/** The waterfall replayed from the steps (computeWaterfallV2 per recovery, fundings between them). */
async function replay() {
  let state: TrancheState[] = V2_TRANCHES.map((t, i) => ({
    face: t.face,
    couponBps: t.couponBps,
    residual: i === V2_TRANCHES.length - 1 ? true : undefined,
    outstanding: t.face,
    interestArrears: 0n,
  }));
  let reserve = 0n;
  let funded = 0n;
  let clock = 0n;
  let collected = 0n;
  let last = closedAt;
  const results: ComputeWaterfallV2ReturnType[] = [];
  for (const step of steps) {
    if (step.kind === 'fund') {
      reserve += step.amount;
      funded += step.amount;
      continue;
    }
    const at = await blockTime(step.receipt.blockNumber);
    const result = computeWaterfallV2({
      tranches: state,
      fees: { servicerBps: V2_TERMS.servicerFeeBps, protocolBps: V2_TERMS.protocolFeeBps },
      mode: 'interestFirst',
      elapsedSeconds: at - last,
      amount: step.amount,
      reserve: { targetBps: V2_TERMS.reserve.targetBps, balance: reserve },
      trigger: V2_TERMS.trigger,
      clockSeconds: clock,
      collected,
      final: step.final,
    });
    results.push(result);
    state = result.state;
    reserve = result.reserve.balanceAfter;
    clock = result.clockSeconds;
    collected = result.collected;
    last = at;
  }
  return { results, state, reserve, funded, collected };
}

const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
const bps = (a: bigint, b: bigint) => (b === 0n ? null : Number((a * 10_000n) / b));

// ------------------------------------------------------------------ remittance reports

/**
 * collected (whole currency units) and resolution per loan of each report, in deposit order, and the
 * report's period (the reports are stored in this order, each period after the previous one). A loan's
 * resolution is final and a resolved loan collects no more (the API refuses either).
 */
type ReportSpec = {
  period: { start: string; end: string };
  lines: Record<number, { collected: number; resolution?: string }>;
};
const REPORTS: ReportSpec[] = [
  // recovery 1: 1,000
  {
    period: { start: '2026-01-01', end: '2026-01-31' },
    lines: { 0: { collected: 1_000, resolution: 'settled' } },
  },
  // recovery 2: 200,000
  {
    period: { start: '2026-02-01', end: '2026-02-28' },
    lines: Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [
        i + 1,
        { collected: 20_000, resolution: { 1: 'written_off', 2: 'sold', 3: 'settled' }[i + 1] },
      ]),
    ),
  },
  // the final recovery: 30,000; loan 11 restructured without a collection
  {
    period: { start: '2026-04-01', end: '2026-04-30' },
    lines: {
      4: { collected: 30_000, resolution: 'foreclosed' },
      11: { collected: 0, resolution: 'restructured' },
    },
  },
];
/** Stored (between the second and the final report), never deposited: counts for nothing. */
const UNDEPOSITED: ReportSpec = {
  period: { start: '2026-03-01', end: '2026-03-31' },
  lines: { 5: { collected: 1, resolution: 'settled' }, 6: { collected: 2, resolution: 'sold' } },
};

function reportCsv({ period, lines: spec }: ReportSpec): string {
  const lines = Array.from({ length: LOANS }, (_, i) => {
    const line = spec[i];
    return `${loanId(i)},${line?.collected ?? 0},${line ? period.end : ''},${line?.resolution ?? ''}`;
  });
  return `loan_id,collected,collected_on,resolution\n${lines.join('\n')}\n`;
}

async function postReport(spec: ReportSpec): Promise<Hex> {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/portfolios/${portfolioId}/remittance-reports?periodStart=${spec.period.start}&periodEnd=${spec.period.end}`,
    headers: { ...servicerKey, 'content-type': 'text/csv' },
    payload: reportCsv(spec),
  });
  expect(res.statusCode, res.body).toBe(201);
  return `0x${res.json().sha256}`;
}

/** Loans resolved by the first `deposited` reports, grouped here from the specs and the tape's cells. */
function expectedLoans(deposited: number) {
  const upbAt = LOAN_TAPE_HEADER.indexOf('principal_balance');
  const legalAt = LOAN_TAPE_HEADER.indexOf('legal_status');
  const toUnits = (text: string) => {
    const [whole, fraction = ''] = text.split('.');
    return BigInt(whole) * 10_000n + BigInt(fraction.padEnd(4, '0'));
  };
  const fmt = (units: bigint) => `${units / 10_000n}.${String(units % 10_000n).padStart(4, '0')}`;
  type Acc = { loans: number; upb: bigint; collected: bigint };
  const groups = {
    all: new Map<string, Acc>(),
    resolution: new Map<string, Acc>(),
    legal: new Map<string, Acc>(),
  };
  const add = (map: Map<string, Acc>, key: string, upb: bigint, collected: bigint) => {
    const acc = map.get(key) ?? { loans: 0, upb: 0n, collected: 0n };
    map.set(key, { loans: acc.loans + 1, upb: acc.upb + upb, collected: acc.collected + collected });
  };
  for (let i = 0; i < LOANS; i++) {
    let resolution: string | undefined;
    let collected = 0n;
    for (const { lines } of REPORTS.slice(0, deposited)) {
      collected += USD(lines[i]?.collected ?? 0);
      resolution = lines[i]?.resolution ?? resolution;
    }
    if (resolution === undefined) continue;
    const cells = loanRow(i);
    const upb = toUnits(cells[upbAt]);
    add(groups.all, '', upb, collected);
    add(groups.resolution, resolution, upb, collected);
    add(groups.legal, cells[legalAt], upb, collected);
  }
  // collected (base units, 6 decimals) ÷ upb (10^-4 units)
  const group = (acc: Acc) => ({
    loans: acc.loans,
    upb: fmt(acc.upb),
    collected: acc.collected.toString(),
    collectedToUpbBps: bps(acc.collected * 10_000n, acc.upb * 10n ** 6n),
  });
  const list = (map: Map<string, Acc>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    resolved: group(groups.all.get('') ?? { loans: 0, upb: 0n, collected: 0n }),
    byResolution: list(groups.resolution).map(([resolution, acc]) => ({ resolution, ...group(acc) })),
    byLegalStatus: list(groups.legal).map(([legalStatus, acc]) => ({ legalStatus, ...group(acc) })),
  };
}

// ------------------------------------------------------------------ the expected body

async function expectedBody(status: 'open' | 'resolving' | 'resolved', withArrears: boolean) {
  const { results, state, reserve, funded, collected } = await replay();
  const recoveries = steps.filter((s) => s.kind === 'recovery');
  const lastResult = results.at(-1);
  const seniorOutstanding = state[0].outstanding;
  const history = results.map((r, k) => ({
    recoveryId: String(k + 1),
    txHash: recoveries[k].receipt.transactionHash,
    blockNumber: recoveries[k].receipt.blockNumber.toString(),
    amount: recoveries[k].amount.toString(),
    collected: r.collected.toString(),
    planned: r.planned.toString(),
    collectedToPlanBps: bps(r.collected, r.planned),
    triggerBreached: r.triggerBreached,
    released: r.reserve.released.toString(),
    drawn: r.reserve.drawn.toString(),
    replenished: r.reserve.replenished.toString(),
    reserveBalance: r.reserve.balanceAfter.toString(),
    v2: true,
  }));
  const tranches = V2_TRANCHES.map((t, i) => {
    const paidInterest = sum(results.map((r) => r.tranches[i].interest));
    const paidPrincipal = sum(results.map((r) => r.tranches[i].principal));
    const paidResidual = sum(results.map((r) => r.tranches[i].residual));
    const paid = paidInterest + paidPrincipal + paidResidual;
    return {
      seniority: i,
      name: t.name,
      residual: i === V2_TRANCHES.length - 1,
      face: t.face.toString(),
      sold: t.face.toString(),
      outstanding: state[i].outstanding.toString(),
      arrears: withArrears ? state[i].interestArrears.toString() : null,
      paidInterest: paidInterest.toString(),
      paidPrincipal: paidPrincipal.toString(),
      paidResidual: paidResidual.toString(),
      paid: paid.toString(),
      principalWrittenOff: sum(results.map((r) => r.tranches[i].principalWrittenOff)).toString(),
      interestWrittenOff: sum(results.map((r) => r.tranches[i].interestWrittenOff)).toString(),
      paidToFaceBps: bps(paid, t.face),
    };
  });
  return {
    portfolioId,
    chainId: anvil.chainId,
    portfolio,
    status,
    collections: {
      collected: collected.toString(),
      planned: (lastResult?.planned ?? 0n).toString(),
      collectedToPlanBps: lastResult ? bps(lastResult.collected, lastResult.planned) : null,
      breached: lastResult?.triggerBreached ?? false,
      collectionRatioBps: V2_TERMS.trigger.collectionRatioBps,
      history,
    },
    reserve: {
      targetBps: V2_TERMS.reserve.targetBps,
      target: (status === 'resolved'
        ? 0n
        : (seniorOutstanding * BigInt(V2_TERMS.reserve.targetBps)) / 10_000n
      ).toString(),
      balance: reserve.toString(),
      funded: funded.toString(),
      released: sum(results.map((r) => r.reserve.released)).toString(),
      drawn: sum(results.map((r) => r.reserve.drawn)).toString(),
      replenished: sum(results.map((r) => r.reserve.replenished)).toString(),
    },
    tranches,
    loans: { count: LOANS, ...expectedLoans(recoveries.length) },
  };
}

async function getPerformance(target = app, id = portfolioId) {
  await indexer.syncOnce();
  return target.inject({ method: 'GET', url: `/v1/portfolios/${id}/performance` });
}

/** GETs the performance and checks it against the model; returns the body. */
async function expectPerformance(status: 'open' | 'resolving' | 'resolved') {
  const res = await getPerformance();
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json();
  const expected = await expectedBody(status, true);
  expect({
    ...body,
    tranches: body.tranches.map(({ trancheId: _, ...t }: { trancheId: string }) => t),
  }).toMatchObject(expected);
  expect(body.indexedBlock).toBe((await platform.publicClient.getBlockNumber()).toString());
  // the reserve's conservation: funded + replenished − released − drawn
  const r = body.reserve;
  expect(BigInt(r.balance)).toBe(
    BigInt(r.funded) + BigInt(r.replenished) - BigInt(r.released) - BigInt(r.drawn),
  );
  return body;
}

// ------------------------------------------------------------------ setup

beforeAll(async () => {
  [db, anvil] = await Promise.all([createTestDatabase(), startAnvil({ accounts: 8 })]);
  const [a0, , a2, a3, a4, a5, a6] = anvil.accounts;
  platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
  servicer = withAccount(platform, a2.privateKey);
  treasury = withAccount(platform, a3.privateKey);
  guardian = withAccount(platform, a4.privateKey);
  holders = [a5, a6].map((a) => withAccount(platform, a.privateKey));
  testClient = createAnvilTestClient(anvil.rpcUrl);
  stack = await deployStack(platform, { timelockDelay: 5 });
  redis = createRedis(REDIS_URL);
  app = await buildApp({ config: testConfig(db.url), db, redis, chain: platform.publicClient });
  await app.ready();
  noChain = await createTestApp({ db });
  indexer = createIndexer({ db, publicClient: platform.publicClient, stack, confirmations: 0 });
  servicerKey = await apiKeyHeaders(db.prisma, 'servicer', servicer.account.address);

  // the v2 portfolio up to its close (15k reserve funded before), its row with the published v2 terms
  const scenario = await runV2Scenario(platform, {
    stack,
    testClient,
    servicer,
    treasury,
    guardian,
    holders,
    until: 'closed',
  });
  portfolio = scenario.created.portfolio;
  closedAt = await blockTime(scenario.closeReceipt.blockNumber);
  steps.push({ kind: 'fund', amount: V2_FUNDINGS[0], receipt: scenario.receipts[0] });
  const row = await recordPublishedPortfolio(db.prisma, {
    name: 'Performance test',
    servicer: servicer.account.address,
    chainId: anvil.chainId,
    created: scenario.created,
    tranches: V2_TRANCHES,
    fees: { servicerBps: V2_TERMS.servicerFeeBps, protocolBps: V2_TERMS.protocolFeeBps },
  });
  portfolioId = row.id;
  await db.prisma.portfolio.update({ where: { id: portfolioId }, data: { status: 'draft' } });
  await ingestLoanTape({
    pool: db.pool,
    portfolioId,
    source: Readable.from([Buffer.from(loanTapeCsv({ rows: LOANS }))]),
    maxBytes: 1 << 20,
  });
  await db.prisma.portfolio.update({
    where: { id: portfolioId },
    data: {
      status: 'published',
      reserveTargetBps: V2_TERMS.reserve.targetBps,
      triggerCollectionRatioBps: V2_TERMS.trigger.collectionRatioBps,
      businessPlan: {
        create: V2_PLAN.map((p, position) => ({
          position,
          atSeconds: p.atSeconds,
          cumulative: p.cumulative.toString(),
        })),
      },
    },
  });
  await fundServicer(platform, servicer, { stack, portfolio, amount: USD(1_000_000) });
}, 180_000);

afterAll(async () => {
  await noChain?.close();
  await app?.close();
  redis?.disconnect();
  await db?.drop();
  await anvil?.stop();
});

const recover = async (amount: bigint, reportHash: Hex) => {
  const result = await depositRecovery(servicer, { portfolio, amount, reportHash });
  const receipt = await platform.publicClient.getTransactionReceipt({ hash: result.txHash });
  steps.push({ kind: 'recovery', amount, final: false, receipt });
};

describe('GET /v1/portfolios/:id/performance', () => {
  it('answers 404 for an unknown portfolio and 409 for a draft', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await getPerformance(app, id);
      expect([res.statusCode, res.json().code]).toEqual([404, 'NOT_FOUND']);
    }
    const draft = await db.prisma.portfolio.create({
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
    const res = await getPerformance(app, draft.id);
    expect([res.statusCode, res.json().code]).toEqual([409, 'CONFLICT']);
  });

  it('after the close: open, the funded reserve, nothing paid', async () => {
    const body = await expectPerformance('open');
    expect(body.collections.history).toEqual([]);
    expect(body.reserve.balance).toBe(V2_FUNDINGS[0].toString());
    expect(body.tranches.map((t: { arrears: string }) => t.arrears)).toEqual(['0', '0', '0']);
    expect(body.resolution).toEqual({
      status: 'open',
      executableAt: null,
      proposals: 0,
      vetoes: 0,
      resolvedRecoveryId: null,
      resolvedTxHash: null,
    });
  });

  it('a recovery that breaches the trigger and draws on the reserve: the mezzanine in arrears', async () => {
    const funding = await fundReserve(platform, treasury, { stack, portfolio, amount: V2_FUNDINGS[1] });
    steps.push({ kind: 'fund', amount: V2_FUNDINGS[1], receipt: funding });
    reportHashes.push(await postReport(REPORTS[0]), await postReport(REPORTS[1]));
    await postReport(UNDEPOSITED);
    await testClient.increaseTime({ seconds: V2_RECOVERIES[0].waitSeconds });
    await recover(V2_RECOVERIES[0].amount, reportHashes[0]);

    const body = await expectPerformance('open');
    expect(body.collections).toMatchObject({ breached: true, collectedToPlanBps: 100 });
    expect(BigInt(body.reserve.drawn)).toBeGreaterThan(0n);
    // the senior's interest was paid (with the reserve), the mezzanine's was not: chain state, not in events
    expect(body.tranches[0].arrears).toBe('0');
    expect(BigInt(body.tranches[1].arrears)).toBeGreaterThan(0n);
    expect(body.loans.resolved.loans).toBe(1);
  });

  it('a recovery that does not breach, then a proposal: resolving, the reserve replenished', async () => {
    await testClient.increaseTime({ seconds: V2_RECOVERIES[1].waitSeconds });
    await recover(V2_RECOVERIES[1].amount, reportHashes[1]);
    const proposal = await proposeResolution(servicer, portfolio);

    const body = await expectPerformance('resolving');
    expect(body.collections.history.map((r: { triggerBreached: boolean }) => r.triggerBreached)).toEqual([
      true,
      false,
    ]);
    expect(BigInt(body.collections.history[1].replenished)).toBeGreaterThan(0n);
    const executableAt = (await blockTime(proposal.blockNumber)) + BigInt(V2_TERMS.resolutionDelay);
    expect(body.resolution).toMatchObject({
      status: 'resolving',
      executableAt: executableAt.toString(),
      proposals: 1,
    });
    // four loans resolved by the two reports, the undeposited report's resolutions not among them
    expect(body.loans.resolved.loans).toBe(4);
  });

  it('the same figures without a chain client, arrears null', async () => {
    const withChain = (await getPerformance()).json();
    const res = await getPerformance(noChain.app);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.tranches.map((t: { arrears: string | null }) => t.arrears)).toEqual([null, null, null]);
    expect({ ...body, tranches: body.tranches.map((t: object) => ({ ...t, arrears: 'x' })) }).toEqual({
      ...withChain,
      tranches: withChain.tranches.map((t: object) => ({ ...t, arrears: 'x' })),
    });
  });

  it('a veto: open again', async () => {
    await vetoResolution(guardian, portfolio);
    const body = await expectPerformance('open');
    expect(body.resolution).toMatchObject({ status: 'open', executableAt: null, proposals: 1, vetoes: 1 });
  });

  it('proposed again and the final recovery: resolved, the write-offs, the reserve released', async () => {
    const hash = await postReport(REPORTS[2]);
    await proposeResolution(servicer, portfolio);
    await testClient.increaseTime({ seconds: V2_TERMS.resolutionDelay + 1 });
    await testClient.mine({ blocks: 1 });
    const receipt = await depositFinalRecovery(servicer, portfolio, V2_FINAL_AMOUNT, hash);
    steps.push({ kind: 'recovery', amount: V2_FINAL_AMOUNT, final: true, receipt });

    const body = await expectPerformance('resolved');
    expect(body.resolution).toMatchObject({
      status: 'resolved',
      executableAt: null,
      proposals: 2,
      vetoes: 1,
      resolvedRecoveryId: '3',
      resolvedTxHash: receipt.transactionHash,
    });
    expect(body.reserve).toMatchObject({ balance: '0', target: '0' });
    const [senior, mezzanine, residual] = body.tranches;
    expect([senior.outstanding, mezzanine.outstanding, residual.outstanding]).toEqual([
      '0',
      '0',
      USD(100_000).toString(),
    ]);
    expect(BigInt(senior.principalWrittenOff) + BigInt(mezzanine.principalWrittenOff)).toBeGreaterThan(0n);
    // loans: loan 11 restructured by the last report, loan 4 foreclosed
    expect(
      body.loans.byResolution.map((g: { resolution: string; loans: number }) => [g.resolution, g.loans]),
    ).toEqual([
      ['foreclosed', 1],
      ['restructured', 1],
      ['settled', 2],
      ['sold', 1],
      ['written_off', 1],
    ]);
  });
});

describe('GET /openapi.json', () => {
  it('documents the performance route with its response schema', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const route = doc.paths['/v1/portfolios/{id}/performance']?.get;
    expect(route?.summary).toMatch(/Performance/);
    expect(Object.keys(route?.responses ?? {})).toEqual(expect.arrayContaining(['200', '404', '409']));
  });
});

describe('a portfolio without v2 terms', () => {
  it('reads its recovery as not breached, no reserve movements, planned 0', async () => {
    const created = await createClosedPortfolio(platform, db.prisma, {
      stack,
      name: 'v1',
      servicer: servicer.account.address,
      rootProposer: platform.account.address,
      timelockDelay: 5,
      tranches: [
        { name: 'Senior', symbol: 'S1', face: USD(1_000), couponBps: 500 },
        { name: 'Residual', symbol: 'R1', face: USD(100), couponBps: 0 },
      ],
      holders: [holders[0]],
      purchases: [[USD(1_000), USD(100)]],
    });
    await fundServicer(platform, servicer, { stack, portfolio: created.portfolio, amount: USD(500) });
    await testClient.increaseTime({ seconds: 86_400 });
    const recovery = await depositRecovery(servicer, { portfolio: created.portfolio, amount: USD(500) });
    const res = await getPerformance(app, created.id);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.status).toBe('open');
    expect(body.collections).toEqual({
      collected: USD(500).toString(),
      planned: '0',
      collectedToPlanBps: null,
      breached: false,
      collectionRatioBps: null,
      history: [
        {
          recoveryId: '1',
          txHash: recovery.txHash,
          blockNumber: recovery.blockNumber.toString(),
          amount: USD(500).toString(),
          collected: USD(500).toString(),
          planned: '0',
          collectedToPlanBps: null,
          triggerBreached: false,
          released: '0',
          drawn: '0',
          replenished: '0',
          reserveBalance: '0',
          v2: false,
        },
      ],
    });
    expect(body.reserve).toEqual({
      targetBps: 0,
      target: '0',
      balance: '0',
      funded: '0',
      released: '0',
      drawn: '0',
      replenished: '0',
    });
    const paid = recovery.interest.map(
      (interest, i) => interest + recovery.principal[i] + recovery.residual[i],
    );
    expect(body.tranches.map((t: { paid: string }) => t.paid)).toEqual(paid.map(String));
    expect(body.tranches[0].outstanding).toBe((USD(1_000) - recovery.principal[0]).toString());
    expect(body.loans).toMatchObject({ count: 0, resolved: { loans: 0, upb: '0.0000', collected: '0' } });
  });
});
