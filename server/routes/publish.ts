import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  findJob,
  findPublishCandidate,
  PublishEnqueueError,
  requestPublish,
} from '../../core/catalog/publish-request.ts';
import { assertPublishable } from '../../core/catalog/rules.ts';
import { ForbiddenError, ServiceUnavailableError } from '../../core/platform/errors/index.ts';
import { createJobQueues } from '../../core/platform/jobs.ts';
import { assertOwns } from '../plugins/auth.ts';
import { errorResponses, idParamsSchema } from '../schemas/common.ts';
import { jobSchema, publishAcceptedSchema, toJobBody } from '../schemas/job.ts';

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
  const catalog = { prisma: app.prisma };

  app.post(
    '/v1/portfolios/:id/publish',
    {
      config: { invalidatesListing: true, auth: { roles: ['issuer'] } },
      schema: {
        tags: ['portfolios'],
        summary: 'Publish a draft: deploy its contracts and anchor its document root and tape hash',
        description:
          'Needs a draft with a loan tape. Answers 202 with a job; the portfolio is `publishing` until the ' +
          'job succeeds (`published`, with addresses) or fails (back to `draft` with `publishError`).',
        params: idParamsSchema,
        response: { 202: publishAcceptedSchema, ...errorResponses(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const portfolio = await findPublishCandidate(catalog, id);
      assertOwns(request.principal, portfolio);
      // the initial reserve comes out of the issuer treasury, which every issuer's portfolio may share
      // (core/catalog/reserve.ts): only an admin spends it on a portfolio that has sold nothing yet
      if (
        portfolio.reserveInitial !== null &&
        !portfolio.reserveInitial.isZero() &&
        request.principal?.kind === 'apiKey' &&
        request.principal.role !== 'admin'
      ) {
        throw new ForbiddenError(
          'reserve.initial is funded from the shared issuer treasury at publish: an admin key publishes it (or publish without it and fund the reserve from the offering proceeds, POST /v1/portfolios/:id/reserve/funding)',
        );
      }
      assertPublishable(portfolio);
      if (queues === null) {
        throw new ServiceUnavailableError('Publishing needs the job queue (REDIS_URL is not configured)');
      }
      request.audit = { type: 'portfolio', id, details: { action: 'publish' } };
      let job: Awaited<ReturnType<typeof requestPublish>>;
      try {
        job = await requestPublish({ ...catalog, queues, log: request.log }, { portfolioId: id });
      } catch (error) {
        if (error instanceof PublishEnqueueError)
          request.audit.details = { action: 'publish', jobId: error.jobId };
        throw error;
      }
      request.audit.details = { action: 'publish', jobId: job.id };
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
      config: { auth: { roles: ['issuer'] } },
      schema: {
        tags: ['jobs'],
        summary: 'A background job (e.g. publish): status, result, error',
        description: 'For the issuer that owns the job’s portfolio, and admins.',
        params: idParamsSchema,
        response: { 200: jobSchema, ...errorResponses(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { job, owner } = await findJob(catalog, request.params.id);
      // a job without a portfolio belongs to no issuer: admins only
      assertOwns(request.principal, { owner: owner ?? '\u0000admin-only' });
      return toJobBody(job);
    },
  );
};
