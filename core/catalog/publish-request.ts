/**
 * Requesting a publish (what POST /v1/portfolios/:id/publish does; the job itself is
 * core/catalog/publish.ts, run by the worker): the draft flips to `publishing` and gets a `job` row in
 * one transaction, whose conditional update is the lock (of two concurrent requests only one flips the
 * draft), then the BullMQ job is enqueued. When the enqueue fails, both writes are undone (the draft
 * back with `publishError`, the job row failed) and the caller gets a 503 naming the job.
 */
import type { Job } from '../db/generated/client.ts';
import type { PrismaClient } from '../db/index.ts';
import { BaseError, ConflictError, NotFoundError } from '../platform/errors/index.ts';
import { JOB_NAMES, type JobQueues } from '../platform/jobs.ts';
import { type CatalogContext, isRowId } from './portfolios.ts';
import { assertPublishable, type PublishSnapshot } from './rules.ts';

export type PublishRequestContext = {
  prisma: PrismaClient;
  queues: JobQueues;
  log?: { error: (obj: object, msg: string) => void };
};

/** The enqueue of a publish job failed; the draft and the job row were put back. */
export class PublishEnqueueError extends BaseError {
  override name = 'PublishEnqueueError';
  /** the `job` row, now failed */
  readonly jobId: string;
  constructor(jobId: string, cause: unknown) {
    super('The job queue is unavailable; try again later', { code: 'SERVICE_UNAVAILABLE', cause });
    this.jobId = jobId;
  }
}

/** What the undo writes into `portfolio.publishError` and `job.error`. */
export const ENQUEUE_FAILED_REASON = 'the job queue was unavailable; publish again';

export type PublishCandidate = PublishSnapshot & {
  id: string;
  owner: string;
  /** the draft's initial reserve (base units), null: none */
  reserveInitial: { isZero: () => boolean } | null;
};

/** The portfolio as a publish request sees it (owner, status, tape hash, tranche count), or 404. */
export async function findPublishCandidate(context: CatalogContext, id: string): Promise<PublishCandidate> {
  const row = isRowId(id)
    ? await context.prisma.portfolio.findUnique({
        where: { id },
        select: {
          id: true,
          owner: true,
          status: true,
          tapeSha256: true,
          reserveTargetBps: true,
          reserveInitial: true,
          triggerCollectionRatioBps: true,
          _count: { select: { tranches: true, businessPlan: true } },
        },
      })
    : null;
  if (row === null) throw new NotFoundError('Portfolio', id);
  const { _count, ...portfolio } = row;
  return { ...portfolio, trancheCount: _count.tranches, businessPlanPoints: _count.businessPlan };
}

export type RequestPublishParameters = { portfolioId: string };

/**
 * Flips the draft to `publishing` with a new `job` row, then enqueues the job; returns the row.
 * 409 when the portfolio is no longer publishable (another request won), 503 (`PublishEnqueueError`)
 * when the queue refused the job (both writes undone).
 */
export async function requestPublish(
  context: PublishRequestContext,
  parameters: RequestPublishParameters,
): Promise<Job> {
  const { prisma } = context;
  const id = parameters.portfolioId;
  const job = await prisma.$transaction(async (tx) => {
    const flipped = await tx.portfolio.updateMany({
      // a trigger needs its business plan (assertPublishable); the business-plan PUT replaces the plan
      // under the row lock of a draft, so the flip sees it whole or not at all
      where: {
        id,
        status: 'draft',
        tapeSha256: { not: null },
        OR: [{ triggerCollectionRatioBps: null }, { businessPlan: { some: {} } }],
      },
      data: { status: 'publishing', publishError: null },
    });
    if (flipped.count === 0) return null;
    return tx.job.create({
      data: { kind: JOB_NAMES.publish, portfolioId: id, payload: { portfolioId: id } },
    });
  });
  if (job === null) {
    assertPublishable(await findPublishCandidate(context, id));
    throw new ConflictError('Portfolio changed while publishing; try again');
  }
  try {
    await context.queues.enqueue({ name: JOB_NAMES.publish, data: { jobId: job.id, portfolioId: id } });
  } catch (error) {
    context.log?.error({ err: error, jobId: job.id }, 'could not enqueue the publish job');
    await undoPublishRequest(prisma, { portfolioId: id, jobId: job.id, reason: ENQUEUE_FAILED_REASON });
    throw new PublishEnqueueError(job.id, error);
  }
  return job;
}

/** Puts a publishing portfolio back to draft and fails its still-queued job row, in one transaction. */
async function undoPublishRequest(
  prisma: PrismaClient,
  { portfolioId, jobId, reason }: { portfolioId: string; jobId: string; reason: string },
): Promise<void> {
  await prisma.$transaction([
    prisma.portfolio.updateMany({
      where: { id: portfolioId, status: 'publishing' },
      data: { status: 'draft', publishError: reason },
    }),
    prisma.job.updateMany({
      where: { id: jobId, status: 'queued' },
      data: { status: 'failed', error: reason, finishedAt: new Date() },
    }),
  ]);
}

export type JobWithOwner = { job: Job; owner: string | null };

/** A job row with the owner of its portfolio (null: a job of no portfolio, for admins only), or 404. */
export async function findJob(context: CatalogContext, id: string): Promise<JobWithOwner> {
  const row = isRowId(id)
    ? await context.prisma.job.findUnique({
        where: { id },
        include: { portfolio: { select: { owner: true } } },
      })
    : null;
  if (row === null) throw new NotFoundError('Job', id);
  const { portfolio, ...job } = row;
  return { job, owner: portfolio?.owner ?? null };
}
