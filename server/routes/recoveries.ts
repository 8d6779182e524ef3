import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { reportForRecovery } from '../../core/catalog/remittance-reports.ts';
import type { PrismaClient } from '../../core/db/index.ts';
import { ForbiddenError } from '../../core/platform/errors/index.ts';
import {
  findPortfolio,
  getRecovery,
  recoveryIntent,
  requestCloseOffering,
  submitRecovery,
} from '../../core/servicing/recoveries.ts';
import { assertOwns, type Principal } from '../plugins/auth.ts';
import { errorResponses, idParamsSchema } from '../schemas/common.ts';
import {
  assertValid,
  closeOfferingAcceptedSchema,
  createRecoveryBodySchema,
  createRecoveryIntentBodySchema,
  recoveryAcceptedSchema,
  recoveryIntentSchema,
  recoverySchema,
} from '../schemas/recovery.ts';

/** A servicer key whose owner is the portfolio's servicer address (any letter case), or an admin key. */
export function assertServicer(
  principal: Principal | null,
  portfolio: { servicerAddress: string },
  action = 'deposit recoveries',
): void {
  if (principal?.kind !== 'apiKey') throw new ForbiddenError();
  if (principal.role === 'admin') return;
  if (
    principal.role !== 'servicer' ||
    principal.owner.toLowerCase() !== portfolio.servicerAddress.toLowerCase()
  ) {
    throw new ForbiddenError(`Only the portfolio's servicer (${portfolio.servicerAddress}) may ${action}`);
  }
}

/**
 * The report hash a recovery anchors: `reportSha256`, or the SHA-256 of the remittance report `reportId`
 * (the portfolio's, its total equal to `amount`: 422 otherwise).
 */
async function anchoredReport(
  prisma: PrismaClient,
  portfolioId: string,
  body: { amount: string; reportSha256?: string; reportId?: string },
): Promise<{ reportSha256: string; reportId: string | null }> {
  if (body.reportId === undefined) return { reportSha256: body.reportSha256 as string, reportId: null };
  const report = await reportForRecovery(prisma, {
    portfolioId,
    reportId: body.reportId,
    amount: BigInt(body.amount),
  });
  return { reportSha256: report.sha256, reportId: report.id };
}

/**
 * POST /v1/portfolios/:id/recoveries/intents (servicer: the typed data of its deposit intent),
 * POST /v1/portfolios/:id/recoveries (servicer), GET /v1/recoveries/:id,
 * POST /v1/portfolios/:id/offering/close (owning issuer): relayed through the app's one platform
 * relayer (`app.trading()`).
 */
export const recoveryRoutes: FastifyPluginAsyncZod = async (app) => {
  const trading = () => app.trading();

  app.post(
    '/v1/portfolios/:id/recoveries/intents',
    {
      config: { auth: { roles: ['servicer'] } },
      attachValidation: true,
      schema: {
        tags: ['recoveries'],
        summary: 'The EIP-712 DepositIntent the servicer signs to consent to one recovery',
        description:
          'A servicer key whose owner is the portfolio’s servicer address, or an admin key. Nothing is ' +
          'stored: the answer carries a fresh nonce and a deadline; the servicer signs `typedData.deposit` ' +
          'and POSTs /v1/portfolios/:id/recoveries with `servicerSignature`, `nonce` and `deadline`. ' +
          '409 before publish. `reportId` instead of `reportSha256`: a remittance report of the portfolio ' +
          'whose total is `amount` (422 otherwise); its SHA-256 is the reportHash. Bad input 422.',
        params: idParamsSchema,
        body: createRecoveryIntentBodySchema,
        response: { 200: recoveryIntentSchema, ...errorResponses(401, 403, 404, 409, 422, 429, 503) },
      },
    },
    async (request) => {
      assertValid(request);
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertServicer(request.principal, portfolio);
      const { reportSha256 } = await anchoredReport(app.prisma, portfolio.id, request.body);
      const context = await trading();
      return recoveryIntent(context, {
        portfolioId: portfolio.id,
        amount: BigInt(request.body.amount),
        reportSha256,
        final: request.body.final,
      });
    },
  );

  app.post(
    '/v1/portfolios/:id/recoveries',
    {
      config: { auth: { roles: ['servicer'] } },
      attachValidation: true,
      schema: {
        tags: ['recoveries'],
        summary:
          'Deposit a recovery on-chain (Portfolio.depositRecoveryWithSig); the worker then distributes it',
        description:
          'A servicer key whose owner is the portfolio’s servicer address, or an admin key. The platform ' +
          'relayer calls depositRecoveryWithSig with the servicer’s signed DepositIntent(amount, ' +
          '0x<reportSha256>, nonce, deadline): `servicerSignature`, `nonce`, `deadline` from POST ' +
          '/v1/portfolios/:id/recoveries/intents. Without them the server signs only if it holds the ' +
          'servicer’s key (development), else 422 (`body.servicerSignature`); a signature that is not the ' +
          'servicer’s over exactly this amount and report 401 SIGNATURE_INVALID, past its deadline 410 ' +
          'ORDER_EXPIRED, a used or cancelled nonce 409 (`details.reason` NONCE_USED). The cash is pulled ' +
          'from the servicer’s wallet, which must hold and have approved `amount` to the Portfolio (else 409 ' +
          'naming what is missing). 409 before the offering is closed or before publish. One recovery per ' +
          'report: the same ' +
          'report again answers the existing recovery (200), with another amount 409; a report the Portfolio ' +
          'already took on-chain (its reportHash) 409 REPORT_ALREADY_DEPOSITED. Instead of `reportSha256`, ' +
          '`reportId` names a remittance report of the portfolio: `amount` must equal its total (422 ' +
          '`body.amount`), its SHA-256 is the reportHash. `final: true` (waterfall spec v2): the resolving ' +
          'recovery, signed as FinalDepositIntent and relayed to depositFinalRecoveryWithSig, `amount` may ' +
          'be 0; 409 `RESOLUTION_NOT_PROPOSED` without a pending proposal, `RESOLUTION_NOT_EXECUTABLE` ' +
          'before its executableAt. Any recovery of a resolved portfolio 409 `PORTFOLIO_RESOLVED`. Bad input 422.',
        params: idParamsSchema,
        body: createRecoveryBodySchema,
        response: {
          200: recoveryAcceptedSchema,
          202: recoveryAcceptedSchema,
          ...errorResponses(401, 403, 404, 409, 410, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      assertValid(request);
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertServicer(request.principal, portfolio);
      const { reportSha256, reportId } = await anchoredReport(app.prisma, portfolio.id, request.body);
      const context = await trading();
      const { view, existing } = await submitRecovery(context, {
        portfolioId: portfolio.id,
        amount: BigInt(request.body.amount),
        reportSha256,
        servicerSignature: request.body.servicerSignature as `0x${string}` | undefined,
        nonce: request.body.nonce === undefined ? undefined : BigInt(request.body.nonce),
        deadline: request.body.deadline === undefined ? undefined : BigInt(request.body.deadline),
        final: request.body.final,
      });
      request.audit = {
        type: 'recovery',
        id: view.id,
        details: {
          portfolioId: portfolio.id,
          amount: view.amount,
          reportSha256: view.reportSha256,
          reportId,
          final: view.final,
          existing,
        },
      };
      reply.header('location', `/v1/recoveries/${view.id}`);
      const body = {
        id: view.id,
        portfolioId: view.portfolioId,
        amount: view.amount,
        final: view.final,
        reportSha256: view.reportSha256,
        status: view.status,
        txHash: view.txHash,
      };
      return reply.status(existing ? 200 : 202).send(body);
    },
  );

  app.get(
    '/v1/recoveries/:id',
    {
      schema: {
        tags: ['recoveries'],
        summary:
          'A recovery: pending → mined → confirmed (recovery id, block, per-tranche amounts, distribution) or failed',
        description:
          '`mined` once the relayed depositRecovery is in a block (recovery id from the receipt; a reorg can ' +
          'send it back to `pending`), `confirmed` once its RecoveryDistributed event is final in the chain ' +
          'index; the per-tranche amounts once the chain ' +
          'indexer has its RecoveryDistributed event, and the distribution (id, status) once the worker ' +
          'created it. `failed` when the transaction reverted or was dropped (reason: the API code).',
        params: idParamsSchema,
        response: { 200: recoverySchema, ...errorResponses(404, 429, 503) },
      },
    },
    async (request) => {
      const context = app.config.RPC_URL === undefined ? undefined : await trading().catch(() => undefined);
      return getRecovery(context ?? { prisma: app.prisma }, request.params.id);
    },
  );

  app.post(
    '/v1/portfolios/:id/offering/close',
    {
      config: { auth: { roles: ['issuer'] } },
      schema: {
        tags: ['recoveries'],
        summary: 'Close the offering on-chain (Portfolio.closeOffering), fixing each tranche’s outstanding',
        description:
          'The owning issuer or an admin. Relayed by the platform key (it holds ISSUER_ROLE); 202 with the ' +
          'transaction. 409 when the portfolio is not published or the offering is already closed. ' +
          'GET /v1/portfolios/:id shows `offering.closed` once the chain indexer has the OfferingClosed event.',
        params: idParamsSchema,
        response: { 202: closeOfferingAcceptedSchema, ...errorResponses(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertOwns(request.principal, portfolio);
      const context = await trading();
      const accepted = await requestCloseOffering(context, portfolio.id);
      request.audit = {
        type: 'portfolio',
        id: portfolio.id,
        details: { action: 'closeOffering', txHash: accepted.txHash, relayTxId: accepted.relayTxId },
      };
      return reply.status(202).send(accepted);
    },
  );
};
