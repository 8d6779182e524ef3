import path from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ingestLoanTape, tooLarge } from '../../core/catalog/loan-tape/ingest.ts';
import { listLoans, tapeStatistics } from '../../core/catalog/loan-tape/loans.ts';
import {
  borrowerTypes,
  collateralTypes,
  legalStatuses,
  loanAssetClasses,
} from '../../core/catalog/loan-tape/rules.ts';
import { type SpooledLoanTape, spoolLoanTape } from '../../core/catalog/loan-tape/spool.ts';
import { findPortfolio } from '../../core/catalog/portfolios.ts';
import { resolutionKinds } from '../../core/catalog/remittance-reports.ts';
import { assertTapeEditable } from '../../core/catalog/rules.ts';
import { UnsupportedMediaTypeError } from '../../core/platform/errors/index.ts';
import { assertDataRoomAccess, assertOwns } from '../plugins/auth.ts';
import {
  decimalStringSchema,
  decodeCursor,
  encodeCursor,
  errorResponses,
  idParamsSchema,
  int4QuerySchema,
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
    resolution: z
      .enum(resolutionKinds)
      .nullable()
      .describe('the resolution the first remittance report giving one gave (null: none yet); final'),
    resolvedAt: z.iso.date().nullable().describe('the period end (UTC) of the report that resolved it'),
    collectedToDate: z
      .string()
      .describe('sum of `collected` over the stored remittance reports, pay-token base units'),
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

/**
 * A CSV upload's body spooled to `DATA_DIR/uploads` (the loan tape, a remittance report): 415 unless
 * it is a stream (text/csv), 413 before reading when the declared length is already too large, and on
 * any failure while the client may still be sending, stop reading and close the connection after the
 * answer.
 */
export async function spoolCsvUpload(
  config: { DATA_DIR: string; LOAN_TAPE_MAX_BYTES: number; LOAN_TAPE_UPLOAD_TIMEOUT_MS: number },
  body: unknown,
  headers: { 'content-length'?: string },
  reply: { elapsedTime: number; header: (name: string, value: string) => unknown },
  options: { what: string; tooLargeError?: (maxBytes: number) => Error; hash?: boolean },
): Promise<SpooledLoanTape> {
  if (!(body instanceof Readable)) {
    throw new UnsupportedMediaTypeError(`Send ${options.what} as text/csv`, { statusCode: 415 });
  }
  const maxBytes = config.LOAN_TAPE_MAX_BYTES;
  const declared = Number(headers['content-length'] ?? Number.NaN);
  const tooLargeError = options.tooLargeError ?? tooLarge;
  try {
    if (declared > maxBytes) throw tooLargeError(maxBytes);
    return await spoolLoanTape({
      source: body,
      dir: path.join(config.DATA_DIR, 'uploads'),
      maxBytes,
      timeoutMs: config.LOAN_TAPE_UPLOAD_TIMEOUT_MS,
      elapsedMs: reply.elapsedTime,
      timeoutSetting: 'LOAN_TAPE_UPLOAD_TIMEOUT_MS',
      ...(options.tooLargeError === undefined
        ? {}
        : { what: capitalize(options.what), tooLargeError: options.tooLargeError }),
      ...(options.hash ? { hash: true } : {}),
    });
  } catch (error) {
    if (!body.readableEnded) {
      body.unpipe();
      body.resume();
      reply.header('connection', 'close');
    }
    throw error;
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** At most `max` runs at a time; the others wait in arrival order. */
export function concurrencyLimit(max: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(run: () => Promise<T>): Promise<T> => {
    if (active < max) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await run();
    } finally {
      // hand the slot to the next in line, or free it
      const next = waiting.shift();
      if (next === undefined) active--;
      else next();
    }
  };
}

/** PUT /v1/portfolios/:id/loan-tape (issuer, CSV) and GET /v1/portfolios/:id/loans (data-room access). */
export const loanRoutes: FastifyPluginAsyncZod = async (app) => {
  const catalog = { prisma: app.prisma };
  // every ingest holds a pooled connection (and its portfolio's row lock) until it commits
  const ingest = concurrencyLimit(app.config.LOAN_TAPE_CONCURRENT_INGESTS);
  // the tape is streamed to the ingest, never buffered
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  app.put(
    '/v1/portfolios/:id/loan-tape',
    {
      config: { invalidatesListing: true, auth: { roles: ['issuer'] } },
      bodyLimit: app.config.LOAN_TAPE_MAX_BYTES,
      schema: {
        tags: ['loans'],
        summary: 'Upload (replace) the loan tape of a draft portfolio: CSV, all or nothing',
        description:
          'Send the CSV of docs/loan-tape.md with `Content-Type: text/csv`. Every cell is validated; a bad ' +
          'tape answers 422 with `{ row, column, value, reason }` per bad cell (first 1,000, with the total ' +
          'count) and stores nothing. The body is received in full before the ingest starts; one that takes ' +
          'longer than `LOAN_TAPE_UPLOAD_TIMEOUT_MS` answers 408 REQUEST_TIMEOUT and stores nothing.',
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
          ...errorResponses(400, 401, 403, 404, 408, 409, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const portfolio = await findPortfolio(catalog, request.params.id);
      assertOwns(request.principal, portfolio);
      assertTapeEditable(portfolio.status);
      // 1. the body to a file, with no connection or lock held while the client sends it
      const maxBytes = app.config.LOAN_TAPE_MAX_BYTES;
      request.audit = { type: 'portfolio', id: portfolio.id, details: { action: 'loan-tape' } };
      const spooled = await spoolCsvUpload(app.config, request.body, request.headers, reply, {
        what: 'the loan tape',
      });
      // 2. the file into Postgres in one transaction (all or nothing, per-cell 422s), a bounded number at once
      try {
        const result = await ingest(() =>
          ingestLoanTape({ pool: app.db.pool, portfolioId: portfolio.id, source: spooled.open(), maxBytes }),
        );
        request.audit.details = { action: 'loan-tape', loanCount: result.loanCount, sha256: result.sha256 };
        const stats = await tapeStatistics(catalog, portfolio.id);
        return {
          portfolioId: portfolio.id,
          loanCount: result.loanCount,
          sha256: result.sha256,
          size: result.size,
          stats,
        };
      } finally {
        await spooled.remove();
      }
    },
  );

  app.get(
    '/v1/portfolios/:id/loans',
    {
      config: { auth: 'credential' },
      schema: {
        tags: ['loans'],
        summary: 'The loan tape, paginated and filterable (allowlisted investors, the issuer, admins)',
        params: idParamsSchema,
        querystring: listLoansQuerySchema,
        response: { 200: pageOf(loanSchema), ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const portfolio = await findPortfolio(catalog, request.params.id);
      await assertDataRoomAccess(request, portfolio);
      const { cursor, ...filters } = request.query;
      const page = await listLoans(app.db.pool, {
        ...filters,
        portfolioId: portfolio.id,
        afterLoanId: cursor === undefined ? undefined : String(decodeCursor(cursor, 1)[0]),
      });
      return {
        items: page.items,
        nextCursor: page.next === null ? null : encodeCursor([page.next]),
      };
    },
  );
};
