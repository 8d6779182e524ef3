import { readFileSync } from 'node:fs';

/**
 * On-CPU time of the calling thread in ms (Linux /proc/thread-self/schedstat, nanoseconds; user +
 * kernel), or NaN where it is missing. Unlike wall time it does not count the time other processes
 * on a shared machine take the core away, so a ratio of two such times is steadier; it does not
 * count V8's helper threads (parallel GC) either.
 */
export function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
}
