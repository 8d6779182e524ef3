import { z } from 'zod';
import type { LoanGroup, PortfolioPerformance } from '../../core/servicing/performance.ts';
import { uintStringSchema } from './common.ts';

/** GET /v1/portfolios/:id/performance (core/servicing/performance.ts). Ratios: bps, floored, null when ÷ 0. */

const hexSchema = z.string().regex(/^0x[0-9a-fA-F]*$/);
const bpsRatio = (what: string) =>
  z.number().int().nullable().describe(`floor(10000 × ${what}), null when the divisor is 0`);
const statusSchema = z
  .enum(['open', 'resolving', 'resolved'])
  .describe('resolving: a ResolutionProposed not vetoed and not yet resolved; resolved: PortfolioResolved');

const recoverySchema = z.object({
  recoveryId: uintStringSchema,
  txHash: hexSchema,
  blockNumber: uintStringSchema,
  amount: uintStringSchema.describe('gross amount of this recovery'),
  collected: uintStringSchema.describe('collections to date after this recovery'),
  planned: uintStringSchema.describe(
    "the business plan's cumulative at the recovery's clock, as the chain computed it (0 before its first point or without a trigger)",
  ),
  collectedToPlanBps: bpsRatio('collected ÷ planned'),
  triggerBreached: z.boolean(),
  released: uintStringSchema.describe('left the reserve into the waterfall'),
  drawn: uintStringSchema.describe("left the reserve for the senior's interest"),
  replenished: uintStringSchema.describe('went back into the reserve'),
  reserveBalance: uintStringSchema.describe('the reserve after this recovery'),
  v2: z
    .boolean()
    .describe(
      'false: the recovery emitted no RecoveryTriggerAndReserve (no reserve, no trigger): not breached, no movements',
    ),
});

const trancheSchema = z.object({
  trancheId: z.uuid(),
  seniority: z.number().int(),
  name: z.string(),
  residual: z.boolean(),
  face: uintStringSchema,
  sold: uintStringSchema.describe('sold face at the close (OfferingClosed); 0 before'),
  outstanding: uintStringSchema.describe(
    'sold − principal paid − principal written off; the residual tranche keeps its sold face',
  ),
  arrears: uintStringSchema
    .nullable()
    .describe(
      'interest arrears as of the last recovery (Portfolio.trancheState at the indexed block); null when the API has no chain client of this chain, or before the indexed close',
    ),
  paidInterest: uintStringSchema,
  paidPrincipal: uintStringSchema,
  paidResidual: uintStringSchema,
  paid: uintStringSchema.describe('interest + principal + residual paid to date'),
  principalWrittenOff: uintStringSchema.describe('PortfolioResolved'),
  interestWrittenOff: uintStringSchema.describe('PortfolioResolved'),
  paidToFaceBps: bpsRatio('paid ÷ face'),
});

const loanGroupShape = {
  loans: z.number().int(),
  upb: z.string().describe("sum of the tape's principal balances, loan currency"),
  collected: uintStringSchema.describe(
    "sum of the loans' lines in every deposited remittance report, base units",
  ),
  collectedToUpbBps: bpsRatio('collected (in currency units) ÷ UPB'),
};

export const performanceSchema = z
  .object({
    portfolioId: z.uuid(),
    chainId: z.number().int(),
    portfolio: z.string().describe('the Portfolio contract (checksummed)'),
    indexedBlock: uintStringSchema
      .nullable()
      .describe("the indexer's block: the figures include every block indexed up to it, final or not"),
    status: statusSchema,
    collections: z.object({
      collected: uintStringSchema.describe('collections to date (every recovery amount)'),
      planned: uintStringSchema.describe(
        "the plan's cumulative at the last recovery, as the chain computed it",
      ),
      collectedToPlanBps: bpsRatio('collected ÷ planned at the last recovery'),
      breached: z.boolean().describe("the last recovery's trigger state"),
      collectionRatioBps: z.number().int().nullable().describe("the trigger's ratio (null: no trigger)"),
      history: z.array(recoverySchema).describe('one per recovery, in order'),
    }),
    reserve: z.object({
      targetBps: z.number().int().describe("target in bps of the senior's outstanding (0: no reserve)"),
      target: uintStringSchema.describe('floor(senior outstanding × targetBps ÷ 10000); 0 once resolved'),
      balance: uintStringSchema,
      funded: uintStringSchema.describe('everything the issuer treasury funded (ReserveFunded)'),
      released: uintStringSchema,
      drawn: uintStringSchema,
      replenished: uintStringSchema,
    }),
    tranches: z.array(trancheSchema),
    resolution: z.object({
      status: statusSchema,
      executableAt: uintStringSchema.nullable().describe('unix time the pending proposal becomes executable'),
      proposals: z.number().int(),
      vetoes: z.number().int(),
      resolvedRecoveryId: uintStringSchema.nullable(),
      resolvedTxHash: hexSchema.nullable(),
    }),
    loans: z.object({
      count: z.number().int().describe('loans of the tape'),
      upb: z.string().describe('total UPB of the tape, loan currency'),
      resolved: z
        .object(loanGroupShape)
        .describe(
          'loans a deposited remittance report (its SHA-256 anchored by an indexed recovery) gave a resolution; the latest such report decides',
        ),
      byResolution: z.array(z.object({ resolution: z.string(), ...loanGroupShape })),
      byLegalStatus: z.array(
        z.object({ legalStatus: z.string().describe("the tape's legal status"), ...loanGroupShape }),
      ),
    }),
  })
  .meta({ id: 'PortfolioPerformance' });

export type PerformanceBody = z.infer<typeof performanceSchema>;

const s = (v: bigint) => v.toString();
const ns = (v: bigint | null) => (v === null ? null : v.toString());
const loanGroup = <G extends LoanGroup>(g: G) => ({ ...g, collected: s(g.collected) });

export function toPerformanceBody(p: PortfolioPerformance): PerformanceBody {
  return {
    portfolioId: p.portfolioId,
    chainId: p.chainId,
    portfolio: p.portfolio,
    indexedBlock: ns(p.indexedBlock),
    status: p.status,
    collections: {
      ...p.collections,
      collected: s(p.collections.collected),
      planned: s(p.collections.planned),
      history: p.collections.history.map((r) => ({
        ...r,
        recoveryId: s(r.recoveryId),
        blockNumber: s(r.blockNumber),
        amount: s(r.amount),
        collected: s(r.collected),
        planned: s(r.planned),
        released: s(r.released),
        drawn: s(r.drawn),
        replenished: s(r.replenished),
        reserveBalance: s(r.reserveBalance),
      })),
    },
    reserve: {
      targetBps: p.reserve.targetBps,
      target: s(p.reserve.target),
      balance: s(p.reserve.balance),
      funded: s(p.reserve.funded),
      released: s(p.reserve.released),
      drawn: s(p.reserve.drawn),
      replenished: s(p.reserve.replenished),
    },
    tranches: p.tranches.map((t) => ({
      ...t,
      face: s(t.face),
      sold: s(t.sold),
      outstanding: s(t.outstanding),
      arrears: ns(t.arrears),
      paidInterest: s(t.paidInterest),
      paidPrincipal: s(t.paidPrincipal),
      paidResidual: s(t.paidResidual),
      paid: s(t.paid),
      principalWrittenOff: s(t.principalWrittenOff),
      interestWrittenOff: s(t.interestWrittenOff),
    })),
    resolution: {
      ...p.resolution,
      executableAt: ns(p.resolution.executableAt),
      resolvedRecoveryId: ns(p.resolution.resolvedRecoveryId),
    },
    loans: {
      count: p.loans.count,
      upb: p.loans.upb,
      resolved: loanGroup(p.loans.resolved),
      byResolution: p.loans.byResolution.map(loanGroup),
      byLegalStatus: p.loans.byLegalStatus.map(loanGroup),
    },
  };
}
