/**
 * The publish job: deploys a `publishing` portfolio through the PortfolioFactory (Portfolio, tranche
 * tokens, Distributor) with its document root and loan-tape hash anchored at creation (the contract
 * emits DocumentsAnchored version 1), then records the addresses.
 *
 * Idempotent and resumable by `job` row:
 * - a row that already succeeded or failed is skipped; one worker at a time holds the portfolio
 *   (Postgres advisory lock);
 * - the createPortfolio transaction goes through the platform relayer (core/chain/relayer/relayer.ts), the
 *   same nonce sequence as the API's relayed transactions, with idempotency key `publish:<job id>`:
 *   the relayer simulates first (a revert sends nothing), stores the signed transaction before it is
 *   broadcast, and answers a retry after a crash with the same row (mined, pending, or never sent:
 *   its monitor broadcasts it) instead of deploying twice. Its hash is copied to `job.payload.txs`
 *   (what GET /v1/jobs/:id shows);
 * - success is one transaction: portfolio `published` with its addresses, tranche addresses, job
 *   `succeeded` with the result;
 * - failure (a revert, bad input, or a retryable failure on the last attempt) is one transaction:
 *   portfolio back to `draft` with `publishError`, job `failed` with the same reason. A retryable
 *   failure before the last attempt leaves the portfolio `publishing` and the job `queued` with
 *   the reason, and BullMQ tries again after its backoff;
 * - the createPortfolio settles through `settleRelayed` (core/trading/settlement.ts), the state
 *   machine of every relayed action, its event the PortfolioCreated row the indexer records
 *   (`indexed_contract`, kind portfolio): `confirmed` (final in the index) → published; `failed`
 *   (reverted in a final block, or given up by the relayer) → draft with the reason; `pending`
 *   (including the relayer's "unknown" state) or `mined` (including mined but not indexed yet: the
 *   worker's indexer may be behind; or reverted in a block a reorg may still remove) → wait;
 * - it never gives up while its createPortfolio may still land: unless it `failed`, a retryable
 *   failure (the wait timed out, the node is unreachable) leaves the portfolio `publishing` and the
 *   job `queued`, and the job is delayed (`JobDelay`: the worker re-runs it later without spending
 *   an attempt) until it is `confirmed` or `failed`;
 * - one Portfolio per portfolio row: a job that has no transaction of its own first looks for a
 *   createPortfolio of an earlier publish job of the same portfolio that has not `failed`
 *   (confirmed or mined first: it records that deployment; else pending: it waits for that one);
 *   only when every earlier one failed does it send a new one;
 * - the addresses are known before the transaction: the factory's clones are CREATE2, salted by the
 *   creator (the platform key) and every parameter, the job's own salt (`publishSalt(job id)`) among
 *   them. The job asks `PortfolioFactory.predictAddresses` for the call it relays (read back from the
 *   relay row's calldata, so a resumed job checks the very transaction it stored) and records only a
 *   deployment whose PortfolioCreated names exactly those addresses.
 *
 * Choices (documented in the final report): the platform signer sends the transaction and holds
 * ISSUER_ROLE (it anchors later document versions for the issuer, whose identity is an API-key
 * owner, not a chain address); the issuer treasury is ISSUER_TREASURY_ADDRESS (default: the platform
 * signer); admin, guardian, protocol treasury, root proposer and timelock come from the deployment;
 * the offering opens at the latest block's timestamp and closes OFFERING_DURATION_SECONDS later; an
 * empty data room anchors the zero root (core/catalog/documents/tree.ts `EMPTY_DOCUMENT_ROOT`).
 */
import type pg from 'pg';
import {
  type Address,
  decodeFunctionData,
  getAddress,
  type Hex,
  isAddressEqual,
  keccak256,
  parseEventLogs,
  stringToHex,
  type TransactionReceipt,
} from 'viem';
import {
  type CreatePortfolioParameters,
  createPortfolioArgs,
  type PredictedPortfolioAddresses,
  predictPortfolioAddresses,
  readPortfolioTerms,
} from '../chain/actions.ts';
import { erc20Raw } from '../chain/contracts/tranche-token.ts';
import type { PlatformChain } from '../chain/deployment.ts';
import { ChainError, toChainError } from '../chain/errors.ts';
import { portfolioAbi, portfolioFactoryAbi } from '../chain/generated/index.ts';
import type { Relayer, RelayTx } from '../chain/relayer/relayer.ts';
import type { Db } from '../db/index.ts';
import type { Config } from '../platform/config.ts';
import {
  BaseError,
  ConflictError,
  ServiceUnavailableError,
  ValidationFailedError,
} from '../platform/errors/index.ts';
import { type AttemptInfo, type JobData, JobDelay } from '../platform/jobs.ts';
import { byTxHashes, liveRelay, type RelayedRecord, settleRelayed } from '../trading/settlement.ts';
import { buildDocumentTree } from './documents/tree.ts';
import { FUND_RESERVE_KIND, relayReserveFunding } from './reserve.ts';

export type PublishContext = {
  db: Db;
  platform: PlatformChain;
  /** Sends createPortfolio; its signer must be `platform.clients.account` (the factory's caller and issuer). */
  relayer: Relayer;
  config: Pick<Config, 'OFFERING_DURATION_SECONDS'>;
  /** How long one attempt waits for the createPortfolio transaction before it is retried; default 120 000 ms. */
  confirmTimeoutMs?: number;
  log?: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
};

/** What a successful publish records in `job.result` (JSON: bigints as decimal strings). */
export type PublishResult = {
  chainId: number;
  portfolioAddress: Address;
  distributorAddress: Address;
  trancheAddresses: Address[];
  deployTxHash: Hex;
  blockNumber: string;
  documentRoot: Hex;
  documentCount: number;
  loanTapeHash: Hex;
  offeringStart: string;
  offeringEnd: string;
};

export type PublishOutcome =
  | { status: 'succeeded'; result: PublishResult }
  | { status: 'skipped'; reason: string };

/** The relayer's idempotency key of a publish job's createPortfolio transaction. */
export const publishRelayKey = (jobId: string) => `publish:${jobId}`;

/** `relay_tx.kind` of a publish job's createPortfolio transaction (`refId`: the job id). */
export const PUBLISH_RELAY_KIND = 'createPortfolio';

/** The `CreateParams.salt` of a publish job's createPortfolio: one per job, so a re-publish never collides. */
export const publishSalt = (jobId: string): Hex => keccak256(stringToHex(`npl-publish:${jobId}`));

/** How long a job whose createPortfolio is still in flight waits before it looks again (ms). */
const IN_FLIGHT_DELAY_MS = 1_000;

/** How often one attempt looks at the index again while its createPortfolio is mined, not final (ms). */
const SETTLE_POLL_MS = 100;

/** A failure that retrying cannot fix (the portfolio goes back to draft with this message). */
const publishInvalid = (message: string, cause?: unknown) =>
  new ValidationFailedError(message, { retryable: false, cause });

/** Runs one attempt of the publish job of `job` row `data.jobId`. Throws when the attempt failed. */
export async function handlePublish(
  context: PublishContext,
  data: JobData<'publish'>,
  attempt: AttemptInfo,
): Promise<PublishOutcome> {
  const { pool } = context.db;
  const lock = await pool.connect();
  let locked = false;
  try {
    const { rows } = await lock.query<{ ok: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
      [`publish:${data.portfolioId}`],
    );
    locked = rows[0].ok;
    if (!locked) {
      throw new ConflictError(`Another worker is publishing portfolio ${data.portfolioId}`, {
        retryable: true,
      });
    }
    const claimed = await claim(lock, data.jobId);
    if (!claimed) return { status: 'skipped', reason: 'the job already finished' };
    try {
      const result = await publishOnce(context, data);
      return { status: 'succeeded', result };
    } catch (error) {
      const reason = describe(error);
      const retryable = error instanceof BaseError ? error.retryable : false;
      const inFlight = retryable ? await deploymentInFlight(context, data) : null;
      if (inFlight !== null) {
        // its transaction may still land (or has): never give up, never let the row go back to draft
        const note = `waiting for createPortfolio ${inFlight.txHash} (relay ${inFlight.id}, ${inFlight.status}): ${reason}`;
        await lock.query(
          "UPDATE job SET status = 'queued', error = $2, updated_at = now() WHERE id = $1 AND status = 'running'",
          [data.jobId, note],
        );
        context.log?.warn(
          { jobId: data.jobId, err: error },
          'publish transaction in flight; will look again',
        );
        throw new JobDelay(IN_FLIGHT_DELAY_MS, note);
      }
      if (retryable && attempt.attempt < attempt.attempts) {
        await lock.query(
          "UPDATE job SET status = 'queued', error = $2, updated_at = now() WHERE id = $1 AND status = 'running'",
          [data.jobId, `attempt ${attempt.attempt} of ${attempt.attempts} failed, retrying: ${reason}`],
        );
        context.log?.warn({ jobId: data.jobId, err: error }, 'publish attempt failed; will retry');
        throw error;
      }
      // nothing of this job is in flight (none sent, or it reverted / failed for good): it is over
      const final = reason;
      await failPublish(context.db, data, final);
      context.log?.warn({ jobId: data.jobId, err: error }, 'publish failed');
      throw new ConflictError(final, { retryable: false, cause: error });
    }
  } finally {
    if (locked)
      await lock.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`publish:${data.portfolioId}`]);
    lock.release();
  }
}

/** The PortfolioCreated row the indexer records (`indexed_contract`, kind portfolio) of a relay row's hashes. */
const portfolioCreated = (db: Db, chainId: number) =>
  byTxHashes((hashes) =>
    db.prisma.indexedContract.findFirst({
      where: { chainId, kind: 'portfolio', ...hashes },
      orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
    }),
  );

/** A createPortfolio relay row settled by the state machine (core/trading/settlement.ts). */
const settleCreate = (context: PublishContext, record: RelayedRecord) =>
  settleRelayed(record, {
    prisma: context.db.prisma,
    chainId: context.platform.clients.chain.id,
    findEvent: portfolioCreated(context.db, context.platform.clients.chain.id),
  });

/** Settlement states of a createPortfolio that has landed or may still land (never send another). */
const LANDED_FIRST = { confirmed: 0, mined: 1, pending: 2 } as const;

/**
 * The createPortfolio of an earlier publish job of the same portfolio that has landed (confirmed,
 * then mined) or may still land (pending; a revert in a block that is not final yet is mined): the
 * one deployment this portfolio row may get. Null when there is none (every earlier one failed, or
 * there was none).
 */
async function earlierDeployment(context: PublishContext, data: JobData<'publish'>): Promise<RelayTx | null> {
  const { prisma } = context.db;
  const jobs = await prisma.job.findMany({
    where: { portfolioId: data.portfolioId, kind: 'publish', id: { not: data.jobId } },
    select: { id: true },
  });
  if (jobs.length === 0) return null;
  const rows = await prisma.relayTx.findMany({
    where: { kind: PUBLISH_RELAY_KIND, refId: { in: jobs.map((job) => job.id) } },
    orderBy: { createdAt: 'asc' },
  });
  let best: { rank: number; row: RelayTx } | null = null;
  for (const row of rows) {
    const settled = await settleCreate(context, { relay: row });
    if (settled.state === 'failed') continue;
    const rank = LANDED_FIRST[settled.state];
    if (best === null || rank < best.rank) best = { rank, row: settled.relay ?? row };
  }
  return best?.row ?? null;
}

/** This job's createPortfolio (or the earlier one it adopts) unless it failed for good, else null. */
async function deploymentInFlight(
  context: PublishContext,
  data: JobData<'publish'>,
): Promise<RelayTx | null> {
  const own = await settleCreate(context, { idempotencyKey: publishRelayKey(data.jobId) });
  if (own.relay !== null) return own.state === 'failed' ? null : own.relay;
  return earlierDeployment(context, data);
}

/**
 * Waits (up to the attempt's timeout) until the createPortfolio settles: its PortfolioCreated event
 * final in the index is `confirmed` (answers that event's hash); `failed` (reverted at a final block,
 * or given up by the relayer) throws a non-retryable error with the reason; still `pending` or
 * `mined` (including mined but not indexed yet: the worker's indexer may be behind) throws a
 * retryable error, which the caller turns into a JobDelay while the row may still land.
 */
async function settleDeployment(
  context: PublishContext,
  data: JobData<'publish'>,
  relayed: RelayTx,
): Promise<Hex> {
  const timeoutMs = context.confirmTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  await context.relayer.waitFor(relayed.id, { timeoutMs });
  for (;;) {
    const settled = await settleCreate(context, { relayTxId: relayed.id });
    const relay = settled.relay ?? relayed;
    if (relay.txHash !== relayed.txHash) await recordTxHash(context.db, data.jobId, relay.txHash as Hex);
    if (settled.state === 'confirmed' && settled.event !== null) return settled.event.txHash as Hex;
    if (settled.state === 'failed') {
      throw publishInvalid(
        relay.revertReason ?? `PortfolioFactory.createPortfolio: transaction ${relay.txHash} ${relay.status}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new ServiceUnavailableError(
        `createPortfolio ${relay.txHash} is ${settled.state}${
          settled.state === 'mined' ? ' (its PortfolioCreated event is not final in the index yet)' : ''
        }`,
        { retryable: true },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
}

/** Marks the row running (attempts + 1); false when it already succeeded or failed. */
async function claim(client: pg.PoolClient, jobId: string): Promise<boolean> {
  const { rowCount } = await client.query(
    `UPDATE job SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()),
            updated_at = now()
     WHERE id = $1 AND kind = 'publish' AND status IN ('queued', 'running')`,
    [jobId],
  );
  return rowCount === 1;
}

/** Portfolio back to draft with the reason, job failed: one transaction, only from the states we own. */
export async function failPublish(db: Db, data: JobData<'publish'>, reason: string): Promise<void> {
  await db.prisma.$transaction([
    db.prisma.portfolio.updateMany({
      where: { id: data.portfolioId, status: 'publishing' },
      data: { status: 'draft', publishError: reason },
    }),
    db.prisma.job.updateMany({
      where: { id: data.jobId, status: { in: ['queued', 'running'] } },
      data: { status: 'failed', error: reason, finishedAt: new Date() },
    }),
  ]);
}

async function publishOnce(context: PublishContext, data: JobData<'publish'>): Promise<PublishResult> {
  const { prisma } = context.db;
  const { clients, deployment, payToken, issuerTreasury } = context.platform;
  const portfolio = await prisma.portfolio.findUnique({
    where: { id: data.portfolioId },
    include: {
      tranches: { orderBy: { seniority: 'asc' } },
      documents: { select: { sha256: true } },
      businessPlan: { orderBy: { position: 'asc' } },
    },
  });
  if (portfolio === null) throw publishInvalid(`Portfolio ${data.portfolioId} no longer exists`);
  if (portfolio.status !== 'publishing') {
    throw publishInvalid(`Portfolio is ${portfolio.status}, not publishing`);
  }
  if (portfolio.tapeSha256 === null) throw publishInvalid('The portfolio has no loan tape');
  if (portfolio.tranches.length === 0) throw publishInvalid('The portfolio has no tranches');
  if (portfolio.triggerCollectionRatioBps !== null && portfolio.businessPlan.length === 0) {
    throw publishInvalid('The trigger needs a business plan');
  }
  const reserveInitial = portfolio.reserveInitial === null ? 0n : BigInt(portfolio.reserveInitial.toFixed(0));

  const tree = buildDocumentTree(portfolio.documents.map((d) => d.sha256));
  const loanTapeHash = `0x${portfolio.tapeSha256}` as Hex;
  const key = publishRelayKey(data.jobId);

  // a previous attempt of this job already stored its transaction: wait for that one, never send
  // another; nor while an earlier publish job of this portfolio has one mined or in flight
  let relayed = (await context.relayer.get(key)) ?? (await earlierDeployment(context, data));
  if (relayed === null) {
    const decimals = await chainRead('decimals', () =>
      erc20Raw.decimals(clients.publicClient, { token: payToken }),
    );
    if (decimals !== portfolio.payTokenDecimals) {
      throw publishInvalid(
        `The pay token ${payToken} has ${decimals} decimals but the portfolio's amounts use ${portfolio.payTokenDecimals}`,
      );
    }
    if (reserveInitial > 0n) await assertTreasuryCanFund(context, reserveInitial);
    const now = await chainRead('getBlock', async () => (await clients.publicClient.getBlock()).timestamp);
    const parameters = {
      factory: deployment.portfolioFactory,
      payToken,
      registry: deployment.complianceRegistry,
      servicer: getAddress(portfolio.servicerAddress),
      tranches: portfolio.tranches.map((t) => ({
        name: t.name,
        symbol: t.symbol,
        face: BigInt(t.face.toFixed(0)),
        couponBps: t.couponBps,
        priceBps: t.priceBps,
      })),
      offeringStart: now,
      offeringEnd: now + BigInt(context.config.OFFERING_DURATION_SECONDS),
      admin: deployment.config.admin,
      issuer: clients.account.address,
      issuerTreasury,
      guardian: deployment.config.guardian,
      protocolTreasury: deployment.config.treasury,
      rootProposer: deployment.config.rootProposer,
      timelockDelay: deployment.config.timelockDelay,
      servicerFeeBps: portfolio.servicerFeeBps,
      protocolFeeBps: portfolio.protocolFeeBps,
      mode: portfolio.waterfallMode,
      documentRoot: tree.root,
      loanTapeHash,
      // waterfall spec v2 terms of the draft (none: a v1 portfolio); the resolution delay, the guardian's
      // veto window, is the Distributor's timelock (the contract's floor for it)
      reserve: { targetBps: portfolio.reserveTargetBps ?? 0 },
      trigger: {
        collectionRatioBps: portfolio.triggerCollectionRatioBps ?? 0,
        businessPlan:
          portfolio.triggerCollectionRatioBps === null
            ? []
            : portfolio.businessPlan.map((point) => ({
                atSeconds: point.atSeconds,
                cumulative: BigInt(point.cumulative.toFixed(0)),
              })),
      },
      resolutionDelay: Number(deployment.config.timelockDelay),
      salt: publishSalt(data.jobId),
    } satisfies CreatePortfolioParameters;
    // a job that is no longer running must not send anything
    const running = await prisma.job.count({ where: { id: data.jobId, status: 'running' } });
    if (running !== 1) throw publishInvalid('The publish job is no longer running; nothing was sent');
    relayed = await context.relayer.submit({
      idempotencyKey: key,
      kind: PUBLISH_RELAY_KIND,
      refId: data.jobId,
      contract: 'PortfolioFactory',
      to: deployment.portfolioFactory,
      abi: portfolioFactoryAbi,
      functionName: 'createPortfolio',
      args: createPortfolioArgs(parameters, clients.account.address),
    });
  }
  await recordTxHash(context.db, data.jobId, relayed.txHash as Hex);
  const txHash = await settleDeployment(context, data, relayed);

  const receipt = await chainRead('getTransactionReceipt', () =>
    clients.publicClient.getTransactionReceipt({ hash: txHash }),
  );
  const created = createdFrom(receipt);
  const predicted = await predictedAddresses(context, relayed);
  if (
    getAddress(created.portfolio) !== getAddress(predicted.portfolio) ||
    getAddress(created.distributor) !== getAddress(predicted.distributor) ||
    created.tranches.some((t, i) => getAddress(t) !== getAddress(predicted.tranches[i] ?? t))
  ) {
    throw publishInvalid(
      `PortfolioFactory deployed ${created.portfolio} in ${created.txHash}, not the predicted ${predicted.portfolio}`,
    );
  }
  if (created.tranches.length !== portfolio.tranches.length) {
    throw publishInvalid(
      `Deployed ${created.tranches.length} tranche tokens for ${portfolio.tranches.length} tranches (tx ${created.txHash})`,
    );
  }
  if (created.documentRoot !== tree.root || created.loanTapeHash !== loanTapeHash) {
    // the data room changed while publishing: the chain is the record, the API shows what was anchored
    context.log?.warn(
      { jobId: data.jobId, anchored: created.documentRoot, current: tree.root },
      'the anchored documents differ from the current data room',
    );
  }
  if (reserveInitial > 0n) await fundInitialReserve(context, portfolio.id, created.portfolio, reserveInitial);
  const terms = await readPortfolioTerms(clients.publicClient, { portfolio: created.portfolio });
  const block = await chainRead('getBlock', () =>
    clients.publicClient.getBlock({ blockNumber: created.blockNumber }),
  );
  const result: PublishResult = {
    chainId: clients.chain.id,
    portfolioAddress: created.portfolio,
    distributorAddress: created.distributor,
    trancheAddresses: created.tranches,
    deployTxHash: created.txHash,
    blockNumber: created.blockNumber.toString(),
    documentRoot: created.documentRoot,
    documentCount: tree.length,
    loanTapeHash: created.loanTapeHash,
    offeringStart: terms.offeringStart.toString(),
    offeringEnd: terms.offeringEnd.toString(),
  };
  const tranches = portfolio.tranches;
  await prisma.$transaction(async (tx) => {
    const updated = await tx.portfolio.updateMany({
      where: { id: portfolio.id, status: 'publishing' },
      data: {
        status: 'published',
        chainId: result.chainId,
        portfolioAddress: result.portfolioAddress,
        distributorAddress: result.distributorAddress,
        // the Portfolio contract runs the primary offering itself
        offeringAddress: result.portfolioAddress,
        deployTxHash: result.deployTxHash,
        documentRoot: result.documentRoot,
        documentRootTxHash: result.deployTxHash,
        publishError: null,
        publishedAt: new Date(Number(block.timestamp) * 1000),
      },
    });
    if (updated.count !== 1) {
      throw publishInvalid(`Portfolio left publishing while its deployment ${result.deployTxHash} was mined`);
    }
    for (const [i, tranche] of tranches.entries()) {
      await tx.tranche.update({ where: { id: tranche.id }, data: { address: result.trancheAddresses[i] } });
    }
    await tx.job.update({
      where: { id: data.jobId },
      data: { status: 'succeeded', result, error: null, finishedAt: new Date() },
    });
  });
  context.log?.info({ jobId: data.jobId, portfolio: result.portfolioAddress }, 'portfolio published');
  return result;
}

type Created = {
  txHash: Hex;
  blockNumber: bigint;
  portfolio: Address;
  distributor: Address;
  tranches: Address[];
  documentRoot: Hex;
  loanTapeHash: Hex;
};

/**
 * Before createPortfolio is sent: the draft's initial reserve is funded by the issuer treasury, which the
 * platform can do only when the treasury is its own key, and only with the balance (nothing sent otherwise).
 */
async function assertTreasuryCanFund(context: PublishContext, amount: bigint): Promise<void> {
  const { clients, issuerTreasury, payToken } = context.platform;
  if (!isAddressEqual(issuerTreasury, clients.account.address)) {
    throw publishInvalid(
      `The initial reserve is funded by the issuer treasury ${issuerTreasury}, a key this platform does not hold: ` +
        'publish without reserve.initial and fund it from the treasury (Portfolio.fundReserve)',
    );
  }
  const balance = await chainRead('balanceOf', () =>
    erc20Raw.balanceOf(clients.publicClient, { token: payToken, account: issuerTreasury }),
  );
  if (balance < amount) {
    throw publishInvalid(
      `The issuer treasury ${issuerTreasury} holds ${balance} of the pay token, below the initial reserve ${amount}`,
    );
  }
}

/**
 * After createPortfolio: the treasury's initial `fundReserve` (one per portfolio, request key `initial`,
 * sent again only after a failed one), waited for. Retryable until it lands: the portfolio exists, the job
 * never sends it back to draft while it does.
 */
async function fundInitialReserve(
  context: PublishContext,
  portfolioId: string,
  portfolio: Address,
  amount: bigint,
): Promise<void> {
  const { clients, payToken, issuerTreasury } = context.platform;
  const chain = { prisma: context.db.prisma, relayer: context.relayer, chainId: clients.chain.id };
  const live = await liveRelay(chain, { kind: FUND_RESERVE_KIND, refId: `${portfolioId}:initial` });
  let id = live?.row.id;
  if (id === undefined) {
    const allowance = await chainRead('allowance', () =>
      erc20Raw.allowance(clients.publicClient, {
        token: payToken,
        owner: issuerTreasury,
        spender: portfolio,
      }),
    );
    const relayed = await relayReserveFunding(chain, {
      portfolioId,
      portfolio,
      payToken,
      allowance,
      amount,
      requestKey: 'initial',
    });
    id = relayed.row.id;
  }
  const settled = await context.relayer.waitFor(id, { timeoutMs: context.confirmTimeoutMs ?? 120_000 });
  if (settled.status !== 'mined') {
    throw new ServiceUnavailableError(
      `The initial reserve funding ${settled.txHash} is ${settled.status}${settled.revertReason ? `: ${settled.revertReason}` : ''}; will try again`,
    );
  }
}

/** What a mined createPortfolio receipt reports: PortfolioCreated and DocumentsAnchored (version 1). */
function createdFrom(receipt: TransactionReceipt): Created {
  const [event] = parseEventLogs({
    abi: portfolioFactoryAbi,
    logs: receipt.logs,
    eventName: 'PortfolioCreated',
  });
  const [anchored] = parseEventLogs({
    abi: portfolioAbi,
    logs: receipt.logs,
    eventName: 'DocumentsAnchored',
  });
  if (!event || !anchored) {
    throw new ChainError(
      `PortfolioFactory.createPortfolio: no ${event ? 'DocumentsAnchored' : 'PortfolioCreated'} event in ${receipt.transactionHash}`,
      { kind: 'unknown', retryable: false, txHash: receipt.transactionHash },
    );
  }
  return {
    txHash: receipt.transactionHash,
    blockNumber: receipt.blockNumber,
    portfolio: event.args.portfolio,
    distributor: event.args.distributor,
    tranches: [...event.args.tranches],
    documentRoot: anchored.args.documentRoot,
    loanTapeHash: anchored.args.loanTapeHash,
  };
}

/**
 * Where the relayed createPortfolio of `row` deploys: its calldata decoded and asked of
 * `PortfolioFactory.predictAddresses` with the row's sender as the creator.
 */
async function predictedAddresses(
  context: PublishContext,
  row: Pick<RelayTx, 'data' | 'from' | 'to'>,
): Promise<PredictedPortfolioAddresses> {
  const call = decodeFunctionData({ abi: portfolioFactoryAbi, data: row.data as Hex });
  if (call.functionName !== 'createPortfolio') {
    throw publishInvalid(`The publish transaction calls ${call.functionName}, not createPortfolio`);
  }
  const factory = context.platform.deployment.portfolioFactory;
  if (getAddress(row.to) !== getAddress(factory)) {
    throw publishInvalid(
      `The publish transaction went to ${row.to}, not the deployment's factory ${factory}`,
    );
  }
  return predictPortfolioAddresses(context.platform.clients.publicClient, {
    factory,
    args: call.args as ReturnType<typeof createPortfolioArgs>,
    creator: getAddress(row.from),
  });
}

/** Appends `hash` to `job.payload.txs` unless it is the latest already (GET /v1/jobs/:id shows the latest). */
async function recordTxHash(db: Db, jobId: string, hash: Hex): Promise<void> {
  await db.prisma.$executeRaw`
    UPDATE job SET payload = jsonb_set(payload, '{txs}', COALESCE(payload->'txs', '[]'::jsonb) || ${JSON.stringify([{ hash }])}::jsonb),
                   updated_at = now()
    WHERE id = ${jobId}::uuid AND COALESCE(payload->'txs'->-1->>'hash', '') <> ${hash}`;
}

async function chainRead<T>(functionName: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toChainError(error, { contract: 'chain', functionName });
  }
}

/** The reason stored in `publishError` / `job.error`: the error's own short message. */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0].slice(0, 1_000);
  return String(error).slice(0, 1_000);
}
