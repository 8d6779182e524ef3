/**
 * Cancelling a signed intent before anyone relays it: the signer's EIP-712 `NonceInvalidation(account,
 * nonce, deadline)` over a Portfolio's domain (purchase intents, `buyWithSig`) or the Marketplace's
 * domain (fill intents, `fillWithSig`), checked here and relayed as `invalidateNonceWithSig`. Once
 * mined, `nonceUsed(account, nonce)` is true and every intent signed with that nonce reverts with
 * `IntentNonceUsed` (the API answers POST /v1/purchases with CONFLICT and a fill with NONCE_INVALID).
 *
 * Checked at the latest block before anything is sent, in this order: the target contract (a
 * published portfolio of this chain, or the deployment's Marketplace), the signature (EOA or
 * ERC-1271, as the contract checks it: SIGNATURE_INVALID), the deadline (ORDER_EXPIRED), the account
 * known to the registry (allowlisted, possibly expired or frozen, not revoked: NOT_ALLOWLISTED; so a
 * stranger minting keys cannot make the relayer pay gas for nonces nobody could ever use; anyone can
 * still call `invalidateNonce` itself), the nonce not used yet (CONFLICT, reason NONCE_USED). The relay is idempotent per (chain, contract, account,
 * nonce): a second request for the same nonce before the first is mined answers the same relay
 * transaction.
 */
import { type Address, getAddress, type Hex } from 'viem';
import { nonceInvalidationTypedData, portfolioDomain } from '../chain/actions.ts';
import { readInvestor } from '../chain/contracts/compliance-registry.ts';
import { marketplaceDomain } from '../chain/contracts/marketplace.ts';
import { isChainError, toChainError } from '../chain/errors.ts';
import { marketplaceAbi, portfolioAbi } from '../chain/generated/index.ts';
import { readChain } from '../chain/read.ts';
import {
  BaseError,
  ConflictError,
  NotAllowlistedError,
  NotFoundError,
  OrderExpiredError,
  ServiceUnavailableError,
  SignatureInvalidError,
  ValidationFailedError,
} from '../platform/errors/index.ts';
import type { RelayedActionContext, RelayTxView } from './settlement.ts';

export type NonceInvalidationContext = RelayedActionContext & {
  /** The ComplianceRegistry of the deployment: only accounts it knows get their invalidation relayed. */
  registry: Address;
  /** The deployment's Marketplace, if it has one. */
  marketplace?: Address;
};

export type IntentContract = 'portfolio' | 'marketplace';

export type SubmitNonceInvalidationParameters = {
  contract: IntentContract;
  /** The portfolio whose purchase-intent nonce is cancelled (required for `portfolio`). */
  portfolioId?: string;
  account: Address;
  nonce: bigint;
  deadline: bigint;
  signature: Hex;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The relayer's idempotency key of an invalidation: one relay per (chain, contract, account, nonce). */
export const nonceInvalidationIdempotencyKey = (
  chainId: number,
  contract: Address,
  account: Address,
  nonce: bigint,
) => `nonce-invalidation:${chainId}:${getAddress(contract)}:${getAddress(account)}:${nonce}`;

/** The contract (and its EIP-712 domain) whose intent nonce the request cancels. */
async function resolveTarget(
  context: NonceInvalidationContext,
  parameters: SubmitNonceInvalidationParameters,
) {
  if (parameters.contract === 'marketplace') {
    if (context.marketplace === undefined)
      throw new ServiceUnavailableError('The deployment has no Marketplace');
    const address = getAddress(context.marketplace);
    return {
      address,
      abi: marketplaceAbi,
      contractName: 'Marketplace',
      domain: marketplaceDomain({ marketplace: address, chainId: context.chainId }),
    } as const;
  }
  const { portfolioId } = parameters;
  if (portfolioId === undefined) {
    throw new ValidationFailedError('A portfolio intent needs its portfolio', {
      statusCode: 400,
      details: [{ path: 'body.portfolioId', message: "required when contract is 'portfolio'" }],
    });
  }
  const portfolio = UUID.test(portfolioId)
    ? await context.prisma.portfolio.findUnique({
        where: { id: portfolioId },
        select: { id: true, status: true, chainId: true, portfolioAddress: true },
      })
    : null;
  if (portfolio === null) throw new NotFoundError('Portfolio', portfolioId);
  if (portfolio.portfolioAddress === null) {
    throw new ConflictError('The portfolio has no contract: it is not published', {
      details: { reason: 'NOT_PUBLISHED', portfolioId: portfolio.id, status: portfolio.status },
    });
  }
  if (portfolio.chainId !== context.chainId) {
    throw new ServiceUnavailableError(
      `The portfolio lives on chain ${portfolio.chainId}, the API serves ${context.chainId}`,
    );
  }
  const address = getAddress(portfolio.portfolioAddress);
  return {
    address,
    abi: portfolioAbi,
    contractName: 'Portfolio',
    domain: portfolioDomain(context.chainId, address),
  } as const;
}

/**
 * Checks a signed nonce invalidation and relays `invalidateNonceWithSig` on the Portfolio or the
 * Marketplace; answers the relay transaction (202). Any rejection sends nothing.
 */
export async function submitNonceInvalidation(
  context: NonceInvalidationContext,
  parameters: SubmitNonceInvalidationParameters,
) {
  const { account, nonce, deadline, signature } = parameters;
  const target = await resolveTarget(context, parameters);
  const typedData = nonceInvalidationTypedData({
    domain: target.domain,
    invalidation: { account, nonce, deadline },
  });
  // the public client's verifyTypedData checks an EOA signature and, for a contract account, ERC-1271
  const valid = await context.publicClient
    .verifyTypedData({ ...typedData, address: account, signature })
    .catch(() => false);
  if (!valid) {
    throw new SignatureInvalidError(
      `The signature is not ${account}'s over this NonceInvalidation (chain ${context.chainId}, contract ${target.address})`,
    );
  }

  const block = await readChain('chain', 'getBlock', () =>
    context.publicClient.getBlock({ blockTag: 'latest' }),
  );
  if (block.timestamp > deadline) {
    throw new OrderExpiredError('The nonce invalidation has expired; sign a new one', {
      details: { deadline: deadline.toString(), chainTime: block.timestamp.toString() },
    });
  }
  const record = await readInvestor(context.publicClient, {
    registry: context.registry,
    account,
    blockNumber: block.number,
  });
  if (record.expiry === 0n) {
    throw new NotAllowlistedError(
      `${account} is not an investor of this platform: the relayer only relays its investors' invalidations (call invalidateNonce from the account instead)`,
    );
  }
  const used = await readChain(target.contractName, 'nonceUsed', () =>
    context.publicClient.readContract({
      address: target.address,
      abi: target.abi,
      functionName: 'nonceUsed',
      args: [account, nonce],
      blockNumber: block.number,
    }),
  );
  if (used) {
    throw new ConflictError(`Nonce ${nonce} of ${account} is already used or cancelled on-chain`, {
      details: { reason: 'NONCE_USED', contract: target.address, account, nonce: nonce.toString() },
    });
  }

  let relayTx: RelayTxView;
  try {
    relayTx = await context.relayer.submit({
      idempotencyKey: nonceInvalidationIdempotencyKey(context.chainId, target.address, account, nonce),
      kind: 'invalidateNonceWithSig',
      to: target.address,
      abi: target.abi,
      functionName: 'invalidateNonceWithSig',
      args: [account, nonce, deadline, signature],
      refId: `${account}:${nonce}`,
    });
  } catch (error) {
    if (isChainError(error) || error instanceof BaseError) throw error;
    throw toChainError(error, { contract: target.contractName, functionName: 'invalidateNonceWithSig' });
  }
  return {
    id: relayTx.id,
    contract: parameters.contract,
    verifyingContract: target.address,
    account: getAddress(account),
    nonce: nonce.toString(),
    status: 'pending' as const,
    txHash: relayTx.txHash as Hex,
  };
}
export type NonceInvalidationAccepted = Awaited<ReturnType<typeof submitNonceInvalidation>>;
