/**
 * A local anvil (npm `@foundry-rs/anvil`) for tests, scripts and the embedded dev stack.
 *
 * `startAnvil()` asks the OS for a free port, spawns anvil on it, waits until it answers
 * `eth_chainId`, and returns its RPC URL, chain id, the accounts of anvil's default mnemonic and a
 * `stop()` that kills it. The child is also killed when this process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Address, createTestClient, type Hex, http, toHex } from 'viem';
import { mnemonicToAccount, privateKeyToAddress } from 'viem/accounts';
import { foundry } from 'viem/chains';

/** Anvil's default mnemonic (its accounts are public: local chains only). */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
export const ANVIL_CHAIN_ID = 31337;

export type AnvilAccount = { address: Address; privateKey: Hex };

export type StartAnvilOptions = {
  /** Port to listen on; defaults to a free port chosen by the OS. */
  port?: number;
  /** Defaults to 31337. */
  chainId?: number;
  /** Number of funded accounts derived from the mnemonic (anvil's default: 10). */
  accounts?: number;
  /** Ether balance of each account (anvil's default: 10000). */
  balance?: number;
  mnemonic?: string;
  /** Seconds between blocks; omitted = automine (one block per transaction). */
  blockTime?: number;
  /** Genesis block timestamp (unix seconds). */
  timestamp?: bigint | number;
  /** Block gas limit (anvil's default: 30 000 000); raise it to fit thousands of transfers in a transaction. */
  gasLimit?: bigint | number;
  /** EIP-170 contract code size limit in bytes (anvil's default: 0x6000). */
  codeSizeLimit?: number;
  /** Extra command-line arguments passed to anvil as they are. */
  args?: readonly string[];
  /** How long to wait for anvil to answer (ms); default 20 000. */
  startTimeoutMs?: number;
  /** Binary to run; defaults to `ANVIL_BINARY`, then the platform binary of `@foundry-rs/anvil`, then `node_modules/.bin/anvil`. */
  binary?: string;
};

export type AnvilInstance = {
  rpcUrl: string;
  port: number;
  chainId: number;
  /** Accounts derived from the mnemonic, index 0 first; each funded by anvil. */
  accounts: AnvilAccount[];
  pid: number | undefined;
  /** Kills anvil and waits for it to exit. Safe to call more than once. */
  stop: () => Promise<void>;
};

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Resolves the anvil executable: the platform package's binary avoids the Node shim (clean kills). */
export function resolveAnvilBinary(override?: string): string {
  if (override) return override;
  if (process.env.ANVIL_BINARY) return process.env.ANVIL_BINARY;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const platformBinary = join(
    repoRoot,
    'node_modules/@foundry-rs',
    `anvil-${process.platform}-${arch}`,
    'bin',
    process.platform === 'win32' ? 'anvil.exe' : 'anvil',
  );
  if (existsSync(platformBinary)) return platformBinary;
  return join(repoRoot, 'node_modules/.bin/anvil');
}

/** A port the OS reports free right now (another process may still take it before anvil binds it). */
export async function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

const derived = new Map<string, AnvilAccount[]>();

/** The first `count` accounts of `mnemonic` (BIP-44 path m/44'/60'/0'/0/i, as anvil derives them). */
export function deriveAccounts(count: number, mnemonic = ANVIL_MNEMONIC): AnvilAccount[] {
  const cached = derived.get(mnemonic);
  if (cached && cached.length >= count) return cached.slice(0, count);
  // One seed derivation (PBKDF2, slow) for the parent key, then cheap child derivations.
  const parent = mnemonicToAccount(mnemonic, { path: "m/44'/60'/0'/0" }).getHdKey();
  const accounts = Array.from({ length: count }, (_, index) => {
    const key = parent.deriveChild(index).privateKey;
    if (!key) throw new Error(`no private key for account ${index}`);
    const privateKey = toHex(key);
    return { address: privateKeyToAddress(privateKey), privateKey };
  });
  derived.set(mnemonic, accounts);
  return accounts.slice();
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a kill() is.
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Starts anvil and resolves once it answers `eth_chainId` with the expected chain id. */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilInstance> {
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await startOnce(options, options.port ?? (await getFreePort()));
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(options: StartAnvilOptions, port: number): Promise<AnvilInstance> {
  const chainId = options.chainId ?? ANVIL_CHAIN_ID;
  const accountCount = options.accounts ?? 10;
  const mnemonic = options.mnemonic ?? ANVIL_MNEMONIC;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--chain-id',
    String(chainId),
    '--accounts',
    String(accountCount),
    '--mnemonic',
    mnemonic,
  ];
  if (options.balance !== undefined) args.push('--balance', String(options.balance));
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime));
  if (options.timestamp !== undefined) args.push('--timestamp', String(options.timestamp));
  if (options.gasLimit !== undefined) args.push('--gas-limit', String(options.gasLimit));
  if (options.codeSizeLimit !== undefined) args.push('--code-size-limit', String(options.codeSizeLimit));
  if (options.args) args.push(...options.args);

  const child = spawn(resolveAnvilBinary(options.binary), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  installExitHook();
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 8192) stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
    child.once('error', (error) => {
      running.delete(child);
      stderr += String(error);
      resolve(-1);
    });
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || !running.has(child)) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  let done = false;
  const early = exited.then((code) => {
    if (!done) throw new Error(`anvil exited with code ${code} before answering: ${stderr.trim()}`);
  });
  try {
    await Promise.race([waitForChainId(rpcUrl, chainId, deadline), early]);
  } catch (error) {
    done = true;
    await stop();
    throw error;
  }
  done = true;
  early.catch(() => {});
  return { rpcUrl, port, chainId, accounts: deriveAccounts(accountCount, mnemonic), pid: child.pid, stop };
}

async function waitForChainId(rpcUrl: string, chainId: number, deadline: number): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      });
      const body = (await response.json()) as { result?: string };
      if (body.result !== undefined) {
        if (Number(body.result) !== chainId) {
          throw new Error(`anvil at ${rpcUrl} answered chain id ${Number(body.result)}, expected ${chainId}`);
        }
        return;
      }
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('anvil at')) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`anvil at ${rpcUrl} did not answer eth_chainId in time`, { cause: lastError });
}

/** viem test client (evm_increaseTime, evm_mine, evm_snapshot, evm_revert, ...) for an anvil at `rpcUrl`. */
export function createAnvilTestClient(rpcUrl: string, chainId = ANVIL_CHAIN_ID) {
  return createTestClient({ mode: 'anvil', chain: { ...foundry, id: chainId }, transport: http(rpcUrl) });
}
