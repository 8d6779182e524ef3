import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { fundReserve } from '../../core/catalog/reserve.ts';
import { findPortfolio } from '../../core/servicing/recoveries.ts';
import {
  getResolution,
  proposeResolution,
  resolutionIntent,
  vetoResolution,
} from '../../core/servicing/resolution.ts';
import { assertOwns } from '../plugins/auth.ts';
import {
  errorResponses,
  idParamsSchema,
  settlementStatusSchema,
  uintStringSchema,
} from '../schemas/common.ts';
import { assertValid, payAmountSchema } from '../schemas/recovery.ts';
import { assertServicer } from './recoveries.ts';

const fundReserveBodySchema = z.object({
  amount: payAmountSchema.describe(
    'pay-token base units moved from the issuer treasury into the reserve; > 0',
  ),
});

const fundReserveAcceptedSchema = z
  .object({
    id: z.string().describe('the relayed transaction (relay row id)'),
    portfolioId: z.string(),
    amount: uintStringSchema,
    issuerTreasury: z.string(),
    status: z.enum(['pending', 'mined', 'confirmed']),
    txHash: z.string(),
  })
  .meta({ id: 'ReserveFundingAccepted' });

const resolutionSchema = z
  .object({
    portfolioId: z.string(),
    status: z.enum(['open', 'resolving', 'resolved']),
    executableAt: z.string().nullable().describe('unix seconds from which the final recovery may run'),
    executable: z.boolean().describe('the final recovery may run now (the veto window is over)'),
    resolutionDelay: z
      .string()
      .describe('seconds between a proposal and its executableAt, fixed at creation'),
    chainTime: z.string(),
  })
  .meta({ id: 'Resolution' });

const signatureSchema = z
  .string()
  .regex(/^0x(?:[0-9a-fA-F]{2}){64,2048}$/, 'must be a 0x-hex signature of 64 to 2048 bytes');

const proposeBodySchema = z
  .object({
    servicerSignature: signatureSchema
      .optional()
      .describe(
        'the servicer’s EIP-712 signature of ResolutionIntent(nonce, deadline) (POST ' +
          '/v1/portfolios/:id/resolution/intents); omit only when the server holds the servicer’s key',
      ),
    nonce: uintStringSchema.optional(),
    deadline: uintStringSchema.optional(),
  })
  .nullish();

const proposalAcceptedSchema = z
  .object({
    id: z.string(),
    portfolioId: z.string(),
    status: settlementStatusSchema,
    txHash: z.string(),
    executableAt: z.string().nullable().describe('from the mined ResolutionProposed; null until mined'),
    resolutionDelay: z.string(),
  })
  .meta({ id: 'ResolutionProposalAccepted' });

const resolutionIntentSchema = z
  .object({
    portfolioId: z.string(),
    chainId: z.number().int(),
    portfolio: z.string(),
    servicer: z.string(),
    nonce: z.string(),
    deadline: z.string(),
    typedData: z.object({
      resolution: z
        .record(z.string(), z.unknown())
        .describe('EIP-712 ResolutionIntent on the Portfolio domain'),
      invalidation: z.record(z.string(), z.unknown()).describe('EIP-712 NonceInvalidation of this nonce'),
    }),
  })
  .meta({ id: 'ResolutionIntent' });

const vetoSchema = z
  .object({
    portfolioId: z.string(),
    status: z.enum(['pending', 'mined', 'confirmed']),
    txHash: z.string(),
    vetoedExecutableAt: z.string(),
  })
  .meta({ id: 'ResolutionVeto' });

/**
 * Waterfall spec v2: POST /v1/portfolios/:id/reserve/funding (owning issuer), GET
 * /v1/portfolios/:id/resolution (public), POST /v1/portfolios/:id/resolution/intents and POST
 * /v1/portfolios/:id/resolution (servicer), DELETE /v1/portfolios/:id/resolution (admin: the guardian's
 * veto). See core/servicing/resolution.ts.
 */
export const resolutionRoutes: FastifyPluginAsyncZod = async (app) => {
  const trading = () => app.trading();

  app.post(
    '/v1/portfolios/:id/reserve/funding',
    {
      config: { auth: { roles: ['issuer'] } },
      attachValidation: true,
      schema: {
        tags: ['resolution'],
        summary: 'Fund the cash reserve from the issuer treasury (Portfolio.fundReserve)',
        description:
          'The owning issuer or an admin. The issuer treasury’s own transaction is its consent: the platform ' +
          'sends it only when the treasury is the platform’s key (approving the Portfolio once first), else ' +
          '409 `TREASURY_NOT_HELD` (the treasury calls fundReserve itself). 409 `RESERVE_NOT_CONFIGURED` ' +
          'without a reserve target, `PORTFOLIO_RESOLVED`, `INSUFFICIENT_BALANCE`; before publish 409. ' +
          'An `Idempotency-Key` header makes a retried request answer the same funding. Bad input 422.',
        params: idParamsSchema,
        body: fundReserveBodySchema,
        response: { 202: fundReserveAcceptedSchema, ...errorResponses(401, 403, 404, 409, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      assertValid(request);
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertOwns(request.principal, portfolio);
      const header = request.headers['idempotency-key'];
      const requestKey =
        typeof header === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(header) ? header : undefined;
      const context = await trading();
      const funded = await fundReserve(context, {
        portfolioId: portfolio.id,
        amount: BigInt(request.body.amount),
        requestKey,
        capToProceeds: request.principal?.kind !== 'apiKey' || request.principal.role !== 'admin',
      });
      request.audit = {
        type: 'portfolio',
        id: portfolio.id,
        details: {
          action: 'fundReserve',
          amount: funded.amount,
          txHash: funded.txHash,
          relayTxId: funded.id,
        },
      };
      const { existing: _existing, ...body } = funded;
      return reply.status(202).send(body);
    },
  );

  app.get(
    '/v1/portfolios/:id/resolution',
    {
      schema: {
        tags: ['resolution'],
        summary:
          'The portfolio’s resolution state on-chain: open, resolving (a proposal pending) or resolved',
        params: idParamsSchema,
        response: { 200: resolutionSchema, ...errorResponses(404, 409, 429, 503) },
      },
    },
    async (request) => getResolution(await trading(), request.params.id),
  );

  app.post(
    '/v1/portfolios/:id/resolution/intents',
    {
      config: { auth: { roles: ['servicer'] } },
      schema: {
        tags: ['resolution'],
        summary: 'The EIP-712 ResolutionIntent the servicer signs to propose resolution',
        description:
          'The portfolio’s servicer or an admin. Nothing is stored: a fresh nonce and a deadline; the servicer ' +
          'signs `typedData.resolution` and POSTs /v1/portfolios/:id/resolution with them. 409 as the POST.',
        params: idParamsSchema,
        response: { 200: resolutionIntentSchema, ...errorResponses(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertServicer(request.principal, portfolio, 'propose resolution');
      return resolutionIntent(await trading(), portfolio.id);
    },
  );

  app.post(
    '/v1/portfolios/:id/resolution',
    {
      config: { auth: { roles: ['servicer'] } },
      attachValidation: true,
      schema: {
        tags: ['resolution'],
        summary: 'Propose resolution (Portfolio.proposeResolutionWithSig); 202 with executableAt',
        description:
          'The portfolio’s servicer or an admin; relayed with the servicer’s signed ResolutionIntent ' +
          '(`servicerSignature`, `nonce`, `deadline`), or signed by the server when it holds the servicer’s ' +
          'key (development), else 422 `body.servicerSignature`. After the resolution delay fixed at creation ' +
          '(the guardian’s veto window) the servicer’s final recovery (POST /v1/portfolios/:id/recoveries ' +
          'with `final: true`) resolves the portfolio. 409 `OFFERING_OPEN`, `RESOLUTION_PENDING`, ' +
          '`PORTFOLIO_RESOLVED`, `NONCE_USED`; 401 SIGNATURE_INVALID; 410 ORDER_EXPIRED.',
        params: idParamsSchema,
        body: proposeBodySchema,
        response: { 202: proposalAcceptedSchema, ...errorResponses(401, 403, 404, 409, 410, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      assertValid(request);
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertServicer(request.principal, portfolio, 'propose resolution');
      const body = request.body ?? {};
      const proposed = await proposeResolution(await trading(), {
        portfolioId: portfolio.id,
        servicerSignature: body.servicerSignature as `0x${string}` | undefined,
        nonce: body.nonce === undefined ? undefined : BigInt(body.nonce),
        deadline: body.deadline === undefined ? undefined : BigInt(body.deadline),
      });
      request.audit = {
        type: 'portfolio',
        id: portfolio.id,
        details: { action: 'proposeResolution', txHash: proposed.txHash, relayTxId: proposed.id },
      };
      return reply.status(202).send(proposed);
    },
  );

  app.delete(
    '/v1/portfolios/:id/resolution',
    {
      config: { auth: { roles: ['admin'] } },
      schema: {
        tags: ['resolution'],
        summary: 'Veto the pending resolution (Portfolio.vetoResolution, the guardian)',
        description:
          'An admin key; sent from the guardian’s key when this server holds it (local chains), else 409 ' +
          '`GUARDIAN_NOT_HELD` (the guardian multisig calls vetoResolution itself). 409 ' +
          '`RESOLUTION_NOT_PROPOSED` (nothing to veto), `PORTFOLIO_RESOLVED`. Sent from the guardian’s own key it ' +
          'answers once mined; relayed (the relayer key is the guardian) it may still be pending.',
        params: idParamsSchema,
        response: { 200: vetoSchema, ...errorResponses(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      const vetoed = await vetoResolution(await trading(), portfolio.id);
      request.audit = {
        type: 'portfolio',
        id: portfolio.id,
        details: { action: 'vetoResolution', txHash: vetoed.txHash },
      };
      return vetoed;
    },
  );
};
