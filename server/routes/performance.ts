import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ChainPublicClient } from '../../core/chain/clients.ts';
import { NotFoundError } from '../../core/platform/errors/index.ts';
import { getPortfolioPerformance } from '../../core/servicing/performance.ts';
import { errorResponses, idParamsSchema, isUuid } from '../schemas/common.ts';
import { type PerformanceBody, performanceSchema, toPerformanceBody } from '../schemas/performance.ts';

/**
 * GET /v1/portfolios/:id/performance (public, waterfall spec v2): collections vs the business plan, the
 * reserve, per-tranche payments and write-offs, resolution status and loan-level resolution stats, from
 * the chain index and the loan tape (core/servicing/performance.ts).
 */
export const performanceRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/portfolios/:id/performance',
    {
      schema: {
        tags: ['recoveries'],
        summary: 'Performance of a published portfolio: collections vs plan, reserve, tranches, resolution',
        description:
          'Everything comes from the indexed events (so it includes every indexed block up to `indexedBlock`, ' +
          'final or not) and the loan tape: per recovery the trigger and reserve state as the chain computed it ' +
          '(RecoveryTriggerAndReserve; a recovery without one, from a portfolio without reserve and trigger, reads ' +
          'as not breached, no movements), the reserve, per tranche the payments (RecoveryDistributed), the ' +
          'write-offs (PortfolioResolved), outstanding = sold − principal paid − written off; only the interest ' +
          'arrears are read from the chain (Portfolio.trancheState at `indexedBlock`; null without a chain). ' +
          'Loan stats count the remittance reports whose SHA-256 an indexed recovery anchored. Amounts are ' +
          'decimal strings of pay-token base units (UPB: loan currency); ratios are bps, floored, null when the ' +
          'divisor is 0. 404 for an unknown portfolio, 409 while it is not published.',
        params: idParamsSchema,
        response: { 200: performanceSchema, ...errorResponses(404, 409, 429, 503) },
      },
    },
    async (request): Promise<PerformanceBody> => {
      const { id } = request.params;
      if (!isUuid(id)) throw new NotFoundError('Portfolio', id);
      const performance = await getPortfolioPerformance(
        { prisma: app.prisma, db: app.db.pool, chain: app.chain as ChainPublicClient | null },
        id,
      );
      return toPerformanceBody(performance);
    },
  );
};
