import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENQUEUE_FAILED_REASON,
  PublishEnqueueError,
  requestPublish,
} from '../../core/catalog/publish-request.ts';
import { createJobQueues, type JobQueues } from '../../core/platform/jobs.ts';
import { buildApp } from '../../server/app.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { draftPortfolioBody } from '../helpers/portfolio.ts';

// A Redis nobody listens on, that fails every command at once instead of queueing it until it connects:
// the job queue "unavailable" as a request sees it, with nothing mocked.
const unreachableRedis = () =>
  new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });

let t: TestApp;
let issuer: Headers;
let deadRedis: Redis;
let deadQueues: JobQueues;

beforeAll(async () => {
  t = await createTestApp({
    overrides: { QUEUE_PREFIX: `npl-test-publish-request-${randomBytes(4).toString('hex')}` },
  });
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer');
  deadRedis = unreachableRedis();
  deadRedis.on('error', () => {});
  deadQueues = createJobQueues({ connection: deadRedis, retry: { attempts: 1, backoffMs: 10 } });
});

afterAll(async () => {
  await deadQueues?.close().catch(() => {});
  deadRedis?.disconnect();
  if (t) {
    // this file's BullMQ keys (its own prefix)
    const keys = await t.redis.keys(`${t.config.QUEUE_PREFIX}:*`);
    if (keys.length > 0) await t.redis.del(...keys);
  }
  await t?.close();
});

/** A draft with a loan tape, created over the API. */
async function draftWithTape(): Promise<string> {
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    headers: issuer,
    payload: draftPortfolioBody(),
  });
  expect(created.statusCode, created.body).toBe(201);
  const id: string = created.json().id;
  const put = await t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/loan-tape`,
    headers: { ...issuer, 'content-type': 'text/csv' },
    payload: loanTapeCsv({ rows: 5 }),
  });
  expect(put.statusCode, put.body).toBe(200);
  return id;
}

describe('requestPublish when the job queue refuses the job', () => {
  it('puts the draft back with publishError, fails the job row, and a later request publishes', async () => {
    const id = await draftWithTape();
    const error = await requestPublish({ prisma: t.db.prisma, queues: deadQueues }, { portfolioId: id }).then(
      () => {
        throw new Error('expected the enqueue to fail');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PublishEnqueueError);
    const { jobId } = error as PublishEnqueueError;
    expect(error).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE' });
    expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'draft',
      publishError: ENQUEUE_FAILED_REASON,
    });
    const job = await t.db.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(job).toMatchObject({ status: 'failed', error: ENQUEUE_FAILED_REASON, portfolioId: id });
    expect(job.finishedAt).not.toBeNull();

    // the undo leaves a draft that publishes again, with a new job row
    const queues = createJobQueues({
      connection: t.redis,
      prefix: t.config.QUEUE_PREFIX,
      retry: { attempts: 1, backoffMs: 10 },
    });
    try {
      const again = await requestPublish({ prisma: t.db.prisma, queues }, { portfolioId: id });
      expect(again.id).not.toBe(jobId);
      expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } })).toMatchObject({
        status: 'publishing',
        publishError: null,
      });
    } finally {
      await queues.close();
    }
  });

  it('POST /v1/portfolios/:id/publish answers 503 SERVICE_UNAVAILABLE and audits the failed job', async () => {
    const id = await draftWithTape();
    const redis = unreachableRedis();
    redis.on('error', () => {});
    const app = await buildApp({ config: t.config, db: t.db, redis, chain: null });
    try {
      await app.ready();
      const res = await app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish`, headers: issuer });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE' });
      const jobs = await t.db.prisma.job.findMany({ where: { portfolioId: id } });
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ status: 'failed', error: ENQUEUE_FAILED_REASON });
      expect(await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } })).toMatchObject({
        status: 'draft',
        publishError: ENQUEUE_FAILED_REASON,
      });
      const audit = await t.db.prisma.auditLog.findFirstOrThrow({
        where: { action: 'POST /v1/portfolios/:id/publish', resourceId: id },
        orderBy: { createdAt: 'desc' },
      });
      expect(audit).toMatchObject({ resourceType: 'portfolio', statusCode: 503 });
      expect(audit.details).toMatchObject({ action: 'publish', jobId: jobs[0].id });
    } finally {
      await app.close();
      redis.disconnect();
    }
  });
});
