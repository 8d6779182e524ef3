import { BaseError, type FieldError } from '../platform/errors/index.ts';

/** One problem with one input field; `field` is a path such as `tranches[1].couponBps`. */
export type DomainInputIssue = { field: string; message: string };

/**
 * Raised by the pure functions of `core/domain` when their input breaks a rule of the spec
 * (negative amount, bps out of range, residual tranche not last, ...). A `BaseError` with code
 * `VALIDATION_FAILED` (HTTP 422, never retryable) whose `details` are the field errors
 * (`{ path, message }[]`) the API returns.
 */
export class DomainInputError extends BaseError {
  override name = 'DomainInputError';
  /** Path of the (first) offending field, e.g. `tranches[1].couponBps`. */
  readonly field: string;
  /** Every problem found; at least one, the first being `field`. */
  readonly issues: readonly DomainInputIssue[];

  constructor(issues: DomainInputIssue | readonly DomainInputIssue[], options?: { cause?: unknown }) {
    const list = Array.isArray(issues) ? issues : [issues as DomainInputIssue];
    if (list.length === 0) throw new TypeError('DomainInputError needs at least one issue');
    const details: FieldError[] = list.map(({ field, message }) => ({ path: field, message }));
    super(list.map(formatIssue).join('; '), {
      code: 'VALIDATION_FAILED',
      retryable: false,
      details,
      cause: options?.cause,
    });
    this.field = list[0].field;
    this.issues = list;
  }
}

function formatIssue({ field, message }: DomainInputIssue): string {
  return field === '' ? message : `${field}: ${message}`;
}

/** `['waterfall', 2, 'face']` -> `waterfall[2].face`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Prefixes every issue of `error` with `prefix` (e.g. `waterfall[2]`). */
export function prefixDomainInputError(error: DomainInputError, prefix: string): DomainInputError {
  return new DomainInputError(
    error.issues.map(({ field, message }) => ({
      field: field === '' ? prefix : field.startsWith('[') ? `${prefix}${field}` : `${prefix}.${field}`,
      message,
    })),
    { cause: error },
  );
}
