/**
 * Many holders on anvil, fast: a reusable fixture for crash tests and benchmarks.
 *
 *   const anvil = await startAnvil({ gasLimit: HOLDERS_GAS_LIMIT });      // big blocks: see below
 *   const seeded = await seedHolders({ clients: deployer, stack, portfolio, tranches, count: 10_000, seed: 'x' });
 *   seeded.holders      // Address[] (deterministic from `seed`; nobody has their keys: they only receive)
 *   seeded.balances     // balances[trancheId][i]: tranche-token balance of holders[i] (0n = none)
 *   seeded.buyers       // the few keys that bought the tranches and keep the remainder (< one unit each)
 *
 * What it does, in a handful of large transactions (no receipt awaited per transfer):
 * 1. derives `count` addresses from `seed` and a per-holder, per-tranche amount from the same hash:
 *    every holder holds at least one tranche, ~80% / 50% / 30% hold tranche 0 / 1 / 2 (4+: 30%), with
 *    (`holdPercent`) varying amounts of 1..`maxUnits` pay units plus a sub-unit remainder in token wei, so payouts
 *    round and leave dust;
 * 2. allowlists them with `ComplianceRegistry.allowlistMany` in batches (`clients` holds
 *    COMPLIANCE_ROLE: the deployer of `deployStack`); `allowlist: false` skips it (same seed again);
 * 3. a few buyer keys (derived from `seed`, funded with ETH via anvil_setBalance and with pay token via
 *    TestStablecoin.mint by `clients`) buy each tranche during the offering (the portfolio's offering
 *    must be open, its tranches' face ≥ the holders' units: `count × maxUnits` is always enough) and
 *    push the tokens to the holders through contracts/test/utils/BatchTransfer.sol (deployed once per
 *    chain from forge's artifact contracts/out/BatchTransfer.sol/BatchTransfer.json; built when missing).
 *
 * Closing the offering is left to the caller. Use the anvil started with a large `gasLimit`
 * (`HOLDERS_GAS_LIMIT`): batches are sized from the block gas limit.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Abi,
  type Address,
  encodePacked,
  erc20Abi,
  getAddress,
  type Hex,
  hexToBigInt,
  keccak256,
  maxUint256,
  parseEther,
} from 'viem';
import { createAnvilTestClient } from '../../core/chain/anvil.ts';
import { type ChainClients, withAccount } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { complianceRegistryAbi, portfolioAbi, testStablecoinAbi } from '../../core/chain/generated/index.ts';

/** A block gas limit that fits a few thousand transfers per transaction. */
export const HOLDERS_GAS_LIMIT = 2_000_000_000n;

export type SeedHoldersOptions = {
  /** Holds COMPLIANCE_ROLE on the registry and MINTER_ROLE on the TestStablecoin (the stack's deployer). */
  clients: ChainClients;
  stack: DeployedStack;
  /** The portfolio whose offering is open. */
  portfolio: Address;
  /** Its tranche tokens, index = trancheId. */
  tranches: readonly Address[];
  count: number;
  /** Same seed → same holders, amounts and buyers. Default 'holders'. */
  seed?: string;
  /** Largest holding per tranche, in pay-token base units (default 1 000 000). */
  maxUnits?: bigint;
  /**
   * Percentage of holders holding each tranche (default [80, 50, 30], 30 for a fourth and later);
   * every holder holds at least one tranche whatever the draw. 100 for the residual tranche makes
   * every holder paid by every recovery once the debt tranches are repaid.
   */
  holdPercent?: readonly number[];
  /** Buyer keys that distribute the tokens (default 3, at most one per 1 000 holders at least 1). */
  buyers?: number;
  /** Allowlist the holders (default true; false when the same seed was seeded on this registry). */
  allowlist?: boolean;
  /** Allowlist expiry (default: ten years after the latest block). */
  expiry?: bigint;
};

export type SeededHolders = {
  holders: Address[];
  /** balances[trancheId][i] = tranche-token balance given to holders[i]. */
  balances: bigint[][];
  /** The buyer accounts (each keeps less than one pay unit of each tranche it bought). */
  buyers: Address[];
  /** Milliseconds spent per phase. */
  timings: { allowlist: number; buy: number; transfer: number; total: number };
};

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

type Artifact = { abi: Abi; bytecode: { object: Hex } };

/** Reads forge's artifact of a contract (building the contracts once when it is missing). */
export function forgeArtifact(file: string, name = file): Artifact {
  const artifactPath = join(repoRoot, 'contracts/out', `${file}.sol`, `${name}.json`);
  if (!existsSync(artifactPath)) {
    execFileSync('node', ['scripts/foundry.mjs', 'forge', 'build'], { cwd: repoRoot, stdio: 'ignore' });
  }
  if (!existsSync(artifactPath)) throw new Error(`no forge artifact ${artifactPath}: run forge build`);
  return JSON.parse(readFileSync(artifactPath, 'utf8')) as Artifact;
}

const batchTransferAbi = [
  {
    type: 'function',
    name: 'send',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'token', type: 'address' },
      { name: 'to', type: 'address[]' },
      { name: 'amounts', type: 'uint256[]' },
    ],
    outputs: [],
  },
] as const;

const batchTransfers = new Map<string, Address>();

/** The BatchTransfer helper on this chain (deployed once per RPC URL). */
export async function deployBatchTransfer(clients: ChainClients): Promise<Address> {
  const rpcUrl = clients.chain.rpcUrls.default.http[0];
  const known = batchTransfers.get(rpcUrl);
  if (known !== undefined) {
    const code = await clients.publicClient.getCode({ address: known });
    if (code !== undefined && code !== '0x') return known;
  }
  const artifact = forgeArtifact('BatchTransfer');
  const hash = await clients.walletClient.deployContract({
    abi: artifact.abi,
    bytecode: artifact.bytecode.object,
    args: [],
  });
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new Error('BatchTransfer deploy failed');
  batchTransfers.set(rpcUrl, receipt.contractAddress);
  return receipt.contractAddress;
}

/** Holder i of `seed`: the last 20 bytes of keccak256(seed, i). */
export function holderAddress(seed: string, index: number): Address {
  return getAddress(`0x${keccak256(encodePacked(['string', 'uint256'], [seed, BigInt(index)])).slice(-40)}`);
}

const HOLD_PERCENT = [80, 50, 30];

/** The deterministic holdings of holder `index` (token wei per tranche, 0n = none). */
export function holderAmounts(
  seed: string,
  index: number,
  trancheCount: number,
  maxUnits: bigint,
  scale: bigint,
  holdPercent: readonly number[] = HOLD_PERCENT,
): bigint[] {
  const amounts: bigint[] = [];
  for (let t = 0; t < trancheCount; t++) {
    const r = hexToBigInt(
      keccak256(encodePacked(['string', 'uint256', 'uint256'], [seed, BigInt(index), BigInt(t)])),
    );
    const holds = r % 100n < BigInt(holdPercent[t] ?? 30);
    const units = 1n + ((r >> 8n) % maxUnits);
    const remainder = (r >> 80n) % scale;
    amounts.push(holds ? units * scale + remainder : 0n);
  }
  if (!amounts.some((a) => a > 0n)) {
    const r = hexToBigInt(
      keccak256(encodePacked(['string', 'uint256', 'string'], [seed, BigInt(index), 'fallback'])),
    );
    amounts[Number(r % BigInt(trancheCount))] = (1n + (r % maxUnits)) * scale + ((r >> 64n) % scale);
  }
  return amounts;
}

/** Waits for transactions sent without awaiting their receipts; throws on the first revert. */
async function confirmAll(clients: ChainClients, what: string, hashes: Hex[]): Promise<void> {
  for (const hash of hashes) {
    const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`${what}: transaction ${hash} reverted`);
  }
}

/** Seeds `count` holders of the portfolio's tranches: see the top of this file. */
export async function seedHolders(options: SeedHoldersOptions): Promise<SeededHolders> {
  const started = Date.now();
  const { clients, stack, portfolio, tranches, count } = options;
  const seed = options.seed ?? 'holders';
  const maxUnits = options.maxUnits ?? 1_000_000n;
  const payToken = stack.testStablecoin as Address;
  const { publicClient } = clients;
  const payDecimals = await publicClient.readContract({
    address: payToken,
    abi: erc20Abi,
    functionName: 'decimals',
  });
  const scale = 10n ** BigInt(18 - payDecimals);
  const block = await publicClient.getBlock();
  const gasBudget = (block.gasLimit * 9n) / 10n;

  const holders = Array.from({ length: count }, (_, i) => holderAddress(seed, i));
  const balances: bigint[][] = tranches.map(() => new Array<bigint>(count).fill(0n));
  for (let i = 0; i < count; i++) {
    const amounts = holderAmounts(seed, i, tranches.length, maxUnits, scale, options.holdPercent);
    for (let t = 0; t < tranches.length; t++) balances[t][i] = amounts[t];
  }

  // buyer keys derived from the seed: funded with ETH by anvil, pay token minted by `clients`
  const buyerCount = Math.max(1, Math.min(options.buyers ?? 3, Math.ceil(count / 1_000)));
  const buyers = Array.from({ length: buyerCount }, (_, b) =>
    withAccount(
      clients,
      keccak256(encodePacked(['string', 'string', 'uint256'], [seed, 'buyer', BigInt(b)])),
      {
        nonceManager: true,
      },
    ),
  );
  const testClient = createAnvilTestClient(clients.chain.rpcUrls.default.http[0], clients.chain.id);
  for (const buyer of buyers)
    await testClient.setBalance({ address: buyer.account.address, value: parseEther('1000') });

  // 1. allowlist holders and buyers (≈ 30k gas each)
  const expiry = options.expiry ?? block.timestamp + 10n * 365n * 86_400n;
  const toAllow = [...(options.allowlist === false ? [] : holders), ...buyers.map((b) => b.account.address)];
  const allowBatch = Number(bigMin(5_000n, (gasBudget - 200_000n) / 40_000n));
  const allowHashes: Hex[] = [];
  for (let start = 0; start < toAllow.length; start += allowBatch) {
    const accounts = toAllow.slice(start, start + allowBatch);
    allowHashes.push(
      await clients.walletClient.writeContract({
        address: stack.complianceRegistry,
        abi: complianceRegistryAbi,
        functionName: 'allowlistMany',
        args: [accounts, expiry],
        gas: 200_000n + BigInt(accounts.length) * 40_000n,
      }),
    );
  }
  await confirmAll(clients, 'allowlistMany', allowHashes);
  const allowed = Date.now();

  // 2. each buyer buys its share of every tranche (rounded up to whole pay units)
  const share = Math.ceil(count / buyerCount);
  const batchTransfer = await deployBatchTransfer(clients);
  const priceBps = await Promise.all(
    tranches.map(async (_, t) => {
      const terms = await publicClient.readContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'trancheTerms',
        args: [BigInt(t)],
      });
      return BigInt(terms.priceBps);
    }),
  );
  const setup: Hex[] = [];
  const purchases: { buyer: ChainClients; trancheId: number; amount: bigint }[] = [];
  for (const [b, buyer] of buyers.entries()) {
    let cost = 0n;
    for (let t = 0; t < tranches.length; t++) {
      let sum = 0n;
      for (let i = b * share; i < Math.min(count, (b + 1) * share); i++) sum += balances[t][i];
      if (sum === 0n) continue;
      const amount = ((sum + scale - 1n) / scale) * scale;
      purchases.push({ buyer, trancheId: t, amount });
      cost += ((amount / scale) * priceBps[t] + 9_999n) / 10_000n;
    }
    setup.push(
      await clients.walletClient.writeContract({
        address: payToken,
        abi: testStablecoinAbi,
        functionName: 'mint',
        args: [buyer.account.address, cost],
      }),
    );
    setup.push(
      await buyer.walletClient.writeContract({
        address: payToken,
        abi: erc20Abi,
        functionName: 'approve',
        args: [portfolio, maxUint256],
        gas: 100_000n,
      }),
    );
    for (const token of tranches) {
      setup.push(
        await buyer.walletClient.writeContract({
          address: token,
          abi: erc20Abi,
          functionName: 'approve',
          args: [batchTransfer, maxUint256],
          gas: 100_000n,
        }),
      );
    }
  }
  await confirmAll(clients, 'mint / approve', setup);
  const bought: Hex[] = [];
  for (const { buyer, trancheId, amount } of purchases) {
    bought.push(
      await buyer.walletClient.writeContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName: 'buy',
        args: [BigInt(trancheId), amount, maxUint256],
        gas: 500_000n,
      }),
    );
  }
  await confirmAll(clients, 'buy', bought);
  const boughtAt = Date.now();

  // 3. push the tokens to the holders (≈ 45k gas per transfer to a new holder)
  const transferBatch = Number(bigMin(4_000n, (gasBudget - 200_000n) / 60_000n));
  const transfers: Hex[] = [];
  for (const [b, buyer] of buyers.entries()) {
    for (let t = 0; t < tranches.length; t++) {
      const to: Address[] = [];
      const amounts: bigint[] = [];
      for (let i = b * share; i < Math.min(count, (b + 1) * share); i++) {
        if (balances[t][i] === 0n) continue;
        to.push(holders[i]);
        amounts.push(balances[t][i]);
      }
      for (let start = 0; start < to.length; start += transferBatch) {
        const slice = to.slice(start, start + transferBatch);
        transfers.push(
          await buyer.walletClient.writeContract({
            address: batchTransfer,
            abi: batchTransferAbi,
            functionName: 'send',
            args: [tranches[t], slice, amounts.slice(start, start + transferBatch)],
            gas: 200_000n + BigInt(slice.length) * 60_000n,
          }),
        );
      }
    }
  }
  await confirmAll(clients, 'BatchTransfer.send', transfers);
  const done = Date.now();
  return {
    holders,
    balances,
    buyers: buyers.map((b) => b.account.address),
    timings: {
      allowlist: allowed - started,
      buy: boughtAt - allowed,
      transfer: done - boughtAt,
      total: done - started,
    },
  };
}

const bigMin = (a: bigint, b: bigint) => (a < b ? a : b);
