/**
 * `npm start`: the whole marketplace in one process on embedded defaults.
 *
 * - Chain: `RPC_URL`, else anvil (chain 31337) with its state in `DATA_DIR/anvil-state.json`; the
 *   deployment file is reused when its contracts have code on the chain, else the stack (with
 *   TestStablecoin) is deployed on a local chain and saved.
 * - Postgres: `DATABASE_URL`, else PGlite in `DATA_DIR/pglite` served on a free local port
 *   (scripts/services/postgres.ts).
 * - Redis: `REDIS_URL`, else a local `redis-server` with its data in `DATA_DIR/redis`; without one
 *   the start stops and says how to install it.
 * On a local chain the deployment is governed (core/chain/deploy.ts `governance`): a timelock is the
 * admin, and the admin, guardian, root-proposer and relayer keys are created once in
 * `DATA_DIR/platform-keys.json` (mode 0600, never printed), reused and funded at every start.
 * Then migrations, a development admin API key (`DATA_DIR/dev-api-key`, reused across starts), the
 * API on HOST:PORT and the worker, in this process. SIGINT / SIGTERM stop everything in order and exit 0.
 *
 * `startMarketplace(options)` does the same programmatically (tests) and returns `{ urls, stop }`.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { type Address, createPublicClient, http } from 'viem';
import { isLocalChain } from '../core/chain/clients.ts';
import type { DeployedStack } from '../core/chain/deploy.ts';
import { KEYS_FILE } from '../core/chain/keys.ts';
import { createDb, type Db } from '../core/db/index.ts';
import { migrate } from '../core/db/migrate.ts';
import { createApiKey, hashSecret } from '../core/platform/auth.ts';
import { type Config, loadConfig } from '../core/platform/config.ts';
import { BaseError, ConfigInvalidError } from '../core/platform/errors/index.ts';
import { DEV_SERVICER_KEY_FILE, ensureDevServicerKey } from '../core/servicing/dev-servicer.ts';
import { buildApp } from '../server/app.ts';
import { BULL_BOARD_PATH } from '../server/plugins/bull-board.ts';
import { localFaucet, prepareDevFaucet } from '../server/routes/dev.ts';
import { createWorker, type NplWorker } from '../worker/main.ts';
import { ensureDeployment, startLocalChain } from './services/anvil.ts';
import { startEmbeddedPostgres } from './services/postgres.ts';
import { startRedis } from './services/redis.ts';

export type StartMarketplaceOptions = {
  /** The environment to read (default `process.env`); validated by core/platform/config.ts. */
  env?: Record<string, string | undefined>;
  /** Overrides DATA_DIR. */
  dataDir?: string;
  /** Overrides PORT (0 = a free port). */
  port?: number;
  /** Ports of the embedded services; default: free ports (anvil prefers 8545). */
  servicePorts?: { postgres?: number; redis?: number; anvil?: number };
  /** Where logs go; default stdout, pretty-printed when it is a terminal. */
  logStream?: DestinationStream;
  /** Prints the summary once everything runs; default `console.log`. Pass `() => {}` to silence it. */
  print?: (text: string) => void;
};

export type MarketplaceUrls = {
  api: string;
  docs: string;
  health: string;
  queues: string;
  database: string;
  redis: string;
  rpc: string;
};

export type RunningMarketplace = {
  urls: MarketplaceUrls;
  dataDir: string;
  chainId: number;
  deployment: DeployedStack;
  /** True when the deployment file's contracts were found on the chain (no new deployment). */
  reusedDeployment: boolean;
  /** The development admin API key (plaintext, also in `DATA_DIR/dev-api-key`). */
  apiKey: string;
  /**
   * Local chains: the development servicer's address (its key in `DATA_DIR/dev-servicer-key`, never
   * printed); a portfolio with this `servicerAddress` gets its recoveries signed by the API.
   */
  devServicer?: Address;
  /** Which services this start runs itself (the others came from the environment). */
  embedded: { postgres: boolean; redis: boolean; chain: boolean };
  /** Stops the worker, the API, then the embedded services (anvil dumps its state, Redis saves, PGlite closes). */
  stop: () => Promise<void>;
};

export const DEV_API_KEY_FILE = 'dev-api-key';
const LOCK_FILE = 'npm-start.pid';
/**
 * Where a running start says where it runs (`{ pid, urls, chainId, deployment }`, no secrets), for
 * tools such as `npm run demo`; written once everything runs, removed by `stop()`.
 */
export const RUNTIME_FILE = 'npm-start.json';

export type RuntimeFile = {
  pid: number;
  startedAt: string;
  urls: Pick<MarketplaceUrls, 'api' | 'rpc' | 'docs'>;
  chainId: number;
  deployment: DeployedStack;
};

function defaultLogStream(): DestinationStream {
  if (process.stdout.isTTY) {
    return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' });
  }
  return pino.destination(1);
}

/** Refuses a second `npm start` on the same data dir (PGlite and anvil's state file are single-writer). */
async function takeLock(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, LOCK_FILE);
  const other = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  if (Number.isInteger(other) && other > 0 && other !== process.pid) {
    let alive = true;
    try {
      process.kill(other, 0);
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (alive) {
      throw new ConfigInvalidError(
        `Another npm start (pid ${other}) is using ${dataDir}; stop it or set DATA_DIR`,
        { retryable: false, details: [{ variable: 'DATA_DIR', message: `in use by pid ${other}` }] },
      );
    }
  }
  await writeFile(file, `${process.pid}\n`);
  return async () => {
    const owner = await readFile(file, 'utf8').catch(() => '');
    if (owner.trim() === String(process.pid)) await rm(file, { force: true });
  };
}

/** The admin key of `DATA_DIR/dev-api-key` when it is still valid in this database, else a new one written there (mode 600). */
async function ensureDevApiKey(db: Db, dataDir: string): Promise<{ key: string; created: boolean }> {
  const file = join(dataDir, DEV_API_KEY_FILE);
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (existing !== '') {
    const row = await db.prisma.apiKey.findUnique({ where: { keyHash: hashSecret(existing) } });
    if (row !== null && row.revokedAt === null && row.role === 'admin')
      return { key: existing, created: false };
  }
  const { key } = await createApiKey(db.prisma, { role: 'admin', name: 'npm start dev key', owner: 'dev' });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { key, created: true };
}

export async function startMarketplace(options: StartMarketplaceOptions = {}): Promise<RunningMarketplace> {
  const env = options.env ?? process.env;
  const config = loadConfig(env);
  const dataDir = resolve(options.dataDir ?? config.DATA_DIR);
  const stream = options.logStream ?? defaultLogStream();
  const log: Logger = pino({ level: config.LOG_LEVEL, name: 'start' }, stream);
  await mkdir(dataDir, { recursive: true });

  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log.warn({ err: error, service: name }, 'did not stop cleanly');
      }
    }
    stops.length = 0;
  };

  try {
    stops.push({ name: 'lock', stop: await takeLock(dataDir) });

    // the three services start side by side
    const settled = await Promise.allSettled([
      (async () => {
        if (config.DATABASE_URL !== undefined) return { url: config.DATABASE_URL, embedded: false };
        const started = Date.now();
        const pg = await startEmbeddedPostgres({
          dataDir: join(dataDir, 'pglite'),
          port: options.servicePorts?.postgres,
          onLongWait: (waitedMs) =>
            log.warn(
              { waitedMs },
              'embedded Postgres: a connection is waiting for another connection to end its transaction ' +
                '(PGlite is one session; code that waits for a second connection inside a transaction hangs here)',
            ),
        });
        stops.push({ name: 'postgres', stop: pg.stop });
        log.info({ url: pg.url, ms: Date.now() - started }, 'embedded Postgres (PGlite) started');
        return { url: pg.url, embedded: true };
      })(),
      (async () => {
        if (config.REDIS_URL !== undefined) return { url: config.REDIS_URL, embedded: false };
        const server = await startRedis({
          dataDir: join(dataDir, 'redis'),
          port: options.servicePorts?.redis,
          env,
        });
        stops.push({ name: 'redis', stop: server.stop });
        log.info({ url: server.url, pid: server.pid }, 'redis-server started');
        return { url: server.url, embedded: true };
      })(),
      (async () => {
        if (config.RPC_URL !== undefined) {
          const chainId = await createPublicClient({ transport: http(config.RPC_URL, { retryCount: 1 }) })
            .getChainId()
            .catch((error: unknown) => {
              throw new ConfigInvalidError(
                `RPC_URL ${config.RPC_URL} does not answer: ${(error as Error).message}`,
                { retryable: false, details: [{ variable: 'RPC_URL', message: 'no answer' }] },
              );
            });
          return { url: config.RPC_URL, chainId, embedded: false, stateFile: undefined };
        }
        const anvil = await startLocalChain({ dataDir, port: options.servicePorts?.anvil });
        stops.push({ name: 'anvil', stop: anvil.stop });
        log.info({ url: anvil.rpcUrl, stateFile: anvil.stateFile }, 'anvil started');
        return { url: anvil.rpcUrl, chainId: anvil.chainId, embedded: true, stateFile: anvil.stateFile };
      })(),
    ] as const);
    // every service has settled (and pushed its stop) before a failure unwinds the others
    for (const result of settled) if (result.status === 'rejected') throw result.reason;
    const [database, redis, chain] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      { url: string; embedded: boolean },
      { url: string; embedded: boolean },
      { url: string; chainId: number; embedded: boolean; stateFile: string | undefined },
    ];

    const runtime: Config = {
      ...config,
      DATA_DIR: dataDir,
      PORT: options.port ?? config.PORT,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      RPC_URL: chain.url,
      CHAIN_ID: chain.chainId,
    };

    const migrated = await migrate({ databaseUrl: database.url, log: (line) => log.info(line) });
    log.info(
      { applied: migrated.applied.length, alreadyApplied: migrated.alreadyApplied.length },
      'migrations',
    );

    const { deployment, reused, file } = await ensureDeployment(runtime, chain.url, chain.chainId);
    log.info(
      { file, reused, factory: deployment.portfolioFactory },
      reused ? 'deployment reused' : 'deployed',
    );
    if (chain.embedded) {
      // before the worker starts: this sends from the local key that deployed the TestStablecoin
      const node = createPublicClient({ transport: http(chain.url) });
      const faucet = await localFaucet(node, deployment, runtime);
      if ('token' in faucet) await prepareDevFaucet(chain.url, faucet);
      else log.info({ reason: faucet.reason }, 'no dev faucet');
    }

    const db = createDb({ databaseUrl: database.url });
    stops.push({ name: 'db pool', stop: db.close });
    const apiKey = await ensureDevApiKey(db, dataDir);
    if (apiKey.created)
      log.info({ file: join(dataDir, DEV_API_KEY_FILE) }, 'created a development admin API key');
    // a local chain only: the API signs the deposit intents of portfolios whose servicer is this address
    const devServicer = isLocalChain(chain.chainId) ? await ensureDevServicerKey(dataDir) : undefined;

    const worker: NplWorker = await createWorker({
      config: runtime,
      db,
      logger: pino({ level: runtime.LOG_LEVEL, name: 'worker' }, stream),
    });
    stops.push({ name: 'worker', stop: worker.close });

    const app = await buildApp({
      config: runtime,
      db,
      logger: runtime.LOG_LEVEL === 'silent' ? false : { level: runtime.LOG_LEVEL, name: 'api', stream },
    });
    stops.push({ name: 'api', stop: () => app.close() });
    await app.listen({ host: runtime.HOST, port: runtime.PORT });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : runtime.PORT;
    const host = runtime.HOST === '0.0.0.0' || runtime.HOST === '::' ? 'localhost' : runtime.HOST;
    const api = `http://${host}:${port}`;
    const urls: MarketplaceUrls = {
      api,
      docs: `${api}/docs`,
      health: `${api}/health`,
      queues: `${api}${BULL_BOARD_PATH}`,
      database: database.url,
      redis: redis.url,
      rpc: chain.url,
    };
    const runtimeFile = join(dataDir, RUNTIME_FILE);
    const runtimeInfo: RuntimeFile = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      urls: { api: urls.api, rpc: urls.rpc, docs: urls.docs },
      chainId: chain.chainId,
      deployment,
    };
    await writeFile(runtimeFile, `${JSON.stringify(runtimeInfo, null, 2)}\n`);
    stops.push({ name: 'runtime file', stop: () => rm(runtimeFile, { force: true }) });
    const running: RunningMarketplace = {
      urls,
      dataDir,
      chainId: chain.chainId,
      deployment,
      reusedDeployment: reused,
      apiKey: apiKey.key,
      devServicer,
      embedded: { postgres: database.embedded, redis: redis.embedded, chain: chain.embedded },
      stop: async () => {
        log.info('stopping');
        await stopAll();
        log.info('stopped');
      },
    };
    (options.print ?? console.log)(summary(running, chain.stateFile));
    return running;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** What `npm start` prints once everything runs. */
export function summary(running: RunningMarketplace, stateFile?: string): string {
  const { urls, deployment, embedded, dataDir } = running;
  const rel = (path: string) =>
    path.startsWith(`${process.cwd()}/`) ? path.slice(process.cwd().length + 1) : path;
  const lines = [
    '',
    `NPL marketplace is running (data in ${rel(dataDir)})`,
    '',
    `  API            ${urls.api}`,
    `  API docs       ${urls.docs}`,
    `  Health         ${urls.health}`,
    `  Queues         ${urls.queues}?key=<dev API key>`,
    '',
    `  Postgres       ${urls.database}${embedded.postgres ? `  (embedded PGlite, ${rel(join(dataDir, 'pglite'))})` : ''}`,
    `  Redis          ${urls.redis}${embedded.redis ? `  (redis-server, ${rel(join(dataDir, 'redis'))})` : ''}`,
    `  Chain          ${urls.rpc}  chain id ${running.chainId}${embedded.chain && stateFile ? `  (anvil, state ${rel(stateFile)})` : ''}`,
    `    PortfolioFactory    ${deployment.portfolioFactory}`,
    `    ComplianceRegistry  ${deployment.complianceRegistry}`,
    ...(deployment.marketplace ? [`    Marketplace         ${deployment.marketplace}`] : []),
    ...(deployment.testStablecoin ? [`    TestStablecoin      ${deployment.testStablecoin}`] : []),
    ...(deployment.timelock
      ? [
          `    PlatformTimelock    ${deployment.timelock}  (admin of every contract, delay ${deployment.config.timelockMinDelay} s)`,
          `    keys (in ${rel(join(dataDir, KEYS_FILE))}, never printed):`,
          `      admin (timelock proposer)  ${deployment.config.timelockProposer}`,
          `      guardian                   ${deployment.config.guardian}`,
          `      root proposer              ${deployment.config.rootProposer}`,
          `      relayer                    ${deployment.config.relayer}`,
          `      deployer (no role left)    ${deployment.deployer}${running.reusedDeployment ? '' : '  (deployed just now)'}`,
        ]
      : [
          `    platform signer     ${deployment.deployer}${running.reusedDeployment ? '' : '  (deployed just now)'}`,
        ]),
    '',
    `  Dev API key (admin, kept in ${rel(join(dataDir, DEV_API_KEY_FILE))}):`,
    `    ${running.apiKey}`,
    ...(running.devServicer
      ? [
          `  Dev servicer ${running.devServicer} (key in ${rel(join(dataDir, DEV_SERVICER_KEY_FILE))}): the API`,
          '    signs the recovery deposits of portfolios with this servicerAddress',
        ]
      : []),
    '',
    '  Try:',
    `    curl -H "Authorization: Bearer ${running.apiKey}" ${urls.api}/v1/portfolios`,
    ...(deployment.testStablecoin && running.embedded.chain
      ? [
          `    curl -X POST ${urls.api}/v1/dev/faucet -H 'content-type: application/json' \\`,
          `         -d '{"address":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","amount":"10000"}'`,
        ]
      : []),
    `    open ${urls.queues}?key=${running.apiKey}`,
    ...(running.embedded.chain
      ? ['    npm run demo      # in another terminal: a whole portfolio life cycle']
      : []),
    '',
    'Ctrl-C stops everything; the next npm start continues where this one stopped.',
    '',
  ];
  return lines.join('\n');
}

/** A repeated signal within this time of the first is the same Ctrl-C delivered twice. */
const SIGNAL_REPEAT_MS = 1_500;

/** `npm start`: start, print, and stop cleanly on SIGINT / SIGTERM (exit 0), also when one arrives mid-start. */
async function main(): Promise<void> {
  let running: RunningMarketplace | undefined;
  let stopRequested = false;
  let stopping = false;
  const stop = () => {
    if (stopping || running === undefined) return;
    stopping = true;
    running.stop().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`npm start: did not stop cleanly: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  let firstSignalAt = 0;
  const onSignal = (signal: string) => {
    // one Ctrl-C arrives more than once: from the terminal to the whole process group, and
    // forwarded by `npm start` (and by tsx's CLI); only a second Ctrl-C a moment later forces the exit
    if (stopRequested && Date.now() - firstSignalAt < SIGNAL_REPEAT_MS) return;
    if (stopRequested) {
      // process.exit runs the 'exit' hooks that kill anvil and redis-server
      process.stderr.write(`\n${signal} again: exiting without waiting\n`);
      process.exit(1);
    }
    stopRequested = true;
    firstSignalAt = Date.now();
    if (running === undefined) process.stderr.write(`\n${signal}: stopping once the start has finished\n`);
    stop();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  try {
    running = await startMarketplace();
  } catch (error) {
    const details = error instanceof BaseError && Array.isArray(error.details) ? error.details : [];
    const lines = details
      .filter((d): d is { variable: string; message: string } => typeof d?.variable === 'string')
      .map((d) => `  ${d.variable}: ${d.message}`);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`\nnpm start: ${message}\n${lines.length > 0 ? `${lines.join('\n')}\n` : ''}`);
    if (!(error instanceof BaseError)) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    process.exit(1);
  }
  if (stopRequested) stop();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  void main();
}
