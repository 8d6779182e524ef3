import type { Redis } from 'ioredis';
import { type Config, loadConfig } from '../../core/platform/config.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { buildApp } from '../../server/app.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from './db.ts';

/**
 * The HTTP app on a fresh test database (see db.ts) and the real local Redis, for `app.inject`.
 *
 *   let t: TestApp;
 *   beforeAll(async () => { t = await createTestApp(); });
 *   afterAll(async () => { await t.close(); });
 *   const res = await t.app.inject({ method: 'GET', url: '/v1/portfolios' });
 */
export type TestApp = {
  app: Awaited<ReturnType<typeof buildApp>>;
  db: TestDatabase;
  redis: Redis;
  config: Config;
  close: () => Promise<void>;
};

export function testConfig(databaseUrl: string, overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      LOG_LEVEL: 'silent',
      RATE_LIMIT_MAX: '1000000',
      SIWE_DOMAIN: 'npl.test',
      DATA_DIR: '.data/test',
    }),
    ...overrides,
  };
}

export async function createTestApp(
  options: { overrides?: Partial<Config>; db?: TestDatabase } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const config = testConfig(db.url, options.overrides);
  const redis = createRedis(REDIS_URL);
  const app = await buildApp({ config, db, redis, chain: null });
  await app.ready();
  return {
    app,
    db,
    redis,
    config,
    close: async () => {
      await app.close();
      redis.disconnect();
      if (options.db === undefined) await db.drop();
    },
  };
}
