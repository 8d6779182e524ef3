import { defineConfig } from 'prisma/config';

// Prisma 7 CLI configuration. The database URL is only needed by `prisma migrate` / `db pull`;
// our own `npm run db:migrate` (scripts/migrate.ts) applies prisma/migrations without the schema engine.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/npl' },
});
