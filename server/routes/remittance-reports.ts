import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  assertReportable,
  findRemittanceReport,
  ingestRemittanceReport,
  periodInvalid,
  periodRequestProblems,
  remittanceTooLarge,
  utcToday,
} from '../../core/catalog/remittance-reports.ts';
import type { ChainPublicClient } from '../../core/chain/clients.ts';
import { NotFoundError } from '../../core/platform/errors/index.ts';
import { findPortfolio } from '../../core/servicing/recoveries.ts';
import { assertOwns } from '../plugins/auth.ts';
import { errorResponses, idParamsSchema } from '../schemas/common.ts';
import { concurrencyLimit, spoolCsvUpload } from './loans.ts';
import { assertServicer } from './recoveries.ts';

const reportSchema = z
  .object({
    id: z.string().describe('the report id: a recovery with `reportId` deposits its total'),
    portfolioId: z.string(),
    sha256: z.string().describe('SHA-256 of the bytes received; a recovery with `reportId` anchors it'),
    size: z.number().int().describe('bytes'),
    total: z.string().describe('sum of `collected`, pay-token base units'),
    loanCount: z.number().int(),
    resolvedCount: z.number().int().describe('lines with a resolution'),
    periodStart: z.iso.date().describe('first day of the reporting period (UTC)'),
    periodEnd: z.iso.date().describe('last day of the reporting period (UTC), included'),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'RemittanceReport' });

const periodQuerySchema = z.object({
  periodStart: z
    .string()
    .max(20)
    .optional()
    .describe(
      "YYYY-MM-DD, first day of the period; default: the day after the previous report's periodEnd, or for " +
        "the first report the offering's close date (indexed), else the publish date",
    ),
  periodEnd: z
    .string()
    .max(20)
    .optional()
    .describe(
      "YYYY-MM-DD, last day of the period (included), not in the future; default: today (UTC; the chain's date when its clock is ahead)",
    ),
});

/**
 * Today (UTC) for a portfolio's reporting period: the later of the wall clock and the latest block of
 * the portfolio's chain, the clock its close date (the first period's default start) and the servicer's
 * intent deadlines already run on. On a public chain the two agree to the second; a local chain whose
 * clock was moved forward (anvil `evm_increaseTime`, `npm run demo`) reports on its own dates instead
 * of refusing every period after its close as "in the future". The wall clock without a client of the
 * portfolio's chain, or when the chain does not answer.
 */
export async function reportingToday(
  chain: ChainPublicClient | null,
  portfolioChainId: number | null,
  now: () => number = Date.now,
): Promise<string> {
  const wall = now();
  if (chain === null || portfolioChainId === null) return utcToday(new Date(wall));
  try {
    if ((await chain.getChainId()) !== portfolioChainId) return utcToday(new Date(wall));
    const block = await chain.getBlock({ blockTag: 'latest' });
    return utcToday(new Date(Math.max(wall, Number(block.timestamp) * 1000)));
  } catch {
    return utcToday(new Date(wall));
  }
}

const reportRejectedSchema = z.object({
  statusCode: z.literal(422),
  code: z.literal('VALIDATION_FAILED'),
  message: z.string(),
  details: z.object({
    errorCount: z.number().int(),
    errors: z
      .array(
        z.object({
          row: z
            .number()
            .int()
            .describe('1 = first data row; 0 = the header; a missing loan: the row after the last'),
          column: z.string().nullable(),
          value: z.string().nullable(),
          reason: z.string(),
        }),
      )
      .describe('at most 1,000'),
    truncated: z.boolean(),
  }),
});

/**
 * POST /v1/portfolios/:id/remittance-reports (the portfolio's servicer: CSV, all or nothing) and
 * GET /v1/portfolios/:id/remittance-reports/:reportId (its servicer, the owning issuer, admins).
 */
export const remittanceReportRoutes: FastifyPluginAsyncZod = async (app) => {
  // each ingest holds a pooled connection until it commits, as the loan tape's
  const ingest = concurrencyLimit(app.config.LOAN_TAPE_CONCURRENT_INGESTS);
  // (this plugin's own scope) the report is streamed to a file, never buffered
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  app.post(
    '/v1/portfolios/:id/remittance-reports',
    {
      config: { auth: { roles: ['servicer'] } },
      bodyLimit: app.config.LOAN_TAPE_MAX_BYTES,
      schema: {
        tags: ['recoveries'],
        summary:
          "A servicer's loan-level remittance report: CSV, one row per loan of the tape, all or nothing",
        description:
          '`text/csv` with the header `loan_id,collected,collected_on,resolution` (any order and case, no ' +
          'other column). Every loan of the tape exactly once; `collected` in currency units (≥ 0, at most ' +
          "4 decimals and no more than the pay token's), stored in base units; `collected_on` YYYY-MM-DD, " +
          'required when `collected` is above 0; `resolution` empty or one of settled, written_off, sold, ' +
          'restructured, foreclosed. A bad report answers 422 with `{ row, column, value, reason }` per bad ' +
          'cell (as the loan tape; a missing loan at the row after the last) and stores nothing. Stored with ' +
          'the SHA-256 of the bytes: 201; the same bytes again answer the stored report (200). A recovery ' +
          'with `{ amount, reportId }` deposits exactly its total and anchors its hash. 409 before publish. ' +
          'The reporting period (`periodStart`..`periodEnd`, both included): every `collected_on` inside ' +
          "it (else 422 on the cell); a portfolio's periods follow one another (each starts after the " +
          "previous report's periodEnd, else 409 `PERIOD_OVERLAP`); a bad period 400. A loan resolved by an " +
          'earlier report cannot collect again (422 on `collected`) nor take another resolution (422 on ' +
          "`resolution`); the loans' resolution and collected-to-date are updated with the report. " +
          'Limits: `LOAN_TAPE_MAX_BYTES` (413), `LOAN_TAPE_UPLOAD_TIMEOUT_MS` (408).',
        consumes: ['text/csv'],
        params: idParamsSchema,
        querystring: periodQuerySchema,
        body: z.unknown().describe('the CSV bytes'),
        response: {
          200: reportSchema,
          201: reportSchema,
          422: reportRejectedSchema,
          ...errorResponses(400, 401, 403, 404, 408, 409, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      assertServicer(request.principal, portfolio, 'send its remittance reports');
      assertReportable(portfolio);
      // the period on its own, before the body is read (against the stored reports: in the transaction)
      const today = await reportingToday(app.chain as ChainPublicClient | null, portfolio.chainId);
      const period = { periodStart: request.query.periodStart, periodEnd: request.query.periodEnd };
      const problems = periodRequestProblems(period, today);
      if (problems.length > 0) throw periodInvalid(problems);
      request.audit = { type: 'portfolio', id: portfolio.id, details: { action: 'remittance-report' } };
      // 1. the body to a file (hashed as it arrives), with no connection held while the client sends it
      const spooled = await spoolCsvUpload(app.config, request.body, request.headers, reply, {
        what: 'the remittance report',
        tooLargeError: remittanceTooLarge,
        hash: true,
      });
      // 2. the file into Postgres in one transaction
      try {
        const principal = request.principal;
        const { report, existing } = await ingest(() =>
          ingestRemittanceReport({
            pool: app.db.pool,
            portfolioId: portfolio.id,
            source: spooled.open(),
            sha256: spooled.sha256 as string,
            size: spooled.size,
            submittedBy: principal?.kind === 'apiKey' ? `${principal.role}:${principal.owner}` : 'unknown',
            period,
            today,
          }),
        );
        request.audit.details = {
          action: 'remittance-report',
          reportId: report.id,
          sha256: report.sha256,
          total: report.total,
          periodStart: report.periodStart,
          periodEnd: report.periodEnd,
          existing,
        };
        reply.header('location', `/v1/portfolios/${portfolio.id}/remittance-reports/${report.id}`);
        return reply.status(existing ? 200 : 201).send(report);
      } finally {
        await spooled.remove();
      }
    },
  );

  app.get(
    '/v1/portfolios/:id/remittance-reports/:reportId',
    {
      config: { auth: { roles: ['servicer', 'issuer'] } },
      schema: {
        tags: ['recoveries'],
        summary: 'A stored remittance report (its servicer, the owning issuer, admins)',
        params: idParamsSchema.extend({ reportId: z.string().max(100) }),
        response: { 200: reportSchema, ...errorResponses(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const portfolio = await findPortfolio(app.prisma, request.params.id);
      const principal = request.principal;
      if (principal?.kind === 'apiKey' && principal.role === 'issuer') assertOwns(principal, portfolio);
      else assertServicer(principal, portfolio, 'read its remittance reports');
      const report = await findRemittanceReport(app.prisma, portfolio.id, request.params.reportId);
      if (report === null) throw new NotFoundError('Remittance report', request.params.reportId);
      return report;
    },
  );
};
