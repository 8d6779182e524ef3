import type { AddressInfo } from 'node:net';
import type { Db } from '../../core/db/index.ts';
import { createApiKey } from '../../core/platform/auth.ts';
import { type Config, loadConfig } from '../../core/platform/config.ts';
import { buildApp } from '../../server/app.ts';

/**
 * The real app (buildApp) on a benchmark database, listening on a loopback port, without Redis or a
 * chain (neither is on the routes measured). Logging is off; the rate limit is raised so that the
 * load generator is never limited (both are said in the benchmarks' output).
 */

export const BENCH_RATE_LIMIT_MAX = 1_000_000_000;

export function benchConfig(databaseUrl: string, overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({
      NODE_ENV: 'production',
      // required in production; no benchmark signs in
      SIWE_DOMAIN: 'bench.invalid',
      CHAIN_ID: '31337',
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'silent',
      DATA_DIR: '.data/bench',
    }),
    RATE_LIMIT_MAX: BENCH_RATE_LIMIT_MAX,
    ...overrides,
  };
}

export type BenchApp = {
  app: Awaited<ReturnType<typeof buildApp>>;
  config: Config;
  /** http://127.0.0.1:<port> */
  url: string;
  close: () => Promise<void>;
};

export async function startBenchApp(
  db: Db & { url: string },
  overrides: Partial<Config> = {},
): Promise<BenchApp> {
  const config = benchConfig(db.url, overrides);
  const app = await buildApp({ config, db, redis: null, chain: null, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, config, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** A new issuer API key for `owner`, as request headers. */
export async function issuerHeaders(db: Db, owner = 'bench'): Promise<{ authorization: string }> {
  const { key } = await createApiKey(db.prisma, { role: 'issuer', owner, name: `${owner} issuer` });
  return { authorization: `Bearer ${key}` };
}

const ASSET_CLASSES = [
  'residential_mortgage',
  'commercial_real_estate',
  'corporate',
  'consumer',
  'auto',
  'other',
  'mixed',
];
const JURISDICTIONS = ['IT', 'ES', 'GR', 'PT', 'IE', 'CY', 'SI'];

/** A valid POST /v1/portfolios body, varied by `k`: three tranches, as an issuer would send. */
export function portfolioBody(k: number) {
  const face = 1_000_000 + ((k * 7_919) % 9_000_000);
  return {
    name: `Bench portfolio ${String(k).padStart(4, '0')}`,
    description: `Synthetic non-performing loans, batch ${k}, created by the benchmark.`,
    assetClass: ASSET_CLASSES[k % ASSET_CLASSES.length],
    jurisdiction: JURISDICTIONS[k % JURISDICTIONS.length],
    currency: 'EUR',
    askingPrice: String(face * 3 * 1_000_000),
    servicerAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    fees: { servicerBps: 100 + (k % 50), protocolBps: 25 },
    tranches: [
      { name: 'Senior', symbol: `S${k}`, face: String(face * 2_000_000), couponBps: 400 },
      { name: 'Mezzanine', symbol: `M${k}`, face: String(face * 700_000), couponBps: 900 },
      { name: 'Residual', symbol: `R${k}`, face: String(face * 300_000) },
    ],
  };
}
