/**
 * The format of `spec/vectors/waterfall.json` (spec v1) and `spec/vectors/waterfall-v2.json`
 * (spec v2): zod schemas that parse them (amounts as decimal strings -> bigint) and `fillExpected`,
 * which computes every `expected` with the domain functions.
 * Pure: takes and returns plain JSON values; reading and writing files is the caller's job.
 *
 * Which spec: a file (or single case) is read as spec v2 when any waterfall case in it has a
 * `reserve`, a `trigger` or a recovery with `final`, and as spec v1 otherwise; `options.spec`
 * overrides that. In a v2 file a case without those fields is still a v1 case: no reserve, no
 * trigger, not final, so its v2 fields read 0 / false and its v1 fields are the v1 numbers.
 */
import { z } from 'zod';
import { DomainInputError, formatFieldPath, prefixDomainInputError } from './errors.ts';
import { splitProRata } from './prorata.ts';
import {
  type ComputeWaterfallReturnType,
  type ComputeWaterfallV2ReturnType,
  MAX_BPS,
  runWaterfall,
  runWaterfallV2,
  waterfallModes,
} from './waterfall.ts';

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

const nonNegativeIntSchema = z
  .int({ error: 'must be a non-negative integer' })
  .min(0, 'must be a non-negative integer');

export const recoveryVectorSchema = z.looseObject({
  elapsedSeconds: nonNegativeIntSchema,
  amount: amountSchema,
  /** spec v2: the resolving recovery. */
  final: z.boolean({ error: 'must be a boolean' }).optional(),
});

/** spec v2 reserve terms. */
export const reserveVectorSchema = z.looseObject({ targetBps: bpsSchema, initial: amountSchema });

/** spec v2 trigger; sorting, duplicates and the point count are checked by core/domain. */
export const triggerVectorSchema = z.looseObject({
  collectionRatioBps: bpsSchema,
  businessPlan: z.array(z.looseObject({ atSeconds: nonNegativeIntSchema, cumulative: amountSchema })),
});

export const waterfallCaseSchema = z
  .looseObject({
    id: z.string().optional(),
    mode: z.enum(waterfallModes, { error: `must be one of ${waterfallModes.join(', ')}` }).optional(),
    tranches: z.array(trancheVectorSchema).min(1, 'must list at least one tranche'),
    fees: z.looseObject({ servicerBps: bpsSchema, protocolBps: bpsSchema }),
    recoveries: z.array(recoveryVectorSchema),
    reserve: reserveVectorSchema.optional(),
    trigger: triggerVectorSchema.optional(),
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

/** JSON of one spec v2 waterfall result, in the key order of waterfall-v2.json. */
export type WaterfallV2ExpectedJson = {
  servicerFee: string;
  protocolFee: string;
  triggerBreached: boolean;
  reserve: { released: string; drawn: string; replenished: string; balanceAfter: string };
  tranches: (WaterfallExpectedJson['tranches'][number] & {
    principalWrittenOff: string;
    interestWrittenOff: string;
  })[];
  undistributed: string;
};

export type ProRataExpectedJson = { payouts: string[]; dust: string };

/** Which spec `fillExpected` computes: 1, 2, or (default) 2 when the input uses a v2 field. */
export type VectorsSpec = 1 | 2;
export type FillExpectedOptions = { spec?: VectorsSpec | undefined };

type JsonObject = { [key: string]: unknown };

/** A waterfall case as given, with `expected` filled in. */
export type FilledWaterfallCaseJson = JsonObject & {
  expected: WaterfallExpectedJson[] | WaterfallV2ExpectedJson[];
};
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

export function waterfallV2ResultToJson(result: ComputeWaterfallV2ReturnType): WaterfallV2ExpectedJson {
  return {
    servicerFee: result.servicerFee.toString(),
    protocolFee: result.protocolFee.toString(),
    triggerBreached: result.triggerBreached,
    reserve: {
      released: result.reserve.released.toString(),
      drawn: result.reserve.drawn.toString(),
      replenished: result.reserve.replenished.toString(),
      balanceAfter: result.reserve.balanceAfter.toString(),
    },
    tranches: result.tranches.map((tranche) => ({
      interest: tranche.interest.toString(),
      principal: tranche.principal.toString(),
      residual: tranche.residual.toString(),
      total: tranche.total.toString(),
      outstandingAfter: tranche.outstandingAfter.toString(),
      interestArrearsAfter: tranche.interestArrearsAfter.toString(),
      principalWrittenOff: tranche.principalWrittenOff.toString(),
      interestWrittenOff: tranche.interestWrittenOff.toString(),
    })),
    undistributed: result.undistributed.toString(),
  };
}

/** `expected` of a parsed waterfall case: `expected[i]` is the result of `recoveries[i]`. */
export function expectedForWaterfallCase(parsed: WaterfallCase): WaterfallExpectedJson[] {
  const v2Fields = v2FieldsOf(parsed);
  if (v2Fields.length > 0) {
    throw new DomainInputError(
      v2Fields.map((field) => ({ field, message: 'is a spec v2 field: compute this case as spec v2' })),
    );
  }
  return runWaterfall(parsed).results.map(waterfallResultToJson);
}

/** spec v2 `expected` of a parsed waterfall case (a case without v2 fields gives the v1 numbers). */
export function expectedForWaterfallV2Case(parsed: WaterfallCase): WaterfallV2ExpectedJson[] {
  return runWaterfallV2(parsed).results.map(waterfallV2ResultToJson);
}

/** Paths of the spec v2 fields a parsed case uses (`reserve`, `trigger`, `recoveries[i].final`). */
function v2FieldsOf(parsed: WaterfallCase): string[] {
  const fields: string[] = [];
  if (parsed.reserve !== undefined) fields.push('reserve');
  if (parsed.trigger !== undefined) fields.push('trigger');
  for (const [i, recovery] of parsed.recoveries.entries()) {
    if (recovery.final !== undefined) fields.push(`recoveries[${i}].final`);
  }
  return fields;
}

/** True when a raw waterfall case uses a spec v2 field (before parsing). */
function usesV2Fields(raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object') return false;
  const item = raw as JsonObject;
  if ('reserve' in item || 'trigger' in item) return true;
  return (
    Array.isArray(item.recoveries) &&
    item.recoveries.some(
      (recovery) => recovery !== null && typeof recovery === 'object' && 'final' in recovery,
    )
  );
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

export function fillExpected(
  input: JsonObject & { recoveries: unknown },
  options?: FillExpectedOptions,
): FilledWaterfallCaseJson;
export function fillExpected(
  input: unknown,
  options?: FillExpectedOptions,
): FilledWaterfallCaseJson | FilledVectorsFileJson;
/**
 * Takes a single waterfall case (an object with `recoveries`) or an object with `waterfall` and/or
 * `prorata` lists, and returns the same structure with every `expected` (re)computed, amounts as
 * decimal strings. Other keys (`about`, `id`, `name`, ...) are kept as given, in their order.
 * Waterfall cases are computed as spec v2 when `options.spec` is 2, or when it is not given and any
 * waterfall case of the input has `reserve`, `trigger` or a recovery with `final`; as spec v1
 * otherwise (where a v2 field is an error).
 * Throws `DomainInputError` whose fields are paths such as `waterfall[2].tranches[0].face`.
 */
export function fillExpected(
  input: unknown,
  options: FillExpectedOptions = {},
): FilledWaterfallCaseJson | FilledVectorsFileJson {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new DomainInputError({
      field: '',
      message: 'input must be a JSON object: a waterfall case, or { "waterfall": [...], "prorata": [...] }',
    });
  }
  if (options.spec !== undefined && options.spec !== 1 && options.spec !== 2) {
    throw new DomainInputError({ field: 'spec', message: 'must be 1 or 2' });
  }
  const raw = input as JsonObject;
  if ('recoveries' in raw) return fillWaterfallCase(raw, '', options.spec ?? (usesV2Fields(raw) ? 2 : 1));

  parseWithSchema(vectorsFileSchema, raw);
  const out: FilledVectorsFileJson = { ...raw };
  if (Array.isArray(raw.waterfall)) {
    const spec = options.spec ?? (raw.waterfall.some(usesV2Fields) ? 2 : 1);
    out.waterfall = raw.waterfall.map((item, i) =>
      fillWaterfallCase(item as JsonObject, `waterfall[${i}]`, spec),
    );
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

function fillWaterfallCase(raw: JsonObject, prefix: string, spec: VectorsSpec): FilledWaterfallCaseJson {
  const parsed = parseWithSchema(waterfallCaseSchema, raw, prefix);
  const expected = withPrefix(prefix, () =>
    spec === 2 ? expectedForWaterfallV2Case(parsed) : expectedForWaterfallCase(parsed),
  );
  return { ...raw, expected };
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
