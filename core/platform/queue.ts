import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Redis / BullMQ plumbing shared by the server (enqueues, reports health) and the worker.
 * Job names and payloads live in worker/jobs.ts; here only queue names and connections.
 */

export const QUEUE_NAMES = {
  /** deploys a portfolio on chain (payload: `{ jobId }` of the `job` table row) */
  publish: 'publish',
  /** recovery → distribution pipeline */
  distribution: 'distribution',
  /** purchases, fills, claims relayed on chain */
  relay: 'relay',
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** A Redis connection suitable for BullMQ (no per-request retry limit, as BullMQ requires). */
export function createRedis(url: string, options: { lazyConnect?: boolean } = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: options.lazyConnect ?? false });
}

export function createQueue(name: QueueName, connection: Redis): Queue {
  return new Queue(name, { connection });
}

/** Number of BullMQ workers currently connected to any of the queues. */
export async function countWorkers(connection: Redis, prefix?: string): Promise<number> {
  let total = 0;
  for (const name of Object.values(QUEUE_NAMES)) {
    const queue = new Queue(name, { connection, ...(prefix ? { prefix } : {}) });
    try {
      total += await queue.getWorkersCount();
    } finally {
      await queue.close();
    }
  }
  return total;
}
