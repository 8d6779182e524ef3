/**
 * What a CLI verb is. A verb lives in its own module under `scripts/cli/` and is listed in
 * `scripts/cli/verbs.ts`; `scripts/cli/run.ts` dispatches to it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Where a verb reads and writes; the entry passes the process's, tests may pass their own. */
export type CliIo = {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Directory relative paths are resolved against. */
  cwd: string;
  /** Whole standard input, for `--input -`. */
  readStdin: () => Promise<string>;
};

export type CliVerb = {
  /** Full help text printed by `<verb> --help`. */
  help: string;
  /**
   * Runs the verb with the arguments after its name. Write results with `io.stdout` only once
   * the verb has succeeded; throw `CliError` (or any error) to fail with exit code 1 (or the
   * error's `exitCode`). A verb may return its own exit code (e.g. 1 for a negative answer).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: most verbs return nothing (exit code 0)
  run: (args: string[], io: CliIo) => Promise<void | number> | void | number;
};

/** A failure the user can fix; its message goes to stderr as is. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    /** Also point at `--help`. */
    readonly showHelpHint = false,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options);
    this.exitCode = options?.exitCode ?? 1;
  }
  /** The process exit code (default 1). */
  readonly exitCode: number;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs` (strict, no positionals) with `--help/-h` added and its errors turned into `CliError`. */
export function parseVerbArgs<const T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as T & {
        help: { type: 'boolean'; short: 'h' };
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new CliError((error as Error).message, true, { cause: error });
  }
}

/** Reads a text file (or standard input for `-`) with a readable error. */
export async function readInput(path: string, io: CliIo): Promise<string> {
  if (path === '-') return io.readStdin();
  try {
    return await readFile(resolve(io.cwd, path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new CliError(`cannot read ${path}: ${reason}`, false, { cause: error });
  }
}

/** Reads and parses a JSON file (or standard input for `-`). */
export async function readJsonInput(path: string, io: CliIo): Promise<unknown> {
  const text = await readInput(path, io);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(
      `${path === '-' ? 'standard input' : path} is not valid JSON: ${(error as Error).message}`,
      false,
      { cause: error },
    );
  }
}
