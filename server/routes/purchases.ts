import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Address, Hex } from 'viem';
import { NotFoundError } from '../../core/platform/errors/index.ts';
import {
  createQuote,
  findIndexedPurchase,
  getPurchase,
  submitPurchase,
} from '../../core/trading/purchases.ts';
import { errorResponses, idParamsSchema, isUuid } from '../schemas/common.ts';
import {
  createPurchaseBodySchema,
  createQuoteBodySchema,
  purchaseAcceptedSchema,
  purchaseSchema,
  quoteSchema,
  trancheParamsSchema,
} from '../schemas/purchase.ts';

/**
 * Primary purchases: POST /v1/tranches/:id/quotes, POST /v1/purchases (relays `buyWithSig`),
 * GET /v1/purchases/:id.
 */
export const purchaseRoutes: FastifyPluginAsyncZod = async (app) => {
  const trading = () => app.trading();

  app.post(
    '/v1/tranches/:id/quotes',
    {
      schema: {
        tags: ['purchases'],
        summary: 'Price a primary purchase and get the EIP-712 intent and ERC-2612 permit to sign',
        description:
          'Checks at the latest block: the portfolio is published, the offering open, the buyer allowlisted ' +
          'and not frozen (NOT_ALLOWLISTED), the amount within the remaining cap (SOLD_OUT). The cost comes ' +
          'from Portfolio.quote. Sign `typedData.purchase` and `typedData.permit` and POST /v1/purchases ' +
          'before `expiresAt`. To cancel the signed intent before it is relayed, sign `typedData.invalidation` ' +
          'and POST /v1/intents/invalidations.',
        params: trancheParamsSchema,
        body: createQuoteBodySchema,
        response: { 201: quoteSchema, ...errorResponses(400, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!isUuid(id)) throw new NotFoundError(`Tranche ${id} not found`);
      const context = await trading();
      const quote = await createQuote(context, {
        trancheId: id,
        buyer: request.body.buyer as Address,
        amount: BigInt(request.body.amount),
      });
      request.audit = { type: 'quote', id: quote.id };
      return reply.status(201).send(quote);
    },
  );

  app.post(
    '/v1/purchases',
    {
      schema: {
        tags: ['purchases'],
        summary: 'Submit a signed quote; the relayer settles it on-chain (buyWithSig, DvP)',
        description:
          'Verifies both signatures off-chain (SIGNATURE_INVALID), the quote’s expiry (ORDER_EXPIRED), ' +
          'that it was not used before (CONFLICT), then at the latest block the allowlist, the cap and the ' +
          'buyer’s balance and allowance (or permit). Answers 202; poll GET /v1/purchases/:id.',
        body: createPurchaseBodySchema,
        response: { 202: purchaseAcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 410, 429, 503) },
      },
    },
    async (request, reply) => {
      const context = await trading();
      const accepted = await submitPurchase(context, {
        quoteId: request.body.quoteId,
        purchaseSignature: request.body.purchaseSignature as Hex,
        permitSignature: request.body.permitSignature as Hex | undefined,
      });
      request.audit = { type: 'purchase', id: accepted.id, details: { txHash: accepted.txHash } };
      reply.header('location', `/v1/purchases/${accepted.id}`);
      return reply.status(202).send(accepted);
    },
  );

  app.get(
    '/v1/purchases/:id',
    {
      schema: {
        tags: ['purchases'],
        summary: 'A purchase: pending → mined → confirmed (tokens, cost, block, tx) or failed (reason)',
        description:
          '`mined` once its transaction is in a block (tokens and cost once indexed; a reorg can send it back ' +
          'to `pending`); `confirmed` once the chain indexer’s Purchased event is final; `failed` once the ' +
          'relayer’s transaction reverted at a final block (reason: the decoded revert’s API code, e.g. ' +
          'SOLD_OUT) or was given up.',
        params: idParamsSchema,
        response: { 200: purchaseSchema, ...errorResponses(404, 429, 503) },
      },
    },
    async (request) =>
      getPurchase(
        { prisma: app.prisma, findIndexedPurchase: (key) => findIndexedPurchase(app.prisma, key) },
        request.params.id,
      ),
  );
};
