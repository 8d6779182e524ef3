/**
 * Distributor reads: what an account has claimed, the pay token, the pending root (and when it becomes
 * valid) and the current root with its distribution id, through `readChain`; and the `ClaimSkipped`
 * entries of a mined `claimMany` (holders it did not pay).
 */
import {
  type Address,
  getAddress,
  type Hex,
  isAddressEqual,
  type Log,
  type PublicClient,
  parseEventLogs,
} from 'viem';
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

/** Why `claimMany` did not pay a holder (the contract's `SkipReason`, in the database's spelling). */
export type ClaimSkipReason = 'not_allowed' | 'transfer_failed';

const skipReasons: readonly ClaimSkipReason[] = ['not_allowed', 'transfer_failed'];

export type ClaimSkipped = { account: Address; amount: bigint; cumulative: bigint; reason: ClaimSkipReason };

/**
 * The holders a mined `claimMany` on `distributor` skipped, from its receipt's logs: `not_allowed` (the
 * ComplianceRegistry did not allow them) or `transfer_failed` (the pay token refused the transfer; the
 * claim was rolled back). Their payouts stay claimable. Logs of other contracts are ignored.
 */
export function claimSkippedIn(logs: readonly Log[], distributor: Address): ClaimSkipped[] {
  return parseEventLogs({ abi: distributorAbi, eventName: 'ClaimSkipped', logs: logs as Log[] })
    .filter((log) => isAddressEqual(log.address, distributor))
    .map((log) => {
      const reason = skipReasons[log.args.reason];
      if (reason === undefined) throw new Error(`ClaimSkipped with an unknown reason ${log.args.reason}`);
      return {
        account: getAddress(log.args.account),
        amount: log.args.amount,
        cumulative: log.args.cumulativeAmount,
        reason,
      };
    });
}
