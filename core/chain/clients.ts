/**
 * viem clients for one key on one chain: a public client (reads, receipts, logs) and a wallet client
 * (transactions signed locally with `privateKey`).
 */
import {
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  type HttpTransport,
  http,
  type PublicClient,
  type WalletClient,
} from 'viem';
import {
  nonceManager as defaultNonceManager,
  type PrivateKeyAccount,
  privateKeyToAccount,
} from 'viem/accounts';
import {
  arbitrum,
  arbitrumSepolia,
  base,
  baseSepolia,
  foundry,
  mainnet,
  polygon,
  sepolia,
} from 'viem/chains';

export type ChainPublicClient = PublicClient<HttpTransport, Chain>;
export type ChainWalletClient = WalletClient<HttpTransport, Chain, PrivateKeyAccount>;

export type ChainClients = {
  chain: Chain;
  /** The transport both clients share (reused by `withAccount`). */
  transport: HttpTransport;
  account: PrivateKeyAccount;
  publicClient: ChainPublicClient;
  walletClient: ChainWalletClient;
};

export type CreateChainClientsParameters = {
  rpcUrl: string;
  /** The key that signs every transaction of the wallet client. */
  privateKey: Hex;
  /** Defaults to 31337 (anvil / foundry). Use `connectChainClients` to read it from the node. */
  chainId?: number;
  /** Polling interval for receipts and blocks (ms); default 100 on a local chain, 1000 elsewhere. */
  pollingInterval?: number;
  /** Per-request timeout (ms); default 30 000. */
  timeout?: number;
  /** Transport-level retries of a failed request; default 3. */
  retryCount?: number;
  /**
   * Track nonces locally so that several transactions of this key can be sent concurrently (viem's
   * nonce manager). Leave off when the chain state can jump back (evm_revert in tests).
   */
  nonceManager?: boolean;
};

const knownChains: readonly Chain[] = [
  foundry,
  mainnet,
  sepolia,
  base,
  baseSepolia,
  arbitrum,
  arbitrumSepolia,
  polygon,
];

export const LOCAL_CHAIN_IDS: readonly number[] = [31337, 1337];

/** True for chains that only exist on this machine (anvil, hardhat): test stablecoin, short timelocks. */
export function isLocalChain(chainId: number): boolean {
  return LOCAL_CHAIN_IDS.includes(chainId);
}

/** The viem chain for `chainId`, with `rpcUrl` as its default RPC; unknown ids get a `defineChain`. */
export function chainFor(chainId: number, rpcUrl: string): Chain {
  const known = knownChains.find((chain) => chain.id === chainId);
  const rpcUrls = { default: { http: [rpcUrl] } };
  if (known) return { ...known, rpcUrls };
  return defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls,
    testnet: isLocalChain(chainId),
  });
}

/** Public and wallet clients for `privateKey` on the chain at `rpcUrl`. */
export function createChainClients(parameters: CreateChainClientsParameters): ChainClients {
  const { rpcUrl, privateKey } = parameters;
  const chainId = parameters.chainId ?? foundry.id;
  const chain = chainFor(chainId, rpcUrl);
  const account = privateKeyToAccount(
    privateKey,
    parameters.nonceManager ? { nonceManager: defaultNonceManager } : undefined,
  );
  const transport = http(rpcUrl, {
    timeout: parameters.timeout ?? 30_000,
    retryCount: parameters.retryCount ?? 3,
  });
  const pollingInterval = parameters.pollingInterval ?? (isLocalChain(chainId) ? 100 : 1000);
  const publicClient = createPublicClient({ chain, transport, pollingInterval });
  const walletClient = createWalletClient({ chain, transport, account, pollingInterval });
  return { chain, transport, account, publicClient, walletClient };
}

/** Same as `createChainClients`, reading the chain id from the node first. */
export async function connectChainClients(
  parameters: Omit<CreateChainClientsParameters, 'chainId'>,
): Promise<ChainClients> {
  const probe = createPublicClient({
    transport: http(parameters.rpcUrl, { timeout: parameters.timeout ?? 30_000 }),
  });
  const chainId = await probe.getChainId();
  return createChainClients({ ...parameters, chainId });
}

/** Clients of another key on the same chain and transport (e.g. an investor, the servicer, the relayer). */
export function withAccount(
  clients: ChainClients,
  privateKey: Hex,
  options: { nonceManager?: boolean } = {},
): ChainClients {
  const account = privateKeyToAccount(
    privateKey,
    options.nonceManager ? { nonceManager: defaultNonceManager } : undefined,
  );
  const walletClient = createWalletClient({
    chain: clients.chain,
    transport: clients.transport,
    account,
    pollingInterval: clients.walletClient.pollingInterval,
  });
  return { ...clients, account, walletClient };
}
