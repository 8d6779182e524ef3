/**
 * Before the first step: the API and the chain (a local one: the faucet and the investors' gas come
 * from anvil), fresh keys for three investors and a servicer, and the printing and polling helpers.
 */
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createAnvilTestClient } from '../../../core/chain/anvil.ts';
import { createChainClients, isLocalChain, withAccount } from '../../../core/chain/clients.ts';
import { createApiClient, type Json } from '../api.ts';
import {
  DEFAULT_DEMO_SEED,
  type DemoAccount,
  type DemoContext,
  type DemoInvestor,
  type DemoOptions,
  INVESTOR_PLAN,
  jsonBig,
  sleep,
} from './context.ts';

/** Steps the demo prints (`[k/STEPS]`). */
export const STEPS = 16;

export async function setUpDemo(options: DemoOptions): Promise<DemoContext> {
  const print = options.print ?? ((line: string) => console.log(line));
  const seed = options.seed ?? DEFAULT_DEMO_SEED;
  const stepTimeoutMs = options.stepTimeoutMs ?? 180_000;
  const api = createApiClient({ baseUrl: options.apiUrl, apiKey: options.apiKey });
  let stepNo = 0;
  const step = (title: string) => {
    stepNo += 1;
    print('');
    print(`[${stepNo}/${STEPS}] ${title}`);
  };
  const info = (line: string) => print(`      ${line}`);

  /** Polls `read` until `done` says so (or the step timeout). */
  const until = async <T>(what: string, read: () => Promise<T>, done: (value: T) => boolean) => {
    const deadline = Date.now() + stepTimeoutMs;
    for (;;) {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value, jsonBig)}`);
      await sleep(250);
    }
  };

  // ---------------------------------------------------------------- chain and accounts
  const health: Json = await api.request('GET', '/health', { auth: false });
  const probe = createChainClients({ rpcUrl: options.rpcUrl, privateKey: generatePrivateKey() });
  const chainId = await probe.publicClient.getChainId();
  if (!isLocalChain(chainId)) {
    throw new Error(
      `the demo needs a local chain (anvil, 31337 / 1337); ${options.rpcUrl} is chain ${chainId}`,
    );
  }
  if (health?.chain?.chainId !== undefined && health.chain.chainId !== chainId) {
    throw new Error(
      `the API runs on chain ${health.chain.chainId}, but ${options.rpcUrl} is chain ${chainId}`,
    );
  }
  const base = createChainClients({ rpcUrl: options.rpcUrl, chainId, privateKey: generatePrivateKey() });
  const testClient = createAnvilTestClient(options.rpcUrl, chainId);
  const chainNow = async () => (await base.publicClient.getBlock()).timestamp;

  const newAccount = async (): Promise<DemoAccount> => {
    const key = generatePrivateKey();
    const clients = withAccount(base, key);
    await testClient.setBalance({ address: clients.account.address, value: 10n ** 19n });
    return { account: privateKeyToAccount(key), clients };
  };
  const people = await Promise.all(INVESTOR_PLAN.map(() => newAccount()));
  const investors: DemoInvestor[] = INVESTOR_PLAN.map((plan, i) => ({
    name: plan.name,
    address: people[i].account.address,
  }));
  const servicer = await newAccount();

  print(`NPL marketplace demo: seed "${seed}", API ${api.baseUrl}, chain ${chainId} at ${options.rpcUrl}`);

  return {
    options,
    seed,
    stepTimeoutMs,
    api,
    chainId,
    base,
    testClient,
    chainNow,
    people,
    investors,
    servicer,
    print,
    step,
    info,
    until,
  };
}
