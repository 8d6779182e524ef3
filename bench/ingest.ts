/**
 * Loan-tape ingest benchmark (issue 3, "Benchmarks"): rows per second of a 1,000,000-row tape
 * uploaded THROUGH THE API (buildApp listening on loopback, an issuer key, `PUT
 * /v1/portfolios/:id/loan-tape` with the CSV streamed from a file over a real HTTP request: parse,
 * validate every cell, COPY, statistics, commit, answer), against Postgres `COPY ... FROM STDIN` of
 * the very same rows into the same table in the same run (the rows the API stored, exported with
 * `COPY TO` and loaded back in one transaction).
 *
 *   npx tsx bench/ingest.ts [--rows 1000000] [--rounds 2] [--quick]
 *
 * Target: API rows/s >= 0.5 x COPY rows/s. Printed, never asserted. The benchmark database is
 * created from the migrations and dropped at the end; the temp files are removed.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { loanTapeColumns } from '../core/catalog/loan-tape/rules.ts';
import { loanTapeCsv, loanTapeStream } from '../test/helpers/loan-tape.ts';
import { BENCH_RATE_LIMIT_MAX, issuerHeaders, portfolioBody, startBenchApp } from './lib/app.ts';
import { createBenchDatabase } from './lib/db.ts';
import { expectJson } from './lib/http.ts';
import { formatInt, NOISE_NOTE, type SummaryRow } from './lib/summary.ts';
import { formatMs, formatTable } from './lib/table.ts';

export type IngestBenchOptions = {
  /** Rows of the tape; default 1,000,000. */
  rows?: number;
  /** Alternating API / COPY rounds; the best of each is kept. Default 2. */
  rounds?: number;
  /** Rows of the warm-up upload (not measured); default 20,000. */
  warmupRows?: number;
  log?: (line: string) => void;
};

export type IngestBenchResult = {
  rows: number;
  tapeBytes: number;
  generateMs: number;
  /** Best wall time of the API upload: request start to the whole 200 answer. */
  apiMs: number;
  /** Best wall time of BEGIN + COPY FROM STDIN + COMMIT of the same rows. */
  copyMs: number;
  apiRowsPerSecond: number;
  copyRowsPerSecond: number;
  /** apiRowsPerSecond / copyRowsPerSecond; target >= 0.5 */
  ratio: number;
  rounds: number;
  /** every round, for the table */
  apiMsAll: number[];
  copyMsAll: number[];
};

/** The loan columns in the order the ingest writes them (core/catalog/loan-tape/ingest.ts). */
const COLUMNS = ['portfolio_id', 'row_number', ...loanTapeColumns.map((c) => c.name), 'extra']
  .map((c) => `"${c}"`)
  .join(', ');

async function resetLoans(client: pg.ClientBase): Promise<void> {
  await client.query('TRUNCATE loan');
  await client.query('CHECKPOINT');
}

async function copyIn(client: pg.ClientBase, file: string): Promise<number> {
  const start = performance.now();
  await client.query('BEGIN');
  try {
    await pipeline(
      createReadStream(file, { highWaterMark: 1 << 20 }),
      client.query(copyFrom(`COPY loan (${COLUMNS}) FROM STDIN`)),
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  return performance.now() - start;
}

export async function runIngestBench(options: IngestBenchOptions = {}): Promise<IngestBenchResult> {
  const rows = options.rows ?? 1_000_000;
  const rounds = options.rounds ?? 2;
  const warmupRows = options.warmupRows ?? 20_000;
  const log = options.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'npl-bench-ingest-'));
  const tapeFile = join(dir, 'tape.csv');
  const copyFile = join(dir, 'loans.copy');
  const db = await createBenchDatabase('ingest');
  let bench: Awaited<ReturnType<typeof startBenchApp>> | undefined;
  try {
    log(`ingest: writing a ${formatInt(rows)}-row tape to ${tapeFile}`);
    const t0 = performance.now();
    await pipeline(loanTapeStream({ rows }), createWriteStream(tapeFile));
    const generateMs = performance.now() - t0;
    const tapeBytes = statSync(tapeFile).size;

    bench = await startBenchApp(db);
    const headers = await issuerHeaders(db);
    const { json: portfolio } = await expectJson<{ id: string }>(
      { method: 'POST', url: `${bench.url}/v1/portfolios`, headers, body: portfolioBody(1) },
      201,
    );
    const tapeUrl = `${bench.url}/v1/portfolios/${portfolio.id}/loan-tape`;
    const upload = async (body: Buffer | { file: string }, expected: number) => {
      const res = await expectJson<{ loanCount: number }>(
        { method: 'PUT', url: tapeUrl, headers: { ...headers, 'content-type': 'text/csv' }, body },
        200,
      );
      if (res.json.loanCount !== expected)
        throw new Error(`ingest: stored ${res.json.loanCount} loans, expected ${expected}`);
      return res.ms;
    };

    log(`ingest: warm-up upload of ${formatInt(warmupRows)} rows`);
    await upload(Buffer.from(loanTapeCsv({ rows: warmupRows })), warmupRows);

    const client = await db.pool.connect();
    const apiMsAll: number[] = [];
    const copyMsAll: number[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        await resetLoans(client);
        log(`ingest: round ${round + 1}: API upload of ${formatInt(rows)} rows`);
        apiMsAll.push(await upload({ file: tapeFile }, rows));
        log(`ingest: API ${formatMs(apiMsAll.at(-1))}`);
        if (round === 0) {
          // the baseline loads exactly the rows the API stored
          await pipeline(
            client.query(
              copyTo(
                `COPY (SELECT ${COLUMNS} FROM loan WHERE portfolio_id = '${portfolio.id}' ORDER BY row_number) TO STDOUT`,
              ),
            ),
            createWriteStream(copyFile),
          );
        }
        await resetLoans(client);
        log(`ingest: round ${round + 1}: COPY of the same rows`);
        copyMsAll.push(await copyIn(client, copyFile));
        const { rows: counted } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM loan');
        if (counted[0].n !== rows)
          throw new Error(`ingest: COPY stored ${counted[0].n} rows, expected ${rows}`);
        log(`ingest: COPY ${formatMs(copyMsAll.at(-1))}`);
      }
      await client.query('TRUNCATE loan');
    } finally {
      client.release();
    }

    const apiMs = Math.min(...apiMsAll);
    const copyMs = Math.min(...copyMsAll);
    const apiRowsPerSecond = rows / (apiMs / 1000);
    const copyRowsPerSecond = rows / (copyMs / 1000);
    return {
      rows,
      tapeBytes,
      generateMs,
      apiMs,
      copyMs,
      apiRowsPerSecond,
      copyRowsPerSecond,
      ratio: apiRowsPerSecond / copyRowsPerSecond,
      rounds,
      apiMsAll,
      copyMsAll,
    };
  } finally {
    await bench?.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatIngestBench(r: IngestBenchResult): string {
  const mb = (r.tapeBytes / 2 ** 20).toFixed(0);
  const table = formatTable(
    ['path', 'rows', 'wall time', 'rows/s', 'MB/s', 'x COPY'],
    [
      [
        'API: PUT /v1/portfolios/:id/loan-tape (HTTP, loopback)',
        formatInt(r.rows),
        formatMs(r.apiMs),
        formatInt(r.apiRowsPerSecond),
        (r.tapeBytes / 2 ** 20 / (r.apiMs / 1000)).toFixed(1),
        `${r.ratio.toFixed(2)}x`,
      ],
      [
        'Postgres COPY FROM STDIN, same rows, same table',
        formatInt(r.rows),
        formatMs(r.copyMs),
        formatInt(r.copyRowsPerSecond),
        '',
        '1.00x',
      ],
    ],
  );
  return [
    `Loan-tape ingest: ${formatInt(r.rows)} rows, ${mb} MB CSV (generated once in ${formatMs(r.generateMs)})`,
    table,
    `ratio API / COPY = ${r.ratio.toFixed(2)} (target >= 0.5: ${r.ratio >= 0.5 ? 'ok' : 'MISSED'})` +
      (r.rounds > 1
        ? `; best of ${r.rounds} rounds (API ${r.apiMsAll.map(formatMs).join(', ')}; COPY ${r.copyMsAll.map(formatMs).join(', ')})`
        : ''),
    'The API time runs from the request to the whole 200 answer: streamed parse, per-cell validation, COPY in one',
    'transaction, statistics in SQL, commit, audit row. Both runs start from an empty loan table after a CHECKPOINT.',
    `App: NODE_ENV=production, logging off, RATE_LIMIT_MAX=${formatInt(BENCH_RATE_LIMIT_MAX)} (not hit by one upload).`,
    NOISE_NOTE,
  ].join('\n');
}

export function ingestSummary(r: IngestBenchResult): SummaryRow[] {
  return [
    {
      benchmark: `loan-tape ingest, ${formatInt(r.rows)} rows (API)`,
      measured: `${formatInt(r.apiRowsPerSecond)} rows/s`,
      baseline: `${formatInt(r.copyRowsPerSecond)} rows/s (COPY)`,
      ratio: `${r.ratio.toFixed(2)}x`,
      target: '>= 0.5x',
      ok: r.ratio >= 0.5,
    },
  ];
}

function parseArgs(argv: readonly string[]): IngestBenchOptions {
  const options: IngestBenchOptions = { log: (line) => console.error(line) };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--rows') options.rows = Number(argv[++i].replace(/_/g, ''));
    else if (arg === '--rounds') options.rounds = Number(argv[++i]);
    else if (arg === '--quick') options.rows = 100_000;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(options.rows ?? 1) || (options.rows ?? 1) < 1)
    throw new Error('--rows: a positive integer');
  if (!Number.isInteger(options.rounds ?? 1) || (options.rounds ?? 1) < 1)
    throw new Error('--rounds: a positive integer');
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runIngestBench(parseArgs(process.argv.slice(2)));
  console.log(formatIngestBench(result));
}
