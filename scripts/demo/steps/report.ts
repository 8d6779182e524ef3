/**
 * Step 15: what each investor received from each recovery (measured on-chain), what
 * `GET /v1/investors/:address/payouts` says (cumulative, claimed, claimable), and each investor's
 * total received against what they paid (offering purchases, plus the secondary trade: the taker's cost
 * adds, the maker's proceeds after the marketplace fee subtract).
 */
import { isAddressEqual } from 'viem';
import { ApiError, type Json } from '../api.ts';
import { formatPay, type RunningContext } from './context.ts';

export async function reportPayouts(ctx: RunningContext): Promise<void> {
  const { api, investors, portfolioId, result, step, info, until } = ctx;
  step('Payouts per investor and recovery, and what each received against what they paid');
  const label = (k: number) => (result.recoveries[k]?.final ? 'final' : `recovery ${k + 1}`);
  info(
    `${'investor'.padEnd(30)} ${result.recoveries.map((_, k) => label(k).padStart(18)).join(' ')} ${'total'.padStart(18)}`,
  );
  const measured = new Map<string, bigint>();
  for (const investor of investors) {
    const values = result.recoveries.map((r) => r.payouts[investor.address] ?? 0n);
    const total = values.reduce((a, b) => a + b, 0n);
    measured.set(investor.address, total);
    info(
      `${investor.name.padEnd(30)} ${values.map((v) => formatPay(v).padStart(18)).join(' ')} ${formatPay(total).padStart(18)}`,
    );
  }
  info(
    'GET /v1/investors/:address/payouts (cumulative in the accepted root, claimed as indexed, claimable):',
  );
  const received = new Map<string, bigint>();
  for (const investor of investors) {
    let item: Json;
    try {
      // the pushed claims are indexed a little after the distribution is paid: wait for them
      item = await until(
        `the payouts of ${investor.name}`,
        async () => {
          const payouts = await api.request('GET', `/v1/investors/${investor.address}/payouts`, {
            auth: false,
          });
          return (payouts.items as Json[]).find((p) => p.portfolioId === portfolioId) ?? null;
        },
        (p: Json) => p !== null && BigInt(p.claimed) + BigInt(p.claimable) === measured.get(investor.address),
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.routeMissing)) throw error;
      info('  (this API build has no payouts route)');
      break;
    }
    received.set(investor.address, BigInt(item.claimed) + BigInt(item.claimable));
    info(
      `  ${investor.name.padEnd(30)} cumulative ${formatPay(BigInt(item.cumulative))}, claimed ${formatPay(BigInt(item.claimed))}, claimable ${formatPay(BigInt(item.claimable))}`,
    );
  }

  info('received (claimed + claimable) against paid (offering purchases, + bought / − sold in the trade):');
  info(
    `  ${'investor'.padEnd(30)} ${'offering'.padStart(16)} ${'trade'.padStart(16)} ${'paid'.padStart(16)} ${'received'.padStart(16)} ${'received − paid'.padStart(16)} ${'multiple'.padStart(9)}`,
  );
  for (const investor of investors) {
    const offering = result.purchases
      .filter((p) => p.investor === investor.name)
      .reduce((a, p) => a + p.cost, 0n);
    const trade = result.trade;
    const traded =
      trade === null
        ? 0n
        : isAddressEqual(trade.taker, investor.address)
          ? trade.cost
          : isAddressEqual(trade.maker, investor.address)
            ? -(trade.cost - trade.fee)
            : 0n;
    const paid = offering + traded;
    const got = received.get(investor.address) ?? measured.get(investor.address) ?? 0n;
    const multiple = paid === 0n ? 'n/a' : `${(Number((got * 10_000n) / paid) / 10_000).toFixed(4)}x`;
    info(
      `  ${investor.name.padEnd(30)} ${formatPay(offering).padStart(16)} ${formatPay(traded).padStart(16)} ${formatPay(paid).padStart(16)} ${formatPay(got).padStart(16)} ${formatPay(got - paid).padStart(16)} ${multiple.padStart(9)}`,
    );
  }
}
