import { loadConfig } from '../core/platform/config.ts';
import { buildApp } from './app.ts';

// `tsx server/main.ts`: the HTTP API on HOST:PORT with the services of the environment
// (DATABASE_URL required here; the dev command that embeds Postgres/Redis/anvil sets them).
const config = loadConfig();
const app = await buildApp({ config });
const close = async (signal: string) => {
  app.log.info({ signal }, 'shutting down');
  await app.close();
  process.exit(0);
};
process.once('SIGTERM', () => void close('SIGTERM'));
process.once('SIGINT', () => void close('SIGINT'));
await app.listen({ host: config.HOST, port: config.PORT });
