import { getAddress, isAddress } from 'viem';
import { z } from 'zod';
import { INT4_MAX } from '../../core/db/column-ranges.ts';
import { InvalidCursorError } from '../../core/platform/errors/index.ts';

/** `{ statusCode, code, message, details? }`: the one error shape of the API. */
export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    code: z.string().describe('stable error code, e.g. VALIDATION_FAILED, NOT_FOUND'),
    message: z.string(),
    details: z
      .unknown()
      .optional()
      .describe('field errors `[{ path, message }]` for validation, else context'),
  })
  .meta({ id: 'Error' });

export type ErrorBody = z.infer<typeof errorSchema>;

/** Response schemas for the given error status codes, e.g. `...errorResponses(400, 401, 404)`. */
export function errorResponses<const C extends number>(...codes: C[]): Record<C, typeof errorSchema> {
  return Object.fromEntries(codes.map((c) => [c, errorSchema])) as Record<C, typeof errorSchema>;
}

/**
 * Where a relayed action (purchase, fill, recovery) stands (core/trading/settlement.ts): `pending` (not in a
 * block yet, or sent back by a reorg), `mined` (in a block, not final yet: a reorg can still send it
 * back to pending), `confirmed` (its event is final in the chain index), `failed` (reverted at a
 * final block or given up; the decoded reason). `confirmed` and `failed` never change again.
 */
export const settlementStatusSchema = z
  .enum(['pending', 'mined', 'confirmed', 'failed'])
  .describe(
    'pending → mined (in a block, not final; a reorg can send it back to pending) → confirmed (event final in the index) or failed (decoded reason); confirmed and failed are final',
  );

/** 0x-hex address in, checksummed address out. */
export const addressSchema = z
  .string()
  .refine((v) => isAddress(v, { strict: false }), 'must be a 0x-prefixed 20-byte hex address')
  .transform((v) => getAddress(v))
  .meta({ example: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });

const UINT_STRING = /^(0|[1-9]\d{0,77})$/;

/** Base units of a token as a decimal string (up to uint256). */
export const uintStringSchema = z
  .string()
  .regex(UINT_STRING, 'must be a non-negative integer as a decimal string')
  // a refine runs even when the regex failed: only range-check what BigInt() can parse
  .refine((v) => !UINT_STRING.test(v) || BigInt(v) < 2n ** 256n, 'must fit in uint256')
  .meta({ example: '1500000' });

/** Loan-currency amount as a decimal string (up to 4 decimals). */
export const decimalStringSchema = z
  .string()
  .regex(/^\d{1,20}(\.\d{1,4})?$/, 'must be a non-negative decimal with at most 4 decimals')
  .meta({ example: '125000.50' });

export const bpsSchema = z.number().int().min(0).max(10_000);

const DECIMAL_INTEGER = /^-?\d+$/;

/**
 * A query-string integer in [min, max], written in decimal digits: "1e3", "0x10" and "" are refused
 * (400 naming the field), not read as 1000, 16 and 0 the way `Number()` would.
 */
export const queryIntegerSchema = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && DECIMAL_INTEGER.test(v) ? Number(v) : v),
    z.number({ error: 'must be a whole number in decimal digits' }).int().min(min).max(max),
  );

/** A query-string integer compared with an int4 column (chain id, days past due): at least `min`, at most int4. */
export const int4QuerySchema = (min: number) => queryIntegerSchema(min, INT4_MAX);

export const idParamsSchema = z.object({ id: z.string().max(100) });

export const limitSchema = (max: number, def: number) => queryIntegerSchema(1, max).default(def);

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page'),
  });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `id` can be a row id; anything else is simply not found (never a 400). */
export const isUuid = (id: string) => UUID.test(id);

/** Opaque keyset cursor: base64url of a JSON array. */
export function encodeCursor(values: readonly (string | number | null)[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, length: number): (string | number | null)[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(values) &&
      values.length === length &&
      values.every((v) => v === null || typeof v === 'string' || typeof v === 'number')
    ) {
      return values;
    }
  } catch {}
  throw new InvalidCursorError();
}
