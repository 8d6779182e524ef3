import { getAddress } from 'viem';
import { z } from 'zod';
import { MAX_BUSINESS_PLAN_SECONDS } from '../../core/catalog/business-plan.ts';
import type { OfferingClosedRow, PortfolioRow, TrancheRow } from '../../core/catalog/listing.ts';
import { loanAssetClasses } from '../../core/catalog/loan-tape/rules.ts';
import {
  MAX_BUSINESS_PLAN_POINTS,
  validateBusinessPlan,
  waterfallModes,
} from '../../core/domain/waterfall.ts';
import { addressSchema, bpsSchema, decimalStringSchema, limitSchema, uintStringSchema } from './common.ts';

export const portfolioAssetClasses = [...loanAssetClasses, 'mixed'] as const;
export const portfolioStatuses = ['draft', 'publishing', 'published'] as const;

const trancheInputSchema = z.object({
  name: z.string().trim().min(1).max(100),
  symbol: z
    .string()
    .regex(/^[A-Z0-9]{1,11}$/, 'must be 1-11 upper-case letters or digits')
    .meta({ example: 'NPL1A' }),
  face: uintStringSchema.describe('face value (token cap) in pay-token base units'),
  couponBps: bpsSchema
    .optional()
    .describe('annual coupon in bps; required for every tranche but the last (residual, 0)'),
  priceBps: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe('offering price in bps of par, default 10,000'),
});

/** One point of a business plan as the API takes it (JSON). */
export const businessPlanPointSchema = z.object({
  atSeconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_BUSINESS_PLAN_SECONDS)
    .describe('seconds after the offering closed (a month is 2,628,000 s)'),
  cumulative: uintStringSchema.describe(
    'cumulative gross collections expected by then, pay-token base units',
  ),
});

/**
 * A business plan as JSON. The route bounds its length generously (the domain's rules then say "at most
 * MAX_BUSINESS_PLAN_POINTS"), so that a long plan gets the rule's message, not a bare size limit.
 */
export const businessPlanInputSchema = z
  .array(businessPlanPointSchema)
  .max(MAX_BUSINESS_PLAN_POINTS * 16)
  .describe(
    `1 to ${MAX_BUSINESS_PLAN_POINTS} points, strictly increasing atSeconds, non-decreasing cumulative (waterfall spec v2)`,
  );

export const reserveInputSchema = z
  .object({
    targetBps: bpsSchema.describe("target in bps of the senior tranche's outstanding"),
    initial: uintStringSchema.describe(
      'funded by the issuer before the offering closes, pay-token base units',
    ),
  })
  .describe('waterfall spec v2 cash reserve');

export const triggerInputSchema = z
  .object({
    collectionRatioBps: bpsSchema.describe(
      'breached while collected × 10,000 < collectionRatioBps × plan(T)',
    ),
    businessPlan: businessPlanInputSchema
      .optional()
      .describe('optional here: it can be uploaded later with PUT /v1/portfolios/:id/business-plan'),
  })
  .describe('waterfall spec v2 collection-ratio trigger');

/** Adds the domain's business-plan rules (validateBusinessPlan) as issues under `path`. */
export function refineBusinessPlan(
  plan: readonly z.infer<typeof businessPlanPointSchema>[],
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  // a refinement runs even when a point failed its own schema: the rules need every point well-formed
  if (!plan.every((p) => Number.isSafeInteger(p.atSeconds) && /^\d{1,78}$/.test(p.cumulative))) return;
  const points = plan.map((p) => ({ atSeconds: p.atSeconds, cumulative: BigInt(p.cumulative) }));
  for (const issue of validateBusinessPlan(points)) {
    // businessPlan[3].atSeconds → [...path, 3, 'atSeconds']
    const m = /^businessPlan(?:\[(\d+)\]\.(\w+))?$/.exec(issue.field);
    const rest = m?.[1] === undefined ? [] : [Number(m[1]), m[2]];
    ctx.addIssue({ code: 'custom', path: [...path, ...rest], message: issue.message });
  }
}

export const createPortfolioBodySchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(10_000).default(''),
    assetClass: z.enum(portfolioAssetClasses),
    jurisdiction: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code'),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
    askingPrice: uintStringSchema.describe('asking price of the whole portfolio in pay-token base units'),
    payTokenDecimals: z.number().int().min(0).max(36).default(6),
    servicerAddress: addressSchema,
    fees: z.object({ servicerBps: bpsSchema, protocolBps: bpsSchema }),
    waterfallMode: z.enum(waterfallModes).default('interestFirst'),
    tranches: z
      .array(trancheInputSchema)
      .min(1)
      .max(10)
      .describe('in seniority order (0 = most senior); the last one is the residual tranche'),
    reserve: reserveInputSchema.optional(),
    trigger: triggerInputSchema.optional(),
  })
  .superRefine((body, ctx) => {
    if (body.trigger?.businessPlan !== undefined)
      refineBusinessPlan(body.trigger.businessPlan, ['trigger', 'businessPlan'], ctx);
    const symbols = new Set<string>();
    body.tranches.forEach((t, i) => {
      if (symbols.has(t.symbol))
        ctx.addIssue({ code: 'custom', path: ['tranches', i, 'symbol'], message: 'is used twice' });
      symbols.add(t.symbol);
      const last = i === body.tranches.length - 1;
      if (!last && t.couponBps === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tranches', i, 'couponBps'],
          message: 'is required for a debt tranche',
        });
      }
      if (last && (t.couponBps ?? 0) !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['tranches', i, 'couponBps'],
          message: 'must be 0 for the residual (last) tranche',
        });
      }
      if (!last && t.face === '0') {
        ctx.addIssue({
          code: 'custom',
          path: ['tranches', i, 'face'],
          message: 'must be positive for a debt tranche',
        });
      }
    });
    if (body.fees.servicerBps + body.fees.protocolBps > 10_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['fees'],
        message: 'servicerBps + protocolBps must not exceed 10000',
      });
    }
  });

export type CreatePortfolioBody = z.infer<typeof createPortfolioBodySchema>;

const bucket = z.object({ count: z.number().int(), upb: z.string() });

export const statsSchema = z.object({
  loanCount: z.number().int(),
  totalUpb: z.string().describe('total unpaid principal balance, decimal in the loan currency'),
  totalCollateral: z.string(),
  askingPriceCentsPerDollar: z.number().nullable().describe('asking price in cents per unit of UPB'),
  waDaysPastDue: z.number().nullable().describe('days past due weighted by UPB'),
  collateralCoverage: z.number().nullable().describe('sum of collateral value / total UPB'),
  inCourtShare: z.number().nullable().describe('share of loans with legal status in_court'),
});

export const trancheSchema = z.object({
  id: z.string(),
  seniority: z.number().int(),
  name: z.string(),
  symbol: z.string(),
  face: z.string(),
  couponBps: z.number().int(),
  priceBps: z.number().int(),
  residual: z.boolean(),
  address: z.string().nullable(),
  sold: z
    .string()
    .describe('face sold, pay-token base units (from the chain index: purchases, then the close)'),
  outstanding: z
    .string()
    .describe('principal outstanding (0 before the close; sold minus principal paid and written off)'),
  interestArrears: z
    .string()
    .nullable()
    .describe(
      'interest arrears as of the last recovery (chain state, read from the chain; null without one)',
    ),
  paidToDate: z.string().describe('everything paid to the tranche by indexed recoveries'),
});

export const portfolioSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    assetClass: z.enum(portfolioAssetClasses),
    jurisdiction: z.string(),
    currency: z.string(),
    askingPrice: z.string(),
    payTokenDecimals: z.number().int(),
    servicerAddress: z.string(),
    fees: z.object({ servicerBps: z.number().int(), protocolBps: z.number().int() }),
    waterfallMode: z.enum(waterfallModes),
    status: z.enum(portfolioStatuses),
    owner: z.string(),
    tape: z.object({ sha256: z.string(), size: z.number().int(), uploadedAt: z.iso.datetime() }).nullable(),
    stats: statsSchema,
    chain: z
      .object({
        chainId: z.number().int().nullable(),
        portfolio: z.string().nullable(),
        distributor: z.string().nullable(),
        offering: z.string().nullable(),
        deployTxHash: z.string().nullable(),
        documentRoot: z.string().nullable(),
        documentRootTxHash: z.string().nullable(),
      })
      .nullable()
      .describe('on-chain addresses once published'),
    reserve: z
      .object({ targetBps: z.number().int(), initial: z.string() })
      .nullable()
      .describe('waterfall spec v2 cash reserve; null: none'),
    trigger: z
      .object({
        collectionRatioBps: z.number().int(),
        businessPlan: z
          .array(z.object({ atSeconds: z.number().int(), cumulative: z.string() }))
          .describe('empty until uploaded (PUT /v1/portfolios/:id/business-plan)'),
      })
      .nullable()
      .describe('waterfall spec v2 collection-ratio trigger; null: none'),
    publishError: z.string().nullable(),
    publishedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'PortfolioSummary' });

export const portfolioDetailSchema = portfolioSummarySchema
  .extend({
    tranches: z.array(trancheSchema),
    offering: z
      .object({
        closed: z.boolean().describe('the offering was closed on-chain (indexed OfferingClosed event)'),
        closedAt: z.iso.datetime().nullable().describe('chain time of the close'),
        closeTxHash: z.string().nullable(),
        closeBlock: z.string().nullable(),
      })
      .describe('primary offering state as indexed from the chain; recoveries need it closed'),
    breakdown: z.object({
      assetClass: z.record(z.string(), bucket),
      jurisdiction: z.record(z.string(), bucket),
    }),
  })
  .meta({ id: 'Portfolio' });

export type PortfolioSummary = z.infer<typeof portfolioSummarySchema>;
export type PortfolioDetail = z.infer<typeof portfolioDetailSchema>;

const num = (v: string | null) => (v === null ? null : Number(v));
const checksummed = (v: string | null) => (v === null ? null : getAddress(v));

export function toPortfolioSummary(r: PortfolioRow): PortfolioSummary {
  const hasChain = r.portfolio_address !== null || r.chain_id !== null || r.document_root !== null;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    assetClass: r.asset_class as PortfolioSummary['assetClass'],
    jurisdiction: r.jurisdiction,
    currency: r.currency,
    askingPrice: r.asking_price,
    payTokenDecimals: r.pay_token_decimals,
    servicerAddress: getAddress(r.servicer_address),
    fees: { servicerBps: r.servicer_fee_bps, protocolBps: r.protocol_fee_bps },
    waterfallMode: r.waterfall_mode,
    status: r.status,
    owner: r.owner,
    tape:
      r.tape_sha256 === null || r.tape_uploaded_at === null
        ? null
        : {
            sha256: r.tape_sha256,
            size: Number(r.tape_file_size ?? 0),
            uploadedAt: r.tape_uploaded_at.toISOString(),
          },
    stats: {
      loanCount: r.loan_count,
      totalUpb: r.total_upb,
      totalCollateral: r.total_collateral,
      askingPriceCentsPerDollar: num(r.cents_per_dollar),
      waDaysPastDue: num(r.wa_days_past_due),
      collateralCoverage: num(r.collateral_coverage),
      inCourtShare: num(r.in_court_share),
    },
    chain: hasChain
      ? {
          chainId: r.chain_id,
          portfolio: checksummed(r.portfolio_address),
          distributor: checksummed(r.distributor_address),
          offering: checksummed(r.offering_address),
          deployTxHash: r.deploy_tx_hash,
          documentRoot: r.document_root,
          documentRootTxHash: r.document_root_tx_hash,
        }
      : null,
    reserve:
      r.reserve_target_bps === null || r.reserve_initial === null
        ? null
        : { targetBps: r.reserve_target_bps, initial: r.reserve_initial },
    trigger:
      r.trigger_collection_ratio_bps === null
        ? null
        : {
            collectionRatioBps: r.trigger_collection_ratio_bps,
            businessPlan: r.business_plan.map((p) => ({
              atSeconds: Number(p.atSeconds),
              cumulative: p.cumulative,
            })),
          },
    publishError: r.publish_error,
    publishedAt: r.published_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function toPortfolioDetail(
  r: PortfolioRow,
  tranches: TrancheRow[],
  offering: OfferingClosedRow | null = null,
): PortfolioDetail {
  return {
    ...toPortfolioSummary(r),
    offering: {
      closed: offering !== null,
      closedAt: offering === null ? null : new Date(Number(offering.closed_at) * 1000).toISOString(),
      closeTxHash: offering?.tx_hash ?? null,
      closeBlock: offering?.block_number ?? null,
    },
    breakdown: {
      assetClass: r.breakdown?.assetClass ?? {},
      jurisdiction: r.breakdown?.jurisdiction ?? {},
    },
    tranches: tranches.map((t) => ({
      id: t.id,
      seniority: t.seniority,
      name: t.name,
      symbol: t.symbol,
      face: t.face,
      couponBps: t.coupon_bps,
      priceBps: t.price_bps,
      residual: t.residual,
      address: checksummed(t.address),
      sold: t.sold,
      outstanding: t.outstanding,
      interestArrears: t.interest_arrears,
      paidToDate: t.paid_to_date,
    })),
  };
}

export const listPortfoliosQuerySchema = z.object({
  status: z.enum(portfolioStatuses).optional(),
  assetClass: z.enum(portfolioAssetClasses).optional(),
  jurisdiction: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional(),
  minUpb: decimalStringSchema.optional(),
  maxUpb: decimalStringSchema.optional(),
  sort: z
    .enum([
      'createdAt',
      '-createdAt',
      'totalUpb',
      '-totalUpb',
      'askingPrice',
      '-askingPrice',
      'centsPerDollar',
      '-centsPerDollar',
      'waDaysPastDue',
      '-waDaysPastDue',
      'loanCount',
      '-loanCount',
      'name',
      '-name',
    ])
    .default('-createdAt')
    .describe('field to sort by; a leading `-` sorts descending'),
  limit: limitSchema(100, 20),
  cursor: z.string().max(500).optional(),
});
