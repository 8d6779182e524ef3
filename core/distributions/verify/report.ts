/** The verifier's readable report (`npm run cli -- verify-distribution` prints it). */
import { getAddress } from 'viem';
import type { DistributionToVerify, VerifyDistributionResult } from './types.ts';

/** The readable report; its last line is `agree` or `DISAGREE: <reasons>`. */
export function formatVerifyReport(
  distribution: DistributionToVerify,
  result: Omit<VerifyDistributionResult, 'report'>,
): string {
  const lines: string[] = [];
  lines.push(
    `Distribution ${distribution.id} (recovery #${distribution.recoveryId} of ${getAddress(distribution.portfolio)})`,
  );
  lines.push('');
  lines.push('Recoveries (from the chain):');
  for (const r of result.recoveries) {
    lines.push(
      `  #${r.recoveryId} block ${r.blockNumber}, snapshot ${r.snapshotBlock}: amount ${r.amount}, tranches ${r.trancheTotals.join(' / ')}`,
    );
    lines.push(
      `      carry in ${r.carryIn.join(' / ')}, distributed ${r.distributed.join(' / ')}, dust out ${r.dustOut.join(' / ')}; ${r.holders} leaves, payout ${r.payout}`,
    );
    if (r.reserve !== null) {
      lines.push(
        `      v2${r.final ? ' (final)' : ''}: trigger ${r.triggerBreached ? 'breached' : 'not breached'}, reserve ${r.reserve.before} - released ${r.reserve.released} - drawn ${r.reserve.drawn} + replenished ${r.reserve.replenished} = ${r.reserve.balanceAfter}`,
      );
    }
    if (r.writtenOff !== null) {
      lines.push(
        `      written off: principal ${r.writtenOff.principal.join(' / ')}, interest ${r.writtenOff.interest.join(' / ')}`,
      );
    }
  }
  lines.push('');
  lines.push(
    `Expected:  root ${result.expected.root}, total ${result.expected.total}, ${result.expected.leaves} leaves`,
  );
  lines.push(
    `Published: root ${result.published.root ?? '(none)'}, ${result.published.leaves} leaves, keccak256 ${result.published.treeHash}`,
  );
  const c = result.committed.accepted ?? result.committed.proposed;
  lines.push(
    `On-chain:  ${c === null ? `nothing for distributionId ${result.committed.distributionId}` : `root ${c.root}, total ${c.total}, treeHash ${c.treeHash}`} (current root ${result.committed.currentRoot})`,
  );
  lines.push('');
  lines.push('Checks:');
  for (const check of result.checks)
    lines.push(`  [${check.ok ? 'ok' : 'FAIL'}] ${check.name}: ${check.detail}`);
  if (result.differenceCount > 0) {
    lines.push('');
    lines.push(`Leaf differences (${result.differences.length} of ${result.differenceCount}):`);
    for (const d of result.differences) {
      lines.push(
        `  ${d.account}: expected ${d.expected ?? '(absent)'}, published ${d.published ?? '(absent)'}`,
      );
    }
  }
  lines.push('');
  lines.push(result.agree ? 'agree' : `DISAGREE: ${result.reasons.join('; ')}`);
  return `${lines.join('\n')}\n`;
}
