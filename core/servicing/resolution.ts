/**
 * Waterfall spec v2 over REST: the cash reserve's funding by the issuer treasury, and the portfolio's
 * resolution (the servicer proposes, the guardian may veto, the final recovery resolves: see
 * core/servicing/recoveries.ts `final`).
 *
 * - **Reserve funding** (`fundReserve`): `Portfolio.fundReserve(amount)` pulls from its caller, which must
 *   be the issuer treasury fixed at creation. The platform relays it only when the treasury is the
 *   platform's own key (the default issuer treasury of `npm start`); the treasury's transaction is its
 *   consent. It first approves the Portfolio once for good (`approve(portfolio, max)`: the Portfolio pulls
 *   from the treasury only in `fundReserve`, which only the treasury can call). Any other treasury
 *   calls `fundReserve` itself (409 `TREASURY_NOT_HELD`).
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
import {
  type Address,
  bytesToBigInt,
  erc20Abi,
  getAddress,
  type Hex,
  isAddressEqual,
  isHex,
  maxUint256,
  parseEventLogs,
} from 'viem';
import {
  nonceInvalidationTypedData,
  type ResolutionIntent,
  readPortfolioTerms,
  resolutionIntentTypedData,
} from '../chain/actions.ts';
import type { ChainClients } from '../chain/clients.ts';
import { readIntentNonceUsed } from '../chain/contracts/portfolio.ts';
import { readBalanceAndAllowance } from '../chain/contracts/tranche-token.ts';
import { ChainError, toChainError } from '../chain/errors.ts';
import { portfolioAbi } from '../chain/generated/index.ts';
import { readChain } from '../chain/read.ts';
import {
  ConflictError,
  OrderExpiredError,
  SignatureInvalidError,
  ValidationFailedError,
} from '../platform/errors/index.ts';
import { byTxHashes, relayOnce } from '../trading/settlement.ts';
import {
  DEFAULT_RECOVERY_INTENT_TTL_SECONDS,
  publishedPortfolio,
  type RecoveryContext,
} from './recoveries.ts';

export type ResolutionContext = RecoveryContext & {
  /** The platform relayer's address (the only treasury whose funding the platform can send). */
  relayerAddress?: Address;
  /** The guardian's own clients when the server holds its key (local chains), for `vetoResolution`. */
  guardian?: ChainClients;
};

export const FUND_RESERVE_KIND = 'fundReserve';
export const RESERVE_APPROVE_KIND = 'reserveApprove';
export const PROPOSE_RESOLUTION_KIND = 'proposeResolution';
export const VETO_RESOLUTION_KIND = 'vetoResolution';

type Block = { number: bigint; timestamp: bigint };

const latestBlock = (context: RecoveryContext) =>
  readChain('chain', 'getBlock', () => context.publicClient.getBlock({ blockTag: 'latest' }));

/** The later of the block's time and the wall clock: the next block's time on a chain that mines on demand. */
function chainNow(block: Block): bigint {
  const wall = BigInt(Math.floor(Date.now() / 1000));
  return block.timestamp > wall ? block.timestamp : wall;
}

/** The portfolio's spec-v2 state on-chain at `block`. */
export async function readRiskState(context: RecoveryContext, portfolio: Address, blockNumber?: bigint) {
  const read = <T>(
    functionName: 'riskTerms' | 'reserve' | 'resolution' | 'collected',
    run: () => Promise<T>,
  ) => readChain('Portfolio', functionName, run);
  const [riskTerms, reserve, resolution, collected] = await Promise.all([
    read('riskTerms', () =>
      context.publicClient.readContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'riskTerms',
        blockNumber,
      }),
    ),
    read('reserve', () =>
      context.publicClient.readContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'reserve',
        blockNumber,
      }),
    ),
    read('resolution', () =>
      context.publicClient.readContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'resolution',
        blockNumber,
      }),
    ),
    read('collected', () =>
      context.publicClient.readContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'collected',
        blockNumber,
      }),
    ),
  ]);
  const [reserveTargetBps, collectionRatioBps, businessPlan, resolutionDelay] = riskTerms;
  const [reserveBalance, reserveFunded] = reserve;
  const [executableAt, resolved] = resolution;
  return {
    reserveTargetBps: Number(reserveTargetBps),
    collectionRatioBps: Number(collectionRatioBps),
    businessPlan: businessPlan.map((p) => ({ atSeconds: BigInt(p.atSeconds), cumulative: p.cumulative })),
    resolutionDelay,
    reserveBalance,
    reserveFunded,
    executableAt,
    resolved,
    collected,
  };
}

const resolvedConflict = (portfolioId: string) =>
  new ConflictError('The portfolio is resolved', { details: { reason: 'PORTFOLIO_RESOLVED', portfolioId } });

// ------------------------------------------------------------------ the reserve

export type FundReserveParameters = {
  portfolioId: string;
  amount: bigint;
  /** One funding per key (a retried request with the same key answers the same funding); default: a new one. */
  requestKey?: string;
};

/**
 * Relays `Portfolio.fundReserve(amount)` from the issuer treasury (the platform's key), approving the
 * Portfolio once first. 409 `RESERVE_NOT_CONFIGURED` (no reserve target), `PORTFOLIO_RESOLVED`,
 * `TREASURY_NOT_HELD`, `INSUFFICIENT_BALANCE` (the treasury's pay-token balance); nothing sent then.
 */
export async function fundReserve(context: ResolutionContext, parameters: FundReserveParameters) {
  const portfolio = await publishedPortfolio(context, parameters.portfolioId);
  const address = portfolio.portfolioAddress;
  const block = await latestBlock(context);
  const [terms, risk] = await Promise.all([
    readPortfolioTerms(context.publicClient, { portfolio: address, blockNumber: block.number }),
    readRiskState(context, address, block.number),
  ]);
  if (risk.resolved) throw resolvedConflict(portfolio.id);
  if (risk.reserveTargetBps === 0) {
    throw new ConflictError('The portfolio has no reserve (its reserve target is 0)', {
      details: { reason: 'RESERVE_NOT_CONFIGURED', portfolioId: portfolio.id },
    });
  }
  const treasury = getAddress(terms.issuerTreasury);
  if (context.relayerAddress === undefined || !isAddressEqual(context.relayerAddress, treasury)) {
    throw new ConflictError(
      `The issuer treasury ${treasury} is not a key this platform holds: it calls Portfolio.fundReserve itself`,
      { details: { reason: 'TREASURY_NOT_HELD', issuerTreasury: treasury, portfolio: address } },
    );
  }
  const payToken = getAddress(terms.payToken);
  const { balance, allowance } = await readBalanceAndAllowance(context.publicClient, {
    token: payToken,
    owner: treasury,
    spender: address,
    blockNumber: block.number,
  });
  if (balance < parameters.amount) {
    throw new ConflictError(`The issuer treasury's pay-token balance is below the amount`, {
      details: {
        path: 'body.amount',
        reason: 'INSUFFICIENT_BALANCE',
        issuerTreasury: treasury,
        payToken,
        amount: parameters.amount.toString(),
        balance: balance.toString(),
        missing: (parameters.amount - balance).toString(),
      },
    });
  }
  const requestKey = parameters.requestKey ?? bytesToBigInt(randomBytes(16)).toString(36);
  const { row, state, existing } = await relayReserveFunding(context, {
    portfolioId: portfolio.id,
    portfolio: address,
    payToken,
    allowance,
    amount: parameters.amount,
    requestKey,
  });
  return {
    id: row.id,
    portfolioId: portfolio.id,
    amount: parameters.amount.toString(),
    issuerTreasury: treasury,
    status: state,
    txHash: row.txHash as Hex,
    existing,
  };
}

/**
 * Relays the issuer treasury's (the relayer key's) `approve(portfolio, max)` when its `allowance` is below
 * `amount`, then `fundReserve(amount)`: one funding per (portfolio, `requestKey`), a new transaction only
 * after the previous one failed (`relayOnce`). The caller checked the treasury, its balance and the
 * portfolio's state. Shared by the REST route and the publish job's initial funding (`requestKey` `initial`).
 */
export async function relayReserveFunding(
  context: Pick<RecoveryContext, 'prisma' | 'relayer' | 'chainId'>,
  parameters: {
    portfolioId: string;
    portfolio: Address;
    payToken: Address;
    allowance: bigint;
    amount: bigint;
    requestKey: string;
  },
) {
  const { portfolioId, portfolio } = parameters;
  if (parameters.allowance < parameters.amount) {
    await relayOnce(context, {
      keyBase: `reserve-approve-${portfolioId}`,
      kind: RESERVE_APPROVE_KIND,
      refId: portfolioId,
      to: parameters.payToken,
      abi: erc20Abi,
      functionName: 'approve',
      args: [portfolio, maxUint256],
    });
  }
  return relayOnce(context, {
    keyBase: `reserve-fund-${portfolioId}-${parameters.requestKey}`,
    kind: FUND_RESERVE_KIND,
    refId: `${portfolioId}:${parameters.requestKey}`,
    to: portfolio,
    abi: portfolioAbi,
    functionName: 'fundReserve',
    args: [parameters.amount],
    // the approval just sent may not be in the latest block yet
    blockTag: 'pending',
    findEvent: byTxHashes((hashes) =>
      context.prisma.reserveFundedEvent.findFirst({
        where: { chainId: context.chainId, ...hashes },
        orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
      }),
    ),
  });
}

// ------------------------------------------------------------------ resolution

/** The resolution as the chain has it: `open`, `resolving` (a proposal pending) or `resolved`. */
export async function getResolution(context: ResolutionContext, portfolioId: string) {
  const portfolio = await publishedPortfolio(context, portfolioId);
  const block = await latestBlock(context);
  const risk = await readRiskState(context, portfolio.portfolioAddress, block.number);
  const now = chainNow(block);
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

/** bigints as decimal strings, recursively (typed data as JSON). */
function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

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
    readRiskState(context, portfolio.portfolioAddress, block.number),
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
    deadline: chainNow(block) + intentTtl(context),
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
  const inFlight = await context.prisma.relayTx.findFirst({
    where: { kind: PROPOSE_RESOLUTION_KIND, refId: { startsWith: `${portfolio.id}:` }, status: 'pending' },
    orderBy: { createdAt: 'desc' },
  });
  if (inFlight !== null) {
    return {
      id: inFlight.id,
      portfolioId: portfolio.id,
      status: 'pending' as const,
      txHash: inFlight.txHash as Hex,
      executableAt: null,
      resolutionDelay: (await readRiskState(context, portfolio.portfolioAddress)).resolutionDelay.toString(),
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
      throw new ValidationFailedError('The servicer has not signed this proposal', {
        statusCode: 422,
        details: [
          {
            path: 'body.servicerSignature',
            message:
              `required: the servicer's (${servicer}) EIP-712 ResolutionIntent signature, with its nonce and ` +
              'deadline (POST /v1/portfolios/:id/resolution/intents gives the typed data to sign)',
          },
        ],
      });
    }
    const intent = { nonce: bytesToBigInt(randomBytes(32)), deadline: chainNow(block) + intentTtl(context) };
    return { intent, signature: await signer.signTypedData(typedData(intent)) };
  }
  const missing = (['nonce', 'deadline'] as const).filter((field) => parameters[field] === undefined);
  if (missing.length > 0) {
    throw new ValidationFailedError('A servicer signature needs the nonce and deadline it signed', {
      statusCode: 422,
      details: missing.map((field) => ({
        path: `body.${field}`,
        message: 'required with servicerSignature',
      })),
    });
  }
  const intent = { nonce: parameters.nonce as bigint, deadline: parameters.deadline as bigint };
  const signature = parameters.servicerSignature;
  let valid = false;
  try {
    valid =
      isHex(signature) &&
      (await context.publicClient.verifyTypedData({
        ...typedData(intent),
        address: servicer,
        signature,
        blockNumber: block.number,
      }));
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new SignatureInvalidError(
      `servicerSignature is not the servicer's (${servicer}) signature of ResolutionIntent(nonce, deadline) on this portfolio`,
      { details: { path: 'body.servicerSignature', servicer } },
    );
  }
  if (block.timestamp > intent.deadline) {
    throw new OrderExpiredError('The resolution intent has expired; sign a new one', {
      details: {
        path: 'body.deadline',
        deadline: intent.deadline.toString(),
        chainTime: block.timestamp.toString(),
      },
    });
  }
  const used = await readIntentNonceUsed(context.publicClient, {
    portfolio: parameters.portfolio,
    buyer: servicer,
    nonce: intent.nonce,
    blockNumber: block.number,
  });
  if (used) {
    throw new ConflictError('The servicer already used or cancelled this intent nonce on-chain', {
      details: { path: 'body.nonce', reason: 'NONCE_USED', nonce: intent.nonce.toString() },
    });
  }
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
  const risk = await readRiskState(context, address, block.number);
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
