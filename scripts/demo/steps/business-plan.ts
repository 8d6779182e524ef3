/**
 * Step 3: the issuer's business plan for the trigger (`PUT /v1/portfolios/:id/business-plan`, CSV in
 * months after the close and cumulative collections): the collections it expects, against which each
 * recovery's trigger test runs on-chain (breached while collected < 80% of plan).
 */
import type { Json } from '../api.ts';
import { BUSINESS_PLAN, type DraftContext, formatPay, MONTH_SECONDS, TRIGGER, whole } from './context.ts';

export async function uploadBusinessPlan(ctx: DraftContext): Promise<void> {
  const { api, portfolioId, step, info } = ctx;
  step('Business plan (issuer): the collections the trigger measures the servicer against');
  const csv = [
    'months_after_close,cumulative_collections',
    ...BUSINESS_PLAN.map((p) => `${p.month},${p.cumulativeUnits}`),
  ].join('\n');
  const answer: Json = await api.request('PUT', `/v1/portfolios/${portfolioId}/business-plan`, {
    body: `${csv}\n`,
    contentType: 'text/csv',
  });
  const points = answer.trigger.businessPlan as { atSeconds: number; cumulative: string }[];
  const ratio = answer.trigger.collectionRatioBps as number;
  info(
    `PUT business-plan: ${points.length} points; trigger breached while collected < ${(ratio / 100).toFixed(2)}% of plan`,
  );
  info(
    `  ${'months after close'.padEnd(20)} ${'cumulative planned'.padStart(20)} ${'trigger floor'.padStart(20)}`,
  );
  for (const point of points) {
    const cumulative = BigInt(point.cumulative);
    info(
      `  ${String(BigInt(point.atSeconds) / MONTH_SECONDS).padEnd(20)} ${formatPay(cumulative).padStart(20)} ${formatPay((cumulative * BigInt(ratio)) / 10_000n).padStart(20)}`,
    );
  }
  if (ratio !== TRIGGER.collectionRatioBps || points.length !== BUSINESS_PLAN.length)
    throw new Error(`the business plan came back different: ${JSON.stringify(answer.trigger)}`);
  if (BigInt(points[1].cumulative) !== whole(BUSINESS_PLAN[1].cumulativeUnits))
    throw new Error(`the business plan's cumulative is not in pay-token base units: ${points[1].cumulative}`);
}
