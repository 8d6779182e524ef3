/**
 * The worker's view of its jobs: queue names (core/platform/queue.ts), job names, payloads and BullMQ job
 * ids (core/platform/jobs.ts, shared with the server that enqueues), and the handler table type.
 *
 *   { name: 'publish', data: { jobId, portfolioId } }  → queue `publish`, BullMQ id `publish-<jobId>`
 *
 * Each job is idempotent at the database level: its `job` row says whether it already succeeded or
 * failed, and what it already sent on chain (see handlers/publish.ts).
 */

export type { AttemptInfo } from '../core/platform/jobs.ts';
export {
  bullJobId,
  createJobQueues,
  type DistributionJob,
  JOB_NAMES,
  JOB_QUEUE,
  type JobData,
  type JobDefinition,
  JobDelay,
  type JobName,
  type JobQueues,
  type JobRetryOptions,
  jobOptions,
  type PublishJob,
} from '../core/platform/jobs.ts';
export { QUEUE_NAMES, type QueueName } from '../core/platform/queue.ts';

import type { AttemptInfo, JobData, JobName } from '../core/platform/jobs.ts';

/** One handler per job name; the processor dispatches on `job.name`. */
export type JobHandlers<Context> = {
  [N in JobName]: (context: Context, data: JobData<N>, attempt: AttemptInfo) => Promise<unknown>;
};
