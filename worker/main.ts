/**
 * The BullMQ worker process: `npm run worker` (DATABASE_URL, REDIS_URL, RPC_URL and the deployment
 * file of `npm run cli -- deploy`). `createWorker(options)` starts one BullMQ Worker per queue it
 * handles, and the chain indexer of the deployment (worker/indexer), and returns a handle whose
 * `close()` lets running jobs finish and stops the indexer; the process closes it on SIGTERM / SIGINT.
 */
import { pathToFileURL } from 'node:url';
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { handlePublish, type PublishContext } from '../core/catalog/publish.ts';
import { isLocalChain } from '../core/chain/clients.ts';
import { createPlatformChain, type PlatformChain } from '../core/chain/deployment.ts';
import { createRelayer, type Relayer } from '../core/chain/relayer/relayer.ts';
import { indexerStatusKey, reportIndexerStatus } from '../core/chain-index/status.ts';
import { createDb, type Db } from '../core/db/index.ts';
import {
  type DistributionContext,
  findNewDistributions,
  handleDistribution,
  pendingDistributions,
} from '../core/distributions/run.ts';
import { type Config, loadConfig } from '../core/platform/config.ts';
import { BaseError, ConfigInvalidError } from '../core/platform/errors/index.ts';
import { createRedis } from '../core/platform/queue.ts';
import { createIndexer, type Indexer } from './indexer/index.ts';
import {
  bullJobId,
  createJobQueues,
  JOB_NAMES,
  JOB_QUEUE,
  type JobDefinition,
  JobDelay,
  type JobHandlers,
  type JobName,
  type QueueName,
} from './jobs.ts';

export type CreateWorkerOptions = {
  /** Defaults to `loadConfig()` (process.env). */
  config?: Config;
  overrides?: Partial<Config>;
  /** Injected services are not closed by the worker; by default they are opened from the config. */
  db?: Db;
  redis?: Redis;
  /** The platform signer and deployment (default: `createPlatformChain(config)`). */
  platform?: PlatformChain;
  /**
   * Sends the platform's transactions (createPortfolio); default: a relayer on `platform.clients` and
   * the database, sharing the nonce rows of the API's relayer (same key, one nonce sequence).
   */
  relayer?: Relayer;
  /** Sends proposeRoot; default: a relayer on `platform.proposerClients` when the deployment has one. */
  proposer?: Relayer;
  /** Queues to consume; default every queue that has a handler (`publish`). */
  queues?: QueueName[];
  /** Jobs run at once per queue; default 1 (one signer, one nonce sequence). */
  concurrency?: number;
  logger?: Logger;
  /** Queue `queued` / `running` job rows again at start (a lost enqueue or a crash); default true. */
  requeuePending?: boolean;
  /**
   * The chain indexer (worker/indexer) of the platform deployment, started with the worker and stopped
   * by `close()`; its liveness and last error go to Redis for GET /health (core/chain-index/status.ts).
   * Default: one on `platform.clients.publicClient`; `false`: none (another process indexes).
   */
  indexer?: Indexer | false;
  /** How often the indexer's status is written to Redis (ms); default 2000. */
  indexerReportIntervalMs?: number;
  /**
   * How often the worker looks for indexed RecoveryDistributed events without a distribution, creates
   * the row and enqueues its `distribution` job, and enqueues the unfinished ones again (a Redis that
   * lost its data) (ms); default 2000. Only when it consumes the `distribution` queue.
   */
  distributionPollMs?: number;
  /** Distribution options (minimum push, batch size), see core/distributions/run.ts. */
  distribution?: Pick<DistributionContext, 'minPush' | 'pushBatchSize'>;
};

export type NplWorker = {
  workers: Worker[];
  /** The running chain indexer, if this worker runs one. */
  indexer: Indexer | null;
  /** Waits for running jobs, then closes what the worker opened. Safe to call twice. */
  close: () => Promise<void>;
};

type Context = PublishContext & DistributionContext;

const handlers: JobHandlers<Context> = {
  publish: (context, data, attempt) => handlePublish(context, data, attempt),
  distribution: (context, data) => handleDistribution(context, data),
};

const handledQueues = [...new Set(Object.values(JOB_QUEUE))];

/** Starts the BullMQ workers; resolves once they are connected. */
export async function createWorker(options: CreateWorkerOptions = {}): Promise<NplWorker> {
  const config: Config = { ...(options.config ?? loadConfig()), ...options.overrides };
  const log = options.logger ?? pino({ level: config.LOG_LEVEL, name: 'worker' });
  const closers: (() => Promise<void>)[] = [];
  const closeOwned = async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    closers.length = 0;
  };

  try {
    let db = options.db;
    if (db === undefined) {
      if (config.DATABASE_URL === undefined) throw configMissing('DATABASE_URL');
      const owned = createDb({ databaseUrl: config.DATABASE_URL });
      closers.push(() => owned.close());
      db = owned;
    }
    let redis = options.redis;
    if (redis === undefined) {
      if (config.REDIS_URL === undefined) throw configMissing('REDIS_URL');
      const owned = createRedis(config.REDIS_URL);
      owned.on('error', (error) => log.warn({ err: error }, 'redis error'));
      closers.push(async () => {
        owned.disconnect();
      });
      redis = owned;
    }
    const queues = options.queues ?? handledQueues;
    const platform = options.platform ?? (await createPlatformChain(config));
    const relayer =
      options.relayer ??
      createRelayer({
        clients: platform.clients,
        prisma: db.prisma,
        pollIntervalMs: isLocalChain(platform.clients.chain.id) ? 100 : 1_000,
        onError: (error) => log.warn({ err: error }, 'relayer monitor pass failed'),
      });
    // proposeRoot from the root proposer's own key (its own nonce rows), when it is not the relayer's
    const proposer =
      options.proposer ??
      (platform.proposerClients === undefined
        ? undefined
        : createRelayer({
            clients: platform.proposerClients,
            prisma: db.prisma,
            pollIntervalMs: isLocalChain(platform.clients.chain.id) ? 100 : 1_000,
            onError: (error) => log.warn({ err: error }, 'root proposer relayer monitor pass failed'),
          }));
    const context: Context = { db, platform, relayer, proposer, config, log, ...options.distribution };

    const workers = queues.map((queue) => {
      const worker = new Worker(queue, (job: Job, token?: string) => runJob(context, job, token), {
        connection: redis,
        prefix: config.QUEUE_PREFIX,
        concurrency: options.concurrency ?? 1,
        // a worker killed mid-job holds its lock until it expires; then the stalled check re-queues the job
        lockDuration: config.JOB_LOCK_MS,
        stalledInterval: config.JOB_LOCK_MS,
        autorun: true,
      });
      worker.on('failed', (job, error) =>
        log.warn(
          { queue, jobId: job?.id, attemptsMade: job?.attemptsMade, err: error },
          'job attempt failed',
        ),
      );
      worker.on('error', (error) => log.error({ queue, err: error }, 'worker error'));
      return worker;
    });
    closers.push(async () => {
      await Promise.all(workers.map((worker) => worker.close()));
    });
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));

    if (options.requeuePending ?? true) {
      const producers = createJobQueues({
        connection: redis,
        prefix: config.QUEUE_PREFIX,
        retry: { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS },
      });
      try {
        const count = await requeuePending(db, queues, producers.enqueue);
        if (count > 0) log.info({ count }, 're-queued pending jobs');
      } finally {
        await producers.close();
      }
    }
    if (queues.includes(JOB_QUEUE.distribution)) {
      const producers = createJobQueues({
        connection: redis,
        prefix: config.QUEUE_PREFIX,
        retry: { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS },
      });
      closers.push(() => producers.close());
      const enqueueAll = async (ids: string[]) => {
        for (const distributionId of ids) {
          await producers.enqueue({ name: JOB_NAMES.distribution, data: { distributionId } });
        }
      };
      // a job that used up its attempts (or ended) while its row is not paid: BullMQ keeps its id, so
      // adding it again would be a no-op; it is taken up again instead, at start and at every poll
      const distributionQueue = new Queue(JOB_QUEUE.distribution, {
        connection: redis,
        prefix: config.QUEUE_PREFIX,
      });
      closers.push(() => distributionQueue.close());
      if (options.requeuePending ?? true) {
        const pending = await pendingDistributions(db);
        // the only worker on the queue is this one: an `active` job belongs to a worker that died
        // (SIGKILL, power cut); take it back now rather than after its lock expires
        const alone = (await distributionQueue.getWorkersCount()) <= 1;
        const reclaimed = await takeUpAgain(distributionQueue, redis, pending, { reclaimActive: alone });
        if (reclaimed > 0) log.info({ reclaimed }, 'took back distribution jobs of a dead worker');
        await enqueueAll(pending);
      }
      let polling = false;
      const poll = async () => {
        if (polling) return;
        polling = true;
        try {
          const fresh = await findNewDistributions(db);
          // and every unfinished one again: a Redis restarted without its data forgot their queued and
          // delayed jobs; adding an id BullMQ still knows is a no-op
          const pending = await pendingDistributions(db);
          // (a job whose attempts ran out on a retryable error while its row is unfinished is retried)
          await takeUpAgain(distributionQueue, redis, pending, { reclaimActive: false });
          await enqueueAll([...new Set([...fresh, ...pending])]);
        } catch (error) {
          log.warn({ err: error }, 'distribution poll failed');
        } finally {
          polling = false;
        }
      };
      const timer = setInterval(poll, options.distributionPollMs ?? 2_000);
      timer.unref();
      closers.push(async () => clearInterval(timer));
    }
    const indexer =
      options.indexer === false
        ? null
        : (options.indexer ??
          createIndexer({
            db,
            publicClient: platform.clients.publicClient,
            stack: platform.deployment,
            log: log.child({ component: 'indexer' }),
          }));
    if (indexer !== null) {
      indexer.start();
      const chainId = platform.deployment.chainId;
      const report = () =>
        reportIndexerStatus(redis, config.QUEUE_PREFIX, chainId, indexer.status()).catch((error) =>
          log.warn({ err: error }, 'could not report the indexer status'),
        );
      void report();
      const timer = setInterval(report, options.indexerReportIntervalMs ?? 2_000);
      timer.unref();
      closers.push(async () => {
        clearInterval(timer);
        await indexer.stop();
        // not "stopped": another worker may run an indexer too; the cursor's age tells if none does
        await redis.del(indexerStatusKey(config.QUEUE_PREFIX, chainId)).catch(() => {});
      });
    }
    log.info(
      {
        queues,
        prefix: config.QUEUE_PREFIX,
        signer: platform.clients.account.address,
        rootProposer: proposer?.address ?? platform.clients.account.address,
        indexer: indexer !== null,
      },
      'worker started',
    );

    let closing: Promise<void> | undefined;
    return {
      workers,
      indexer,
      close: () => {
        closing ??= closeOwned();
        return closing;
      },
    };
  } catch (error) {
    await closeOwned();
    throw error;
  }
}

/** One BullMQ job: dispatch by name; a non-retryable failure is not attempted again. */
async function runJob(context: Context, job: Job, token?: string): Promise<unknown> {
  if (!Object.hasOwn(handlers, job.name)) throw new UnrecoverableError(`unknown job ${job.name}`);
  const name = job.name as JobName;
  const attempt = { attempt: job.attemptsMade + 1, attempts: job.opts.attempts ?? 1 };
  try {
    return await handlers[name](context, job.data, attempt);
  } catch (error) {
    if (error instanceof JobDelay && token !== undefined) {
      // wait without spending an attempt: same BullMQ job, back in the delayed set
      await job.moveToDelayed(Date.now() + Math.max(100, error.delayMs), token);
      throw new DelayedError(error.message);
    }
    if (error instanceof BaseError && !error.retryable) throw new UnrecoverableError(error.message);
    throw error;
  }
}

/** Enqueues every `queued` or `running` job row of the given queues again (BullMQ ids dedupe). */
/**
 * Distribution jobs BullMQ has finished with while their rows are unfinished: a failed job is retried,
 * a completed one removed (so the next enqueue adds it again); with `reclaimActive`, an active job
 * (its worker died) is unlocked and removed. Returns how many active jobs were reclaimed.
 */
async function takeUpAgain(
  queue: Queue,
  redis: Redis,
  distributionIds: readonly string[],
  options: { reclaimActive: boolean },
): Promise<number> {
  let reclaimed = 0;
  for (const distributionId of distributionIds) {
    const job = await queue.getJob(bullJobId({ name: JOB_NAMES.distribution, data: { distributionId } }));
    if (job === undefined) continue;
    if (await job.isFailed()) await job.retry();
    else if (await job.isCompleted()) await job.remove();
    else if (options.reclaimActive && (await job.isActive())) {
      await redis.del(queue.toKey(`${job.id}:lock`));
      await job.remove();
      reclaimed++;
    }
  }
  return reclaimed;
}

async function requeuePending(
  db: Db,
  queues: readonly QueueName[],
  enqueue: (job: JobDefinition) => Promise<void>,
): Promise<number> {
  const kinds = (Object.keys(JOB_QUEUE) as JobName[]).filter((name) => queues.includes(JOB_QUEUE[name]));
  const rows = await db.prisma.job.findMany({
    where: { kind: { in: kinds }, status: { in: ['queued', 'running'] } },
    select: { id: true, kind: true, portfolioId: true },
  });
  let count = 0;
  for (const row of rows) {
    if (row.kind === JOB_NAMES.publish && row.portfolioId !== null) {
      await enqueue({ name: JOB_NAMES.publish, data: { jobId: row.id, portfolioId: row.portfolioId } });
      count++;
    }
  }
  return count;
}

const configMissing = (variable: string) =>
  new ConfigInvalidError(`${variable} is not set: the worker needs it`, {
    retryable: false,
    details: [{ variable, message: 'required' }],
  });

/** `npm run worker`: start, and close cleanly on SIGTERM / SIGINT. */
async function main(): Promise<void> {
  let log = pino({ name: 'worker' });
  let worker: NplWorker;
  try {
    const config = loadConfig();
    log = pino({ name: 'worker', level: config.LOG_LEVEL });
    worker = await createWorker({ config, logger: log });
  } catch (error) {
    log.fatal({ err: error }, 'worker could not start');
    process.exitCode = 1;
    return;
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'closing the worker');
    worker.close().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: error }, 'worker did not close cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
