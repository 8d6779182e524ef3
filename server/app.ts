import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { PublicClient } from 'viem';
import type { Db } from '../core/db/index.ts';
import { type Config, loadConfig } from '../core/platform/config.ts';
import { auditPlugin } from './plugins/audit.ts';
import { authPlugin } from './plugins/auth.ts';
import { bullBoardPlugin } from './plugins/bull-board.ts';
import { registerErrorHandler } from './plugins/error-handler.ts';
import { securityPlugin } from './plugins/security.ts';
import { servicesPlugin } from './plugins/services.ts';
import { swaggerPlugin } from './plugins/swagger.ts';
import { tradingPlugin } from './plugins/trading.ts';
import { authRoutes } from './routes/auth.ts';
import { businessPlanRoutes } from './routes/business-plan.ts';
import { devRoutes } from './routes/dev.ts';
import { distributionRoutes } from './routes/distributions.ts';
import { documentRoutes } from './routes/documents.ts';
import { healthRoutes } from './routes/health.ts';
import { holdingsRoutes } from './routes/holdings.ts';
import { investorRoutes } from './routes/investors.ts';
import { loanRoutes } from './routes/loans.ts';
import { nonceInvalidationRoutes } from './routes/nonce-invalidations.ts';
import { orderRoutes } from './routes/orders.ts';
import { payoutRoutes } from './routes/payouts.ts';
import { performanceRoutes } from './routes/performance.ts';
import { portfolioRoutes } from './routes/portfolios.ts';
import { publishRoutes } from './routes/publish.ts';
import { purchaseRoutes } from './routes/purchases.ts';
import { recoveryRoutes } from './routes/recoveries.ts';
import { remittanceReportRoutes } from './routes/remittance-reports.ts';
import { resolutionRoutes } from './routes/resolution.ts';
import { tradeRoutes } from './routes/trades.ts';
import { waterfallRoutes } from './routes/waterfall.ts';

export type App = FastifyInstance & ReturnType<FastifyInstance['withTypeProvider']>;

export type BuildAppOptions = {
  /** Defaults to `loadConfig()` (process.env). */
  config?: Config;
  /** Partial overrides applied on top of `config` (tests: rate limits, sizes, ...). */
  overrides?: Partial<Config>;
  /** Injected services (not closed by the app); by default opened from the config and closed on `app.close()`. */
  db?: Db;
  redis?: Redis | null;
  chain?: PublicClient | null;
  logger?: FastifyServerOptions['logger'];
};

/**
 * Fastify's request log fields, with the path but never the query string: a query may carry a
 * credential (`/admin/queues?key=npl_...`), and logs are read by more people than the key is meant for.
 */
export function requestLogFields(request: {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}) {
  const query = request.url.indexOf('?');
  return {
    method: request.method,
    url: query === -1 ? request.url : request.url.slice(0, query),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The logger options of `buildApp`, every one with `requestLogFields` as its request serializer. */
function loggerOptions(
  logger: FastifyServerOptions['logger'],
  config: Config,
): FastifyServerOptions['logger'] {
  const base = logger ?? (config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL });
  if (base === false || base === undefined) return false;
  const options = base === true ? {} : base;
  return { ...options, serializers: { ...options.serializers, req: requestLogFields } };
}

/**
 * Builds the HTTP app without listening: `await buildApp(...)` then `app.inject(...)` in tests or
 * `app.listen(...)` in server/main.ts. Plugins (services, error handler, security, swagger, auth,
 * audit) come before the routes.
 */
export async function buildApp(options: BuildAppOptions = {}) {
  const config: Config = { ...(options.config ?? loadConfig()), ...options.overrides };
  const app = Fastify({
    logger: loggerOptions(options.logger, config),
    bodyLimit: config.BODY_MAX_BYTES,
    // only the configured proxies may set the client IP (rate limit, audit log) through X-Forwarded-For
    trustProxy:
      config.TRUST_PROXY !== undefined && config.TRUST_PROXY.length > 0 ? config.TRUST_PROXY : false,
    ajv: undefined,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // before any route: routes bind the error handler of their scope when they are added
  registerErrorHandler(app);

  await app.register(servicesPlugin, { config, db: options.db, redis: options.redis, chain: options.chain });
  await app.register(securityPlugin);
  await app.register(swaggerPlugin);
  await app.register(authPlugin);
  await app.register(auditPlugin);
  await app.register(tradingPlugin);
  await app.register(multipart, { limits: { fileSize: config.DOCUMENT_MAX_BYTES + 1, files: 1 } });

  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(portfolioRoutes);
  await app.register(loanRoutes);
  await app.register(businessPlanRoutes);
  await app.register(publishRoutes);
  await app.register(documentRoutes);
  await app.register(holdingsRoutes);
  await app.register(investorRoutes);
  await app.register(purchaseRoutes);
  await app.register(orderRoutes);
  await app.register(nonceInvalidationRoutes);
  await app.register(tradeRoutes);
  await app.register(waterfallRoutes);
  await app.register(recoveryRoutes);
  await app.register(resolutionRoutes);
  await app.register(remittanceReportRoutes);
  await app.register(payoutRoutes);
  await app.register(distributionRoutes);
  await app.register(performanceRoutes);
  // local chains only (404 elsewhere), and the queue dashboard for admin keys (404 without Redis)
  await app.register(devRoutes);
  await app.register(bullBoardPlugin);
  return app;
}
