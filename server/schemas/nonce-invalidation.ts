import { z } from 'zod';
import { addressSchema, uintStringSchema } from './common.ts';
import { signatureSchema } from './order.ts';

export const createNonceInvalidationBodySchema = z.object({
  contract: z
    .enum(['portfolio', 'marketplace'])
    .describe(
      '`portfolio`: a purchase-intent nonce (buyWithSig); `marketplace`: a fill-intent nonce (fillWithSig)',
    ),
  portfolioId: z
    .string()
    .max(100)
    .optional()
    .describe("the portfolio of the purchase intent; required when contract is 'portfolio'"),
  account: addressSchema.describe('the intent signer (buyer or taker) whose nonce is cancelled'),
  nonce: uintStringSchema.describe('the intent nonce to cancel'),
  deadline: uintStringSchema.describe(
    'unix seconds (chain time) after which the signed invalidation is void',
  ),
  signature: signatureSchema.describe(
    'the account’s EIP-712 signature of NonceInvalidation(address account,uint256 nonce,uint256 deadline) ' +
      'on the contract’s domain ("NPL Portfolio" or "NPL Marketplace", version "1")',
  ),
});

export const nonceInvalidationAcceptedSchema = z
  .object({
    id: z.string().describe('the relay transaction'),
    contract: z.enum(['portfolio', 'marketplace']),
    verifyingContract: z.string(),
    account: z.string(),
    nonce: z.string(),
    status: z.literal('pending'),
    txHash: z.string(),
  })
  .meta({ id: 'NonceInvalidationAccepted' });
