import { describe, expect, it } from 'vitest';
import { DistributionDelay } from '../../core/distributions/run.ts';
import { VerifyInputError } from '../../core/distributions/verify/errors.ts';
import * as errors from '../../core/platform/errors/index.ts';
import { JobDelay } from '../../core/platform/jobs.ts';

/** The one BaseError and its named kinds: each carries its code and the status the API answers with. */
describe('core/platform/errors', () => {
  const kinds: [new (message: string) => errors.BaseError, errors.ErrorCode, number][] = [
    [errors.ValidationFailedError, 'VALIDATION_FAILED', 422],
    [errors.UnauthorizedError, 'UNAUTHORIZED', 401],
    [errors.ForbiddenError, 'FORBIDDEN', 403],
    [errors.ConflictError, 'CONFLICT', 409],
    [errors.PayloadTooLargeError, 'PAYLOAD_TOO_LARGE', 413],
    [errors.UnsupportedMediaTypeError, 'UNSUPPORTED_MEDIA_TYPE', 415],
    [errors.RateLimitedError, 'RATE_LIMITED', 429],
    [errors.SignatureInvalidError, 'SIGNATURE_INVALID', 401],
    [errors.NonceInvalidError, 'NONCE_INVALID', 401],
    [errors.SessionExpiredError, 'SESSION_EXPIRED', 401],
    [errors.NotAllowlistedError, 'NOT_ALLOWLISTED', 403],
    [errors.OrderExpiredError, 'ORDER_EXPIRED', 410],
    [errors.SoldOutError, 'SOLD_OUT', 409],
    [errors.ConfigInvalidError, 'CONFIG_INVALID', 500],
    [errors.ServiceUnavailableError, 'SERVICE_UNAVAILABLE', 503],
    [errors.InternalError, 'INTERNAL', 500],
  ];

  it.each(kinds)('%o is a BaseError with its code and status', (Kind, code, status) => {
    const error = new Kind('boom');
    expect(error).toBeInstanceOf(errors.BaseError);
    expect(error).toMatchObject({ code, statusCode: status, message: 'boom', retryable: status >= 500 });
    expect(error.name).toBe(Kind.name);
  });

  it('has a named kind for every stable code', () => {
    const named = new Set([...kinds.map(([, code]) => code), 'NOT_FOUND']);
    for (const code of errors.errorCodes) {
      if (code === 'REQUEST_TIMEOUT' || code === 'REPORT_ALREADY_DEPOSITED') continue;
      expect(named.has(code), code).toBe(true);
    }
  });

  it('NotFoundError names the resource and id; InvalidCursorError is a 400 validation error on the cursor', () => {
    expect(new errors.NotFoundError('Portfolio', 'p1')).toMatchObject({
      code: 'NOT_FOUND',
      statusCode: 404,
      message: 'Portfolio p1 not found',
      details: { resource: 'Portfolio', id: 'p1' },
    });
    const cursor = new errors.InvalidCursorError();
    expect(cursor).toBeInstanceOf(errors.ValidationFailedError);
    expect(cursor).toMatchObject({ code: 'VALIDATION_FAILED', statusCode: 400 });
    expect(cursor.details).toEqual([
      { path: 'querystring.cursor', message: 'is not a cursor returned by this list' },
    ]);
  });

  it('options other than the code pass through (details, status, cause, retryable)', () => {
    const cause = new Error('underneath');
    const error = new errors.ConflictError('taken', { details: { id: 'x' }, cause, retryable: true });
    expect(error).toMatchObject({ code: 'CONFLICT', details: { id: 'x' }, retryable: true, cause });
  });

  it('the job delay and the verifier input error are BaseErrors too', () => {
    const delay = new DistributionDelay(1_000, 'timelock');
    expect(delay).toBeInstanceOf(JobDelay);
    expect(delay).toBeInstanceOf(errors.BaseError);
    expect(delay).toMatchObject({ retryable: true, delayMs: 1_000 });
    expect(new VerifyInputError('no such distribution')).toBeInstanceOf(errors.BaseError);
  });
});
