/**
 * ERC-20 and ERC-2612 reads of a tranche token (and of the pay token, which answers the same calls):
 * `balanceOf`, `allowance`, `nonces`, `decimals` and `totalSupply`, each at an optional block. Every
 * read goes through `readChain`, so a failure is a decoded `ChainError`; `erc20Raw` holds the bare
 * calls for a snapshot that composes several contracts under one label.
 */
import type { Address, PublicClient } from 'viem';
import { trancheTokenAbi } from '../generated/index.ts';
import { readChain } from '../read.ts';

type AtBlock = { blockNumber?: bigint };
export type ReadBalanceOfParameters = AtBlock & { token: Address; account: Address };
export type ReadAllowanceParameters = AtBlock & { token: Address; owner: Address; spender: Address };
export type ReadTotalSupplyParameters = AtBlock & { token: Address };

/** The bare `readContract` calls (no decoding): compose them inside one `readChain`. */
export const erc20Raw = {
  balanceOf: (client: PublicClient, { token, account, blockNumber }: ReadBalanceOfParameters) =>
    client.readContract({
      address: token,
      abi: trancheTokenAbi,
      functionName: 'balanceOf',
      args: [account],
      blockNumber,
    }),
  allowance: (client: PublicClient, { token, owner, spender, blockNumber }: ReadAllowanceParameters) =>
    client.readContract({
      address: token,
      abi: trancheTokenAbi,
      functionName: 'allowance',
      args: [owner, spender],
      blockNumber,
    }),
  nonces: (client: PublicClient, { token, account, blockNumber }: ReadBalanceOfParameters) =>
    client.readContract({
      address: token,
      abi: trancheTokenAbi,
      functionName: 'nonces',
      args: [account],
      blockNumber,
    }),
  totalSupply: (client: PublicClient, { token, blockNumber }: ReadTotalSupplyParameters) =>
    client.readContract({ address: token, abi: trancheTokenAbi, functionName: 'totalSupply', blockNumber }),
  decimals: (client: PublicClient, { token }: { token: Address }) =>
    client.readContract({ address: token, abi: trancheTokenAbi, functionName: 'decimals' }),
};

/** `balanceOf(account)` in token base units. */
export function readBalanceOf(client: PublicClient, parameters: ReadBalanceOfParameters): Promise<bigint> {
  return readChain('ERC20', 'balanceOf', () => erc20Raw.balanceOf(client, parameters));
}

/** `totalSupply()` (the supply a distribution's snapshot must sum to, at `blockNumber`). */
export function readTotalSupply(
  client: PublicClient,
  parameters: ReadTotalSupplyParameters,
): Promise<bigint> {
  return readChain('TrancheToken', 'totalSupply', () => erc20Raw.totalSupply(client, parameters));
}

/** `decimals()`. */
export function readDecimals(client: PublicClient, parameters: { token: Address }): Promise<number> {
  return readChain('ERC20', 'decimals', () => erc20Raw.decimals(client, parameters));
}

export type ReadBalanceAndAllowanceParameters = AtBlock & {
  token: Address;
  owner: Address;
  spender: Address;
};
export type BalanceAndAllowance = { balance: bigint; allowance: bigint };

/** `balanceOf(owner)` and `allowance(owner, spender)` at one block: can `spender` pull from `owner`. */
export async function readBalanceAndAllowance(
  client: PublicClient,
  parameters: ReadBalanceAndAllowanceParameters,
): Promise<BalanceAndAllowance> {
  const { token, owner, blockNumber } = parameters;
  const [balance, allowance] = await readChain('ERC20', 'balanceOf', () =>
    Promise.all([
      erc20Raw.balanceOf(client, { token, account: owner, blockNumber }),
      erc20Raw.allowance(client, parameters),
    ]),
  );
  return { balance, allowance };
}

export type ReadFundsReturnType = BalanceAndAllowance & {
  /** `owner`'s current ERC-2612 permit nonce. */
  nonce: bigint;
};

/** `balanceOf(owner)`, `allowance(owner, spender)` and the permit `nonces(owner)` at one block. */
export async function readFunds(
  client: PublicClient,
  parameters: ReadBalanceAndAllowanceParameters,
): Promise<ReadFundsReturnType> {
  const { token, owner, blockNumber } = parameters;
  const [balance, allowance, nonce] = await readChain('ERC20', 'balanceOf', () =>
    Promise.all([
      erc20Raw.balanceOf(client, { token, account: owner, blockNumber }),
      erc20Raw.allowance(client, parameters),
      erc20Raw.nonces(client, { token, account: owner, blockNumber }),
    ]),
  );
  return { balance, allowance, nonce };
}
