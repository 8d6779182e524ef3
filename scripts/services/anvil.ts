/**
 * The chain of `npm start`: a local anvil whose state persists in `dataDir` (`--state` loads the
 * file at start and dumps it on exit, `--state-interval` also dumps it every few seconds, so a crash
 * loses little), and the platform's contracts on it: the deployment file is reused when the chain
 * still has code at its addresses, otherwise the stack (with TestStablecoin) is deployed and saved.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Address } from 'viem';
import { ANVIL_CHAIN_ID, type AnvilInstance, getFreePort, startAnvil } from '../../core/chain/anvil.ts';
import { createChainClients, isLocalChain } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import {
  deploymentFilePath,
  loadDeployment,
  platformPrivateKey,
  saveDeployment,
} from '../../core/chain/deployment.ts';
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

type DeploymentConfig = Pick<Config, 'DEPLOYMENT_FILE' | 'DATA_DIR' | 'PLATFORM_PRIVATE_KEY'>;

/**
 * The deployment of the chain at `rpcUrl`: the deployment file when it is for this chain and every
 * contract in it has code; otherwise, on a local chain, a fresh deployment (saved to the file). On
 * any other chain a missing deployment is an error: deploying there is `npm run cli -- deploy`.
 */
export async function ensureDeployment(
  config: DeploymentConfig,
  rpcUrl: string,
  chainId: number,
): Promise<EnsureDeploymentResult> {
  const file = deploymentFilePath(config);
  const clients = createChainClients({ rpcUrl, chainId, privateKey: platformPrivateKey(config, chainId) });
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
    ];
    const codes = await Promise.all(addresses.map((address) => clients.publicClient.getCode({ address })));
    if (codes.every((code) => code !== undefined && code !== '0x')) {
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
  const deployment = await deployStack(clients, { withTestStablecoin: true });
  await mkdir(join(file, '..'), { recursive: true });
  await saveDeployment(file, deployment);
  return { deployment, reused: false, file };
}
