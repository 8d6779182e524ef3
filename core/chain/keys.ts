/**
 * The platform's keys, one per role (README "Trust model"):
 *
 * | role           | does                                                               | env variable                |
 * |----------------|--------------------------------------------------------------------|-----------------------------|
 * | `deployer`     | deploys the contracts, grants the roles, then renounces every one   | `DEPLOYER_PRIVATE_KEY`      |
 * | `admin`        | the timelock's only proposer and executor (production: a multisig)  | `ADMIN_PRIVATE_KEY`         |
 * | `guardian`     | pauses, revokes pending roots, freezes, cancels timelock operations | (production: a multisig)    |
 * | `rootProposer` | proposes Distributor roots (the distribution job)                   | `ROOT_PROPOSER_PRIVATE_KEY` |
 * | `relayer`      | sends relayed transactions and createPortfolio, pays the gas        | `PLATFORM_PRIVATE_KEY`      |
 *
 * On a local chain (31337 / 1337) `npm start` and `npm run cli -- deploy` create the admin, guardian,
 * root-proposer and relayer keys once in `DATA_DIR/platform-keys.json` (mode 0600, never printed) and
 * reuse them; the deployer there is anvil's first (public, funded) account, which keeps only the
 * TestStablecoin's admin role (the dev faucet's minter grant). An environment variable always wins.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Address, type Hex, parseEther } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { z } from 'zod';
import type { Config } from '../platform/config.ts';
import { ConfigInvalidError } from '../platform/errors/index.ts';
import { type ChainPublicClient, isLocalChain } from './clients.ts';

/** Anvil's first default account (mnemonic `test ... junk`, m/44'/60'/0'/0/0); public, local chains only. */
export const ANVIL_FIRST_PRIVATE_KEY: Hex =
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/** The roles whose keys `npm start` creates in DATA_DIR (the deployer is anvil's account there). */
export const LOCAL_KEY_ROLES = ['admin', 'guardian', 'rootProposer', 'relayer'] as const;
export type LocalKeyRole = (typeof LOCAL_KEY_ROLES)[number];
export type PlatformKeyRole = LocalKeyRole | 'deployer';

export type LocalKeys = Record<LocalKeyRole, Hex>;

export const KEYS_FILE = 'platform-keys.json';

/** The environment variable that overrides each role's key. */
export const KEY_VARIABLE = {
  deployer: 'DEPLOYER_PRIVATE_KEY',
  admin: 'ADMIN_PRIVATE_KEY',
  rootProposer: 'ROOT_PROPOSER_PRIVATE_KEY',
  relayer: 'PLATFORM_PRIVATE_KEY',
} as const satisfies Partial<Record<PlatformKeyRole, keyof Config>>;

/** The configuration a role's key is read from. */
export type KeyConfig = Pick<
  Config,
  | 'DATA_DIR'
  | 'PLATFORM_PRIVATE_KEY'
  | 'ROOT_PROPOSER_PRIVATE_KEY'
  | 'DEPLOYER_PRIVATE_KEY'
  | 'ADMIN_PRIVATE_KEY'
>;

const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const keysSchema = z.object({
  admin: privateKey,
  guardian: privateKey,
  rootProposer: privateKey,
  relayer: privateKey,
});

export function keysFilePath(dataDir: string): string {
  return join(dataDir, KEYS_FILE);
}

function parseKeys(text: string, path: string): LocalKeys {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalidError(`${path} is not valid JSON: ${(error as Error).message}`, {
      retryable: false,
    });
  }
  const parsed = keysSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigInvalidError(`${path} does not hold the platform keys (${LOCAL_KEY_ROLES.join(', ')})`, {
      retryable: false,
    });
  }
  return parsed.data as LocalKeys;
}

/** The keys of `DATA_DIR/platform-keys.json`, or undefined when there is no such file. */
export function readLocalKeys(dataDir: string): LocalKeys | undefined {
  const path = keysFilePath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseKeys(text, path);
}

/**
 * The local keys of `dataDir`, created (fresh random keys, distinct per role, mode 0600) when the file
 * does not exist yet. The file appears whole or not at all (written aside, then hard-linked into
 * place, which fails if another process created it first: then that one's keys are read).
 */
export async function ensureLocalKeys(dataDir: string): Promise<{ keys: LocalKeys; created: boolean }> {
  const path = keysFilePath(dataDir);
  const existing = readLocalKeys(dataDir);
  if (existing !== undefined) {
    await chmod(path, 0o600);
    return { keys: existing, created: false };
  }
  await mkdir(dataDir, { recursive: true });
  const keys = Object.fromEntries(
    LOCAL_KEY_ROLES.map((role) => [role, `0x${randomBytes(32).toString('hex')}` as Hex]),
  ) as LocalKeys;
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { keys: parseKeys(await readFile(path, 'utf8'), path), created: false };
  } finally {
    await rm(temporary, { force: true });
  }
  return { keys, created: true };
}

/**
 * The private key of `role` for `chainId`, when one is known: its environment variable, else on a
 * local chain the DATA_DIR keys file (the deployer: anvil's first account; the relayer, without a
 * keys file: anvil's first account, as before keys per role). Undefined when none is configured.
 */
export function roleKey(config: KeyConfig, role: PlatformKeyRole, chainId: number): Hex | undefined {
  const variable = role === 'guardian' ? undefined : KEY_VARIABLE[role];
  const fromEnv = variable === undefined ? undefined : config[variable];
  if (fromEnv !== undefined) return fromEnv as Hex;
  if (!isLocalChain(chainId)) return undefined;
  if (role === 'deployer') return ANVIL_FIRST_PRIVATE_KEY;
  const local = readLocalKeys(config.DATA_DIR);
  if (local !== undefined) return local[role];
  return role === 'relayer' ? ANVIL_FIRST_PRIVATE_KEY : undefined;
}

/** Like `roleKey`, but a missing key is a CONFIG_INVALID error naming the variable to set. */
export function requireRoleKey(config: KeyConfig, role: PlatformKeyRole, chainId: number): Hex {
  const key = roleKey(config, role, chainId);
  if (key !== undefined) return key;
  const variable = role === 'guardian' ? 'the guardian key' : KEY_VARIABLE[role];
  throw new ConfigInvalidError(
    `${variable} is required on chain ${chainId} (only local chains have a default)`,
    {
      retryable: false,
      details: [{ variable, message: 'required when RPC_URL is not a local chain' }],
    },
  );
}

/** The addresses of local keys (what a deployment and the README's trust model name). */
export function localKeyAddresses(keys: LocalKeys): Record<LocalKeyRole, Address> {
  return Object.fromEntries(LOCAL_KEY_ROLES.map((role) => [role, privateKeyToAddress(keys[role])])) as Record<
    LocalKeyRole,
    Address
  >;
}

/**
 * Gives each address at least `minimum` ether on a local chain (`anvil_setBalance` to `amount`): the
 * keys `npm start` creates pay their own gas. Nothing is sent for an address that has enough.
 */
export async function fundLocalAccounts(
  publicClient: Pick<ChainPublicClient, 'getBalance' | 'request'>,
  addresses: readonly Address[],
  options: { minimum?: bigint; amount?: bigint } = {},
): Promise<Address[]> {
  const minimum = options.minimum ?? parseEther('10');
  const amount = options.amount ?? parseEther('1000');
  const funded: Address[] = [];
  for (const address of addresses) {
    const balance = await publicClient.getBalance({ address });
    if (balance >= minimum) continue;
    await publicClient.request({
      method: 'anvil_setBalance' as 'eth_chainId',
      params: [address, `0x${amount.toString(16)}`] as unknown as undefined,
    });
    funded.push(address);
  }
  return funded;
}
