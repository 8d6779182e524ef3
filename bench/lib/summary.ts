/** One line of the final summary of `npm run bench`: a measurement beside its same-run baseline and its target. */
export type SummaryRow = {
  benchmark: string;
  measured: string;
  baseline: string;
  /** measured / baseline as printed, e.g. `0.62x` */
  ratio: string;
  target: string;
  /** undefined: no target for this line */
  ok?: boolean;
};

export function formatSummary(rows: readonly SummaryRow[]): string {
  const header = ['benchmark', 'measured', 'baseline (same run)', 'ratio', 'target', 'status'];
  const cells = rows.map((r) => [
    r.benchmark,
    r.measured,
    r.baseline,
    r.ratio,
    r.target,
    r.ok === undefined ? '' : r.ok ? 'ok' : 'OVER',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  // measured and ratio right-aligned, the rest left-aligned
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => (c === 1 || c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** 12,345 */
export const formatInt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A note printed under every timed table: the machine is shared and the absolute numbers move. */
export const NOISE_NOTE =
  'Note: measured on a shared machine (2 cores, other processes running); absolute numbers are noisy, ' +
  'the same-run ratio is what counts.';
