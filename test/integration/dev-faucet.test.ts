import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../../core/chain/anvil.ts';
import { createChainClients } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack, MINTER_ROLE } from '../../core/chain/deploy.ts';
import { saveDeployment } from '../../core/chain/deployment.ts';
import { testStablecoinAbi } from '../../core/chain/generated/index.ts';
import type { Config } from '../../core/platform/config.ts';
import { buildApp } from '../../server/app.ts';
import { DEV_FAUCET_ADDRESS } from '../../server/routes/dev.ts';
import { testConfig } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * POST /v1/dev/faucet signs with a public key, so it exists only where that is harmless: the node
 * itself reports 31337 / 1337 and the deployment is the local one (made by an anvil account, whose
 * key signs the MINTER_ROLE grant). Each case deploys its own TestStablecoin, so MINTER_ROLE of the
 * faucet address on it tells whether the app granted it.
 */

let local: AnvilInstance;
let remote: AnvilInstance;
let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  [local, remote] = await Promise.all([startAnvil(), startAnvil({ chainId: 4242 })]);
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'npl-dev-faucet-'));
});

afterAll(async () => {
  await Promise.all([local?.stop(), remote?.stop()]);
  await db?.drop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function deploy(anvil: AnvilInstance, privateKey: Hex): Promise<DeployedStack> {
  const clients = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, privateKey });
  return deployStack(clients, { withTestStablecoin: true });
}

type App = Awaited<ReturnType<typeof buildApp>>;
let files = 0;
/** Runs `fn` with the app on `anvil` whose deployment file is `stack`. */
async function withApp(
  anvil: AnvilInstance,
  stack: DeployedStack,
  overrides: Partial<Config>,
  fn: (app: App) => Promise<void>,
) {
  const file = join(dir, `deployment-${files++}.json`);
  await saveDeployment(file, stack);
  const config = testConfig(db.url, { RPC_URL: anvil.rpcUrl, DEPLOYMENT_FILE: file, ...overrides });
  const app = await buildApp({ config, db, redis: null });
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

const faucetIsMinter = (anvil: AnvilInstance, token: Address) =>
  createChainClients({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    privateKey: anvil.accounts[0].privateKey,
  }).publicClient.readContract({
    address: token,
    abi: testStablecoinAbi,
    functionName: 'hasRole',
    args: [MINTER_ROLE, DEV_FAUCET_ADDRESS],
  });

async function mint(app: App, to: Address) {
  return app.inject({ method: 'POST', url: '/v1/dev/faucet', payload: { address: to, amount: '5' } });
}

describe('POST /v1/dev/faucet exists only on the local deployment of a node that reports a local chain', () => {
  it('a configured CHAIN_ID of 31337 does not stand in for a node that reports 4242', async () => {
    // a deployment file that claims the local chain, on a node that is not one
    const stack = { ...(await deploy(remote, remote.accounts[0].privateKey)), chainId: 31337 };
    await withApp(remote, stack, { CHAIN_ID: 31337 }, async (app) => {
      expect((await mint(app, remote.accounts[1].address)).statusCode).toBe(404);
      expect(await faucetIsMinter(remote, stack.testStablecoin!)).toBe(false);
      expect((await app.inject({ method: 'GET', url: '/v1/dev/accounts' })).statusCode).toBe(404);
    });
  });

  it('a CHAIN_ID that disagrees with the node (1337 on 31337) removes the route', async () => {
    const stack = await deploy(local, local.accounts[0].privateKey);
    await withApp(local, stack, { CHAIN_ID: 1337 }, async (app) => {
      expect((await mint(app, local.accounts[1].address)).statusCode).toBe(404);
    });
  });

  it('on 31337, a deployment made by a key of its own (not an anvil account) has no faucet, and no role is granted', async () => {
    const ownKey = generatePrivateKey();
    await createAnvilTestClient(local.rpcUrl).setBalance({
      address: privateKeyToAddress(ownKey),
      value: 10n ** 20n,
    });
    const stack = await deploy(local, ownKey);
    await withApp(local, stack, { PLATFORM_PRIVATE_KEY: ownKey }, async (app) => {
      expect((await mint(app, local.accounts[1].address)).statusCode).toBe(404);
      expect(await faucetIsMinter(local, stack.testStablecoin!)).toBe(false);
    });
  });

  it('the local deployment has a faucet whose grant the deploying anvil key signs, whatever PLATFORM_PRIVATE_KEY is', async () => {
    const stack = await deploy(local, local.accounts[0].privateKey);
    // a platform key that holds no role on this TestStablecoin
    await withApp(local, stack, { PLATFORM_PRIVATE_KEY: local.accounts[3].privateKey }, async (app) => {
      expect(await faucetIsMinter(local, stack.testStablecoin!)).toBe(false);
      const res = await mint(app, local.accounts[1].address);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ amountBaseUnits: '5000000', token: stack.testStablecoin });
      expect(await faucetIsMinter(local, stack.testStablecoin!)).toBe(true);
    });
  });

  it('GET /v1/dev/accounts answers the issuer treasury: the platform signer, or ISSUER_TREASURY_ADDRESS (not held)', async () => {
    const stack = await deploy(local, local.accounts[0].privateKey);
    const accounts = (app: App) => app.inject({ method: 'GET', url: '/v1/dev/accounts' });
    await withApp(local, stack, { PLATFORM_PRIVATE_KEY: local.accounts[3].privateKey }, async (app) => {
      const res = await accounts(app);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({
        chainId: local.chainId,
        token: stack.testStablecoin,
        faucet: DEV_FAUCET_ADDRESS,
        issuerTreasury: local.accounts[3].address,
        issuerTreasuryHeld: true,
      });
    });
    const elsewhere = local.accounts[5].address;
    await withApp(
      local,
      stack,
      { PLATFORM_PRIVATE_KEY: local.accounts[3].privateKey, ISSUER_TREASURY_ADDRESS: elsewhere },
      async (app) => {
        const res = await accounts(app);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({ issuerTreasury: elsewhere, issuerTreasuryHeld: false });
      },
    );
  });
});
