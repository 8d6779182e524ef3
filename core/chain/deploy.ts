/**
 * Deploys the platform's contracts: ComplianceRegistry, the clone implementations (Portfolio,
 * TrancheToken, Distributor), PortfolioFactory, the PlatformTimelock (with `governance`), Marketplace
 * (when its binding was generated) and, on local chains, TestStablecoin. Independent deployments are
 * sent together with consecutive nonces and awaited together; role grants follow once the contracts exist.
 *
 * With `governance` (what `npm start` and `npm run cli -- deploy` do) the deployment is the one the
 * README's "Trust model" describes: the timelock (OpenZeppelin TimelockController, minimum delay fixed
 * here, no admin key) is DEFAULT_ADMIN_ROLE of the registry and the Marketplace and the `admin` of
 * every portfolio created on the stack; the guardian, root proposer and relayer are distinct keys; and
 * the deployer renounces every role it had, which is checked on-chain before this resolves. Without
 * it (tests) a plain key administers everything, as before.
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
  platformTimelockAbi,
  platformTimelockBytecode,
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
export const CREATOR_ROLE: Hex = keccak256(toBytes('CREATOR_ROLE'));
export const ROOT_PROPOSER_ROLE: Hex = keccak256(toBytes('ROOT_PROPOSER_ROLE'));
export const PROPOSER_ROLE: Hex = keccak256(toBytes('PROPOSER_ROLE'));
export const EXECUTOR_ROLE: Hex = keccak256(toBytes('EXECUTOR_ROLE'));
export const CANCELLER_ROLE: Hex = keccak256(toBytes('CANCELLER_ROLE'));

/** One distinct key (or multisig) per role; see core/chain/keys.ts and the README's "Trust model". */
export type GovernanceParameters = {
  /** The timelock's only proposer and executor (production: a multisig). */
  admin: Address;
  /** GUARDIAN_ROLE of the registry, the Marketplace and every portfolio; cancels timelock operations. */
  guardian: Address;
  /** ROOT_PROPOSER_ROLE of every Distributor created on the stack. */
  rootProposer: Address;
  /** Sends relayed transactions; COMPLIANCE_ROLE on the registry (allowlisting through the API). */
  relayer: Address;
  /** The timelock's minimum delay (seconds), also its floor; default 5 on local chains, 2 days elsewhere. */
  minDelay?: number;
};

export type DeployStackParameters = {
  /** DEFAULT_ADMIN_ROLE of the registry and the Marketplace; default: the deploying (platform) key. */
  admin?: Address;
  /** GUARDIAN_ROLE (freeze, pause) of the registry and the Marketplace; default: the platform key. */
  guardian?: Address;
  /** Distributor root proposer (the worker key) used for portfolios created on this stack; default: platform key. */
  rootProposer?: Address;
  /** Protocol treasury: Marketplace fees, and the protocol fee of portfolios; default: platform key (governed: the timelock). */
  treasury?: Address;
  /** Distributor timelock (seconds) for portfolios created on this stack; default 5 on local chains, 2 days elsewhere. */
  timelockDelay?: number;
  /**
   * Floor of every Distributor's timelock, fixed in the Distributor implementation at deployment (no admin
   * can lower it); default 2 seconds on local chains, 1 day elsewhere.
   */
  minTimelockDelay?: number;
  /** Marketplace protocol fee in bps; default 0. */
  marketplaceFeeBps?: number;
  /** Deploy TestStablecoin (minting key: the platform key); default: only on local chains. */
  withTestStablecoin?: boolean;
  /** Renounce the platform key's DEFAULT_ADMIN_ROLE on the registry once `admin` (another key) has it. */
  renounceDeployerAdmin?: boolean;
  /**
   * The governed deployment (see the module comment): `admin`, `guardian` and `rootProposer` above are
   * then ignored, the timelock is the admin, and the deployer keeps no role.
   */
  governance?: GovernanceParameters;
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
  /** The PlatformTimelock (governed deployments only): `config.admin` is this address. */
  timelock?: Address;
  /** Roles and settings used for portfolios created on this stack. */
  config: {
    admin: Address;
    guardian: Address;
    rootProposer: Address;
    treasury: Address;
    timelockDelay: number;
    marketplaceFeeBps: number;
    /** Governed deployments: the timelock's proposer / executor key, its minimum delay, the relayer. */
    timelockProposer?: Address;
    timelockMinDelay?: number;
    relayer?: Address;
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
  const governance = parameters.governance;
  if (governance !== undefined) checkGovernance(governance, deployer);
  const config: DeployedStack['config'] = {
    admin: parameters.admin ?? deployer,
    guardian: governance?.guardian ?? parameters.guardian ?? deployer,
    rootProposer: governance?.rootProposer ?? parameters.rootProposer ?? deployer,
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
    {
      name: 'Distributor',
      abi: distributorAbi,
      bytecode: distributorBytecode,
      args: [BigInt(parameters.minTimelockDelay ?? (local ? 2 : 24 * 3600))],
    },
    {
      name: 'PortfolioFactory',
      abi: portfolioFactoryAbi,
      bytecode: portfolioFactoryBytecode,
      // admin and CREATOR_ROLE: set below, once the timelock's address is known
      args: [],
    },
  ];
  const factory = deployments[deployments.length - 1] as Deployment;
  if (governance !== undefined) {
    const minDelay = governance.minDelay ?? (local ? 5 : 2 * 24 * 3600);
    deployments.push({
      name: 'PlatformTimelock',
      abi: platformTimelockAbi,
      bytecode: platformTimelockBytecode,
      args: [BigInt(minDelay), governance.admin, [governance.guardian]],
    });
    config.admin = addressAt(deployments.length - 1);
    // protocol fees accrue to the timelock unless a treasury is named: the deployer keeps nothing
    if (parameters.treasury === undefined) config.treasury = config.admin;
    config.timelockProposer = governance.admin;
    config.timelockMinDelay = minDelay;
    config.relayer = governance.relayer;
  }
  // admin: the configured admin (governed: the timelock); CREATOR_ROLE: the key that publishes
  // portfolios (governed: the relayer; else the deploying platform key)
  factory.args = [addressAt(1), addressAt(2), addressAt(3), config.admin, governance?.relayer ?? deployer];
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
  if (governance !== undefined) {
    await governRegistry(clients, registry, config.admin, governance);
  }
  const grants: { role: Hex; account: Address }[] = [];
  if (governance !== undefined) {
    // done above
  } else {
    if (!isAddressEqual(config.admin, deployer))
      grants.push({ role: DEFAULT_ADMIN_ROLE, account: config.admin });
    if (!isAddressEqual(config.guardian, deployer))
      grants.push({ role: GUARDIAN_ROLE, account: config.guardian });
  }
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
  if (
    governance === undefined &&
    parameters.renounceDeployerAdmin &&
    !isAddressEqual(config.admin, deployer)
  ) {
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
  if (addresses.has('PlatformTimelock')) stack.timelock = addresses.get('PlatformTimelock');
  if (governance !== undefined) await assertGoverned(clients, stack);
  return stack;
}

/** Distinct keys per role, none of them the deployer (which renounces everything at the end). */
function checkGovernance(governance: GovernanceParameters, deployer: Address): void {
  const roles = Object.entries({
    deployer,
    admin: governance.admin,
    guardian: governance.guardian,
    rootProposer: governance.rootProposer,
    relayer: governance.relayer,
  });
  for (const [i, [name, address]] of roles.entries()) {
    for (const [other, otherAddress] of roles.slice(i + 1)) {
      if (isAddressEqual(address, otherAddress)) {
        throw new ChainError(
          `governance: ${name} and ${other} are the same address ${address}: one key per role`,
          {
            kind: 'transaction',
            contract: 'deploy',
          },
        );
      }
    }
  }
  if (
    governance.minDelay !== undefined &&
    (!Number.isInteger(governance.minDelay) || governance.minDelay < 1)
  ) {
    throw new ChainError(
      `governance: minDelay must be a whole number of seconds >= 1, not ${governance.minDelay}`,
      {
        kind: 'transaction',
        contract: 'deploy',
      },
    );
  }
}

/**
 * The registry handed over: DEFAULT_ADMIN_ROLE to the timelock, GUARDIAN_ROLE to the guardian,
 * COMPLIANCE_ROLE to the relayer (the API's allowlist route), then the deployer renounces the three
 * roles its constructor gave it (DEFAULT_ADMIN_ROLE last, once the timelock holds it).
 */
async function governRegistry(
  clients: ChainClients,
  registry: Address,
  timelock: Address,
  governance: GovernanceParameters,
): Promise<void> {
  const deployer = clients.account.address;
  const calls: { functionName: 'grantRole' | 'renounceRole'; args: readonly [Hex, Address] }[] = [
    { functionName: 'grantRole', args: [DEFAULT_ADMIN_ROLE, timelock] },
    { functionName: 'grantRole', args: [GUARDIAN_ROLE, governance.guardian] },
    { functionName: 'grantRole', args: [COMPLIANCE_ROLE, governance.relayer] },
    { functionName: 'renounceRole', args: [COMPLIANCE_ROLE, deployer] },
    { functionName: 'renounceRole', args: [GUARDIAN_ROLE, deployer] },
    { functionName: 'renounceRole', args: [DEFAULT_ADMIN_ROLE, deployer] },
  ];
  for (const call of calls) {
    const context = {
      contract: 'ComplianceRegistry',
      functionName: call.functionName,
      abi: complianceRegistryAbi,
    };
    try {
      const hash = await clients.walletClient.writeContract({
        address: registry,
        abi: complianceRegistryAbi,
        functionName: call.functionName,
        args: call.args,
      });
      await waitForSuccess(clients, context, hash);
    } catch (error) {
      throw toChainError(error, context);
    }
  }
}

/** Reads back the roles of a governed deployment; throws when any is not as the trust model says. */
async function assertGoverned(clients: ChainClients, stack: DeployedStack): Promise<void> {
  const problems = (await governanceReport(clients.publicClient, stack)).filter((check) => !check.ok);
  if (problems.length > 0) {
    throw new ChainError(
      `governance: the deployment's roles are not as intended: ${problems.map((p) => p.check).join('; ')}`,
      { kind: 'transaction', contract: 'deploy' },
    );
  }
}

export type GovernanceCheck = { check: string; ok: boolean };

/**
 * What a holder checks of a governed deployment, read from the chain: the timelock administers the
 * registry and the Marketplace (and itself only), the admin key only proposes / executes, the
 * guardian only guards and cancels, the relayer only has COMPLIANCE_ROLE, the deployer has nothing.
 */
export async function governanceReport(
  publicClient: ChainClients['publicClient'],
  stack: DeployedStack,
): Promise<GovernanceCheck[]> {
  const { timelock } = stack;
  const { timelockProposer, relayer, guardian, rootProposer } = stack.config;
  if (timelock === undefined || timelockProposer === undefined || relayer === undefined) {
    return [{ check: 'the deployment has a timelock', ok: false }];
  }
  type Probe = { check: string; contract: Address; abi: Abi; role: Hex; account: Address; expected: boolean };
  const probes: Probe[] = [];
  const registry = { contract: stack.complianceRegistry, abi: complianceRegistryAbi as Abi };
  const timelockContract = { contract: timelock, abi: platformTimelockAbi as Abi };
  const add = (
    target: { contract: Address; abi: Abi },
    name: string,
    role: Hex,
    roleName: string,
    account: Address,
    who: string,
    expected: boolean,
  ) =>
    probes.push({
      check: `${who} ${expected ? 'has' : 'has no'} ${roleName} on ${name}`,
      ...target,
      role,
      account,
      expected,
    });
  add(registry, 'the registry', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', timelock, 'the timelock', true);
  add(registry, 'the registry', GUARDIAN_ROLE, 'GUARDIAN_ROLE', guardian, 'the guardian', true);
  add(registry, 'the registry', COMPLIANCE_ROLE, 'COMPLIANCE_ROLE', relayer, 'the relayer', true);
  const others: [Address, string][] = [
    [stack.deployer, 'the deployer'],
    [timelockProposer, 'the admin key'],
    [relayer, 'the relayer'],
    [guardian, 'the guardian'],
    [rootProposer, 'the root proposer'],
  ];
  for (const [account, who] of others) {
    add(registry, 'the registry', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', account, who, false);
    add(timelockContract, 'the timelock', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', account, who, false);
  }
  add(registry, 'the registry', COMPLIANCE_ROLE, 'COMPLIANCE_ROLE', stack.deployer, 'the deployer', false);
  add(registry, 'the registry', GUARDIAN_ROLE, 'GUARDIAN_ROLE', stack.deployer, 'the deployer', false);
  add(
    timelockContract,
    'the timelock',
    DEFAULT_ADMIN_ROLE,
    'DEFAULT_ADMIN_ROLE',
    timelock,
    'the timelock',
    true,
  );
  add(
    timelockContract,
    'the timelock',
    PROPOSER_ROLE,
    'PROPOSER_ROLE',
    timelockProposer,
    'the admin key',
    true,
  );
  add(
    timelockContract,
    'the timelock',
    EXECUTOR_ROLE,
    'EXECUTOR_ROLE',
    timelockProposer,
    'the admin key',
    true,
  );
  add(timelockContract, 'the timelock', CANCELLER_ROLE, 'CANCELLER_ROLE', guardian, 'the guardian', true);
  for (const [account, who] of others.filter(([a]) => !isAddressEqual(a, timelockProposer))) {
    add(timelockContract, 'the timelock', PROPOSER_ROLE, 'PROPOSER_ROLE', account, who, false);
    add(timelockContract, 'the timelock', EXECUTOR_ROLE, 'EXECUTOR_ROLE', account, who, false);
  }
  const factory = { contract: stack.portfolioFactory, abi: portfolioFactoryAbi as Abi };
  add(factory, 'the factory', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', timelock, 'the timelock', true);
  add(factory, 'the factory', CREATOR_ROLE, 'CREATOR_ROLE', relayer, 'the relayer', true);
  for (const [account, who] of others) {
    add(factory, 'the factory', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', account, who, false);
    if (!isAddressEqual(account, relayer)) {
      add(factory, 'the factory', CREATOR_ROLE, 'CREATOR_ROLE', account, who, false);
    }
  }
  const marketplace = optionalBinding('marketplace');
  if (stack.marketplace !== undefined && marketplace !== undefined) {
    const target = { contract: stack.marketplace, abi: marketplace.abi };
    add(target, 'the Marketplace', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', timelock, 'the timelock', true);
    add(target, 'the Marketplace', GUARDIAN_ROLE, 'GUARDIAN_ROLE', guardian, 'the guardian', true);
    for (const [account, who] of others) {
      add(target, 'the Marketplace', DEFAULT_ADMIN_ROLE, 'DEFAULT_ADMIN_ROLE', account, who, false);
    }
  }
  const results = await Promise.all(
    probes.map(
      (probe) =>
        publicClient.readContract({
          address: probe.contract,
          abi: probe.abi,
          functionName: 'hasRole',
          args: [probe.role, probe.account],
        }) as Promise<boolean>,
    ),
  );
  const checks = probes.map((probe, i) => ({ check: probe.check, ok: results[i] === probe.expected }));
  const minDelay = (await publicClient.readContract({
    address: timelock,
    abi: platformTimelockAbi,
    functionName: 'getMinDelay',
  })) as bigint;
  checks.push({
    check: `the timelock's minimum delay is ${stack.config.timelockMinDelay} s`,
    ok: minDelay === BigInt(stack.config.timelockMinDelay ?? -1),
  });
  return checks;
}

async function call<T>(functionName: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toChainError(error, { contract: 'chain', functionName });
  }
}
