import type { Redis } from 'ioredis';
import pino from 'pino';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import { type CreateWorkerOptions, createWorker, type NplWorker } from '../../worker/main.ts';
import type { TestApp } from './app.ts';
import {
  accountClients,
  createDistributionApp,
  platformChainOf,
  startStack,
  type TestStack,
} from './stack.ts';

/**
 * The worker of the distribution tests: the app's config, database and `redis`, the platform chain,
 * silent, polling for new distributions every 200 ms, with an indexer of the stack that finalizes at
 * once (anvil does not reorg here). `distribution` tunes the job (push batch size, push minimum).
 */
export function startDistributionWorker(parameters: {
  t: TestApp;
  redis: NonNullable<CreateWorkerOptions['redis']>;
  platform: PlatformChain;
  stack: DeployedStack;
  distribution?: CreateWorkerOptions['distribution'];
}): Promise<NplWorker> {
  const { t, platform } = parameters;
  return createWorker({
    config: t.config,
    db: t.db,
    redis: parameters.redis,
    platform,
    logger: pino({ level: 'silent' }),
    distributionPollMs: 200,
    ...(parameters.distribution === undefined ? {} : { distribution: parameters.distribution }),
    indexer: createIndexer({
      db: t.db,
      publicClient: platform.clients.publicClient,
      stack: parameters.stack,
      confirmations: 0,
    }),
  });
}

type DistributionRows = Awaited<ReturnType<TestApp['db']['prisma']['distribution']['findMany']>>;

/**
 * Polls the portfolio's distributions (by recovery id) every `pollMs` (default 200) until `done`
 * holds of them and returns them; throws at the first `failed` one, or after `timeoutMs` (default
 * 90 s) with `late` (default `not paid in time`) and their statuses.
 */
export async function waitDistributions(
  t: TestApp,
  portfolioId: string,
  done: (rows: DistributionRows) => boolean,
  options: { timeoutMs?: number; pollMs?: number; late?: string } = {},
): Promise<DistributionRows> {
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    const rows = await t.db.prisma.distribution.findMany({
      where: { portfolioId },
      orderBy: { recoveryId: 'asc' },
    });
    const failed = rows.find((r) => r.status === 'failed');
    if (failed) throw new Error(`distribution ${failed.id} failed: ${failed.error}`);
    if (done(rows)) return rows;
    if (Date.now() > deadline)
      throw new Error(`${options.late ?? 'not paid in time'}: ${JSON.stringify(rows.map((r) => r.status))}`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}

/** `waitDistributions` until the portfolio has `count` distributions, all `paid`. */
export const waitDistributionsPaid = (
  t: TestApp,
  portfolioId: string,
  count: number,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<DistributionRows> =>
  waitDistributions(
    t,
    portfolioId,
    (rows) => rows.length === count && rows.every((r) => r.status === 'paid'),
    options,
  );

/**
 * The setup of the distribution tests that run the worker: `startStack` (`accounts` anvil accounts),
 * the servicer (account 2), the holders (`holders`: anvil account indexes), `createDistributionApp`,
 * the platform chain and a Redis connection for the worker. `close` ends them all (not a worker).
 *
 *   env = await startDistributionEnv({ name: 'payouts', accounts: 8, holders: [3, 4, 5] });
 *   ({ anvil, deployer, stack, servicer, holders, t, platform } = env);
 */
export type DistributionEnv = TestStack & {
  servicer: ChainClients;
  holders: ChainClients[];
  t: TestApp;
  dir: string;
  platform: PlatformChain;
  workerRedis: Redis;
  close: () => Promise<void>;
};

export async function startDistributionEnv(options: {
  name: string;
  accounts: number;
  holders: readonly number[];
  deploymentFile?: boolean;
}): Promise<DistributionEnv> {
  const chain = await startStack({ accounts: options.accounts });
  const [servicer] = accountClients(chain, [2]);
  const app = await createDistributionApp(chain, {
    name: options.name,
    ...(options.deploymentFile === undefined ? {} : { deploymentFile: options.deploymentFile }),
  });
  const platform = await platformChainOf(app.t, chain.stack);
  const workerRedis = createRedis(app.t.config.REDIS_URL as string);
  return {
    ...chain,
    servicer,
    holders: accountClients(chain, options.holders),
    t: app.t,
    dir: app.dir,
    platform,
    workerRedis,
    close: async () => {
      workerRedis.disconnect();
      await app.close();
      await chain.anvil.stop();
    },
  };
}
