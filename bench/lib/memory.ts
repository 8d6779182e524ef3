import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Peak resident set size of this process in bytes (Linux VmHWM), falling back to the current RSS
 * where /proc is missing.
 */
export function peakRss(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {}
  return process.memoryUsage().rss;
}

/** Resets the peak RSS to the current RSS (Linux `clear_refs` 5); false when the kernel refuses. */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Runs a full GC when node was started with --expose-gc; otherwise does nothing. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
