/** Dispatches `cli <verb> ...` to the registry; returns the exit code instead of exiting. */
import { DomainInputError } from '../../core/domain/errors.ts';
import { CliError, type CliIo } from './verb.ts';
import { verbs } from './verbs.ts';

export function toolHelp(): string {
  const width = Math.max(...Object.keys(verbs).map((name) => name.length));
  const lines = Object.entries(verbs).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return `Usage: npm run cli -- <verb> [options]

Verbs:
${lines.join('\n')}

Run \`npm run cli -- <verb> --help\` for a verb's options.
`;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr(toolHelp());
    return 1;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    if (first === 'help' && rest[0] !== undefined) return runCli([rest[0], '--help'], io);
    io.stdout(toolHelp());
    return 0;
  }
  const entry = Object.hasOwn(verbs, first) ? verbs[first] : undefined;
  if (entry === undefined) {
    io.stderr(`error: unknown verb '${first}'\n\n${toolHelp()}`);
    return 1;
  }
  try {
    const verb = await entry.load();
    const code = await verb.run(rest, io);
    return typeof code === 'number' ? code : 0;
  } catch (error) {
    io.stderr(formatError(first, error));
    return error instanceof CliError ? error.exitCode : 1;
  }
}

function formatError(verb: string, error: unknown): string {
  if (error instanceof DomainInputError) {
    const lines = error.issues.map(
      ({ field, message }) => `  - ${field === '' ? '(input)' : field}: ${message}`,
    );
    return `error: invalid input\n${lines.join('\n')}\n`;
  }
  if (error instanceof CliError) {
    const hint = error.showHelpHint ? `\nRun \`npm run cli -- ${verb} --help\` for usage.` : '';
    return `error: ${error.message}${hint}\n`;
  }
  return `error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
}
