/**
 * The platform's deployment on one chain: the `DeployedStack` JSON written by `npm run cli -- deploy`
 * (DEPLOYMENT_FILE, default `${DATA_DIR}/deployment.json`), and the platform signer's clients on that
 * chain (`createPlatformChain`), as the worker uses them to publish portfolios.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Address, getAddress, type Hex, isAddress, isAddressEqual } from 'viem';
import { z } from 'zod';
import type { Config } from '../platform/config.ts';
import { ConfigInvalidError } from '../platform/errors/index.ts';
import { type ChainClients, connectChainClients, withAccount } from './clients.ts';
import type { DeployedStack } from './deploy.ts';
import { toChainError } from './errors.ts';
import { type KeyConfig, requireRoleKey, roleKey } from './keys.ts';

/** Anvil's first default account: the deployer on local chains (core/chain/keys.ts). */
export { ANVIL_FIRST_PRIVATE_KEY } from './keys.ts';

const addressSchema = z
  .string()
  .refine((v) => isAddress(v, { strict: false }), 'must be a 0x-prefixed 20-byte hex address')
  .transform((v) => getAddress(v) as Address);

const count = z.number().int().min(0);

/** The JSON shape of a `DeployedStack` (every address checksummed on load). */
export const deployedStackSchema = z.object({
  chainId: z.number().int().positive(),
  deployer: addressSchema,
  startBlock: count,
  complianceRegistry: addressSchema,
  portfolioFactory: addressSchema,
  implementations: z.object({
    portfolio: addressSchema,
    trancheToken: addressSchema,
    distributor: addressSchema,
  }),
  marketplace: addressSchema.optional(),
  testStablecoin: addressSchema.optional(),
  timelock: addressSchema.optional(),
  config: z.object({
    admin: addressSchema,
    guardian: addressSchema,
    rootProposer: addressSchema,
    treasury: addressSchema,
    timelockDelay: count,
    marketplaceFeeBps: count,
    timelockProposer: addressSchema.optional(),
    timelockMinDelay: count.optional(),
    relayer: addressSchema.optional(),
  }),
});

/** Where the deployment file is: DEPLOYMENT_FILE, or `deployment.json` in DATA_DIR. */
export function deploymentFilePath(config: Pick<Config, 'DEPLOYMENT_FILE' | 'DATA_DIR'>): string {
  return config.DEPLOYMENT_FILE ?? join(config.DATA_DIR, 'deployment.json');
}

/** Validates a parsed deployment file; throws CONFIG_INVALID naming every bad field. */
export function parseDeployment(value: unknown, source = 'deployment'): DeployedStack {
  const parsed = deployedStackSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }));
  throw new ConfigInvalidError(
    `${source} is not a valid deployment: ${details.map((d) => d.path).join(', ')}`,
    { retryable: false, details },
  );
}

/** Reads and validates the deployment file of `config` (see `deploymentFilePath`). */
export async function loadDeployment(
  config: Pick<Config, 'DEPLOYMENT_FILE' | 'DATA_DIR'>,
): Promise<DeployedStack> {
  const path = deploymentFilePath(config);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigInvalidError(
      missing
        ? `No deployment file at ${path}: run \`npm run cli -- deploy --rpc <RPC_URL>\` or set DEPLOYMENT_FILE`
        : `Cannot read the deployment file ${path}: ${(error as Error).message}`,
      { retryable: false, cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalidError(`${path} is not valid JSON: ${(error as Error).message}`, {
      retryable: false,
      cause: error,
    });
  }
  return parseDeployment(json, path);
}

/** Writes `stack` (validated first) as pretty JSON, atomically (temporary file, then rename). */
export async function saveDeployment(path: string, stack: DeployedStack): Promise<void> {
  const valid = parseDeployment(stack, 'the stack to save');
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(valid, null, 2)}\n`, 'utf8');
  await rename(temporary, path);
}

/**
 * The relayer's key for a chain: PLATFORM_PRIVATE_KEY, or on a local chain the relayer key of
 * `DATA_DIR/platform-keys.json` (else anvil's first account); anywhere else a missing key is a
 * CONFIG_INVALID error.
 */
export function platformPrivateKey(config: KeyConfig, chainId: number): Hex {
  return requireRoleKey(config, 'relayer', chainId);
}

/**
 * The root proposer's key, when the deployment's root proposer is another key than the relayer:
 * ROOT_PROPOSER_PRIVATE_KEY, or on a local chain the DATA_DIR keys file. Undefined when the relayer
 * itself proposes (deployments without distinct keys) or no such key is configured.
 */
export function rootProposerPrivateKey(config: KeyConfig, chainId: number, relayerKey: Hex): Hex | undefined {
  const key = roleKey(config, 'rootProposer', chainId);
  return key === undefined || key.toLowerCase() === relayerKey.toLowerCase() ? undefined : key;
}

export type PlatformChain = {
  clients: ChainClients;
  deployment: DeployedStack;
  /** The pay token of new portfolios: PAY_TOKEN_ADDRESS, else the deployment's TestStablecoin. */
  payToken: Address;
  /** Issuer treasury of new portfolios: ISSUER_TREASURY_ADDRESS, else the platform signer. */
  issuerTreasury: Address;
  /**
   * The root proposer's own clients (same chain and transport) when the deployment's root proposer is
   * not the relayer: the distribution job sends `proposeRoot` from this key, with its own nonce
   * sequence in `relay_nonce`. Undefined: the relayer proposes (deployments without distinct keys).
   */
  proposerClients?: ChainClients;
};

export type CreatePlatformChainOptions = {
  /** Use this deployment instead of reading DEPLOYMENT_FILE. */
  deployment?: DeployedStack;
  /** Transport retries of each request (default 3) and per-request timeout (ms, default 30 000). */
  retryCount?: number;
  timeout?: number;
  pollingInterval?: number;
};

type PlatformConfig = Pick<
  Config,
  | 'RPC_URL'
  | 'CHAIN_ID'
  | 'PLATFORM_PRIVATE_KEY'
  | 'ROOT_PROPOSER_PRIVATE_KEY'
  | 'DEPLOYER_PRIVATE_KEY'
  | 'ADMIN_PRIVATE_KEY'
  | 'DEPLOYMENT_FILE'
  | 'DATA_DIR'
  | 'PAY_TOKEN_ADDRESS'
  | 'ISSUER_TREASURY_ADDRESS'
>;

/**
 * Connects the platform signer to RPC_URL and loads the deployment, checking that both are on the
 * same chain (and CHAIN_ID, when set) and that a pay token is known.
 */
export async function createPlatformChain(
  config: PlatformConfig,
  options: CreatePlatformChainOptions = {},
): Promise<PlatformChain> {
  if (config.RPC_URL === undefined) {
    throw new ConfigInvalidError('RPC_URL is not set: publishing needs a chain', {
      retryable: false,
      details: [{ variable: 'RPC_URL', message: 'required' }],
    });
  }
  const deployment = options.deployment ?? (await loadDeployment(config));
  const chainId = config.CHAIN_ID ?? deployment.chainId;
  const privateKey = platformPrivateKey(config, chainId);
  let clients: ChainClients;
  try {
    clients = await connectChainClients({
      rpcUrl: config.RPC_URL,
      privateKey,
      retryCount: options.retryCount,
      timeout: options.timeout,
      pollingInterval: options.pollingInterval,
    });
  } catch (error) {
    throw toChainError(error, { contract: 'chain', functionName: 'getChainId' });
  }
  const mismatch = [
    config.CHAIN_ID !== undefined && config.CHAIN_ID !== clients.chain.id
      ? `CHAIN_ID ${config.CHAIN_ID}`
      : '',
    deployment.chainId !== clients.chain.id ? `the deployment's chain ${deployment.chainId}` : '',
  ].filter(Boolean);
  if (mismatch.length > 0) {
    throw new ConfigInvalidError(`RPC_URL serves chain ${clients.chain.id}, not ${mismatch.join(' or ')}`, {
      retryable: false,
    });
  }
  const payToken = (config.PAY_TOKEN_ADDRESS as Address | undefined) ?? deployment.testStablecoin;
  if (payToken === undefined) {
    throw new ConfigInvalidError('PAY_TOKEN_ADDRESS is required: the deployment has no TestStablecoin', {
      retryable: false,
      details: [{ variable: 'PAY_TOKEN_ADDRESS', message: 'required on a chain without TestStablecoin' }],
    });
  }
  return {
    clients,
    deployment,
    payToken: getAddress(payToken),
    issuerTreasury: getAddress(config.ISSUER_TREASURY_ADDRESS ?? clients.account.address),
    proposerClients: proposerClientsOf(config, clients, privateKey, deployment),
  };
}

/** The root proposer's clients (see `PlatformChain.proposerClients`); its key must be the deployment's. */
function proposerClientsOf(
  config: KeyConfig,
  clients: ChainClients,
  relayerKey: Hex,
  deployment: DeployedStack,
): ChainClients | undefined {
  if (isAddressEqual(deployment.config.rootProposer, clients.account.address)) return undefined;
  const key = rootProposerPrivateKey(config, clients.chain.id, relayerKey);
  if (key === undefined) {
    if (deployment.timelock === undefined) return undefined;
    throw new ConfigInvalidError(
      `ROOT_PROPOSER_PRIVATE_KEY is required: the deployment's root proposer is ${deployment.config.rootProposer}, not the relayer`,
      { retryable: false, details: [{ variable: 'ROOT_PROPOSER_PRIVATE_KEY', message: 'required' }] },
    );
  }
  const proposer = withAccount(clients, key);
  if (!isAddressEqual(proposer.account.address, deployment.config.rootProposer)) {
    throw new ConfigInvalidError(
      `ROOT_PROPOSER_PRIVATE_KEY is ${proposer.account.address}, the deployment's root proposer is ${deployment.config.rootProposer}`,
      { retryable: false, details: [{ variable: 'ROOT_PROPOSER_PRIVATE_KEY', message: 'another key' }] },
    );
  }
  return proposer;
}
