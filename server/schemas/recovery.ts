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

export const createRecoveryBodySchema = z.object({
  amount: payAmountSchema.describe('pay-token base units pulled from the servicer’s wallet; > 0'),
  reportSha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (the SHA-256 of the servicer report)')
    // the Portfolio does not track the zero hash ("no report"), so it could be deposited twice
    .refine((value) => !/^0{64}$/.test(value), 'the zero hash is not a report')
    .describe(
      'SHA-256 of the servicer report; deposited as the on-chain reportHash; one recovery per report',
    ),
});

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
