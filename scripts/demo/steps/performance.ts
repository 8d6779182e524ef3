/**
 * Step 14: `GET /v1/portfolios/:id/performance` once the indexer has every recovery and the
 * resolution: collections against the business plan per recovery (the trigger as the chain ran it),
 * the reserve's movements, and per tranche what was paid and what was written off.
 */
import { ApiError, type Json } from '../api.ts';
import { formatPay, type RunningContext } from './context.ts';

const pct = (bps: number | null) => (bps === null ? 'n/a' : `${(bps / 100).toFixed(2)}%`);
const pay = (value: string) => formatPay(BigInt(value));

export async function reportPerformance(ctx: RunningContext): Promise<Json> {
  const { api, portfolioId, result, step, info, until } = ctx;
  step(
    'Performance (GET /v1/portfolios/:id/performance): trigger, reserve, paid and written off per tranche',
  );
  let performance: Json;
  try {
    performance = await until(
      'the indexer to reach the final recovery',
      () => api.request('GET', `/v1/portfolios/${portfolioId}/performance`, { auth: false }),
      (p: Json) =>
        p.collections.history.length === result.recoveries.length && p.resolution.status === 'resolved',
    );
  } catch (error) {
    if (error instanceof ApiError && error.routeMissing) {
      info('(this API build has no performance route)');
      return undefined;
    }
    throw error;
  }
  const { collections, reserve, tranches } = performance;
  info(
    `collections ${pay(collections.collected)} against the plan's ${pay(collections.planned)} (${pct(collections.collectedToPlanBps)}, trigger floor ${pct(collections.collectionRatioBps)}), as of block ${performance.indexedBlock}`,
  );
  info(
    `  ${'recovery'.padEnd(9)} ${'amount'.padStart(16)} ${'collected'.padStart(16)} ${'planned'.padStart(16)} ${'ratio'.padStart(8)} ${'trigger'.padEnd(9)} ${'released'.padStart(12)} ${'drawn'.padStart(12)} ${'replenished'.padStart(12)} ${'reserve'.padStart(14)}`,
  );
  for (const [k, r] of (collections.history as Json[]).entries()) {
    info(
      `  ${String(k + 1).padEnd(9)} ${pay(r.amount).padStart(16)} ${pay(r.collected).padStart(16)} ${pay(r.planned).padStart(16)} ${pct(r.collectedToPlanBps).padStart(8)} ${(r.triggerBreached ? 'BREACHED' : 'ok').padEnd(9)} ${pay(r.released).padStart(12)} ${pay(r.drawn).padStart(12)} ${pay(r.replenished).padStart(12)} ${pay(r.reserveBalance).padStart(14)}`,
    );
  }
  info(
    `reserve: funded ${pay(reserve.funded)}, released ${pay(reserve.released)}, drawn ${pay(reserve.drawn)}, replenished ${pay(reserve.replenished)}, balance ${pay(reserve.balance)}`,
  );
  info(
    `  ${'tranche'.padEnd(10)} ${'sold'.padStart(16)} ${'interest paid'.padStart(16)} ${'principal paid'.padStart(16)} ${'residual paid'.padStart(16)} ${'principal w/o'.padStart(16)} ${'interest w/o'.padStart(16)} ${'paid/sold'.padStart(9)}`,
  );
  for (const t of tranches as Json[]) {
    info(
      `  ${String(t.name).padEnd(10)} ${pay(t.sold).padStart(16)} ${pay(t.paidInterest).padStart(16)} ${pay(t.paidPrincipal).padStart(16)} ${pay(t.paidResidual).padStart(16)} ${pay(t.principalWrittenOff).padStart(16)} ${pay(t.interestWrittenOff).padStart(16)} ${pct(BigInt(t.sold) === 0n ? null : Number((BigInt(t.paid) * 10_000n) / BigInt(t.sold))).padStart(9)}`,
    );
  }
  const groups = (performance.loans.byResolution as Json[])
    .map((g) => `${g.resolution} ${g.loans}`)
    .join(', ');
  info(
    `loans: ${performance.loans.resolved.loans} of ${performance.loans.count} resolved by the remittance reports (${groups})`,
  );
  return performance;
}
