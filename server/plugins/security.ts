import type { IncomingMessage, ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import helmet from 'helmet';
import { RateLimitedError } from '../../core/platform/errors/index.ts';
import { globalPlugin } from './global-plugin.ts';

/**
 * Security headers (helmet) and a per-IP rate limit; a limited request answers 429 RATE_LIMITED.
 * The helmet middleware is built once here and applied in an onRequest hook: @fastify/helmet 13
 * rebuilds it on every request, which was the largest app-only cost of a cached listing page.
 */
export const securityPlugin = globalPlugin(async (app) => {
  const applyHelmet = helmet({
    // swagger-ui at /docs loads its own scripts and styles from 'self' plus inline styles and data: images
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
        scriptSrc: ["'self'"],
      },
    },
  });
  app.addHook('onRequest', (request, reply, done) => {
    applyHelmet(request.raw as IncomingMessage, reply.raw as ServerResponse, (error?: unknown) =>
      done(error instanceof Error ? error : undefined),
    );
  });
  await app.register(rateLimit, {
    max: app.config.RATE_LIMIT_MAX,
    timeWindow: app.config.RATE_LIMIT_WINDOW_MS,
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(`Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s`, {
        statusCode: 429,
        details: { limit: context.max, retryAfterMs: context.ttl },
      }),
  });
});
