import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const vectorsText = readFileSync(new URL('../../spec/vectors/waterfall.json', import.meta.url), 'utf8');
type Case = Record<string, unknown>;
type Vectors = { about: string; waterfall: Case[]; prorata: Case[] };
const vectors = (): Vectors => JSON.parse(vectorsText);

const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const writeInput = (name: string, content: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

type Run = { code: number; stdout: string; stderr: string };
const cli = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'scripts/cli.ts', ...args],
      { cwd: repo, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });

const strip = (c: Case): Case => {
  const { expected: _, ...rest } = c;
  return rest;
};

describe('cli waterfall', () => {
  it('fills in every expected of the vectors file', async () => {
    const original = vectors();
    const input = writeInput('stripped.json', {
      ...original,
      waterfall: original.waterfall.map(strip),
      prorata: original.prorata.map(strip),
    });
    const run = await cli('waterfall', '--input', input);
    expect(run.code, run.stderr).toBe(0);
    const output = JSON.parse(run.stdout) as Vectors;
    expect(output.waterfall).toEqual(original.waterfall);
    expect(output.prorata).toEqual(original.prorata);
    expect(output).toEqual(original);
    expect(run.stdout).toBe(`${JSON.stringify(original, null, 2)}\n`);
  });

  it('fills in every v2 expected of a copy of waterfall-v2.json with expected removed', async () => {
    const original = JSON.parse(
      readFileSync(new URL('../../spec/vectors/waterfall-v2.json', import.meta.url), 'utf8'),
    ) as Vectors;
    const input = writeInput('stripped-v2.json', {
      ...original,
      waterfall: original.waterfall.map(strip),
      prorata: original.prorata.map(strip),
    });
    const run = await cli('waterfall', '--input', input);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(original);
    expect(run.stdout).toBe(`${JSON.stringify(original, null, 2)}\n`);

    // --spec 1 refuses the v2 fields; --spec 2 turns a v1 case into its v2 copy
    const refused = await cli('waterfall', '--spec', '1', '--input', input);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/waterfall\[6\]\.reserve: is a spec v2 field/);
    const single = await cli(
      'waterfall',
      '-s',
      '2',
      '-i',
      writeInput('v1-as-v2.json', strip(vectors().waterfall[0])),
    );
    expect(single.code, single.stderr).toBe(0);
    expect(JSON.parse(single.stdout).expected).toEqual(original.waterfall[0].expected);
  });

  it('fills in a single waterfall case', async () => {
    const original = vectors().waterfall[2];
    const run = await cli('waterfall', '-i', writeInput('single.json', strip(original)));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(original);
  });

  it('prints help for the tool and for the verb', async () => {
    const tool = await cli('--help');
    expect(tool.code).toBe(0);
    expect(tool.stdout).toMatch(/Usage: .*<verb>/);
    expect(tool.stdout).toContain('waterfall');
    const verb = await cli('waterfall', '--help');
    expect(verb.code).toBe(0);
    expect(verb.stdout).toContain('--input FILE');
  });

  it.each([
    [
      'a missing file',
      () => ['waterfall', '--input', join(dir, 'nope.json')],
      /cannot read .*nope\.json: no such file/,
    ],
    [
      'invalid JSON',
      () => ['waterfall', '--input', writeInput('bad.json', '{"waterfall": [')],
      /not valid JSON/,
    ],
    [
      'a schema error',
      () => {
        const file = vectors();
        (file.waterfall[1].tranches as Case[])[0].face = '-5';
        return ['waterfall', '--input', writeInput('schema.json', file)];
      },
      /waterfall\[1\]\.tranches\[0\]\.face: must be a non-negative integer/,
    ],
    ['a missing --input', () => ['waterfall'], /missing --input/],
    ['an unknown --spec', () => ['waterfall', '--spec', '3', '--input', 'x'], /--spec must be 1 or 2/],
    [
      'an unsorted business plan',
      () => {
        const file = JSON.parse(
          readFileSync(new URL('../../spec/vectors/waterfall-v2.json', import.meta.url), 'utf8'),
        ) as Vectors;
        const plan = (file.waterfall[9].trigger as { businessPlan: unknown[] }).businessPlan;
        [plan[0], plan[1]] = [plan[1], plan[0]];
        return ['waterfall', '--input', writeInput('unsorted.json', file)];
      },
      /waterfall\[9\]\.trigger\.businessPlan\[1\]\.atSeconds: must be greater than the previous point's/,
    ],
    ['an unknown option', () => ['waterfall', '--inptu', 'x'], /Unknown option '--inptu'/],
    ['an unknown verb', () => ['watrefall'], /unknown verb 'watrefall'/],
    ['no verb', () => [], /Usage:/],
  ] as const)(
    'fails on %s with exit code 1, a message on stderr and nothing on stdout',
    async (_name, args, message) => {
      const run = await cli(...args());
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(message);
    },
  );
});
