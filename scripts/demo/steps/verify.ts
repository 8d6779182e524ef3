/**
 * Step 13: verify-distribution of each distribution, recomputed from the chain and the published tree
 * (core/distributions/verify/), as a holder would run it.
 */
import type { PublicClient } from 'viem';
import { verifyDistribution } from '../../../core/distributions/verify/index.ts';
import { formatPay, type RunningContext } from './context.ts';

export async function verifyDistributions(ctx: RunningContext): Promise<void> {
  const { api, base, options, result, step, info } = ctx;
  step('verify-distribution: recomputing every distribution from the chain and the published tree');
  // what `npm run cli -- verify-distribution <id> --rpc URL --api URL` does, in this process
  for (const recovery of result.recoveries) {
    const id = recovery.distributionId as string;
    const detail = await api.request('GET', `/v1/distributions/${id}`, { auth: false });
    const tree = await fetch(`${api.baseUrl}/v1/distributions/${id}/tree`);
    if (!tree.ok) throw new Error(`GET /v1/distributions/${id}/tree answered ${tree.status}`);
    const verified = await verifyDistribution({
      publicClient: base.publicClient as unknown as PublicClient,
      distribution: {
        id,
        chainId: detail.chainId,
        portfolio: detail.portfolio,
        recoveryId: detail.recoveryId,
      },
      treeBytes: new Uint8Array(await tree.arrayBuffer()),
    });
    const failed = verified.checks.filter((c) => !c.ok);
    const summary = verified.agree
      ? `agrees: root ${verified.expected.root.slice(0, 18)}..., cumulative ${formatPay(verified.expected.total)}, ${verified.expected.leaves} leaves, ${verified.checks.length} checks ok`
      : `DISAGREES: ${verified.reasons.join('; ')}`;
    result.verification.push({ distributionId: id, ok: verified.agree, summary });
    info(`recovery ${recovery.index + 1}, distribution ${id}: ${summary}`);
    for (const check of failed) info(`  FAIL ${check.name}: ${check.detail}`);
  }
  if (result.verification.every((v) => v.ok)) {
    info(
      `verify-distribution agrees with all ${result.verification.length} distributions; the same check from a shell, while the marketplace runs:`,
    );
    info(
      `  npm run cli -- verify-distribution ${result.recoveries[result.recoveries.length - 1]?.distributionId} --rpc ${options.rpcUrl} --api ${api.baseUrl}`,
    );
  } else {
    throw new Error('verify-distribution disagrees (see above)');
  }
}
