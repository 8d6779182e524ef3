/**
 * Step 9: the reserve after the close. Its target is 5% of the senior's outstanding, fixed at what was
 * sold; the issuer tops the reserve funded at publish up to it from the treasury
 * (`POST /v1/portfolios/:id/reserve/funding`, the treasury's own `fundReserve`, sent by the platform
 * because the treasury is its key).
 */
import { readTrancheState } from '../../../core/chain/actions.ts';
import { portfolioAbi } from '../../../core/chain/generated/index.ts';
import type { Json } from '../api.ts';
import { formatPay, RESERVE, type RunningContext } from './context.ts';

export async function topUpReserve(ctx: RunningContext): Promise<void> {
  const { api, base, portfolioId, result, stepTimeoutMs, step, info } = ctx;
  const { portfolio } = ctx.deployed;
  step('Reserve: the issuer tops it up to its target (POST reserve/funding, from the issuer treasury)');
  const readReserve = () =>
    base.publicClient.readContract({ address: portfolio, abi: portfolioAbi, functionName: 'reserve' });
  const [balance] = await readReserve();
  const [senior] = await readTrancheState(base.publicClient, { portfolio });
  const target = (senior.outstanding * BigInt(RESERVE.targetBps)) / 10_000n;
  info(
    `target ${formatPay(target)} (${RESERVE.targetBps / 100}% of the senior's ${formatPay(senior.outstanding)} outstanding), balance ${formatPay(balance)}`,
  );
  if (target <= balance) {
    info('the reserve is at its target: nothing to fund');
    return;
  }
  const amount = target - balance;
  const funding: Json = await api.post(`/v1/portfolios/${portfolioId}/reserve/funding`, {
    amount: amount.toString(),
  });
  await base.publicClient.waitForTransactionReceipt({ hash: funding.txHash, timeout: stepTimeoutMs });
  const [after, funded] = await readReserve();
  result.reserve.topUp = amount;
  info(
    `funded ${formatPay(amount)} from the issuer treasury ${funding.issuerTreasury} (tx ${funding.txHash}): reserve ${formatPay(after)}, funded in all ${formatPay(funded)}`,
  );
}
