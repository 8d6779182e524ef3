/**
 * Development helpers. POST /v1/dev/faucet `{ address, amount }` mints `amount` whole test dollars to
 * `address`. GET /v1/dev/accounts answers the platform's own accounts a local script needs to fund
 * (the issuer treasury that funds a published portfolio's initial reserve, the faucet's token). It signs with a dedicated faucet key (not the platform key, whose nonces the worker and
 * relayer manage), given MINTER_ROLE and some ether by `prepareDevFaucet` (run by `npm start`, else on
 * first use).
 *
 * The faucet key is public, so the route exists only where minting is harmless (`localFaucet`): the
 * node itself reports a local chain id (anvil 31337 / 1337; a configured CHAIN_ID must agree and
 * never stands in for the node's answer), and the deployment is the local one: on that chain, with a
 * TestStablecoin that has code, deployed by one of anvil's well-known accounts. The MINTER_ROLE grant
 * is signed by that well-known key, never by a configured PLATFORM_PRIVATE_KEY. Anywhere else (or
 * with no chain) the route does not exist (404).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  type Address,
  formatUnits,
  getAddress,
  type Hex,
  isAddressEqual,
  keccak256,
  type PublicClient,
  parseEther,
  parseUnits,
  toBytes,
} from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { z } from 'zod';
import { mintTestStablecoin } from '../../core/chain/actions.ts';
import { deriveAccounts } from '../../core/chain/anvil.ts';
import { createChainClients, isLocalChain } from '../../core/chain/clients.ts';
import { readBalanceOf, readDecimals } from '../../core/chain/contracts/tranche-token.ts';
import { type DeployedStack, MINTER_ROLE } from '../../core/chain/deploy.ts';
import { loadDeployment } from '../../core/chain/deployment.ts';
import { testStablecoinAbi } from '../../core/chain/generated/index.ts';
import type { Config } from '../../core/platform/config.ts';
import { ServiceUnavailableError, ValidationFailedError } from '../../core/platform/errors/index.ts';
import { addressSchema, errorResponses, uintStringSchema } from '../schemas/common.ts';

/** The faucet's key: fixed and public (local chains only), so every start and test uses the same account. */
export const DEV_FAUCET_PRIVATE_KEY: Hex = keccak256(
  toBytes('npl-marketplace dev faucet (local chains only)'),
);
export const DEV_FAUCET_ADDRESS: Address = privateKeyToAddress(DEV_FAUCET_PRIVATE_KEY);

/** Largest single mint, whole tokens. */
const MAX_FAUCET_AMOUNT = 1_000_000_000_000n;

/** How many of anvil's default accounts count as "local keys" (anvil funds 10). */
const LOCAL_ACCOUNTS = 10;

/** Where the faucet may run: the node's chain id, the deployment's TestStablecoin and the local key that administers it. */
export type LocalFaucet = { chainId: number; token: Address; adminPrivateKey: Hex };

/**
 * The faucet's setting when it may exist, else why not (see the module comment). The chain id is the
 * node's answer; `config.CHAIN_ID` can only veto.
 */
export async function localFaucet(
  publicClient: Pick<PublicClient, 'getChainId' | 'getCode'>,
  deployment: DeployedStack | undefined,
  config: Pick<Config, 'CHAIN_ID'>,
): Promise<LocalFaucet | { reason: string }> {
  const chainId = await publicClient.getChainId();
  if (!isLocalChain(chainId)) return { reason: `the node reports chain ${chainId}, not a local chain` };
  if (config.CHAIN_ID !== undefined && config.CHAIN_ID !== chainId) {
    return { reason: `CHAIN_ID is ${config.CHAIN_ID} but the node reports ${chainId}` };
  }
  if (deployment === undefined) return { reason: 'no deployment' };
  if (deployment.chainId !== chainId) {
    return { reason: `the deployment is for chain ${deployment.chainId}, the node reports ${chainId}` };
  }
  const token = deployment.testStablecoin;
  if (token === undefined) return { reason: 'the deployment has no TestStablecoin' };
  const admin = deriveAccounts(LOCAL_ACCOUNTS).find((account) =>
    isAddressEqual(account.address, deployment.deployer),
  );
  if (admin === undefined) {
    return { reason: `the deployment was made by ${deployment.deployer}, not by a local (anvil) account` };
  }
  const code = await publicClient.getCode({ address: token });
  if (code === undefined || code === '0x') return { reason: `no contract at the TestStablecoin ${token}` };
  return { chainId, token, adminPrivateKey: admin.privateKey };
}

/**
 * Gives the faucet key MINTER_ROLE on the local TestStablecoin (signed by the local key that deployed
 * it) and, on anvil, 100 ether for gas. Idempotent; run it before anything else sends from that key
 * (npm start does, before the worker starts).
 */
export async function prepareDevFaucet(rpcUrl: string, faucet: LocalFaucet): Promise<void> {
  const { publicClient, walletClient } = createChainClients({
    rpcUrl,
    chainId: faucet.chainId,
    privateKey: faucet.adminPrivateKey,
  });
  const { token } = faucet;
  const balance = await publicClient.getBalance({ address: DEV_FAUCET_ADDRESS });
  if (balance < parseEther('1')) {
    await publicClient.request({
      method: 'anvil_setBalance' as 'eth_chainId',
      params: [DEV_FAUCET_ADDRESS, `0x${parseEther('100').toString(16)}`] as unknown as undefined,
    });
  }
  const hasRole = await publicClient.readContract({
    address: token,
    abi: testStablecoinAbi,
    functionName: 'hasRole',
    args: [MINTER_ROLE, DEV_FAUCET_ADDRESS],
  });
  if (!hasRole) {
    const hash = await walletClient.writeContract({
      address: token,
      abi: testStablecoinAbi,
      functionName: 'grantRole',
      args: [MINTER_ROLE, DEV_FAUCET_ADDRESS],
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success')
      throw new Error(`grantRole(MINTER_ROLE) to the faucet reverted: ${hash}`);
  }
}

const faucetBodySchema = z.object({
  address: addressSchema,
  amount: z
    .string()
    .regex(/^\d{1,13}(\.\d{1,18})?$/, 'must be a positive decimal number of whole tokens, e.g. "10000"')
    .meta({ example: '10000' }),
});

const faucetResponseSchema = z.object({
  address: z.string(),
  token: z.string(),
  amount: z.string().describe('whole tokens, as sent'),
  amountBaseUnits: uintStringSchema,
  balance: uintStringSchema.describe('balance of `address` after the mint, base units'),
  txHash: z.string(),
});

const accountsResponseSchema = z.object({
  chainId: z.number().int(),
  token: z.string().describe('the TestStablecoin the faucet mints (the default pay token)'),
  faucet: z.string().describe("the faucet's own (public) key's address"),
  issuerTreasury: z
    .string()
    .describe(
      'issuer treasury of the portfolios this platform publishes: ISSUER_TREASURY_ADDRESS, else the platform signer',
    ),
  issuerTreasuryHeld: z
    .boolean()
    .describe('the treasury is the platform signer: publish can fund reserve.initial from it'),
});

export const devRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config } = app;
  if (app.chain === null || config.RPC_URL === undefined) return;
  const rpcUrl = config.RPC_URL;
  const deployment = await loadDeployment(config).catch(() => undefined);
  let setting: Awaited<ReturnType<typeof localFaucet>>;
  try {
    setting = await localFaucet(app.chain, deployment, config);
  } catch (error) {
    app.log.warn({ err: error }, 'dev routes not registered: the chain did not answer');
    return;
  }
  if (!('token' in setting)) {
    app.log.debug({ reason: setting.reason }, 'dev routes not registered');
    return;
  }
  const local = setting;
  const { token } = local;
  const faucet = createChainClients({
    rpcUrl,
    chainId: local.chainId,
    privateKey: DEV_FAUCET_PRIVATE_KEY,
    nonceManager: true,
  });
  let prepared: Promise<void> | undefined;
  const prepare = () => {
    prepared ??= prepareDevFaucet(rpcUrl, local).catch((error) => {
      prepared = undefined;
      throw error;
    });
    return prepared;
  };
  let decimals: number | undefined;

  app.get(
    '/v1/dev/accounts',
    {
      schema: {
        tags: ['dev'],
        summary: "The platform's accounts a local script funds (local chains only)",
        description:
          'The issuer treasury (it funds `reserve.initial` at publish and `POST …/reserve/funding`; mint to it ' +
          'with the faucet first) and the faucet token. Exists only where the faucet does.',
        response: { 200: accountsResponseSchema, ...errorResponses(503) },
      },
    },
    async () => {
      const { relayerAddress } = await app.trading();
      if (relayerAddress === undefined) throw new ServiceUnavailableError('The platform signer is not known');
      const issuerTreasury = getAddress(config.ISSUER_TREASURY_ADDRESS ?? relayerAddress);
      return {
        chainId: local.chainId,
        token,
        faucet: DEV_FAUCET_ADDRESS,
        issuerTreasury,
        issuerTreasuryHeld: isAddressEqual(issuerTreasury, relayerAddress),
      };
    },
  );

  app.post(
    '/v1/dev/faucet',
    {
      schema: {
        tags: ['dev'],
        summary: 'Mint test stablecoin (local chains only)',
        description:
          'Mints `amount` whole TestStablecoin tokens to `address`. Exists only when the API runs against a ' +
          'local chain (anvil) whose deployment has a TestStablecoin.',
        body: faucetBodySchema,
        response: { 200: faucetResponseSchema, ...errorResponses(400, 422, 429, 503) },
      },
    },
    async (request) => {
      const { address, amount } = request.body;
      try {
        decimals ??= await readDecimals(faucet.publicClient, { token });
      } catch (error) {
        throw new ServiceUnavailableError('The chain did not answer', { cause: error });
      }
      const fraction = amount.split('.')[1] ?? '';
      if (fraction.length > decimals) {
        throw new ValidationFailedError(`amount has more than ${decimals} decimals`, {
          details: [{ path: 'body.amount', message: `at most ${decimals} decimals` }],
        });
      }
      const baseUnits = parseUnits(amount, decimals);
      if (baseUnits === 0n || baseUnits > MAX_FAUCET_AMOUNT * 10n ** BigInt(decimals)) {
        throw new ValidationFailedError(`amount must be above 0 and at most ${MAX_FAUCET_AMOUNT}`, {
          details: [{ path: 'body.amount', message: `between 0 (excluded) and ${MAX_FAUCET_AMOUNT}` }],
        });
      }
      await prepare();
      const { txHash } = await mintTestStablecoin(faucet, { token, to: address, amount: baseUnits });
      const balance = await readBalanceOf(faucet.publicClient, { token, account: address });
      request.audit = { type: 'dev.faucet', id: address, details: { amount: baseUnits.toString(), txHash } };
      return {
        address,
        token,
        amount: formatUnits(baseUnits, decimals),
        amountBaseUnits: baseUnits.toString(),
        balance: balance.toString(),
        txHash,
      };
    },
  );
};
