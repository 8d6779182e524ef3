/** Step 4: the admin allowlists the three investors; the test-stablecoin faucet funds their purchases. */
import type { Hex } from 'viem';
import { type DemoContext, formatPay, INVESTOR_PLAN, TRADE, TRANCHE_PLAN } from './context.ts';

export async function allowlistAndFund(ctx: DemoContext): Promise<void> {
  const { api, base, investors, stepTimeoutMs, step, info } = ctx;
  step('Allowlisting three investors (admin) and funding them from the test-stablecoin faucet');
  // five years of chain time: the demo moves the local chain's clock a year forward (steps/clock.ts), and
  // the Distributor pays only allowlisted holders
  const chainMs = Number(await ctx.chainNow()) * 1000;
  const expiresAt = new Date(Math.max(Date.now(), chainMs) + 5 * 365 * 86_400_000).toISOString();
  const allowTxs: Hex[] = [];
  for (const investor of investors) {
    const accepted = await api.post(`/v1/investors/${investor.address}/allowlist`, { expiresAt });
    if (accepted.relayTx?.txHash) allowTxs.push(accepted.relayTx.txHash);
    info(`${investor.name.padEnd(30)} ${investor.address} allowlisted until ${expiresAt.slice(0, 10)}`);
  }
  await Promise.all(
    allowTxs.map((hash) => base.publicClient.waitForTransactionReceipt({ hash, timeout: stepTimeoutMs })),
  );
  const fundsNeeded = INVESTOR_PLAN.map((plan, i) => {
    let total = 0n;
    plan.buys.forEach((units, t) => {
      total += (units * BigInt(TRANCHE_PLAN[t].priceBps)) / 10_000n;
    });
    if (i === TRADE.taker) total += (TRADE.units * TRADE.priceBps) / 10_000n;
    return total + 1_000n;
  });
  for (const [i, investor] of investors.entries()) {
    const minted = await api.request('POST', '/v1/dev/faucet', {
      body: { address: investor.address, amount: fundsNeeded[i].toString() },
      auth: false,
    });
    info(`${investor.name.padEnd(30)} received ${formatPay(BigInt(minted.amountBaseUnits))} test USD`);
  }
}
