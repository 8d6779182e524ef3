/** Entry of `npm run cli -- <verb> ...`; verbs are registered in `scripts/cli/verbs.ts`. */
import { text } from 'node:stream/consumers';
import { runCli } from './cli/run.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (chunk) => process.stdout.write(chunk),
  stderr: (chunk) => process.stderr.write(chunk),
  cwd: process.cwd(),
  readStdin: () => text(process.stdin),
});
