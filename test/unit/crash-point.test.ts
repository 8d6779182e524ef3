/**
 * core/platform/crash-point.ts: NPL_CRASH_AT parsing, and a real child process killed by SIGKILL exactly at
 * the named point's n-th hit (and not by any other point, nor without the variable).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crashTarget } from '../../core/platform/crash-point.ts';

const repoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs a script hitting `a` three times (printing after each) and `b` once; returns its exit and output. */
function run(crashAt: string | undefined) {
  const script = `
    import { crashPoint } from './core/platform/crash-point.ts';
    for (let i = 1; i <= 3; i++) { crashPoint('a'); process.stdout.write('a' + i + ' '); }
    crashPoint('b'); process.stdout.write('b1');`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (crashAt !== undefined) env.NPL_CRASH_AT = crashAt;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += String(chunk);
  });
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, out: out.trim() })),
  );
}

describe('crashPoint', () => {
  it('parses name and name:n, ignores the rest', () => {
    expect(crashTarget('mid-push')).toEqual({ name: 'mid-push', hit: 1 });
    expect(crashTarget(' mid-push:3 ')).toEqual({ name: 'mid-push', hit: 3 });
    expect(crashTarget(undefined)).toBeUndefined();
    expect(crashTarget('')).toBeUndefined();
    expect(crashTarget('mid-push:0')).toBeUndefined();
    expect(crashTarget('mid push')).toBeUndefined();
  });

  it('kills the process with SIGKILL at the n-th hit of the named point only', async () => {
    const [none, first, second, other, unknown] = await Promise.all([
      run(undefined),
      run('a'),
      run('a:2'),
      run('b'),
      run('c'),
    ]);
    expect(none).toEqual({ code: 0, signal: null, out: 'a1 a2 a3 b1' });
    expect(first).toEqual({ code: null, signal: 'SIGKILL', out: '' });
    expect(second).toEqual({ code: null, signal: 'SIGKILL', out: 'a1' });
    expect(other).toEqual({ code: null, signal: 'SIGKILL', out: 'a1 a2 a3' });
    expect(unknown).toEqual({ code: 0, signal: null, out: 'a1 a2 a3 b1' });
  });
});
