import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Address, erc20Abi, maxUint256 } from 'viem';
import { approve, mintTestStablecoin } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { createPlatformChain, type PlatformChain, saveDeployment } from '../../core/chain/deployment.ts';
import { complianceRegistryAbi, distributorAbi } from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import type { Config } from '../../core/platform/config.ts';
import { type AnvilInstance, type StartAnvilOptions, startAnvil } from './anvil.ts';
import { createTestApp, type TestApp } from './app.ts';

/**
 * The chain side of an integration test file: a fresh anvil, the clients of its account 0 (20 ms
 * polling) and the stack `deployStack` deploys with them (account 0 holds every role).
 *
 *   ({ anvil, deployer, stack } = await startStack({ accounts: 5 }));
 *   servicer = withAccount(deployer, anvil.accounts[2].privateKey);
 */
export type TestStack = { anvil: AnvilInstance; deployer: ChainClients; stack: DeployedStack };

export async function startStack(options: StartAnvilOptions = {}): Promise<TestStack> {
  const anvil = await startAnvil(options);
  const deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  const stack = await deployStack(deployer);
  return { anvil, deployer, stack };
}

/** Clients of anvil's accounts `indexes`, sharing the deployer's transport. */
export const accountClients = (testStack: TestStack, indexes: readonly number[]): ChainClients[] =>
  indexes.map((i) => withAccount(testStack.deployer, testStack.anvil.accounts[i].privateKey));

/**
 * The API on a stack: a fresh temporary directory `npl-<name>-…` (the app's DATA_DIR, removed by
 * `close`) holding the stack's deployment.json as the app's DEPLOYMENT_FILE (`deploymentFile: false`:
 * none, for tests whose app reads no deployment), RPC_URL the anvil, PLATFORM_PRIVATE_KEY its account 1;
 * `overrides` last. `prepare` writes into the directory before the app starts (it reads DATA_DIR then).
 */
export type StackApp = { t: TestApp; dir: string; close: () => Promise<void> };

export async function createStackApp(
  testStack: TestStack,
  options: {
    name: string;
    deploymentFile?: boolean;
    overrides?: Partial<Config>;
    prepare?: (dir: string) => Promise<void>;
  },
): Promise<StackApp> {
  const { anvil, stack } = testStack;
  const dir = await mkdtemp(path.join(tmpdir(), `npl-${options.name}-`));
  const base: Partial<Config> = {
    RPC_URL: anvil.rpcUrl,
    DATA_DIR: dir,
    PLATFORM_PRIVATE_KEY: anvil.accounts[1].privateKey,
  };
  if (options.deploymentFile !== false) {
    base.DEPLOYMENT_FILE = path.join(dir, 'deployment.json');
    await saveDeployment(base.DEPLOYMENT_FILE, stack);
  }
  await options.prepare?.(dir);
  const t = await createTestApp({ overrides: { ...base, ...options.overrides } });
  return {
    t,
    dir,
    close: async () => {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The distribution tests' app: `createStackApp` with its own BullMQ prefix, 3 attempts 200 ms apart. */
export function createDistributionApp(
  testStack: TestStack,
  options: {
    name: string;
    deploymentFile?: boolean;
    overrides?: Partial<Config>;
    prepare?: (dir: string) => Promise<void>;
  },
): Promise<StackApp> {
  return createStackApp(testStack, {
    ...options,
    overrides: {
      QUEUE_PREFIX: `npl-test-${options.name}-${randomBytes(4).toString('hex')}`,
      JOB_ATTEMPTS: 3,
      JOB_BACKOFF_MS: 200,
      ...options.overrides,
    },
  });
}

/** The platform signer's chain (relayer key, account 1) on the app's config, 20 ms polling. */
export const platformChainOf = (t: TestApp, stack: DeployedStack): Promise<PlatformChain> =>
  createPlatformChain(t.config, { deployment: stack, pollingInterval: 20 });

/**
 * The servicer ready to deposit recoveries: `amount` TestStablecoin minted to it by `deployer` (the
 * stack's minter) and an unlimited allowance to `portfolio`.
 */
export async function fundServicer(
  deployer: ChainClients,
  servicer: ChainClients,
  parameters: { stack: DeployedStack; portfolio: Address; amount: bigint },
): Promise<void> {
  const token = parameters.stack.testStablecoin as Address;
  await mintTestStablecoin(deployer, { token, to: servicer.account.address, amount: parameters.amount });
  await approve(servicer, { token, spender: parameters.portfolio, amount: maxUint256 });
}

/** `account`'s TestStablecoin balance. */
export const payTokenBalance = (
  clients: ChainClients,
  stack: DeployedStack,
  account: Address,
): Promise<bigint> =>
  clients.publicClient.readContract({
    address: stack.testStablecoin as Address,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [account],
  });

/** What `distributor` has paid `account` so far (`Distributor.claimed`). */
export const claimedFrom = (clients: ChainClients, distributor: Address, account: Address): Promise<bigint> =>
  clients.publicClient.readContract({
    address: distributor,
    abi: distributorAbi,
    functionName: 'claimed',
    args: [account],
  });

/** Freezes (or unfreezes) `account` in the stack's ComplianceRegistry, as `guardian` (GUARDIAN_ROLE). */
export async function setFrozen(
  guardian: ChainClients,
  stack: DeployedStack,
  account: Address,
  frozen: boolean,
): Promise<void> {
  const functionName = frozen ? 'freeze' : 'unfreeze';
  await sendAndWait(guardian, { contract: 'ComplianceRegistry', functionName }, () =>
    guardian.walletClient.writeContract({
      address: stack.complianceRegistry,
      abi: complianceRegistryAbi,
      functionName,
      args: [account],
    }),
  );
}
