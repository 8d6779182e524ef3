import pino from 'pino';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { createIndexer } from '../../worker/indexer/index.ts';
import { type CreateWorkerOptions, createWorker, type NplWorker } from '../../worker/main.ts';
import type { TestApp } from './app.ts';

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

/**
 * Polls the portfolio's distributions (by recovery id) every `pollMs` (default 200) until there are
 * `count`, all `paid`, and returns them; throws at the first `failed` one, or after `timeoutMs`
 * (default 90 s).
 */
export async function waitDistributionsPaid(
  t: TestApp,
  portfolioId: string,
  count: number,
  options: { timeoutMs?: number; pollMs?: number } = {},
) {
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    const rows = await t.db.prisma.distribution.findMany({
      where: { portfolioId },
      orderBy: { recoveryId: 'asc' },
    });
    const failed = rows.find((r) => r.status === 'failed');
    if (failed) throw new Error(`distribution ${failed.id} failed: ${failed.error}`);
    if (rows.length === count && rows.every((r) => r.status === 'paid')) return rows;
    if (Date.now() > deadline)
      throw new Error(`not paid in time: ${JSON.stringify(rows.map((r) => r.status))}`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}
