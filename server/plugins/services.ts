import type { Redis } from 'ioredis';
import { createPublicClient, http, type PublicClient } from 'viem';
import { createDb, type Db, type PrismaClient } from '../../core/db/index.ts';
import type { Config } from '../../core/platform/config.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { globalPlugin } from './global-plugin.ts';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Db;
    prisma: PrismaClient;
    /** null when REDIS_URL is not configured */
    redis: Redis | null;
    /** null when RPC_URL is not configured */
    chain: PublicClient | null;
  }
}

export type ServicesOptions = {
  config: Config;
  /** Use this database instead of opening DATABASE_URL (the caller then closes it). */
  db?: Db;
  /** Use this Redis connection (or none with `null`) instead of REDIS_URL (the caller closes it). */
  redis?: Redis | null;
  /** Use this chain client (or none with `null`) instead of RPC_URL. */
  chain?: PublicClient | null;
};

/** Decorates the app with config, Postgres (Prisma + pg pool), Redis and the chain client; closes what it opened. */
export const servicesPlugin = globalPlugin<ServicesOptions>(async (app, options) => {
  const { config } = options;
  app.decorate('config', config);

  let db = options.db;
  if (db === undefined) {
    if (config.DATABASE_URL === undefined) throw new Error('DATABASE_URL is not set');
    db = createDb({ databaseUrl: config.DATABASE_URL });
    const owned = db;
    app.addHook('onClose', async () => owned.close());
  }
  app.decorate('db', db);
  app.decorate('prisma', db.prisma);

  let redis = options.redis;
  if (redis === undefined) {
    redis = config.REDIS_URL === undefined ? null : createRedis(config.REDIS_URL, { lazyConnect: true });
    const owned = redis;
    if (owned !== null) {
      owned.on('error', (error) => app.log.warn({ err: error }, 'redis error'));
      app.addHook('onClose', async () => {
        owned.disconnect();
      });
    }
  }
  app.decorate('redis', redis);

  let chain = options.chain;
  if (chain === undefined) {
    chain =
      config.RPC_URL === undefined
        ? null
        : (createPublicClient({
            transport: http(config.RPC_URL, { timeout: 2_000, retryCount: 0 }),
          }) as PublicClient);
  }
  app.decorate('chain', chain);
});
