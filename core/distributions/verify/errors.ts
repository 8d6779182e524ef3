import { BaseError, type ErrorCode } from '../../platform/errors/index.ts';

/**
 * A failure to read what is needed (RPC down, not a Portfolio, recovery missing, the API answering
 * an error): not a disagreement. The CLI exits 2 on it.
 */
export class VerifyInputError extends BaseError {
  override name = 'VerifyInputError';
  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'NOT_FOUND', cause: options.cause });
  }
}
