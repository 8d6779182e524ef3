/**
 * The secondary order book over REST: signed sell orders (checked against the chain before they are
 * stored), the book by tranche (best price first), the maker's signed off-chain cancel, and takers'
 * signed fill intents relayed through `Marketplace.fillWithSig`.
 *
 * Where state comes from:
 * - checks before storing or relaying read the chain at the latest block (counter, filled, cancelled,
 *   balances, allowances, `registry.isAllowed`);
 * - the book and the trades read the chain indexer's rows (`order_filled_event`,
 *   `order_cancelled_event`, `counter_incremented_event`): an order leaves the book once it is filled,
 *   cancelled (off-chain here, or on-chain), voided by a counter bump, or expired;
 * - a fill settles through core/trading/settlement.ts: `mined` once its transaction is in a block, `confirmed`
 *   once the indexer's OrderFilled event is final, back to `pending` when a reorg removes it, `failed`
 *   once the relayer row says its transaction reverted (at a final block) or was given up.
 *
 * Races: a fill takes `min(amount, what is left)` (as `Marketplace.fill` does on-chain, so a 1-wei fill
 * landing first cannot block a fill of the whole remainder). It reserves what it will take in Postgres
 * (order row locked) before it is relayed, counting pending fills as taken; a fill when nothing is left
 * counting pending fills is rejected up front (409 CONFLICT, reason `OrderOverfilled`). If the chain
 * moved anyway (a fill made outside the API), the mined fill takes what the chain had left (the fill
 * view reports the amount of its OrderFilled event), or, when nothing was left, the relayer's
 * simulation rejects it (same answer, nothing sent) or the mined transaction reverts and the fill ends
 * `failed` with `OrderOverfilled`.
 *
 * An off-chain cancel only hides the order from this book: the signed order stays valid on-chain. For a
 * guaranteed cancel the maker calls `Marketplace.cancel(order)` or `incrementCounter()`; the indexer
 * picks either up and the order leaves the book.
 */
import { randomUUID } from 'node:crypto';
import {
  type Address,
  getAddress,
  type Hex,
  isAddressEqual,
  maxUint256,
  verifyTypedData,
  zeroAddress,
} from 'viem';
import {
  type PermitData,
  permitDataFromSignature,
  permitTypedData,
  readPermitDomain,
} from '../chain/actions.ts';
import type { ChainPublicClient } from '../chain/clients.ts';
import { readIsAllowed } from '../chain/contracts/compliance-registry.ts';
import {
  cancelOrderCall,
  decayError,
  decays,
  type FillIntent,
  fillCost,
  fillIntentTypedData,
  fillWithSigArgs,
  hashOrder,
  type Order,
  orderCancelTypedData,
  orderTypedData,
  priceAt,
  readFillSnapshot,
  readMarketplaceFeeBps,
  readOrderSnapshot,
} from '../chain/contracts/marketplace.ts';
import { isChainError, toChainError } from '../chain/errors.ts';
import { marketplaceAbi, portfolioAbi, trancheTokenAbi } from '../chain/generated/index.ts';
import { readChain } from '../chain/read.ts';
import { INT4_MAX, INT8_MAX } from '../db/column-ranges.ts';
import type { PrismaClient } from '../db/index.ts';
import { isUniqueViolation } from '../db/unique-violation.ts';
import {
  BaseError,
  ConflictError,
  type ErrorCode,
  InvalidCursorError,
  NotFoundError,
  ValidationFailedError,
} from '../platform/errors/index.ts';
import type { PurchaseRelayer, RelayTxView } from './purchases.ts';
import { settleRelayed } from './settlement.ts';

export type OrderBookContext = {
  prisma: PrismaClient;
  publicClient: ChainPublicClient;
  chainId: number;
  marketplace: Address;
  relayer: PurchaseRelayer;
  log?: { warn: (obj: object, msg: string) => void };
};

/** `floor(price * 10^155 / sellAmount)`: distinct fractions of uint256 values get distinct, ordered keys. */
export const PRICE_KEY_SCALE = 10n ** 155n;
export const priceKey = (price: bigint, sellAmount: bigint): bigint => (price * PRICE_KEY_SCALE) / sellAmount;

const big = (value: { toString(): string } | string | bigint | number): bigint => BigInt(value.toString());

function failed(code: ErrorCode, message: string, details?: unknown): BaseError {
  return new BaseError(message, { code, details });
}

async function chainNow(client: ChainPublicClient): Promise<bigint> {
  return readChain(
    'chain',
    'getBlock',
    async () => (await client.getBlock({ blockTag: 'latest' })).timestamp,
  );
}

/**
 * The time a fill sent now is priced at, at the earliest: the pending block's timestamp (on a chain that
 * mines only when a transaction arrives, anvil's default, the latest block may be hours old), never before
 * the latest block. A Dutch order's price never rises, so the cost at this time bounds what the mined
 * fill pays.
 */
async function pendingTime(client: ChainPublicClient, latest: bigint): Promise<bigint> {
  const pending = await readChain(
    'chain',
    'getBlock',
    async () => (await client.getBlock({ blockTag: 'pending' })).timestamp,
  );
  return pending > latest ? pending : latest;
}

const wallClockNow = (): bigint => BigInt(Math.floor(Date.now() / 1000));

// ------------------------------------------------------------------ views

export type OrderState = 'open' | 'filled' | 'cancelled' | 'expired';

type OrderRow = {
  hash: string;
  chain_id: number;
  marketplace: string;
  tranche_id: string;
  portfolio_id: string;
  maker: string;
  taker: string;
  tranche: string;
  pay_token: string;
  sell_amount: string;
  price: string;
  price_key: string;
  expiry: string;
  salt: string;
  counter: string;
  partial_fill: boolean;
  max_fee_bps: number;
  start_price_bps: number;
  end_price_bps: number;
  decay_start: string;
  decay_end: string;
  signature: string;
  status: OrderState;
  cancelled_at: Date | null;
  created_at: Date;
  filled: string;
  cancelled_on_chain: boolean;
  maker_counter: string;
};

/** Every stored column plus what the indexer knows: filled amount, on-chain cancel, maker counter. */
const ORDER_COLUMNS = `
         o.hash, o.chain_id, o.marketplace, o.tranche_id::text AS tranche_id, o.portfolio_id::text AS portfolio_id,
         o.maker, o.taker, o.tranche, o.pay_token, o.sell_amount::text AS sell_amount, o.price::text AS price,
         o.price_key::text AS price_key, o.expiry::text AS expiry, o.salt::text AS salt, o.counter::text AS counter,
         o.partial_fill, o.max_fee_bps, o.start_price_bps, o.end_price_bps, o.decay_start::text AS decay_start,
         o.decay_end::text AS decay_end, o.signature, o.status::text AS status, o.cancelled_at, o.created_at,
         COALESCE((SELECT sum(f.amount) FROM order_filled_event f
                   WHERE f.chain_id = o.chain_id AND f.order_hash = o.hash), 0)::text AS filled,
         EXISTS (SELECT 1 FROM order_cancelled_event c
                 WHERE c.chain_id = o.chain_id AND c.order_hash = o.hash) AS cancelled_on_chain,
         COALESCE((SELECT max(e.new_counter) FROM counter_incremented_event e
                   WHERE e.chain_id = o.chain_id AND e.marketplace = o.marketplace AND e.maker = o.maker), 0)::text
           AS maker_counter`;
const ORDER_SELECT = `SELECT ${ORDER_COLUMNS}
  FROM sell_order o`;

/**
 * `priceAt` in SQL for the order `o` at unix time `at` (a numeric SQL expression): exact integer math,
 * each `div(a + b - 1, b)` a ceiling division of non-negative numerics, as `Marketplace.priceAt`. Stored
 * Dutch orders have a valid decay (placeOrder rejects any other). Exported for the test that checks it
 * against the contract.
 */
export function currentPriceSql(at: string): string {
  return `(CASE WHEN o.decay_end = 0 THEN o.price
    WHEN ${at} >= o.decay_end THEN div(o.price * o.end_price_bps + 9999, 10000)
    WHEN ${at} <= o.decay_start THEN div(o.price * o.start_price_bps + 9999, 10000)
    ELSE div(o.price * (o.start_price_bps * (o.decay_end - ${at}) + o.end_price_bps * (${at} - o.decay_start))
               + 10000 * (o.decay_end - o.decay_start) - 1,
             10000 * (o.decay_end - o.decay_start))
  END)`;
}

/** The book's sort key at unix time `at`: `priceKey` of the order's price then (the stored key without decay). */
function bookKeySql(at: string): string {
  return `(CASE WHEN o.decay_end = 0 THEN o.price_key
    ELSE div(${currentPriceSql(at)} * ${PRICE_KEY_SCALE}::numeric, o.sell_amount) END)`;
}

/** An order is open while its stored status is open and the indexer and the clock agree. */
const OPEN_CONDITION = `
  o.status = 'open' AND o.expiry > $1
  AND NOT EXISTS (SELECT 1 FROM order_cancelled_event c WHERE c.chain_id = o.chain_id AND c.order_hash = o.hash)
  AND o.counter >= COALESCE((SELECT max(e.new_counter) FROM counter_incremented_event e
                             WHERE e.chain_id = o.chain_id AND e.marketplace = o.marketplace AND e.maker = o.maker), 0)
  AND o.sell_amount > COALESCE((SELECT sum(f.amount) FROM order_filled_event f
                                WHERE f.chain_id = o.chain_id AND f.order_hash = o.hash), 0)`;

function stateOf(row: OrderRow, now: bigint): OrderState {
  if (row.status === 'cancelled' || row.cancelled_on_chain || big(row.maker_counter) > big(row.counter)) {
    return 'cancelled';
  }
  if (big(row.filled) >= big(row.sell_amount)) return 'filled';
  if (row.status !== 'open') return row.status;
  if (big(row.expiry) <= now) return 'expired';
  return 'open';
}

/**
 * `now`: the state's clock; `priceTime`: the time `currentPrice` is computed for (the book pins it in its
 * cursor so that every page is sorted by the prices of one instant), `now` when omitted.
 */
function orderView(row: OrderRow, now: bigint, priceTime: bigint = now) {
  const filled = big(row.filled);
  const sellAmount = big(row.sell_amount);
  return {
    hash: row.hash,
    status: stateOf(row, now),
    chainId: row.chain_id,
    marketplace: row.marketplace,
    portfolioId: row.portfolio_id,
    trancheId: row.tranche_id,
    order: {
      maker: row.maker,
      taker: row.taker,
      tranche: row.tranche,
      payToken: row.pay_token,
      sellAmount: row.sell_amount,
      price: row.price,
      expiry: row.expiry,
      salt: row.salt,
      counter: row.counter,
      partialFill: row.partial_fill,
      maxFeeBps: row.max_fee_bps,
      startPriceBps: row.start_price_bps,
      endPriceBps: row.end_price_bps,
      decayStart: row.decay_start,
      decayEnd: row.decay_end,
    },
    currentPrice: priceAt(orderOf(row), priceTime).toString(),
    priceAsOf: priceTime.toString(),
    signature: row.signature,
    filled: filled.toString(),
    remaining: (sellAmount > filled ? sellAmount - filled : 0n).toString(),
    createdAt: row.created_at.toISOString(),
    cancelledAt: row.cancelled_at?.toISOString() ?? null,
  };
}
export type OrderView = ReturnType<typeof orderView>;

function orderOf(row: OrderRow): Order {
  return {
    maker: getAddress(row.maker),
    taker: getAddress(row.taker),
    tranche: getAddress(row.tranche),
    payToken: getAddress(row.pay_token),
    sellAmount: big(row.sell_amount),
    price: big(row.price),
    expiry: big(row.expiry),
    salt: big(row.salt),
    counter: big(row.counter),
    partialFill: row.partial_fill,
    maxFeeBps: row.max_fee_bps,
    startPriceBps: row.start_price_bps,
    endPriceBps: row.end_price_bps,
    decayStart: big(row.decay_start),
    decayEnd: big(row.decay_end),
  };
}

async function findOrderRow(prisma: PrismaClient, hash: string): Promise<OrderRow | null> {
  if (!/^0x[0-9a-fA-F]{64}$/.test(hash)) return null;
  const rows = await prisma.$queryRawUnsafe<OrderRow[]>(
    `${ORDER_SELECT} WHERE o.hash = $1`,
    hash.toLowerCase(),
  );
  return rows[0] ?? null;
}

/** One order with its state as of now. */
export async function getOrder(context: Pick<OrderBookContext, 'prisma'>, hash: string): Promise<OrderView> {
  const row = await findOrderRow(context.prisma, hash);
  if (row === null) throw new NotFoundError('Order', hash);
  return orderView(row, wallClockNow());
}

// ------------------------------------------------------------------ place

/**
 * `order.maxFeeBps` omitted: the maker signed the marketplace's current fee (`feeBps()` read now), the
 * bound a wallet that follows the API's defaults puts in the typed data.
 */
export type PlaceOrderParameters = {
  order: Omit<Order, 'maxFeeBps'> & { maxFeeBps?: number };
  signature: Hex;
};

/** A tranche token of a published portfolio on our chain, or a 422 naming `path`. */
async function knownTranche(context: OrderBookContext, token: Address, path: string) {
  const tranche = await context.prisma.tranche.findFirst({
    where: {
      address: { equals: token, mode: 'insensitive' },
      portfolio: { status: 'published', chainId: context.chainId },
    },
    select: { id: true, portfolioId: true, portfolio: { select: { portfolioAddress: true } } },
  });
  if (tranche === null || tranche.portfolio.portfolioAddress === null) {
    throw new ValidationFailedError(`${token} is not a tranche token of a published portfolio`, {
      details: [{ path, message: 'is not a tranche token of a published portfolio' }],
    });
  }
  return { ...tranche, portfolioAddress: getAddress(tranche.portfolio.portfolioAddress) };
}

/**
 * 409 when the tranche token does not transfer now, so no order of it can fill: its portfolio is resolved
 * (`PORTFOLIO_RESOLVED`: the tokens stop transferring for good, waterfall spec v2) or paused by the guardian
 * (`TRANCHE_PAUSED`). Nothing is stored or sent then.
 */
async function assertTradable(
  publicClient: OrderBookContext['publicClient'],
  parameters: { portfolio: Address; token: Address; orderHash: Hex },
): Promise<void> {
  const [resolution, paused] = await readChain('TrancheToken', 'paused', () =>
    Promise.all([
      publicClient.readContract({
        address: parameters.portfolio,
        abi: portfolioAbi,
        functionName: 'resolution',
      }),
      publicClient.readContract({ address: parameters.token, abi: trancheTokenAbi, functionName: 'paused' }),
    ]),
  );
  if (resolution[1]) {
    throw new ConflictError('The portfolio is resolved: its tranche tokens no longer transfer', {
      details: { orderHash: parameters.orderHash, reason: 'PORTFOLIO_RESOLVED' },
    });
  }
  if (paused) {
    throw new ConflictError(
      'The tranche token is paused: it does not transfer until the guardian unpauses it',
      {
        details: { orderHash: parameters.orderHash, reason: 'TRANCHE_PAUSED' },
      },
    );
  }
}

/**
 * A Dutch order's decay as the contract accepts it (VALIDATION_FAILED naming the field and the
 * contract's revert otherwise): `decayEnd` 0 is no decay and needs the other three 0; a decay needs
 * `startPriceBps` > 0, `endPriceBps <= startPriceBps` (OrderDecayPriceRises), `decayEnd >= decayStart`
 * (OrderDecayEndsBeforeStart) and a start price within uint256.
 */
function assertDecay(order: Order): void {
  const invalid = (path: string, message: string, reason?: string) =>
    new ValidationFailedError(`${path.replace('body.order.', '')} ${message}`, {
      details: [{ path, message, ...(reason === undefined ? {} : { reason }) }],
    });
  if (!decays(order)) {
    if (order.startPriceBps !== 0 || order.endPriceBps !== 0 || order.decayStart !== 0n) {
      throw invalid(
        'body.order.decayEnd',
        'is 0 (no decay): startPriceBps, endPriceBps and decayStart must be 0 too',
      );
    }
    return;
  }
  if (order.startPriceBps === 0) throw invalid('body.order.startPriceBps', 'must be > 0 for a Dutch order');
  const error = decayError(order);
  if (error === 'OrderDecayPriceRises') {
    throw invalid(
      'body.order.endPriceBps',
      `must be at most startPriceBps ${order.startPriceBps}: a Dutch order's price only falls`,
      error,
    );
  }
  if (error === 'OrderDecayEndsBeforeStart') {
    throw invalid('body.order.decayEnd', `must not be before decayStart ${order.decayStart}`, error);
  }
  if (priceAt(order, 0n) > maxUint256) {
    throw invalid('body.order.startPriceBps', 'gives a start price above uint256 (the fill would revert)');
  }
}

/**
 * Checks a signed sell order against the chain and stores it (201). Nothing is stored when a check
 * fails: SIGNATURE_INVALID (wrong key, another chain or marketplace, or signed over another maxFeeBps
 * than the one given, the current fee when omitted), ORDER_EXPIRED, VALIDATION_FAILED (an invalid decay,
 * checked first: see `assertDecay`; unknown tranche token, wrong pay token, stale counter, maxFeeBps
 * below the current fee, balance or allowance short),
 * NOT_ALLOWLISTED, CONFLICT (already in the book, or cancelled / filled on-chain).
 */
export async function placeOrder(
  context: OrderBookContext,
  parameters: PlaceOrderParameters,
): Promise<OrderView> {
  const { publicClient, marketplace, chainId } = context;
  const { signature } = parameters;
  const order: Order = {
    ...parameters.order,
    maxFeeBps: parameters.order.maxFeeBps ?? (await readMarketplaceFeeBps(publicClient, { marketplace })),
  };
  if (order.sellAmount === 0n) {
    throw new ValidationFailedError('sellAmount must be positive', {
      details: [{ path: 'body.order.sellAmount', message: 'must be > 0' }],
    });
  }
  assertDecay(order);
  const hash = hashOrder({ marketplace, chainId, order });
  const valid = await verifyTypedData({
    address: order.maker,
    signature,
    ...orderTypedData({ marketplace, chainId, order }),
  }).catch(() => false);
  if (!valid) {
    throw failed(
      'SIGNATURE_INVALID',
      `The signature is not the maker's over this order on chain ${chainId}, marketplace ${marketplace}`,
      { orderHash: hash },
    );
  }
  const now = await chainNow(publicClient);
  if (order.expiry <= now) {
    throw failed('ORDER_EXPIRED', `The order expired at ${order.expiry} (chain time ${now})`, {
      expiry: order.expiry.toString(),
      now: now.toString(),
    });
  }
  const tranche = await knownTranche(context, order.tranche, 'body.order.tranche');
  await assertTradable(publicClient, {
    portfolio: tranche.portfolioAddress,
    token: order.tranche,
    orderHash: hash,
  });

  const { terms, feeBps, counter, filled, cancelled, balance, allowance } = await readOrderSnapshot(
    publicClient,
    {
      marketplace,
      portfolio: tranche.portfolioAddress,
      order,
      orderHash: hash,
    },
  );
  if (!isAddressEqual(terms.payToken, order.payToken)) {
    throw new ValidationFailedError(`The pay token of this tranche is ${terms.payToken}`, {
      details: [
        { path: 'body.order.payToken', message: `must be the portfolio's pay token ${terms.payToken}` },
      ],
    });
  }
  if (cancelled)
    throw new ConflictError('The order was cancelled on-chain', {
      details: { orderHash: hash, reason: 'OrderWasCancelled' },
    });
  if (filled >= order.sellAmount)
    throw new ConflictError('The order is already filled', {
      details: { orderHash: hash, reason: 'OrderOverfilled' },
    });
  if (order.counter !== counter) {
    throw new ValidationFailedError(
      `counter ${order.counter} is not the maker's current counter ${counter}`,
      {
        details: [{ path: 'body.order.counter', message: `must be the maker's current counter ${counter}` }],
      },
    );
  }
  if (feeBps > order.maxFeeBps) {
    throw new ValidationFailedError(
      `maxFeeBps ${order.maxFeeBps} is below the marketplace fee ${feeBps}: no fill could go through`,
      {
        details: [
          {
            path: 'body.order.maxFeeBps',
            message: `must be at least the current fee ${feeBps}`,
            reason: 'OrderFeeAboveMax',
          },
        ],
      },
    );
  }
  const allowed = await readIsAllowed(publicClient, { registry: terms.registry, account: order.maker });
  if (!allowed) throw failed('NOT_ALLOWLISTED', `The maker ${order.maker} is not allowlisted (or is frozen)`);
  const left = order.sellAmount - filled;
  if (balance < left) {
    throw new ValidationFailedError(
      `The maker holds ${balance} tranche-token units, less than the ${left} on sale`,
      {
        details: [
          {
            path: 'body.order.sellAmount',
            message: 'exceeds the maker balance',
            reason: 'INSUFFICIENT_BALANCE',
          },
        ],
      },
    );
  }
  if (allowance < left) {
    throw new ValidationFailedError(
      `The maker approved the marketplace for ${allowance}, less than the ${left} on sale`,
      {
        details: [
          {
            path: 'body.order.sellAmount',
            message: 'exceeds the maker allowance to the marketplace',
            reason: 'INSUFFICIENT_ALLOWANCE',
          },
        ],
      },
    );
  }

  try {
    await context.prisma.order.create({
      data: {
        hash: hash.toLowerCase(),
        chainId,
        marketplace: getAddress(marketplace),
        trancheId: tranche.id,
        portfolioId: tranche.portfolioId,
        maker: getAddress(order.maker),
        taker: getAddress(order.taker),
        tranche: getAddress(order.tranche),
        payToken: getAddress(order.payToken),
        sellAmount: order.sellAmount.toString(),
        price: order.price.toString(),
        priceKey: priceKey(order.price, order.sellAmount).toString(),
        expiry: order.expiry.toString(),
        salt: order.salt.toString(),
        counter: order.counter.toString(),
        partialFill: order.partialFill,
        maxFeeBps: order.maxFeeBps,
        startPriceBps: order.startPriceBps,
        endPriceBps: order.endPriceBps,
        decayStart: order.decayStart.toString(),
        decayEnd: order.decayEnd.toString(),
        signature,
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ConflictError('This order is already in the book', { details: { orderHash: hash } });
    }
    throw error;
  }
  return getOrder(context, hash);
}

// ------------------------------------------------------------------ book

export type ListOrdersParameters = { tranche?: Address; maker?: Address; limit: number; cursor?: string };

/** `at`: the unix time the page's prices (and so its order) are for, pinned by the first page. */
type BookCursor = { key: string; createdAt: string; hash: string; at?: bigint };

type BookRow = OrderRow & { book_key: string };

function encodeBookCursor(row: BookRow, at: bigint): string {
  return Buffer.from(
    JSON.stringify([row.book_key, row.created_at.toISOString(), row.hash, at.toString()]),
  ).toString('base64url');
}

/** `Date.prototype.toISOString()` of a year 0000-9999: what Postgres' timestamptz reads back. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function decodeBookCursor(cursor: string): BookCursor {
  try {
    const [key, createdAt, hash, at] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // as encodeBookCursor writes them: the key fits NUMERIC(240,0), created_at a toISOString() time, the
    // pricing time a unix second within uint64 (absent from a cursor written before Dutch orders: now)
    if (
      /^\d{1,240}$/.test(key) &&
      ISO_TIME.test(createdAt) &&
      !Number.isNaN(Date.parse(createdAt)) &&
      /^0x[0-9a-f]{64}$/.test(hash) &&
      (at === undefined || (typeof at === 'string' && /^\d{1,20}$/.test(at) && BigInt(at) < 2n ** 64n))
    ) {
      return { key, createdAt, hash, at: at === undefined ? undefined : BigInt(at) };
    }
  } catch {}
  throw new InvalidCursorError();
}

/**
 * Open orders, best price first: lowest current price per tranche-token unit (`priceAt(now) /
 * sellAmount`, compared exactly through the `price_key` of that price, computed in SQL for a Dutch
 * order), then oldest first. Keyset-paginated; the first page's time prices every later page (in the
 * cursor), so a Dutch order's falling price cannot reorder the pages under a client walking them.
 * Each item carries `currentPrice` and the `priceAsOf` time it is for.
 */
export async function listOrders(
  context: Pick<OrderBookContext, 'prisma'>,
  parameters: ListOrdersParameters,
) {
  const now = wallClockNow();
  const cursor = parameters.cursor === undefined ? undefined : decodeBookCursor(parameters.cursor);
  const at = cursor?.at ?? now;
  const values: unknown[] = [now.toString(), at.toString()];
  const where = [OPEN_CONDITION];
  if (parameters.tranche !== undefined) {
    values.push(getAddress(parameters.tranche));
    where.push(`o.tranche = $${values.length}`);
  }
  if (parameters.maker !== undefined) {
    values.push(getAddress(parameters.maker));
    where.push(`o.maker = $${values.length}`);
  }
  const after: string[] = [];
  if (cursor !== undefined) {
    values.push(cursor.key, cursor.createdAt, cursor.hash);
    const n = values.length;
    after.push(
      `WHERE (b.book_key_n, b.created_at, b.hash) > ($${n - 2}::numeric, $${n - 1}::timestamptz, $${n})`,
    );
  }
  values.push(parameters.limit + 1);
  const rows = await context.prisma.$queryRawUnsafe<BookRow[]>(
    `SELECT b.*, b.book_key_n::text AS book_key FROM (
       SELECT ${ORDER_COLUMNS}, ${bookKeySql('$2::numeric')} AS book_key_n
       FROM sell_order o WHERE ${where.join(' AND ')}
     ) b ${after.join('')}
     ORDER BY b.book_key_n, b.created_at, b.hash LIMIT $${values.length}`,
    ...values,
  );
  const page = rows.slice(0, parameters.limit);
  return {
    items: page.map((row) => orderView(row, now, at)),
    nextCursor: rows.length > parameters.limit ? encodeBookCursor(page[page.length - 1], at) : null,
  };
}

// ------------------------------------------------------------------ cancel

/**
 * What an off-chain cancel leaves on the chain: whether the signed order can still be filled there (as
 * far as the indexer and the clock know: not cancelled or voided on-chain, not filled, not expired) and,
 * while it can, the `Marketplace.cancel(order)` transaction for the maker's wallet to send.
 */
export type OnChainCancel = {
  executable: boolean;
  message: string;
  cancel: { from: Address; to: Address; data: Hex; value: '0'; chainId: number } | null;
};

export type CancelledOrderView = OrderView & { onChain: OnChainCancel };

function onChainCancel(row: OrderRow, now: bigint): OnChainCancel {
  const executable =
    !row.cancelled_on_chain &&
    big(row.maker_counter) <= big(row.counter) &&
    big(row.filled) < big(row.sell_amount) &&
    big(row.expiry) > now;
  if (!executable) {
    return {
      executable,
      message: 'Removed from the book; the order can no longer be filled on-chain either.',
      cancel: null,
    };
  }
  const order = orderOf(row);
  return {
    executable,
    message:
      'Removed from the book only: the signed order stays executable on-chain (anyone holding it may ' +
      `still fill it until expiry ${row.expiry}) until the maker cancels it there. To cancel it on-chain, ` +
      "send `cancel` (Marketplace.cancel(order)) from the maker's wallet, or Marketplace.incrementCounter() " +
      'to void every order signed with the current counter.',
    cancel: {
      from: order.maker,
      ...cancelOrderCall({ marketplace: getAddress(row.marketplace), order }),
      value: '0',
      chainId: row.chain_id,
    },
  };
}

/**
 * The maker's signed off-chain cancel (EIP-712 `OrderCancel(bytes32 orderHash)` over the marketplace
 * domain): the order leaves the book. It stays valid on-chain (see the module comment): the answer says
 * so and carries the `Marketplace.cancel` call for the maker's wallet (`onChain`).
 */
export async function cancelOrder(
  context: Pick<OrderBookContext, 'prisma' | 'chainId' | 'marketplace'>,
  parameters: { hash: string; signature: Hex },
): Promise<CancelledOrderView> {
  const row = await findOrderRow(context.prisma, parameters.hash);
  if (row === null) throw new NotFoundError('Order', parameters.hash);
  const valid = await verifyTypedData({
    address: getAddress(row.maker),
    signature: parameters.signature,
    ...orderCancelTypedData({
      marketplace: getAddress(row.marketplace),
      chainId: row.chain_id,
      orderHash: row.hash as Hex,
    }),
  }).catch(() => false);
  if (!valid)
    throw failed('SIGNATURE_INVALID', "The signature is not the maker's OrderCancel over this order");
  const updated = await context.prisma.order.updateMany({
    where: { hash: row.hash, status: 'open' },
    data: { status: 'cancelled', cancelSignature: parameters.signature, cancelledAt: new Date() },
  });
  if (updated.count === 0)
    throw new ConflictError(`The order is already ${row.status}`, { details: { orderHash: row.hash } });
  const after = await findOrderRow(context.prisma, row.hash);
  if (after === null) throw new NotFoundError('Order', parameters.hash);
  const now = BigInt(Math.floor(Date.now() / 1000));
  return { ...orderView(after, now), onChain: onChainCancel(after, now) };
}

// ------------------------------------------------------------------ fills

export type SubmitFillParameters = {
  hash: string;
  intent: FillIntent;
  signature: Hex;
  /** An ERC-2612 permit of the pay token to the marketplace, signed by the taker. */
  permit?: { value: bigint; deadline: bigint; signature: Hex };
};

/**
 * Tranche-token units of an order ($1) taken by fills not on-chain yet (the chain's `filled` counts
 * the mined ones): each pending fill row but $2 counts once, through its relay row found by
 * idempotency key (also when `relay_tx_id` was never written), while the relay row is still pending
 * (any status but mined, reverted, failed: a later relayer may add some), or while it has no relay row
 * and its intent's deadline is not past chain time $3 (after it, nothing can relay it any more).
 */
const PENDING_FILLS_SQL = `
  SELECT COALESCE(sum(f.amount), 0)::text AS pending
  FROM order_fill f LEFT JOIN relay_tx r ON r.idempotency_key = f.idempotency_key
  WHERE f.order_hash = $1 AND f.status = 'pending' AND f.id::text <> $2
    AND ((r.id IS NULL AND f.deadline >= $3::numeric) OR r.status::text NOT IN ('mined', 'reverted', 'failed'))`;

export const fillIdempotencyKey = (orderHash: string, taker: Address, nonce: bigint) =>
  `fill:${orderHash.toLowerCase()}:${getAddress(taker)}:${nonce}`;

/** The `order_fill` row of a taker's signed intent as stored before it is relayed. */
export function fillRowData(id: string, orderHash: string, intent: FillIntent, signature: Hex) {
  return {
    id,
    orderHash: orderHash.toLowerCase(),
    taker: getAddress(intent.taker),
    amount: intent.amount.toString(),
    maxCost: intent.maxCost.toString(),
    nonce: intent.nonce.toString(),
    deadline: intent.deadline.toString(),
    signature,
    idempotencyKey: fillIdempotencyKey(orderHash, intent.taker, intent.nonce),
  };
}

type FillRow = NonNullable<Awaited<ReturnType<PrismaClient['orderFill']['findUnique']>>>;

function fillView(row: FillRow) {
  return {
    id: row.id,
    orderHash: row.orderHash,
    taker: row.taker,
    amount: row.amount.toString(),
    maxCost: row.maxCost.toString(),
    nonce: row.nonce.toString(),
    status: row.status,
    txHash: row.txHash,
    cost: row.cost?.toString() ?? null,
    fee: row.fee?.toString() ?? null,
    blockNumber: row.blockNumber?.toString() ?? null,
    failure: row.failureCode === null ? null : { code: row.failureCode, reason: row.failureReason ?? '' },
    createdAt: row.createdAt.toISOString(),
    settledAt: row.settledAt?.toISOString() ?? null,
  };
}
export type FillView = ReturnType<typeof fillView>;

/**
 * Checks a taker's signed fill intent, reserves its amount and relays `fillWithSig` (202 `{ id, status,
 * txHash }`). Rejected before anything is stored or sent: NOT_FOUND, SIGNATURE_INVALID, ORDER_EXPIRED
 * (order or intent), VALIDATION_FAILED (intent for another order, cost above maxCost, partial fill of
 * an all-or-nothing order, balance or allowance short; a Dutch order is priced at the pending block's
 * time, see `pendingTime`), FORBIDDEN (order reserved for another taker),
 * NOT_ALLOWLISTED, NONCE_INVALID (intent nonce used), CONFLICT (order not open, nothing is left
 * counting pending fills: reason OrderOverfilled, or the marketplace fee is above the order's maxFeeBps:
 * reason OrderFeeAboveMax), and any revert of the relayer's simulation (decoded,
 * e.g. OrderOverfilled -> CONFLICT). An amount larger than what is left takes what is left: the fill's
 * `amount` is what it will take (priced, checked against maxCost, balance and allowance on that), and
 * once mined the amount of its OrderFilled event. Resubmitting the same signed intent answers the fill
 * already recorded.
 */
export async function submitFill(context: OrderBookContext, parameters: SubmitFillParameters) {
  const { prisma, publicClient, marketplace, chainId } = context;
  const { intent, signature } = parameters;
  const row = await findOrderRow(prisma, parameters.hash);
  if (row === null) throw new NotFoundError('Order', parameters.hash);
  const order = orderOf(row);
  const orderHash = row.hash as Hex;
  if (intent.orderHash.toLowerCase() !== orderHash) {
    throw new ValidationFailedError('The intent names another order', {
      details: [{ path: 'body.intent.orderHash', message: `must be this order's hash ${orderHash}` }],
    });
  }
  const key = fillIdempotencyKey(orderHash, intent.taker, intent.nonce);
  const existing = await prisma.orderFill.findUnique({ where: { idempotencyKey: key } });
  /** The same signed intent stored by a process that died before relaying it: checked and relayed now. */
  let resumed: FillRow | null = null;
  if (existing !== null && existing.signature.toLowerCase() === signature.toLowerCase()) {
    if (existing.relayTxId !== null) return { replayed: true, fill: fillView(existing) };
    // relayed by a process that died before writing relayTxId: the relay row of the key is this fill's
    const relay = await prisma.relayTx.findUnique({ where: { idempotencyKey: key } });
    if (relay !== null) {
      await prisma.orderFill.updateMany({
        where: { id: existing.id, relayTxId: null },
        data: { relayTxId: relay.id, txHash: relay.txHash },
      });
      const linked = await prisma.orderFill.findUniqueOrThrow({ where: { id: existing.id } });
      return { replayed: true, fill: fillView(linked) };
    }
    if (existing.status === 'pending') resumed = existing;
  }
  const valid = await verifyTypedData({
    address: intent.taker,
    signature,
    ...fillIntentTypedData({ marketplace, chainId, intent }),
  }).catch(() => false);
  if (!valid) {
    throw failed(
      'SIGNATURE_INVALID',
      `The signature is not the taker's over this fill intent on chain ${chainId}`,
    );
  }
  if (existing !== null && resumed === null)
    throw failed('NONCE_INVALID', `The taker already used nonce ${intent.nonce} with this API`);

  const now = await chainNow(publicClient);
  const state = stateOf(row, now);
  if (state === 'expired') throw failed('ORDER_EXPIRED', `The order expired at ${order.expiry}`);
  if (state !== 'open')
    throw new ConflictError(`The order is ${state}`, { details: { orderHash, status: state } });
  if (intent.deadline < now) {
    throw failed('ORDER_EXPIRED', `The fill intent expired at ${intent.deadline} (chain time ${now})`);
  }
  if (!isAddressEqual(order.taker, zeroAddress) && !isAddressEqual(order.taker, intent.taker)) {
    throw failed('FORBIDDEN', `The order is reserved for ${order.taker}`);
  }
  if (!order.partialFill && intent.amount !== order.sellAmount) {
    throw new ValidationFailedError('The order must be filled whole', {
      details: [
        {
          path: 'body.intent.amount',
          message: `must be the order's sellAmount ${order.sellAmount}`,
          reason: 'OrderPartialFillNotAllowed',
        },
      ],
    });
  }
  const portfolio = await prisma.portfolio.findUnique({
    where: { id: row.portfolio_id },
    select: { portfolioAddress: true },
  });
  if (portfolio?.portfolioAddress != null) {
    await assertTradable(publicClient, {
      portfolio: getAddress(portfolio.portfolioAddress),
      token: order.tranche,
      orderHash,
    });
  }
  const { terms, feeBps, filled, cancelled, counter, nonceUsed, balance, allowance } = await readFillSnapshot(
    publicClient,
    {
      marketplace,
      portfolio: getAddress(portfolio?.portfolioAddress ?? zeroAddress),
      order,
      orderHash,
      intent,
    },
  );
  if (cancelled || counter !== order.counter) {
    throw new ConflictError('The order was cancelled on-chain', {
      details: {
        orderHash,
        reason: cancelled ? 'OrderWasCancelled' : 'OrderCounterStale',
      },
    });
  }
  // what the chain has left; pending fills are counted under the order lock below
  if (filled >= order.sellAmount) throw overfilled(orderHash, intent.amount, filled, 0n);
  if (feeBps > order.maxFeeBps) {
    throw new ConflictError(
      `The marketplace fee is now ${feeBps} bps, above the ${order.maxFeeBps} bps the maker signed for`,
      {
        details: {
          orderHash,
          reason: 'OrderFeeAboveMax',
          feeBps,
          maxFeeBps: order.maxFeeBps,
        },
      },
    );
  }
  // a Dutch order is priced at the pending block's time: its price never rises, so a fill mined then or
  // later costs at most this (the chain checks maxCost against the price at the mined block)
  const priceTime = decays(order) ? await pendingTime(publicClient, now) : now;
  const cost = fillCost(order, minBig(intent.amount, order.sellAmount - filled), priceTime);
  if (cost > intent.maxCost) {
    throw new ValidationFailedError(`The fill costs ${cost}, more than maxCost ${intent.maxCost}`, {
      details: [
        {
          path: 'body.intent.maxCost',
          message: `must be at least the cost ${cost}`,
          reason: 'IntentCostExceedsMax',
        },
      ],
    });
  }
  const allowed = await readIsAllowed(publicClient, { registry: terms.registry, account: intent.taker });
  if (!allowed)
    throw failed('NOT_ALLOWLISTED', `The taker ${intent.taker} is not allowlisted (or is frozen)`);
  if (nonceUsed) throw failed('NONCE_INVALID', `The taker already used nonce ${intent.nonce} on-chain`);
  if (balance < cost) {
    throw new ValidationFailedError(
      `The taker holds ${balance} of the pay token, less than the cost ${cost}`,
      {
        details: [
          {
            path: 'body.intent.amount',
            message: 'costs more than the taker balance',
            reason: 'INSUFFICIENT_BALANCE',
          },
        ],
      },
    );
  }
  let permit: PermitData | undefined;
  if (parameters.permit !== undefined) {
    permit = await checkedPermit(context, order.payToken, intent.taker, cost, now, parameters.permit);
  } else if (allowance < cost) {
    throw new ValidationFailedError(
      `The taker approved the marketplace for ${allowance}, less than the cost ${cost}`,
      {
        details: [
          {
            path: 'body.permit',
            message: 'approve the marketplace or send a permit for the cost',
            reason: 'INSUFFICIENT_ALLOWANCE',
          },
        ],
      },
    );
  }
  // Reserve what the fill will take, min(amount, what is left): the order row lock serialises fills of
  // one order; pending fills count as taken (a resumed fill is already stored: it counts against the
  // others, not against itself). Its cost is at most the cost checked above.
  const id = resumed?.id ?? randomUUID();
  const taken = await prisma.$transaction(async (tx) => {
    await tx.$queryRawUnsafe('SELECT hash FROM sell_order WHERE hash = $1 FOR UPDATE', orderHash);
    const [{ pending }] = await tx.$queryRawUnsafe<{ pending: string }[]>(
      PENDING_FILLS_SQL,
      orderHash,
      id,
      now.toString(),
    );
    const remaining = order.sellAmount - filled - big(pending);
    if (remaining <= 0n) throw overfilled(orderHash, intent.amount, filled, big(pending));
    const take = minBig(intent.amount, remaining);
    if (resumed !== null) {
      await tx.orderFill.update({ where: { id }, data: { amount: take.toString() } });
    } else {
      await tx.orderFill.create({
        data: { ...fillRowData(id, orderHash, intent, signature), amount: take.toString() },
      });
    }
    return take;
  });

  let relayTx: RelayTxView;
  try {
    relayTx = await context.relayer.submit({
      idempotencyKey: key,
      kind: 'fillWithSig',
      to: marketplace,
      abi: marketplaceAbi,
      functionName: 'fillWithSig',
      // a Dutch order's cost depends on the clock: simulate at the block the fill would be mined in
      ...(decays(order) ? { blockTag: 'pending' as const } : {}),
      args: fillWithSigArgs({
        order,
        makerSignature: row.signature as Hex,
        intent,
        takerSignature: signature,
        permit,
      }),
      refId: id,
    });
  } catch (error) {
    // the simulation reverted (nothing sent) or the relayer could not record it: no fill
    await prisma.orderFill.delete({ where: { id } }).catch(() => {});
    if (isChainError(error) && error.errorName === 'OrderOverfilled') {
      throw overfilled(orderHash, intent.amount, order.sellAmount, 0n, error);
    }
    throw isChainError(error) || error instanceof BaseError
      ? error
      : toChainError(error, { contract: 'Marketplace', functionName: 'fillWithSig' });
  }
  const updated = await prisma.orderFill.update({
    where: { id },
    data: { relayTxId: relayTx.id, txHash: relayTx.txHash },
  });
  return { replayed: false, taken, fill: fillView(updated) };
}

const minBig = (a: bigint, b: bigint) => (a < b ? a : b);

/** Nothing is left of the order: `filled` on-chain plus `pending` fills not on-chain yet take it all. */
function overfilled(orderHash: string, amount: bigint, filled: bigint, pending: bigint, cause?: unknown) {
  return new ConflictError(
    `Nothing is left of the order to fill (filled ${filled}, pending ${pending}): the fill of ${amount} takes nothing`,
    {
      cause,
      details: {
        reason: 'OrderOverfilled',
        orderHash,
        amount: amount.toString(),
        remaining: '0',
        filled: filled.toString(),
        pending: pending.toString(),
      },
    },
  );
}

/** The permit as `fillWithSig` takes it, after checking its value, deadline and signature. */
async function checkedPermit(
  context: OrderBookContext,
  token: Address,
  owner: Address,
  cost: bigint,
  now: bigint,
  permit: { value: bigint; deadline: bigint; signature: Hex },
): Promise<PermitData> {
  if (permit.value < cost) {
    throw new ValidationFailedError(`The permit value ${permit.value} is less than the cost ${cost}`, {
      details: [{ path: 'body.permit.value', message: `must be at least the cost ${cost}` }],
    });
  }
  if (permit.deadline < now) throw failed('ORDER_EXPIRED', `The permit expired at ${permit.deadline}`);
  const domain = await readPermitDomain(context.publicClient, { token, owner });
  const valid = await verifyTypedData({
    address: owner,
    signature: permit.signature,
    ...permitTypedData({
      token,
      chainId: context.chainId,
      name: domain.name,
      version: domain.version,
      owner,
      spender: context.marketplace,
      value: permit.value,
      nonce: domain.nonce,
      deadline: permit.deadline,
    }),
  }).catch(() => false);
  if (!valid)
    throw failed('SIGNATURE_INVALID', "The permit is not the taker's over the current permit nonce");
  return permitDataFromSignature(permit.signature, { value: permit.value, deadline: permit.deadline });
}

/** As `relayFailure`, but a decoded revert is reported by its error name (what fill clients match on). */
function failureOf(
  relay: { errorName?: string | null },
  failure: { code: string; reason: string },
): { code: string; reason: string } {
  return relay.errorName ? { code: failure.code, reason: relay.errorName } : failure;
}

/**
 * A fill with its status brought up to date by the settlement state machine (core/trading/settlement.ts):
 * `confirmed` (stored) once the indexer's OrderFilled event of its transaction is final, `mined`
 * while it is not (a reorg that removes the event sends it back to `pending`), `failed` (stored) from
 * a reverted-and-final or abandoned relayer row, else `pending`. The relayer row is found by the
 * fill's idempotency key when `relayTxId` was never written (a crash right after the relay).
 */
export async function getFill(
  context: Pick<OrderBookContext, 'prisma' | 'chainId'>,
  orderHash: string,
  id: string,
) {
  const { prisma } = context;
  const row = /^[0-9a-f-]{36}$/i.test(id) ? await prisma.orderFill.findUnique({ where: { id } }) : null;
  if (row === null || row.orderHash !== orderHash.toLowerCase()) throw new NotFoundError('Fill', id);
  if (row.status !== 'pending') return fillView(row);
  const settled = await settleRelayed(row, {
    prisma,
    chainId: context.chainId,
    findEvent: ({ txHashes }) =>
      txHashes.length === 0
        ? Promise.resolve(null)
        : prisma.orderFilledEvent.findFirst({
            where: {
              chainId: context.chainId,
              orderHash: row.orderHash,
              taker: row.taker,
              // the event names the intent's nonce: only this intent's fill settles this row (rows
              // indexed before OrderFilled carried a nonce have none)
              OR: [{ nonce: row.nonce }, { nonce: null }],
              txHash: { in: txHashes, mode: 'insensitive' },
            },
            orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
          }),
  });
  const { relay } = settled;
  if (relay === null) return fillView(row);
  const link = { relayTxId: relay.id };
  if (settled.state === 'confirmed' && settled.event !== null) {
    const event = settled.event;
    await prisma.orderFill.updateMany({
      where: { id, status: 'pending' },
      data: {
        ...link,
        status: 'confirmed',
        txHash: event.txHash,
        amount: event.amount,
        cost: event.cost,
        fee: event.fee,
        blockNumber: event.blockNumber,
        settledAt: new Date(),
      },
    });
  } else if (settled.state === 'failed') {
    const failure = failureOf(relay, settled.failure);
    await prisma.orderFill.updateMany({
      where: { id, status: 'pending' },
      data: {
        ...link,
        status: 'failed',
        failureCode: failure.code,
        failureReason: failure.reason,
        settledAt: new Date(),
        txHash: relay.txHash,
      },
    });
  } else if (row.relayTxId !== relay.id || row.txHash !== relay.txHash) {
    await prisma.orderFill.updateMany({
      where: { id, status: 'pending' },
      data: { ...link, txHash: relay.txHash },
    });
  }
  const fresh = (await prisma.orderFill.findUnique({ where: { id } })) as FillRow;
  const view = fillView(fresh);
  if (settled.state !== 'mined' || fresh.status !== 'pending') return view;
  // mined, not final yet: what the index has so far
  const event = settled.event;
  return {
    ...view,
    status: 'mined' as const,
    amount: event?.amount.toString() ?? view.amount,
    txHash: event?.txHash ?? relay.txHash,
    cost: event?.cost.toString() ?? null,
    fee: event?.fee.toString() ?? null,
    blockNumber: settled.blockNumber?.toString() ?? null,
  };
}

// ------------------------------------------------------------------ trades

export type ListTradesParameters = { tranche?: Address; account?: Address; limit: number; cursor?: string };

/** Indexed OrderFilled events (the chain's trades), newest first; `account` matches maker or taker. */
export async function listTrades(
  context: Pick<OrderBookContext, 'prisma' | 'chainId'>,
  parameters: ListTradesParameters,
) {
  const conditions: object[] = [{ chainId: context.chainId }];
  if (parameters.tranche !== undefined) conditions.push({ tranche: getAddress(parameters.tranche) });
  if (parameters.account !== undefined) {
    const account = getAddress(parameters.account);
    conditions.push({ OR: [{ maker: account }, { taker: account }] });
  }
  if (parameters.cursor !== undefined) {
    let block: bigint;
    let logIndex: number;
    let txHash: string;
    try {
      const [b, l, h] = JSON.parse(Buffer.from(parameters.cursor, 'base64url').toString('utf8'));
      block = BigInt(b);
      logIndex = Number(l);
      txHash = String(h);
      // within the columns (bigint block_number, integer log_index), or the query fails (a 500)
      if (block < 0n || block > INT8_MAX) throw new Error('bad');
      if (!Number.isInteger(logIndex) || logIndex < 0 || logIndex > INT4_MAX) throw new Error('bad');
      if (!/^0x[0-9a-fA-F]{64}$/.test(txHash)) throw new Error('bad');
    } catch {
      throw new InvalidCursorError();
    }
    conditions.push({
      OR: [
        { blockNumber: { lt: block } },
        { blockNumber: block, logIndex: { lt: logIndex } },
        { blockNumber: block, logIndex, txHash: { lt: txHash } },
      ],
    });
  }
  const rows = await context.prisma.orderFilledEvent.findMany({
    where: { AND: conditions },
    orderBy: [{ blockNumber: 'desc' }, { logIndex: 'desc' }, { txHash: 'desc' }],
    take: parameters.limit + 1,
  });
  const page = rows.slice(0, parameters.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((e) => ({
      orderHash: e.orderHash,
      maker: e.maker,
      taker: e.taker,
      tranche: e.tranche,
      amount: e.amount.toString(),
      cost: e.cost.toString(),
      fee: e.fee.toString(),
      nonce: e.nonce?.toString() ?? null,
      txHash: e.txHash,
      logIndex: e.logIndex,
      blockNumber: e.blockNumber.toString(),
    })),
    nextCursor:
      rows.length > parameters.limit
        ? Buffer.from(JSON.stringify([last.blockNumber.toString(), last.logIndex, last.txHash])).toString(
            'base64url',
          )
        : null,
  };
}
