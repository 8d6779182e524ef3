/**
 * The distributions of recoveries (API.md, ARCHITECTURE.md "The distribution job"), public:
 *
 * - `GET /v1/portfolios/:id/distributions`: one item per recovery, ordered by recoveryId, paginated;
 * - `GET /v1/distributions/:id`: the same item plus the timelock, the error and the transactions;
 * - `GET /v1/distributions/:id/tree`: the tree dump the root and `treeHash` commit to (the
 *   `@openzeppelin/merkle-tree` `StandardMerkleTree` dump), streamed from disk as written by the
 *   worker, ETag = treeHash; 409 while the tree is not built yet.
 *
 * Anyone can recompute a distribution from these and the chain: `npm run cli -- verify-distribution`.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAddress } from 'viem';
import { z } from 'zod';
import type { Db, Prisma } from '../../core/db/index.ts';
import {
  ConflictError,
  InvalidCursorError,
  NotFoundError,
  ServiceUnavailableError,
} from '../../core/platform/errors/index.ts';
import {
  decodeCursor,
  encodeCursor,
  errorResponses,
  idParamsSchema,
  isUuid,
  limitSchema,
  pageOf,
  uintStringSchema,
} from '../schemas/common.ts';

const hexSchema = z.string().regex(/^0x[0-9a-fA-F]*$/);

export const distributionStatuses = ['computing', 'proposed', 'claimable', 'paid', 'failed'] as const;

const distributionTrancheSchema = z.object({
  index: z.number().int().describe('seniority (0 = most senior)'),
  tranche: z.string().describe('the tranche token (checksummed)'),
  amount: uintStringSchema.describe(
    "this recovery's total for the tranche (interest + principal + residual)",
  ),
  carryIn: uintStringSchema.describe("dust carried from the tranche's previous distribution"),
  distributed: uintStringSchema.describe('paid to the holders of the tranche'),
  dustOut: uintStringSchema.describe("amount + carryIn - distributed, carried into the tranche's next one"),
  supply: uintStringSchema.describe('totalSupply of the tranche token at the snapshot block'),
});

export const distributionSchema = z
  .object({
    id: z.uuid(),
    portfolioId: z.uuid(),
    chainId: z.number().int(),
    portfolio: z.string().describe('the Portfolio contract (checksummed)'),
    recoveryId: uintStringSchema,
    status: z.enum(distributionStatuses),
    snapshotBlock: uintStringSchema.describe('holders are paid pro rata to their balances at this block'),
    recoveryTxHash: hexSchema,
    amount: uintStringSchema
      .nullable()
      .describe("the recovery's tranche total (sum over the tranches), null before the event is indexed"),
    payout: uintStringSchema.nullable().describe("this distribution's payouts (null until computed)"),
    total: uintStringSchema.nullable().describe('sum of the cumulative amounts the root commits to'),
    root: hexSchema.nullable(),
    treeHash: hexSchema.nullable().describe('keccak256 of the tree dump bytes (GET .../tree)'),
    holderCount: z.number().int().describe('leaves of the tree (0 until computed)'),
    tranches: z.array(distributionTrancheSchema),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Distribution' });

export const distributionDetailSchema = distributionSchema
  .extend({
    validAt: uintStringSchema.nullable().describe('unix time from which the proposed root may be accepted'),
    error: z.string().nullable(),
    transactions: z.object({
      recovery: hexSchema,
      propose: hexSchema.nullable(),
      accept: hexSchema.nullable(),
      pushes: z.array(hexSchema).describe('the distinct claimMany transactions that pushed payouts'),
    }),
  })
  .meta({ id: 'DistributionDetail' });

const listQuerySchema = z.object({
  limit: limitSchema(100, 20),
  cursor: z.string().max(1_000).optional(),
});

const include = {
  tranches: { orderBy: { trancheIndex: 'asc' } },
  _count: { select: { holders: true } },
} as const satisfies Prisma.DistributionInclude;

type Row = Prisma.DistributionGetPayload<{ include: typeof include }>;

const text = (value: { toFixed: (d: number) => string } | null) => (value === null ? null : value.toFixed(0));

/** Sum of the recovery's tranche totals of each row, keyed by `txHash:logIndex`. */
async function recoveryAmounts(prisma: Db['prisma'], rows: Row[]): Promise<Map<string, string>> {
  if (rows.length === 0) return new Map();
  const sums = await prisma.recoveryEventTranche.groupBy({
    by: ['chainId', 'txHash', 'logIndex'],
    where: {
      OR: rows.map((r) => ({ chainId: r.chainId, txHash: r.recoveryTxHash, logIndex: r.recoveryLogIdx })),
    },
    _sum: { total: true },
  });
  return new Map(
    sums.map((s) => [`${s.chainId}:${s.txHash}:${s.logIndex}`, (s._sum.total ?? 0).toFixed(0)] as const),
  );
}

function toItem(row: Row, amounts: Map<string, string>): z.infer<typeof distributionSchema> {
  return {
    id: row.id,
    portfolioId: row.portfolioId,
    chainId: row.chainId,
    portfolio: getAddress(row.portfolio),
    recoveryId: row.recoveryId.toFixed(0),
    status: row.status,
    snapshotBlock: row.snapshotBlock.toString(),
    recoveryTxHash: row.recoveryTxHash,
    amount: amounts.get(`${row.chainId}:${row.recoveryTxHash}:${row.recoveryLogIdx}`) ?? null,
    payout: text(row.payout),
    total: text(row.total),
    root: row.root,
    treeHash: row.treeHash,
    holderCount: row._count.holders,
    tranches: row.tranches.map((t) => ({
      index: t.trancheIndex,
      tranche: getAddress(t.tranche),
      amount: t.amount.toFixed(0),
      carryIn: t.carryIn.toFixed(0),
      distributed: t.distributed.toFixed(0),
      dustOut: t.dustOut.toFixed(0),
      supply: t.supply.toFixed(0),
    })),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * The distinct claimMany transactions of a distribution, ascending. A skip scan over the
 * (distribution_id, pushed_tx) index: one index probe per transaction, never one row per holder
 * (Prisma's `distinct` fetches every pushed holder row and dedups in memory: 1M rows for 1M holders).
 * The answer has holders / DISTRIBUTION_PUSH_BATCH items at most.
 */
export async function pushTransactions(prisma: Db['prisma'], distributionId: string): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ tx: string }[]>`
    WITH RECURSIVE pushes(tx) AS (
      SELECT min(pushed_tx) FROM distribution_holder
       WHERE distribution_id = ${distributionId}::uuid AND pushed_tx IS NOT NULL
      UNION ALL
      SELECT (SELECT min(h.pushed_tx) FROM distribution_holder h
               WHERE h.distribution_id = ${distributionId}::uuid AND h.pushed_tx > pushes.tx)
        FROM pushes WHERE pushes.tx IS NOT NULL
    )
    SELECT tx FROM pushes WHERE tx IS NOT NULL ORDER BY tx`;
  return rows.map((r) => r.tx);
}

async function findDistribution(prisma: Db['prisma'], id: string): Promise<Row> {
  const row = isUuid(id) ? await prisma.distribution.findUnique({ where: { id }, include }) : null;
  if (row === null) throw new NotFoundError('Distribution', id);
  return row;
}

const invalidCursor = () => new InvalidCursorError();

export const distributionRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/portfolios/:id/distributions',
    {
      schema: {
        tags: ['distributions'],
        summary: "A portfolio's distributions (one per recovery), with the per-tranche breakdown",
        params: idParamsSchema,
        querystring: listQuerySchema,
        response: { 200: pageOf(distributionSchema), ...errorResponses(400, 404, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const portfolio = isUuid(id)
        ? await app.prisma.portfolio.findUnique({ where: { id }, select: { id: true } })
        : null;
      if (portfolio === null) throw new NotFoundError('Portfolio', id);
      const { limit, cursor } = request.query;
      let after: string | undefined;
      if (cursor !== undefined) {
        const [value] = decodeCursor(cursor, 1);
        if (typeof value !== 'string' || !/^\d{1,78}$/.test(value)) throw invalidCursor();
        after = value;
      }
      const rows = await app.prisma.distribution.findMany({
        where: { portfolioId: portfolio.id, ...(after === undefined ? {} : { recoveryId: { gt: after } }) },
        orderBy: [{ recoveryId: 'asc' }, { id: 'asc' }],
        take: limit + 1,
        include,
      });
      const page = rows.slice(0, limit);
      const amounts = await recoveryAmounts(app.prisma, page);
      return {
        items: page.map((row) => toItem(row, amounts)),
        nextCursor: rows.length > limit ? encodeCursor([page[page.length - 1].recoveryId.toFixed(0)]) : null,
      };
    },
  );

  app.get(
    '/v1/distributions/:id',
    {
      schema: {
        tags: ['distributions'],
        summary: 'A distribution: breakdown, root, tree hash and transactions',
        params: idParamsSchema,
        response: { 200: distributionDetailSchema, ...errorResponses(404, 429) },
      },
    },
    async (request) => {
      const row = await findDistribution(app.prisma, request.params.id);
      const [amounts, pushes] = await Promise.all([
        recoveryAmounts(app.prisma, [row]),
        pushTransactions(app.prisma, row.id),
      ]);
      return {
        ...toItem(row, amounts),
        validAt: row.validAt === null ? null : row.validAt.toString(),
        error: row.error,
        transactions: {
          recovery: row.recoveryTxHash,
          propose: row.proposeTx,
          accept: row.acceptTx,
          pushes,
        },
      };
    },
  );

  app.get(
    '/v1/distributions/:id/tree',
    {
      schema: {
        tags: ['distributions'],
        summary: 'The tree dump (@openzeppelin/merkle-tree StandardMerkleTree format); ETag = treeHash',
        description:
          'The exact bytes whose keccak256 is the `treeHash` passed to Distributor.proposeRoot; ' +
          '`StandardMerkleTree.load(JSON.parse(body))` gives the root and every proof.',
        params: idParamsSchema,
        response: {
          200: z
            .object({
              format: z.literal('standard-v1'),
              leafEncoding: z.array(z.string()),
              tree: z.array(hexSchema),
              values: z.array(z.object({ value: z.tuple([z.string(), z.string()]), treeIndex: z.number() })),
            })
            .describe('streamed as written by the worker (not re-serialized)'),
          ...errorResponses(404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const row = isUuid(id)
        ? await app.prisma.distribution.findUnique({
            where: { id },
            select: { id: true, treeHash: true, treePath: true, status: true },
          })
        : null;
      if (row === null) throw new NotFoundError('Distribution', id);
      if (row.treeHash === null || row.treePath === null) {
        throw new ConflictError(
          `The tree of distribution ${row.id} is not built yet (status ${row.status})`,
          {
            details: {
              status: row.status,
            },
          },
        );
      }
      const etag = `"${row.treeHash}"`;
      let size: number;
      try {
        size = (await stat(row.treePath)).size;
      } catch (error) {
        throw new ServiceUnavailableError(`The tree file of distribution ${row.id} is missing`, {
          retryable: true,
          cause: error,
        });
      }
      reply.header('etag', etag);
      reply.header('content-length', size);
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      reply.type('application/json');
      // a stream is piped as is (never serialized): the exact bytes treeHash commits to
      return reply.send(createReadStream(row.treePath) as never);
    },
  );
};
