/**
 * The format of `spec/vectors/waterfall.json`: zod schemas that parse it (amounts as decimal
 * strings -> bigint) and `fillExpected`, which computes every `expected` with the domain functions.
 * Pure: takes and returns plain JSON values; reading and writing files is the caller's job.
 */
import { z } from 'zod';
import { DomainInputError, formatFieldPath, prefixDomainInputError } from './errors.ts';
import { splitProRata } from './prorata.ts';
import { type ComputeWaterfallReturnType, MAX_BPS, runWaterfall, waterfallModes } from './waterfall.ts';

/** Non-negative integer written as a canonical decimal string ("0", "1500000"), parsed to bigint. */
export const amountSchema = z
  .string({ error: 'must be a decimal string (amounts are strings of base units)' })
  .regex(/^(0|[1-9][0-9]*)$/, 'must be a non-negative integer as a decimal string without leading zeros')
  .transform((value) => BigInt(value));

export const bpsSchema = z
  .int({ error: `must be an integer from 0 to ${MAX_BPS}` })
  .min(0, `must be an integer from 0 to ${MAX_BPS}`)
  .max(MAX_BPS, `must be an integer from 0 to ${MAX_BPS}`);

export const trancheVectorSchema = z.looseObject({
  name: z.string().optional(),
  face: amountSchema,
  couponBps: bpsSchema,
  residual: z.boolean().optional(),
});

export const recoveryVectorSchema = z.looseObject({
  elapsedSeconds: z.int({ error: 'must be a non-negative integer' }).min(0, 'must be a non-negative integer'),
  amount: amountSchema,
});

export const waterfallCaseSchema = z
  .looseObject({
    id: z.string().optional(),
    mode: z.enum(waterfallModes, { error: `must be one of ${waterfallModes.join(', ')}` }).optional(),
    tranches: z.array(trancheVectorSchema).min(1, 'must list at least one tranche'),
    fees: z.looseObject({ servicerBps: bpsSchema, protocolBps: bpsSchema }),
    recoveries: z.array(recoveryVectorSchema),
    expected: z.unknown().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.fees.servicerBps + value.fees.protocolBps > MAX_BPS) {
      ctx.addIssue({
        code: 'custom',
        path: ['fees'],
        message: `servicerBps + protocolBps must not exceed ${MAX_BPS}`,
      });
    }
    for (const [i, tranche] of value.tranches.entries()) {
      const isLast = i === value.tranches.length - 1;
      if (tranche.residual === true && !isLast) {
        ctx.addIssue({
          code: 'custom',
          path: ['tranches', i, 'residual'],
          message: 'only the last tranche may be residual',
        });
      }
      if (tranche.residual === false && isLast) {
        ctx.addIssue({
          code: 'custom',
          path: ['tranches', i, 'residual'],
          message: 'the last tranche is always the residual tranche',
        });
      }
      if (isLast && tranche.couponBps !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['tranches', i, 'couponBps'],
          message: 'must be 0 for the residual tranche',
        });
      }
    }
  });

export const proRataCaseSchema = z.looseObject({
  id: z.string().optional(),
  amount: amountSchema,
  balances: z.array(amountSchema),
  expected: z.unknown().optional(),
});

export const vectorsFileSchema = z
  .looseObject({
    about: z.string().optional(),
    waterfall: z.array(waterfallCaseSchema).optional(),
    prorata: z.array(proRataCaseSchema).optional(),
  })
  .refine((value) => value.waterfall !== undefined || value.prorata !== undefined, {
    message:
      'must have a `waterfall` and/or a `prorata` list (or be a single waterfall case with `recoveries`)',
  });

export type WaterfallCase = z.output<typeof waterfallCaseSchema>;
export type ProRataCase = z.output<typeof proRataCaseSchema>;

/** JSON of one waterfall result, in the key order of the vectors file. */
export type WaterfallExpectedJson = {
  servicerFee: string;
  protocolFee: string;
  tranches: {
    interest: string;
    principal: string;
    residual: string;
    total: string;
    outstandingAfter: string;
    interestArrearsAfter: string;
  }[];
  undistributed: string;
};

export type ProRataExpectedJson = { payouts: string[]; dust: string };

type JsonObject = { [key: string]: unknown };

/** A waterfall case as given, with `expected` filled in. */
export type FilledWaterfallCaseJson = JsonObject & { expected: WaterfallExpectedJson[] };
/** A pro-rata case as given, with `expected` filled in. */
export type FilledProRataCaseJson = JsonObject & { expected: ProRataExpectedJson };
/** A vectors file as given, with every `expected` filled in. */
export type FilledVectorsFileJson = JsonObject & {
  waterfall?: FilledWaterfallCaseJson[];
  prorata?: FilledProRataCaseJson[];
};

export function waterfallResultToJson(result: ComputeWaterfallReturnType): WaterfallExpectedJson {
  return {
    servicerFee: result.servicerFee.toString(),
    protocolFee: result.protocolFee.toString(),
    tranches: result.tranches.map((tranche) => ({
      interest: tranche.interest.toString(),
      principal: tranche.principal.toString(),
      residual: tranche.residual.toString(),
      total: tranche.total.toString(),
      outstandingAfter: tranche.outstandingAfter.toString(),
      interestArrearsAfter: tranche.interestArrearsAfter.toString(),
    })),
    undistributed: result.undistributed.toString(),
  };
}

/** `expected` of a parsed waterfall case: `expected[i]` is the result of `recoveries[i]`. */
export function expectedForWaterfallCase(parsed: WaterfallCase): WaterfallExpectedJson[] {
  return runWaterfall(parsed).results.map(waterfallResultToJson);
}

/** `expected` of a parsed pro-rata case. */
export function expectedForProRataCase(parsed: ProRataCase): ProRataExpectedJson {
  const { payouts, dust } = splitProRata(parsed);
  return { payouts: payouts.map(String), dust: dust.toString() };
}

/** Parses `input` with `schema`, turning zod issues into one `DomainInputError` with field paths. */
export function parseWithSchema<T extends z.ZodType>(schema: T, input: unknown, prefix = ''): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new DomainInputError(
    result.error.issues.map((issue) => ({
      field: joinPath(prefix, formatFieldPath(issue.path)),
      message: issue.message,
    })),
    { cause: result.error },
  );
}

export function fillExpected(input: JsonObject & { recoveries: unknown }): FilledWaterfallCaseJson;
export function fillExpected(input: unknown): FilledWaterfallCaseJson | FilledVectorsFileJson;
/**
 * Takes a single waterfall case (an object with `recoveries`) or an object with `waterfall` and/or
 * `prorata` lists, and returns the same structure with every `expected` (re)computed, amounts as
 * decimal strings. Other keys (`about`, `id`, `name`, ...) are kept as given, in their order.
 * Throws `DomainInputError` whose fields are paths such as `waterfall[2].tranches[0].face`.
 */
export function fillExpected(input: unknown): FilledWaterfallCaseJson | FilledVectorsFileJson {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new DomainInputError({
      field: '',
      message: 'input must be a JSON object: a waterfall case, or { "waterfall": [...], "prorata": [...] }',
    });
  }
  const raw = input as JsonObject;
  if ('recoveries' in raw) return fillWaterfallCase(raw, '');

  parseWithSchema(vectorsFileSchema, raw);
  const out: FilledVectorsFileJson = { ...raw };
  if (Array.isArray(raw.waterfall)) {
    out.waterfall = raw.waterfall.map((item, i) => fillWaterfallCase(item as JsonObject, `waterfall[${i}]`));
  }
  if (Array.isArray(raw.prorata)) {
    out.prorata = raw.prorata.map((item, i) => {
      const parsed = parseWithSchema(proRataCaseSchema, item, `prorata[${i}]`);
      return {
        ...(item as JsonObject),
        expected: withPrefix(`prorata[${i}]`, () => expectedForProRataCase(parsed)),
      };
    });
  }
  return out;
}

function fillWaterfallCase(raw: JsonObject, prefix: string): FilledWaterfallCaseJson {
  const parsed = parseWithSchema(waterfallCaseSchema, raw, prefix);
  return { ...raw, expected: withPrefix(prefix, () => expectedForWaterfallCase(parsed)) };
}

function withPrefix<T>(prefix: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (prefix !== '' && error instanceof DomainInputError) throw prefixDomainInputError(error, prefix);
    throw error;
  }
}

function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path;
  if (path === '') return prefix;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}
