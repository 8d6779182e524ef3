import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Address } from 'viem';
import { ValidationFailedError } from '../../core/platform/errors/index.ts';
import { mirrorAllowlistOnReceipt, requestAllowlist } from '../../core/trading/purchases.ts';
import { errorResponses } from '../schemas/common.ts';
import { allowlistAcceptedSchema, allowlistBodySchema, investorParamsSchema } from '../schemas/purchase.ts';

/**
 * POST /v1/investors/:address/allowlist (admin): allowlists on-chain through the relayer
 * (`ComplianceRegistry.allowlist`) and answers 202 with the relay transaction. The investor table is
 * updated on receipt: this process watches the relayer row and, once mined, copies the registry's
 * record at that block (the chain indexer does not follow registry events). Quotes also refresh it
 * from the registry whenever they read it.
 */
export const investorRoutes: FastifyPluginAsyncZod = async (app) => {
  const watching = new Set<Promise<unknown>>();
  app.addHook('onClose', async () => {
    closed = true;
    await Promise.allSettled([...watching]);
  });
  let closed = false;

  app.post(
    '/v1/investors/:address/allowlist',
    {
      config: { auth: { roles: ['admin'] } },
      schema: {
        tags: ['investors'],
        summary: 'Allowlist an investor on-chain until `expiresAt` (ComplianceRegistry.allowlist)',
        description:
          'Relayed by the platform signer; answers 202 with the relay transaction. The investor table shows ' +
          'the new expiry once that transaction is mined. The same address and expiry twice is one transaction.',
        params: investorParamsSchema,
        body: allowlistBodySchema,
        response: { 202: allowlistAcceptedSchema, ...errorResponses(400, 401, 403, 409, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const address = request.params.address as Address;
      const expiresAt = new Date(request.body.expiresAt);
      if (expiresAt.getTime() <= Date.now()) {
        throw new ValidationFailedError('expiresAt must be in the future', {
          details: [{ path: 'body.expiresAt', message: 'must be in the future' }],
        });
      }
      const expiry = BigInt(Math.floor(expiresAt.getTime() / 1000));
      const context = await app.trading();
      const relayTx = await requestAllowlist(context, { address, expiry });
      request.audit = {
        type: 'investor',
        id: address,
        details: { action: 'allowlist', expiry: expiry.toString(), relayTxId: relayTx.id },
      };
      if (!closed) {
        const watch = mirrorAllowlistOnReceipt(context, {
          relayTxId: relayTx.id,
          address,
          isClosed: () => closed,
        })
          .catch((error) => app.log.warn({ err: error, address }, 'allowlist mirror failed'))
          .finally(() => watching.delete(watch));
        watching.add(watch);
      }
      return reply.status(202).send({
        address,
        expiresAt: new Date(Number(expiry) * 1000).toISOString(),
        relayTx: { id: relayTx.id, status: relayTx.status, txHash: relayTx.txHash },
        investorRecord: 'on-receipt' as const,
      });
    },
  );
};
