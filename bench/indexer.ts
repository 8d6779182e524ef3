/**
 * Indexer benchmark (issue 4, "Benchmarks"): Transfer logs per second from anvil into Postgres,
 * against the raw `eth_getLogs` fetch of the same range, same run.
 *
 *   npx tsx bench/indexer.ts [--transfers 30000]
 *
 * Setup on anvil: the stack, one portfolio (one tranche), a few allowlisted holders who buy tokens,
 * then N tranche-token transfers between them (automine off, unlocked accounts, JSON-RPC batches of
 * eth_sendTransaction, one block mined per batch).
 * (a) baseline: raw `eth_getLogs` over [start, head] for the followed addresses and selectors, range
 *     sized like the indexer (about `logsPerRequest` logs per call, at most `blockRange` blocks);
 * (b) `createIndexer(...).syncOnce()` into a fresh benchmark database, from the deployment's start
 *     block to the head.
 * Prints logs/s of both and the ratio (target >= 0.5). The baseline is the faster of a run before
 * and a run after the indexer. Never asserts.
 */
import { pathToFileURL } from 'node:url';
import { type Address, encodeFunctionData, type Hex, parseUnits, toHex } from 'viem';
import { allowlistInvestors, buy, createPortfolio, mintTestStablecoin } from '../core/chain/actions.ts';
import { startAnvil } from '../core/chain/anvil.ts';
import { type ChainClients, createChainClients, withAccount } from '../core/chain/clients.ts';
import { deployStack } from '../core/chain/deploy.ts';
import { trancheTokenAbi } from '../core/chain/generated/index.ts';
import { followedSelectors } from '../worker/indexer/events.ts';
import { createIndexer } from '../worker/indexer/index.ts';
import { createBenchDatabase } from './lib/db.ts';
import { formatInt, type SummaryRow } from './lib/summary.ts';
import { formatMs } from './lib/table.ts';

export type IndexerBenchOptions = {
  /** Transfer transactions generated (one Transfer log each); default 30,000. */
  transfers?: number;
  /** Holders transferring between each other; default 8. */
  holders?: number;
  /** Transactions per mined block; default 1,000. */
  perBlock?: number;
  /** The indexer's range sizing, used by both sides; defaults as the indexer's (2000 / 5000). */
  blockRange?: number;
  logsPerRequest?: number;
  log?: (line: string) => void;
};

export type IndexerBenchRow = {
  label: string;
  logs: number;
  ms: number;
  logsPerSecond: number;
};

export type IndexerBenchResult = {
  transfers: number;
  blocks: number;
  /** Followed logs in [start, head] (transfers plus the setup's events). */
  logs: number;
  baseline: IndexerBenchRow;
  indexer: IndexerBenchRow;
  /** indexer logs/s over baseline logs/s */
  ratio: number;
  /** token_transfer rows stored / holdings stored, as a sanity check */
  storedTransfers: number;
};

const USD = (units: number) => parseUnits(String(units), 6);
const tokensOf = (usd: number) => USD(usd) * 10n ** 12n;

async function rpcBatch(url: string, calls: { method: string; params: unknown[] }[]): Promise<unknown[]> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: '2.0', id, ...c }))),
  });
  const answers = (await res.json()) as { id: number; result?: unknown; error?: { message: string } }[];
  const out = new Array<unknown>(calls.length);
  for (const a of answers) {
    if (a.error) throw new Error(`${calls[a.id].method}: ${a.error.message}`);
    out[a.id] = a.result;
  }
  return out;
}

/** The raw fetch: eth_getLogs over [fromBlock, head], range sized like the indexer's. */
async function rawFetch(
  clients: ChainClients,
  addresses: Hex[],
  fromBlock: bigint,
  head: bigint,
  maxRange: bigint,
  logsPerRequest: bigint,
): Promise<number> {
  let range = maxRange;
  let total = 0;
  for (let from = fromBlock; from <= head; ) {
    const to = from + range - 1n < head ? from + range - 1n : head;
    let logs: unknown[];
    try {
      logs = (await clients.publicClient.request(
        {
          method: 'eth_getLogs',
          params: [
            { address: addresses, topics: [followedSelectors], fromBlock: toHex(from), toBlock: toHex(to) },
          ],
        },
        { retryCount: 0 },
      )) as unknown[];
    } catch (error) {
      // like the indexer: an oversized answer is fetched again over half the range
      if (to === from) throw error;
      range = (to - from + 1n) / 2n;
      continue;
    }
    total += logs.length;
    const blocks = to - from + 1n;
    const count = BigInt(logs.length);
    range =
      count === 0n ? (range * 2n < maxRange ? range * 2n : maxRange) : (blocks * logsPerRequest) / count;
    if (range < 1n) range = 1n;
    if (range > maxRange) range = maxRange;
    from = to + 1n;
  }
  return total;
}

export async function runIndexerBench(options: IndexerBenchOptions = {}): Promise<IndexerBenchResult> {
  const n = options.transfers ?? 30_000;
  const holderCount = options.holders ?? 8;
  const perBlock = options.perBlock ?? 1_000;
  const blockRange = options.blockRange ?? 2000;
  const logsPerRequest = options.logsPerRequest ?? 5000;
  const log = options.log ?? ((line: string) => console.error(line));

  const anvil = await startAnvil({ accounts: holderCount + 2, args: ['--gas-limit', '2000000000'] });
  const db = await createBenchDatabase('indexer');
  try {
    const [a0, a1] = anvil.accounts;
    const platform = createChainClients({
      rpcUrl: anvil.rpcUrl,
      privateKey: a0.privateKey,
      pollingInterval: 20,
    });
    const stack = await deployStack(platform);
    const payToken = stack.testStablecoin as Address;
    const now = (await platform.publicClient.getBlock()).timestamp;
    const created = await createPortfolio(platform, {
      factory: stack.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: a1.address,
      offeringStart: now,
      offeringEnd: now + 30n * 86_400n,
      tranches: [{ name: 'Residual', symbol: 'R', face: USD(1_000_000), couponBps: 0 }],
    });
    const tranche = created.tranches[0];
    const holders = anvil.accounts.slice(2, 2 + holderCount);
    await allowlistInvestors(platform, {
      registry: stack.complianceRegistry,
      accounts: holders.map((h) => h.address),
      expiry: now + 365n * 86_400n,
    });
    for (const h of holders) {
      await mintTestStablecoin(platform, { token: payToken, to: h.address, amount: USD(10_000) });
      await buy(withAccount(platform, h.privateKey), {
        portfolio: created.portfolio,
        trancheId: 0,
        amount: tokensOf(10_000),
        maxCost: USD(10_000),
        approve: true,
      });
    }

    // N transfers, automine off, one block per batch
    const started = performance.now();
    const nonces = (await rpcBatch(
      anvil.rpcUrl,
      holders.map((h) => ({ method: 'eth_getTransactionCount', params: [h.address, 'latest'] })),
    )) as Hex[];
    const next = nonces.map((x) => Number(x));
    await rpcBatch(anvil.rpcUrl, [{ method: 'evm_setAutomine', params: [false] }]);
    let sent = 0;
    while (sent < n) {
      const size = Math.min(perBlock, n - sent);
      const calls = Array.from({ length: size }, (_, k) => {
        const i = (sent + k) % holderCount;
        const to = holders[(i + 1 + ((sent + k) % (holderCount - 1))) % holderCount].address;
        return {
          method: 'eth_sendTransaction',
          params: [
            {
              from: holders[i].address,
              to: tranche,
              gas: toHex(200_000),
              nonce: toHex(next[i]++),
              data: encodeFunctionData({ abi: trancheTokenAbi, functionName: 'transfer', args: [to, 1n] }),
            },
          ],
        };
      });
      await rpcBatch(anvil.rpcUrl, calls);
      await rpcBatch(anvil.rpcUrl, [{ method: 'evm_mine', params: [] }]);
      sent += size;
    }
    await rpcBatch(anvil.rpcUrl, [{ method: 'evm_setAutomine', params: [true] }]);
    const head = await platform.publicClient.getBlockNumber();
    const fromBlock = BigInt(stack.startBlock);
    log(
      `generated ${formatInt(n)} transfers up to block ${head} in ${formatMs(performance.now() - started)}`,
    );

    const addresses = [
      stack.portfolioFactory,
      stack.complianceRegistry,
      ...(stack.marketplace ? [stack.marketplace] : []),
      created.portfolio,
      created.distributor,
      tranche,
    ].map((a) => a.toLowerCase() as Hex);
    const timeRaw = async () => {
      const t0 = performance.now();
      const logs = await rawFetch(
        platform,
        addresses,
        fromBlock,
        head,
        BigInt(blockRange),
        BigInt(logsPerRequest),
      );
      return { logs, ms: performance.now() - t0 };
    };

    const raw1 = await timeRaw();
    if (raw1.logs < n) throw new Error(`only ${raw1.logs} followed logs for ${n} transfers (reverted?)`);
    log(`raw eth_getLogs: ${formatInt(raw1.logs)} logs in ${formatMs(raw1.ms)}`);

    const indexer = createIndexer({
      db,
      publicClient: platform.publicClient,
      stack,
      confirmations: 0,
      blockRange,
      logsPerRequest,
    });
    const t0 = performance.now();
    let indexed = 0;
    for (;;) {
      const result = await indexer.syncOnce();
      indexed += result.logs;
      if (result.toBlock === null || result.toBlock >= head) break;
    }
    const indexerMs = performance.now() - t0;
    log(`indexer: ${formatInt(indexed)} logs in ${formatMs(indexerMs)}`);
    const raw2 = await timeRaw();
    log(`raw eth_getLogs again: ${formatInt(raw2.logs)} logs in ${formatMs(raw2.ms)}`);
    const raw = raw2.ms < raw1.ms ? raw2 : raw1;

    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM token_transfer WHERE tranche = $1',
      [created.tranches[0]],
    );
    const baseline = {
      label: 'raw eth_getLogs',
      logs: raw.logs,
      ms: raw.ms,
      logsPerSecond: (raw.logs * 1000) / raw.ms,
    };
    const indexerRow = {
      label: 'indexer syncOnce → Postgres',
      logs: indexed,
      ms: indexerMs,
      logsPerSecond: (indexed * 1000) / indexerMs,
    };
    return {
      transfers: n,
      blocks: Number(head - fromBlock + 1n),
      logs: raw.logs,
      baseline,
      indexer: indexerRow,
      ratio: indexerRow.logsPerSecond / baseline.logsPerSecond,
      storedTransfers: rows[0].n,
    };
  } finally {
    await db.drop();
    await anvil.stop();
  }
}

export function formatIndexerBench(result: IndexerBenchResult): string {
  const line = (r: IndexerBenchRow) =>
    `${r.label.padEnd(30)} ${formatInt(r.logs).padStart(8)} logs  ${formatMs(r.ms).padStart(10)}  ${formatInt(r.logsPerSecond).padStart(8)} logs/s`;
  return [
    `${formatInt(result.transfers)} Transfer logs (${formatInt(result.logs)} followed logs) over ${formatInt(result.blocks)} blocks; token_transfer rows stored: ${formatInt(result.storedTransfers)}`,
    line(result.baseline),
    line(result.indexer),
    `ratio indexer / raw fetch: ${result.ratio.toFixed(2)}x (target >= 0.5x)`,
  ].join('\n');
}

export function indexerSummary(result: IndexerBenchResult): SummaryRow[] {
  return [
    {
      benchmark: `indexer, ${formatInt(result.logs)} logs`,
      measured: `${formatInt(result.indexer.logsPerSecond)} logs/s`,
      baseline: `${formatInt(result.baseline.logsPerSecond)} logs/s (raw eth_getLogs)`,
      ratio: `${result.ratio.toFixed(2)}x`,
      target: '>= 0.5x',
      ok: result.ratio >= 0.5,
    },
  ];
}

function argValue(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : Number(process.argv[i + 1]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runIndexerBench({ transfers: argValue('transfers') });
  console.log(formatIndexerBench(result));
}
