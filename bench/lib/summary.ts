import { formatTable } from './table.ts';

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
  return formatTable(
    ['benchmark', 'measured', 'baseline (same run)', 'ratio', 'target', 'status'],
    rows.map((r) => [
      r.benchmark,
      r.measured,
      r.baseline,
      r.ratio,
      r.target,
      r.ok === undefined ? '' : r.ok ? 'ok' : 'OVER',
    ]),
  );
}

/** 12,345 */
export const formatInt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A note printed under every timed table: the machine is shared and the absolute numbers move. */
export const NOISE_NOTE =
  'Note: measured on a shared machine (2 cores, other processes running); absolute numbers are noisy, ' +
  'the same-run ratio is what counts.';
