/**
 * Recoveries and offering close over REST: a servicer's recovery deposited on-chain through the
 * platform relayer (`Portfolio.depositRecoveryWithSig(intent, signature)`: the servicer's EIP-712
 * `DepositIntent(amount, reportHash, nonce, deadline)`, the cash pulled from the servicer's wallet),
 * its status from the relayer row, the indexed `RecoveryDistributed` event and the worker's
 * `distribution` row, and the issuer's `Portfolio.closeOffering()`.
 *
 * The servicer consents to each deposit: `recoveryIntent` hands out the typed data to sign (a fresh
 * nonce and a deadline), and the POST carries `servicerSignature`, `nonce`, `deadline`. Without a
 * signature the server signs only when it holds the servicer's key itself (`servicerSigner`, the
 * development servicer of `npm start`); otherwise the POST is refused (422 `body.servicerSignature`).
 * The platform key cannot deposit for anyone: it only relays what the servicer signed.
 *
 * No table of its own: a recovery is its `relay_tx` row (kind `depositRecovery`, `refId`
 * `<portfolioId>:<reportSha256>`); its id is the row's id. The relayer key derives from the
 * portfolio and the report (`recovery-<portfolioId>-<sha>-<attempt>`), so a retried POST never
 * deposits twice; only after a reverted or dropped attempt does the same report get a new attempt.
 *
 * Every check reads the chain at the latest block before anything is sent; a rejection sends nothing.
 */
import { randomBytes } from 'node:crypto';
import {
  type Address,
  bytesToBigInt,
  decodeFunctionData,
  encodeAbiParameters,
  getAddress,
  type Hex,
  hexToBigInt,
  keccak256,
  type LocalAccount,
  parseEventLogs,
} from 'viem';
import {
  type DepositIntent,
  depositIntentTypedData,
  finalDepositIntentTypedData,
  nonceInvalidationTypedData,
} from '../chain/actions.ts';
import { readPortfolioTerms } from '../chain/contracts/portfolio.ts';
import { readBalanceAndAllowance } from '../chain/contracts/tranche-token.ts';
import { ChainError } from '../chain/errors.ts';
import { portfolioAbi } from '../chain/generated/index.ts';
import {
  assertNonceAndDeadline,
  assertServicerIntent,
  intentDeadline,
  jsonSafe,
  servicerSignatureRequired,
} from '../chain/intents.ts';
import { readChain } from '../chain/read.ts';
import type { PrismaClient } from '../db/index.ts';
import { assertPublishedOnChain } from '../domain/published-portfolio.ts';
import { BaseError, ConflictError, NotFoundError } from '../platform/errors/index.ts';
import {
  byTxHashes,
  liveRelay,
  loadIndexSnapshot,
  type RelayedActionContext,
  type RelayTxView,
  relayIsLive,
  relayOnce,
  settleRelayed,
} from '../trading/settlement.ts';

/** Relaying one intent at most once at a time now lives with the settlement; re-exported for importers. */
export { latestRelay, relayOnce } from '../trading/settlement.ts';

export type RecoveryContext = RelayedActionContext & {
  /**
   * A servicer key the server holds (development: `DATA_DIR/dev-servicer-key` of `npm start`): for a
   * portfolio whose servicer is this account, a POST without `servicerSignature` is signed with it.
   */
  servicerSigner?: LocalAccount;
  /** Lifetime of a deposit intent the server hands out or signs, in seconds; default 3 600. */
  recoveryIntentTtlSeconds?: number;
};

export const DEFAULT_RECOVERY_INTENT_TTL_SECONDS = 3_600;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const RECOVERY_KIND = 'depositRecovery';
export const CLOSE_OFFERING_KIND = 'closeOffering';

// ------------------------------------------------------------------ portfolio on-chain state

/** The published portfolio row (404 unknown, 409 not published, 503 another chain). */
export async function publishedPortfolio(context: Pick<RecoveryContext, 'prisma' | 'chainId'>, id: string) {
  const portfolio = UUID.test(id) ? await context.prisma.portfolio.findUnique({ where: { id } }) : null;
  if (portfolio === null) throw new NotFoundError('Portfolio', id);
  return { ...portfolio, portfolioAddress: assertPublishedOnChain(portfolio, context.chainId) };
}

/** The portfolio's row if it exists (for authorisation before the state checks). */
export async function findPortfolio(prisma: PrismaClient, id: string) {
  const portfolio = UUID.test(id) ? await prisma.portfolio.findUnique({ where: { id } }) : null;
  if (portfolio === null) throw new NotFoundError('Portfolio', id);
  return portfolio;
}

async function readTerms(context: RecoveryContext, portfolio: Address, blockNumber?: bigint) {
  return readPortfolioTerms(context.publicClient, { portfolio, blockNumber });
}

// ------------------------------------------------------------------ recoveries

/**
 * 409 `REPORT_ALREADY_DEPOSITED`: the Portfolio already took a recovery with this report hash
 * (`RecoveryReportAlreadyDeposited` on-chain), e.g. an earlier attempt whose relay row was failed
 * although its transaction was mined, or a deposit made outside the API. Nothing is sent.
 */
export class RecoveryReportAlreadyDepositedError extends BaseError {
  override name = 'RecoveryReportAlreadyDepositedError';

  constructor(parameters: { portfolioId: string; reportSha256: string; cause?: unknown }) {
    super(
      `Report ${parameters.reportSha256} was already deposited on-chain for this portfolio: one recovery per report`,
      {
        code: 'REPORT_ALREADY_DEPOSITED',
        cause: parameters.cause,
        details: {
          path: 'body.reportSha256',
          reason: 'REPORT_ALREADY_DEPOSITED',
          portfolioId: parameters.portfolioId,
          reportSha256: parameters.reportSha256,
        },
      },
    );
  }
}

export type SubmitRecoveryParameters = {
  portfolioId: string;
  amount: bigint;
  reportSha256: string;
  /** The servicer's EIP-712 signature of `DepositIntent(amount, 0x<reportSha256>, nonce, deadline)`. */
  servicerSignature?: Hex;
  nonce?: bigint;
  deadline?: bigint;
  /** The final recovery (`depositFinalRecoveryWithSig`, the servicer's FinalDepositIntent). */
  final?: boolean;
};

export const recoveryRefId = (portfolioId: string, reportSha256: string) =>
  `${portfolioId}:${reportSha256.toLowerCase()}`;

/**
 * The amount and report of a relayed deposit: `depositRecoveryWithSig` or `depositFinalRecoveryWithSig`
 * (or an older `depositRecovery` row), and whether it is the final one.
 */
function decodeRecoveryCall(data: string): { amount: bigint; reportHash: Hex; final: boolean } | null {
  try {
    const call = decodeFunctionData({ abi: portfolioAbi, data: data as Hex });
    if (
      call.functionName === 'depositRecoveryWithSig' ||
      call.functionName === 'depositFinalRecoveryWithSig'
    ) {
      const [intent] = call.args;
      return {
        amount: intent.amount,
        reportHash: intent.reportHash,
        final: call.functionName === 'depositFinalRecoveryWithSig',
      };
    }
    if (call.functionName !== 'depositRecovery') return null;
    const [amount, reportHash] = call.args as readonly [bigint, Hex];
    return { amount, reportHash, final: false };
  } catch {
    return null;
  }
}

/** The typed data the servicer signs for one deposit: FinalDepositIntent for the final one. */
function intentTypedData(parameters: {
  portfolio: Address;
  chainId: number;
  intent: DepositIntent;
  final?: boolean;
}) {
  return parameters.final === true
    ? finalDepositIntentTypedData(parameters)
    : depositIntentTypedData(parameters);
}

// ------------------------------------------------------------------ the servicer's deposit intent

const intentTtl = (context: Pick<RecoveryContext, 'recoveryIntentTtlSeconds'>) =>
  BigInt(context.recoveryIntentTtlSeconds ?? DEFAULT_RECOVERY_INTENT_TTL_SECONDS);

export type RecoveryIntentParameters = {
  portfolioId: string;
  amount: bigint;
  reportSha256: string;
  final?: boolean;
};

/**
 * The typed data the servicer signs to consent to one recovery: `DepositIntent(amount, 0x<sha>,
 * nonce, deadline)` on the Portfolio's domain, with a fresh random nonce and a deadline
 * `recoveryIntentTtlSeconds` ahead; and the `NonceInvalidation` that cancels it before it is relayed
 * (POST /v1/intents/invalidations). Nothing is stored: the POST carries nonce, deadline and signature.
 */
export async function recoveryIntent(context: RecoveryContext, parameters: RecoveryIntentParameters) {
  const reportSha256 = parameters.reportSha256.toLowerCase();
  const portfolio = await publishedPortfolio(context, parameters.portfolioId);
  const block = await readChain('chain', 'getBlock', () =>
    context.publicClient.getBlock({ blockTag: 'latest' }),
  );
  const terms = await readTerms(context, portfolio.portfolioAddress, block.number);
  const servicer = getAddress(terms.servicer);
  const intent: DepositIntent = {
    amount: parameters.amount,
    reportHash: `0x${reportSha256}`,
    nonce: bytesToBigInt(randomBytes(32)),
    deadline: intentDeadline(block.timestamp, intentTtl(context)),
  };
  const deposit = intentTypedData({
    portfolio: portfolio.portfolioAddress,
    chainId: context.chainId,
    intent,
    final: parameters.final,
  });
  const invalidation = nonceInvalidationTypedData({
    domain: deposit.domain,
    invalidation: { account: servicer, nonce: intent.nonce, deadline: intent.deadline },
  });
  return {
    portfolioId: portfolio.id,
    chainId: context.chainId,
    portfolio: portfolio.portfolioAddress,
    servicer,
    amount: intent.amount.toString(),
    final: parameters.final === true,
    reportSha256,
    nonce: intent.nonce.toString(),
    deadline: intent.deadline.toString(),
    typedData: {
      deposit: jsonSafe(deposit) as Record<string, unknown>,
      invalidation: jsonSafe(invalidation) as Record<string, unknown>,
    },
  };
}
export type RecoveryIntentView = Awaited<ReturnType<typeof recoveryIntent>>;

/** 422: the POST has no servicer signature and the server does not hold the servicer's key. */
const signatureRequired = (servicer: Address, final?: boolean) =>
  servicerSignatureRequired({
    servicer,
    what: 'deposit',
    typeName: final === true ? 'FinalDepositIntent' : 'DepositIntent',
    intentsRoute: '/v1/portfolios/:id/recoveries/intents',
  });

/** The nonce of a deposit the server signs itself: one per portfolio, report and attempt. */
function serverNonce(portfolio: Address, reportHash: Hex, attempt: number): bigint {
  return hexToBigInt(
    keccak256(
      encodeAbiParameters(
        [{ type: 'string' }, { type: 'address' }, { type: 'bytes32' }, { type: 'uint256' }],
        ['npl-recovery', portfolio, reportHash, BigInt(attempt)],
      ),
    ),
  );
}

/**
 * The signed intent to relay: the servicer's (checked: signature over exactly this amount and report,
 * deadline ahead, nonce unused) or, without one, the server's signature when it holds the servicer key.
 */
async function servicerIntent(
  context: RecoveryContext,
  parameters: SubmitRecoveryParameters & { portfolio: Address; servicer: Address; attempt: number },
  block: { number: bigint; timestamp: bigint },
): Promise<{ intent: DepositIntent; signature: Hex }> {
  const reportHash = `0x${parameters.reportSha256.toLowerCase()}` as Hex;
  const { servicer } = parameters;
  if (parameters.servicerSignature === undefined) {
    const signer = context.servicerSigner;
    if (signer === undefined || getAddress(signer.address) !== servicer)
      throw signatureRequired(servicer, parameters.final);
    const intent: DepositIntent = {
      amount: parameters.amount,
      reportHash,
      nonce: serverNonce(parameters.portfolio, reportHash, parameters.attempt),
      deadline: intentDeadline(block.timestamp, intentTtl(context)),
    };
    if (signer.signTypedData === undefined) throw signatureRequired(servicer, parameters.final);
    const typedData = { portfolio: parameters.portfolio, chainId: context.chainId, intent };
    const signature =
      parameters.final === true
        ? await signer.signTypedData(finalDepositIntentTypedData(typedData))
        : await signer.signTypedData(depositIntentTypedData(typedData));
    return { intent, signature };
  }
  assertNonceAndDeadline(parameters);
  const intent: DepositIntent = {
    amount: parameters.amount,
    reportHash,
    nonce: parameters.nonce as bigint,
    deadline: parameters.deadline as bigint,
  };
  const signature = parameters.servicerSignature;
  await assertServicerIntent(context.publicClient, {
    portfolio: parameters.portfolio,
    chainId: context.chainId,
    servicer,
    typeName: `${parameters.final === true ? 'FinalDepositIntent' : 'DepositIntent'}(amount, reportHash, nonce, deadline)`,
    typedData: intentTypedData({
      portfolio: parameters.portfolio,
      chainId: context.chainId,
      intent,
      final: parameters.final,
    }),
    signature,
    nonce: intent.nonce,
    deadline: intent.deadline,
    block,
  });
  return { intent, signature };
}

/**
 * 409 when the portfolio's resolution state forbids this deposit: any deposit once resolved
 * (`PORTFOLIO_RESOLVED`); a final one without a pending proposal (`RESOLUTION_NOT_PROPOSED`) or before its
 * `executableAt` (`RESOLUTION_NOT_EXECUTABLE`), judged at the later of the latest block and the wall clock
 * (the next block's time on a chain that mines on demand; the contract checks it again).
 */
async function assertResolutionAllows(
  context: RecoveryContext,
  portfolio: { id: string; portfolioAddress: Address },
  block: { number: bigint; timestamp: bigint },
  final: boolean,
): Promise<void> {
  const [executableAt, resolved] = await readChain('Portfolio', 'resolution', () =>
    context.publicClient.readContract({
      address: portfolio.portfolioAddress,
      abi: portfolioAbi,
      functionName: 'resolution',
      blockNumber: block.number,
    }),
  );
  if (resolved) {
    throw new ConflictError('The portfolio is resolved: it takes no more recoveries', {
      details: { reason: 'PORTFOLIO_RESOLVED', portfolioId: portfolio.id },
    });
  }
  if (!final) return;
  if (executableAt === 0n) {
    throw new ConflictError(
      'No resolution is pending: the servicer proposes it first (POST /v1/portfolios/:id/resolution)',
      { details: { path: 'body.final', reason: 'RESOLUTION_NOT_PROPOSED', portfolioId: portfolio.id } },
    );
  }
  const wall = BigInt(Math.floor(Date.now() / 1000));
  const now = block.timestamp > wall ? block.timestamp : wall;
  if (now < executableAt) {
    throw new ConflictError('The resolution is not executable yet: the guardian may still veto it', {
      details: {
        path: 'body.final',
        reason: 'RESOLUTION_NOT_EXECUTABLE',
        portfolioId: portfolio.id,
        executableAt: executableAt.toString(),
        chainTime: now.toString(),
      },
    });
  }
}

/**
 * Checks the portfolio (published, offering closed), the servicer's consent (`servicerIntent`) and its
 * pay-token balance and allowance to the Portfolio at the latest block, then relays
 * `depositRecoveryWithSig`. The same report again answers the existing recovery (`existing: true`) when
 * the amount matches, else CONFLICT.
 */
export async function submitRecovery(context: RecoveryContext, parameters: SubmitRecoveryParameters) {
  const reportSha256 = parameters.reportSha256.toLowerCase();
  const { amount } = parameters;
  const portfolio = await publishedPortfolio(context, parameters.portfolioId);
  const refId = recoveryRefId(portfolio.id, reportSha256);

  const previous = await context.prisma.relayTx.findMany({
    where: { kind: RECOVERY_KIND, refId },
    orderBy: { createdAt: 'desc' },
  });
  const index = await loadIndexSnapshot(context.prisma, context.chainId);
  const live = previous.find((r) => relayIsLive(r, index));
  if (live !== undefined) {
    const call = decodeRecoveryCall(live.data);
    if (call?.amount !== amount || call.final !== (parameters.final === true)) {
      throw new ConflictError('This report was already deposited with another amount', {
        details: {
          reason: 'REPORT_REUSED',
          recoveryId: live.id,
          amount: call?.amount.toString() ?? null,
        },
      });
    }
    return { view: await recoveryView(context, live), existing: true };
  }

  const block = await readChain('chain', 'getBlock', () =>
    context.publicClient.getBlock({ blockTag: 'latest' }),
  );
  const terms = await readTerms(context, portfolio.portfolioAddress, block.number);
  if (!terms.offeringClosed) {
    throw new ConflictError(
      'The offering is not closed: recoveries start after POST /v1/portfolios/:id/offering/close',
      {
        details: {
          reason: 'OFFERING_OPEN',
          portfolioId: portfolio.id,
        },
      },
    );
  }
  await assertResolutionAllows(context, portfolio, block, parameters.final === true);
  const servicer = getAddress(terms.servicer);
  const payToken = getAddress(terms.payToken);
  const { balance, allowance } = await readBalanceAndAllowance(context.publicClient, {
    token: payToken,
    owner: servicer,
    spender: portfolio.portfolioAddress,
    blockNumber: block.number,
  });
  if (balance < amount) {
    throw new ConflictError(`The servicer's pay-token balance is below the amount`, {
      details: {
        path: 'body.amount',
        reason: 'INSUFFICIENT_BALANCE',
        servicer,
        payToken,
        amount: amount.toString(),
        balance: balance.toString(),
        missing: (amount - balance).toString(),
      },
    });
  }
  if (allowance < amount) {
    throw new ConflictError(
      `The servicer has not approved the amount to the Portfolio (${portfolio.portfolioAddress})`,
      {
        details: {
          path: 'body.amount',
          reason: 'INSUFFICIENT_ALLOWANCE',
          servicer,
          payToken,
          spender: portfolio.portfolioAddress,
          amount: amount.toString(),
          allowance: allowance.toString(),
          missing: (amount - allowance).toString(),
        },
      },
    );
  }

  const { intent, signature } = await servicerIntent(
    context,
    {
      ...parameters,
      reportSha256,
      portfolio: portfolio.portfolioAddress,
      servicer,
      attempt: previous.length,
    },
    block,
  );

  const idempotencyKey = `recovery-${portfolio.id}-${reportSha256}-${previous.length}`;
  let row: RelayTxView;
  try {
    row = await context.relayer.submit({
      idempotencyKey,
      kind: RECOVERY_KIND,
      refId,
      to: portfolio.portfolioAddress,
      abi: portfolioAbi,
      functionName: parameters.final === true ? 'depositFinalRecoveryWithSig' : 'depositRecoveryWithSig',
      args: [intent, signature],
      // the final one depends on the clock (the resolution's executableAt): simulate it at the next block's
      // time, not at a latest block that may be hours old on a chain that mines only on demand
      blockTag: parameters.final === true ? 'pending' : undefined,
    });
  } catch (error) {
    if (error instanceof ChainError && error.errorName === 'RecoveryReportAlreadyDeposited') {
      throw new RecoveryReportAlreadyDepositedError({
        portfolioId: portfolio.id,
        reportSha256,
        cause: error,
      });
    }
    // a concurrent POST of the same report stored this attempt first, with its own signature (nonce,
    // deadline): that one is the recovery; its amount is checked below
    const raced =
      error instanceof ConflictError
        ? await context.prisma.relayTx.findUnique({ where: { idempotencyKey } })
        : null;
    if (raced === null) throw error;
    row = raced;
  }
  // a concurrent POST of the same report may have stored it first with another amount
  const stored = await context.prisma.relayTx.findUniqueOrThrow({ where: { id: row.id } });
  const storedCall = decodeRecoveryCall(stored.data);
  if (storedCall?.amount !== amount || storedCall.final !== (parameters.final === true)) {
    throw new ConflictError('This report was already deposited with another amount', {
      details: {
        reason: 'REPORT_REUSED',
        recoveryId: stored.id,
      },
    });
  }
  return { view: await recoveryView(context, stored), existing: false };
}

/** The recovery (relay row of kind depositRecovery) by id, with its status brought up to date. */
export async function getRecovery(
  context: Pick<RecoveryContext, 'prisma'> & Partial<RecoveryContext>,
  id: string,
) {
  const row = UUID.test(id) ? await context.prisma.relayTx.findUnique({ where: { id } }) : null;
  if (row === null || row.kind !== RECOVERY_KIND) throw new NotFoundError('Recovery', id);
  return recoveryView(context, row);
}

type RelayRow = NonNullable<Awaited<ReturnType<PrismaClient['relayTx']['findUnique']>>>;

async function recoveryView(
  context: Pick<RecoveryContext, 'prisma'> & Partial<RecoveryContext>,
  row: RelayRow,
) {
  const [portfolioId, reportSha256] = (row.refId ?? ':').split(':');
  const call = decodeRecoveryCall(row.data);
  const base = {
    id: row.id,
    portfolioId,
    amount: (call?.amount ?? 0n).toString(),
    final: call?.final ?? false,
    reportSha256,
    txHash: row.txHash as Hex,
    recoveryId: null as string | null,
    blockNumber: null as string | null,
    indexed: false,
    servicerFee: null as string | null,
    protocolFee: null as string | null,
    undistributed: null as string | null,
    tranches: null as
      | { trancheIndex: number; interest: string; principal: string; residual: string; total: string }[]
      | null,
    distribution: null as { id: string; status: string } | null,
    reason: null as string | null,
    revert: null as string | null,
    createdAt: row.createdAt.toISOString(),
  };
  const settled = await settleRelayed(
    { relay: row },
    {
      prisma: context.prisma,
      chainId: row.chainId,
      findEvent: byTxHashes((hashes) =>
        context.prisma.recoveryEvent.findFirst({
          where: { chainId: row.chainId, ...hashes },
          orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
        }),
      ),
    },
  );
  const relay = settled.relay ?? row;
  if (settled.state === 'failed') {
    return {
      ...base,
      txHash: relay.txHash as Hex,
      status: 'failed' as const,
      reason: settled.failure.code,
      revert: settled.failure.reason,
    };
  }
  if (settled.state === 'pending')
    return { ...base, txHash: relay.txHash as Hex, status: 'pending' as const };

  // mined (not final yet: a reorg may still send it back to pending) or confirmed (its event final)
  const reached = {
    ...base,
    txHash: relay.txHash as Hex,
    status: settled.state,
    blockNumber: settled.blockNumber?.toString() ?? null,
  };
  const event = settled.event;
  if (event === null) {
    // mined, not indexed yet: the recovery id from the receipt when a chain is at hand
    if (context.publicClient !== undefined && relay.status === 'mined') {
      const receipt = await context.publicClient
        .getTransactionReceipt({ hash: relay.txHash as Hex })
        .catch(() => undefined);
      const [log] = receipt
        ? parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'RecoveryDistributed' })
        : [];
      if (log !== undefined) return { ...reached, recoveryId: log.args.recoveryId.toString() };
    }
    return reached;
  }
  const [tranches, distribution] = await Promise.all([
    context.prisma.recoveryEventTranche.findMany({
      where: { chainId: event.chainId, txHash: event.txHash, logIndex: event.logIndex },
      orderBy: { trancheIndex: 'asc' },
    }),
    context.prisma.distribution.findUnique({
      where: {
        chainId_recoveryTxHash_recoveryLogIdx: {
          chainId: event.chainId,
          recoveryTxHash: event.txHash,
          recoveryLogIdx: event.logIndex,
        },
      },
      select: { id: true, status: true },
    }),
  ]);
  return {
    ...reached,
    indexed: true,
    recoveryId: event.recoveryId.toFixed(0),
    blockNumber: event.blockNumber.toString(),
    servicerFee: event.servicerFee.toFixed(0),
    protocolFee: event.protocolFee.toFixed(0),
    undistributed: event.undistributed.toFixed(0),
    tranches: tranches.map((t) => ({
      trancheIndex: t.trancheIndex,
      interest: t.interest.toFixed(0),
      principal: t.principal.toFixed(0),
      residual: t.residual.toFixed(0),
      total: t.total.toFixed(0),
    })),
    distribution,
  };
}
export type RecoveryView = Awaited<ReturnType<typeof recoveryView>>;

// ------------------------------------------------------------------ offering close

/**
 * Relays `Portfolio.closeOffering()` (the platform key holds ISSUER_ROLE). CONFLICT when the
 * portfolio is not published or the offering is already closed. The earlier close of the portfolio
 * is settled by the state machine (core/trading/settlement.ts, its event OfferingClosed): `pending`
 * or `mined` (including a revert in a block that is not final yet, which a reorg may still turn into
 * a success) is answered again with that state (same transaction, nothing sent); `confirmed` is
 * CONFLICT; only after it `failed` is a new one sent.
 */
export async function requestCloseOffering(context: RecoveryContext, portfolioId: string) {
  const portfolio = await publishedPortfolio(context, portfolioId);
  const alreadyClosed = () =>
    new ConflictError('The offering is already closed', {
      details: {
        reason: 'OFFERING_CLOSED',
        portfolioId: portfolio.id,
      },
    });
  const closeCall = {
    keyBase: `offering-close-${portfolio.id}`,
    kind: CLOSE_OFFERING_KIND,
    refId: portfolio.id,
    to: portfolio.portfolioAddress,
    abi: portfolioAbi,
    functionName: 'closeOffering',
    args: [],
    findEvent: byTxHashes((hashes) =>
      context.prisma.offeringClosedEvent.findFirst({
        where: {
          chainId: context.chainId,
          portfolio: { equals: portfolio.portfolioAddress, mode: 'insensitive' },
          ...hashes,
        },
        orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
      }),
    ),
  } as const;
  const earlier = await liveRelay(context, closeCall);
  if (earlier !== null) {
    if (earlier.state === 'confirmed') throw alreadyClosed();
    return { status: earlier.state, txHash: earlier.row.txHash as Hex, relayTxId: earlier.row.id };
  }
  const terms = await readTerms(context, portfolio.portfolioAddress);
  if (terms.offeringClosed) throw alreadyClosed();
  const { row, state } = await relayOnce(context, closeCall);
  if (state === 'confirmed') throw alreadyClosed();
  return { status: state, txHash: row.txHash as Hex, relayTxId: row.id };
}
