/**
 * Chain failures as one `BaseError` subclass: a contract revert decoded from the ABIs of every
 * contract we deploy (error name + arguments, mapped to the API's stable codes), a transport failure
 * (retryable), or a transaction that was mined but reverted.
 */
import {
  type Abi,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Hex,
  HttpRequestError,
  InternalRpcError,
  LimitExceededRpcError,
  NonceTooHighError,
  NonceTooLowError,
  ResourceUnavailableRpcError,
  SocketClosedError,
  TimeoutError,
  TransactionExecutionError,
  toFunctionSelector,
  BaseError as ViemBaseError,
  WebSocketRequestError,
} from 'viem';
import { BaseError, type ErrorCode } from '../platform/errors/index.ts';
import * as generated from './generated/index.ts';

type AbiError = Extract<Abi[number], { type: 'error' }>;

export type ChainErrorKind = 'revert' | 'transport' | 'transaction' | 'unknown';

export type ChainErrorOptions = {
  kind: ChainErrorKind;
  code?: ErrorCode;
  retryable?: boolean;
  /** Custom error name decoded from the revert data (`OfferingSoldOut`), or `Error` / `Panic`. */
  errorName?: string;
  /** Decoded arguments of the custom error, in ABI order. */
  args?: readonly unknown[];
  /** Raw revert data when there was any. */
  data?: Hex;
  /** Contract (by our name, e.g. `Portfolio`) and function the call was made to. */
  contract?: string;
  functionName?: string;
  txHash?: Hex;
  cause?: unknown;
};

/** A failed chain call or transaction. */
export class ChainError extends BaseError {
  override name = 'ChainError';
  readonly kind: ChainErrorKind;
  readonly errorName?: string;
  readonly args?: readonly unknown[];
  readonly data?: Hex;
  readonly contract?: string;
  readonly functionName?: string;
  readonly txHash?: Hex;

  constructor(message: string, options: ChainErrorOptions) {
    const code = options.code ?? defaultCode(options);
    super(message, {
      code,
      retryable: options.retryable ?? options.kind === 'transport',
      cause: options.cause,
      details:
        options.errorName === undefined
          ? undefined
          : { errorName: options.errorName, args: options.args?.map(jsonSafe), contract: options.contract },
    });
    this.kind = options.kind;
    this.errorName = options.errorName;
    this.args = options.args;
    this.data = options.data;
    this.contract = options.contract;
    this.functionName = options.functionName;
    this.txHash = options.txHash;
  }
}

export const isChainError = (error: unknown): error is ChainError => error instanceof ChainError;

/** Every custom error of every generated ABI, once per selector. */
export const allErrorsAbi: readonly AbiError[] = (() => {
  const bySelector = new Map<Hex, AbiError>();
  for (const [key, value] of Object.entries(generated)) {
    if (!key.endsWith('Abi')) continue;
    for (const item of value as Abi) {
      if (item.type !== 'error') continue;
      const selector = toFunctionSelector(
        `${item.name}(${item.inputs.map((input) => input.type).join(',')})`,
      );
      if (!bySelector.has(selector)) bySelector.set(selector, item);
    }
  }
  return [...bySelector.values()];
})();

/** Decodes revert data against `abi` first, then every known error; undefined if nothing matches. */
export function decodeRevertData(
  data: Hex,
  abi: Abi = [],
): { errorName: string; args: readonly unknown[] } | undefined {
  if (!data || data === '0x') return undefined;
  for (const candidate of [abi, allErrorsAbi as Abi]) {
    try {
      const decoded = decodeErrorResult({ abi: candidate, data });
      return { errorName: decoded.errorName, args: (decoded.args ?? []) as readonly unknown[] };
    } catch {
      // try the next ABI
    }
  }
  return undefined;
}

const codeByErrorName: Record<string, ErrorCode> = {
  OfferingSoldOut: 'SOLD_OUT',
  OfferingCapExceeded: 'SOLD_OUT',
  OfferingBuyerNotAllowed: 'NOT_ALLOWLISTED',
  TrancheTokenNotAllowed: 'NOT_ALLOWLISTED',
  ComplianceNotAllowlisted: 'NOT_ALLOWLISTED',
  MarketplaceAccountNotAllowed: 'NOT_ALLOWLISTED',
  // a claim for a holder the portfolio's ComplianceRegistry does not allow (frozen, revoked, expired)
  DistributorAccountNotAllowed: 'NOT_ALLOWLISTED',
  IntentSignatureInvalid: 'SIGNATURE_INVALID',
  OrderSignatureInvalid: 'SIGNATURE_INVALID',
  ECDSAInvalidSignature: 'SIGNATURE_INVALID',
  ECDSAInvalidSignatureLength: 'SIGNATURE_INVALID',
  ECDSAInvalidSignatureS: 'SIGNATURE_INVALID',
  ERC2612InvalidSigner: 'SIGNATURE_INVALID',
  IntentNonceUsed: 'NONCE_INVALID',
  IntentNonceReserved: 'NONCE_INVALID',
  InvalidAccountNonce: 'NONCE_INVALID',
  IntentExpired: 'ORDER_EXPIRED',
  OrderExpired: 'ORDER_EXPIRED',
  ERC2612ExpiredSignature: 'ORDER_EXPIRED',
  AccessControlUnauthorizedAccount: 'FORBIDDEN',
  RecoveryCallerNotServicer: 'FORBIDDEN',
  DistributorNotPortfolio: 'FORBIDDEN',
  TrancheTokenOnlyPortfolio: 'FORBIDDEN',
  OrderCallerNotMaker: 'FORBIDDEN',
  OfferingAmountInvalid: 'VALIDATION_FAILED',
  PortfolioTrancheUnknown: 'VALIDATION_FAILED',
  PortfolioTrancheInvalid: 'VALIDATION_FAILED',
  PortfolioTrancheCountInvalid: 'VALIDATION_FAILED',
  PortfolioFeesTooHigh: 'VALIDATION_FAILED',
  PortfolioOfferingWindowInvalid: 'VALIDATION_FAILED',
  PortfolioZeroAddress: 'VALIDATION_FAILED',
  RecoveryAmountZero: 'VALIDATION_FAILED',
  RecoveryReportAlreadyDeposited: 'REPORT_ALREADY_DEPOSITED',
  ComplianceExpiryInPast: 'VALIDATION_FAILED',
  ComplianceZeroAddress: 'VALIDATION_FAILED',
  OrderAmountZero: 'VALIDATION_FAILED',
  // a root (proposeRoot) committing more unclaimed pay token than the Distributor's packed counter holds
  DistributorRootUnclaimedTooLarge: 'VALIDATION_FAILED',
  // a Distributor timelock below the implementation's floor or above its ceiling
  DistributorTimelockDelayOutOfRange: 'VALIDATION_FAILED',
  // a claim past the current root's declared total: its leaves sum to more (a broken tree), not retryable
  DistributorRootTotalExceeded: 'CONFLICT',
};

function defaultCode(options: ChainErrorOptions): ErrorCode {
  if (options.kind === 'transport') return 'SERVICE_UNAVAILABLE';
  if (options.kind === 'unknown') return 'INTERNAL';
  if (options.errorName !== undefined && codeByErrorName[options.errorName]) {
    return codeByErrorName[options.errorName];
  }
  // Any other revert: the call conflicts with the current on-chain state (closed, paused, balance, ...).
  return 'CONFLICT';
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  return value;
}

const transportErrors = [
  HttpRequestError,
  WebSocketRequestError,
  SocketClosedError,
  TimeoutError,
  LimitExceededRpcError,
  ResourceUnavailableRpcError,
  NonceTooLowError,
  NonceTooHighError,
] as const;

export type ToChainErrorContext = { contract?: string; functionName?: string; abi?: Abi; txHash?: Hex };

/** Normalises anything thrown by viem (or by us) into a `ChainError`. */
export function toChainError(error: unknown, context: ToChainErrorContext = {}): ChainError {
  if (error instanceof ChainError) return error;
  const where = [context.contract, context.functionName].filter(Boolean).join('.');
  const prefix = where ? `${where}: ` : '';
  const base = {
    contract: context.contract,
    functionName: context.functionName,
    txHash: context.txHash,
    cause: error,
  };

  if (error instanceof ViemBaseError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError) as
      | ContractFunctionRevertedError
      | undefined;
    const data = reverted?.raw ?? findRevertData(error);
    if (reverted || data) {
      const decoded =
        (data ? decodeRevertData(data, context.abi) : undefined) ??
        (reverted?.data ? { errorName: reverted.data.errorName, args: reverted.data.args ?? [] } : undefined);
      if (decoded) {
        const args = decoded.args.map((arg) => jsonSafe(arg)).join(', ');
        return new ChainError(`${prefix}reverted with ${decoded.errorName}(${args})`, {
          kind: 'revert',
          errorName: decoded.errorName,
          args: decoded.args,
          data,
          ...base,
        });
      }
      if (reverted?.reason) {
        return new ChainError(`${prefix}reverted: ${reverted.reason}`, {
          kind: 'revert',
          errorName: 'Error',
          args: [reverted.reason],
          data,
          ...base,
        });
      }
      if (reverted) {
        return new ChainError(`${prefix}reverted${data ? ` with unknown data ${data}` : ' without data'}`, {
          kind: 'revert',
          data,
          ...base,
        });
      }
    }
    const transport = transportErrors.some((type) => error.walk((e) => e instanceof type) !== null);
    if (transport) {
      return new ChainError(`${prefix}chain unreachable: ${error.shortMessage}`, {
        kind: 'transport',
        ...base,
      });
    }
    if (error.walk((e) => e instanceof InternalRpcError)) {
      return new ChainError(`${prefix}node error: ${error.shortMessage}`, { kind: 'transport', ...base });
    }
    if (error.walk((e) => e instanceof TransactionExecutionError)) {
      return new ChainError(`${prefix}transaction failed: ${error.shortMessage}`, {
        kind: 'transaction',
        ...base,
      });
    }
    return new ChainError(`${prefix}${error.shortMessage}`, { kind: 'unknown', retryable: false, ...base });
  }
  if (isNetworkError(error)) {
    return new ChainError(`${prefix}chain unreachable: ${(error as Error).message}`, {
      kind: 'transport',
      ...base,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ChainError(`${prefix}${message}`, { kind: 'unknown', retryable: false, ...base });
}

/** Revert data carried anywhere down a viem error chain (`data` of an RPC error, as a hex string). */
function findRevertData(error: ViemBaseError): Hex | undefined {
  let found: Hex | undefined;
  error.walk((e) => {
    const data = (e as { data?: unknown }).data;
    if (typeof data === 'string' && /^0x[0-9a-fA-F]{8}/.test(data)) {
      found = data as Hex;
      return true;
    }
    if (data && typeof data === 'object' && typeof (data as { data?: unknown }).data === 'string') {
      const inner = (data as { data: string }).data;
      if (/^0x[0-9a-fA-F]{8}/.test(inner)) {
        found = inner as Hex;
        return true;
      }
    }
    return false;
  });
  return found;
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code)
  );
}
