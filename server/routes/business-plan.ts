import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  assertBusinessPlanEditable,
  BUSINESS_PLAN_MAX_BYTES,
  BUSINESS_PLAN_MONTH_SECONDS,
  checkBusinessPlanJson,
  parseBusinessPlanCsv,
  replaceBusinessPlan,
} from '../../core/catalog/business-plan.ts';
import { findPortfolio } from '../../core/catalog/portfolios.ts';
import type { BusinessPlanPoint } from '../../core/domain/waterfall.ts';
import { ValidationFailedError } from '../../core/platform/errors/index.ts';
import { assertOwns } from '../plugins/auth.ts';
import { bpsSchema, errorResponses, idParamsSchema } from '../schemas/common.ts';
import { businessPlanInputSchema } from '../schemas/portfolio.ts';

const jsonBodySchema = z.object({
  businessPlan: businessPlanInputSchema,
  collectionRatioBps: bpsSchema
    .optional()
    .describe("sets (or replaces) the trigger's ratio; required when the draft has no trigger yet"),
});

const planErrorSchema = z.object({
  row: z.number().int().describe('1 = first data row (JSON: first point); 0 = the header'),
  column: z.string().nullable().describe('CSV column, or the JSON field (atSeconds, cumulative)'),
  value: z.string().nullable(),
  reason: z.string(),
  path: z
    .string()
    .nullable()
    .describe('the JSON body field, e.g. body.businessPlan.2.cumulative; null for CSV'),
});

const planRejectedSchema = z.object({
  statusCode: z.literal(422),
  code: z.literal('VALIDATION_FAILED'),
  message: z.string(),
  details: z.object({
    errorCount: z.number().int(),
    errors: z.array(planErrorSchema).describe('at most 1,000'),
    truncated: z.boolean(),
  }),
});

/** PUT /v1/portfolios/:id/business-plan (issuer owning the draft): CSV or JSON, all or nothing. */
export const businessPlanRoutes: FastifyPluginAsyncZod = async (app) => {
  // (this plugin's own scope: the loan tape's parser streams, this one buffers the small file)
  app.addContentTypeParser(
    'text/csv',
    { parseAs: 'buffer', bodyLimit: BUSINESS_PLAN_MAX_BYTES },
    (_r, body, done) => done(null, body),
  );

  app.put(
    '/v1/portfolios/:id/business-plan',
    {
      config: { invalidatesListing: true, auth: { roles: ['issuer'] } },
      schema: {
        tags: ['portfolios'],
        summary:
          "Replace a draft's business plan (the trigger's, waterfall spec v2): CSV or JSON, all or nothing",
        description:
          '`text/csv` with the header `months_after_close,cumulative_collections`: a month is ' +
          `${BUSINESS_PLAN_MONTH_SECONDS.toLocaleString('en')} s (a twelfth of the waterfall's 365-day year), ` +
          'the cumulative collections are in currency units (at most 4 decimals, and no more than the pay ' +
          "token's) and are stored in base units. Or JSON `{ businessPlan: [{ atSeconds, cumulative }], " +
          'collectionRatioBps? }` in seconds and base units. A bad plan answers 422 with `{ row, column, ' +
          'value, reason, path }` per bad cell and changes nothing. The draft must have a trigger ratio ' +
          '(from creation, or `collectionRatioBps` in the JSON body); 409 otherwise, and when not a draft.',
        consumes: ['text/csv', 'application/json'],
        params: idParamsSchema,
        body: z.unknown().describe('the CSV bytes, or the JSON plan'),
        response: {
          200: z.object({
            portfolioId: z.string(),
            trigger: z.object({
              collectionRatioBps: z.number().int(),
              businessPlan: z.array(z.object({ atSeconds: z.number().int(), cumulative: z.string() })),
            }),
          }),
          422: planRejectedSchema,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429),
        },
      },
    },
    async (request) => {
      const portfolio = await findPortfolio({ prisma: app.prisma }, request.params.id);
      assertOwns(request.principal, portfolio);
      assertBusinessPlanEditable(portfolio.status);
      request.audit = { type: 'portfolio', id: portfolio.id, details: { action: 'business-plan' } };
      const body = request.body;
      let points: BusinessPlanPoint[];
      let collectionRatioBps: number | undefined;
      if (Buffer.isBuffer(body)) {
        const { payTokenDecimals } = await app.prisma.portfolio.findUniqueOrThrow({
          where: { id: portfolio.id },
          select: { payTokenDecimals: true },
        });
        points = parseBusinessPlanCsv(body, payTokenDecimals);
      } else {
        const parsed = jsonBodySchema.safeParse(body);
        if (!parsed.success) {
          throw new ValidationFailedError('Request validation failed', {
            statusCode: 400,
            details: parsed.error.issues.map((i) => ({
              path: ['body', ...i.path.map(String)].join('.'),
              message: i.message,
            })),
          });
        }
        points = parsed.data.businessPlan.map((p) => ({
          atSeconds: p.atSeconds,
          cumulative: BigInt(p.cumulative),
        }));
        collectionRatioBps = parsed.data.collectionRatioBps;
        checkBusinessPlanJson(points);
      }
      const trigger = await replaceBusinessPlan(app.prisma, {
        portfolioId: portfolio.id,
        points,
        collectionRatioBps,
      });
      request.audit.details = { action: 'business-plan', points: points.length };
      return { portfolioId: portfolio.id, trigger };
    },
  );
};
