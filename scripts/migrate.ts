import { migrate } from '../core/db/migrate.ts';
import { loadConfig } from '../core/platform/config.ts';

// `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (offline, idempotent).
const config = loadConfig();
if (config.DATABASE_URL === undefined) {
  console.error('DATABASE_URL is not set');
  process.exit(1);
}
try {
  const result = await migrate({ databaseUrl: config.DATABASE_URL, log: (line) => console.log(line) });
  for (const name of result.unknownInDatabase)
    console.warn(`warning: ${name} is applied but not in prisma/migrations`);
  console.log(
    result.applied.length === 0
      ? `database is up to date (${result.alreadyApplied.length} migrations)`
      : `applied ${result.applied.length} migration(s)`,
  );
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  if (error instanceof Error && error.cause instanceof Error)
    console.error(`  cause: ${error.cause.message}`);
  process.exit(1);
}
