/**
 * One named subclass of `BaseError` per stable error code of the API (docs/api.md), so code says
 * `throw new SoldOutError(...)` and callers may test `error instanceof SoldOutError`. Each takes the
 * message and the options of `BaseError` but the code (status, retryable, details, cause).
 */
import { BaseError, type BaseErrorOptions } from './base.ts';

export type ErrorKindOptions = Omit<BaseErrorOptions, 'code'>;

/** Bad input: `details` names the fields (`FieldError[]`) or the rejected cells. */
export class ValidationFailedError extends BaseError {
  override name = 'ValidationFailedError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'VALIDATION_FAILED' });
  }
}

/** `resource` (and `id`) does not exist, or is not visible to the caller. */
export class NotFoundError extends BaseError {
  override name = 'NotFoundError';
  constructor(resource: string, id?: string, options: ErrorKindOptions = {}) {
    super(id === undefined ? `${resource} not found` : `${resource} ${id} not found`, {
      details: id === undefined ? undefined : { resource, id },
      ...options,
      code: 'NOT_FOUND',
    });
  }
}

export class UnauthorizedError extends BaseError {
  override name = 'UnauthorizedError';
  constructor(message: string = 'Authentication required', options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'UNAUTHORIZED' });
  }
}

export class ForbiddenError extends BaseError {
  override name = 'ForbiddenError';
  constructor(message: string = 'Not allowed', options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'FORBIDDEN' });
  }
}

/** The request contradicts the current state (already published, sold out on chain, another amount for the same report, ...). */
export class ConflictError extends BaseError {
  override name = 'ConflictError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'CONFLICT' });
  }
}

export class PayloadTooLargeError extends BaseError {
  override name = 'PayloadTooLargeError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'PAYLOAD_TOO_LARGE' });
  }
}

export class UnsupportedMediaTypeError extends BaseError {
  override name = 'UnsupportedMediaTypeError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'UNSUPPORTED_MEDIA_TYPE' });
  }
}

export class RateLimitedError extends BaseError {
  override name = 'RateLimitedError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'RATE_LIMITED' });
  }
}

/** A signature (EIP-712, ERC-2612, SIWE) does not recover to the expected signer. */
export class SignatureInvalidError extends BaseError {
  override name = 'SignatureInvalidError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'SIGNATURE_INVALID' });
  }
}

/** A sign-in nonce that is unknown, used or expired. */
export class NonceInvalidError extends BaseError {
  override name = 'NonceInvalidError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'NONCE_INVALID' });
  }
}

export class SessionExpiredError extends BaseError {
  override name = 'SessionExpiredError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'SESSION_EXPIRED' });
  }
}

/** The account is not allowlisted (or frozen, or expired) in the ComplianceRegistry. */
export class NotAllowlistedError extends BaseError {
  override name = 'NotAllowlistedError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'NOT_ALLOWLISTED' });
  }
}

/** A quote, order or intent whose deadline has passed. */
export class OrderExpiredError extends BaseError {
  override name = 'OrderExpiredError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'ORDER_EXPIRED' });
  }
}

/** The offering cannot sell the amount asked for. */
export class SoldOutError extends BaseError {
  override name = 'SoldOutError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'SOLD_OUT' });
  }
}

/** A configuration variable is missing or malformed; the message names it. */
export class ConfigInvalidError extends BaseError {
  override name = 'ConfigInvalidError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'CONFIG_INVALID' });
  }
}

/** A dependency (chain, indexer, Redis) is not there or not far enough yet; retryable by default. */
export class ServiceUnavailableError extends BaseError {
  override name = 'ServiceUnavailableError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'SERVICE_UNAVAILABLE' });
  }
}

export class InternalError extends BaseError {
  override name = 'InternalError';
  constructor(message: string, options: ErrorKindOptions = {}) {
    super(message, { ...options, code: 'INTERNAL' });
  }
}

/** A list's `cursor` that this API did not hand out (400, like a request-schema failure). */
export class InvalidCursorError extends ValidationFailedError {
  override name = 'InvalidCursorError';
  constructor(options: ErrorKindOptions = {}) {
    super('Invalid cursor', {
      statusCode: 400,
      details: [{ path: 'querystring.cursor', message: 'is not a cursor returned by this list' }],
      ...options,
    });
  }
}

/** A request body that did not arrive within its time limit (408): nothing was stored. */
export class UploadTimeoutError extends BaseError {
  override name = 'UploadTimeoutError';
  constructor(what: string, timeoutMs: number, setting: string) {
    super(`${what} did not arrive within ${timeoutMs} ms (${setting}); nothing was stored`, {
      code: 'REQUEST_TIMEOUT',
      retryable: true,
      details: { timeoutMs, setting },
    });
  }
}
