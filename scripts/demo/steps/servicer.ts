/** Step 8: the servicer gets test stablecoin for the collections and approves the Portfolio. */
import { erc20Abi, maxUint256 } from 'viem';
import { FINAL_RECOVERY, formatPay, type PublishedContext, RECOVERIES, whole } from './context.ts';

export async function fundServicer(ctx: PublishedContext): Promise<void> {
  const { api, base, servicer, step, info } = ctx;
  const { portfolio, payToken } = ctx.deployed;
  step('Servicer: test stablecoin for the collections, and an allowance to the Portfolio');
  const totalRecoveries = RECOVERIES.reduce((a, r) => a + r.units, FINAL_RECOVERY.units as bigint);
  await api.request('POST', '/v1/dev/faucet', {
    body: { address: servicer.account.address, amount: totalRecoveries.toString() },
    auth: false,
  });
  const approval = await servicer.clients.walletClient.writeContract({
    address: payToken,
    abi: erc20Abi,
    functionName: 'approve',
    args: [portfolio, maxUint256],
  });
  await base.publicClient.waitForTransactionReceipt({ hash: approval });
  info(
    `servicer ${servicer.account.address} holds ${formatPay(whole(totalRecoveries))} and approved the Portfolio`,
  );
}
