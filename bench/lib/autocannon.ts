import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * autocannon in a child process (its CLI with `--json`), so the load generator does not share the
 * event loop of the server it measures (it still shares the machine's cores).
 */

const cli = createRequire(import.meta.url).resolve('autocannon');

export type LoadResult = {
  requestsPerSecond: number;
  /** latency percentiles, ms */
  p50: number;
  p99: number;
  max: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  bytesPerSecond: number;
};

export type LoadOptions = {
  url: string;
  connections: number;
  durationSeconds: number;
  /** Each request's path drawn at random from these (appended to the origin of `url`). */
  paths?: readonly string[];
};

type AutocannonJson = {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  throughput: { average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
};

const pathsRunner = fileURLToPath(new URL('./autocannon-paths.mjs', import.meta.url));

export function autocannon({ url, connections, durationSeconds, paths }: LoadOptions): Promise<LoadResult> {
  let pathsFile: string | undefined;
  let args = [cli, '-c', String(connections), '-d', String(durationSeconds), '--json', '-n', url];
  if (paths !== undefined) {
    pathsFile = join(tmpdir(), `autocannon-paths-${process.pid}-${Date.now()}.json`);
    writeFileSync(pathsFile, JSON.stringify(paths));
    args = [pathsRunner, new URL(url).origin, String(connections), String(durationSeconds), pathsFile];
  }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (pathsFile !== undefined) rmSync(pathsFile, { force: true });
      if (error) {
        reject(new Error(`autocannon failed: ${error.message}\n${stderr}`));
        return;
      }
      const r = JSON.parse(stdout) as AutocannonJson;
      resolve({
        requestsPerSecond: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        max: r.latency.max,
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        bytesPerSecond: r.throughput.average,
      });
    });
  });
}
