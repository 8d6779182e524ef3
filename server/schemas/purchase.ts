import { maxUint256 } from 'viem';
import { z } from 'zod';
import { addressSchema, settlementStatusSchema } from './common.ts';

/** Tranche-token base units: a positive integer as a decimal string, at most uint256. */
export const tokenAmountSchema = z
  .string()
  .regex(/^[1-9]\d{0,77}$/, 'must be a positive integer as a decimal string (tranche-token base units)')
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= maxUint256, 'must fit in uint256')
  .meta({ example: '1000000000000000000000' });

const signatureSchema = z
  .string()
  .regex(
    /^0x([0-9a-fA-F]{130}|[0-9a-fA-F]{128})$/,
    'must be a 65-byte (or 64-byte compact) 0x-hex signature',
  );

export const trancheParamsSchema = z.object({ id: z.string().max(100) });

export const createQuoteBodySchema = z.object({
  buyer: addressSchema,
  amount: tokenAmountSchema.describe('tranche-token base units; a multiple of the portfolio scale'),
});

const typedDataSchema = z
  .record(z.string(), z.unknown())
  .describe(
    'EIP-712 typed data `{ domain, types, primaryType, message }` (uint256 values as decimal strings)',
  );

export const quoteSchema = z
  .object({
    id: z.string(),
    trancheId: z.string(),
    chainId: z.number().int(),
    portfolio: z
      .string()
      .describe('the Portfolio contract: verifying contract of the intent, permit spender'),
    buyer: z.string(),
    amount: z.string().describe('tranche-token base units'),
    cost: z.string().describe('pay-token base units (Portfolio.quote); the intent maxCost and permit value'),
    payToken: z.string(),
    nonce: z.string().describe('the intent nonce (random uint256)'),
    deadline: z.string().describe('unix seconds; the intent and permit deadline'),
    expiresAt: z.iso.datetime(),
    typedData: z.object({
      purchase: typedDataSchema.describe('EIP-712 PurchaseIntent on the Portfolio domain'),
      permit: typedDataSchema.describe('ERC-2612 permit of exactly `cost` to the Portfolio'),
      invalidation: typedDataSchema.describe(
        'EIP-712 NonceInvalidation of this intent’s nonce (deadline: the quote’s); sign it and POST ' +
          '/v1/intents/invalidations to cancel the signed intent before it is relayed',
      ),
    }),
  })
  .meta({ id: 'Quote' });

export const createPurchaseBodySchema = z.object({
  quoteId: z.string().max(100),
  purchaseSignature: signatureSchema.describe('the buyer’s signature of typedData.purchase'),
  permitSignature: signatureSchema
    .optional()
    .describe('the buyer’s signature of typedData.permit; omit when the cost is already approved'),
});

export const purchaseAcceptedSchema = z.object({
  id: z.string(),
  status: z.literal('pending'),
  txHash: z.string(),
});

export const purchaseSchema = z
  .object({
    id: z.string(),
    quoteId: z.string(),
    trancheId: z.string(),
    buyer: z.string(),
    status: settlementStatusSchema,
    amount: z.string().describe('tranche-token base units asked for'),
    maxCost: z.string().describe('pay-token base units signed for'),
    txHash: z.string().nullable(),
    tokens: z
      .string()
      .nullable()
      .describe('tranche-token base units received (confirmed; mined once indexed)'),
    cost: z.string().nullable().describe('pay-token base units paid (confirmed; mined once indexed)'),
    blockNumber: z.string().nullable(),
    reason: z.string().nullable().describe('API code of the failure, e.g. SOLD_OUT (failed)'),
    revert: z.string().nullable().describe('the decoded revert, e.g. OfferingSoldOut (failed)'),
    createdAt: z.iso.datetime(),
    settledAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Purchase' });

export const investorParamsSchema = z.object({ address: addressSchema });

export const allowlistBodySchema = z.object({
  expiresAt: z.iso.datetime({ offset: true }).describe('until when the investor is allowed (future)'),
});

export const allowlistAcceptedSchema = z.object({
  address: z.string(),
  expiresAt: z.iso.datetime(),
  relayTx: z.object({
    id: z.string(),
    status: z
      .enum(['pending', 'mined', 'confirmed', 'failed'])
      .describe(
        'the allowlist transaction as settled: pending, mined (its Allowlisted event not final yet; a reorg may send it back to pending), confirmed, or failed (reverted at a final block, or given up)',
      ),
    txHash: z.string(),
  }),
  investorRecord: z
    .literal('on-receipt')
    .describe('the investor table is updated from the registry each time the relayed transaction is mined'),
});
