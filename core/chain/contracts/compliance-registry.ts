/**
 * ComplianceRegistry reads: `isAllowed(account)` (allowlisted, not expired, not frozen) and the raw
 * `investor(account)` record, each at an optional block, through `readChain`.
 */
import type { Address, PublicClient } from 'viem';
import { complianceRegistryAbi } from '../generated/index.ts';
import { readChain } from '../read.ts';

export type ReadInvestorParameters = { registry: Address; account: Address; blockNumber?: bigint };
/** The registry's record of an investor (`expiry` 0 = never allowlisted). */
export type InvestorRecord = { expiry: bigint; frozen: boolean };

/** The bare `readContract` calls (no decoding): compose them inside one `readChain`. */
export const complianceRegistryRaw = {
  isAllowed: (client: PublicClient, { registry, account, blockNumber }: ReadInvestorParameters) =>
    client.readContract({
      address: registry,
      abi: complianceRegistryAbi,
      functionName: 'isAllowed',
      args: [account],
      blockNumber,
    }),
  investor: async (
    client: PublicClient,
    { registry, account, blockNumber }: ReadInvestorParameters,
  ): Promise<InvestorRecord> => {
    const [expiry, frozen] = await client.readContract({
      address: registry,
      abi: complianceRegistryAbi,
      functionName: 'investor',
      args: [account],
      blockNumber,
    });
    return { expiry: BigInt(expiry), frozen };
  },
};

/** `isAllowed(account)`: may `account` hold and receive tranche tokens now (or at `blockNumber`). */
export function readIsAllowed(client: PublicClient, parameters: ReadInvestorParameters): Promise<boolean> {
  return readChain('ComplianceRegistry', 'isAllowed', () =>
    complianceRegistryRaw.isAllowed(client, parameters),
  );
}

/** `investor(account)`: its allowlist expiry and frozen flag. */
export function readInvestor(
  client: PublicClient,
  parameters: ReadInvestorParameters,
): Promise<InvestorRecord> {
  return readChain('ComplianceRegistry', 'investor', () =>
    complianceRegistryRaw.investor(client, parameters),
  );
}
