/** Errors: the one `BaseError` (base.ts) and its named subclasses, one per API error code (kinds.ts). */
export * from './base.ts';
export * from './kinds.ts';
