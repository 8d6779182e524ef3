import { createHash, randomBytes } from 'node:crypto';
import pino from 'pino';
import { type Address, erc20Abi, getAddress, type Hex, parseEventLogs, zeroHash } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDocumentTree } from '../../core/catalog/documents/tree.ts';
import {
  failPublish,
  handlePublish,
  PUBLISH_RELAY_KIND,
  type PublishContext,
  publishRelayKey,
} from '../../core/catalog/publish.ts';
import {
  type CreatePortfolioParameters,
  createPortfolioArgs,
  readPortfolioTerms,
  readTrancheState,
} from '../../core/chain/actions.ts';
import { createChainClients } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import {
  ANVIL_FIRST_PRIVATE_KEY,
  createPlatformChain,
  loadDeployment,
  type PlatformChain,
  saveDeployment,
} from '../../core/chain/deployment.ts';
import {
  portfolioAbi,
  portfolioFactoryAbi,
  testStablecoinAbi,
  trancheTokenAbi,
} from '../../core/chain/generated/index.ts';
import {
  createRelayer,
  DEFAULT_UNKNOWN_NONCE_BLOCKS,
  type Relayer,
  type RelayTx,
} from '../../core/chain/relayer/relayer.ts';
import { JobDelay } from '../../core/platform/jobs.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { buildApp } from '../../server/app.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import { createWorker, type NplWorker } from '../../worker/main.ts';
import { type AnvilInstance, createAnvilTestClient, deriveAccounts, startAnvil } from '../helpers/anvil.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';

const OFFERING_DURATION_SECONDS = 7 * 24 * 3600;
const silent = pino({ level: 'silent' });
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let anvil: AnvilInstance;
let stack: DeployedStack;
let platform: PlatformChain;
let t: TestApp;
let worker: NplWorker;
let workerRedis: ReturnType<typeof createRedis>;
let issuer: Headers;
let otherIssuer: Headers;
let admin: Headers;
let servicer: Headers;

beforeAll(async () => {
  anvil = await startAnvil();
  const deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  stack = await deployStack(deployer);
  t = await createTestApp({
    overrides: {
      RPC_URL: anvil.rpcUrl,
      QUEUE_PREFIX: `npl-test-publish-${randomBytes(4).toString('hex')}`,
      OFFERING_DURATION_SECONDS,
      JOB_ATTEMPTS: 2,
      JOB_BACKOFF_MS: 100,
    },
  });
  platform = await createPlatformChain(t.config, { deployment: stack, pollingInterval: 20 });
  workerRedis = createRedis(t.config.REDIS_URL as string);
  worker = await createWorker({
    config: t.config,
    db: t.db,
    redis: workerRedis,
    platform,
    logger: silent,
  });
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  servicer = await apiKeyHeaders(t.db.prisma, 'servicer', 'acme');
}, 60_000);

/** Deletes every BullMQ key under `prefix` (each test file has its own). */
async function dropQueueKeys(prefix: string) {
  const redis = createRedis(t.config.REDIS_URL as string);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

afterAll(async () => {
  await worker?.close();
  workerRedis?.disconnect();
  if (t) await dropQueueKeys(t.config.QUEUE_PREFIX);
  await t?.close();
  await anvil?.stop();
});

type TrancheInput = { name: string; symbol: string; face: string; couponBps?: number; priceBps?: number };

const defaultTranches: TrancheInput[] = [
  { name: 'Senior', symbol: 'NPLA', face: '15000000000', couponBps: 500 },
  { name: 'Mezzanine', symbol: 'NPLB', face: '7000000000', couponBps: 900, priceBps: 9500 },
  { name: 'Residual', symbol: 'NPLR', face: '3000000000', priceBps: 5000 },
];

/** A draft through the API: tranches, a loan tape, and `documents` data-room files. */
async function draft(
  options: {
    tranches?: TrancheInput[];
    documents?: number;
    tape?: boolean;
    payTokenDecimals?: number;
    headers?: Headers;
    /** more fields of the draft (waterfall spec v2: `reserve`, `trigger`) */
    extra?: Record<string, unknown>;
  } = {},
) {
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    headers: options.headers ?? issuer,
    payload: {
      name: 'Publish test',
      assetClass: 'residential_mortgage',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: '20000000000',
      payTokenDecimals: options.payTokenDecimals ?? 6,
      servicerAddress: anvil.accounts[2].address,
      fees: { servicerBps: 150, protocolBps: 50 },
      waterfallMode: 'sequential',
      tranches: options.tranches ?? defaultTranches,
      ...options.extra,
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const id: string = created.json().id;
  let tape: string | undefined;
  if (options.tape ?? true) {
    tape = loanTapeCsv({ rows: 25 });
    const put = await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/loan-tape`,
      headers: { ...(options.headers ?? issuer), 'content-type': 'text/csv' },
      payload: tape,
    });
    expect(put.statusCode, put.body).toBe(200);
  }
  const documents = Array.from({ length: options.documents ?? 0 }, (_, i) => {
    const bytes = randomBytes(100 + i);
    return {
      fileName: `doc-${i}.pdf`,
      contentType: 'application/pdf',
      size: BigInt(bytes.length),
      sha256: sha256(bytes),
    };
  });
  if (documents.length > 0) {
    await t.db.prisma.document.createMany({ data: documents.map((d) => ({ ...d, portfolioId: id })) });
  }
  return { id, tapeSha256: tape === undefined ? undefined : sha256(tape), documents };
}

const publish = (id: string, headers: Headers = issuer) =>
  t.app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish`, headers });

const getJob = (id: string, headers: Headers = issuer) =>
  t.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers });

/** Polls GET /v1/jobs/:id until the job has succeeded or failed. */
async function settled(app: TestApp, jobId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.app.inject({ method: 'GET', url: `/v1/jobs/${jobId}`, headers: issuer });
    expect(res.statusCode, res.body).toBe(200);
    const job = res.json();
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const readDocuments = (portfolio: Address) =>
  platform.clients.publicClient.readContract({
    address: portfolio,
    abi: portfolioAbi,
    functionName: 'documents',
  });

describe('POST /v1/portfolios/:id/publish', () => {
  let published: Awaited<ReturnType<typeof draft>>;
  let jobId: string;

  it('answers 202 with a queued job, and the worker deploys the portfolio with its documents and tape anchored', async () => {
    published = await draft({ documents: 5 });
    const res = await publish(published.id);
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    jobId = body.job.id;
    expect(body.job).toMatchObject({ kind: 'publish', status: 'queued', portfolioId: published.id });
    expect(body.links).toEqual({ job: `/v1/jobs/${jobId}`, portfolio: `/v1/portfolios/${published.id}` });
    expect(res.headers.location).toBe(`/v1/jobs/${jobId}`);

    const job = await settled(t, jobId);
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    expect(job.attempts).toBe(1);

    const row = await t.db.prisma.portfolio.findUniqueOrThrow({
      where: { id: published.id },
      include: { tranches: { orderBy: { seniority: 'asc' } } },
    });
    const tree = buildDocumentTree(published.documents.map((d) => d.sha256));
    expect(row.status).toBe('published');
    expect(row.publishError).toBeNull();
    expect(row.chainId).toBe(31337);
    expect(row.portfolioAddress).toBe(job.result.portfolioAddress);
    expect(row.distributorAddress).toBe(job.result.distributorAddress);
    expect(row.deployTxHash).toBe(job.txHash);
    expect(row.documentRoot).toBe(tree.root);
    expect(row.documentRootTxHash).toBe(row.deployTxHash);
    expect(row.publishedAt).not.toBeNull();
    expect(row.tranches.map((tr) => tr.address)).toEqual(job.result.trancheAddresses);
    expect(new Set(row.tranches.map((tr) => tr.address)).size).toBe(3);

    const portfolio = row.portfolioAddress as Address;
    const [version, root, tapeHash] = await readDocuments(portfolio);
    expect(version).toBe(1n);
    expect(root).toBe(tree.root);
    expect(tapeHash).toBe(`0x${published.tapeSha256}`);

    const onChain = await readTrancheState(platform.clients.publicClient, { portfolio });
    expect(onChain.map((tr) => [tr.token, tr.face.toString(), tr.couponBps, tr.priceBps])).toEqual(
      defaultTranches.map((tr, i) => [
        row.tranches[i].address,
        tr.face,
        tr.couponBps ?? 0,
        tr.priceBps ?? 10_000,
      ]),
    );
    for (const [i, tr] of defaultTranches.entries()) {
      const address = row.tranches[i].address as Address;
      const read = (functionName: 'name' | 'symbol') =>
        platform.clients.publicClient.readContract({ address, abi: trancheTokenAbi, functionName });
      expect([await read('name'), await read('symbol')]).toEqual([tr.name, tr.symbol]);
    }
    const terms = await readPortfolioTerms(platform.clients.publicClient, { portfolio });
    expect(terms).toMatchObject({
      servicer: anvil.accounts[2].address,
      servicerFeeBps: 150,
      protocolFeeBps: 50,
      mode: 'sequential',
      payToken: stack.testStablecoin,
      registry: stack.complianceRegistry,
      distributor: row.distributorAddress,
      protocolTreasury: stack.config.treasury,
      issuerTreasury: platform.clients.account.address,
    });
    expect(terms.offeringEnd - terms.offeringStart).toBe(BigInt(OFFERING_DURATION_SECONDS));
    expect(job.result).toMatchObject({
      offeringStart: terms.offeringStart.toString(),
      offeringEnd: terms.offeringEnd.toString(),
      documentRoot: tree.root,
      documentCount: 5,
      loanTapeHash: `0x${published.tapeSha256}`,
    });
  });

  it('shows the chain addresses on GET /v1/portfolios/:id', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${published.id}` });
    const body = res.json();
    expect(body.status).toBe('published');
    expect(body.chain).toMatchObject({
      chainId: 31337,
      portfolio: getAddress(body.chain.portfolio),
      documentRoot: buildDocumentTree(published.documents.map((d) => d.sha256)).root,
    });
    expect(body.tranches.every((tr: { address: string | null }) => tr.address !== null)).toBe(true);
  });

  it('answers 409 CONFLICT for a published portfolio and creates no job', async () => {
    const before = await t.db.prisma.job.count();
    const res = await publish(published.id);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'CONFLICT', message: 'Portfolio is already published' });
    expect(await t.db.prisma.job.count()).toBe(before);
  });

  it('lets exactly one of two concurrent publishes through, and anchors the zero root for an empty data room', async () => {
    const { id, tapeSha256 } = await draft({ documents: 0 });
    const answers = await Promise.all([publish(id), publish(id), publish(id, admin)]);
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes).toEqual([202, 409, 409]);
    expect(await t.db.prisma.job.count({ where: { portfolioId: id } })).toBe(1);
    const accepted = answers.find((a) => a.statusCode === 202)!;
    const job = await settled(t, accepted.json().job.id);
    expect(job.status).toBe('succeeded');
    const [, root, tapeHash] = await readDocuments(job.result.portfolioAddress);
    expect(root).toBe(zeroHash);
    expect(tapeHash).toBe(`0x${tapeSha256}`);
  });

  it('answers 409 with a clear message when the draft has no loan tape', async () => {
    const { id } = await draft({ tape: false });
    const res = await publish(id);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'CONFLICT', details: { missing: ['loanTape'] } });
    expect(res.json().message).toMatch(/loan tape/);
    expect((await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } })).status).toBe('draft');
  });

  it('answers 404 for an unknown portfolio, 403 for another issuer or a servicer, 401 without a key', async () => {
    const { id } = await draft();
    const unknown = await publish('7b1c7d3e-0000-4000-8000-000000000000');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('NOT_FOUND');
    expect((await publish('not-a-uuid')).statusCode).toBe(404);
    const other = await publish(id, otherIssuer);
    expect(other.statusCode).toBe(403);
    expect(other.json().code).toBe('FORBIDDEN');
    expect((await publish(id, servicer)).statusCode).toBe(403);
    const anonymous = await t.app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish` });
    expect(anonymous.statusCode).toBe(401);
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id }, include: { jobs: true } });
    expect(row.status).toBe('draft');
    expect(row.jobs).toHaveLength(0);
  });

  it('puts the portfolio back to draft with the decoded revert when the contract rejects it', async () => {
    // the API accepts a residual tranche with face 0; the Portfolio contract does not
    const tranches = [
      { name: 'Senior', symbol: 'SNR', face: '1000000', couponBps: 700 },
      { name: 'Residual', symbol: 'RES', face: '0' },
    ];
    const { id } = await draft({ tranches });
    const nonce = await platform.clients.publicClient.getTransactionCount({
      address: platform.clients.account.address,
    });
    const res = await publish(id);
    expect(res.statusCode).toBe(202);
    const job = await settled(t, res.json().job.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/PortfolioTrancheInvalid\(1\)/);
    expect(job.attempts).toBe(1); // a revert is not retried
    expect(job.result).toBeNull();
    expect(job.txHash).toBeNull(); // gas estimation reverted: nothing was signed or sent
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id }, include: { tranches: true } });
    expect(row).toMatchObject({
      status: 'draft',
      publishError: job.error,
      portfolioAddress: null,
      deployTxHash: null,
    });
    expect(row.tranches.every((tr) => tr.address === null)).toBe(true);
    expect(
      await platform.clients.publicClient.getTransactionCount({ address: platform.clients.account.address }),
    ).toBe(nonce);
  });

  it('fails with a clear reason when the pay token decimals differ from the portfolio', async () => {
    const { id } = await draft({ payTokenDecimals: 18 });
    const job = await settled(t, (await publish(id)).json().job.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/has 6 decimals but the portfolio's amounts use 18/);
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: 'draft', publishError: job.error });
  });

  it('can be published again after a failure (a new job)', async () => {
    const { id } = await draft({ payTokenDecimals: 18 });
    const first = await settled(t, (await publish(id)).json().job.id);
    expect(first.status).toBe('failed');
    await t.db.prisma.portfolio.update({ where: { id }, data: { payTokenDecimals: 6 } });
    const again = await publish(id);
    expect(again.statusCode).toBe(202);
    expect(again.json().job.id).not.toBe(first.id);
    const second = await settled(t, again.json().job.id);
    expect(second.status).toBe('succeeded');
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: 'published', publishError: null });
  });

  const v2Terms = (initial: bigint) => ({
    reserve: { targetBps: 750, initial: initial.toString() },
    trigger: {
      collectionRatioBps: 8_500,
      businessPlan: [
        { atSeconds: 30 * 86_400, cumulative: '2000000000' },
        { atSeconds: 90 * 86_400, cumulative: '6000000000' },
        { atSeconds: 180 * 86_400, cumulative: '6000000000' },
      ],
    },
  });

  /** TestStablecoin minted to the platform key (the issuer treasury) through a relayer on its nonce rows. */
  async function fundTreasury(amount: bigint) {
    const minter = createRelayer({ clients: platform.clients, prisma: t.db.prisma, pollIntervalMs: 50 });
    const row = await minter.submit({
      idempotencyKey: `test-treasury-mint-${randomBytes(4).toString('hex')}`,
      kind: 'test-mint',
      to: stack.testStablecoin as Address,
      abi: testStablecoinAbi,
      functionName: 'mint',
      args: [platform.clients.account.address, amount],
    });
    expect((await minter.waitFor(row.id)).status).toBe('mined');
  }

  const treasuryBalance = () =>
    platform.clients.publicClient.readContract({
      address: stack.testStablecoin as Address,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [platform.clients.account.address],
    });

  it('publishes waterfall spec v2 terms: reserve target, trigger and business plan on-chain, the initial reserve funded by the treasury', async () => {
    const initial = 1_500_000_000n;
    await fundTreasury(initial);
    const before = await treasuryBalance();
    const { id } = await draft({ extra: v2Terms(initial) });
    // the initial reserve spends the issuer treasury every portfolio may share: not an issuer's call
    const refused = await publish(id);
    expect(refused.statusCode, refused.body).toBe(403);
    expect(await t.db.prisma.job.count({ where: { portfolioId: id } })).toBe(0);
    const job = await settled(t, (await publish(id, admin)).json().job.id);
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    const portfolio = job.result.portfolioAddress as Address;
    const read = <F extends 'riskTerms' | 'reserve'>(functionName: F) =>
      platform.clients.publicClient.readContract({ address: portfolio, abi: portfolioAbi, functionName });
    const [targetBps, ratioBps, plan, resolutionDelay] = (await read('riskTerms')) as readonly [
      bigint,
      bigint,
      readonly { atSeconds: bigint; cumulative: bigint }[],
      bigint,
    ];
    expect([targetBps, ratioBps]).toEqual([750n, 8_500n]);
    expect(plan.map((p) => [p.atSeconds, p.cumulative])).toEqual([
      [30n * 86_400n, 2_000_000_000n],
      [90n * 86_400n, 6_000_000_000n],
      [180n * 86_400n, 6_000_000_000n],
    ]);
    expect(resolutionDelay).toBe(BigInt(stack.config.timelockDelay));
    expect(await read('reserve')).toEqual([initial, initial]);
    expect(await treasuryBalance()).toBe(before - initial);
    // one funding, relayed once
    const fundings = await t.db.prisma.relayTx.findMany({
      where: { kind: 'fundReserve', refId: `${id}:initial` },
    });
    expect(fundings).toHaveLength(1);
  });

  it('an initial reserve above the treasury balance fails the job before anything is sent, the draft kept', async () => {
    const { id } = await draft({ extra: v2Terms((await treasuryBalance()) + 1n) });
    const relayRows = await t.db.prisma.relayTx.count();
    const job = await settled(t, (await publish(id, admin)).json().job.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/below the initial reserve/);
    expect(await t.db.prisma.relayTx.count()).toBe(relayRows);
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe('draft');
  });
});

describe('GET /v1/jobs/:id', () => {
  it('shows a job to its issuer and admins only', async () => {
    const { id } = await draft({ tape: true });
    const job = await settled(t, (await publish(id)).json().job.id);
    expect((await getJob(job.id, admin)).json()).toMatchObject({ id: job.id, status: 'succeeded' });
    expect((await getJob(job.id, otherIssuer)).statusCode).toBe(403);
    expect((await getJob(job.id, servicer)).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}` })).statusCode).toBe(401);
    expect((await getJob('7b1c7d3e-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await getJob('nope')).statusCode).toBe(404);
  });
});

/** A draft flipped to publishing with its job row, as the route does, but not enqueued. */
async function publishingRow(options: Parameters<typeof draft>[0] = {}) {
  const made = await draft(options);
  const job = await t.db.prisma.$transaction(async (tx) => {
    await tx.portfolio.update({ where: { id: made.id }, data: { status: 'publishing' } });
    return tx.job.create({
      data: { kind: 'publish', portfolioId: made.id, payload: { portfolioId: made.id } },
    });
  });
  return { ...made, jobId: job.id };
}

/** createPortfolio parameters for a draft, as an earlier attempt of the job would have sent them. */
async function parametersFor(
  made: Awaited<ReturnType<typeof publishingRow>>,
): Promise<CreatePortfolioParameters> {
  const now = (await platform.clients.publicClient.getBlock()).timestamp;
  return {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: anvil.accounts[2].address,
    tranches: defaultTranches.map((tr) => ({ ...tr, face: BigInt(tr.face), couponBps: tr.couponBps ?? 0 })),
    offeringEnd: now + 1000n,
    documentRoot: buildDocumentTree(made.documents.map((d) => d.sha256)).root,
    loanTapeHash: `0x${made.tapeSha256}`,
  };
}

let relayer: Relayer | undefined;
/** The handler's services; its relayer shares the signer and nonce rows with the worker's. */
const context = (): PublishContext => {
  relayer ??= createRelayer({ clients: platform.clients, prisma: t.db.prisma, pollIntervalMs: 50 });
  return { db: t.db, platform, relayer, config: t.config };
};

/** The same services with an attempt that waits only 200 ms for its transaction. */
const impatient = (): PublishContext => ({ ...context(), confirmTimeoutMs: 200 });

/** The draft `id` flipped to publishing again with a new job row, as a second POST /publish does. */
async function publishingAgain(id: string): Promise<string> {
  return t.db.prisma.$transaction(async (tx) => {
    const flipped = await tx.portfolio.updateMany({
      where: { id, status: 'draft' },
      data: { status: 'publishing', publishError: null },
    });
    expect(flipped.count).toBe(1);
    const job = await tx.job.create({
      data: { kind: 'publish', portfolioId: id, payload: { portfolioId: id } },
    });
    return job.id;
  });
}

/** What an earlier attempt of the job did before it crashed: store (and send) its createPortfolio. */
async function submitAsEarlierAttempt(made: Awaited<ReturnType<typeof publishingRow>>): Promise<RelayTx> {
  const { relayer } = context();
  return relayer.submit({
    idempotencyKey: publishRelayKey(made.jobId),
    kind: 'createPortfolio',
    refId: made.jobId,
    to: stack.portfolioFactory,
    abi: portfolioFactoryAbi,
    functionName: 'createPortfolio',
    args: createPortfolioArgs(await parametersFor(made), platform.clients.account.address),
  });
}

const nonceOf = () =>
  platform.clients.publicClient.getTransactionCount({ address: platform.clients.account.address });

async function createdEvents(fromBlock: bigint) {
  const logs = await platform.clients.publicClient.getLogs({ address: stack.portfolioFactory, fromBlock });
  return parseEventLogs({ abi: portfolioFactoryAbi, logs, eventName: 'PortfolioCreated' });
}

describe('publish job: idempotent and resumable', () => {
  it('after a crash once its transaction was mined, records that deployment instead of sending another', async () => {
    const made = await publishingRow({ documents: 2 });
    const fromBlock = await platform.clients.publicClient.getBlockNumber();
    // attempt 1: sent through the relayer and mined, then the worker died before writing Postgres
    const first = await context().relayer.waitFor((await submitAsEarlierAttempt(made)).id);
    expect(first.status).toBe('mined');
    const [event] = await createdEvents(fromBlock + 1n);
    const nonce = await nonceOf();

    const outcome = await handlePublish(
      context(),
      { jobId: made.jobId, portfolioId: made.id },
      { attempt: 2, attempts: 2 },
    );
    expect(outcome.status).toBe('succeeded');
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } });
    expect(row).toMatchObject({
      status: 'published',
      deployTxHash: first.txHash,
      portfolioAddress: event.args.portfolio,
    });
    expect(await nonceOf()).toBe(nonce);
    expect((await createdEvents(fromBlock + 1n)).map((e) => e.args.portfolio)).toEqual([
      event.args.portfolio,
    ]);
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id: made.jobId } });
    expect(job).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect((await getJob(made.jobId, admin)).json().txHash).toBe(first.txHash);

    // a duplicate delivery of the finished job does nothing
    const again = await handlePublish(
      context(),
      { jobId: made.jobId, portfolioId: made.id },
      { attempt: 1, attempts: 2 },
    );
    expect(again.status).toBe('skipped');
  });

  it('after a crash before its stored transaction reached the node, broadcasts that same transaction', async () => {
    const made = await publishingRow();
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    await testClient.setAutomine(false);
    let stored: RelayTx;
    try {
      stored = await submitAsEarlierAttempt(made);
      // the node forgets it, as if the process died between storing and broadcasting
      await testClient.dropTransaction({ hash: stored.txHash as Hex });
      await t.db.prisma.relayTx.update({ where: { id: stored.id }, data: { sentAt: null } });
    } finally {
      await testClient.setAutomine(true);
    }
    await expect(
      platform.clients.publicClient.getTransaction({ hash: stored.txHash as Hex }),
    ).rejects.toThrow();

    const outcome = await handlePublish(
      context(),
      { jobId: made.jobId, portfolioId: made.id },
      { attempt: 2, attempts: 2 },
    );
    expect(outcome.status).toBe('succeeded');
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } });
    expect(row).toMatchObject({ status: 'published', deployTxHash: stored.txHash });
    const relayed = await t.db.prisma.relayTx.findMany({ where: { refId: made.jobId } });
    expect(relayed.map((r) => r.id)).toEqual([stored.id]);
  });

  it('waits for a stored transaction that is still pending instead of sending another', async () => {
    const made = await publishingRow();
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    await testClient.setAutomine(false);
    let hash: string;
    try {
      hash = (await submitAsEarlierAttempt(made)).txHash;
      const running = handlePublish(
        context(),
        { jobId: made.jobId, portfolioId: made.id },
        { attempt: 2, attempts: 2 },
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).status).toBe(
        'publishing',
      );
      await testClient.mine({ blocks: 1 });
      expect((await running).status).toBe('succeeded');
    } finally {
      await testClient.setAutomine(true);
    }
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id: made.jobId } });
    expect((job.payload as { txs: { hash: string }[] }).txs.map((tx) => tx.hash)).toEqual([hash]);
    expect((await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).deployTxHash).toBe(
      hash,
    );
  });

  it('puts the portfolio back to draft when its stored transaction can never be mined (its nonce was used)', async () => {
    const made = await publishingRow();
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const fromBlock = await platform.clients.publicClient.getBlockNumber();
    await testClient.setAutomine(false);
    let stored: RelayTx;
    try {
      stored = await submitAsEarlierAttempt(made);
      await testClient.dropTransaction({ hash: stored.txHash as Hex });
    } finally {
      await testClient.setAutomine(true);
    }
    // another transaction of the same key takes that nonce
    const { account, chain, walletClient } = platform.clients;
    await walletClient.sendTransaction({
      account,
      chain,
      to: account.address,
      value: 0n,
      nonce: Number(stored.nonce),
    });

    // used nonce, no receipt: unknown, not failed, until DEFAULT_UNKNOWN_NONCE_BLOCKS blocks passed
    await expect(
      handlePublish(impatient(), { jobId: made.jobId, portfolioId: made.id }, { attempt: 1, attempts: 2 }),
    ).rejects.toBeInstanceOf(JobDelay);
    expect((await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).status).toBe(
      'publishing',
    );
    await testClient.mine({ blocks: DEFAULT_UNKNOWN_NONCE_BLOCKS });
    await expect(
      handlePublish(context(), { jobId: made.jobId, portfolioId: made.id }, { attempt: 1, attempts: 2 }),
    ).rejects.toThrow(/was used by another transaction/);
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id: made.jobId } });
    expect(job.status).toBe('failed');
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } });
    expect(row).toMatchObject({ status: 'draft', publishError: job.error, portfolioAddress: null });
    expect(await createdEvents(fromBlock + 1n)).toEqual([]);
  });

  it('never gives up while its transaction is pending, even on the last attempt: the portfolio stays publishing until it is mined', async () => {
    const made = await publishingRow();
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const fromBlock = await platform.clients.publicClient.getBlockNumber();
    const data = { jobId: made.jobId, portfolioId: made.id };
    await testClient.setAutomine(false);
    try {
      // the last attempt sends createPortfolio, which stays in the pool longer than the attempt waits
      await expect(handlePublish(impatient(), data, { attempt: 2, attempts: 2 })).rejects.toBeInstanceOf(
        JobDelay,
      );
      expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).toMatchObject({
        status: 'publishing',
        publishError: null,
      });
      const waiting = await t.db.prisma.job.findUniqueOrThrow({ where: { id: made.jobId } });
      expect(waiting.status).toBe('queued');
      expect(waiting.error).toMatch(/waiting for createPortfolio/);
      // a POST /publish meanwhile is refused: the row is not a draft
      expect((await publish(made.id)).statusCode).toBe(409);
      await testClient.mine({ blocks: 1 });
    } finally {
      await testClient.setAutomine(true);
    }
    // the delayed job runs again (no attempt spent) and records the deployment that landed
    expect((await handlePublish(context(), data, { attempt: 2, attempts: 2 })).status).toBe('succeeded');
    const [event, ...others] = await createdEvents(fromBlock + 1n);
    expect(others).toEqual([]);
    expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).toMatchObject({
      status: 'published',
      portfolioAddress: event.args.portfolio,
    });
  });

  it('a second publish of the same row records the deployment of an earlier job instead of deploying a second Portfolio', async () => {
    const made = await publishingRow();
    const fromBlock = await platform.clients.publicClient.getBlockNumber();
    const first = await context().relayer.waitFor((await submitAsEarlierAttempt(made)).id);
    expect(first.status).toBe('mined');
    // the state a publish that gave up left: job failed, portfolio back to draft, its transaction mined
    await failPublish(t.db, { jobId: made.jobId, portfolioId: made.id }, 'gave up');
    const again = await publishingAgain(made.id);

    const outcome = await handlePublish(
      context(),
      { jobId: again, portfolioId: made.id },
      { attempt: 1, attempts: 2 },
    );
    expect(outcome.status).toBe('succeeded');
    const [event, ...others] = await createdEvents(fromBlock + 1n);
    expect(others).toEqual([]);
    expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).toMatchObject({
      status: 'published',
      deployTxHash: first.txHash,
      portfolioAddress: event.args.portfolio,
    });
    expect(
      await t.db.prisma.relayTx.count({
        where: { kind: PUBLISH_RELAY_KIND, refId: { in: [made.jobId, again] } },
      }),
    ).toBe(1);
  });

  it('a second publish of the same row waits for the still pending transaction of an earlier job', async () => {
    const made = await publishingRow();
    const fromBlock = await platform.clients.publicClient.getBlockNumber();
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    await testClient.setAutomine(false);
    let pending: RelayTx;
    let again: string;
    try {
      pending = await submitAsEarlierAttempt(made);
      await failPublish(t.db, { jobId: made.jobId, portfolioId: made.id }, 'gave up');
      again = await publishingAgain(made.id);
      await expect(
        handlePublish(impatient(), { jobId: again, portfolioId: made.id }, { attempt: 2, attempts: 2 }),
      ).rejects.toBeInstanceOf(JobDelay);
      await testClient.mine({ blocks: 1 });
    } finally {
      await testClient.setAutomine(true);
    }
    const outcome = await handlePublish(
      context(),
      { jobId: again, portfolioId: made.id },
      { attempt: 2, attempts: 2 },
    );
    expect(outcome.status).toBe('succeeded');
    expect((await createdEvents(fromBlock + 1n)).length).toBe(1);
    expect((await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).deployTxHash).toBe(
      pending.txHash,
    );
  });

  it('a worker started later queues the jobs whose enqueue was lost', async () => {
    const made = await publishingRow();
    const redis = createRedis(t.config.REDIS_URL as string);
    const second = await createWorker({
      config: t.config,
      db: t.db,
      redis,
      platform,
      logger: silent,
    });
    try {
      const job = await settled(t, made.jobId);
      expect(job.status).toBe('succeeded');
    } finally {
      await second.close();
      redis.disconnect();
    }
  });
});

describe('publish job: chain unreachable', () => {
  it('retries, then puts the portfolio back to draft with the reason', async () => {
    const other = await startAnvil();
    let downWorker: NplWorker | undefined;
    let downApp: TestApp | undefined;
    const redis = createRedis(t.config.REDIS_URL as string);
    try {
      const otherStack = await deployStack(
        createChainClients({
          rpcUrl: other.rpcUrl,
          privateKey: other.accounts[0].privateKey,
          pollingInterval: 20,
        }),
      );
      downApp = await createTestApp({
        db: t.db,
        overrides: { ...t.config, QUEUE_PREFIX: `npl-test-publish-down-${randomBytes(4).toString('hex')}` },
      });
      const downPlatform = await createPlatformChain(
        { ...downApp.config, RPC_URL: other.rpcUrl },
        { deployment: otherStack, retryCount: 0, pollingInterval: 20 },
      );
      await other.stop();
      downWorker = await createWorker({
        config: downApp.config,
        db: t.db,
        redis,
        platform: downPlatform,
        logger: silent,
        requeuePending: false,
      });
      const { id } = await draft();
      const res = await downApp.app.inject({
        method: 'POST',
        url: `/v1/portfolios/${id}/publish`,
        headers: issuer,
      });
      expect(res.statusCode).toBe(202);
      const job = await settled(downApp, res.json().job.id);
      expect(job.status).toBe('failed');
      expect(job.attempts).toBe(2);
      expect(job.error).toMatch(/unreachable/);
      const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
      expect(row).toMatchObject({ status: 'draft', publishError: job.error, portfolioAddress: null });
    } finally {
      await downWorker?.close();
      redis.disconnect();
      if (downApp) await dropQueueKeys(downApp.config.QUEUE_PREFIX);
      await downApp?.close();
      await other.stop();
    }
  }, 60_000);
});

describe("GET /health: the worker's chain indexer", () => {
  let healthApp: Awaited<ReturnType<typeof buildApp>>;
  beforeAll(async () => {
    // the shared test app has no chain client; this one reads the same chain, database and Redis
    healthApp = await buildApp({
      config: t.config,
      db: t.db,
      redis: t.redis,
      chain: platform.clients.publicClient,
    });
  });
  afterAll(async () => {
    await healthApp?.close();
  });
  const health = () => healthApp.inject({ method: 'GET', url: '/health' });

  it('runs in the worker: indexes the published portfolios and reports its lag from the shared cursor', async () => {
    const job = await settled(t, (await publish((await draft()).id)).json().job.id);
    expect(job.status).toBe('succeeded');
    const published = await t.db.prisma.portfolio.findMany({
      where: { status: 'published', chainId: anvil.chainId },
      select: { portfolioAddress: true },
    });
    expect(published.length).toBeGreaterThan(0);
    const deadline = Date.now() + 15_000;
    let body: { status: string; indexer: Record<string, unknown> };
    for (;;) {
      body = (await health()).json();
      const indexed = await t.db.prisma.indexedContract.count({
        where: {
          chainId: anvil.chainId,
          kind: 'portfolio',
          address: { in: published.map((p) => p.portfolioAddress as string) },
        },
      });
      if (
        (body.indexer.status === 'ok' && body.indexer.lag === 0 && indexed === published.length) ||
        Date.now() > deadline
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const head = await platform.clients.publicClient.getBlockNumber();
    expect(body.indexer).toMatchObject({
      status: 'ok',
      chainId: anvil.chainId,
      lag: 0,
      indexedBlock: head.toString(),
    });
    expect(body.indexer.lastError).toBeUndefined();
    expect(Date.now() - Date.parse(body.indexer.lastSyncAt as string)).toBeLessThan(10_000);
  });

  it('reports the indexer down once the worker says it stopped', async () => {
    const indexer = worker.indexer;
    expect(indexer).not.toBeNull();
    await indexer?.stop();
    const deadline = Date.now() + 10_000;
    let res = await health();
    while (res.json().indexer.status !== 'down' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      res = await health();
    }
    expect(res.statusCode).toBe(200); // Postgres and Redis serve; the API stays up
    expect(res.json()).toMatchObject({
      status: 'degraded',
      indexer: { status: 'down', error: 'the indexer stopped' },
    });
  });
});

describe("publish settles through the index (the worker's indexer stopped above)", () => {
  it('a publish whose createPortfolio is mined but not yet indexed stays publishing, then completes once PortfolioCreated is final', async () => {
    await worker.indexer?.stop();
    const made = await publishingRow();
    const data = { jobId: made.jobId, portfolioId: made.id };
    // attempt 1 sent createPortfolio and it was mined; the index has not reached its block
    const mined = await context().relayer.waitFor((await submitAsEarlierAttempt(made)).id);
    expect(mined.status).toBe('mined');
    await expect(handlePublish(impatient(), data, { attempt: 2, attempts: 2 })).rejects.toBeInstanceOf(
      JobDelay,
    );
    expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).toMatchObject({
      status: 'publishing',
      publishError: null,
      portfolioAddress: null,
    });
    const waiting = await t.db.prisma.job.findUniqueOrThrow({ where: { id: made.jobId } });
    expect(waiting.status).toBe('queued');
    expect(waiting.error).toMatch(/waiting for createPortfolio .*mined/);

    // the index has it (final: 0 confirmations): the delayed job records that one deployment
    const indexer = createIndexer({
      db: t.db,
      publicClient: platform.clients.publicClient,
      stack,
      confirmations: 0,
    });
    await indexer.syncOnce();
    expect((await handlePublish(context(), data, { attempt: 2, attempts: 2 })).status).toBe('succeeded');
    expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id: made.id } })).toMatchObject({
      status: 'published',
      deployTxHash: mined.txHash,
    });
    expect(await t.db.prisma.relayTx.count({ where: { refId: made.jobId } })).toBe(1);
  }, 60_000);
});

describe('deployment file and platform signer', () => {
  it('saveDeployment / loadDeployment round-trip, and a bad file names the bad fields', async () => {
    const path = `${t.config.DATA_DIR}/publish-test-${randomBytes(4).toString('hex')}.json`;
    await saveDeployment(path, stack);
    expect(await loadDeployment({ DEPLOYMENT_FILE: path, DATA_DIR: t.config.DATA_DIR })).toEqual(stack);
    await saveDeployment(path, stack);
    const { writeFile, rm } = await import('node:fs/promises');
    await writeFile(path, JSON.stringify({ ...stack, portfolioFactory: '0x12' }));
    await expect(loadDeployment({ DEPLOYMENT_FILE: path, DATA_DIR: '.' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('portfolioFactory'),
    });
    await rm(path);
    await expect(loadDeployment({ DEPLOYMENT_FILE: path, DATA_DIR: '.' })).rejects.toThrow(/cli -- deploy/);
  });

  it('defaults the signer to anvil’s first account on a local chain only', async () => {
    expect(ANVIL_FIRST_PRIVATE_KEY).toBe(deriveAccounts(1)[0].privateKey);
    expect(platform.clients.account.address).toBe(anvil.accounts[0].address);
    await expect(
      createPlatformChain({ ...t.config, CHAIN_ID: 1 }, { deployment: { ...stack, chainId: 1 } }),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('PLATFORM_PRIVATE_KEY'),
    });
  });
});
