/** Step 5: primary purchases over REST: quote, EIP-712 intent + ERC-2612 permit, relayed buyWithSig. */
import type { TypedDataDefinition } from 'viem';
import type { Json } from '../api.ts';
import {
  type DemoResult,
  formatPay,
  formatTokens,
  INVESTOR_PLAN,
  type PublishedContext,
  tokens,
} from './context.ts';

export async function buyPrimary(ctx: PublishedContext): Promise<DemoResult['purchases']> {
  const { api, people, step, info, until } = ctx;
  const { tranches } = ctx.deployed;
  step('Buying tranche tokens over REST: quote → sign intent + permit (EIP-712) → relayed buyWithSig');
  const purchases: DemoResult['purchases'] = [];
  for (const [i, plan] of INVESTOR_PLAN.entries()) {
    const signer = people[i].account;
    for (const [t, units] of plan.buys.entries()) {
      if (units === 0n) continue;
      const quote = await api.request('POST', `/v1/tranches/${tranches[t].id}/quotes`, {
        body: { buyer: signer.address, amount: tokens(units).toString() },
        auth: false,
      });
      const purchaseSignature = await signer.signTypedData(quote.typedData.purchase as TypedDataDefinition);
      const permitSignature = await signer.signTypedData(quote.typedData.permit as TypedDataDefinition);
      const accepted = await api.request('POST', '/v1/purchases', {
        body: { quoteId: quote.id, purchaseSignature, permitSignature },
        auth: false,
      });
      const done = await until(
        `purchase ${accepted.id}`,
        () => api.request('GET', `/v1/purchases/${accepted.id}`, { auth: false }),
        // mined and indexed is enough to go on (final comes with later blocks; anvil mines on transactions)
        (p: Json) =>
          p.status === 'confirmed' || p.status === 'failed' || (p.status === 'mined' && p.tokens !== null),
      );
      if (done.status === 'failed')
        throw new Error(`purchase ${accepted.id} failed: ${done.reason ?? done.revert}`);
      purchases.push({
        investor: plan.name,
        tranche: tranches[t].symbol,
        tokens: BigInt(done.tokens),
        cost: BigInt(done.cost),
        txHash: done.txHash,
      });
      info(
        `${plan.name.padEnd(30)} bought ${formatTokens(BigInt(done.tokens)).padStart(10)} ${tranches[t].symbol} for ${formatPay(BigInt(done.cost)).padStart(18)}  (block ${done.blockNumber})`,
      );
    }
  }
  return purchases;
}
