/**
 * Step 12: what each investor received from each recovery (measured on-chain), and what
 * `GET /v1/investors/:address/payouts` says (cumulative, claimed, claimable).
 */
import { ApiError, type Json } from '../api.ts';
import { formatPay, type RunningContext } from './context.ts';

export async function reportPayouts(ctx: RunningContext): Promise<void> {
  const { api, investors, portfolioId, result, step, info } = ctx;
  step('Payouts per investor and recovery');
  info(
    `${'investor'.padEnd(30)} ${result.recoveries.map((r) => `recovery ${r.index + 1}`.padStart(18)).join(' ')} ${'total'.padStart(18)}`,
  );
  for (const investor of investors) {
    const values = result.recoveries.map((r) => r.payouts[investor.address] ?? 0n);
    info(
      `${investor.name.padEnd(30)} ${values.map((v) => formatPay(v).padStart(18)).join(' ')} ${formatPay(values.reduce((a, b) => a + b, 0n)).padStart(18)}`,
    );
  }
  info(
    'GET /v1/investors/:address/payouts (cumulative in the accepted root, claimed as indexed, claimable):',
  );
  for (const investor of investors) {
    try {
      const payouts = await api.request('GET', `/v1/investors/${investor.address}/payouts`, {
        auth: false,
      });
      const item = (payouts.items as Json[]).find((p) => p.portfolioId === portfolioId);
      info(
        item === undefined
          ? `  ${investor.name.padEnd(30)} (no payout listed)`
          : `  ${investor.name.padEnd(30)} cumulative ${formatPay(BigInt(item.cumulative))}, claimed ${formatPay(BigInt(item.claimed))}, claimable ${formatPay(BigInt(item.claimable))}`,
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.routeMissing)) throw error;
      info('  (this API build has no payouts route)');
      break;
    }
  }
}
