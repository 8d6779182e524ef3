import { maxUint256 } from 'viem';
import { z } from 'zod';
import { addressSchema, limitSchema, pageOf, settlementStatusSchema } from './common.ts';

/** A uint256 as a decimal string (0 allowed). */
export const uint256Schema = z
  .string()
  .regex(/^(0|[1-9]\d{0,77})$/, 'must be a non-negative integer as a decimal string')
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= maxUint256, 'must fit in uint256')
  .meta({ example: '1700000000' });

/** A positive uint256 as a decimal string (base units). */
export const positiveUint256Schema = z
  .string()
  .regex(/^[1-9]\d{0,77}$/, 'must be a positive integer as a decimal string (base units)')
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= maxUint256, 'must fit in uint256')
  .meta({ example: '1000000000000000000000' });

/** A uint64 as a decimal string (unix seconds). */
export const uint64Schema = z
  .string()
  .regex(/^(0|[1-9]\d{0,19})$/, 'must be a non-negative integer as a decimal string')
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) < 2n ** 64n, 'must fit in uint64')
  .meta({ example: '1700000000' });

const bpsSchema = z.number().int().min(0).max(65_535);

export const signatureSchema = z
  .string()
  .regex(
    /^0x([0-9a-fA-F]{130}|[0-9a-fA-F]{128})$/,
    'must be a 65-byte (or 64-byte compact) 0x-hex signature',
  );

export const bytes32Schema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex value')
  .transform((v) => v.toLowerCase());

export const orderBodySchema = z.object({
  maker: addressSchema,
  taker: addressSchema.describe('0x000…0 lets anyone fill'),
  tranche: addressSchema.describe('tranche-token address'),
  payToken: addressSchema.describe("the portfolio's pay token"),
  sellAmount: positiveUint256Schema.describe('tranche-token base units on sale'),
  price: positiveUint256Schema.describe('pay-token base units for the whole sellAmount'),
  expiry: uint256Schema.describe('unix seconds'),
  salt: uint256Schema,
  counter: uint256Schema.describe("the maker's current Marketplace.counter"),
  partialFill: z.boolean(),
  maxFeeBps: z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe(
      "the highest Marketplace fee (bps) the maker accepts, signed in the Order (uint16); omitted = the marketplace's current fee (feeBps()), which the maker must then have signed",
    ),
  startPriceBps: bpsSchema
    .optional()
    .describe(
      'Dutch auction (uint16, signed): the total price at decayStart and before, in bps of `price` (10000 = price); 0 or omitted without decay',
    ),
  endPriceBps: bpsSchema
    .optional()
    .describe(
      'Dutch auction (uint16, signed): the total price at decayEnd and after, in bps of `price`; at most startPriceBps (else 422, reason OrderDecayPriceRises)',
    ),
  decayStart: uint64Schema
    .optional()
    .describe(
      'Dutch auction (uint64 unix seconds, signed): when the price starts to fall; 0 or omitted without decay',
    ),
  decayEnd: uint64Schema
    .optional()
    .describe(
      'Dutch auction (uint64 unix seconds, signed): when the price reaches the end price; 0 or omitted = no decay (then the other three must be 0); before decayStart: 422, reason OrderDecayEndsBeforeStart',
    ),
});

export const createOrderBodySchema = z.object({
  order: orderBodySchema,
  signature: signatureSchema.describe('EIP-712 signature of the Order over the "NPL Marketplace" v1 domain'),
});

export const orderSchema = z
  .object({
    hash: z.string().describe('EIP-712 digest of the order = Marketplace.hashOrder'),
    status: z.enum(['open', 'filled', 'cancelled', 'expired']),
    chainId: z.number().int(),
    marketplace: z.string(),
    portfolioId: z.string(),
    trancheId: z.string(),
    order: z.object({
      maker: z.string(),
      taker: z.string(),
      tranche: z.string(),
      payToken: z.string(),
      sellAmount: z.string(),
      price: z.string(),
      expiry: z.string(),
      salt: z.string(),
      counter: z.string(),
      partialFill: z.boolean(),
      maxFeeBps: z.number().int().describe('the highest Marketplace fee (bps) the maker signed for'),
      startPriceBps: z.number().int(),
      endPriceBps: z.number().int(),
      decayStart: z.string(),
      decayEnd: z.string().describe('0: no decay'),
    }),
    currentPrice: z
      .string()
      .describe(
        'pay-token base units for the whole sellAmount at priceAsOf: `price` without decay, else Marketplace.priceAt(order, priceAsOf); the book sorts by currentPrice / sellAmount',
      ),
    priceAsOf: z
      .string()
      .describe(
        'unix seconds currentPrice is for: the time of the query (the first page of a book walk for every later page)',
      ),
    signature: z.string(),
    filled: z.string().describe('tranche-token base units filled (indexed OrderFilled events)'),
    remaining: z.string(),
    createdAt: z.string(),
    cancelledAt: z.string().nullable(),
  })
  .meta({ id: 'Order' });

const hexDataSchema = z.string().regex(/^0x[0-9a-f]*$/);

export const cancelledOrderSchema = orderSchema
  .extend({
    onChain: z
      .object({
        executable: z
          .boolean()
          .describe(
            'true while the signed order can still be filled on-chain (not cancelled or voided there, not filled, not expired)',
          ),
        message: z.string(),
        cancel: z
          .object({
            from: z.string().describe("the maker: Marketplace.cancel only accepts the maker's own call"),
            to: z.string().describe('the Marketplace'),
            data: hexDataSchema.describe('calldata of Marketplace.cancel(order)'),
            value: z.literal('0'),
            chainId: z.number().int(),
          })
          .nullable()
          .describe(
            "the transaction the maker's wallet sends to cancel the order on-chain; null once not executable",
          ),
      })
      .describe(
        'the book no longer lists the order, but the chain only forgets it once it is cancelled there',
      ),
  })
  .meta({ id: 'CancelledOrder' });

export const listOrdersQuerySchema = z.object({
  tranche: addressSchema.optional().describe('tranche-token address'),
  maker: addressSchema.optional(),
  limit: limitSchema(100, 20),
  cursor: z.string().max(500).optional(),
});

export const orderPageSchema = pageOf(orderSchema);

export const orderHashParamsSchema = z.object({ hash: z.string().max(100) });
export const fillParamsSchema = z.object({ hash: z.string().max(100), id: z.string().max(100) });

export const cancelOrderBodySchema = z.object({
  signature: signatureSchema.describe(
    "the maker's EIP-712 signature of OrderCancel(bytes32 orderHash) over the marketplace domain",
  ),
});

export const createFillBodySchema = z.object({
  intent: z.object({
    orderHash: bytes32Schema,
    taker: addressSchema,
    amount: positiveUint256Schema.describe(
      'tranche-token base units to buy at most: a fill larger than what is left takes what is left',
    ),
    maxCost: uint256Schema.describe('pay-token base units at most (fee included)'),
    nonce: uint256Schema,
    deadline: uint256Schema.describe('unix seconds'),
  }),
  signature: signatureSchema.describe('EIP-712 signature of the FillIntent by the taker'),
  permit: z
    .object({ value: uint256Schema, deadline: uint256Schema, signature: signatureSchema })
    .optional()
    .describe('ERC-2612 permit of the pay token to the marketplace; omit when already approved'),
});

export const fillAcceptedSchema = z.object({
  id: z.string(),
  status: z.enum(['pending', 'confirmed', 'failed']),
  amount: z
    .string()
    .describe(
      'tranche-token base units the fill will take: min(intent amount, what is left counting pending fills)',
    ),
  txHash: z.string().nullable(),
});

export const fillSchema = z
  .object({
    id: z.string(),
    orderHash: z.string(),
    taker: z.string(),
    amount: z
      .string()
      .describe(
        'what the fill takes: reserved when accepted, the amount of its OrderFilled event once mined',
      ),
    maxCost: z.string(),
    nonce: z.string(),
    status: settlementStatusSchema,
    txHash: z.string().nullable(),
    cost: z.string().nullable(),
    fee: z.string().nullable(),
    blockNumber: z.string().nullable(),
    failure: z.object({ code: z.string(), reason: z.string() }).nullable(),
    createdAt: z.string(),
    settledAt: z.string().nullable(),
  })
  .meta({ id: 'OrderFill' });

export const listTradesQuerySchema = z.object({
  tranche: addressSchema.optional(),
  account: addressSchema.optional().describe('maker or taker'),
  limit: limitSchema(100, 20),
  cursor: z.string().max(500).optional(),
});

export const tradeSchema = z
  .object({
    orderHash: z.string(),
    maker: z.string(),
    taker: z.string(),
    tranche: z.string(),
    amount: z.string(),
    cost: z.string(),
    fee: z.string(),
    nonce: z
      .string()
      .nullable()
      .describe(
        "the taker's fill-intent nonce; 2^256 - 1 (DIRECT_FILL_NONCE) for a direct Marketplace.fill; null if indexed before the event carried it",
      ),
    txHash: z.string(),
    logIndex: z.number().int(),
    blockNumber: z.string(),
  })
  .meta({ id: 'Trade' });

export const tradePageSchema = pageOf(tradeSchema);
