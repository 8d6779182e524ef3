import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Hex } from 'viem';
import { submitNonceInvalidation } from '../../core/trading/nonce-invalidations.ts';
import { errorResponses } from '../schemas/common.ts';
import {
  createNonceInvalidationBodySchema,
  nonceInvalidationAcceptedSchema,
} from '../schemas/nonce-invalidation.ts';

/**
 * POST /v1/intents/invalidations: relays a signer's `invalidateNonceWithSig` so a signed purchase
 * or fill intent can no longer be executed. Public: the signature is the credential, as for
 * POST /v1/purchases. See core/trading/nonce-invalidations.ts for the checks.
 */
export const nonceInvalidationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/intents/invalidations',
    {
      schema: {
        tags: ['purchases', 'orders'],
        summary: 'Cancel a signed purchase or fill intent: relays invalidateNonceWithSig',
        description:
          'The signer’s EIP-712 NonceInvalidation(account, nonce, deadline) over the Portfolio’s domain ' +
          '(contract `portfolio`, with portfolioId; a quote carries it as `typedData.invalidation`) or the ' +
          'Marketplace’s (contract `marketplace`). Checked before anything is sent: the signature ' +
          '(SIGNATURE_INVALID), the deadline (ORDER_EXPIRED), the account known to the registry ' +
          '(NOT_ALLOWLISTED), the nonce not used or cancelled yet ' +
          '(CONFLICT, reason NONCE_USED). Answers 202 with the relay transaction; once it is mined, ' +
          'the intent reverts with IntentNonceUsed.',
        body: createNonceInvalidationBodySchema,
        response: {
          202: nonceInvalidationAcceptedSchema,
          ...errorResponses(400, 401, 403, 404, 409, 410, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const [trading, deployment] = await Promise.all([app.trading(), app.deployment()]);
      const body = request.body;
      const accepted = await submitNonceInvalidation(
        {
          prisma: app.prisma,
          publicClient: trading.publicClient,
          chainId: trading.chainId,
          relayer: trading.relayer,
          registry: trading.registry,
          marketplace: deployment.marketplace,
        },
        {
          contract: body.contract,
          portfolioId: body.portfolioId,
          account: body.account,
          nonce: BigInt(body.nonce),
          deadline: BigInt(body.deadline),
          signature: body.signature as Hex,
        },
      );
      request.audit = {
        type: 'nonce_invalidation',
        id: accepted.id,
        details: { txHash: accepted.txHash, contract: accepted.verifyingContract, nonce: accepted.nonce },
      };
      return reply.status(202).send(accepted);
    },
  );
};
