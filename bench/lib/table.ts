/** Plain-text table: a header row, a rule, then the rows; numbers right-aligned, text left-aligned. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => String(cell)));
  const widths = header.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  const isNumber = (cell: string) => /^[-+~]?[\d.,]+\s*[a-zA-Z%×x]*$/.test(cell);
  const line = (row: readonly string[]) =>
    row.map((cell, c) => (isNumber(cell) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

/** Milliseconds as `123 ms` or `4.56 s`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
