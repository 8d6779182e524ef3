import { describe, expect, it } from 'vitest';
import { runCli } from '../../scripts/cli/run.ts';
import { CliError } from '../../scripts/cli/verb.ts';
import { parseVerifyDistributionArgs } from '../../scripts/cli/verify-distribution.ts';

const ID = '0b7c6a52-3f1e-4c9a-9d1e-6a0f4c2b9e11';
const RPC = 'http://127.0.0.1:8545';
const API = 'http://localhost:3000/';

function usageError(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return error as CliError;
  }
  throw new Error('no error thrown');
}

describe('verify-distribution arguments', () => {
  it('takes the id, --rpc and --api (trailing slash dropped) and the optional ranges', () => {
    expect(parseVerifyDistributionArgs([ID, '--rpc', RPC, '--api', API], {})).toEqual({
      help: false,
      id: ID,
      rpc: RPC,
      api: 'http://localhost:3000',
      fromBlock: undefined,
      blockRange: undefined,
      json: false,
    });
    expect(
      parseVerifyDistributionArgs(
        ['--api', API, ID.toUpperCase(), '--from-block', '12', '--block-range', '500', '--json'],
        { RPC_URL: RPC },
      ),
    ).toMatchObject({ id: ID, rpc: RPC, fromBlock: 12n, blockRange: 500n, json: true });
  });

  it('--help needs nothing else', () => {
    expect(parseVerifyDistributionArgs(['--help'], {}).help).toBe(true);
    expect(parseVerifyDistributionArgs(['-h'], {}).help).toBe(true);
  });

  it.each([
    ['no id', ['--rpc', RPC, '--api', API], /missing the distribution <id>/],
    ['two ids', [ID, ID, '--rpc', RPC, '--api', API], /one distribution id expected/],
    ['an id that is not a uuid', ['42', '--rpc', RPC, '--api', API], /must be a distribution uuid/],
    ['no --rpc (and no RPC_URL)', [ID, '--api', API], /missing --rpc/],
    ['no --api', [ID, '--rpc', RPC], /missing --api/],
    ['a malformed URL', [ID, '--rpc', 'not a url', '--api', API], /--rpc is not a URL/],
    ['a non-http URL', [ID, '--rpc', RPC, '--api', 'ftp://x'], /--api must be an http\(s\) URL/],
    ['a bad --from-block', [ID, '--rpc', RPC, '--api', API, '--from-block', '1.5'], /--from-block must be/],
    ['a zero --block-range', [ID, '--rpc', RPC, '--api', API, '--block-range', '0'], /--block-range must be/],
    ['an unknown option', [ID, '--rpc', RPC, '--api', API, '--nope'], /Unknown option/],
  ])('rejects %s with exit code 2', (_, args, message) => {
    expect(usageError(() => parseVerifyDistributionArgs(args, {})).message).toMatch(message);
  });

  it('the CLI exits 2 on usage and connection errors, with the message on stderr', async () => {
    const run = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await runCli(args, {
        stdout: (s) => {
          stdout += s;
        },
        stderr: (s) => {
          stderr += s;
        },
        cwd: process.cwd(),
        readStdin: async () => '',
      });
      return { code, stdout, stderr };
    };
    const noId = await run('verify-distribution', '--rpc', RPC, '--api', API);
    expect(noId).toMatchObject({ code: 2, stdout: '' });
    expect(noId.stderr).toMatch(/missing the distribution <id>[\s\S]*--help/);
    // nothing listens on port 9: a connection error, not a disagreement
    const down = await run('verify-distribution', ID, '--rpc', RPC, '--api', 'http://127.0.0.1:9');
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
    const help = await run('verify-distribution', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit status: 0 .*agree/);
    expect((await run('--help')).stdout).toContain('verify-distribution');
  });
});
