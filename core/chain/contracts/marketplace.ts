/**
 * Marketplace (secondary order book) on the chain: pure EIP-712 builders for sell orders, fill intents
 * and off-chain cancels (domain "NPL Marketplace" v1), their hashes (the order hash is the full EIP-712
 * digest, exactly `Marketplace.hashOrder`), local signing helpers, and the actions `fillOrder`,
 * `fillOrderWithSig`, `cancelOrder`, `incrementOrderCounter`, and its reads through `readChain`: `readOrderStatus`,
 * `readOrderCounter` and the snapshots a new order (`readOrderSnapshot`) and a fill (`readFillSnapshot`) are
 * checked against.
 */
import {
  type Address,
  encodeFunctionData,
  type Hex,
  hashTypedData,
  type LocalAccount,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
} from 'viem';
import { NO_PERMIT, type PermitData } from '../actions.ts';
import type { ChainClients } from '../clients.ts';
import { ChainError } from '../errors.ts';
import { marketplaceAbi } from '../generated/index.ts';
import { readChain } from '../read.ts';
import { sendAndWait } from '../tx.ts';
import { type PortfolioTerms, portfolioRaw } from './portfolio.ts';
import { erc20Raw } from './tranche-token.ts';

export const MARKETPLACE_EIP712_NAME = 'NPL Marketplace';
export const MARKETPLACE_EIP712_VERSION = '1';

/**
 * A sell order as `IMarketplace.Order` (amounts in base units; `taker` zero = anyone). `price` is the total
 * for the whole `sellAmount`. `maxFeeBps` is the highest marketplace fee the maker accepts (signed with the
 * order): a fill while `feeBps()` is above it reverts with `OrderFeeAboveMax`.
 *
 * Dutch auction: with `decayEnd !== 0n` the total price falls linearly from `price * startPriceBps / 10000`
 * at `decayStart` to `price * endPriceBps / 10000` at `decayEnd` (unix seconds); see `priceAt`.
 * `decayEnd === 0n` is no decay (`NO_DECAY`: all four zero).
 */
export type Order = {
  maker: Address;
  taker: Address;
  tranche: Address;
  payToken: Address;
  sellAmount: bigint;
  price: bigint;
  expiry: bigint;
  salt: bigint;
  counter: bigint;
  partialFill: boolean;
  maxFeeBps: number;
  startPriceBps: number;
  endPriceBps: number;
  decayStart: bigint;
  decayEnd: bigint;
};

/** The decay fields of an order that does not decay: its price is `price` at any time. */
export const NO_DECAY = { startPriceBps: 0, endPriceBps: 0, decayStart: 0n, decayEnd: 0n } as const;

/** What the price of an order at a time depends on. */
export type OrderPriceTerms = Pick<
  Order,
  'price' | 'sellAmount' | 'startPriceBps' | 'endPriceBps' | 'decayStart' | 'decayEnd'
>;

/** A taker's signed instruction to fill `amount` of `orderHash` for at most `maxCost` (`IMarketplace.FillIntent`). */
export type FillIntent = {
  orderHash: Hex;
  taker: Address;
  amount: bigint;
  maxCost: bigint;
  nonce: bigint;
  deadline: bigint;
};

export const orderTypes = {
  Order: [
    { name: 'maker', type: 'address' },
    { name: 'taker', type: 'address' },
    { name: 'tranche', type: 'address' },
    { name: 'payToken', type: 'address' },
    { name: 'sellAmount', type: 'uint256' },
    { name: 'price', type: 'uint256' },
    { name: 'expiry', type: 'uint256' },
    { name: 'salt', type: 'uint256' },
    { name: 'counter', type: 'uint256' },
    { name: 'partialFill', type: 'bool' },
    { name: 'maxFeeBps', type: 'uint16' },
    { name: 'startPriceBps', type: 'uint16' },
    { name: 'endPriceBps', type: 'uint16' },
    { name: 'decayStart', type: 'uint64' },
    { name: 'decayEnd', type: 'uint64' },
  ],
} as const;

export const fillIntentTypes = {
  FillIntent: [
    { name: 'orderHash', type: 'bytes32' },
    { name: 'taker', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'maxCost', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/**
 * Off-chain cancel of an order in our book (the contract does not know this type): the maker signs it
 * over the marketplace domain so that it cannot be replayed on another chain or marketplace.
 */
export const orderCancelTypes = {
  OrderCancel: [{ name: 'orderHash', type: 'bytes32' }],
} as const;

/** Where an order lives: the marketplace contract and its chain. */
export type MarketplaceDomainParameters = { marketplace: Address; chainId: number };

export function marketplaceDomain(parameters: MarketplaceDomainParameters) {
  return {
    name: MARKETPLACE_EIP712_NAME,
    version: MARKETPLACE_EIP712_VERSION,
    chainId: parameters.chainId,
    verifyingContract: parameters.marketplace,
  } as const;
}

export type OrderTypedDataParameters = MarketplaceDomainParameters & { order: Order };

/** EIP-712 typed data of a sell order, exactly as `Marketplace.hashOrder` hashes it. */
export function orderTypedData(parameters: OrderTypedDataParameters) {
  return {
    domain: marketplaceDomain(parameters),
    types: orderTypes,
    primaryType: 'Order',
    message: parameters.order,
  } as const;
}
export type OrderTypedData = ReturnType<typeof orderTypedData>;

export type FillIntentTypedDataParameters = MarketplaceDomainParameters & { intent: FillIntent };

/** EIP-712 typed data of a fill intent, exactly as `Marketplace.hashFillIntent` hashes it. */
export function fillIntentTypedData(parameters: FillIntentTypedDataParameters) {
  return {
    domain: marketplaceDomain(parameters),
    types: fillIntentTypes,
    primaryType: 'FillIntent',
    message: parameters.intent,
  } as const;
}
export type FillIntentTypedData = ReturnType<typeof fillIntentTypedData>;

export type OrderCancelTypedDataParameters = MarketplaceDomainParameters & { orderHash: Hex };

/** EIP-712 typed data the maker signs to take an order off our book (off-chain only). */
export function orderCancelTypedData(parameters: OrderCancelTypedDataParameters) {
  return {
    domain: marketplaceDomain(parameters),
    types: orderCancelTypes,
    primaryType: 'OrderCancel',
    message: { orderHash: parameters.orderHash },
  } as const;
}

/** The order's id: its EIP-712 digest on this chain and marketplace (`Marketplace.hashOrder`). */
export function hashOrder(parameters: OrderTypedDataParameters): Hex {
  return hashTypedData(orderTypedData(parameters));
}

/** The digest the taker signs (`Marketplace.hashFillIntent`). */
export function hashFillIntent(parameters: FillIntentTypedDataParameters): Hex {
  return hashTypedData(fillIntentTypedData(parameters));
}

const ceilDiv = (a: bigint, b: bigint): bigint => (a === 0n ? 0n : (a - 1n) / b + 1n);

/** Why a Dutch order's decay is invalid (its fills revert with this error), or null when it is valid. */
export function decayError(
  order: Pick<Order, 'startPriceBps' | 'endPriceBps' | 'decayStart' | 'decayEnd'>,
): 'OrderDecayPriceRises' | 'OrderDecayEndsBeforeStart' | null {
  if (order.decayEnd === 0n) return null;
  if (order.endPriceBps > order.startPriceBps) return 'OrderDecayPriceRises';
  if (order.decayEnd < order.decayStart) return 'OrderDecayEndsBeforeStart';
  return null;
}

/** Whether the order's price changes over time. */
export const decays = (order: Pick<Order, 'decayEnd'>): boolean => order.decayEnd !== 0n;

/**
 * `Marketplace.priceAt` exactly: the order's total price (pay-token base units for the whole sellAmount)
 * at unix time `at`. `price` without decay; for a Dutch order `ceil(price * bps / 10000)` with the start
 * bps until `decayStart`, the end bps from `decayEnd` on, and in between
 * `ceil(price * (startBps * (decayEnd - at) + endBps * (at - decayStart)) / (10000 * (decayEnd - decayStart)))`.
 * Every rounding is up (toward the maker). Throws a RangeError for an invalid decay (the contract reverts).
 */
export function priceAt(order: OrderPriceTerms, at: bigint): bigint {
  if (!decays(order)) return order.price;
  const error = decayError(order);
  if (error !== null) throw new RangeError(`invalid decay: ${error}`);
  const start = BigInt(order.startPriceBps);
  const end = BigInt(order.endPriceBps);
  if (at >= order.decayEnd) return ceilDiv(order.price * end, 10_000n);
  if (at <= order.decayStart) return ceilDiv(order.price * start, 10_000n);
  const weighted = start * (order.decayEnd - at) + end * (at - order.decayStart);
  return ceilDiv(order.price * weighted, 10_000n * (order.decayEnd - order.decayStart));
}

/**
 * `ceil(priceAt(order, at) * amount / sellAmount)`: what a fill of `amount` mined at unix time `at` costs
 * the taker (fee included). `at` only matters for a Dutch order (required then), whose price never rises:
 * the cost at a time bounds the cost of any fill mined later.
 */
export function fillCost(order: OrderPriceTerms, amount: bigint, at?: bigint): bigint {
  if (order.sellAmount === 0n) throw new RangeError('sellAmount is zero');
  if (at === undefined && decays(order)) throw new RangeError('the cost of a Dutch order needs a time');
  return ceilDiv(priceAt(order, at ?? 0n) * amount, order.sellAmount);
}

/** Signs an order with a local key (tests, scripts; makers sign the typed data in a wallet). */
export function signOrder(signer: LocalAccount, parameters: OrderTypedDataParameters): Promise<Hex> {
  return signer.signTypedData(orderTypedData(parameters));
}

/** Signs a fill intent with a local key. */
export function signFillIntent(
  signer: LocalAccount,
  parameters: FillIntentTypedDataParameters,
): Promise<Hex> {
  return signer.signTypedData(fillIntentTypedData(parameters));
}

/** Signs an off-chain cancel with a local key. */
export function signOrderCancel(
  signer: LocalAccount,
  parameters: OrderCancelTypedDataParameters,
): Promise<Hex> {
  return signer.signTypedData(orderCancelTypedData(parameters));
}

// ------------------------------------------------------------------ actions

/** `Marketplace.DIRECT_FILL_NONCE`: the nonce `OrderFilled` carries for a direct `fill` (no intent). */
export const DIRECT_FILL_NONCE = 2n ** 256n - 1n;

/** A decoded `OrderFilled` event and where it was mined (`nonce`: the fill intent's, or DIRECT_FILL_NONCE). */
export type OrderFill = {
  txHash: Hex;
  blockNumber: bigint;
  orderHash: Hex;
  maker: Address;
  taker: Address;
  tranche: Address;
  amount: bigint;
  cost: bigint;
  fee: bigint;
  nonce: bigint;
};

function parseOrderFilled(
  marketplace: Address,
  txHash: Hex,
  receipt: TransactionReceipt,
  functionName: string,
): OrderFill {
  const [event] = parseEventLogs({
    abi: marketplaceAbi,
    logs: receipt.logs,
    eventName: 'OrderFilled',
  }).filter((log) => log.address.toLowerCase() === marketplace.toLowerCase());
  if (!event) {
    throw new ChainError(`Marketplace.${functionName}: no OrderFilled event in ${txHash}`, {
      kind: 'unknown',
      retryable: false,
      contract: 'Marketplace',
      functionName,
      txHash,
    });
  }
  return { txHash, blockNumber: receipt.blockNumber, ...event.args };
}

export type FillOrderParameters = { marketplace: Address; order: Order; signature: Hex; amount: bigint };

/** `Marketplace.fill`: the sending key takes `amount` of `order` (it must have approved the pay token). */
export async function fillOrder(clients: ChainClients, parameters: FillOrderParameters): Promise<OrderFill> {
  const context = { contract: 'Marketplace', functionName: 'fill', abi: marketplaceAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.marketplace,
      abi: marketplaceAbi,
      functionName: 'fill',
      args: [parameters.order, parameters.signature, parameters.amount],
    }),
  );
  return parseOrderFilled(parameters.marketplace, txHash, receipt, 'fill');
}

export type FillOrderWithSigParameters = {
  marketplace: Address;
  order: Order;
  makerSignature: Hex;
  intent: FillIntent;
  takerSignature: Hex;
  /** Omitted = no permit (the taker approved beforehand). */
  permit?: PermitData;
};

/** Arguments of `Marketplace.fillWithSig` in ABI order (for a relayer's `submit`). */
export function fillWithSigArgs(parameters: Omit<FillOrderWithSigParameters, 'marketplace'>) {
  return [
    parameters.order,
    parameters.makerSignature,
    parameters.intent,
    parameters.takerSignature,
    parameters.permit ?? NO_PERMIT,
  ] as const;
}

/** `Marketplace.fillWithSig`, relayed by the sending key (which pays the gas, not the cost). */
export async function fillOrderWithSig(
  clients: ChainClients,
  parameters: FillOrderWithSigParameters,
): Promise<OrderFill> {
  const context = { contract: 'Marketplace', functionName: 'fillWithSig', abi: marketplaceAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.marketplace,
      abi: marketplaceAbi,
      functionName: 'fillWithSig',
      args: fillWithSigArgs(parameters),
    }),
  );
  return parseOrderFilled(parameters.marketplace, txHash, receipt, 'fillWithSig');
}

export type CancelOrderParameters = { marketplace: Address; order: Order };

/**
 * The transaction that cancels `order` on-chain, for the maker's own wallet to send: `Marketplace.cancel`
 * has no signed variant (it checks `msg.sender == order.maker`), so nobody else can send it.
 */
export function cancelOrderCall(parameters: CancelOrderParameters): { to: Address; data: Hex } {
  return {
    to: parameters.marketplace,
    data: encodeFunctionData({ abi: marketplaceAbi, functionName: 'cancel', args: [parameters.order] }),
  };
}

/** `Marketplace.cancel` by the maker (the sending key): the order can never be filled again. */
export async function cancelOrder(
  clients: ChainClients,
  parameters: CancelOrderParameters,
): Promise<{ txHash: Hex; blockNumber: bigint }> {
  const context = { contract: 'Marketplace', functionName: 'cancel', abi: marketplaceAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.marketplace,
      abi: marketplaceAbi,
      functionName: 'cancel',
      args: [parameters.order],
    }),
  );
  return { txHash, blockNumber: receipt.blockNumber };
}

/** `Marketplace.incrementCounter` by the maker: voids every order signed with the current counter. */
export async function incrementOrderCounter(
  clients: ChainClients,
  parameters: { marketplace: Address },
): Promise<{ txHash: Hex; blockNumber: bigint; newCounter: bigint }> {
  const context = { contract: 'Marketplace', functionName: 'incrementCounter', abi: marketplaceAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.marketplace,
      abi: marketplaceAbi,
      functionName: 'incrementCounter',
    }),
  );
  const [event] = parseEventLogs({
    abi: marketplaceAbi,
    logs: receipt.logs,
    eventName: 'CounterIncremented',
  });
  return { txHash, blockNumber: receipt.blockNumber, newCounter: event?.args.newCounter ?? 0n };
}

export type ReadOrderStatusParameters = {
  marketplace: Address;
  orderHash: Hex;
  /** Also read this maker's current counter. */
  maker?: Address;
  blockNumber?: bigint;
};
export type OrderStatusOnChain = { filled: bigint; cancelled: boolean; counter?: bigint };

/** `filled(orderHash)`, `cancelled(orderHash)` and, with `maker`, `counter(maker)`. */
export async function readOrderStatus(
  client: PublicClient,
  parameters: ReadOrderStatusParameters,
): Promise<OrderStatusOnChain> {
  const { marketplace, orderHash, maker, blockNumber } = parameters;
  const [filled, cancelled, counter] = await readChain('Marketplace', 'filled', () =>
    Promise.all([
      marketplaceRaw.filled(client, { marketplace, orderHash, blockNumber }),
      marketplaceRaw.cancelled(client, { marketplace, orderHash, blockNumber }),
      maker === undefined ? undefined : marketplaceRaw.counter(client, { marketplace, maker, blockNumber }),
    ]),
  );
  return counter === undefined ? { filled, cancelled } : { filled, cancelled, counter };
}

type OrderAt = { marketplace: Address; orderHash: Hex; blockNumber?: bigint };

/** The bare `readContract` calls (no decoding): compose them inside one `readChain`. */
export const marketplaceRaw = {
  filled: (client: PublicClient, { marketplace, orderHash, blockNumber }: OrderAt) =>
    client.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'filled',
      args: [orderHash],
      blockNumber,
    }),
  cancelled: (client: PublicClient, { marketplace, orderHash, blockNumber }: OrderAt) =>
    client.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'cancelled',
      args: [orderHash],
      blockNumber,
    }),
  counter: (
    client: PublicClient,
    { marketplace, maker, blockNumber }: { marketplace: Address; maker: Address; blockNumber?: bigint },
  ) =>
    client.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'counter',
      args: [maker],
      blockNumber,
    }),
  feeBps: (
    client: PublicClient,
    { marketplace, blockNumber }: { marketplace: Address; blockNumber?: bigint },
  ) =>
    client.readContract({ address: marketplace, abi: marketplaceAbi, functionName: 'feeBps', blockNumber }),
  nonceUsed: (
    client: PublicClient,
    { marketplace, taker, nonce }: { marketplace: Address; taker: Address; nonce: bigint },
  ) =>
    client.readContract({
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'nonceUsed',
      args: [taker, nonce],
    }),
};

/** `feeBps()`: the marketplace fee now, in basis points. */
export function readMarketplaceFeeBps(
  client: PublicClient,
  parameters: { marketplace: Address; blockNumber?: bigint },
): Promise<number> {
  return readChain('Marketplace', 'feeBps', () => marketplaceRaw.feeBps(client, parameters));
}

/** `counter(maker)`: the maker's current order counter (orders signed with an older one are void). */
export function readOrderCounter(
  client: PublicClient,
  parameters: { marketplace: Address; maker: Address; blockNumber?: bigint },
): Promise<bigint> {
  return readChain('Marketplace', 'counter', () => marketplaceRaw.counter(client, parameters));
}

export type ReadOrderSnapshotParameters = {
  marketplace: Address;
  /** The portfolio of the order's tranche (its terms name the pay token and the registry). */
  portfolio: Address;
  order: Pick<Order, 'maker' | 'tranche'>;
  orderHash: Hex;
};
export type OrderSnapshot = {
  terms: PortfolioTerms;
  /** The marketplace fee now (bps). */
  feeBps: number;
  counter: bigint;
  filled: bigint;
  cancelled: boolean;
  /** The maker's tranche-token balance and allowance to the marketplace. */
  balance: bigint;
  allowance: bigint;
};

/**
 * What a new sell order is checked against, in one round of calls at the latest block: the
 * portfolio's terms, the marketplace fee, the maker's counter, the order's filled amount and cancel flag, the maker's
 * tranche-token balance and allowance to the marketplace.
 */
export async function readOrderSnapshot(
  client: PublicClient,
  parameters: ReadOrderSnapshotParameters,
): Promise<OrderSnapshot> {
  const { marketplace, portfolio, order, orderHash } = parameters;
  const [terms, feeBps, counter, filled, cancelled, balance, allowance] = await readChain(
    'Marketplace',
    'order checks',
    () =>
      Promise.all([
        portfolioRaw.terms(client, { portfolio }),
        marketplaceRaw.feeBps(client, { marketplace }),
        marketplaceRaw.counter(client, { marketplace, maker: order.maker }),
        marketplaceRaw.filled(client, { marketplace, orderHash }),
        marketplaceRaw.cancelled(client, { marketplace, orderHash }),
        erc20Raw.balanceOf(client, { token: order.tranche, account: order.maker }),
        erc20Raw.allowance(client, { token: order.tranche, owner: order.maker, spender: marketplace }),
      ]),
  );
  return { terms, feeBps, counter, filled, cancelled, balance, allowance };
}

export type ReadFillSnapshotParameters = {
  marketplace: Address;
  portfolio: Address;
  order: Pick<Order, 'maker' | 'payToken'>;
  orderHash: Hex;
  intent: Pick<FillIntent, 'taker' | 'nonce'>;
};
export type FillSnapshot = {
  terms: PortfolioTerms;
  /** The marketplace fee now (bps): above the order's maxFeeBps the fill reverts. */
  feeBps: number;
  filled: bigint;
  cancelled: boolean;
  counter: bigint;
  /** `nonceUsed(taker, nonce)` of the fill intent. */
  nonceUsed: boolean;
  /** The taker's pay-token balance and allowance to the marketplace. */
  balance: bigint;
  allowance: bigint;
};

/**
 * What a fill is checked against, in one round of calls at the latest block: the portfolio's terms,
 * the marketplace fee, the order's filled amount, cancel flag and the maker's counter, the taker's intent nonce, and the
 * taker's pay-token balance and allowance to the marketplace.
 */
export async function readFillSnapshot(
  client: PublicClient,
  parameters: ReadFillSnapshotParameters,
): Promise<FillSnapshot> {
  const { marketplace, portfolio, order, orderHash, intent } = parameters;
  const [terms, feeBps, filled, cancelled, counter, nonceUsed, balance, allowance] = await readChain(
    'Marketplace',
    'fill checks',
    () =>
      Promise.all([
        portfolioRaw.terms(client, { portfolio }),
        marketplaceRaw.feeBps(client, { marketplace }),
        marketplaceRaw.filled(client, { marketplace, orderHash }),
        marketplaceRaw.cancelled(client, { marketplace, orderHash }),
        marketplaceRaw.counter(client, { marketplace, maker: order.maker }),
        marketplaceRaw.nonceUsed(client, { marketplace, taker: intent.taker, nonce: intent.nonce }),
        erc20Raw.balanceOf(client, { token: order.payToken, account: intent.taker }),
        erc20Raw.allowance(client, { token: order.payToken, owner: intent.taker, spender: marketplace }),
      ]),
  );
  return { terms, feeBps, filled, cancelled, counter, nonceUsed, balance, allowance };
}
