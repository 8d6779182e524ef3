import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConfigInvalidError } from '../platform/errors/index.ts';

/**
 * Applies the SQL migrations of prisma/migrations without Prisma's schema engine (which needs a
 * download), in the engine's own bookkeeping format so `prisma migrate deploy` stays usable:
 * rows in `_prisma_migrations` with the SHA-256 of each migration.sql, and the same advisory lock
 * key (72707369) so the two never run at once. Idempotent; an applied migration whose file changed,
 * or a migration that failed half-way, is an error.
 */

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../prisma/migrations',
);
const PRISMA_ADVISORY_LOCK = 72707369;

export type Migration = { name: string; sql: string; checksum: string };

export type MigrateResult = { applied: string[]; alreadyApplied: string[]; unknownInDatabase: string[] };

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    const bytes = await readFile(path.join(dir, name, 'migration.sql'));
    migrations.push({
      name,
      sql: bytes.toString('utf8'),
      checksum: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  return migrations;
}

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

type AppliedRow = { migration_name: string; checksum: string; finished_at: Date | null };

export type MigrateOptions = { databaseUrl: string; dir?: string; log?: (line: string) => void };

export async function migrate({ databaseUrl, dir, log = () => {} }: MigrateOptions): Promise<MigrateResult> {
  const migrations = await readMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    try {
      await client.query(CREATE_MIGRATIONS_TABLE);
      const { rows } = await client.query<AppliedRow>(
        `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations"
         WHERE rolled_back_at IS NULL ORDER BY started_at`,
      );
      const byName = new Map(rows.map((r) => [r.migration_name, r]));
      const failed = rows.filter((r) => r.finished_at === null);
      if (failed.length > 0) {
        throw new ConfigInvalidError(
          `Migration ${failed[0].migration_name} failed earlier; resolve it by hand first`,
          { retryable: false },
        );
      }
      const known = new Set(migrations.map((m) => m.name));
      const result: MigrateResult = {
        applied: [],
        alreadyApplied: [],
        unknownInDatabase: rows.map((r) => r.migration_name).filter((n) => !known.has(n)),
      };
      for (const m of migrations) {
        const row = byName.get(m.name);
        if (row === undefined) continue;
        if (row.checksum !== m.checksum) {
          throw new ConfigInvalidError(`Migration ${m.name} was changed after it was applied`, {
            retryable: false,
            details: { migration: m.name, applied: row.checksum, file: m.checksum },
          });
        }
        result.alreadyApplied.push(m.name);
      }
      for (const m of migrations) {
        if (byName.has(m.name)) continue;
        await client.query('BEGIN');
        try {
          const id = randomUUID();
          await client.query(
            `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`,
            [id, m.checksum, m.name],
          );
          await client.query(m.sql);
          await client.query(
            `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
            [id],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new ConfigInvalidError(`Migration ${m.name} failed`, { retryable: false, cause: error });
        }
        log(`applied ${m.name}`);
        result.applied.push(m.name);
      }
      return result;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]);
    }
  } finally {
    await client.end();
  }
}
