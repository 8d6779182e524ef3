/** Step 6: a secondary trade: a signed sell order in the book, filled by another investor (relayed fillWithSig). */
import { randomBytes } from 'node:crypto';
import { erc20Abi, type Hex, hexToBigInt, zeroAddress } from 'viem';
import { permitTypedData, readPermitDomain } from '../../../core/chain/actions.ts';
import {
  fillCost,
  NO_DECAY,
  type Order,
  signFillIntent,
  signOrder,
} from '../../../core/chain/contracts/marketplace.ts';
import { marketplaceAbi } from '../../../core/chain/generated/index.ts';
import type { Json } from '../api.ts';
import {
  type DemoResult,
  formatPay,
  formatTokens,
  type PublishedContext,
  stringify,
  TRADE,
  tokens,
  whole,
} from './context.ts';

export async function tradeSecondary(ctx: PublishedContext): Promise<NonNullable<DemoResult['trade']>> {
  const { api, base, options, chainId, people, investors, chainNow, step, info, until } = ctx;
  const { tranches, payToken } = ctx.deployed;
  step('Secondary trade: a signed sell order in the book, filled by another investor (relayed fillWithSig)');
  const maker = people[TRADE.maker];
  const taker = people[TRADE.taker];
  const tradeTranche = tranches[TRADE.tranche];
  const sellAmount = tokens(TRADE.units);
  const approveHash = await maker.clients.walletClient.writeContract({
    address: tradeTranche.address,
    abi: erc20Abi,
    functionName: 'approve',
    args: [options.marketplace, sellAmount],
  });
  await base.publicClient.waitForTransactionReceipt({ hash: approveHash });
  const counter = await base.publicClient.readContract({
    address: options.marketplace,
    abi: marketplaceAbi,
    functionName: 'counter',
    args: [maker.account.address],
  });
  // the fee the maker accepts: the marketplace's current one (what the API assumes when it is omitted)
  const maxFeeBps = await base.publicClient.readContract({
    address: options.marketplace,
    abi: marketplaceAbi,
    functionName: 'feeBps',
  });
  const order: Order = {
    maker: maker.account.address,
    taker: zeroAddress,
    tranche: tradeTranche.address,
    payToken,
    sellAmount,
    price: (whole(TRADE.units) * TRADE.priceBps) / 10_000n,
    expiry: (await chainNow()) + 86_400n,
    salt: hexToBigInt(`0x${randomBytes(16).toString('hex')}`),
    counter,
    partialFill: true,
    maxFeeBps,
    ...NO_DECAY,
  };
  const orderSignature = await signOrder(maker.account, { marketplace: options.marketplace, chainId, order });
  const placed = await api.request('POST', '/v1/orders', {
    body: { order: stringify(order), signature: orderSignature },
    auth: false,
  });
  const orderHash = placed.hash as Hex;
  info(
    `${investors[TRADE.maker].name} offers ${formatTokens(sellAmount)} ${tradeTranche.symbol} for ${formatPay(order.price)} (order ${orderHash.slice(0, 18)}...)`,
  );
  const cost = fillCost(order, sellAmount);
  const intent = {
    orderHash,
    taker: taker.account.address,
    amount: sellAmount,
    maxCost: cost,
    nonce: hexToBigInt(`0x${randomBytes(16).toString('hex')}`),
    deadline: (await chainNow()) + 600n,
  };
  const fillSignature = await signFillIntent(taker.account, {
    marketplace: options.marketplace,
    chainId,
    intent,
  });
  const permitDomain = await readPermitDomain(base.publicClient, {
    token: payToken,
    owner: taker.account.address,
  });
  const fillPermit = await taker.account.signTypedData(
    permitTypedData({
      token: payToken,
      chainId,
      name: permitDomain.name,
      version: permitDomain.version,
      owner: taker.account.address,
      spender: options.marketplace,
      value: cost,
      nonce: permitDomain.nonce,
      deadline: intent.deadline,
    }),
  );
  const fillAccepted = await api.request('POST', `/v1/orders/${orderHash}/fills`, {
    body: {
      intent: stringify(intent),
      signature: fillSignature,
      permit: { value: cost.toString(), deadline: intent.deadline.toString(), signature: fillPermit },
    },
    auth: false,
  });
  const fill = await until(
    `fill ${fillAccepted.id}`,
    () => api.request('GET', `/v1/orders/${orderHash}/fills/${fillAccepted.id}`, { auth: false }),
    (f: Json) =>
      f.status === 'confirmed' || f.status === 'failed' || (f.status === 'mined' && f.cost !== null),
  );
  if (fill.status === 'failed')
    throw new Error(`fill ${fillAccepted.id} failed: ${JSON.stringify(fill.failure)}`);
  const trade = {
    orderHash,
    maker: maker.account.address,
    taker: taker.account.address,
    tranche: tradeTranche.address,
    amount: sellAmount,
    cost: BigInt(fill.cost),
    fee: BigInt(fill.fee ?? 0),
  };
  info(
    `${investors[TRADE.taker].name} bought ${formatTokens(sellAmount)} ${tradeTranche.symbol} for ${formatPay(trade.cost)} ` +
      `(marketplace fee ${formatPay(BigInt(fill.fee ?? 0))}, block ${fill.blockNumber})`,
  );
  return trade;
}
