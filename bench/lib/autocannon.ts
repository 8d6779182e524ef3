import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

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

export type LoadOptions = { url: string; connections: number; durationSeconds: number };

type AutocannonJson = {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  throughput: { average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
};

export function autocannon({ url, connections, durationSeconds }: LoadOptions): Promise<LoadResult> {
  const args = [cli, '-c', String(connections), '-d', String(durationSeconds), '--json', '-n', url];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
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
