/**
 * Background jobs as the server (which enqueues) and the worker (which runs them) both see them:
 * job names, a discriminated union of payloads, the queue of each job, deterministic BullMQ job ids
 * and the enqueue helper. worker/jobs.ts re-exports this module; it lives in core/ because server/
 * and worker/ never import each other.
 *
 * Every job has a row in the `job` table (what the API shows and what makes a job idempotent); the
 * BullMQ job carries only ids, never personal loan data.
 */
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BaseError } from './errors/index.ts';
import { QUEUE_NAMES, type QueueName } from './queue.ts';

export const JOB_NAMES = {
  /** deploys a draft portfolio through the factory and records its addresses */
  publish: 'publish',
  /** carries a recovery's distribution from the snapshot to the pushed payouts (core/distributions/run.ts) */
  distribution: 'distribution',
} as const;

/** `jobId` is the `job` table row; `portfolioId` is there for logs and queue dashboards. */
export type PublishJob = { name: typeof JOB_NAMES.publish; data: { jobId: string; portfolioId: string } };

/** `distributionId` is the `distribution` table row. */
export type DistributionJob = { name: typeof JOB_NAMES.distribution; data: { distributionId: string } };

/** Every job the worker knows, discriminated by `name`. */
export type JobDefinition = PublishJob | DistributionJob;
export type JobName = JobDefinition['name'];
export type JobData<N extends JobName = JobName> = Extract<JobDefinition, { name: N }>['data'];

/** The queue each job goes to. */
export const JOB_QUEUE: { readonly [N in JobName]: QueueName } = {
  publish: QUEUE_NAMES.publish,
  distribution: QUEUE_NAMES.distribution,
};

/**
 * The BullMQ job id: one per `job` row, so adding the same row twice is a no-op while a retry
 * (a new row after a failed publish) is a new BullMQ job. BullMQ forbids `:` in two-part custom ids,
 * hence `publish-<row id>`.
 */
export function bullJobId(job: JobDefinition): string {
  switch (job.name) {
    case JOB_NAMES.publish:
      return `publish-${job.data.jobId}`;
    case JOB_NAMES.distribution:
      return `distribution-${job.data.distributionId}`;
  }
}

export type JobRetryOptions = {
  /** Attempts in all (a retryable failure such as an unreachable RPC is tried again). */
  attempts: number;
  /** First backoff in ms, doubled on each retry. */
  backoffMs: number;
};

export function jobOptions(job: JobDefinition, retry: JobRetryOptions): JobsOptions {
  return {
    jobId: bullJobId(job),
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    // the `job` table is the record; BullMQ keeps a bounded history for dashboards
    removeOnComplete: { age: 7 * 24 * 3600, count: 1_000 },
    removeOnFail: { age: 30 * 24 * 3600, count: 10_000 },
  };
}

export type JobQueues = {
  /** Adds the job to its queue (idempotent per BullMQ job id). */
  enqueue: (job: JobDefinition) => Promise<void>;
  close: () => Promise<void>;
};

export type CreateJobQueuesOptions = {
  connection: Redis;
  /** BullMQ key prefix (QUEUE_PREFIX); the worker must use the same. */
  prefix?: string;
  retry: JobRetryOptions;
  /**
   * Give up on an `enqueue` after this long (ms, default 5 000): a BullMQ connection waits for Redis
   * forever, a request must not.
   */
  timeoutMs?: number;
};

/** Producers for every job queue, opened on first use. */
export function createJobQueues(options: CreateJobQueuesOptions): JobQueues {
  const queues = new Map<QueueName, Queue>();
  const queueFor = (name: QueueName) => {
    let queue = queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, { connection: options.connection, prefix: options.prefix });
      // errors surface on `add`; an unhandled 'error' event must not crash the process
      queue.on('error', () => {});
      queues.set(name, queue);
    }
    return queue;
  };
  return {
    enqueue: async (job) => {
      const timeoutMs = options.timeoutMs ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`enqueue timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([
          queueFor(JOB_QUEUE[job.name]).add(job.name, job.data, jobOptions(job, options.retry)),
          timeout,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
      queues.clear();
    },
  };
}

/**
 * Thrown by a job handler to run the same job again after `delayMs` without spending an attempt
 * (the worker moves the BullMQ job to the delayed set): the job is waiting for something that will
 * come (a transaction in flight, a timelock), not failing.
 */
export class JobDelay extends BaseError {
  override name = 'JobDelay';
  constructor(
    readonly delayMs: number,
    reason: string,
  ) {
    super(reason, { code: 'SERVICE_UNAVAILABLE', retryable: true });
  }
}

/** Where the current BullMQ attempt stands, so a handler knows whether a retryable failure is final. */
export type AttemptInfo = {
  /** 1 for the first attempt. */
  attempt: number;
  /** Attempts in all. */
  attempts: number;
};
