/**
 * Deploys the platform's contracts: ComplianceRegistry, the clone implementations (Portfolio,
 * TrancheToken, Distributor), PortfolioFactory, Marketplace (when its binding was generated) and, on
 * local chains, TestStablecoin. Independent deployments are sent together with consecutive nonces and
 * awaited together; role grants follow once the contracts exist.
 */
import {
  type Abi,
  type Address,
  getContractAddress,
  type Hex,
  isAddressEqual,
  keccak256,
  toBytes,
  zeroHash,
} from 'viem';
import { type ChainClients, isLocalChain } from './clients.ts';
import { ChainError, toChainError } from './errors.ts';
import * as generated from './generated/index.ts';
import {
  complianceRegistryAbi,
  complianceRegistryBytecode,
  distributorAbi,
  distributorBytecode,
  portfolioAbi,
  portfolioBytecode,
  portfolioFactoryAbi,
  portfolioFactoryBytecode,
  testStablecoinAbi,
  testStablecoinBytecode,
  trancheTokenAbi,
  trancheTokenBytecode,
} from './generated/index.ts';
import { waitForSuccess } from './tx.ts';

export const DEFAULT_ADMIN_ROLE: Hex = zeroHash;
export const COMPLIANCE_ROLE: Hex = keccak256(toBytes('COMPLIANCE_ROLE'));
export const GUARDIAN_ROLE: Hex = keccak256(toBytes('GUARDIAN_ROLE'));
export const MINTER_ROLE: Hex = keccak256(toBytes('MINTER_ROLE'));

export type DeployStackParameters = {
  /** DEFAULT_ADMIN_ROLE of the registry and the Marketplace; default: the deploying (platform) key. */
  admin?: Address;
  /** GUARDIAN_ROLE (freeze, pause) of the registry and the Marketplace; default: the platform key. */
  guardian?: Address;
  /** Distributor root proposer (the worker key) used for portfolios created on this stack; default: platform key. */
  rootProposer?: Address;
  /** Protocol treasury: Marketplace fees, and the protocol fee of portfolios; default: platform key. */
  treasury?: Address;
  /** Distributor timelock (seconds) for portfolios created on this stack; default 5 on local chains, 2 days elsewhere. */
  timelockDelay?: number;
  /** Marketplace protocol fee in bps; default 0. */
  marketplaceFeeBps?: number;
  /** Deploy TestStablecoin (minting key: the platform key); default: only on local chains. */
  withTestStablecoin?: boolean;
  /** Renounce the platform key's DEFAULT_ADMIN_ROLE on the registry once `admin` (another key) has it. */
  renounceDeployerAdmin?: boolean;
};

/** Addresses of one deployment; JSON-serialisable (numbers and strings only). */
export type DeployedStack = {
  chainId: number;
  /** The platform key that deployed; it keeps COMPLIANCE_ROLE on the registry (and MINTER_ROLE on TestStablecoin). */
  deployer: Address;
  /** Block of the first deployment (where indexers start). */
  startBlock: number;
  complianceRegistry: Address;
  portfolioFactory: Address;
  implementations: { portfolio: Address; trancheToken: Address; distributor: Address };
  /** Absent when the Marketplace binding was not generated yet. */
  marketplace?: Address;
  /** Present only when TestStablecoin was deployed. */
  testStablecoin?: Address;
  /** Roles and settings used for portfolios created on this stack. */
  config: {
    admin: Address;
    guardian: Address;
    rootProposer: Address;
    treasury: Address;
    timelockDelay: number;
    marketplaceFeeBps: number;
  };
};

type Binding = { abi: Abi; bytecode: Hex };

/** A generated binding looked up by name, so a contract whose artifact is missing is simply absent. */
function optionalBinding(id: string): Binding | undefined {
  const bindings = generated as unknown as Record<string, unknown>;
  const abi = bindings[`${id}Abi`];
  const bytecode = bindings[`${id}Bytecode`];
  if (!Array.isArray(abi) || typeof bytecode !== 'string' || bytecode === '0x') return undefined;
  return { abi: abi as Abi, bytecode: bytecode as Hex };
}

type Deployment = { name: string; abi: Abi; bytecode: Hex; args: readonly unknown[] };

/** Deploys the stack and grants the platform roles; resolves once every transaction is mined. */
export async function deployStack(
  clients: ChainClients,
  parameters: DeployStackParameters = {},
): Promise<DeployedStack> {
  const { publicClient, walletClient, account, chain } = clients;
  const deployer = account.address;
  const local = isLocalChain(chain.id);
  const config = {
    admin: parameters.admin ?? deployer,
    guardian: parameters.guardian ?? deployer,
    rootProposer: parameters.rootProposer ?? deployer,
    treasury: parameters.treasury ?? deployer,
    timelockDelay: parameters.timelockDelay ?? (local ? 5 : 2 * 24 * 3600),
    marketplaceFeeBps: parameters.marketplaceFeeBps ?? 0,
  };
  const withTestStablecoin = parameters.withTestStablecoin ?? local;
  const marketplace = optionalBinding('marketplace');

  const startNonce = await call('getTransactionCount', () =>
    publicClient.getTransactionCount({ address: deployer, blockTag: 'pending' }),
  );
  const addressAt = (offset: number) =>
    getContractAddress({ from: deployer, nonce: BigInt(startNonce + offset) });

  // Nonce order: registry, the three implementations, factory (constructor takes the predicted
  // implementation addresses), then the optional Marketplace and TestStablecoin.
  const deployments: Deployment[] = [
    {
      name: 'ComplianceRegistry',
      abi: complianceRegistryAbi,
      bytecode: complianceRegistryBytecode,
      args: [deployer],
    },
    { name: 'Portfolio', abi: portfolioAbi, bytecode: portfolioBytecode, args: [] },
    { name: 'TrancheToken', abi: trancheTokenAbi, bytecode: trancheTokenBytecode, args: [] },
    { name: 'Distributor', abi: distributorAbi, bytecode: distributorBytecode, args: [] },
    {
      name: 'PortfolioFactory',
      abi: portfolioFactoryAbi,
      bytecode: portfolioFactoryBytecode,
      // admin: the configured admin; CREATOR_ROLE: the deploying (platform) key, which publishes portfolios
      args: [addressAt(1), addressAt(2), addressAt(3), config.admin, deployer],
    },
  ];
  if (marketplace) {
    deployments.push({
      name: 'Marketplace',
      ...marketplace,
      args: [config.admin, config.guardian, config.treasury, config.marketplaceFeeBps],
    });
  }
  if (withTestStablecoin) {
    deployments.push({
      name: 'TestStablecoin',
      abi: testStablecoinAbi,
      bytecode: testStablecoinBytecode,
      args: [deployer],
    });
  }

  const sent: { deployment: Deployment; hash: Hex }[] = [];
  for (const [offset, deployment] of deployments.entries()) {
    const context = { contract: deployment.name, functionName: 'constructor', abi: deployment.abi };
    try {
      const hash = await walletClient.deployContract({
        abi: deployment.abi,
        bytecode: deployment.bytecode,
        args: deployment.args as unknown[],
        nonce: startNonce + offset,
      });
      sent.push({ deployment, hash });
    } catch (error) {
      throw toChainError(error, context);
    }
  }

  const addresses = new Map<string, Address>();
  let startBlock = Number.MAX_SAFE_INTEGER;
  for (const [offset, { deployment, hash }] of sent.entries()) {
    const receipt = await waitForSuccess(
      clients,
      { contract: deployment.name, functionName: 'constructor', abi: deployment.abi },
      hash,
    );
    const expected = addressAt(offset);
    if (!receipt.contractAddress || receipt.contractAddress.toLowerCase() !== expected.toLowerCase()) {
      throw new ChainError(
        `${deployment.name}: deployed at ${receipt.contractAddress}, expected ${expected} (nonce ${startNonce + offset} was taken by another transaction)`,
        { kind: 'transaction', contract: deployment.name, functionName: 'constructor', txHash: hash },
      );
    }
    addresses.set(deployment.name, expected);
    startBlock = Math.min(startBlock, Number(receipt.blockNumber));
  }

  const registry = addresses.get('ComplianceRegistry') as Address;
  const grants: { role: Hex; account: Address }[] = [];
  if (!isAddressEqual(config.admin, deployer))
    grants.push({ role: DEFAULT_ADMIN_ROLE, account: config.admin });
  if (!isAddressEqual(config.guardian, deployer))
    grants.push({ role: GUARDIAN_ROLE, account: config.guardian });
  for (const grant of grants) {
    const context = { contract: 'ComplianceRegistry', functionName: 'grantRole', abi: complianceRegistryAbi };
    try {
      const hash = await walletClient.writeContract({
        address: registry,
        abi: complianceRegistryAbi,
        functionName: 'grantRole',
        args: [grant.role, grant.account],
      });
      await waitForSuccess(clients, context, hash);
    } catch (error) {
      throw toChainError(error, context);
    }
  }
  if (parameters.renounceDeployerAdmin && !isAddressEqual(config.admin, deployer)) {
    const context = {
      contract: 'ComplianceRegistry',
      functionName: 'renounceRole',
      abi: complianceRegistryAbi,
    };
    try {
      const hash = await walletClient.writeContract({
        address: registry,
        abi: complianceRegistryAbi,
        functionName: 'renounceRole',
        args: [DEFAULT_ADMIN_ROLE, deployer],
      });
      await waitForSuccess(clients, context, hash);
    } catch (error) {
      throw toChainError(error, context);
    }
  }

  const stack: DeployedStack = {
    chainId: chain.id,
    deployer,
    startBlock,
    complianceRegistry: registry,
    portfolioFactory: addresses.get('PortfolioFactory') as Address,
    implementations: {
      portfolio: addresses.get('Portfolio') as Address,
      trancheToken: addresses.get('TrancheToken') as Address,
      distributor: addresses.get('Distributor') as Address,
    },
    config,
  };
  if (addresses.has('Marketplace')) stack.marketplace = addresses.get('Marketplace');
  if (addresses.has('TestStablecoin')) stack.testStablecoin = addresses.get('TestStablecoin');
  return stack;
}

async function call<T>(functionName: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toChainError(error, { contract: 'chain', functionName });
  }
}
