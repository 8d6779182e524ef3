/**
 * Pure decisions of the relayer (no I/O): how much to bump the fees of a replacement, and what a
 * node's answer to `eth_sendRawTransaction` means for the transaction.
 */
import { NonceTooLowError, BaseError as ViemBaseError } from 'viem';
import { toChainError } from '../errors.ts';

export type Fees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };

/** Minimum bump of a replacement, in basis points (12.5%: geth asks 10%, some nodes more). */
export const FEE_BUMP_BPS = 1_250n;

/** `value` raised by at least `bps` (rounded up) and by at least 1 wei. */
export function bumpFee(value: bigint, bps: bigint = FEE_BUMP_BPS): bigint {
  const raised = value + (value * bps + 9_999n) / 10_000n;
  return raised > value ? raised : value + 1n;
}

/**
 * Fees of a replacement for a transaction sent with `previous`: both fees bumped by at least 12.5%,
 * or the node's current estimate when that is higher (the priority fee never above the max fee).
 */
export function bumpFees(previous: Fees, current?: Fees): Fees {
  let maxFeePerGas = bumpFee(previous.maxFeePerGas);
  let maxPriorityFeePerGas = bumpFee(previous.maxPriorityFeePerGas);
  if (current) {
    if (current.maxFeePerGas > maxFeePerGas) maxFeePerGas = current.maxFeePerGas;
    if (current.maxPriorityFeePerGas > maxPriorityFeePerGas)
      maxPriorityFeePerGas = current.maxPriorityFeePerGas;
  }
  if (maxPriorityFeePerGas > maxFeePerGas) maxFeePerGas = maxPriorityFeePerGas;
  return { maxFeePerGas, maxPriorityFeePerGas };
}

/**
 * What a failed `eth_sendRawTransaction` means:
 * - `known`: the node already has this exact transaction (as good as sent);
 * - `nonceUsed`: the nonce is already mined (by this or another variant, or by someone else);
 * - `underpriced`: the node holds another variant of the nonce with fees at least as high;
 * - `retry`: may succeed later (transport, fees below the base fee, missing funds, a full pool);
 * - `permanent`: this signed transaction can never be accepted (gas above the block limit, ...);
 * - `unknown`: anything else (the relayer retries a few times, then treats it as permanent).
 */
export type BroadcastOutcome = 'known' | 'nonceUsed' | 'underpriced' | 'retry' | 'permanent' | 'unknown';

const knownPattern = /already known|already imported|known transaction|already exists|alreadyknown/i;
const nonceUsedPattern = /nonce too low|nonce has already been used|already been mined|old nonce/i;
const underpricedPattern = /underpriced|replacement fee too low|fee too low to replace/i;
const retryPattern =
  /insufficient funds|fee cap|base ?fee|max fee per gas less than|pool is full|txpool is full|too many|rate limit|nonce too high|future transaction|timeout|timed out|temporarily|unavailable|connection/i;
const permanentPattern =
  /intrinsic gas too (high|low)|exceeds block gas limit|gas limit reached|gas_limit > env\.block\.gas_limit|oversized data|invalid sender|invalid chain ?id|transaction type not supported|tx type not supported|max initcode size|init ?code size|invalid signature/i;

/** Every message down a viem error chain (short messages and node `details`). */
function messagesOf(error: unknown): string {
  const parts: string[] = [];
  if (error instanceof ViemBaseError) {
    error.walk((e) => {
      const viemError = e as ViemBaseError;
      parts.push(viemError.shortMessage ?? '', viemError.details ?? '', (e as Error).message ?? '');
      return false;
    });
  } else if (error instanceof Error) {
    parts.push(error.message);
  } else {
    parts.push(String(error));
  }
  return parts.join(' | ');
}

export function classifyBroadcastError(error: unknown): BroadcastOutcome {
  const text = messagesOf(error);
  if (knownPattern.test(text)) return 'known';
  if (
    (error instanceof ViemBaseError && error.walk((e) => e instanceof NonceTooLowError)) ||
    nonceUsedPattern.test(text)
  ) {
    return 'nonceUsed';
  }
  if (underpricedPattern.test(text)) return 'underpriced';
  if (permanentPattern.test(text)) return 'permanent';
  if (retryPattern.test(text) || toChainError(error).kind === 'transport') return 'retry';
  return 'unknown';
}

/** A short, single-line description of a broadcast failure for `revertReason`. */
export function describeBroadcastError(error: unknown): string {
  if (error instanceof ViemBaseError) {
    const details = error.details ? `: ${error.details}` : '';
    return `${error.shortMessage.split('\n')[0]}${details}`.slice(0, 500);
  }
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}
