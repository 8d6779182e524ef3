import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { BaseError, conflict, notFound } from '../../core/platform/errors.ts';
import { createJobQueues, JOB_NAMES } from '../../core/platform/jobs.ts';
import { assertOwns } from '../plugins/auth.ts';
import { errorResponses, idParamsSchema, isUuid } from '../schemas/common.ts';
import { jobSchema, publishAcceptedSchema, toJobBody } from '../schemas/job.ts';

type PublishState = {
  status: 'draft' | 'publishing' | 'published';
  tapeSha256: string | null;
  _count: { tranches: number };
};

/** 409 unless the portfolio is a draft with a loan tape and tranches. */
function assertPublishable(portfolio: PublishState): void {
  if (portfolio.status === 'published') throw conflict('Portfolio is already published');
  if (portfolio.status === 'publishing') {
    throw conflict('Portfolio is being published; poll its publish job (GET /v1/jobs/:id)');
  }
  const missing = [
    portfolio.tapeSha256 === null ? 'loanTape' : null,
    portfolio._count.tranches === 0 ? 'tranches' : null,
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) {
    throw conflict(
      portfolio.tapeSha256 === null
        ? 'Upload the loan tape first (PUT /v1/portfolios/:id/loan-tape): a portfolio is published with its tape hash'
        : 'The portfolio has no tranches',
      { missing },
    );
  }
}

/**
 * POST /v1/portfolios/:id/publish (issuer owning the draft): flips the draft to `publishing` and queues
 * a publish job (the worker deploys it through the factory); GET /v1/jobs/:id to poll that job.
 */
export const publishRoutes: FastifyPluginAsyncZod = async (app) => {
  const queues =
    app.redis === null
      ? null
      : createJobQueues({
          connection: app.redis,
          prefix: app.config.QUEUE_PREFIX,
          retry: { attempts: app.config.JOB_ATTEMPTS, backoffMs: app.config.JOB_BACKOFF_MS },
        });
  if (queues !== null) app.addHook('onClose', async () => queues.close());

  const findForPublish = (id: string) =>
    app.prisma.portfolio.findUnique({
      where: { id },
      select: {
        id: true,
        owner: true,
        status: true,
        tapeSha256: true,
        _count: { select: { tranches: true } },
      },
    });

  app.post(
    '/v1/portfolios/:id/publish',
    {
      preHandler: app.requireRole('issuer'),
      schema: {
        tags: ['portfolios'],
        summary: 'Publish a draft: deploy its contracts and anchor its document root and tape hash',
        description:
          'Needs a draft with a loan tape. Answers 202 with a job; the portfolio is `publishing` until the ' +
          'job succeeds (`published`, with addresses) or fails (back to `draft` with `publishError`).',
        security: [{ apiKey: [] }],
        params: idParamsSchema,
        response: { 202: publishAcceptedSchema, ...errorResponses(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const portfolio = isUuid(id) ? await findForPublish(id) : null;
      if (portfolio === null) throw notFound('Portfolio', id);
      assertOwns(request.principal, portfolio);
      assertPublishable(portfolio);
      if (queues === null) {
        throw new BaseError('Publishing needs the job queue (REDIS_URL is not configured)', {
          code: 'SERVICE_UNAVAILABLE',
        });
      }
      request.audit = { type: 'portfolio', id, details: { action: 'publish' } };

      // The conditional update is the lock: of two concurrent publishes only one flips the draft.
      const job = await app.prisma.$transaction(async (tx) => {
        const flipped = await tx.portfolio.updateMany({
          where: { id, status: 'draft', tapeSha256: { not: null } },
          data: { status: 'publishing', publishError: null },
        });
        if (flipped.count === 0) return null;
        return tx.job.create({
          data: { kind: JOB_NAMES.publish, portfolioId: id, payload: { portfolioId: id } },
        });
      });
      if (job === null) {
        const now = await findForPublish(id);
        if (now === null) throw notFound('Portfolio', id);
        assertPublishable(now);
        throw conflict('Portfolio changed while publishing; try again');
      }
      request.audit.details = { action: 'publish', jobId: job.id };

      try {
        await queues.enqueue({ name: JOB_NAMES.publish, data: { jobId: job.id, portfolioId: id } });
      } catch (error) {
        request.log.error({ err: error, jobId: job.id }, 'could not enqueue the publish job');
        const reason = 'the job queue was unavailable; publish again';
        await app.prisma.$transaction([
          app.prisma.portfolio.updateMany({
            where: { id, status: 'publishing' },
            data: { status: 'draft', publishError: reason },
          }),
          app.prisma.job.updateMany({
            where: { id: job.id, status: 'queued' },
            data: { status: 'failed', error: reason, finishedAt: new Date() },
          }),
        ]);
        throw new BaseError('The job queue is unavailable; try again later', {
          code: 'SERVICE_UNAVAILABLE',
          cause: error,
        });
      }
      reply.header('location', `/v1/jobs/${job.id}`);
      return reply.status(202).send({
        job: toJobBody(job),
        links: { job: `/v1/jobs/${job.id}`, portfolio: `/v1/portfolios/${id}` },
      });
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      preHandler: app.requireRole('issuer'),
      schema: {
        tags: ['jobs'],
        summary: 'A background job (e.g. publish): status, result, error',
        description: 'For the issuer that owns the job’s portfolio, and admins.',
        security: [{ apiKey: [] }],
        params: idParamsSchema,
        response: { 200: jobSchema, ...errorResponses(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const job = isUuid(id)
        ? await app.prisma.job.findUnique({
            where: { id },
            include: { portfolio: { select: { owner: true } } },
          })
        : null;
      if (job === null) throw notFound('Job', id);
      // a job without a portfolio belongs to no issuer: admins only
      assertOwns(request.principal, { owner: job.portfolio?.owner ?? '\u0000admin-only' });
      const { portfolio: _owner, ...row } = job;
      return toJobBody(row);
    },
  );
};
