import { z } from 'zod';
import { BaseError } from './errors.ts';

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

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** Postgres; with none set, the main command starts an embedded PGlite. */
  DATABASE_URL: optionalUrl,
  /** Redis for BullMQ. */
  REDIS_URL: optionalUrl,
  /** JSON-RPC endpoint of the chain. */
  RPC_URL: optionalUrl,
  CHAIN_ID: z.coerce.number().int().positive().optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(3000).pipe(z.number().max(65535)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted loan tape, bytes (a 1,000,000-row tape is about 200 MB). */
  LOAN_TAPE_MAX_BYTES: int(512 * 1024 * 1024, 1),
  /** Largest accepted data-room document, bytes. */
  DOCUMENT_MAX_BYTES: int(50 * 1024 * 1024, 1),
  /** Largest JSON body, bytes. */
  BODY_MAX_BYTES: int(1024 * 1024, 1),
  /**
   * How long GET /v1/portfolios may answer from its response cache (ms; 0 disables it). Writes through this
   * process empty the cache at once; this bounds the staleness of changes made elsewhere (the worker).
   */
  LISTING_CACHE_TTL_MS: int(1_000, 0),
  RATE_LIMIT_MAX: int(600, 1),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1),
  /** SIWE: the domain (host[:port]) investors sign in to, and the lifetimes of nonces and sessions. */
  SIWE_DOMAIN: z.string().min(1).default('localhost'),
  SIWE_NONCE_TTL_SECONDS: int(300, 1),
  SESSION_TTL_SECONDS: int(24 * 3600, 1),
  /**
   * The platform / relayer signer (0x + 64 hex digits) that deploys portfolios. On a local chain
   * (31337) it defaults to anvil's first account; on any other chain it is required with RPC_URL
   * (checked when the worker connects: core/chain/deployment.ts `createPlatformChain`).
   */
  PLATFORM_PRIVATE_KEY: z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(
      z
        .string()
        .regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x followed by 64 hex digits')
        .optional(),
    )
    .optional(),
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

/** Parses `env` (default `process.env`); throws CONFIG_INVALID naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(configSchema.shape)) picked[key] = env[key];
  const parsed = configSchema.safeParse(picked);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => ({
    variable: String(issue.path[0] ?? ''),
    message: issue.message,
  }));
  const names = [...new Set(problems.map((p) => p.variable))].join(', ');
  throw new BaseError(`Invalid environment variable${problems.length > 1 ? 's' : ''}: ${names}`, {
    code: 'CONFIG_INVALID',
    retryable: false,
    details: problems,
  });
}
