/**
 * The governed deployment on a real anvil (core/chain/deploy.ts `governance`, README "Trust model"):
 * one key per role, the timelock administers everything, the deployer and the relayer keep no admin
 * role, and an admin call takes effect only through the timelock, after its minimum delay.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Address, type Hex, keccak256, toBytes, zeroHash } from 'viem';
import { generatePrivateKey, privateKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortfolio } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import {
  COMPLIANCE_ROLE,
  DEFAULT_ADMIN_ROLE,
  type DeployedStack,
  deployStack,
  GUARDIAN_ROLE,
  governanceReport,
  ROOT_PROPOSER_ROLE,
} from '../../core/chain/deploy.ts';
import { isChainError } from '../../core/chain/errors.ts';
import {
  complianceRegistryAbi,
  distributorAbi,
  marketplaceAbi,
  portfolioAbi,
} from '../../core/chain/generated/index.ts';
import {
  cancelOperation,
  encodeAdminCall,
  executeCall,
  operationId,
  readOperation,
  scheduleCall,
} from '../../core/chain/governance.ts';
import {
  ensureLocalKeys,
  fundLocalAccounts,
  LOCAL_KEY_ROLES,
  localKeyAddresses,
} from '../../core/chain/keys.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';

const MIN_DELAY = 600;

let anvil: AnvilInstance;
let deployer: ChainClients;
let admin: ChainClients;
let guardian: ChainClients;
let relayer: ChainClients;
let rootProposer: ChainClients;
let stack: DeployedStack;
let testClient: ReturnType<typeof createAnvilTestClient>;

const hasRole = (contract: Address, abi: typeof complianceRegistryAbi, role: Hex, account: Address) =>
  deployer.publicClient.readContract({
    address: contract,
    abi,
    functionName: 'hasRole',
    args: [role, account],
  });

async function advance(seconds: number): Promise<void> {
  await testClient.increaseTime({ seconds });
  await testClient.mine({ blocks: 1 });
}

beforeAll(async () => {
  anvil = await startAnvil();
  deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  testClient = createAnvilTestClient(anvil.rpcUrl);
  [admin, guardian, relayer, rootProposer] = [0, 1, 2, 3].map(() =>
    withAccount(deployer, generatePrivateKey()),
  );
  await fundLocalAccounts(
    deployer.publicClient,
    [admin, guardian, relayer, rootProposer].map((c) => c.account.address),
  );
  stack = await deployStack(deployer, {
    withTestStablecoin: true,
    marketplaceFeeBps: 10,
    governance: {
      admin: admin.account.address,
      guardian: guardian.account.address,
      rootProposer: rootProposer.account.address,
      relayer: relayer.account.address,
      minDelay: MIN_DELAY,
    },
  });
}, 120_000);

afterAll(async () => {
  await anvil?.stop();
});

describe('a governed deployStack()', () => {
  it('gives each role to its own address and leaves the deployer and the relayer no admin role', async () => {
    expect(stack.timelock).toBeDefined();
    const timelock = stack.timelock as Address;
    expect(stack.config.admin).toBe(timelock);
    expect(stack.config.treasury).toBe(timelock);
    expect(stack.config.timelockMinDelay).toBe(MIN_DELAY);
    const report = await governanceReport(deployer.publicClient, stack);
    expect(report.filter((c) => !c.ok)).toEqual([]);
    expect(report.length).toBeGreaterThan(30);

    const registry = stack.complianceRegistry;
    const marketplace = stack.marketplace as Address;
    for (const account of [deployer.account.address, relayer.account.address, admin.account.address]) {
      expect(await hasRole(registry, complianceRegistryAbi, DEFAULT_ADMIN_ROLE, account)).toBe(false);
      expect(
        await hasRole(
          marketplace,
          marketplaceAbi as unknown as typeof complianceRegistryAbi,
          DEFAULT_ADMIN_ROLE,
          account,
        ),
      ).toBe(false);
    }
    expect(await hasRole(registry, complianceRegistryAbi, COMPLIANCE_ROLE, deployer.account.address)).toBe(
      false,
    );
    expect(await hasRole(registry, complianceRegistryAbi, GUARDIAN_ROLE, deployer.account.address)).toBe(
      false,
    );
    expect(await hasRole(registry, complianceRegistryAbi, COMPLIANCE_ROLE, relayer.account.address)).toBe(
      true,
    );
    expect(await hasRole(registry, complianceRegistryAbi, GUARDIAN_ROLE, guardian.account.address)).toBe(
      true,
    );
    expect(await hasRole(registry, complianceRegistryAbi, DEFAULT_ADMIN_ROLE, timelock)).toBe(true);
  });

  it('a portfolio created with the stack config is administered by the timelock, not by any key', async () => {
    const now = (await deployer.publicClient.getBlock()).timestamp;
    // the relayer creates it, as the publish job does (admin, guardian, root proposer from the deployment)
    const created = await createPortfolio(relayer, {
      factory: stack.portfolioFactory,
      payToken: stack.testStablecoin as Address,
      registry: stack.complianceRegistry,
      servicer: anvil.accounts[5].address,
      admin: stack.config.admin,
      guardian: stack.config.guardian,
      protocolTreasury: stack.config.treasury,
      rootProposer: stack.config.rootProposer,
      timelockDelay: stack.config.timelockDelay,
      mode: 'interestFirst',
      offeringEnd: now + 86_400n,
      documentRoot: keccak256(toBytes('docs')),
      loanTapeHash: keccak256(toBytes('tape')),
      tranches: [
        { name: 'Senior', symbol: 'S', face: 1_000_000n, couponBps: 500, priceBps: 10_000 },
        { name: 'Residual', symbol: 'R', face: 100_000n, couponBps: 0, priceBps: 10_000 },
      ],
    });
    const timelock = stack.timelock as Address;
    const abiP = portfolioAbi as unknown as typeof complianceRegistryAbi;
    const abiD = distributorAbi as unknown as typeof complianceRegistryAbi;
    expect(await hasRole(created.portfolio, abiP, DEFAULT_ADMIN_ROLE, timelock)).toBe(true);
    expect(await hasRole(created.distributor, abiD, DEFAULT_ADMIN_ROLE, timelock)).toBe(true);
    for (const key of [deployer, relayer, admin, guardian, rootProposer]) {
      expect(await hasRole(created.portfolio, abiP, DEFAULT_ADMIN_ROLE, key.account.address)).toBe(false);
      expect(await hasRole(created.distributor, abiD, DEFAULT_ADMIN_ROLE, key.account.address)).toBe(false);
    }
    expect(await hasRole(created.distributor, abiD, ROOT_PROPOSER_ROLE, rootProposer.account.address)).toBe(
      true,
    );
    expect(await hasRole(created.distributor, abiD, ROOT_PROPOSER_ROLE, relayer.account.address)).toBe(false);
    expect(await hasRole(created.distributor, abiD, GUARDIAN_ROLE, guardian.account.address)).toBe(true);
    expect(await hasRole(created.portfolio, abiP, GUARDIAN_ROLE, guardian.account.address)).toBe(true);
  });

  it('refuses a deployment where two roles share a key', async () => {
    const error = await deployStack(deployer, {
      governance: {
        admin: admin.account.address,
        guardian: admin.account.address,
        rootProposer: rootProposer.account.address,
        relayer: relayer.account.address,
      },
    }).catch((e: unknown) => e);
    expect(isChainError(error)).toBe(true);
    expect((error as Error).message).toMatch(/admin and guardian are the same address/);
  });
});

describe('an admin call through the timelock', () => {
  const setFee = (bps: number) =>
    encodeAdminCall({ abi: marketplaceAbi, functionName: 'setFeeBps', args: [bps] });
  const feeBps = () =>
    deployer.publicClient.readContract({
      address: stack.marketplace as Address,
      abi: marketplaceAbi,
      functionName: 'feeBps',
    });

  it('reverts when the admin key calls the Marketplace or the registry directly', async () => {
    await expect(
      admin.walletClient.writeContract({
        address: stack.marketplace as Address,
        abi: marketplaceAbi,
        functionName: 'setFeeBps',
        args: [50],
      }),
    ).rejects.toThrow(/AccessControlUnauthorizedAccount|reverted/);
    await expect(
      admin.walletClient.writeContract({
        address: stack.complianceRegistry,
        abi: complianceRegistryAbi,
        functionName: 'grantRole',
        args: [COMPLIANCE_ROLE, admin.account.address],
      }),
    ).rejects.toThrow(/AccessControlUnauthorizedAccount|reverted/);
    expect(await feeBps()).toBe(10);
  });

  it('runs only after the minimum delay, and only from the admin key', async () => {
    const timelock = stack.timelock as Address;
    const call = { target: stack.marketplace as Address, data: setFee(50) };
    // neither the relayer nor the guardian can schedule
    await expect(scheduleCall(relayer, timelock, call)).rejects.toThrow(/AccessControlUnauthorizedAccount/);
    await expect(scheduleCall(guardian, timelock, call)).rejects.toThrow(/AccessControlUnauthorizedAccount/);
    // nor with less than the minimum delay
    await expect(scheduleCall(admin, timelock, call, BigInt(MIN_DELAY - 1))).rejects.toThrow(
      /TimelockInsufficientDelay/,
    );

    const scheduled = await scheduleCall(admin, timelock, call);
    expect(scheduled.id).toBe(operationId(call));
    const block = await deployer.publicClient.getBlock();
    expect(scheduled.readyAt).toBe(block.timestamp + BigInt(MIN_DELAY));
    expect((await readOperation(deployer.publicClient, timelock, scheduled.id)).state).toBe('waiting');

    await expect(executeCall(admin, timelock, call)).rejects.toThrow(/TimelockUnexpectedOperationState/);
    await advance(MIN_DELAY / 2);
    await expect(executeCall(admin, timelock, call)).rejects.toThrow(/TimelockUnexpectedOperationState/);
    expect(await feeBps()).toBe(10);

    await advance(MIN_DELAY / 2);
    expect((await readOperation(deployer.publicClient, timelock, scheduled.id)).state).toBe('ready');
    // ready, but the relayer is no executor
    await expect(executeCall(relayer, timelock, call)).rejects.toThrow(/AccessControlUnauthorizedAccount/);
    await executeCall(admin, timelock, call);
    expect(await feeBps()).toBe(50);
    expect((await readOperation(deployer.publicClient, timelock, scheduled.id)).state).toBe('done');
  });

  it('grants a registry role after the delay; the guardian can cancel a scheduled operation', async () => {
    const timelock = stack.timelock as Address;
    const officer = privateKeyToAddress(generatePrivateKey());
    const grant = {
      target: stack.complianceRegistry,
      data: encodeAdminCall({
        abi: complianceRegistryAbi,
        functionName: 'grantRole',
        args: [COMPLIANCE_ROLE, officer],
      }),
      salt: keccak256(toBytes('grant officer')),
    };
    await scheduleCall(admin, timelock, grant);
    await advance(MIN_DELAY);
    await executeCall(admin, timelock, grant);
    expect(await hasRole(stack.complianceRegistry, complianceRegistryAbi, COMPLIANCE_ROLE, officer)).toBe(
      true,
    );

    const again = { target: stack.marketplace as Address, data: setFee(100), predecessor: zeroHash };
    const { id } = await scheduleCall(admin, timelock, again);
    await cancelOperation(guardian, timelock, id);
    await advance(MIN_DELAY);
    expect((await readOperation(deployer.publicClient, timelock, id)).state).toBe('unset');
    await expect(executeCall(admin, timelock, again)).rejects.toThrow(/TimelockUnexpectedOperationState/);
    expect(await feeBps()).toBe(50);
  });
});

describe('ensureLocalKeys()', () => {
  it('creates one distinct key per role, mode 0600, and reuses them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'npl-keys-'));
    try {
      const first = await ensureLocalKeys(dir);
      expect(first.created).toBe(true);
      const addresses = Object.values(localKeyAddresses(first.keys));
      expect(new Set(addresses).size).toBe(LOCAL_KEY_ROLES.length);
      expect((await stat(join(dir, 'platform-keys.json'))).mode & 0o777).toBe(0o600);
      const second = await ensureLocalKeys(dir);
      expect(second.created).toBe(false);
      expect(second.keys).toEqual(first.keys);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
