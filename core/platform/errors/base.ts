/**
 * The one error type of the whole backend (Ponder / viem style): a short message, an optional `cause`,
 * a stable `code` from API.md, the HTTP `statusCode` the API answers with, and whether retrying the
 * same operation may succeed (`retryable`: a lost connection yes, a bad input never).
 *
 * The HTTP error handler (server/plugins/error-handler.ts) turns a BaseError into
 * `{ statusCode, code, message, details? }` and hides the message of every 5xx.
 */

export const errorCodes = [
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'REQUEST_TIMEOUT',
  'SIGNATURE_INVALID',
  'NONCE_INVALID',
  'SESSION_EXPIRED',
  'NOT_ALLOWLISTED',
  'ORDER_EXPIRED',
  'SOLD_OUT',
  'REPORT_ALREADY_DEPOSITED',
  'CONFIG_INVALID',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export type BaseErrorOptions = {
  code: ErrorCode;
  statusCode?: number;
  retryable?: boolean;
  /** Machine-readable details (field errors, ids); returned to clients for 4xx only. */
  details?: unknown;
  cause?: unknown;
};

const defaultStatus: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 422,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  REQUEST_TIMEOUT: 408,
  SIGNATURE_INVALID: 401,
  NONCE_INVALID: 401,
  SESSION_EXPIRED: 401,
  NOT_ALLOWLISTED: 403,
  ORDER_EXPIRED: 410,
  SOLD_OUT: 409,
  REPORT_ALREADY_DEPOSITED: 409,
  CONFIG_INVALID: 500,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class BaseError extends Error {
  override name = 'BaseError';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(message: string, options: BaseErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.statusCode = options.statusCode ?? defaultStatus[options.code];
    this.retryable = options.retryable ?? this.statusCode >= 500;
    this.details = options.details;
  }
}

/** A field-level problem, as returned in `details` of a VALIDATION_FAILED answer. */
export type FieldError = { path: string; message: string };

export const isBaseError = (error: unknown): error is BaseError => error instanceof BaseError;
