import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, type Db } from '../../core/db/index.ts';
import { migrate } from '../../core/db/migrate.ts';

/**
 * A throw-away Postgres database for one test file (so every vitest worker has its own):
 * `npl_test_<pool id>_<random>` on the server of TEST_DATABASE_ADMIN_URL (default
 * postgresql://postgres@127.0.0.1:5432/test), migrated from prisma/migrations, dropped by `drop()`.
 *
 *   let tdb: TestDatabase;
 *   beforeAll(async () => { tdb = await createTestDatabase(); });
 *   afterAll(async () => { await tdb.drop(); });
 */

export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type TestDatabase = Db & {
  name: string;
  url: string;
  /** Closes the pool and drops the database. */
  drop: () => Promise<void>;
};

function urlFor(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates and migrates an empty database; `migrated: false` leaves it empty (for migration tests). */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const pool = process.env.VITEST_POOL_ID ?? '0';
  const name = `npl_test_${pool}_${randomBytes(4).toString('hex')}`;
  const url = urlFor(name);
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  if (options.migrated !== false) await migrate({ databaseUrl: url });
  const db = createDb({ databaseUrl: url, max: 5 });
  return {
    ...db,
    name,
    url,
    drop: async () => {
      await db.close();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
