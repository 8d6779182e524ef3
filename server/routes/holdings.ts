import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAddress } from 'viem';
import { z } from 'zod';
import { addressSchema, errorResponses, int4QuerySchema, uintStringSchema } from '../schemas/common.ts';

const holdingsParamsSchema = z.object({ address: addressSchema });

const holdingsQuerySchema = z.object({
  chainId: int4QuerySchema(1).optional().describe('only holdings on this chain'),
});

const holdingSchema = z.object({
  chainId: z.number().int(),
  tranche: z.string().describe('the tranche token (checksummed)'),
  balance: uintStringSchema.describe('tranche-token base units, as indexed'),
  portfolio: z.string().nullable().describe('the Portfolio contract the token belongs to'),
  trancheIndex: z.number().int().nullable().describe('seniority of the tranche (0 = most senior)'),
  portfolioId: z
    .string()
    .nullable()
    .describe('the listing, when the portfolio was published through the API'),
  trancheId: z.string().nullable(),
  name: z.string().nullable(),
  symbol: z.string().nullable(),
});

const chainStateSchema = z.object({
  chainId: z.number().int(),
  indexedBlock: z.string().describe('every transfer up to this block is counted'),
  finalizedBlock: z
    .string()
    .describe('blocks up to here are final; above it a reorg may still change balances'),
});

const holdingsSchema = z
  .object({
    address: z.string(),
    items: z.array(holdingSchema),
    chains: z.array(chainStateSchema).describe('the indexer position of each chain the balances come from'),
  })
  .meta({ id: 'Holdings' });

type HoldingRow = {
  chain_id: number;
  tranche: string;
  balance: string;
  portfolio: string | null;
  tranche_index: number | null;
  portfolio_id: string | null;
  tranche_id: string | null;
  name: string | null;
  symbol: string | null;
};

/** GET /v1/investors/:address/holdings: non-zero tranche balances from the chain indexer's tables. */
export const holdingsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/investors/:address/holdings',
    {
      schema: {
        tags: ['investors'],
        summary: 'Balances per tranche, as indexed from the chain',
        params: holdingsParamsSchema,
        querystring: holdingsQuerySchema,
        response: { 200: holdingsSchema, ...errorResponses(400, 429) },
      },
    },
    async (request) => {
      const address = request.params.address;
      const chainId = request.query.chainId ?? null;
      const rows = await app.prisma.$queryRawUnsafe<HoldingRow[]>(
        `SELECT h.chain_id, h.tranche, h.balance::text AS balance, c.portfolio, c.tranche_index,
                p.id::text AS portfolio_id, t.id::text AS tranche_id, t.name, t.symbol
         FROM token_holding h
         LEFT JOIN indexed_contract c ON c.chain_id = h.chain_id AND c.address = h.tranche
         LEFT JOIN portfolio p ON p.chain_id = h.chain_id AND lower(p.portfolio_address) = lower(c.portfolio)
         LEFT JOIN tranche t ON t.portfolio_id = p.id AND t.seniority = c.tranche_index
         WHERE h.account = $1 AND h.balance > 0 AND ($2::int IS NULL OR h.chain_id = $2::int)
         ORDER BY h.chain_id, c.portfolio, c.tranche_index, h.tranche`,
        address,
        chainId,
      );
      const chainIds = [...new Set(rows.map((r) => r.chain_id))];
      const cursors =
        chainIds.length === 0
          ? []
          : await app.prisma.indexerCursor.findMany({
              where: { chainId: { in: chainIds } },
              orderBy: { chainId: 'asc' },
            });
      return {
        address,
        items: rows.map((r) => ({
          chainId: r.chain_id,
          tranche: getAddress(r.tranche),
          balance: r.balance,
          portfolio: r.portfolio === null ? null : getAddress(r.portfolio),
          trancheIndex: r.tranche_index,
          portfolioId: r.portfolio_id,
          trancheId: r.tranche_id,
          name: r.name,
          symbol: r.symbol,
        })),
        chains: cursors.map((c) => ({
          chainId: c.chainId,
          indexedBlock: c.indexedBlock.toString(),
          finalizedBlock: c.finalizedBlock.toString(),
        })),
      };
    },
  );
};
