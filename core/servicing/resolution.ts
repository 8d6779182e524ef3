/**
 * Waterfall spec v2 over REST: the portfolio's resolution (the servicer proposes, the guardian may veto,
 * the final recovery resolves: see core/servicing/recoveries.ts `final`). The reserve's funding by the
 * issuer treasury is the issuer's: core/catalog/reserve.ts.
 *
 * - **Proposal** (`proposeResolution`): relayed to `proposeResolutionWithSig` with the servicer's EIP-712
 *   `ResolutionIntent(nonce, deadline)` (`resolutionIntent` hands out the typed data), or signed by the
 *   server when it holds the servicer's key (development); the platform cannot propose in its name.
 * - **Veto** (`vetoResolution`): `Portfolio.vetoResolution()` from the guardian's key, when the server
 *   holds it (local chains: `DATA_DIR/platform-keys.json`), relayed when the portfolio's guardian is the
 *   relayer key (single-key deployments); a production guardian (a multisig) calls it itself (409 `GUARDIAN_NOT_HELD`).
 *
 * Every check reads the chain before anything is sent; a rejection sends nothing. A relayed call is one
 * `relay_tx` row per intent (core/trading/settlement.ts `relayOnce`): a retried POST never sends twice.
 */
import { randomBytes } from 'node:crypto';
import { type Address, bytesToBigInt, getAddress, type Hex, parseEventLogs } from 'viem';
import {
  nonceInvalidationTypedData,
  type ResolutionIntent,
  readPortfolioTerms,
  resolutionIntentTypedData,
} from '../chain/actions.ts';
import type { ChainClients } from '../chain/clients.ts';
import { readRiskState } from '../chain/contracts/portfolio.ts';
import { ChainError, toChainError } from '../chain/errors.ts';
import { portfolioAbi } from '../chain/generated/index.ts';
import {
  assertNonceAndDeadline,
  assertServicerIntent,
  chainNow,
  intentDeadline,
  jsonSafe,
  servicerSignatureRequired,
} from '../chain/intents.ts';
import { readChain } from '../chain/read.ts';
import { ConflictError } from '../platform/errors/index.ts';
import { byTxHashes, relayOnce } from '../trading/settlement.ts';
import {
  DEFAULT_RECOVERY_INTENT_TTL_SECONDS,
  publishedPortfolio,
  type RecoveryContext,
} from './recoveries.ts';

export type ResolutionContext = RecoveryContext & {
  /** The guardian's own clients when the server holds its key (local chains), for `vetoResolution`. */
  guardian?: ChainClients;
};

export const PROPOSE_RESOLUTION_KIND = 'proposeResolution';
export const VETO_RESOLUTION_KIND = 'vetoResolution';

type Block = { number: bigint; timestamp: bigint };

const latestBlock = (context: RecoveryContext) =>
  readChain('chain', 'getBlock', () => context.publicClient.getBlock({ blockTag: 'latest' }));

const resolvedConflict = (portfolioId: string) =>
  new ConflictError('The portfolio is resolved', { details: { reason: 'PORTFOLIO_RESOLVED', portfolioId } });

// ------------------------------------------------------------------ resolution

/** The resolution as the chain has it: `open`, `resolving` (a proposal pending) or `resolved`. */
export async function getResolution(context: ResolutionContext, portfolioId: string) {
  const portfolio = await publishedPortfolio(context, portfolioId);
  const block = await latestBlock(context);
  const risk = await readRiskState(context.publicClient, portfolio.portfolioAddress, block.number);
  const now = chainNow(block.timestamp);
  return {
    portfolioId: portfolio.id,
    status: risk.resolved
      ? ('resolved' as const)
      : risk.executableAt === 0n
        ? ('open' as const)
        : ('resolving' as const),
    executableAt: risk.executableAt === 0n ? null : risk.executableAt.toString(),
    executable: !risk.resolved && risk.executableAt !== 0n && now >= risk.executableAt,
    resolutionDelay: risk.resolutionDelay.toString(),
    chainTime: now.toString(),
  };
}

const intentTtl = (context: Pick<RecoveryContext, 'recoveryIntentTtlSeconds'>) =>
  BigInt(context.recoveryIntentTtlSeconds ?? DEFAULT_RECOVERY_INTENT_TTL_SECONDS);

/** 409 unless a proposal can be made now: offering closed, not resolved, none pending. */
async function assertProposable(
  context: ResolutionContext,
  portfolio: { id: string; portfolioAddress: Address },
  block: Block,
) {
  const [terms, risk] = await Promise.all([
    readPortfolioTerms(context.publicClient, {
      portfolio: portfolio.portfolioAddress,
      blockNumber: block.number,
    }),
    readRiskState(context.publicClient, portfolio.portfolioAddress, block.number),
  ]);
  if (risk.resolved) throw resolvedConflict(portfolio.id);
  if (!terms.offeringClosed) {
    throw new ConflictError('The offering is not closed: resolution comes after recoveries start', {
      details: { reason: 'OFFERING_OPEN', portfolioId: portfolio.id },
    });
  }
  if (risk.executableAt !== 0n) {
    throw new ConflictError('A resolution is already pending', {
      details: {
        reason: 'RESOLUTION_PENDING',
        portfolioId: portfolio.id,
        executableAt: risk.executableAt.toString(),
      },
    });
  }
  return { servicer: getAddress(terms.servicer), risk };
}

/**
 * The typed data the servicer signs to propose resolution: `ResolutionIntent(nonce, deadline)` with a
 * fresh random nonce, and the `NonceInvalidation` that cancels it. Nothing is stored.
 */
export async function resolutionIntent(context: ResolutionContext, portfolioId: string) {
  const portfolio = await publishedPortfolio(context, portfolioId);
  const block = await latestBlock(context);
  const { servicer } = await assertProposable(context, portfolio, block);
  const intent: ResolutionIntent = {
    nonce: bytesToBigInt(randomBytes(32)),
    deadline: intentDeadline(block.timestamp, intentTtl(context)),
  };
  const resolution = resolutionIntentTypedData({
    portfolio: portfolio.portfolioAddress,
    chainId: context.chainId,
    intent,
  });
  const invalidation = nonceInvalidationTypedData({
    domain: resolution.domain,
    invalidation: { account: servicer, nonce: intent.nonce, deadline: intent.deadline },
  });
  return {
    portfolioId: portfolio.id,
    chainId: context.chainId,
    portfolio: portfolio.portfolioAddress,
    servicer,
    nonce: intent.nonce.toString(),
    deadline: intent.deadline.toString(),
    typedData: {
      resolution: jsonSafe(resolution) as Record<string, unknown>,
      invalidation: jsonSafe(invalidation) as Record<string, unknown>,
    },
  };
}

export type ProposeResolutionParameters = {
  portfolioId: string;
  servicerSignature?: Hex;
  nonce?: bigint;
  deadline?: bigint;
};

/**
 * Relays `proposeResolutionWithSig` with the servicer's signed ResolutionIntent (checked first:
 * signature, deadline, unused nonce), or the server's signature when it holds the servicer key. 202
 * with `executableAt` once mined (the relayer usually has it mined before this returns on a local chain;
 * else null: read GET /v1/portfolios/:id/resolution).
 */
export async function proposeResolution(context: ResolutionContext, parameters: ProposeResolutionParameters) {
  const portfolio = await publishedPortfolio(context, parameters.portfolioId);
  // a proposal of this portfolio still in flight (sent, not in a block yet) is the answer: a second
  // one could only revert (ResolutionAlreadyProposed) once the first is mined
  // (the row's status lags its receipt until the relayer's monitor sees it: a mined one, perhaps vetoed
  // since, is not in flight)
  const pendingRow = await context.prisma.relayTx.findFirst({
    where: { kind: PROPOSE_RESOLUTION_KIND, refId: { startsWith: `${portfolio.id}:` }, status: 'pending' },
    orderBy: { createdAt: 'desc' },
  });
  const inFlight =
    pendingRow !== null &&
    (await context.publicClient
      .getTransactionReceipt({ hash: pendingRow.txHash as Hex })
      .then(() => false)
      .catch(() => true))
      ? pendingRow
      : null;
  if (inFlight !== null) {
    return {
      id: inFlight.id,
      portfolioId: portfolio.id,
      status: 'pending' as const,
      txHash: inFlight.txHash as Hex,
      executableAt: null,
      resolutionDelay: (
        await readRiskState(context.publicClient, portfolio.portfolioAddress)
      ).resolutionDelay.toString(),
    };
  }
  const block = await latestBlock(context);
  const { servicer, risk } = await assertProposable(context, portfolio, block);
  const { intent, signature } = await servicerResolutionIntent(context, {
    ...parameters,
    portfolio: portfolio.portfolioAddress,
    servicer,
    block,
  });
  let relayed: Awaited<ReturnType<typeof relayOnce>>;
  try {
    relayed = await relayOnce(context, {
      keyBase: `resolution-propose-${portfolio.id}-${intent.nonce.toString(36)}`,
      kind: PROPOSE_RESOLUTION_KIND,
      refId: `${portfolio.id}:${intent.nonce.toString()}`,
      to: portfolio.portfolioAddress,
      abi: portfolioAbi,
      functionName: 'proposeResolutionWithSig',
      args: [intent.nonce, intent.deadline, signature],
      findEvent: byTxHashes((hashes) =>
        context.prisma.resolutionProposedEvent.findFirst({
          where: { chainId: context.chainId, ...hashes },
          orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
        }),
      ),
    });
  } catch (error) {
    if (error instanceof ChainError && error.errorName === 'ResolutionAlreadyProposed') {
      throw new ConflictError('A resolution is already pending', {
        cause: error,
        details: { reason: 'RESOLUTION_PENDING', portfolioId: portfolio.id },
      });
    }
    throw error;
  }
  const { row, state } = relayed;
  return {
    id: row.id,
    portfolioId: portfolio.id,
    status: state,
    txHash: row.txHash as Hex,
    executableAt: await proposedExecutableAt(context, row.txHash as Hex),
    resolutionDelay: risk.resolutionDelay.toString(),
  };
}

/** `executableAt` of the ResolutionProposed in the transaction's receipt, once it is mined; else null. */
async function proposedExecutableAt(context: ResolutionContext, hash: Hex): Promise<string | null> {
  const receipt = await context.publicClient.getTransactionReceipt({ hash }).catch(() => undefined);
  if (receipt === undefined || receipt.status !== 'success') return null;
  const [log] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'ResolutionProposed' });
  return log === undefined ? null : log.args.executableAt.toString();
}

async function servicerResolutionIntent(
  context: ResolutionContext,
  parameters: ProposeResolutionParameters & { portfolio: Address; servicer: Address; block: Block },
): Promise<{ intent: ResolutionIntent; signature: Hex }> {
  const { servicer, block } = parameters;
  const typedData = (intent: ResolutionIntent) =>
    resolutionIntentTypedData({ portfolio: parameters.portfolio, chainId: context.chainId, intent });
  if (parameters.servicerSignature === undefined) {
    const signer = context.servicerSigner;
    if (signer?.signTypedData === undefined || getAddress(signer.address) !== servicer) {
      throw servicerSignatureRequired({
        servicer,
        what: 'proposal',
        typeName: 'ResolutionIntent',
        intentsRoute: '/v1/portfolios/:id/resolution/intents',
      });
    }
    const intent = {
      nonce: bytesToBigInt(randomBytes(32)),
      deadline: intentDeadline(block.timestamp, intentTtl(context)),
    };
    return { intent, signature: await signer.signTypedData(typedData(intent)) };
  }
  assertNonceAndDeadline(parameters);
  const intent = { nonce: parameters.nonce as bigint, deadline: parameters.deadline as bigint };
  const signature = parameters.servicerSignature;
  await assertServicerIntent(context.publicClient, {
    portfolio: parameters.portfolio,
    chainId: context.chainId,
    servicer,
    typeName: 'ResolutionIntent(nonce, deadline)',
    typedData: typedData(intent),
    signature,
    nonce: intent.nonce,
    deadline: intent.deadline,
    block,
  });
  return { intent, signature };
}

/**
 * The guardian's veto of the pending resolution, sent from the guardian's key (its own clients, or the
 * relayer when the portfolio's guardian is the relayer key). 409 `RESOLUTION_NOT_PROPOSED` (a veto of
 * nothing), `PORTFOLIO_RESOLVED`, `GUARDIAN_NOT_HELD`. The guardian's own key: waits for the receipt.
 */
export async function vetoResolution(context: ResolutionContext, portfolioId: string) {
  const portfolio = await publishedPortfolio(context, portfolioId);
  const address = portfolio.portfolioAddress;
  const block = await latestBlock(context);
  const risk = await readRiskState(context.publicClient, address, block.number);
  if (risk.resolved) throw resolvedConflict(portfolio.id);
  if (risk.executableAt === 0n) {
    throw new ConflictError('No resolution is pending: there is nothing to veto', {
      details: { reason: 'RESOLUTION_NOT_PROPOSED', portfolioId: portfolio.id },
    });
  }
  const notProposed = (cause: unknown) =>
    new ConflictError('No resolution is pending: there is nothing to veto', {
      cause,
      details: { reason: 'RESOLUTION_NOT_PROPOSED', portfolioId: portfolio.id },
    });
  const notHeld = (cause: unknown) =>
    new ConflictError(
      'This server does not hold the guardian key of this portfolio: the guardian calls Portfolio.vetoResolution() itself',
      { cause, details: { reason: 'GUARDIAN_NOT_HELD', portfolio: address } },
    );
  const guardian = context.guardian;
  if (guardian === undefined) {
    // the relayer key may be the guardian (single-key deployments); its nonces are the relayer's, so the
    // veto goes through it; the simulation tells whether it is the guardian
    try {
      const { row, state } = await relayOnce(context, {
        keyBase: `resolution-veto-${portfolio.id}-${risk.executableAt}`,
        kind: VETO_RESOLUTION_KIND,
        refId: `${portfolio.id}:${risk.executableAt}`,
        to: address,
        abi: portfolioAbi,
        functionName: 'vetoResolution',
        args: [],
        findEvent: byTxHashes((hashes) =>
          context.prisma.resolutionVetoedEvent.findFirst({
            where: { chainId: context.chainId, ...hashes },
            orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
          }),
        ),
      });
      return {
        portfolioId: portfolio.id,
        status: state,
        txHash: row.txHash as Hex,
        vetoedExecutableAt: risk.executableAt.toString(),
      };
    } catch (error) {
      if (error instanceof ChainError && error.errorName === 'ResolutionNotProposed')
        throw notProposed(error);
      if (error instanceof ChainError && error.errorName === 'AccessControlUnauthorizedAccount') {
        throw notHeld(error);
      }
      throw error;
    }
  }
  const call = { address, abi: portfolioAbi, functionName: 'vetoResolution', args: [] } as const;
  let hash: Hex;
  try {
    const { request } = await guardian.publicClient.simulateContract({ ...call, account: guardian.account });
    hash = await guardian.walletClient.writeContract(request);
  } catch (error) {
    const chainError = toChainError(error, { contract: 'Portfolio', functionName: 'vetoResolution' });
    if (chainError.errorName === 'ResolutionNotProposed') throw notProposed(chainError);
    if (chainError.errorName === 'AccessControlUnauthorizedAccount') throw notHeld(chainError);
    throw chainError;
  }
  const receipt = await guardian.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') {
    throw new ConflictError(`The veto ${hash} reverted`, {
      details: { reason: 'VETO_REVERTED', txHash: hash },
    });
  }
  const [log] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'ResolutionVetoed' });
  return {
    portfolioId: portfolio.id,
    status: 'mined' as const,
    txHash: hash,
    vetoedExecutableAt: (log?.args.executableAt ?? risk.executableAt).toString(),
  };
}
