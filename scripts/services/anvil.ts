/**
 * The chain of `npm start`: a local anvil whose state persists in `dataDir` (`--state` loads the
 * file at start and dumps it on exit, `--state-interval` also dumps it every few seconds, so a crash
 * loses little), and the platform's contracts on it: the deployment file is reused when the chain
 * still has code at its addresses, otherwise the governed stack (with TestStablecoin, a timelock as
 * admin, one key per role kept in DATA_DIR) is deployed and saved.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Address, createPublicClient, type Hex, http } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { ANVIL_CHAIN_ID, type AnvilInstance, getFreePort, startAnvil } from '../../core/chain/anvil.ts';
import { createChainClients, isLocalChain } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack, type GovernanceParameters } from '../../core/chain/deploy.ts';
import { deploymentFilePath, loadDeployment, saveDeployment } from '../../core/chain/deployment.ts';
import {
  ensureLocalKeys,
  fundLocalAccounts,
  KEY_VARIABLE,
  keysFilePath,
  type PlatformKeyRole,
  readLocalKeys,
  requireRoleKey,
  roleKey,
} from '../../core/chain/keys.ts';
import type { Config } from '../../core/platform/config.ts';
import { ConfigInvalidError } from '../../core/platform/errors/index.ts';

export type StartLocalChainOptions = {
  /** Where `anvil-state.json` lives. */
  dataDir: string;
  /** Default: 8545 when free (what wallets expect), else a free port. */
  port?: number;
  /** Seconds between periodic state dumps; default 5. */
  stateIntervalSeconds?: number;
};

export type LocalChain = AnvilInstance & { stateFile: string };

/** Port 8545 if nothing listens there, else one the OS picks. */
async function preferredPort(preferred: number): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => getFreePort().then(resolve, () => resolve(0)));
    server.listen(preferred, '127.0.0.1', () => server.close(() => resolve(preferred)));
  });
}

export async function startLocalChain(options: StartLocalChainOptions): Promise<LocalChain> {
  await mkdir(options.dataDir, { recursive: true });
  const stateFile = join(options.dataDir, 'anvil-state.json');
  const port = options.port ?? (await preferredPort(8545));
  const anvil = await startAnvil({
    port: port === 0 ? undefined : port,
    chainId: ANVIL_CHAIN_ID,
    args: ['--state', stateFile, '--state-interval', String(options.stateIntervalSeconds ?? 5)],
    startTimeoutMs: 60_000,
  });
  return { ...anvil, stateFile };
}

export type EnsureDeploymentResult = { deployment: DeployedStack; reused: boolean; file: string };

type DeploymentConfig = Pick<
  Config,
  | 'DEPLOYMENT_FILE'
  | 'DATA_DIR'
  | 'PLATFORM_PRIVATE_KEY'
  | 'ROOT_PROPOSER_PRIVATE_KEY'
  | 'DEPLOYER_PRIVATE_KEY'
  | 'ADMIN_PRIVATE_KEY'
  | 'TIMELOCK_MIN_DELAY_SECONDS'
>;

/**
 * The governance of a local deployment: the keys of `DATA_DIR/platform-keys.json` (created on the
 * first start, core/chain/keys.ts; an environment variable overrides its role), each funded with
 * ether for its gas. The deployer is anvil's first account (or DEPLOYER_PRIVATE_KEY).
 */
export async function localGovernance(
  config: DeploymentConfig,
  rpcUrl: string,
  chainId: number,
): Promise<{ deployerKey: Hex; governance: GovernanceParameters }> {
  await ensureLocalKeys(config.DATA_DIR);
  const key = (role: PlatformKeyRole) => requireRoleKey(config, role, chainId);
  const local = readLocalKeys(config.DATA_DIR);
  if (local === undefined) throw new Error(`no keys in ${config.DATA_DIR}`);
  const governance: GovernanceParameters = {
    admin: privateKeyToAddress(key('admin')),
    guardian: privateKeyToAddress(local.guardian),
    rootProposer: privateKeyToAddress(key('rootProposer')),
    relayer: privateKeyToAddress(key('relayer')),
    minDelay: config.TIMELOCK_MIN_DELAY_SECONDS,
  };
  const node = createPublicClient({ transport: http(rpcUrl) });
  await fundLocalAccounts(node, [
    governance.admin,
    governance.guardian,
    governance.rootProposer,
    governance.relayer,
  ]);
  return { deployerKey: key('deployer'), governance };
}

/**
 * A governed deployment is reused only with the keys it was made with (a lost or replaced
 * `platform-keys.json` would leave the relayer and the root proposer without their roles).
 */
function assertSameKeys(
  config: DeploymentConfig,
  deployment: DeployedStack,
  chainId: number,
  file: string,
): void {
  const expected = { relayer: deployment.config.relayer, rootProposer: deployment.config.rootProposer };
  for (const [role, address] of Object.entries(expected) as [
    'relayer' | 'rootProposer',
    Address | undefined,
  ][]) {
    const key = readLocalKeys(config.DATA_DIR) === undefined ? undefined : roleKey(config, role, chainId);
    if (key === undefined || address === undefined || privateKeyToAddress(key) !== address) {
      throw new ConfigInvalidError(
        `${file} was deployed with another ${role} key than ${keysFilePath(config.DATA_DIR)} (or ${KEY_VARIABLE[role]}) holds: ` +
          'restore that file, or delete the deployment file to deploy afresh',
        {
          retryable: false,
          details: [{ variable: KEY_VARIABLE[role], message: `not the deployment's ${role}` }],
        },
      );
    }
  }
}

/**
 * The deployment of the chain at `rpcUrl`: the deployment file when it is for this chain and every
 * contract in it has code; otherwise, on a local chain, a fresh governed deployment (saved to the
 * file): the timelock administers everything, one key per role (`localGovernance`). On any other
 * chain a missing deployment is an error: deploying there is `npm run cli -- deploy`.
 */
export async function ensureDeployment(
  config: DeploymentConfig,
  rpcUrl: string,
  chainId: number,
): Promise<EnsureDeploymentResult> {
  const file = deploymentFilePath(config);
  const publicClient = createPublicClient({ transport: http(rpcUrl) });
  let existing: DeployedStack | undefined;
  try {
    existing = await loadDeployment(config);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined && existing.chainId === chainId) {
    const addresses: Address[] = [
      existing.complianceRegistry,
      existing.portfolioFactory,
      existing.implementations.portfolio,
      existing.implementations.trancheToken,
      existing.implementations.distributor,
      ...(existing.marketplace ? [existing.marketplace] : []),
      ...(existing.testStablecoin ? [existing.testStablecoin] : []),
      ...(existing.timelock ? [existing.timelock] : []),
    ];
    const codes = await Promise.all(addresses.map((address) => publicClient.getCode({ address })));
    if (codes.every((code) => code !== undefined && code !== '0x')) {
      if (isLocalChain(chainId) && existing.timelock !== undefined) {
        assertSameKeys(config, existing, chainId, file);
        // the local keys pay their own gas: top them up at every start
        await localGovernance(config, rpcUrl, chainId);
      }
      return { deployment: existing, reused: true, file };
    }
  }
  if (!isLocalChain(chainId)) {
    throw new ConfigInvalidError(
      `No deployment for chain ${chainId} in ${file}: run \`npm run cli -- deploy --rpc ${rpcUrl}\` first, or set DEPLOYMENT_FILE`,
      {
        retryable: false,
        details: [{ variable: 'DEPLOYMENT_FILE', message: 'no deployment with code on this chain' }],
      },
    );
  }
  const { deployerKey, governance } = await localGovernance(config, rpcUrl, chainId);
  const clients = createChainClients({ rpcUrl, chainId, privateKey: deployerKey });
  const deployment = await deployStack(clients, { withTestStablecoin: true, governance });
  await mkdir(join(file, '..'), { recursive: true });
  await saveDeployment(file, deployment);
  return { deployment, reused: false, file };
}
