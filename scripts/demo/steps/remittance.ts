/**
 * The servicer's remittance report behind each recovery (`POST /v1/portfolios/:id/remittance-reports`,
 * docs/api.md): one row per loan of the tape, `loan_id,collected,collected_on,resolution`, whose
 * collections add up exactly to the recovery. Deterministic from the seed and the period: a share of
 * the loans not yet resolved collects (weighted by principal balance, on dates inside the period), some
 * of them are resolved; the final report resolves every loan left (those that collect nothing are
 * written off). A loan resolved once collects nothing in later reports.
 */
import { createRandom, type SyntheticLoan } from '../../../core/catalog/synthetic-portfolio.ts';
import type { Json } from '../api.ts';
import { chainDate } from './clock.ts';
import { type DemoRecovery, PAY_DECIMALS, type RunningContext } from './context.ts';

export type RemittanceReportParameters = {
  seed: string;
  /** 1, 2, …: the report's period (its randomness). */
  period: number;
  loans: readonly SyntheticLoan[];
  /** Pay-token base units; whole cents (the report's cells are currency units with 2 decimals here). */
  amount: bigint;
  /** The period, chain seconds: collections fall on dates after `from` up to `to`. */
  from: bigint;
  to: bigint;
  /** The resolving report: every loan not resolved yet is resolved in it. */
  final: boolean;
  /** Loans resolved by earlier reports (updated with the ones this report resolves). */
  resolved: Set<string>;
};

const CENT = 10n ** BigInt(PAY_DECIMALS - 2);
const DAY = 86_400n;

const cents = (value: bigint) => `${value / 100n}.${(value % 100n).toString().padStart(2, '0')}`;

/** The report's CSV; adds the loans it resolves to `resolved`. */
export function remittanceReportCsv(parameters: RemittanceReportParameters): string {
  const { seed, period, loans, amount, from, to, final, resolved } = parameters;
  if (amount % CENT !== 0n) throw new RangeError('a remittance report amount must be whole cents');
  const random = createRandom(`remittance:${seed}:${period}`);
  const open = loans.filter((loan) => !resolved.has(loan.loan_id));
  const collecting = open.filter(() => random.chance(final ? 0.2 : 0.08));
  if (collecting.length === 0 && amount > 0n) collecting.push(open[0] ?? loans[0]);
  const weights = collecting.map((loan) => BigInt(loan.principal_balance.replace('.', '')) + 1n);
  const weightSum = weights.reduce((a, b) => a + b, 0n);
  const total = amount / CENT;
  const collected = new Map<string, bigint>();
  let allocated = 0n;
  collecting.forEach((loan, i) => {
    const share = (total * weights[i]) / weightSum;
    collected.set(loan.loan_id, share);
    allocated += share;
  });
  if (collecting.length > 0) {
    const first = collecting[0].loan_id;
    collected.set(first, (collected.get(first) ?? 0n) + total - allocated);
  }
  const firstDay = from / DAY + 1n;
  const lastDay = to / DAY;
  const days = lastDay >= firstDay ? Number(lastDay - firstDay) : 0;
  const lines = ['loan_id,collected,collected_on,resolution'];
  for (const loan of loans) {
    const value = collected.get(loan.loan_id);
    let resolution = '';
    if (!resolved.has(loan.loan_id)) {
      if (final) {
        resolution =
          value === undefined || value === 0n
            ? 'written_off'
            : random.pick({ settled: 5, sold: 2, foreclosed: 3 });
      } else if (value !== undefined && random.chance(0.3)) {
        resolution = random.pick({ settled: 3, foreclosed: 1 });
      }
    }
    if (value === undefined || value === 0n) {
      lines.push(`${loan.loan_id},0,,${resolution}`);
    } else {
      const day = (firstDay <= lastDay ? firstDay : lastDay) + BigInt(random.int(0, days));
      lines.push(`${loan.loan_id},${cents(value)},${chainDate(day * DAY)},${resolution}`);
    }
    if (resolution !== '') resolved.add(loan.loan_id);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Uploads the report (with the admin key, which the route takes beside the servicer's) with the API's
 * default reporting period (from the day after the previous report's end, the close's date for the
 * first, to today: the chain's date, ahead of the wall clock once the demo moved it) and answers what
 * was stored.
 */
export async function uploadRemittanceReport(
  ctx: RunningContext,
  parameters: Omit<RemittanceReportParameters, 'seed' | 'loans'>,
): Promise<DemoRecovery['report'] & { sha256: string }> {
  const { api, portfolioId, seed } = ctx;
  const csv = remittanceReportCsv({ ...parameters, seed, loans: ctx.plan.tape.loans });
  const stored: Json = await api.request('POST', `/v1/portfolios/${portfolioId}/remittance-reports`, {
    body: csv,
    contentType: 'text/csv',
  });
  return {
    id: stored.id,
    total: BigInt(stored.total),
    loanCount: stored.loanCount,
    resolvedCount: stored.resolvedCount,
    periodStart: stored.periodStart,
    periodEnd: stored.periodEnd,
    sha256: stored.sha256,
  };
}
