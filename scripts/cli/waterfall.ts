/**
 * `cli waterfall --input FILE [--spec 1|2]`: computes every `expected` of a file in the format of
 * waterfall.json (spec v1) or waterfall-v2.json (spec v2).
 */
import { fillExpected, type VectorsSpec } from '../../core/domain/vectors.ts';
import { CliError, type CliVerb, parseVerbArgs, readJsonInput } from './verb.ts';

export const verb: CliVerb = {
  help: `Usage: npm run cli -- waterfall --input FILE [--spec 1|2]

Reads FILE in the format of spec/vectors/waterfall.json or spec/vectors/waterfall-v2.json --
either one waterfall case ({ mode, tranches, fees, recoveries }) or an object with "waterfall"
and/or "prorata" lists -- and prints it as JSON (2-space indent) with every "expected" computed
by core/domain (spec v1: fees, interest accrual, interestFirst | sequential, residual; pro-rata
split with dust). Any "expected" already present is replaced. Amounts are decimal strings in
base units.

Spec v2 (reserve { targetBps, initial }, trigger { collectionRatioBps, businessPlan:
[{ atSeconds, cumulative }] }, and "final": true on the resolving recovery) is used when any
waterfall case of FILE has one of those fields, or with --spec 2; each result then also has
triggerBreached, reserve { released, drawn, replenished, balanceAfter } and per tranche
principalWrittenOff and interestWrittenOff. A case without them stays a v1 case: its v2 fields
read 0 / false.

Options:
  -i, --input FILE   vectors file to read ("-" for standard input)
  -s, --spec 1|2     which spec to compute (default: 2 when FILE uses a v2 field, else 1)
  -h, --help         show this help

Exit status: 0 on success; 1 on a missing file, invalid JSON or invalid input (the path of each
bad field is printed on stderr, nothing on stdout).
`,
  async run(args, io) {
    const values = parseVerbArgs(args, {
      input: { type: 'string', short: 'i' },
      spec: { type: 'string', short: 's' },
    });
    if (values.help) {
      io.stdout(verb.help);
      return;
    }
    if (values.input === undefined) throw new CliError('missing --input FILE', true);
    let spec: VectorsSpec | undefined;
    if (values.spec !== undefined) {
      if (values.spec !== '1' && values.spec !== '2') throw new CliError('--spec must be 1 or 2', true);
      spec = Number(values.spec) as VectorsSpec;
    }
    const input = await readJsonInput(values.input, io);
    const filled = fillExpected(input, { spec });
    io.stdout(`${JSON.stringify(filled, null, 2)}\n`);
  },
};
