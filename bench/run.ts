/**
 * `npm run bench`: every benchmark in sequence (gas, merkle, ingest, listing, indexer, purchases,
 * payouts, distribution), one table each, then a summary table (benchmark, measured, same-run
 * baseline, ratio, target, status).
 *
 *   npm run bench                          # full sizes of the issues (1M rows / 1M loans / merkle to 1M,
 *                                          # 50k Transfer logs, 500 purchases, payouts of 1M holders,
 *                                          # end to end with 100k holders)
 *   npm run bench -- --quick               # a fast look: 100k rows, 100k loans, merkle to 100k, 20k logs,
 *                                          # 50 purchases, payouts of 100k holders, end to end with 10k holders
 *   npm run bench -- --only ingest,listing # a subset (gas, merkle, ingest, listing, indexer, purchases, payouts, distribution)
 *
 * Nothing is asserted: a missed target prints OVER. A benchmark that fails prints its error and the
 * others still run; the exit code is then 1. Note that the gas benchmark rewrites snapshots/gas.json
 * exactly like `npm run bench:gas`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { distributionSummary, formatDistributionBench, runDistributionBench } from './distribution.ts';
import { formatGasTable, runGasBench } from './gas.ts';
import { formatIndexerBench, indexerSummary, runIndexerBench } from './indexer.ts';
import { formatIngestBench, ingestSummary, runIngestBench } from './ingest.ts';
import { formatInt, formatSummary, NOISE_NOTE, type SummaryRow } from './lib/summary.ts';
import { formatMs } from './lib/table.ts';
import { formatListingBench, listingSummary, runListingBench } from './listing.ts';
import { formatMerkleBench, type MerkleBenchRow, runMerkleBenchInChild } from './merkle.ts';
import { formatPayoutsBench, payoutsSummary, runPayoutsBench } from './payouts.ts';
import { formatPurchaseBench, type PurchaseBenchResult, runPurchaseBench } from './purchases.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCHMARKS = [
  'gas',
  'merkle',
  'ingest',
  'listing',
  'indexer',
  'purchases',
  'payouts',
  'distribution',
] as const;
type Benchmark = (typeof BENCHMARKS)[number];

type RunOptions = { only: Benchmark[]; quick: boolean };

function parseArgs(argv: readonly string[]): RunOptions {
  const options: RunOptions = { only: [...BENCHMARKS], quick: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const list = (arg === '--only' ? (argv[++i] ?? '') : arg.slice('--only='.length)).split(',');
      const unknown = list.filter((b) => !(BENCHMARKS as readonly string[]).includes(b));
      if (unknown.length > 0 || list.length === 0)
        throw new Error(`--only: unknown benchmark ${unknown.join(', ')} (known: ${BENCHMARKS.join(', ')})`);
      options.only = BENCHMARKS.filter((b) => list.includes(b));
    } else throw new Error(`unknown argument ${arg} (use --quick, --only ${BENCHMARKS.join(',')})`);
  }
  return options;
}

/** The merkle benchmark reads peak memory after a full GC; expose gc when node was not started with it. */
function exposeGc(): void {
  if (typeof (globalThis as { gc?: unknown }).gc === 'function') return;
  setFlagsFromString('--expose-gc');
  (globalThis as { gc?: unknown }).gc = runInNewContext('gc');
}

const log = (line: string) => console.error(`  ${line}`);

function gas(): { table: string; summary: SummaryRow[] } {
  const rows = runGasBench();
  const snapshot = JSON.parse(readFileSync(join(root, 'snapshots/gas.json'), 'utf8')) as Record<
    string,
    string
  >;
  const baseline = Number(snapshot.baseline_erc20_transfer);
  const table = [
    'Whole-transaction gas (isolated: 21k intrinsic + calldata + execution), snapshots/gas.json rewritten',
    `baseline, same run: OpenZeppelin ERC-20 transfer between holders = ${formatInt(baseline)} gas`,
    formatGasTable(rows, baseline),
  ].join('\n');
  const summary = rows
    .filter((r) => r.target !== undefined)
    .map((r) => ({
      benchmark: `gas: ${r.label}`,
      measured: `${formatInt(r.gas)} gas`,
      baseline: `${formatInt(baseline)} (ERC-20 transfer)`,
      ratio: `${(r.gas / baseline).toFixed(2)}x`,
      target: `<= ${formatInt(r.target!)} gas`,
      ok: r.gas <= r.target!,
    }));
  return { table, summary };
}

function merkleSummary(rows: readonly MerkleBenchRow[]): SummaryRow[] {
  const summary: SummaryRow[] = [];
  // <= 2x the floor at every size (10k, 100k, 1M); the time and memory targets are for 1M
  for (const r of rows) {
    summary.push({
      benchmark: `merkle build+persist, ${formatInt(r.holders)} holders`,
      measured: formatMs(r.totalMs),
      baseline: `${formatMs(r.floorMs)} (3N-1 keccak floor)`,
      ratio: `${r.ratio.toFixed(2)}x${Number.isNaN(r.cpuRatio) ? '' : ` (CPU ${r.cpuRatio.toFixed(2)}x)`}`,
      target: '<= 2x',
      ok: r.ratio <= 2,
    });
    if (r.packageMs !== undefined)
      summary.push({
        benchmark: `merkle: the package (StandardMerkleTree.of + dump), ${formatInt(r.holders)} holders`,
        measured: formatMs(r.packageMs),
        baseline: `${formatMs(r.totalMs)} (ours)`,
        ratio: `${(r.packageMs / r.totalMs).toFixed(0)}x`,
        target: r.packageRootMatches ? '(reported; same dump bytes)' : 'same dump bytes',
        ok: r.packageRootMatches ? undefined : false,
      });
  }
  const largest = rows.at(-1);
  if (largest !== undefined) {
    const judged = largest.holders >= 1_000_000;
    const n = formatInt(largest.holders);
    const note = judged ? '' : ' (at 1M, not judged)';
    summary.push(
      {
        benchmark: `merkle build+persist time, ${n} holders`,
        measured: formatMs(largest.totalMs),
        baseline: '-',
        ratio: '-',
        target: `<= 10 s${note}`,
        ok: judged ? largest.totalMs <= 10_000 : undefined,
      },
      {
        benchmark: `merkle all proofs, ${n} holders`,
        measured: formatMs(largest.proofsMs),
        baseline: '-',
        ratio: '-',
        target: `<= 10 s${note}`,
        ok: judged ? largest.proofsMs <= 10_000 : undefined,
      },
      {
        benchmark: `merkle peak RSS, ${n} holders`,
        measured: `${(largest.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
        baseline: '-',
        ratio: '-',
        target: `<= 2 GB${note}`,
        ok: judged ? largest.peakRssBytes <= 2 * 2 ** 30 : undefined,
      },
    );
  }
  return summary;
}

function purchaseSummary(result: PurchaseBenchResult): SummaryRow[] {
  const n = formatInt(result.purchases);
  return [
    {
      benchmark: `purchase quote → confirmed+indexed p50, ${n} purchases`,
      measured: formatMs(result.p50),
      baseline: '-',
      ratio: '-',
      target: '(reported)',
    },
    {
      benchmark: `purchase quote → confirmed+indexed p95, ${n} purchases`,
      measured: formatMs(result.p95),
      baseline: '-',
      ratio: '-',
      target: '(reported)',
      ok: result.confirmed === result.purchases ? undefined : false,
    },
  ];
}

async function runOne(name: Benchmark, quick: boolean): Promise<{ table: string; summary: SummaryRow[] }> {
  switch (name) {
    case 'gas':
      return gas();
    case 'merkle': {
      // in its own process: see runMerkleBenchInChild
      const rows = await runMerkleBenchInChild({ sizes: quick ? [10_000, 100_000] : undefined });
      return { table: formatMerkleBench(rows), summary: merkleSummary(rows) };
    }
    case 'ingest': {
      const result = await runIngestBench({ rows: quick ? 100_000 : 1_000_000, log });
      return { table: formatIngestBench(result), summary: ingestSummary(result) };
    }
    case 'listing': {
      const result = await runListingBench({ portfolios: 1_000, loans: quick ? 100_000 : 1_000_000, log });
      return { table: formatListingBench(result), summary: listingSummary(result) };
    }
    case 'indexer': {
      const result = await runIndexerBench({ transfers: quick ? 20_000 : 50_000, log });
      return { table: formatIndexerBench(result), summary: indexerSummary(result) };
    }
    case 'purchases': {
      const result = await runPurchaseBench({ purchases: quick ? 50 : 500, log });
      return { table: formatPurchaseBench(result), summary: purchaseSummary(result) };
    }
    case 'payouts': {
      const result = await runPayoutsBench({ holders: quick ? 100_000 : 1_000_000, log });
      return { table: formatPayoutsBench(result), summary: payoutsSummary(result) };
    }
    case 'distribution': {
      const result = await runDistributionBench({ holders: quick ? 10_000 : 100_000, log });
      return { table: formatDistributionBench(result), summary: distributionSummary(result) };
    }
  }
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  exposeGc();
  console.log(
    `npm run bench${options.quick ? ' --quick (reduced sizes)' : ' (full sizes)'}: ${options.only.join(', ')}`,
  );
  console.log(`${NOISE_NOTE}\n`);
  const summary: SummaryRow[] = [];
  let failed = false;
  for (const name of options.only) {
    console.log(`=== ${name} ===`);
    const start = performance.now();
    try {
      const result = await runOne(name, options.quick);
      console.log(result.table);
      summary.push(...result.summary);
    } catch (error) {
      failed = true;
      console.log(`${name} FAILED: ${(error as Error).stack ?? error}`);
      summary.push({
        benchmark: name,
        measured: 'FAILED',
        baseline: '-',
        ratio: '-',
        target: '-',
        ok: false,
      });
    }
    console.log(`(${name}: ${formatMs(performance.now() - start)})\n`);
  }
  console.log('=== summary ===');
  console.log(formatSummary(summary));
  console.log(NOISE_NOTE);
  return failed ? 1 : 0;
}

process.exitCode = await main();
