import { parse } from 'csv-parse';

/**
 * CSV records of a loan tape, exactly as csv-parse reads them with `LOAN_TAPE_CSV_OPTIONS`, at a fraction
 * of its cost on the common case.
 *
 * csv-parse walks every byte through its state machine (about half of the ingest's CPU time). Most tapes
 * have no quoted cells: while no `"` has been seen, whole lines are split with native `indexOf`/`split`.
 * From the first line holding a `"` (or a first line longer than 64 KiB, or a UTF-16 BOM) on, the bytes go
 * to csv-parse's own parser, set up to continue in the state it would have reached itself: the record
 * delimiter it discovered on the first line (`\r\n`, `\n` or `\r`), the BOM already skipped, and its line
 * counter (its error messages name the line). test/unit/csv-records.test.ts compares the two readers on
 * generated inputs (quotes, line ends, BOMs, empty lines, invalid UTF-8, any chunking).
 */

export const LOAN_TAPE_CSV_OPTIONS = {
  bom: true,
  relax_column_count: true,
  skip_empty_lines: true,
  max_record_size: 1 << 20,
} as const;

/** csv-parse's synchronous core: what its stream calls for every chunk (`Parser.api` of csv-parse 7). */
type ParserCore = {
  parse: (
    buf: Buffer | undefined,
    end: boolean,
    push: (record: string[]) => void,
    close: () => void,
  ) => Error | undefined;
  info: { lines: number };
};

function parserCore(options: Record<string, unknown>): ParserCore {
  const core = (parse(options) as unknown as { api?: ParserCore }).api;
  if (typeof core?.parse !== 'function' || typeof core.info?.lines !== 'number')
    throw new Error('csv-parse: the parser core (Parser.api) is not where csv-parse 7 keeps it');
  return core;
}

const CR = 13;
const LF = 10;
const QUOTE = 34;
/** a line without a record delimiter yet this long goes to csv-parse (far below max_record_size) */
const FAST_LINE_MAX = 64 * 1024;
const noop = () => {};

function count(buf: Buffer, byte: number, from: number, to: number): number {
  let n = 0;
  for (let i = buf.indexOf(byte, from); i !== -1 && i < to; i = buf.indexOf(byte, i + 1)) n++;
  return n;
}

export class CsvRecordReader {
  /** bytes not yet parsed: from the start of the file until the first line is read, then from a line start */
  private pending: Buffer | null = null;
  private delimiter: Buffer | null = null;
  private delimiterText = '';
  /** offset of the data in `pending` while the first line is not read (3 after a UTF-8 BOM) */
  private bomLength = -1;
  /** csv-parse's `info.lines` at the start of `pending` */
  private lines = 1;
  private slow: ParserCore | null = null;
  private ended = false;

  /** `onRecord` is called synchronously, in order, for every record. */
  constructor(private readonly onRecord: (record: string[]) => void) {}

  /** Parses `chunk`, calling `onRecord` for each complete record; throws csv-parse's error for invalid CSV. */
  write(chunk: Buffer): void {
    if (this.slow !== null) {
      this.slowParse(chunk, false);
      return;
    }
    this.pending =
      this.pending === null || this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.step(false);
  }

  /** The end of the file: the last record (without a line end), or csv-parse's error. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.slow === null) this.step(true);
    if (this.slow !== null) this.slowParse(undefined, true);
  }

  private slowParse(buf: Buffer | undefined, end: boolean): void {
    const error = this.slow!.parse(buf, end, this.onRecord, noop);
    if (error !== undefined) throw error;
  }

  /** Hands the rest of the file, from `pending[from]` on, to csv-parse. */
  private handOver(from: number, fresh: boolean): void {
    this.slow = fresh
      ? parserCore({ ...LOAN_TAPE_CSV_OPTIONS })
      : parserCore({ ...LOAN_TAPE_CSV_OPTIONS, bom: false, record_delimiter: this.delimiterText });
    if (!fresh) this.slow.info.lines = this.lines;
    const rest = this.pending!.subarray(from);
    this.pending = null;
    if (rest.length > 0) this.slowParse(rest, false);
  }

  private step(end: boolean): void {
    const buf = this.pending;
    if (buf === null) return;
    if (this.delimiter === null) {
      if (!this.readFirstLine(buf, end)) return;
    }
    this.readLines(end);
  }

  /** Finds the record delimiter on the first line as csv-parse does; false while more bytes are needed. */
  private readFirstLine(buf: Buffer, end: boolean): boolean {
    if (this.bomLength < 0) {
      if (buf.length < 3 && !end) return false;
      if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) {
        // a UTF-16 BOM: csv-parse switches encoding
        this.handOver(0, true);
        return false;
      }
      this.bomLength = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
    }
    const start = this.bomLength;
    const lf = buf.indexOf(LF, start);
    const cr = buf.indexOf(CR, start);
    const at = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
    const quote = buf.indexOf(QUOTE, start);
    if (quote >= 0 && (at < 0 || quote < at)) {
      this.handOver(0, true);
      return false;
    }
    if (at < 0) {
      if (end) {
        if (buf.length > start) this.onRecord(buf.toString('utf8', start).split(','));
        this.pending = null;
      } else if (buf.length - start > FAST_LINE_MAX) this.handOver(0, true);
      return false;
    }
    if (buf[at] === CR) {
      if (at + 1 >= buf.length && !end) return false;
      this.delimiterText = buf[at + 1] === LF ? '\r\n' : '\r';
    } else this.delimiterText = '\n';
    this.delimiter = Buffer.from(this.delimiterText, 'latin1');
    this.pending = buf.subarray(start);
    return true;
  }

  /** Splits the complete lines of `pending` before its first quote; hands over at the line of that quote. */
  private readLines(end: boolean): void {
    const buf = this.pending!;
    const delimiter = this.delimiter!;
    const quote = buf.indexOf(QUOTE);
    const limit = quote < 0 ? buf.length : quote;
    const last = limit >= delimiter.length ? buf.lastIndexOf(delimiter, limit - delimiter.length) : -1;
    const cut = last < 0 ? 0 : last + delimiter.length;
    const stop = cut > 0 ? this.emitLines(buf, cut) : 0;
    if (stop < cut || quote >= 0) {
      this.handOver(stop, false);
      return;
    }
    const rest = buf.subarray(cut);
    if (end) {
      if (rest.length > 0) this.onRecord(rest.toString('utf8').split(','));
      this.pending = null;
    } else if (rest.length > FAST_LINE_MAX) {
      this.pending = rest;
      this.handOver(0, false);
    } else this.pending = rest;
  }

  /**
   * Emits the records of `buf[0, cut)`, whole lines each ending in the delimiter, and answers where it
   * stopped: `cut`, or the start of a line too long for the fast path (csv-parse checks its size).
   */
  private emitLines(buf: Buffer, cut: number): number {
    const lines = buf.toString('utf8', 0, cut).split(this.delimiterText);
    let n = lines.length - 1;
    let stop = cut;
    for (let i = 0; i < n; i++) {
      const line = lines[i];
      if (line.length > FAST_LINE_MAX) {
        // (rare) the byte offset of line i: after the i-th delimiter
        stop = 0;
        for (let k = 0; k < i; k++) stop = buf.indexOf(this.delimiter!, stop) + this.delimiter!.length;
        n = i;
        break;
      }
      if (line !== '') this.onRecord(line.split(','));
    }
    // csv-parse counts every CR and LF it reads; the LF of a CRLF record delimiter is skipped, not read
    const d = this.delimiterText;
    this.lines +=
      d === '\n'
        ? n + count(buf, CR, 0, stop)
        : d === '\r'
          ? n + count(buf, LF, 0, stop)
          : count(buf, CR, 0, stop) + count(buf, LF, 0, stop) - n;
    return stop;
  }
}
