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

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

const configSchema = z.object({
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
  RATE_LIMIT_MAX: int(600, 1),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1),
  /** SIWE: the domain (host[:port]) investors sign in to, and the lifetimes of nonces and sessions. */
  SIWE_DOMAIN: z.string().min(1).default('localhost'),
  SIWE_NONCE_TTL_SECONDS: int(300, 1),
  SESSION_TTL_SECONDS: int(24 * 3600, 1),
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
