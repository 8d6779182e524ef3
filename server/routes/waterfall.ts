import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAddress } from 'viem';
import { PreviewUnsupportedError, previewRecoveryV2 } from '../../core/chain/actions.ts';
import { ChainError } from '../../core/chain/errors.ts';
import { ConflictError, NotFoundError, ServiceUnavailableError } from '../../core/platform/errors/index.ts';
import { errorResponses, idParamsSchema, isUuid } from '../schemas/common.ts';
import {
  type WaterfallPreview,
  waterfallPreviewBodySchema,
  waterfallPreviewSchema,
} from '../schemas/waterfall.ts';

/**
 * POST /v1/portfolios/:id/waterfall/preview (public): what `depositRecovery(amount)` would pay at
 * `asOf`, from the portfolio's on-chain state and the `core/domain` waterfall. Nothing is sent.
 */
export const waterfallRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/portfolios/:id/waterfall/preview',
    {
      schema: {
        tags: ['recoveries'],
        summary: 'Preview the waterfall allocation of a recovery (nothing is executed)',
        description:
          'Reads the tranches’ outstanding principal and interest arrears and the time of the last recovery ' +
          'from the chain, accrues interest up to `asOf` (default now, not in the past) and runs the same ' +
          'waterfall as the contract. 409 when the portfolio is not published or its offering is not closed ' +
          '(the contract refuses recoveries before close). With `final: true` it previews the resolving ' +
          'recovery (`depositFinalRecovery`, waterfall spec v2): the same allocation, plus per tranche the ' +
          '`principalWrittenOff` and `interestWrittenOff` the amount does not cover, and the reserve’s ' +
          '`released`, `drawn`, `replenished`, `balanceAfter` (0 without a reserve); 409 once resolved. A ' +
          'portfolio with spec-v2 terms (a reserve target or a trigger) is previewed through the v2 waterfall ' +
          'with or without `final`, and answers `reserve` and `trigger { breached, collected, planned }` (the ' +
          'clock from the indexed offering close: 409 `details.unsupported: ["trigger"]` until it is indexed). ' +
          'Whether a resolution is proposed and executable is not checked.',
        params: idParamsSchema,
        body: waterfallPreviewBodySchema,
        response: { 200: waterfallPreviewSchema, ...errorResponses(400, 404, 409, 429, 503) },
      },
    },
    async (request): Promise<WaterfallPreview> => {
      const { id } = request.params;
      if (!isUuid(id)) throw new NotFoundError('Portfolio', id);
      // not in the past: checked by the body schema
      const asOfMs = request.body.asOf === undefined ? Date.now() : Date.parse(request.body.asOf);
      const portfolio = await app.prisma.portfolio.findUnique({
        where: { id },
        select: {
          id: true,
          status: true,
          portfolioAddress: true,
          tranches: { select: { id: true, name: true, seniority: true }, orderBy: { seniority: 'asc' } },
        },
      });
      if (portfolio === null) throw new NotFoundError('Portfolio', id);
      if (portfolio.status !== 'published' || portfolio.portfolioAddress === null) {
        throw new ConflictError(
          `Portfolio ${id} is ${portfolio.status}; recoveries need a published portfolio`,
        );
      }
      if (app.chain === null) {
        throw new ServiceUnavailableError('The waterfall preview needs a chain (RPC_URL is not configured)');
      }
      const amount = BigInt(request.body.amount);
      const at = BigInt(Math.floor(asOfMs / 1000));
      const final = request.body.final === true;
      const chain = app.chain as Parameters<typeof previewRecoveryV2>[0];
      const address = getAddress(portfolio.portfolioAddress);
      // the trigger's clock runs from the offering close (indexed OfferingClosed; the contract keeps it to itself)
      const closed = await app.prisma.offeringClosedEvent.findFirst({
        where: { portfolio: { equals: address, mode: 'insensitive' } },
        orderBy: [{ blockNumber: 'desc' }, { logIndex: 'desc' }],
        select: { closedAt: true },
      });
      let preview: Awaited<ReturnType<typeof previewRecoveryV2>>;
      let v2: Awaited<ReturnType<typeof previewRecoveryV2>> | undefined;
      try {
        preview = await previewRecoveryV2(chain, {
          portfolio: address,
          amount,
          at,
          final,
          closedAt: closed?.closedAt,
        });
        // spec v1 terms and not final: the answer is v1's, exactly (v2 without terms is v1)
        if (final || preview.reserveTargetBps !== 0 || preview.collectionRatioBps !== 0) v2 = preview;
      } catch (error) {
        if (error instanceof ChainError && error.errorName === 'RecoveryBeforeClose') {
          throw new ConflictError(
            `Portfolio ${id}: the offering is not closed yet; the contract refuses recoveries before close`,
            { cause: error },
          );
        }
        if (error instanceof ChainError && error.errorName === 'PortfolioAlreadyResolved') {
          throw new ConflictError(`Portfolio ${id} is resolved; the contract refuses any further recovery`, {
            cause: error,
          });
        }
        if (error instanceof PreviewUnsupportedError) {
          throw new ConflictError(`Portfolio ${id}: ${error.message}`, {
            cause: error,
            details: { unsupported: error.unsupported },
          });
        }
        throw error;
      }
      if (preview.tranches.length !== portfolio.tranches.length) {
        throw new ConflictError(
          `Portfolio ${id} has ${portfolio.tranches.length} tranches here but ${preview.tranches.length} on-chain`,
        );
      }
      return {
        portfolioId: portfolio.id,
        amount: amount.toString(),
        asOf: new Date(Number(at) * 1000).toISOString(),
        elapsedSeconds: preview.elapsedSeconds.toString(),
        servicerFee: preview.servicerFee.toString(),
        protocolFee: preview.protocolFee.toString(),
        tranches: preview.tranches.map((payment, i) => ({
          trancheId: portfolio.tranches[i].id,
          name: portfolio.tranches[i].name,
          seniority: portfolio.tranches[i].seniority,
          interest: payment.interest.toString(),
          principal: payment.principal.toString(),
          residual: payment.residual.toString(),
          total: payment.total.toString(),
          outstandingAfter: payment.outstandingAfter.toString(),
          interestArrearsAfter: payment.interestArrearsAfter.toString(),
          ...(v2 === undefined
            ? {}
            : {
                principalWrittenOff: v2.tranches[i].principalWrittenOff.toString(),
                interestWrittenOff: v2.tranches[i].interestWrittenOff.toString(),
              }),
        })),
        undistributed: preview.undistributed.toString(),
        ...(v2 === undefined
          ? {}
          : {
              ...(final ? { final: true as const } : {}),
              trigger: {
                breached: v2.triggerBreached,
                collected: v2.collected.toString(),
                planned: v2.planned.toString(),
              },
              reserve: {
                released: v2.reserve.released.toString(),
                drawn: v2.reserve.drawn.toString(),
                replenished: v2.reserve.replenished.toString(),
                balanceAfter: v2.reserve.balanceAfter.toString(),
              },
            }),
      };
    },
  );
};
