import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { BaseError } from '../../core/errors.ts';
import { globalPlugin } from './global-plugin.ts';

/** Security headers (helmet) and a per-IP rate limit; a limited request answers 429 RATE_LIMITED. */
export const securityPlugin = globalPlugin(async (app) => {
  await app.register(helmet, {
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
  await app.register(rateLimit, {
    max: app.config.RATE_LIMIT_MAX,
    timeWindow: app.config.RATE_LIMIT_WINDOW_MS,
    errorResponseBuilder: (_request, context) =>
      new BaseError(`Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s`, {
        code: 'RATE_LIMITED',
        statusCode: 429,
        details: { limit: context.max, retryAfterMs: context.ttl },
      }),
  });
});
