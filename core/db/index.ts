import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';

export type { Prisma } from './generated/client.ts';
export * from './generated/enums.ts';
export { PrismaClient };

export type Db = {
  /** Typed Prisma client (adapter-pg) over `pool`. */
  prisma: PrismaClient;
  /** The raw pool, for what Prisma cannot do (COPY streams, advisory locks). */
  pool: pg.Pool;
  close: () => Promise<void>;
};

export type CreateDbOptions = { databaseUrl: string; max?: number };

/** One pg pool shared by Prisma and the raw-SQL paths (loan-tape COPY). */
export function createDb({ databaseUrl, max = 10 }: CreateDbOptions): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  // An idle client that errors (server restart) must not crash the process.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closed = false;
  return {
    prisma,
    pool,
    close: async () => {
      if (closed) return;
      closed = true;
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
