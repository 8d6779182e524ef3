import { toChainError } from './errors.ts';

/**
 * Runs one chain read (`readContract`, `getBlock`, a `multicall`, ...) and turns whatever it throws
 * into a decoded `ChainError` naming the contract and function: the one wrapper every chain read
 * outside the generated bindings goes through.
 *
 *   const supply = await readChain('TrancheToken', 'totalSupply', () =>
 *     client.readContract({ address, abi: trancheTokenAbi, functionName: 'totalSupply' }));
 */
export async function readChain<T>(
  contract: string,
  functionName: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toChainError(error, { contract, functionName });
  }
}
