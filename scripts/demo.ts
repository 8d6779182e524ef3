/**
 * `npm run demo [-- --seed S] [--loans N]`: the whole marketplace flow on a synthetic portfolio
 * (scripts/demo/run.ts), against a running `npm start` or, when none answers, against one started in
 * this process (scripts/start.ts `startMarketplace`, same DATA_DIR) and stopped at the end.
 *
 * Finding a running `npm start`: `API_URL` (or `--api`), else the URLs a running start wrote to
 * `DATA_DIR/npm-start.json`, else http://localhost:$PORT (3000). The admin key: `API_KEY`, else
 * `DATA_DIR/dev-api-key`. The chain: `RPC_URL` (or `--rpc`), else the start's file, else
 * http://127.0.0.1:8545; the Marketplace address from the start's file or the deployment file.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Address } from 'viem';
import { z } from 'zod';
import { loadDeployment } from '../core/chain/deployment.ts';
import { loadConfig } from '../core/platform/config.ts';
import { DEFAULT_DEMO_SEED, runDemo } from './demo/run.ts';
import {
  DEV_API_KEY_FILE,
  RUNTIME_FILE,
  type RunningMarketplace,
  type RuntimeFile,
  startMarketplace,
} from './start.ts';

const USAGE = `Usage: npm run demo [-- --seed SEED] [--loans N] [--api URL] [--rpc URL]

Runs the demo against a running npm start (found through API_URL, DATA_DIR/npm-start.json or
http://localhost:3000), or starts the marketplace in this process and stops it at the end.

  --seed SEED   seed of the synthetic portfolio (default "${DEFAULT_DEMO_SEED}"); same seed, same tape
  --loans N     loans in the tape (default 5000)
  --api URL     the API (default: API_URL, the running npm start, http://localhost:3000)
  --rpc URL     the chain (default: RPC_URL, the running npm start, http://127.0.0.1:8545)
`;

async function answers(apiUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${apiUrl.replace(/\/+$/, '')}/health`, {
      signal: AbortSignal.timeout(3_000),
    });
    return response.status === 200 || response.status === 503;
  } catch {
    return false;
  }
}

async function readRuntimeFile(dataDir: string): Promise<RuntimeFile | undefined> {
  try {
    const runtime = JSON.parse(await readFile(join(dataDir, RUNTIME_FILE), 'utf8')) as RuntimeFile;
    process.kill(runtime.pid, 0);
    return runtime;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      loans: { type: 'string' },
      api: { type: 'string' },
      rpc: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const env = process.env;
  const config = loadConfig(env);
  const dataDir = resolve(config.DATA_DIR);
  const urlOrUndefined = (name: string, value: string | undefined) => {
    if (value === undefined || value === '') return undefined;
    const parsed = z.url().safeParse(value);
    if (!parsed.success) throw new Error(`${name} must be a URL, got "${value}"`);
    return parsed.data;
  };
  const loans = values.loans === undefined ? 5_000 : Number(values.loans);
  if (!Number.isInteger(loans) || loans < 1 || loans > 1_000_000)
    throw new Error('--loans must be an integer from 1 to 1000000');

  const runtime = await readRuntimeFile(dataDir);
  const apiUrl =
    urlOrUndefined('--api', values.api) ??
    urlOrUndefined('API_URL', env.API_URL) ??
    runtime?.urls.api ??
    `http://localhost:${config.PORT}`;

  let starting: Promise<RunningMarketplace> | undefined;
  let interrupted = false;
  let interruptedAt = 0;
  const onSignal = (signal: string) => {
    // the same Ctrl-C also arrives forwarded by npm: only a later one forces the exit
    if (interrupted && Date.now() - interruptedAt < 1_500) return;
    if (interrupted) process.exit(130);
    interrupted = true;
    interruptedAt = Date.now();
    process.stderr.write(`\n${signal}: stopping${starting ? ' the marketplace this demo started' : ''}\n`);
    const stopped = starting === undefined ? Promise.resolve() : starting.then((m) => m.stop());
    void stopped.catch(() => {}).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let started: RunningMarketplace | undefined;
  let apiKey: string;
  let rpcUrl: string;
  let marketplace: Address | undefined;
  if (await answers(apiUrl)) {
    console.log(`Using the running marketplace at ${apiUrl}`);
    apiKey = env.API_KEY ?? (await readFile(join(dataDir, DEV_API_KEY_FILE), 'utf8').catch(() => '')).trim();
    if (apiKey === '') {
      throw new Error(
        `no admin API key: set API_KEY, or run the demo where npm start keeps ${join(dataDir, DEV_API_KEY_FILE)}`,
      );
    }
    rpcUrl =
      urlOrUndefined('--rpc', values.rpc) ??
      urlOrUndefined('RPC_URL', env.RPC_URL) ??
      runtime?.urls.rpc ??
      'http://127.0.0.1:8545';
    marketplace =
      runtime?.deployment.marketplace ?? (await loadDeployment(config).catch(() => undefined))?.marketplace;
  } else {
    console.log(`No marketplace answers at ${apiUrl}: starting one in this process (data in ${dataDir})`);
    starting = startMarketplace({
      env: { ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn' },
      print: () => {},
    });
    started = await starting;
    console.log(`Started: API ${started.urls.api}, chain ${started.urls.rpc} (stopped again at the end)`);
    apiKey = started.apiKey;
    rpcUrl = started.urls.rpc;
    marketplace = started.deployment.marketplace;
  }
  try {
    if (marketplace === undefined)
      throw new Error('no Marketplace address: the deployment has none (DATA_DIR/deployment.json)');
    const result = await runDemo({
      apiUrl: started?.urls.api ?? apiUrl,
      apiKey,
      rpcUrl,
      marketplace,
      seed: values.seed ?? DEFAULT_DEMO_SEED,
      loans,
    });
    return result.missing.length === 0 ? 0 : 2;
  } finally {
    if (started !== undefined && !interrupted) {
      console.log('Stopping the marketplace this demo started');
      await started.stop();
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`\nnpm run demo: ${error instanceof Error ? error.message : String(error)}\n`);
      if (process.env.DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
      process.exit(1);
    },
  );
}
