import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  type IndexerHealth,
  indexerHealth,
  readIndexerCursor,
  readReportedIndexerStatus,
} from '../../core/chain-index/status.ts';
import { countWorkers } from '../../core/platform/queue.ts';
import { errorResponses } from '../schemas/common.ts';

const componentSchema = z.object({
  status: z.enum(['ok', 'down', 'unconfigured']),
  latencyMs: z.number().optional(),
  error: z.string().optional(),
});

const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checkedAt: z.iso.datetime().describe('when the probes of this answer ran (reused for HEALTH_CACHE_MS)'),
  postgres: componentSchema,
  redis: componentSchema,
  chain: componentSchema.extend({ chainId: z.number().int().optional(), blockNumber: z.string().optional() }),
  worker: componentSchema.extend({ workers: z.number().int().optional() }),
  indexer: componentSchema.extend({
    chainId: z.number().int().optional(),
    indexedBlock: z.string().optional().describe('last block indexed'),
    lag: z.number().int().optional().describe('blocks between the chain head and the indexed block'),
    lastSyncAt: z.string().optional().describe('when the last indexer pass ended'),
    lastError: z.string().optional().describe("the worker's indexer: error of its last pass, if it failed"),
  }),
});

type Component = z.infer<typeof componentSchema>;

async function probe<T extends object>(
  fn: () => Promise<T>,
  timeoutMs = 2_000,
): Promise<Component & Partial<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const extra = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - started), ...extra };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { status: 'down', error: message } as Component & Partial<T>;
  } finally {
    clearTimeout(timer);
  }
}

type HealthReport = { statusCode: 200 | 503; body: z.infer<typeof healthSchema> };

/**
 * One health report at a time, reused for `ttlMs` after it is ready: a hit while a probe is in flight
 * joins it, a hit within `ttlMs` of the last report gets that report, so N hits in an interval run the
 * probes (SELECT 1, PING, CLIENT LIST, two RPC calls, the indexer cursor) once, not N times.
 */
export function singleFlightReport(
  run: () => Promise<HealthReport>,
  ttlMs: number,
  now: () => number = () => performance.now(),
): () => Promise<HealthReport> {
  let current: { report: Promise<HealthReport>; readyAt: number | null } | null = null;
  return () => {
    if (current !== null && (current.readyAt === null || now() - current.readyAt < ttlMs)) {
      return current.report;
    }
    const entry: { report: Promise<HealthReport>; readyAt: number | null } = {
      report: run(),
      readyAt: null,
    };
    current = entry;
    entry.report.then(
      () => {
        entry.readyAt = now();
      },
      () => {
        // a failed run is not reused (run() itself reports a component's failure as `down`)
        if (current === entry) current = null;
      },
    );
    return entry.report;
  };
}

/**
 * GET /health: Postgres, Redis, chain, worker and chain-indexer status. 200 when Postgres and (if
 * configured) Redis answer, 503 otherwise; chain and worker report `unconfigured` when RPC_URL /
 * REDIS_URL are unset. The indexer runs in the worker process: its status comes from the shared
 * `indexer_cursor` row (last pass, indexed block vs the chain head) and what the worker reports in
 * Redis (core/chain-index/status.ts); `down` when no pass ran for a minute or the indexer stopped.
 *
 * Bounded: the probes run at most once per `HEALTH_CACHE_MS` and one run at a time
 * (`singleFlightReport`; `checkedAt` says when), and the route has the API's per-client rate limit.
 */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const report = singleFlightReport(() => probeAll(), app.config.HEALTH_CACHE_MS);
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Service health',
        description:
          'The probes run at most once per `HEALTH_CACHE_MS` (default 1 s) and one run at a time; ' +
          '`checkedAt` is when the answer was measured. Rate-limited like every route.',
        response: { 200: healthSchema, 503: healthSchema, ...errorResponses(429) },
      },
    },
    async (_request, reply) => {
      const { statusCode, body } = await report();
      return reply.status(statusCode).send(body);
    },
  );

  async function probeAll(): Promise<HealthReport> {
    const checkedAt = new Date().toISOString();
    const { redis, chain } = app;
    const [postgres, redisStatus, chainStatus] = await Promise.all([
      probe(async () => {
        await app.db.pool.query('SELECT 1');
        return {};
      }),
      redis === null
        ? Promise.resolve<Component>({ status: 'unconfigured' })
        : probe(async () => {
            await redis.ping();
            return {};
          }),
      chain === null
        ? Promise.resolve<Component>({ status: 'unconfigured' })
        : probe(async () => {
            const [chainId, blockNumber] = await Promise.all([chain.getChainId(), chain.getBlockNumber()]);
            return { chainId, blockNumber: blockNumber.toString() };
          }),
    ]);
    let worker: z.infer<typeof healthSchema>['worker'] = { status: 'unconfigured' };
    if (redis !== null && redisStatus.status === 'ok') {
      const workers = await probe(async () => ({
        workers: await countWorkers(redis, app.config.QUEUE_PREFIX),
      }));
      worker =
        workers.status === 'ok' ? { ...workers, status: workers.workers! > 0 ? 'ok' : 'down' } : workers;
    } else if (redis !== null) {
      worker = { status: 'down', error: 'redis is down' };
    }
    let indexer: IndexerHealth = { status: 'unconfigured' };
    const head = chainStatus as Component & { chainId?: number; blockNumber?: string };
    if (chain !== null) {
      if (head.status !== 'ok' || head.chainId === undefined) {
        indexer = { status: 'down', error: 'the chain is down' };
      } else if (postgres.status !== 'ok') {
        indexer = { status: 'down', error: 'postgres is down' };
      } else {
        const chainId = head.chainId;
        const chainHead = BigInt(head.blockNumber ?? 0);
        const read = await probe(async () => {
          const [cursor, reported] = await Promise.all([
            readIndexerCursor(app.db.pool, chainId),
            redis !== null && redisStatus.status === 'ok'
              ? readReportedIndexerStatus(redis, app.config.QUEUE_PREFIX, chainId)
              : null,
          ]);
          return { health: indexerHealth({ chainId, chainHead, cursor, reported, now: new Date() }) };
        });
        indexer = read.health ?? { status: 'down', error: read.error };
      }
    }
    const serving = postgres.status === 'ok' && redisStatus.status !== 'down';
    const allOk = [postgres, redisStatus, chainStatus, worker, indexer].every((c) => c.status !== 'down');
    return {
      statusCode: serving ? 200 : 503,
      body: {
        status: allOk ? 'ok' : 'degraded',
        checkedAt,
        postgres,
        redis: redisStatus,
        chain: chainStatus,
        worker,
        indexer,
      },
    };
  }

  app.get(
    '/openapi.json',
    {
      config: { rateLimit: false },
      schema: {
        hide: true,
        response: { 200: z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }) },
      },
    },
    async () => app.swagger() as unknown as { openapi: string; paths: Record<string, unknown> },
  );
};
