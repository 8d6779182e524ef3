/**
 * The checks (pure): the chain and the recoveries found, each event's waterfall against the
 * recomputed one (for spec v2 also its `RecoveryTriggerAndReserve`: trigger state and reserve
 * movements, and the final recovery's `PortfolioResolved` write-offs), each `ReserveFunded` balance,
 * the Transfer-log balances against `totalSupply`, the published tree dump (a
 * consistent tree, every leaf as recomputed, its root), and what the Distributor committed (root,
 * tree hash, total). Also the leaf differences, listed up to a bound.
 */
import { type Address, getAddress, type Hex, isAddress, keccak256 } from 'viem';
import { loadDistributionTreeJson } from '../tree/merkle.ts';
import type { DistributionHistory } from './history.ts';
import type { RecomputedDistribution } from './recompute.ts';
import type { LeafDifference, VerifyCheck } from './types.ts';

/** The published tree dump as read: its leaves (lower-case account → amount), root and hash. */
export type PublishedTree = {
  /** Null when the dump is a consistent StandardMerkleTree; otherwise what is wrong with it. */
  problem: string | null;
  root: Hex | null;
  leaves: Map<string, bigint>;
  /** Leaves in the dump (accounts repeated count once in `leaves`, each time here). */
  count: number;
  /** Leaves whose account or amount could not be read. */
  malformed: number;
  /** keccak256 of the dump bytes (what the Distributor's treeHash commits to). */
  treeHash: Hex;
};

/**
 * Reads the dump: from the checked tree (flat buffers, fast for big trees), or, when it is not a
 * consistent tree, from the raw JSON so that the differences can still be listed.
 */
export function readPublishedTree(treeBytes: Uint8Array): PublishedTree {
  const treeHash = keccak256(treeBytes);
  const leaves = new Map<string, bigint>();
  try {
    const tree = loadDistributionTreeJson(treeBytes);
    for (let k = 0; k < tree.length; k++) leaves.set(tree.account(k).toLowerCase(), tree.amount(k));
    return { problem: null, root: tree.root, leaves, count: tree.length, malformed: 0, treeHash };
  } catch (error) {
    const issues = (error as { issues?: { field: string; message: string }[] }).issues;
    const problem = issues?.map((i) => `${i.field} ${i.message}`).join('; ') ?? (error as Error).message;
    let root: Hex | null = null;
    let count = 0;
    let malformed = 0;
    try {
      const dump = JSON.parse(new TextDecoder().decode(treeBytes)) as {
        tree?: unknown[];
        values?: { value?: unknown[] }[];
      };
      root = typeof dump.tree?.[0] === 'string' ? (dump.tree[0] as Hex) : null;
      for (const item of Array.isArray(dump.values) ? dump.values : []) {
        count++;
        try {
          const [account, amount] = item.value as [string, string];
          leaves.set(String(account).toLowerCase(), BigInt(amount));
        } catch {
          malformed++;
        }
      }
    } catch {}
    return { problem, root, leaves, count, malformed, treeHash };
  }
}

/**
 * Accounts whose expected and published amounts differ (absent on one side counts), in account
 * order; the first `maxDifferences` listed, all counted (plus `malformed` unreadable leaves).
 */
export function leafDifferences(
  expected: ReadonlyMap<string, bigint>,
  published: ReadonlyMap<string, bigint>,
  maxDifferences: number,
  malformed = 0,
): { differences: LeafDifference[]; differenceCount: number } {
  const differences: LeafDifference[] = [];
  let differenceCount = malformed;
  for (const account of [...new Set([...expected.keys(), ...published.keys()])].sort()) {
    const e = expected.get(account) ?? null;
    const p = published.get(account) ?? null;
    if (e === p) continue;
    differenceCount++;
    if (differences.length < maxDifferences)
      differences.push({
        account: (isAddress(account, { strict: false }) ? getAddress(account) : account) as Address,
        expected: e,
        published: p,
      });
  }
  return { differences, differenceCount };
}

/** Whether log position `a` comes before `b` on the chain. */
const isBefore = (
  a: { blockNumber: bigint; logIndex: number },
  b: { blockNumber: bigint; logIndex: number },
): boolean => a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.logIndex < b.logIndex);

export type CompareDistributionParameters = {
  history: Pick<
    DistributionHistory,
    'chainId' | 'recoveries' | 'distributor' | 'distributionId' | 'proposed' | 'accepted'
  > &
    Partial<Pick<DistributionHistory, 'reserveFundings'>>;
  recomputed: Pick<RecomputedDistribution, 'waterfalls' | 'balances' | 'holders' | 'tree' | 'total'>;
  published: PublishedTree;
  /** The chain the API says the distribution is on (checked when given). */
  expectedChainId?: number | undefined;
  /** Leaf differences listed (default 10). */
  maxDifferences?: number | undefined;
};

export type CompareDistributionResult = {
  agree: boolean;
  /** `<check>: <detail>` of every failed check. */
  reasons: string[];
  checks: VerifyCheck[];
  differences: LeafDifference[];
  differenceCount: number;
};

export function compareDistribution(parameters: CompareDistributionParameters): CompareDistributionResult {
  const { history, recomputed, published } = parameters;
  const checks: VerifyCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    return ok;
  };

  if (parameters.expectedChainId !== undefined) {
    check(
      'chain',
      history.chainId === parameters.expectedChainId,
      `RPC chain ${history.chainId}, distribution on chain ${parameters.expectedChainId}`,
    );
  }
  const events = history.recoveries;
  const finalAt = events.findIndex((e) => e.resolved != null);
  check(
    'recoveries',
    events.every((e, i) => e.recoveryId === BigInt(i + 1)) &&
      (finalAt === -1 || finalAt === events.length - 1),
    `RecoveryDistributed ${events.map((e) => e.recoveryId).join(', ')} found${
      finalAt === -1
        ? ''
        : finalAt === events.length - 1
          ? `, #${events[finalAt].recoveryId} final (PortfolioResolved)`
          : `, but #${events[finalAt].recoveryId} was final (PortfolioResolved) and recoveries follow it`
    }`,
  );

  // ------------------------------------------------------------------ each waterfall
  for (const [k, a] of events.entries()) {
    const expected = recomputed.waterfalls[k];
    const mismatches: string[] = [];
    const same = (what: string, x: bigint, y: bigint) => {
      if (x !== y) mismatches.push(`${what} ${y} on-chain, ${x} recomputed`);
    };
    same('servicerFee', expected.servicerFee, a.servicerFee);
    same('protocolFee', expected.protocolFee, a.protocolFee);
    same('undistributed', expected.undistributed, a.undistributed);
    expected.tranches.forEach((t, i) => {
      same(`tranche ${i} interest`, t.interest, a.interest[i] ?? 0n);
      same(`tranche ${i} principal`, t.principal, a.principal[i] ?? 0n);
      same(`tranche ${i} residual`, t.residual, a.residual[i] ?? 0n);
    });
    // spec v2: the trigger state and the reserve movements (RecoveryTriggerAndReserve)
    const v2 = a.triggerAndReserve ?? null;
    if (expected.v2 && v2 === null) {
      mismatches.push('RecoveryTriggerAndReserve missing on-chain, expected (v2 terms or final recovery)');
    } else if (!expected.v2 && v2 !== null) {
      mismatches.push('RecoveryTriggerAndReserve on-chain, none expected (no v2 terms, not final)');
    }
    if (expected.v2 && v2 !== null) {
      if (v2.triggerBreached !== expected.triggerBreached) {
        mismatches.push(
          `triggerBreached ${v2.triggerBreached} on-chain, ${expected.triggerBreached} recomputed`,
        );
      }
      same('collected', expected.collected, v2.collected);
      same('planned', expected.planned, v2.planned);
      same('released', expected.reserve.released, v2.released);
      same('drawn', expected.reserve.drawn, v2.drawn);
      same('replenished', expected.reserve.replenished, v2.replenished);
      same('reserveBalance', expected.reserve.balanceAfter, v2.reserveBalance);
    }
    // the final recovery: what it wrote off (PortfolioResolved)
    if (expected.final && a.resolved != null) {
      const resolved = a.resolved;
      expected.tranches.forEach((t, i) => {
        same(
          `tranche ${i} principalWrittenOff`,
          t.principalWrittenOff,
          resolved.principalWrittenOff[i] ?? 0n,
        );
        same(`tranche ${i} interestWrittenOff`, t.interestWrittenOff, resolved.interestWrittenOff[i] ?? 0n);
      });
    }
    const v2Detail = !expected.v2
      ? ''
      : `; trigger ${expected.triggerBreached ? 'breached' : 'not breached'} (collected ${expected.collected}, planned ${expected.planned}), reserve ${expected.reserveBefore} - released ${expected.reserve.released} - drawn ${expected.reserve.drawn} + replenished ${expected.reserve.replenished} = ${expected.reserve.balanceAfter}${
          expected.final
            ? `; final: written off principal ${expected.tranches.map((t) => t.principalWrittenOff).join(' / ')}, interest ${expected.tranches.map((t) => t.interestWrittenOff).join(' / ')}`
            : ''
        }`;
    check(
      `waterfall #${a.recoveryId}`,
      mismatches.length === 0,
      mismatches.length === 0
        ? `amount ${a.amount}: fees ${a.servicerFee} + ${a.protocolFee}, tranches ${expected.tranches.map((t) => t.total).join(' / ')}, undistributed ${a.undistributed}${v2Detail}`
        : mismatches.slice(0, 5).join('; '),
    );
  }

  // ------------------------------------------------------------------ reserve fundings (spec v2)
  const fundings = history.reserveFundings ?? [];
  if (fundings.length > 0) {
    // each ReserveFunded's balance: the recomputed balance after the recoveries before it, plus the fundings since
    const wrong: string[] = [];
    let k = 0;
    let balance = 0n;
    for (const f of fundings) {
      for (; k < events.length && isBefore(events[k], f); k++) {
        balance = recomputed.waterfalls[k]?.reserve.balanceAfter ?? balance;
      }
      balance += f.amount;
      if (balance !== f.balance) {
        wrong.push(
          `ReserveFunded at block ${f.blockNumber}: balance ${f.balance} on-chain, ${balance} recomputed`,
        );
      }
    }
    check(
      'reserve fundings',
      wrong.length === 0,
      wrong.length === 0
        ? `${fundings.length} ReserveFunded, ${fundings.reduce((sum, f) => sum + f.amount, 0n)} in all, each balance as recomputed`
        : wrong.slice(0, 5).join('; '),
    );
  }

  // ------------------------------------------------------------------ balances at each snapshot
  let balancesOk = true;
  for (const [k, event] of events.entries()) {
    for (const [i, list] of recomputed.balances[k].entries()) {
      const sum = list.reduce((s, b) => s + b.balance, 0n);
      const supply = event.supplies[i];
      if (sum !== supply || list.some((b) => b.balance < 0n)) {
        balancesOk = check(
          `balances #${event.recoveryId} tranche ${i}`,
          false,
          `Transfer logs sum to ${sum} at block ${event.snapshotBlock}, totalSupply is ${supply}`,
        );
      }
    }
  }
  check('balances', balancesOk, `Transfer logs match totalSupply at ${events.length} snapshot block(s)`);

  // ------------------------------------------------------------------ the published tree
  check(
    'published tree',
    published.problem === null,
    published.problem === null
      ? 'a valid StandardMerkleTree dump: every leaf and node recomputed'
      : `not a consistent tree: ${published.problem}`,
  );
  const expectedLeaves = new Map(recomputed.holders.map((h) => [h.account.toLowerCase(), h.cumulative]));
  const { differences, differenceCount } = leafDifferences(
    expectedLeaves,
    published.leaves,
    parameters.maxDifferences ?? 10,
    published.malformed,
  );
  check(
    'leaves',
    differenceCount === 0 && published.leaves.size === published.count,
    differenceCount === 0
      ? `${expectedLeaves.size} leaves, every account's cumulative amount as recomputed`
      : `${differenceCount} of ${expectedLeaves.size} expected leaves differ`,
  );
  const expectedRoot = recomputed.tree.root;
  check(
    'root (published)',
    published.root === expectedRoot,
    `published ${published.root}, recomputed ${expectedRoot}`,
  );

  // ------------------------------------------------------------------ what the Distributor committed
  const { proposed, accepted } = history;
  const committed = accepted ?? proposed;
  if (
    check(
      'committed',
      committed !== null,
      committed === null
        ? `no RootProposed for distributionId ${history.distributionId} on ${history.distributor}`
        : `${accepted ? 'accepted' : 'proposed (not accepted yet)'} at block ${committed.blockNumber}`,
    ) &&
    committed !== null
  ) {
    check(
      'root (on-chain)',
      committed.root === expectedRoot,
      `committed ${committed.root}, recomputed ${expectedRoot}`,
    );
    check(
      'tree hash',
      committed.treeHash === published.treeHash,
      `committed ${committed.treeHash}, keccak256(dump) ${published.treeHash}`,
    );
    check(
      'total',
      committed.total === recomputed.total,
      `committed ${committed.total}, recomputed ${recomputed.total}`,
    );
    if (proposed && accepted) {
      check(
        'accepted == proposed',
        proposed.root === accepted.root && proposed.treeHash === accepted.treeHash,
        `proposed ${proposed.root}, accepted ${accepted.root}`,
      );
    }
  }

  const reasons = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  return { agree: reasons.length === 0, reasons, checks, differences, differenceCount };
}
