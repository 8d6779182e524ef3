#!/usr/bin/env node
// Runs a Foundry tool (forge, anvil, cast) from its npm platform package and exits with the tool's
// own exit code. The npm `@foundry-rs/<tool>` wrappers always exit 0, which would hide a failing
// `forge test` from `npm test` and CI, so every script here goes through this launcher instead.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const [tool, ...args] = process.argv.slice(2);
if (!['forge', 'anvil', 'cast'].includes(tool)) {
  console.error('usage: node scripts/foundry.mjs <forge|anvil|cast> [args...]');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const pkg = `@foundry-rs/${tool}-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;
let binary;
try {
  binary = join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', tool);
} catch {
  console.error(`${pkg} is not installed: run npm install`);
  process.exit(2);
}
const child = spawn(binary, args, { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
