import { z } from 'zod';
import { uintStringSchema } from './common.ts';

/** How far in the past `asOf` may be (clock skew between the client and us). */
export const AS_OF_SKEW_MS = 5_000;

/** POST /v1/portfolios/:id/waterfall/preview body. */
export const waterfallPreviewBodySchema = z.object({
  /** Recovery amount in pay-token base units. */
  amount: uintStringSchema,
  /** When the recovery would be deposited (ISO 8601, not in the past); default: now. */
  asOf: z.iso
    .datetime({ offset: true })
    // a refine runs even when the format failed: only compare what parses
    .refine(
      (v) => Number.isNaN(Date.parse(v)) || Date.parse(v) >= Date.now() - AS_OF_SKEW_MS,
      'must not be in the past',
    )
    .optional()
    .meta({ example: '2026-12-01T00:00:00Z', description: 'ISO time not before now; default now' }),
  /**
   * The resolving recovery (`depositFinalRecovery`): the reserve is released and every debt the
   * amount does not cover is written off. Default false: the answer is v1's, unchanged.
   */
  final: z.boolean().optional().meta({
    description:
      'Preview the resolving recovery: adds per tranche `principalWrittenOff` / `interestWrittenOff`, and `reserve`',
  }),
});

const uint = z.string().meta({ example: '1000000' });

export const waterfallPreviewTrancheSchema = z.object({
  trancheId: z
    .string()
    .meta({ description: 'Tranche UUID', example: '7f1e0c1e-7f7e-4c55-9b2a-3f0b3a9d1c10' }),
  name: z.string(),
  seniority: z.number().int(),
  interest: uint,
  principal: uint,
  residual: uint,
  total: uint,
  outstandingAfter: uint,
  interestArrearsAfter: uint,
  /** Only with `final: true`: the principal left unpaid and written off by the resolution. */
  principalWrittenOff: uint.optional(),
  /** Only with `final: true`: the interest arrears left unpaid and written off by the resolution. */
  interestWrittenOff: uint.optional(),
});

/** Only with `final: true`: the reserve's movements in the resolving recovery (all 0 without a reserve). */
export const waterfallPreviewReserveSchema = z.object({
  released: uint,
  drawn: uint,
  replenished: uint,
  balanceAfter: uint,
});

export const waterfallPreviewSchema = z.object({
  portfolioId: z.string(),
  amount: uint,
  asOf: z.string().meta({ example: '2026-12-01T00:00:00.000Z' }),
  elapsedSeconds: uint,
  servicerFee: uint,
  protocolFee: uint,
  tranches: z.array(waterfallPreviewTrancheSchema),
  undistributed: uint,
  /** Present (true) only when the body asked for `final: true`. */
  final: z.literal(true).optional(),
  /** With `final: true` or spec-v2 terms: the reserve's movements. */
  reserve: waterfallPreviewReserveSchema.optional(),
  /** With `final: true` or spec-v2 terms: the trigger test (`breached` false without a trigger). */
  trigger: z
    .object({
      breached: z.boolean(),
      collected: uint.meta({ description: 'collections so far, this recovery included' }),
      planned: uint.meta({
        description: "the business plan's cumulative at the recovery's clock (0 without a trigger)",
      }),
    })
    .optional(),
});

export type WaterfallPreview = z.infer<typeof waterfallPreviewSchema>;
