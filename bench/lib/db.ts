import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, type Db } from '../../core/db/index.ts';
import { migrate } from '../../core/db/migrate.ts';

/**
 * A throw-away benchmark database, `npl_bench_<random>`, created from prisma/migrations on the server
 * of BENCH_DATABASE_ADMIN_URL (else TEST_DATABASE_ADMIN_URL, else postgresql://postgres@127.0.0.1:5432/test),
 * dropped by `drop()`. Same recipe as test/helpers/db.ts, its own name prefix.
 */

export const BENCH_ADMIN_URL =
  process.env.BENCH_DATABASE_ADMIN_URL ??
  process.env.TEST_DATABASE_ADMIN_URL ??
  'postgresql://postgres@127.0.0.1:5432/test';

export type BenchDatabase = Db & { name: string; url: string; drop: () => Promise<void> };

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  const name = `npl_bench_${label}_${randomBytes(4).toString('hex')}`;
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${name}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  try {
    await migrate({ databaseUrl: url.toString() });
  } catch (error) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    throw error;
  }
  const db = createDb({ databaseUrl: url.toString(), max: 10 });
  let dropped = false;
  return {
    ...db,
    name,
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await db.close();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
