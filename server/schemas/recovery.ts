import type { FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { maxUint256 } from 'viem';
import { z } from 'zod';
import { type FieldError, ValidationFailedError } from '../../core/platform/errors/index.ts';
import { settlementStatusSchema, uintStringSchema } from './common.ts';

/**
 * Routes declared with `attachValidation: true` call this first: a request that failed its zod
 * schemas answers 422 VALIDATION_FAILED with `details: [{ path: 'body.amount', message }]` (the
 * recoveries, payouts and claims routes answer 422 for bad input, after the role check).
 */
export function assertValid(request: FastifyRequest): void {
  const error = request.validationError;
  if (error === undefined) return;
  const details: FieldError[] = hasZodFastifySchemaValidationErrors(error)
    ? error.validation.map((v: { instancePath: string; message?: string }) => ({
        path: [error.validationContext, ...v.instancePath.replace(/^\//, '').split('/').filter(Boolean)]
          .filter(Boolean)
          .join('.'),
        message: v.message ?? 'is invalid',
      }))
    : [{ path: error.validationContext ?? '', message: error.message }];
  throw new ValidationFailedError('Request validation failed', { statusCode: 422, details });
}

/** Pay-token base units, a positive integer as a decimal string (uint256). */
export const payAmountSchema = z
  .string()
  .regex(/^[1-9]\d{0,77}$/, 'must be a positive integer as a decimal string (pay-token base units)')
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= maxUint256, 'must fit in uint256')
  .meta({ example: '1500000000' });

const reportSha256Schema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (the SHA-256 of the servicer report)')
  // the Portfolio does not track the zero hash ("no report"), so it could be deposited twice
  .refine((value) => !/^0{64}$/.test(value), 'the zero hash is not a report')
  .describe('SHA-256 of the servicer report; deposited as the on-chain reportHash; one recovery per report');

/** An EOA signature (65 or 64 bytes) or an ERC-1271 contract's signature (up to 2 KiB). */
const servicerSignatureSchema = z
  .string()
  .regex(/^0x(?:[0-9a-fA-F]{2}){64,2048}$/, 'must be a 0x-hex signature of 64 to 2048 bytes');

const reportIdSchema = z
  .uuid()
  .describe(
    'a remittance report of this portfolio (POST /v1/portfolios/:id/remittance-reports) instead of ' +
      '`reportSha256`: `amount` must equal its total, its SHA-256 is the reportHash',
  );

/** Pay-token base units, a non-negative integer as a decimal string (uint256): a final recovery may be 0. */
const depositAmountSchema = z
  .string()
  .regex(/^(?:0|[1-9]\d{0,77})$/, 'must be a non-negative integer as a decimal string (pay-token base units)')
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= maxUint256, 'must fit in uint256')
  .meta({ example: '1500000000' });

const finalSchema = z
  .boolean()
  .optional()
  .describe(
    'the final recovery (Portfolio.depositFinalRecoveryWithSig, waterfall spec v2): only once the ' +
      'servicer’s resolution proposal is executable (POST /v1/portfolios/:id/resolution); releases the ' +
      'reserve, writes off what is left and resolves the portfolio; `amount` may be 0. The servicer signs ' +
      'FinalDepositIntent, a distinct type from DepositIntent',
  );

/**
 * Exactly one of `reportSha256` and `reportId` (422 on the missing or extra field); `amount` > 0 unless
 * `final`.
 */
function oneReport(
  body: { amount?: string; final?: boolean; reportSha256?: string; reportId?: string },
  ctx: z.RefinementCtx,
): void {
  if (body.final !== true && body.amount === '0')
    ctx.addIssue({
      code: 'custom',
      path: ['amount'],
      message: 'must be positive (only a final recovery may deposit 0)',
    });
  if (body.reportSha256 === undefined && body.reportId === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['reportSha256'],
      message: 'required: the SHA-256 of the servicer report, or `reportId`',
    });
  else if (body.reportSha256 !== undefined && body.reportId !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['reportId'],
      message: 'give either reportSha256 or reportId, not both',
    });
}

export const createRecoveryIntentBodySchema = z
  .object({
    amount: depositAmountSchema.describe(
      'pay-token base units the servicer consents to deposit; > 0 (0 allowed with final)',
    ),
    final: finalSchema,
    reportSha256: reportSha256Schema.optional(),
    reportId: reportIdSchema.optional(),
  })
  .superRefine(oneReport);

export const createRecoveryBodySchema = z
  .object({
    amount: depositAmountSchema.describe(
      'pay-token base units pulled from the servicer’s wallet; > 0 (0 allowed with final)',
    ),
    final: finalSchema,
    reportSha256: reportSha256Schema.optional(),
    reportId: reportIdSchema.optional(),
    servicerSignature: servicerSignatureSchema
      .optional()
      .describe(
        'the servicer’s EIP-712 signature of DepositIntent(amount, 0x<reportSha256>, nonce, deadline) ' +
          '(POST /v1/portfolios/:id/recoveries/intents gives the typed data); omit only when the server ' +
          'holds the servicer’s key (development)',
      ),
    nonce: uintStringSchema.optional().describe('the signed intent’s nonce; required with servicerSignature'),
    deadline: uintStringSchema
      .optional()
      .describe('the signed intent’s deadline (unix seconds, chain time); required with servicerSignature'),
  })
  .superRefine(oneReport);

export const recoveryIntentSchema = z
  .object({
    portfolioId: z.string(),
    chainId: z.number().int(),
    portfolio: z.string().describe('the Portfolio contract: verifying contract of the intent'),
    servicer: z.string().describe('the portfolio’s servicer: the only valid signer'),
    amount: uintStringSchema,
    final: z.boolean().describe('a FinalDepositIntent (the resolving recovery)'),
    reportSha256: z.string(),
    nonce: z.string().describe('the intent nonce (random uint256); send it back with the signature'),
    deadline: z.string().describe('unix seconds; the intent is void after it; send it back'),
    typedData: z.object({
      deposit: z
        .record(z.string(), z.unknown())
        .describe(
          'EIP-712 DepositIntent (FinalDepositIntent with final) on the Portfolio domain (uint256 values as decimal strings)',
        ),
      invalidation: z
        .record(z.string(), z.unknown())
        .describe(
          'EIP-712 NonceInvalidation of this nonce: signed and relayed to invalidateNonceWithSig (or the ' +
            'servicer’s own invalidateNonce call) it cancels the signed intent before it is relayed',
        ),
    }),
  })
  .meta({ id: 'RecoveryIntent' });

const trancheAmountsSchema = z.object({
  trancheIndex: z.number().int(),
  interest: uintStringSchema,
  principal: uintStringSchema,
  residual: uintStringSchema,
  total: uintStringSchema,
});

export const recoveryAcceptedSchema = z
  .object({
    id: z.string().describe('the recovery id (poll GET /v1/recoveries/:id)'),
    portfolioId: z.string(),
    amount: uintStringSchema,
    final: z.boolean().describe('the final, resolving recovery'),
    reportSha256: z.string(),
    status: settlementStatusSchema,
    txHash: z.string(),
  })
  .meta({ id: 'RecoveryAccepted' });

export const recoverySchema = recoveryAcceptedSchema
  .extend({
    recoveryId: z.string().nullable().describe('the on-chain recovery id once mined'),
    blockNumber: z.string().nullable(),
    indexed: z.boolean().describe('the chain indexer has its RecoveryDistributed event'),
    servicerFee: uintStringSchema.nullable(),
    protocolFee: uintStringSchema.nullable(),
    undistributed: uintStringSchema.nullable(),
    tranches: z.array(trancheAmountsSchema).nullable().describe('per-tranche amounts, once indexed'),
    distribution: z
      .object({ id: z.string(), status: z.string() })
      .nullable()
      .describe('the Merkle distribution of this recovery, once the worker created it'),
    reason: z.string().nullable().describe('failed: the API code of the decoded revert'),
    revert: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Recovery' });

export const closeOfferingAcceptedSchema = z
  .object({
    status: z
      .enum(['pending', 'mined'])
      .describe(
        'the close transaction as settled: pending, or mined (its OfferingClosed event not final yet)',
      ),
    txHash: z.string(),
    relayTxId: z.string(),
  })
  .meta({ id: 'OfferingCloseAccepted' });
