/**
 * The servicer's EIP-712 consents, shared by its deposit intents (core/servicing/recoveries.ts:
 * `DepositIntent`, `FinalDepositIntent`) and its resolution proposal (core/servicing/resolution.ts:
 * `ResolutionIntent`): typed data as JSON, deadlines, and the checks a relayed intent passes before
 * anything is sent (signature of the portfolio's servicer, deadline ahead, nonce unused on-chain).
 */
import type { Address, Hex, VerifyTypedDataParameters } from 'viem';
import { isHex } from 'viem';
import {
  ConflictError,
  OrderExpiredError,
  SignatureInvalidError,
  ValidationFailedError,
} from '../platform/errors/index.ts';
import type { ChainPublicClient } from './clients.ts';
import { readIntentNonceUsed } from './contracts/portfolio.ts';

/** bigints as decimal strings, recursively (typed data as JSON; wallets accept uint256 strings). */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

/** The later of a block's time and the wall clock: the next block's time on a chain that mines on demand. */
export function chainNow(blockTimestamp: bigint): bigint {
  const wall = BigInt(Math.floor(Date.now() / 1000));
  return blockTimestamp > wall ? blockTimestamp : wall;
}

/** A deadline `ttl` seconds after `chainNow(blockTimestamp)`. */
export const intentDeadline = (blockTimestamp: bigint, ttl: bigint): bigint => chainNow(blockTimestamp) + ttl;

/** 422 `body.servicerSignature`: no signature, and the server does not hold the servicer's key. */
export function servicerSignatureRequired(parameters: {
  servicer: Address;
  what: string;
  typeName: string;
  intentsRoute: string;
}): ValidationFailedError {
  const message =
    `required: the servicer's (${parameters.servicer}) EIP-712 ${parameters.typeName} signature, with its nonce ` +
    `and deadline (POST ${parameters.intentsRoute} gives the typed data to sign)`;
  return new ValidationFailedError(`The servicer has not signed this ${parameters.what}`, {
    statusCode: 422,
    details: [{ path: 'body.servicerSignature', message }],
  });
}

/** 422 naming `body.nonce` / `body.deadline` when a signature comes without the nonce and deadline it signed. */
export function assertNonceAndDeadline(parameters: { nonce?: bigint; deadline?: bigint }): void {
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
}

/**
 * The servicer's signed intent, checked at `block` as the contract will check it: 401 SIGNATURE_INVALID
 * unless `signature` is the servicer's over `typedData`, 410 ORDER_EXPIRED past `deadline`, 409
 * `NONCE_USED` when the nonce is spent or cancelled on-chain.
 */
export async function assertServicerIntent(
  publicClient: ChainPublicClient,
  parameters: {
    portfolio: Address;
    chainId: number;
    servicer: Address;
    typeName: string;
    /** The intent's EIP-712 typed data (domain, types, primaryType, message), as signed. */
    typedData: object;
    signature: Hex;
    nonce: bigint;
    deadline: bigint;
    block: { number: bigint; timestamp: bigint };
  },
): Promise<void> {
  const { servicer, block, signature } = parameters;
  let valid = false;
  try {
    valid =
      isHex(signature) &&
      (await publicClient.verifyTypedData({
        ...(parameters.typedData as Omit<VerifyTypedDataParameters, 'address' | 'signature'>),
        address: servicer,
        signature,
        blockNumber: block.number,
      }));
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new SignatureInvalidError(
      `servicerSignature is not the servicer's (${servicer}) signature of ${parameters.typeName} on this portfolio (chain ${parameters.chainId}, contract ${parameters.portfolio})`,
      { details: { path: 'body.servicerSignature', servicer } },
    );
  }
  if (block.timestamp > parameters.deadline) {
    throw new OrderExpiredError(`The ${parameters.typeName} has expired; sign a new one`, {
      details: {
        path: 'body.deadline',
        deadline: parameters.deadline.toString(),
        chainTime: block.timestamp.toString(),
      },
    });
  }
  const used = await readIntentNonceUsed(publicClient, {
    portfolio: parameters.portfolio,
    buyer: servicer,
    nonce: parameters.nonce,
    blockNumber: block.number,
  });
  if (used) {
    throw new ConflictError('The servicer already used or cancelled this intent nonce on-chain', {
      details: { path: 'body.nonce', reason: 'NONCE_USED', nonce: parameters.nonce.toString() },
    });
  }
}
