import { finished } from 'node:stream/promises';
import { parse } from 'csv-parse';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvRecordReader, LOAN_TAPE_CSV_OPTIONS } from '../../core/catalog/loan-tape/csv-records.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';

type Outcome = { records: string[][]; error: string | null };

/** What csv-parse's public stream makes of `input` (records through on_record, so none is lost to an error). */
async function csvParse(input: Buffer): Promise<Outcome> {
  const records: string[][] = [];
  const parser = parse({
    ...LOAN_TAPE_CSV_OPTIONS,
    on_record: (record: string[]) => {
      records.push(record);
      return null;
    },
  });
  parser.resume();
  parser.end(input);
  try {
    await finished(parser);
    return { records, error: null };
  } catch (error) {
    return { records, error: (error as Error).message };
  }
}

/** What CsvRecordReader makes of `input` cut at `cuts`. */
function reader(input: Buffer, cuts: number[]): Outcome {
  const records: string[][] = [];
  const r = new CsvRecordReader((record) => records.push(record));
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  try {
    let from = 0;
    for (const p of [...points, input.length]) {
      if (p > from) r.write(input.subarray(from, p));
      from = Math.max(from, p);
    }
    r.end();
    return { records, error: null };
  } catch (error) {
    return { records, error: (error as Error).message };
  }
}

const piece = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('a', 'loan_7', '12.50', ' x ', ' ', 'é€', '😀', '', 'IT', '2020-02-29'),
  },
  { weight: 4, arbitrary: fc.constantFrom(',', '\n', '\r\n', '\r') },
  { weight: 2, arbitrary: fc.constantFrom('"', '""', '"a,b"', '"q\nr"', '\uFEFF', '\t', '\\') },
);
const bytes = fc.oneof(
  { weight: 8, arbitrary: fc.array(piece, { maxLength: 60 }).map((p) => Buffer.from(p.join(''), 'utf8')) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.array(piece, { maxLength: 30 }),
        fc.uint8Array({ maxLength: 4 }),
        fc.array(piece, { maxLength: 30 }),
      )
      .map(([a, raw, b]) =>
        Buffer.concat([Buffer.from(a.join('')), Buffer.from(raw), Buffer.from(b.join(''))]),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(piece, { maxLength: 40 }))
      .map(([bom, p]) => Buffer.from(`${bom ? '\uFEFF' : ''}h1,h2\n${p.join('')}`)),
  },
);
const cuts = fc.array(fc.nat(), { maxLength: 6 });

describe('CsvRecordReader', () => {
  it('reads what csv-parse reads: records, and the same error at the same record', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, cuts, async (input, at) => {
        expect(reader(input, at)).toEqual(await csvParse(input));
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads a generated tape in any line-ending style like csv-parse, in any chunking', async () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const input = Buffer.from(loanTapeCsv({ rows: 50, eol, bom: eol === '\r\n' }));
      const expected = await csvParse(input);
      expect(expected.records).toHaveLength(51);
      for (const size of [1, 7, 64, 1000]) {
        const at = Array.from({ length: Math.ceil(input.length / size) }, (_, k) => k * size);
        expect(reader(input, at), `${JSON.stringify(eol)} ${size}`).toEqual(expected);
      }
    }
  });

  it('hands over to csv-parse at the first quote, keeping its line numbers in errors', async () => {
    const input = Buffer.from('a,b\r\nc,d\r\n\r\nx\ny,z\r\n"e,f",g\r\nh,"i"j\r\n');
    const expected = await csvParse(input);
    expect(expected.error).toMatch(/Invalid Closing Quote: got "j" at line 7 /);
    expect(reader(input, [])).toEqual(expected);
    expect(reader(input, [3, 20, 29])).toEqual(expected);
  });

  it('leaves over-long records to csv-parse (its max_record_size error)', async () => {
    const long = `h\n${'x'.repeat(LOAN_TAPE_CSV_OPTIONS.max_record_size + 100)}\nok\n`;
    const input = Buffer.from(long);
    const expected = await csvParse(input);
    expect(expected.error).toMatch(/Max Record Size/);
    expect(reader(input, [])).toEqual(expected);
    expect(reader(input, [100_000, 700_000])).toEqual(expected);
  });

  it('reads an empty file, a lone BOM and a last line without a line end', async () => {
    for (const text of ['', '\uFEFF', 'a,b', 'a,b\nc', '\r', 'a\r']) {
      const input = Buffer.from(text);
      expect(reader(input, [1, 2]), JSON.stringify(text)).toEqual(await csvParse(input));
    }
  });
});
