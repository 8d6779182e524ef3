/** `cli waterfall --input FILE`: computes every `expected` of a file in the format of waterfall.json. */
import { fillExpected } from '../../core/domain/vectors.ts';
import { CliError, type CliVerb, parseVerbArgs, readJsonInput } from './verb.ts';

export const verb: CliVerb = {
  help: `Usage: npm run cli -- waterfall --input FILE

Reads FILE in the format of spec/vectors/waterfall.json -- either one waterfall case
({ mode, tranches, fees, recoveries }) or an object with "waterfall" and/or "prorata" lists --
and prints it as JSON (2-space indent) with every "expected" computed by core/domain
(spec v1: fees, interest accrual, interestFirst | sequential, residual; pro-rata split with dust).
Any "expected" already present is replaced. Amounts are decimal strings in base units.

Options:
  -i, --input FILE   vectors file to read ("-" for standard input)
  -h, --help         show this help

Exit status: 0 on success; 1 on a missing file, invalid JSON or invalid input (the path of each
bad field is printed on stderr, nothing on stdout).
`,
  async run(args, io) {
    const values = parseVerbArgs(args, { input: { type: 'string', short: 'i' } });
    if (values.help) {
      io.stdout(verb.help);
      return;
    }
    if (values.input === undefined) throw new CliError('missing --input FILE', true);
    const input = await readJsonInput(values.input, io);
    const filled = fillExpected(input);
    io.stdout(`${JSON.stringify(filled, null, 2)}\n`);
  },
};
