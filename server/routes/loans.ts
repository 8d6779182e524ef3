import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ingestLoanTape, tooLarge } from '../../core/catalog/loan-tape/ingest.ts';
import {
  borrowerTypes,
  collateralTypes,
  legalStatuses,
  loanAssetClasses,
} from '../../core/catalog/loan-tape/rules.ts';
import { BaseError, conflict, notFound } from '../../core/platform/errors.ts';
import { assertDataRoomAccess, assertOwns } from '../plugins/auth.ts';
import {
  decimalStringSchema,
  decodeCursor,
  encodeCursor,
  errorResponses,
  idParamsSchema,
  int4QuerySchema,
  isUuid,
  limitSchema,
  pageOf,
} from '../schemas/common.ts';
import { statsSchema } from '../schemas/portfolio.ts';

const loanSchema = z
  .object({
    loanId: z.string(),
    row: z.number().int().describe('1-based data row of the tape'),
    counterpartyId: z.string().nullable(),
    borrowerType: z.enum(borrowerTypes),
    assetClass: z.enum(loanAssetClasses),
    currency: z.string(),
    originationDate: z.string(),
    principalBalance: z.string(),
    accruedInterest: z.string().nullable(),
    legalBalance: z.string().nullable(),
    daysPastDue: z.number().int(),
    dateOfDefault: z.string().nullable(),
    lastPaymentDate: z.string().nullable(),
    legalStatus: z.enum(legalStatuses),
    jurisdiction: z.string(),
    collateralType: z.enum(collateralTypes).nullable(),
    collateralValue: z.string().nullable(),
    collateralValuationDate: z.string().nullable(),
    lienPosition: z.number().int().nullable(),
    extra: z.record(z.string(), z.string()).describe('columns of the tape that LOAN_TAPE.md does not define'),
  })
  .meta({ id: 'Loan' });

const tapeErrorSchema = z.object({
  row: z.number().int().describe('1 = first data row; 0 = the header'),
  column: z.string().nullable(),
  value: z.string().nullable(),
  reason: z.string(),
});

const tapeRejectedSchema = z.object({
  statusCode: z.literal(422),
  code: z.literal('VALIDATION_FAILED'),
  message: z.string(),
  details: z.object({
    errorCount: z.number().int(),
    errors: z.array(tapeErrorSchema).describe('at most 1,000'),
    truncated: z.boolean(),
  }),
});

const listLoansQuerySchema = z.object({
  limit: limitSchema(1_000, 100),
  cursor: z.string().max(1_000).optional(),
  assetClass: z.enum(loanAssetClasses).optional(),
  borrowerType: z.enum(borrowerTypes).optional(),
  legalStatus: z.enum(legalStatuses).optional(),
  collateralType: z.enum(collateralTypes).optional(),
  jurisdiction: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional(),
  minDaysPastDue: int4QuerySchema(0).optional(),
  maxDaysPastDue: int4QuerySchema(0).optional(),
  minBalance: decimalStringSchema.optional(),
  maxBalance: decimalStringSchema.optional(),
});

type LoanRow = {
  loan_id: string;
  row_number: number;
  counterparty_id: string | null;
  borrower_type: z.infer<typeof loanSchema>['borrowerType'];
  asset_class: z.infer<typeof loanSchema>['assetClass'];
  currency: string;
  origination_date: string;
  principal_balance: string;
  accrued_interest: string | null;
  legal_balance: string | null;
  days_past_due: number;
  date_of_default: string | null;
  last_payment_date: string | null;
  legal_status: z.infer<typeof loanSchema>['legalStatus'];
  jurisdiction: string;
  collateral_type: z.infer<typeof loanSchema>['collateralType'];
  collateral_value: string | null;
  collateral_valuation_date: string | null;
  lien_position: number | null;
  extra: Record<string, string>;
};

async function findPortfolio(app: Parameters<FastifyPluginAsyncZod>[0], id: string) {
  const portfolio = isUuid(id)
    ? await app.prisma.portfolio.findUnique({
        where: { id },
        select: { id: true, owner: true, status: true },
      })
    : null;
  if (portfolio === null) throw notFound('Portfolio', id);
  return portfolio;
}

/** PUT /v1/portfolios/:id/loan-tape (issuer, CSV) and GET /v1/portfolios/:id/loans (data-room access). */
export const loanRoutes: FastifyPluginAsyncZod = async (app) => {
  // the tape is streamed to the ingest, never buffered
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  app.put(
    '/v1/portfolios/:id/loan-tape',
    {
      preHandler: app.requireRole('issuer'),
      bodyLimit: app.config.LOAN_TAPE_MAX_BYTES,
      schema: {
        tags: ['loans'],
        summary: 'Upload (replace) the loan tape of a draft portfolio: CSV, all or nothing',
        description:
          'Send the CSV of docs/loan-tape.md with `Content-Type: text/csv`. Every cell is validated; a bad ' +
          'tape answers 422 with `{ row, column, value, reason }` per bad cell (first 1,000, with the total ' +
          'count) and stores nothing.',
        security: [{ apiKey: [] }],
        consumes: ['text/csv'],
        params: idParamsSchema,
        body: z.unknown().describe('the CSV bytes'),
        response: {
          200: z.object({
            portfolioId: z.string(),
            loanCount: z.number().int(),
            sha256: z.string(),
            size: z.number().int(),
            stats: statsSchema,
          }),
          422: tapeRejectedSchema,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const portfolio = await findPortfolio(app, request.params.id);
      assertOwns(request.principal, portfolio);
      if (portfolio.status !== 'draft')
        throw conflict(`Portfolio is ${portfolio.status}; the loan tape can only change in draft`);
      const body = request.body;
      if (!(body instanceof Readable)) {
        throw new BaseError('Send the loan tape as text/csv', {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          statusCode: 415,
        });
      }
      const maxBytes = app.config.LOAN_TAPE_MAX_BYTES;
      const declared = Number(request.headers['content-length'] ?? Number.NaN);
      request.audit = { type: 'portfolio', id: portfolio.id, details: { action: 'loan-tape' } };
      try {
        if (declared > maxBytes) throw tooLarge(maxBytes);
        const result = await ingestLoanTape({
          pool: app.db.pool,
          portfolioId: portfolio.id,
          source: body,
          maxBytes,
        });
        request.audit.details = { action: 'loan-tape', loanCount: result.loanCount, sha256: result.sha256 };
        const stats = await app.prisma.portfolio.findUniqueOrThrow({ where: { id: portfolio.id } });
        return {
          portfolioId: portfolio.id,
          loanCount: result.loanCount,
          sha256: result.sha256,
          size: result.size,
          stats: {
            loanCount: stats.loanCount,
            totalUpb: stats.totalUpb.toFixed(4),
            totalCollateral: stats.totalCollateral.toFixed(4),
            askingPriceCentsPerDollar: stats.centsPerDollar?.toNumber() ?? null,
            waDaysPastDue: stats.waDaysPastDue?.toNumber() ?? null,
            collateralCoverage: stats.collateralCoverage?.toNumber() ?? null,
            inCourtShare: stats.inCourtShare?.toNumber() ?? null,
          },
        };
      } catch (error) {
        // the client may still be sending: stop reading and close the connection after the answer
        if (!body.readableEnded) {
          body.unpipe();
          body.resume();
          reply.header('connection', 'close');
        }
        throw error;
      }
    },
  );

  app.get(
    '/v1/portfolios/:id/loans',
    {
      schema: {
        tags: ['loans'],
        summary: 'The loan tape, paginated and filterable (allowlisted investors, the issuer, admins)',
        security: [{ session: [] }, { apiKey: [] }],
        params: idParamsSchema,
        querystring: listLoansQuerySchema,
        response: { 200: pageOf(loanSchema), ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      if (request.principal === null) {
        throw new BaseError('Sign in first (POST /v1/auth/nonce, /v1/auth/verify)', { code: 'UNAUTHORIZED' });
      }
      const portfolio = await findPortfolio(app, request.params.id);
      await assertDataRoomAccess(request, portfolio);
      const q = request.query;
      const values: unknown[] = [portfolio.id];
      const param = (v: unknown) => {
        values.push(v);
        return `$${values.length}`;
      };
      const where = ['portfolio_id = $1'];
      if (q.assetClass) where.push(`asset_class = ${param(q.assetClass)}::asset_class`);
      if (q.borrowerType) where.push(`borrower_type = ${param(q.borrowerType)}::borrower_type`);
      if (q.legalStatus) where.push(`legal_status = ${param(q.legalStatus)}::legal_status`);
      if (q.collateralType) where.push(`collateral_type = ${param(q.collateralType)}::collateral_type`);
      if (q.jurisdiction) where.push(`jurisdiction = ${param(q.jurisdiction)}`);
      if (q.minDaysPastDue !== undefined) where.push(`days_past_due >= ${param(q.minDaysPastDue)}`);
      if (q.maxDaysPastDue !== undefined) where.push(`days_past_due <= ${param(q.maxDaysPastDue)}`);
      if (q.minBalance !== undefined) where.push(`principal_balance >= ${param(q.minBalance)}::numeric`);
      if (q.maxBalance !== undefined) where.push(`principal_balance <= ${param(q.maxBalance)}::numeric`);
      if (q.cursor !== undefined) where.push(`loan_id > ${param(String(decodeCursor(q.cursor, 1)[0]))}`);
      const { rows } = await app.db.pool.query<LoanRow>(
        `SELECT loan_id, row_number, counterparty_id, borrower_type, asset_class, currency,
                to_char(origination_date, 'YYYY-MM-DD') AS origination_date, principal_balance, accrued_interest,
                legal_balance, days_past_due, to_char(date_of_default, 'YYYY-MM-DD') AS date_of_default,
                to_char(last_payment_date, 'YYYY-MM-DD') AS last_payment_date, legal_status, jurisdiction,
                collateral_type, collateral_value,
                to_char(collateral_valuation_date, 'YYYY-MM-DD') AS collateral_valuation_date, lien_position, extra
         FROM loan WHERE ${where.join(' AND ')} ORDER BY loan_id LIMIT ${param(q.limit + 1)}`,
        values,
      );
      const page = rows.slice(0, q.limit);
      return {
        items: page.map((r) => ({
          loanId: r.loan_id,
          row: r.row_number,
          counterpartyId: r.counterparty_id,
          borrowerType: r.borrower_type,
          assetClass: r.asset_class,
          currency: r.currency,
          originationDate: r.origination_date,
          principalBalance: r.principal_balance,
          accruedInterest: r.accrued_interest,
          legalBalance: r.legal_balance,
          daysPastDue: r.days_past_due,
          dateOfDefault: r.date_of_default,
          lastPaymentDate: r.last_payment_date,
          legalStatus: r.legal_status,
          jurisdiction: r.jurisdiction,
          collateralType: r.collateral_type,
          collateralValue: r.collateral_value,
          collateralValuationDate: r.collateral_valuation_date,
          lienPosition: r.lien_position,
          extra: r.extra,
        })),
        nextCursor: rows.length > q.limit ? encodeCursor([page[page.length - 1].loan_id]) : null,
      };
    },
  );
};
