/**
 * Distributor reads: what an account has claimed, the pay token, the pending root (and when it becomes
 * valid) and the current root with its distribution id, through `readChain`.
 */
import type { Address, Hex, PublicClient } from 'viem';
import { distributorAbi } from '../generated/index.ts';
import { readChain } from '../read.ts';

type At = { distributor: Address };

/** `claimed(account)`: cumulative amount paid to `account` so far (pay-token base units). */
export function readClaimed(client: PublicClient, parameters: At & { account: Address }): Promise<bigint> {
  return readChain('Distributor', 'claimed', () =>
    client.readContract({
      address: parameters.distributor,
      abi: distributorAbi,
      functionName: 'claimed',
      args: [parameters.account],
    }),
  );
}

/** `payToken()`: the token the Distributor pays out. */
export function readDistributorPayToken(client: PublicClient, parameters: At): Promise<Address> {
  return readChain('Distributor', 'payToken', () =>
    client.readContract({ address: parameters.distributor, abi: distributorAbi, functionName: 'payToken' }),
  );
}

/** `pendingRoot()`: the proposed root waiting for its timelock (`validAt`, unix seconds). */
export function readPendingRoot(client: PublicClient, parameters: At) {
  return readChain('Distributor', 'pendingRoot', () =>
    client.readContract({
      address: parameters.distributor,
      abi: distributorAbi,
      functionName: 'pendingRoot',
    }),
  );
}

/** `root()`: the accepted root holders claim against. */
export function readRoot(client: PublicClient, parameters: At): Promise<Hex> {
  return readChain('Distributor', 'root', () =>
    client.readContract({ address: parameters.distributor, abi: distributorAbi, functionName: 'root' }),
  );
}

export type CurrentRoot = { root: Hex; distributionId: bigint };

/** `root()` and `distributionId()` together: which distribution holders claim against now. */
export async function readCurrentRoot(client: PublicClient, parameters: At): Promise<CurrentRoot> {
  const { distributor } = parameters;
  const [root, distributionId] = await readChain('Distributor', 'root', () =>
    Promise.all([
      client.readContract({ address: distributor, abi: distributorAbi, functionName: 'root' }),
      client.readContract({ address: distributor, abi: distributorAbi, functionName: 'distributionId' }),
    ]),
  );
  return { root, distributionId };
}
