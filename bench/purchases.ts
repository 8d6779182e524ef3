/**
 * Purchase latency benchmark (issue 4, "Benchmarks"): the time from asking for a quote to the
 * purchase being `confirmed` through the API (quote → the buyer signs intent and permit → POST
 * /v1/purchases → the relayer sends buyWithSig → anvil mines → the indexer stores Purchased → GET
 * /v1/purchases/:id says confirmed), for N purchases by N investors, over real HTTP on localhost.
 *
 *   npx tsx bench/purchases.ts [--purchases 500] [--concurrency 4]
 *
 * Everything is real: anvil (automine), Postgres (a fresh database), Redis, the app listening on a
 * port, the relayer (its monitor loop) and the chain indexer polling. Prints p50, p95, p99 and max;
 * never asserts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Address, keccak256, type TypedDataDefinition, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { allowlistInvestors, createPortfolio, mintTestStablecoin } from '../core/chain/actions.ts';
import { startAnvil } from '../core/chain/anvil.ts';
import { createChainClients } from '../core/chain/clients.ts';
import { COMPLIANCE_ROLE, deployStack } from '../core/chain/deploy.ts';
import { saveDeployment } from '../core/chain/deployment.ts';
import { complianceRegistryAbi } from '../core/chain/generated/index.ts';
import { sendAndWait } from '../core/chain/tx.ts';
import { createRedis } from '../core/platform/queue.ts';
import { buildApp } from '../server/app.ts';
import { testConfig } from '../test/helpers/app.ts';
import { createTestDatabase, REDIS_URL } from '../test/helpers/db.ts';
import { createIndexer } from '../worker/indexer/index.ts';

export type PurchaseBenchOptions = {
  /** Default 500. */
  purchases?: number;
  /** Purchases in flight at once; default 4. */
  concurrency?: number;
  log?: (line: string) => void;
};

export type PurchaseBenchResult = {
  purchases: number;
  concurrency: number;
  confirmed: number;
  wallMs: number;
  /** quote → confirmed, ms */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** quote → 202 accepted, ms (the synchronous part) */
  acceptedP50: number;
  acceptedP95: number;
};

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

export async function runPurchaseBench(options: PurchaseBenchOptions = {}): Promise<PurchaseBenchResult> {
  const n = options.purchases ?? 500;
  const concurrency = options.concurrency ?? 4;
  const log = options.log ?? ((line: string) => console.log(line));

  const anvil = await startAnvil({ accounts: 3 });
  const db = await createTestDatabase();
  const redis = createRedis(REDIS_URL);
  const dir = await mkdtemp(path.join(tmpdir(), 'npl-bench-purchases-'));
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let indexer: { stop: () => Promise<void> } | undefined;
  try {
    const deployer = createChainClients({
      rpcUrl: anvil.rpcUrl,
      privateKey: anvil.accounts[0].privateKey,
      pollingInterval: 20,
      nonceManager: true,
    });
    const stack = await deployStack(deployer);
    await sendAndWait(deployer, { contract: 'ComplianceRegistry', functionName: 'grantRole' }, () =>
      deployer.walletClient.writeContract({
        address: stack.complianceRegistry,
        abi: complianceRegistryAbi,
        functionName: 'grantRole',
        args: [COMPLIANCE_ROLE, anvil.accounts[1].address],
      }),
    );
    const deploymentFile = path.join(dir, 'deployment.json');
    await saveDeployment(deploymentFile, stack);
    const config = testConfig(db.url, {
      RPC_URL: anvil.rpcUrl,
      DEPLOYMENT_FILE: deploymentFile,
      PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
    });
    app = await buildApp({ config, db, redis, chain: null });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    // one tranche large enough for every purchase, 1 token (1 pay unit) each
    const now = (await deployer.publicClient.getBlock()).timestamp;
    const created = await createPortfolio(deployer, {
      factory: stack.portfolioFactory,
      payToken: stack.testStablecoin as Address,
      registry: stack.complianceRegistry,
      servicer: anvil.accounts[2].address,
      tranches: [{ name: 'Residual', symbol: 'R', face: BigInt(n) * 1_000_000n, couponBps: 0 }],
      offeringStart: now,
      offeringEnd: now + 30n * 86_400n,
    });
    const portfolio = await db.prisma.portfolio.create({
      data: {
        owner: 'bench',
        name: 'Purchase bench',
        assetClass: 'corporate',
        jurisdiction: 'IT',
        currency: 'EUR',
        askingPrice: '1',
        servicerAddress: anvil.accounts[2].address,
        servicerFeeBps: 0,
        protocolFeeBps: 0,
        status: 'published',
        chainId: anvil.chainId,
        portfolioAddress: created.portfolio,
        distributorAddress: created.distributor,
        offeringAddress: created.portfolio,
        publishedAt: new Date(),
        tranches: {
          create: [
            {
              seniority: 0,
              name: 'Residual',
              symbol: 'R',
              face: (BigInt(n) * 1_000_000n).toString(),
              couponBps: 0,
              residual: true,
              address: created.tranches[0],
            },
          ],
        },
      },
      include: { tranches: true },
    });
    const trancheId = portfolio.tranches[0].id;

    const investors = Array.from({ length: n }, (_, i) =>
      privateKeyToAccount(keccak256(toHex(i, { size: 32 }))),
    );
    await allowlistInvestors(deployer, {
      registry: stack.complianceRegistry,
      accounts: investors.map((a) => a.address),
      expiry: now + 365n * 86_400n,
    });
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        investors.slice(i, i + 50).map((a) =>
          mintTestStablecoin(deployer, {
            token: stack.testStablecoin as Address,
            to: a.address,
            amount: 1_000_000n,
          }),
        ),
      );
    }
    const running = createIndexer({ db, publicClient: deployer.publicClient, stack, confirmations: 0 });
    running.start();
    indexer = running;
    log(`seeded: ${n} investors allowlisted and funded; measuring with ${concurrency} in flight`);

    const post = async (url: string, body: unknown) => {
      const res = await fetch(`${base}${url}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };

    const total: number[] = [];
    const accepted: number[] = [];
    let next = 0;
    const started = performance.now();
    const one = async (i: number) => {
      const buyer = investors[i];
      const t0 = performance.now();
      const q = (await post(`/v1/tranches/${trancheId}/quotes`, {
        buyer: buyer.address,
        amount: (10n ** 18n).toString(),
      })) as { id: string; typedData: { purchase: TypedDataDefinition; permit: TypedDataDefinition } };
      const submitted = (await post('/v1/purchases', {
        quoteId: q.id,
        purchaseSignature: await buyer.signTypedData(q.typedData.purchase),
        permitSignature: await buyer.signTypedData(q.typedData.permit),
      })) as { id: string };
      accepted.push(performance.now() - t0);
      for (;;) {
        const res = await fetch(`${base}/v1/purchases/${submitted.id}`);
        const body = (await res.json()) as { status: string; reason?: string };
        if (body.status === 'confirmed') break;
        if (body.status === 'failed') throw new Error(`purchase ${submitted.id} failed: ${body.reason}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      total.push(performance.now() - t0);
    };
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) await one(next++);
      }),
    );
    const wallMs = performance.now() - started;
    total.sort((a, b) => a - b);
    accepted.sort((a, b) => a - b);
    return {
      purchases: n,
      concurrency,
      confirmed: total.length,
      wallMs,
      p50: percentile(total, 50),
      p95: percentile(total, 95),
      p99: percentile(total, 99),
      max: total.at(-1) ?? Number.NaN,
      acceptedP50: percentile(accepted, 50),
      acceptedP95: percentile(accepted, 95),
    };
  } finally {
    await indexer?.stop();
    await app?.close();
    redis.disconnect();
    await db.drop();
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function argValue(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : Number(process.argv[i + 1]);
}

/** The printed lines of a run (for bench/run.ts too). */
export function formatPurchaseBench(result: PurchaseBenchResult): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return [
    `purchases: ${result.confirmed}/${result.purchases} confirmed, ${result.concurrency} in flight, ` +
      `${(result.wallMs / 1000).toFixed(1)} s (${((result.confirmed * 1000) / result.wallMs).toFixed(1)}/s)`,
    `quote → confirmed and indexed: p50 ${ms(result.p50)}, p95 ${ms(result.p95)}, p99 ${ms(result.p99)}, max ${ms(result.max)}`,
    `quote → 202 accepted:          p50 ${ms(result.acceptedP50)}, p95 ${ms(result.acceptedP95)}`,
    'Note: shared 2-core machine; absolute numbers are noisy.',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runPurchaseBench({
    purchases: argValue('purchases'),
    concurrency: argValue('concurrency'),
  });
  console.log(formatPurchaseBench(result));
}
