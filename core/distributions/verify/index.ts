/**
 * Independent check of a published distribution (`npm run cli -- verify-distribution`): a holder
 * recomputes it from the chain and the published tree dump alone, trusting our database for
 * nothing but which portfolio and which distribution to look at.
 *
 * - history.ts reads the chain: the Portfolio's terms, risk terms (spec v2) and tranches,
 *   `OfferingClosed` and every `RecoveryDistributed` up to this distribution's recovery with its
 *   `RecoveryTriggerAndReserve` / `PortfolioResolved`, the `ReserveFunded` before it, the tranche
 *   `Transfer` logs and supplies, the Distributor's `RootProposed` / `RootAccepted` for this
 *   distribution id;
 * - recompute.ts recomputes from that alone: each waterfall (v1, or v2 with the reserve, the trigger
 *   and the final recovery's write-offs), the balances at each snapshot, the
 *   pro-rata split of every recovery (dust carried per tranche, cumulative per account), the tree;
 * - compare.ts checks: every event's waterfall (and v2 trigger, reserve and write-offs) as
 *   recomputed, expected root == published root == committed root, keccak256(dump bytes) ==
 *   committed treeHash, expected total == committed total, every published leaf == expected (first
 *   differences listed);
 * - report.ts writes the report; fetch.ts reads the distribution and its dump from the API.
 */
import { getAddress, type PublicClient } from 'viem';
import { distributionChainId } from '../compute.ts';
import { compareDistribution, readPublishedTree } from './compare.ts';
import { readDistributionHistory } from './history.ts';
import { recomputeDistribution } from './recompute.ts';
import { formatVerifyReport } from './report.ts';
import type { VerifyDistributionParameters, VerifyDistributionResult } from './types.ts';

export { VerifyInputError } from './errors.ts';
export { fetchPublishedDistribution, type PublishedDistribution } from './fetch.ts';
export { formatVerifyReport } from './report.ts';
export type {
  CommittedRoot,
  DistributionToVerify,
  LeafDifference,
  VerifiedRecovery,
  VerifyCheck,
  VerifyDistributionParameters,
  VerifyDistributionResult,
} from './types.ts';

export async function verifyDistribution(
  parameters: VerifyDistributionParameters,
): Promise<VerifyDistributionResult> {
  const client: PublicClient = parameters.publicClient;
  const history = await readDistributionHistory(client, {
    portfolio: getAddress(parameters.distribution.portfolio),
    recoveryId: BigInt(parameters.distribution.recoveryId),
    distributionId: distributionChainId(parameters.distribution.id),
    fromBlock: parameters.fromBlock,
    range: parameters.blockRange ?? 2000n,
    progress: parameters.progress ?? (() => {}),
  });
  const recomputed = recomputeDistribution(history);
  const published = readPublishedTree(parameters.treeBytes);
  const compared = compareDistribution({
    history,
    recomputed,
    published,
    expectedChainId: parameters.distribution.chainId,
    maxDifferences: parameters.maxDifferences,
  });
  const result: Omit<VerifyDistributionResult, 'report'> = {
    agree: compared.agree,
    reasons: compared.reasons,
    checks: compared.checks,
    recoveries: recomputed.recoveries,
    expected: { root: recomputed.tree.root, total: recomputed.total, leaves: recomputed.tree.length },
    published: { root: published.root, leaves: published.count, treeHash: published.treeHash },
    committed: {
      distributionId: history.distributionId,
      proposed: history.proposed,
      accepted: history.accepted,
      currentRoot: history.currentRoot,
    },
    differences: compared.differences,
    differenceCount: compared.differenceCount,
  };
  return { ...result, report: formatVerifyReport(parameters.distribution, result) };
}
