import { isIP } from 'node:net';
import { z } from 'zod';
import { BaseError } from './errors/index.ts';

/**
 * The one place that reads the environment. Every variable is validated with zod; a bad value
 * stops the process with an error that names the variable.
 */

const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();

const optionalAddress = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(
    z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
      .optional(),
  )
  .optional();

/** The origin of `url` (scheme://host[:port]), or undefined when it is not a URL. */
export function urlOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** proxy-addr's names for address ranges, accepted in TRUST_PROXY beside addresses and CIDRs. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A comma-separated list of proxy addresses / CIDRs; empty: none. */
const proxyList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z.string().refine(isProxyAddress, {
        error: (issue) =>
          `'${String(issue.input)}' is not an IP address, a CIDR (10.0.0.0/8) or one of ${PROXY_RANGE_NAMES.join(', ')}`,
      }),
    ),
  );

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

const optionalPrivateKey = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(
    z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x followed by 64 hex digits')
      .optional(),
  )
  .optional();

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** Postgres; with none set, the main command starts an embedded PGlite. */
  DATABASE_URL: optionalUrl,
  /** Redis for BullMQ. */
  REDIS_URL: optionalUrl,
  /** JSON-RPC endpoint of the chain. */
  RPC_URL: optionalUrl,
  /** The chain the API serves (SIWE messages must carry it); required in production. */
  CHAIN_ID: z.coerce.number().int().positive().optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(3000).pipe(z.number().max(65535)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted loan tape, bytes (a 1,000,000-row tape is about 200 MB). */
  LOAN_TAPE_MAX_BYTES: int(512 * 1024 * 1024, 1),
  /**
   * Time a loan-tape upload may take to arrive, from the request's start (ms): the body is spooled to
   * `${DATA_DIR}/uploads` first and ingested in one short transaction only once complete; a slower upload
   * is answered 408 REQUEST_TIMEOUT and stores nothing.
   */
  LOAN_TAPE_UPLOAD_TIMEOUT_MS: int(600_000, 1),
  /** Spooled loan tapes ingested at once by this process (each holds one pooled connection meanwhile); the rest wait. */
  LOAN_TAPE_CONCURRENT_INGESTS: int(2, 1),
  /** Largest accepted data-room document, bytes. */
  DOCUMENT_MAX_BYTES: int(50 * 1024 * 1024, 1),
  /** Largest JSON body, bytes. */
  BODY_MAX_BYTES: int(1024 * 1024, 1),
  /**
   * How long GET /v1/portfolios may answer from its response cache (ms; 0 disables it). Writes through this
   * process empty the cache at once; this bounds the staleness of changes made elsewhere (the worker).
   */
  LISTING_CACHE_TTL_MS: int(1_000, 0),
  /** GET /health reuses its probes' answer this long (ms; 0: every request probes, one probe at a time). */
  HEALTH_CACHE_MS: int(1_000, 0),
  /**
   * Reverse proxies whose `X-Forwarded-For` / `-Proto` / `-Host` the API believes (addresses, CIDRs,
   * or loopback / linklocal / uniquelocal), comma-separated. Any other peer is the client itself, so a
   * client cannot pick the IP the rate limit and the audit log see. Default: none.
   */
  TRUST_PROXY: proxyList.optional(),
  RATE_LIMIT_MAX: int(600, 1),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1),
  /**
   * SIWE: the domain (host[:port]) investors sign in to (required in production), the origin their
   * message's `uri` must have (default `https://` + SIWE_DOMAIN, and `http://` too outside production),
   * and the lifetimes of nonces and sessions.
   */
  SIWE_DOMAIN: z.string().min(1).default('localhost'),
  SIWE_ORIGIN: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(
      z
        .url({ protocol: /^https?$/ })
        .refine(
          (v) => urlOrigin(v) === v.replace(/\/$/, ''),
          'must be an origin: scheme://host[:port], no path',
        )
        .transform((v) => urlOrigin(v) ?? v)
        .optional(),
    )
    .optional(),
  SIWE_NONCE_TTL_SECONDS: int(300, 1),
  SESSION_TTL_SECONDS: int(24 * 3600, 1),
  /**
   * The relayer key (0x + 64 hex digits): sends relayed transactions and createPortfolio, pays their
   * gas. On a local chain it defaults to the key `npm start` keeps in `DATA_DIR/platform-keys.json`
   * (else anvil's first account); on any other chain it is required with RPC_URL (checked when the
   * worker connects: core/chain/deployment.ts `createPlatformChain`).
   */
  PLATFORM_PRIVATE_KEY: optionalPrivateKey,
  /**
   * The Distributors' ROOT_PROPOSER_ROLE key: the distribution job sends `proposeRoot` (and, until
   * deposits carry the servicer's own consent, `depositRecovery`) from it. Local chains: the key
   * `npm start` keeps in `DATA_DIR/platform-keys.json`.
   */
  ROOT_PROPOSER_PRIVATE_KEY: optionalPrivateKey,
  /** The key that deploys the contracts (`npm run cli -- deploy`); it keeps no role. Local chains: anvil's first account. */
  DEPLOYER_PRIVATE_KEY: optionalPrivateKey,
  /** The timelock's proposer and executor, for `npm run cli -- governance` (production: a multisig, use `--calldata`). */
  ADMIN_PRIVATE_KEY: optionalPrivateKey,
  /** `npm run cli -- deploy` on a public chain: the admin (timelock proposer / executor) and guardian addresses. */
  ADMIN_ADDRESS: optionalAddress,
  GUARDIAN_ADDRESS: optionalAddress,
  /** Minimum delay of the platform timelock (seconds) at `npm run cli -- deploy`; default 5 on local chains, 2 days elsewhere. */
  TIMELOCK_MIN_DELAY_SECONDS: z.coerce.number().int().min(1).optional(),
  /** The DeployedStack JSON written by `npm run cli -- deploy`; default `${DATA_DIR}/deployment.json`. */
  DEPLOYMENT_FILE: z.string().min(1).optional(),
  /** Pay token of new portfolios; default: the deployment's TestStablecoin (local chains only). */
  PAY_TOKEN_ADDRESS: optionalAddress,
  /** Issuer treasury of published portfolios (receives the offering proceeds); default: the platform signer. */
  ISSUER_TREASURY_ADDRESS: optionalAddress,
  /** Length of the primary offering window opened at publish. */
  OFFERING_DURATION_SECONDS: int(30 * 24 * 3600, 1),
  /** Holders paid less than this (pay-token base units) by a distribution are left to claim themselves. */
  DISTRIBUTION_MIN_PUSH: z.coerce.bigint().nonnegative().default(0n),
  /** Holders per `claimMany` transaction of a distribution's push step. */
  DISTRIBUTION_PUSH_BATCH: int(100, 1),
  /** BullMQ key prefix shared by the server (enqueue) and the worker; default BullMQ's own. */
  QUEUE_PREFIX: z.string().min(1).default('bull'),
  /** Attempts of a background job whose failure is retryable (chain or RPC unreachable), and the first backoff. */
  JOB_ATTEMPTS: int(5, 1),
  JOB_BACKOFF_MS: int(5_000, 0),
  /**
   * BullMQ lock of a running job (renewed every half of it) and the stalled-job check period (ms): a
   * worker killed mid-job leaves its job `active` until the lock expires and the next check re-queues it.
   */
  JOB_LOCK_MS: int(30_000, 1_000),
});

export type Config = z.infer<typeof configSchema>;

/**
 * Variables a production start must set explicitly: their development defaults (SIWE for
 * `localhost`, any chain id) would let a signature made for another site or chain sign in here.
 */
export const productionRequired = ['SIWE_DOMAIN', 'CHAIN_ID'] as const;

/** Parses `env` (default `process.env`); throws CONFIG_INVALID naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(configSchema.shape)) picked[key] = env[key];
  const parsed = configSchema.safeParse(picked);
  const problems = (parsed.success ? [] : parsed.error.issues).map((issue) => ({
    variable: String(issue.path[0] ?? ''),
    message: issue.message,
  }));
  if (picked.NODE_ENV?.trim() === 'production') {
    for (const variable of productionRequired) {
      if ((picked[variable] ?? '').trim() === '') {
        problems.push({ variable, message: 'is required when NODE_ENV is production' });
      }
    }
  }
  if (parsed.success && problems.length === 0) return parsed.data;
  const names = [...new Set(problems.map((p) => p.variable))].join(', ');
  throw new BaseError(`Invalid environment variable${problems.length > 1 ? 's' : ''}: ${names}`, {
    code: 'CONFIG_INVALID',
    retryable: false,
    details: problems,
  });
}
