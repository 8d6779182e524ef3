import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Address } from 'viem';
import { listTrades } from '../../core/trading/orders.ts';
import { errorResponses } from '../schemas/common.ts';
import { listTradesQuerySchema, tradePageSchema } from '../schemas/order.ts';

/** GET /v1/trades: the indexer's OrderFilled events by tranche or account, newest first. */
export const tradeRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/trades',
    {
      schema: {
        tags: ['orders'],
        summary: 'Secondary trades (indexed OrderFilled events), newest first',
        description: '`account` matches the maker or the taker.',
        querystring: listTradesQuerySchema,
        response: { 200: tradePageSchema, ...errorResponses(400, 429, 503) },
      },
    },
    async (request) => {
      const { tranche, account, limit, cursor } = request.query;
      const deployment = await app.deployment();
      return listTrades(
        { prisma: app.prisma, chainId: deployment.chainId },
        { tranche: tranche as Address | undefined, account: account as Address | undefined, limit, cursor },
      );
    },
  );
};
