import { type FastifyPluginAsyncZod, ResponseSerializationError } from 'fastify-type-provider-zod';
import { getAddress } from 'viem';
import { z } from 'zod';
import {
  getPortfolio,
  isValidSortKey,
  listPortfolios,
  type PortfolioRow,
  type PortfolioSort,
  type TrancheRow,
} from '../../core/catalog/listing.ts';
import { createDraftPortfolio } from '../../core/catalog/portfolios.ts';
import { readTrancheState } from '../../core/chain/actions.ts';
import type { ChainPublicClient } from '../../core/chain/clients.ts';
import { NotFoundError, ValidationFailedError } from '../../core/platform/errors/index.ts';
import { globalPlugin } from '../plugins/global-plugin.ts';
import { listingCachePlugin } from '../plugins/listing-cache.ts';
import {
  decodeCursor,
  encodeCursor,
  errorResponses,
  idParamsSchema,
  isUuid,
  pageOf,
} from '../schemas/common.ts';
import {
  createPortfolioBodySchema,
  listPortfoliosQuerySchema,
  portfolioDetailSchema,
  portfolioSummarySchema,
  toPortfolioDetail,
  toPortfolioSummary,
} from '../schemas/portfolio.ts';

const listingPageSchema = pageOf(portfolioSummarySchema);
type ListingQuery = z.infer<typeof listPortfoliosQuerySchema>;
type ListingPage = z.infer<typeof listingPageSchema>;

/** The cache key of a listing: the validated query with its defaults, in a fixed order. */
const listingKey = (q: ListingQuery) =>
  JSON.stringify([q.status, q.assetClass, q.jurisdiction, q.minUpb, q.maxUpb, q.sort, q.limit, q.cursor]);

/** POST /v1/portfolios (issuer), GET /v1/portfolios (public, filtered, sorted, paginated), GET /v1/portfolios/:id. */
const routes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/portfolios',
    {
      config: { invalidatesListing: true, auth: { roles: ['issuer'] } },
      schema: {
        tags: ['portfolios'],
        summary: 'Create a draft portfolio with its tranches',
        body: createPortfolioBodySchema,
        response: { 201: portfolioDetailSchema, ...errorResponses(400, 401, 403, 429) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const principal = request.principal!;
      const owner = principal.kind === 'apiKey' ? principal.owner : '';
      const created = await createDraftPortfolio(app.db, { ...body, owner });
      request.audit = { type: 'portfolio', id: created.portfolio.id, details: { name: body.name } };
      return reply.status(201).send(toPortfolioDetail(created.portfolio, created.tranches));
    },
  );

  const listPage = async (q: ListingQuery): Promise<ListingPage> => {
    const desc = q.sort.startsWith('-');
    const sort = (desc ? q.sort.slice(1) : q.sort) as PortfolioSort;
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, 3);
    if (
      after !== undefined &&
      (after[0] !== q.sort || !isUuid(String(after[2])) || !isValidSortKey(sort, String(after[1])))
    ) {
      throw new ValidationFailedError('Invalid cursor', {
        statusCode: 400,
        details: [
          { path: 'querystring.cursor', message: 'belongs to another sort order; start again without it' },
        ],
      });
    }
    const { rows, next } = await listPortfolios(app.db.pool, {
      status: q.status,
      assetClass: q.assetClass,
      jurisdiction: q.jurisdiction,
      minUpb: q.minUpb,
      maxUpb: q.maxUpb,
      sort,
      order: desc ? 'desc' : 'asc',
      limit: q.limit,
      after: after === undefined ? undefined : [String(after[1]), String(after[2])],
    });
    return {
      items: rows.map(toPortfolioSummary),
      nextCursor: next === null ? null : encodeCursor([q.sort, ...next]),
    };
  };

  app.get(
    '/v1/portfolios',
    {
      schema: {
        tags: ['portfolios'],
        summary: 'List portfolios with their statistics',
        description:
          'Answered from a response cache for up to `LISTING_CACHE_TTL_MS` (default 1 s); writes through the API ' +
          'are visible at once, background changes (publish jobs) within that time.',
        querystring: listPortfoliosQuerySchema,
        response: { 200: listingPageSchema, ...errorResponses(400, 429) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      // the page is serialized once per cache entry and sent as bytes: Fastify does not serialize a string
      // or Buffer body again; it is checked against the response schema here instead, as the serializer would
      const body = await app.listingCache.get(listingKey(q), async () => {
        const page = await listPage(q);
        const encoded = z.safeEncode(listingPageSchema, page);
        if (!encoded.success)
          throw new ResponseSerializationError(request.method, request.url, { cause: encoded.error });
        return Buffer.from(JSON.stringify(encoded.data));
      });
      // (typed as the page: the provider types send() by the response schema, which the bytes encode)
      return reply.type('application/json; charset=utf-8').send(body as unknown as ListingPage);
    },
  );

  /**
   * Interest arrears are chain state no event carries: read from `Portfolio.trancheState` when the app has a
   * client of the portfolio's chain and the close is indexed; else they stay null. A failed read leaves them null.
   */
  async function withArrears(portfolio: PortfolioRow, tranches: TrancheRow[], closed: boolean) {
    const chain = app.chain as ChainPublicClient | null;
    if (!closed || chain === null || portfolio.portfolio_address === null || portfolio.chain_id === null)
      return tranches;
    const states = await (async () => {
      // the client's configured chain when it has one: no RPC round trip per GET
      if ((chain.chain?.id ?? (await chain.getChainId())) !== portfolio.chain_id) return null;
      return readTrancheState(chain, { portfolio: getAddress(portfolio.portfolio_address as string) });
    })().catch(() => null);
    if (states === null || states.length !== tranches.length) return tranches;
    return tranches.map((t, i) => ({ ...t, interest_arrears: states[i].arrears.toString() }));
  }

  app.get(
    '/v1/portfolios/:id',
    {
      schema: {
        tags: ['portfolios'],
        summary: 'A portfolio with tranches, statistics and chain addresses',
        params: idParamsSchema,
        response: { 200: portfolioDetailSchema, ...errorResponses(404, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const found = isUuid(id) ? await getPortfolio(app.db.pool, id) : null;
      if (found === null) throw new NotFoundError('Portfolio', id);
      const tranches = await withArrears(found.portfolio, found.tranches, found.offering !== null);
      return toPortfolioDetail(found.portfolio, tranches, found.offering);
    },
  );
};

/**
 * The portfolio routes, with the listing's response cache registered app-wide first (its invalidation hook
 * must see every write, of any route registered after it) unless buildApp registered it already.
 */
export const portfolioRoutes = globalPlugin(async (app) => {
  if (!app.hasDecorator('listingCache')) await app.register(listingCachePlugin);
  await app.register(routes);
});
