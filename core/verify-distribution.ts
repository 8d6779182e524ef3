/**
 * Independent check of a published distribution (`npm run cli -- verify-distribution`): a holder
 * recomputes it from the chain and the published tree dump alone, trusting our database for
 * nothing but which portfolio and which distribution to look at.
 *
 * From the chain (over any PublicClient):
 * - the Portfolio's terms, tranche tokens and tranche terms, its `OfferingClosed` and every
 *   `RecoveryDistributed` up to this distribution's recovery (logs fetched in bounded ranges from
 *   the block the Portfolio was created in, found with `eth_getCode`);
 * - each recovery's waterfall recomputed with core/domain `computeWaterfall` (terms, sold amounts,
 *   block timestamps) and compared with the event's fees and per-tranche amounts;
 * - the tranche `Transfer` logs up to each snapshot block → balances (cross-checked with
 *   `totalSupply` at that block);
 * - `computeDistribution` chained over every recovery (dust carried per tranche, cumulative per
 *   account) → the expected leaves → the expected tree (core/distributions/tree/merkle.ts);
 * - the Distributor's `RootProposed` / `RootAccepted` logs for this distribution id.
 *
 * Then: expected root == published root == committed root, keccak256(dump bytes) == committed
 * treeHash, expected total == committed total, every published leaf == expected (first differences
 * listed). Pure over its inputs apart from the RPC reads.
 */
import {
  type AbiEvent,
  type Address,
  getAddress,
  type Hex,
  isAddress,
  keccak256,
  type Log,
  type PublicClient,
  parseEventLogs,
  toEventSelector,
  zeroAddress,
} from 'viem';
import { waterfallModeFromIndex } from './chain/actions.ts';
import { distributorAbi, portfolioAbi, trancheTokenAbi } from './chain/generated/index.ts';
import { computeDistribution, distributionChainId } from './distributions/compute.ts';
import { buildDistributionTree, loadDistributionTreeJson } from './distributions/tree/merkle.ts';
import { computeWaterfall, type TrancheState } from './domain/waterfall.ts';

/** What the verifier takes from the API: which distribution of which portfolio. */
export type DistributionToVerify = {
  /** The distribution's uuid (its on-chain `distributionId` is this as a 128-bit integer). */
  id: string;
  chainId?: number | undefined;
  /** The Portfolio contract. */
  portfolio: string;
  recoveryId: bigint | number | string;
};

export type VerifyDistributionParameters = {
  publicClient: PublicClient;
  distribution: DistributionToVerify;
  /** The published tree dump bytes (GET /v1/distributions/:id/tree). */
  treeBytes: Uint8Array;
  /** First block to read logs from (default: the block the Portfolio's code appeared in). */
  fromBlock?: bigint | undefined;
  /** Largest block range of one eth_getLogs (default 2000; halved on "too many results"). */
  blockRange?: bigint | undefined;
  /** Leaf differences listed (default 10). */
  maxDifferences?: number | undefined;
  /** Progress lines. */
  progress?: ((line: string) => void) | undefined;
};

export type LeafDifference = { account: Address; expected: bigint | null; published: bigint | null };

export type VerifyCheck = { name: string; ok: boolean; detail: string };

export type VerifiedRecovery = {
  recoveryId: bigint;
  blockNumber: bigint;
  snapshotBlock: bigint;
  amount: bigint;
  /** Per tranche: interest + principal + residual of the event. */
  trancheTotals: bigint[];
  carryIn: bigint[];
  distributed: bigint[];
  dustOut: bigint[];
  supplies: bigint[];
  holders: number;
  payout: bigint;
};

export type VerifyDistributionResult = {
  agree: boolean;
  reasons: string[];
  checks: VerifyCheck[];
  recoveries: VerifiedRecovery[];
  expected: { root: Hex; total: bigint; leaves: number };
  published: { root: Hex | null; leaves: number; treeHash: Hex };
  committed: {
    distributionId: bigint;
    proposed: { root: Hex; total: bigint; treeHash: Hex; blockNumber: bigint } | null;
    accepted: { root: Hex; total: bigint; treeHash: Hex; blockNumber: bigint } | null;
    currentRoot: Hex;
  };
  differences: LeafDifference[];
  differenceCount: number;
  /** The readable report, ending with `agree` or `DISAGREE: <reasons>`. */
  report: string;
};

/** A failure to read what is needed (RPC down, not a Portfolio, recovery missing): not a disagreement. */
export class VerifyInputError extends Error {
  override name = 'VerifyInputError';
}

const TOO_MANY =
  /too many|more than \d+ (results|logs)|query returned more|limit exceeded|response size|range is too large|block range|exceed/i;

function isTooMany(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (TOO_MANY.test(e.message) || (e as { code?: number }).code === -32005) return true;
    if (e.name === 'ResponseBodyTooLargeError') return true;
  }
  return false;
}

/**
 * eth_getLogs over [fromBlock, toBlock] in ranges of at most `range` blocks (halved while the node
 * answers "too many results"); `stop` ends early after a range whose logs satisfy it.
 */
export async function getLogsInRanges(
  client: PublicClient,
  parameters: {
    address: Address | Address[];
    events: readonly AbiEvent[];
    args?: Record<string, unknown>;
    fromBlock: bigint;
    toBlock: bigint;
    range?: bigint;
    stop?: (logs: Log[]) => boolean;
  },
): Promise<Log[]> {
  const out: Log[] = [];
  const maxRange = parameters.range ?? 2000n;
  let range = maxRange;
  let from = parameters.fromBlock;
  while (from <= parameters.toBlock) {
    const to = from + range - 1n < parameters.toBlock ? from + range - 1n : parameters.toBlock;
    let logs: Log[];
    try {
      logs = (await client.request({
        method: 'eth_getLogs',
        params: [
          {
            address: parameters.address,
            topics: [parameters.events.map((e) => eventSelector(e))],
            fromBlock: `0x${from.toString(16)}`,
            toBlock: `0x${to.toString(16)}`,
          },
        ],
      })) as unknown as Log[];
    } catch (error) {
      if (isTooMany(error) && to > from) {
        range = (to - from + 1n) / 2n || 1n;
        continue;
      }
      throw error;
    }
    // raw RPC logs carry hex quantities: the numbers compared and passed on below are bigints
    const chunk = logs.map(
      (log) =>
        ({
          ...log,
          blockNumber: BigInt(log.blockNumber ?? 0),
          logIndex: Number(log.logIndex ?? 0),
          transactionIndex: Number(log.transactionIndex ?? 0),
        }) as Log,
    );
    for (const log of chunk) out.push(log);
    from = to + 1n;
    if (range < maxRange) range = range * 2n > maxRange ? maxRange : range * 2n;
    if (parameters.stop?.(chunk)) break;
  }
  return out;
}

const eventSelector = (event: AbiEvent): Hex => toEventSelector(event);

const eventOf = (abi: readonly unknown[], name: string) =>
  (abi as AbiEvent[]).find((item) => item.type === 'event' && item.name === name) as AbiEvent;

const compareLogs = (a: Log, b: Log) =>
  a.blockNumber === b.blockNumber
    ? (a.logIndex ?? 0) - (b.logIndex ?? 0)
    : (a.blockNumber ?? 0n) < (b.blockNumber ?? 0n)
      ? -1
      : 1;

/** First block where `address` has code (binary search over eth_getCode; archive reads). */
export async function findCreationBlock(
  client: PublicClient,
  address: Address,
  head: bigint,
): Promise<bigint> {
  const hasCode = async (blockNumber: bigint) => {
    const code = await client.getCode({ address, blockNumber });
    return code !== undefined && code !== '0x';
  };
  if (!(await hasCode(head))) throw new VerifyInputError(`${address} has no code at block ${head}`);
  let low = 0n;
  let high = head;
  while (low < high) {
    const mid = (low + high) / 2n;
    if (await hasCode(mid)) high = mid;
    else low = mid + 1n;
  }
  return low;
}

export async function verifyDistribution(
  parameters: VerifyDistributionParameters,
): Promise<VerifyDistributionResult> {
  const { publicClient: client, treeBytes } = parameters;
  const progress = parameters.progress ?? (() => {});
  const range = parameters.blockRange ?? 2000n;
  const maxDifferences = parameters.maxDifferences ?? 10;
  const portfolio = getAddress(parameters.distribution.portfolio);
  const recoveryId = BigInt(parameters.distribution.recoveryId);
  const distributionId = distributionChainId(parameters.distribution.id);
  const checks: VerifyCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    return ok;
  };

  // ------------------------------------------------------------------ the portfolio on-chain
  const chainId = await client.getChainId();
  if (parameters.distribution.chainId !== undefined) {
    check(
      'chain',
      chainId === parameters.distribution.chainId,
      `RPC chain ${chainId}, distribution on chain ${parameters.distribution.chainId}`,
    );
  }
  const head = await client.getBlockNumber();
  const code = await client.getCode({ address: portfolio });
  if (code === undefined || code === '0x')
    throw new VerifyInputError(`${portfolio} is not a contract on chain ${chainId}`);
  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    client.readContract({ address: portfolio, abi: portfolioAbi, functionName, args } as never) as Promise<T>;
  const terms = await read<{
    distributor: Address;
    servicerFeeBps: number;
    protocolFeeBps: number;
    mode: number;
  }>('terms');
  const count = Number(await read<bigint>('trancheCount'));
  const tokens: Address[] = [];
  const trancheTerms: { face: bigint; couponBps: number }[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push(getAddress(await read<Address>('trancheToken', [BigInt(i)])));
    trancheTerms.push(await read<{ face: bigint; couponBps: number }>('trancheTerms', [BigInt(i)]));
  }
  const distributor = getAddress(terms.distributor);
  const fromBlock = parameters.fromBlock ?? (await findCreationBlock(client, portfolio, head));
  progress(
    `portfolio ${portfolio} (chain ${chainId}, created at block ${fromBlock}): ${count} tranches, distributor ${distributor}`,
  );

  // ------------------------------------------------------------------ recoveries
  const closedEvent = eventOf(portfolioAbi, 'OfferingClosed');
  const recoveryEvent = eventOf(portfolioAbi, 'RecoveryDistributed');
  const portfolioLogs = await getLogsInRanges(client, {
    address: portfolio,
    events: [closedEvent, recoveryEvent],
    fromBlock,
    toBlock: head,
    range,
    stop: (logs) =>
      parseEventLogs({ abi: portfolioAbi, logs: logs as never, eventName: 'RecoveryDistributed' }).some(
        (l) => l.args.recoveryId >= recoveryId,
      ),
  });
  portfolioLogs.sort(compareLogs);
  const closed = parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'OfferingClosed',
  })[0];
  if (closed === undefined) throw new VerifyInputError(`${portfolio}: no OfferingClosed event`);
  const events = parseEventLogs({
    abi: portfolioAbi,
    logs: portfolioLogs as never,
    eventName: 'RecoveryDistributed',
  })
    .filter((l) => l.args.recoveryId <= recoveryId)
    .sort((a, b) => (a.args.recoveryId < b.args.recoveryId ? -1 : 1));
  if (events.length === 0 || events[events.length - 1].args.recoveryId !== recoveryId) {
    throw new VerifyInputError(`${portfolio}: no RecoveryDistributed event with recoveryId ${recoveryId}`);
  }
  check(
    'recoveries',
    events.every((e, i) => e.args.recoveryId === BigInt(i + 1)),
    `RecoveryDistributed ${events.map((e) => e.args.recoveryId).join(', ')} found`,
  );
  progress(`${events.length} recoveries up to #${recoveryId}; offering closed at ${closed.args.closedAt}`);

  // ------------------------------------------------------------------ the waterfall, recomputed
  let state: TrancheState[] = trancheTerms.map((t, i) => ({
    face: t.face,
    couponBps: Number(t.couponBps),
    outstanding: closed.args.sold[i] ?? 0n,
    interestArrears: 0n,
  }));
  let previousAt = closed.args.closedAt;
  const fees = { servicerBps: Number(terms.servicerFeeBps), protocolBps: Number(terms.protocolFeeBps) };
  const mode = waterfallModeFromIndex(Number(terms.mode));
  for (const event of events) {
    const block = await client.getBlock({ blockNumber: event.blockNumber });
    const expected = computeWaterfall({
      tranches: state,
      fees,
      mode,
      elapsedSeconds: block.timestamp - previousAt,
      amount: event.args.amount,
    });
    const a = event.args;
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
    check(
      `waterfall #${a.recoveryId}`,
      mismatches.length === 0,
      mismatches.length === 0
        ? `amount ${a.amount}: fees ${a.servicerFee} + ${a.protocolFee}, tranches ${expected.tranches.map((t) => t.total).join(' / ')}, undistributed ${a.undistributed}`
        : mismatches.slice(0, 5).join('; '),
    );
    state = expected.state;
    previousAt = block.timestamp;
  }

  // ------------------------------------------------------------------ balances at each snapshot
  const lastSnapshot = events[events.length - 1].args.snapshotBlock;
  const transferEvent = eventOf(trancheTokenAbi, 'Transfer');
  const transferLogs = parseEventLogs({
    abi: trancheTokenAbi,
    eventName: 'Transfer',
    logs: (await getLogsInRanges(client, {
      address: tokens,
      events: [transferEvent],
      fromBlock,
      toBlock: lastSnapshot,
      range,
    })) as never,
  }).sort(compareLogs as never);
  progress(`${transferLogs.length} tranche transfers up to block ${lastSnapshot}`);
  const trancheOf = new Map(tokens.map((t, i) => [t.toLowerCase(), i]));
  const balances = tokens.map(() => new Map<string, bigint>());
  let next = 0;

  const recoveries: VerifiedRecovery[] = [];
  let previousCumulative = new Map<string, bigint>();
  let carry = tokens.map(() => 0n);
  let holders: { account: string; payout: bigint; cumulative: bigint }[] = [];
  for (const event of events) {
    const snapshot = event.args.snapshotBlock;
    for (; next < transferLogs.length && (transferLogs[next].blockNumber ?? 0n) <= snapshot; next++) {
      const log = transferLogs[next];
      const i = trancheOf.get(log.address.toLowerCase());
      if (i === undefined) continue;
      const { from, to, value } = log.args;
      const map = balances[i];
      if (from !== zeroAddress) map.set(from.toLowerCase(), (map.get(from.toLowerCase()) ?? 0n) - value);
      if (to !== zeroAddress) map.set(to.toLowerCase(), (map.get(to.toLowerCase()) ?? 0n) + value);
    }
    const supplies: bigint[] = [];
    const inputs = tokens.map((token, i) => {
      const list = [...balances[i]]
        .filter(([, b]) => b !== 0n)
        .map(([account, balance]) => ({ account, balance }));
      return { token, i, list };
    });
    for (const { token, i, list } of inputs) {
      const sum = list.reduce((s, b) => s + b.balance, 0n);
      const supply = (await client.readContract({
        address: token,
        abi: trancheTokenAbi,
        functionName: 'totalSupply',
        blockNumber: snapshot,
      })) as bigint;
      supplies.push(supply);
      if (sum !== supply || list.some((b) => b.balance < 0n)) {
        check(
          `balances #${event.args.recoveryId} tranche ${i}`,
          false,
          `Transfer logs sum to ${sum} at block ${snapshot}, totalSupply is ${supply}`,
        );
      }
    }
    const trancheTotals = tokens.map(
      (_, i) =>
        (event.args.interest[i] ?? 0n) + (event.args.principal[i] ?? 0n) + (event.args.residual[i] ?? 0n),
    );
    const result = computeDistribution({
      tranches: inputs.map(({ i, list }) => ({
        trancheId: i,
        amount: trancheTotals[i],
        carryIn: carry[i],
        balances: list.filter((b) => b.balance > 0n),
      })),
      previousCumulative,
    });
    recoveries.push({
      recoveryId: event.args.recoveryId,
      blockNumber: event.blockNumber,
      snapshotBlock: snapshot,
      amount: event.args.amount,
      trancheTotals,
      carryIn: carry,
      distributed: result.perTranche.map((t) => t.distributed),
      dustOut: result.perTranche.map((t) => t.dustOut),
      supplies,
      holders: result.holders.length,
      payout: result.totalPayout,
    });
    carry = result.perTranche.map((t) => t.dustOut);
    previousCumulative = new Map(result.holders.map((h) => [h.account, h.cumulative]));
    holders = result.holders;
  }
  check(
    'balances',
    !checks.some((c) => c.name.startsWith('balances #')),
    `Transfer logs match totalSupply at ${events.length} snapshot block(s)`,
  );

  // ------------------------------------------------------------------ trees
  const expectedTree = buildDistributionTree(
    holders.map((h) => ({ account: h.account, amount: h.cumulative })),
  );
  const expectedTotal = holders.reduce((s, h) => s + h.cumulative, 0n);
  const treeHash = keccak256(treeBytes);
  // the published leaves: from the checked tree (flat buffers, fast for big trees), or, when it is
  // not a consistent tree, from the raw JSON so that the differences can still be listed
  let publishedRoot: Hex | null = null;
  const publishedLeaves = new Map<string, bigint>();
  let publishedCount = 0;
  let malformed = 0;
  try {
    const tree = loadDistributionTreeJson(treeBytes);
    check('published tree', true, 'a valid StandardMerkleTree dump: every leaf and node recomputed');
    publishedRoot = tree.root;
    publishedCount = tree.length;
    for (let k = 0; k < tree.length; k++) publishedLeaves.set(tree.account(k).toLowerCase(), tree.amount(k));
  } catch (error) {
    const issues = (error as { issues?: { field: string; message: string }[] }).issues;
    check(
      'published tree',
      false,
      `not a consistent tree: ${issues?.map((i) => `${i.field} ${i.message}`).join('; ') ?? (error as Error).message}`,
    );
    try {
      const dump = JSON.parse(new TextDecoder().decode(treeBytes)) as {
        tree?: unknown[];
        values?: { value?: unknown[] }[];
      };
      publishedRoot = typeof dump.tree?.[0] === 'string' ? (dump.tree[0] as Hex) : null;
      for (const item of Array.isArray(dump.values) ? dump.values : []) {
        publishedCount++;
        try {
          const [account, amount] = item.value as [string, string];
          publishedLeaves.set(String(account).toLowerCase(), BigInt(amount));
        } catch {
          malformed++;
        }
      }
    } catch {}
  }

  // leaves
  const expectedLeaves = new Map(holders.map((h) => [h.account.toLowerCase(), h.cumulative]));
  const differences: LeafDifference[] = [];
  let differenceCount = malformed;
  for (const account of [...new Set([...expectedLeaves.keys(), ...publishedLeaves.keys()])].sort()) {
    const expected = expectedLeaves.get(account) ?? null;
    const published = publishedLeaves.get(account) ?? null;
    if (expected === published) continue;
    differenceCount++;
    if (differences.length < maxDifferences)
      differences.push({
        account: (isAddress(account, { strict: false }) ? getAddress(account) : account) as Address,
        expected,
        published,
      });
  }
  check(
    'leaves',
    differenceCount === 0 && publishedLeaves.size === publishedCount,
    differenceCount === 0
      ? `${expectedLeaves.size} leaves, every account's cumulative amount as recomputed`
      : `${differenceCount} of ${expectedLeaves.size} expected leaves differ`,
  );
  check(
    'root (published)',
    publishedRoot === expectedTree.root,
    `published ${publishedRoot}, recomputed ${expectedTree.root}`,
  );

  // ------------------------------------------------------------------ what the Distributor committed
  const proposedEvent = eventOf(distributorAbi, 'RootProposed');
  const acceptedEvent = eventOf(distributorAbi, 'RootAccepted');
  const distributorLogs = (
    await getLogsInRanges(client, {
      address: distributor,
      events: [proposedEvent, acceptedEvent],
      fromBlock,
      toBlock: head,
      range,
    })
  ).sort(compareLogs);
  const forId = <N extends 'RootProposed' | 'RootAccepted'>(eventName: N) =>
    parseEventLogs({ abi: distributorAbi, logs: distributorLogs as never, eventName }).filter(
      (l) => (l.args as { distributionId: bigint }).distributionId === distributionId,
    );
  const lastOf = (logs: ReturnType<typeof forId>) => {
    const l = logs.at(-1);
    if (l === undefined) return null;
    const args = l.args as { root: Hex; total: bigint; treeHash: Hex };
    return { root: args.root, total: args.total, treeHash: args.treeHash, blockNumber: l.blockNumber };
  };
  const proposed = lastOf(forId('RootProposed'));
  const accepted = lastOf(forId('RootAccepted'));
  const currentRoot = (await client.readContract({
    address: distributor,
    abi: distributorAbi,
    functionName: 'root',
  })) as Hex;
  const committed = accepted ?? proposed;
  if (
    check(
      'committed',
      committed !== null,
      committed === null
        ? `no RootProposed for distributionId ${distributionId} on ${distributor}`
        : `${accepted ? 'accepted' : 'proposed (not accepted yet)'} at block ${committed.blockNumber}`,
    ) &&
    committed !== null
  ) {
    check(
      'root (on-chain)',
      committed.root === expectedTree.root,
      `committed ${committed.root}, recomputed ${expectedTree.root}`,
    );
    check(
      'tree hash',
      committed.treeHash === treeHash,
      `committed ${committed.treeHash}, keccak256(dump) ${treeHash}`,
    );
    check(
      'total',
      committed.total === expectedTotal,
      `committed ${committed.total}, recomputed ${expectedTotal}`,
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
  const agree = reasons.length === 0;
  const result: Omit<VerifyDistributionResult, 'report'> = {
    agree,
    reasons,
    checks,
    recoveries,
    expected: { root: expectedTree.root, total: expectedTotal, leaves: expectedTree.length },
    published: { root: publishedRoot, leaves: publishedCount, treeHash },
    committed: { distributionId, proposed, accepted, currentRoot },
    differences,
    differenceCount,
  };
  return { ...result, report: formatVerifyReport(parameters.distribution, result) };
}

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

/** What `fetchPublishedDistribution` reads from the API: the distribution and its tree dump bytes. */
export type PublishedDistribution = { distribution: DistributionToVerify; treeBytes: Uint8Array };

/**
 * GET `<apiUrl>/v1/distributions/<id>` and `.../tree`. Only the portfolio, chain and recovery id are
 * taken from the first; the tree bytes are checked by `verifyDistribution`. Throws `VerifyInputError`
 * when the API cannot be reached or answers an error (404 unknown id, 409 tree not built yet).
 */
export async function fetchPublishedDistribution(
  apiUrl: string,
  id: string,
  fetchImpl: typeof fetch = fetch,
): Promise<PublishedDistribution> {
  const base = apiUrl.replace(/\/+$/, '');
  const get = async (url: string) => {
    let res: Response;
    try {
      res = await fetchImpl(url);
    } catch (error) {
      throw new VerifyInputError(`cannot reach ${url}: ${(error as Error).message.split('\n')[0]}`, {
        cause: error,
      });
    }
    if (!res.ok) {
      const body = await res.text().catch(() => '');
      let message = body.slice(0, 300);
      try {
        message = (JSON.parse(body) as { message?: string }).message ?? message;
      } catch {}
      throw new VerifyInputError(`${url} answered ${res.status}: ${message}`);
    }
    return res;
  };
  const detailUrl = `${base}/v1/distributions/${id}`;
  const detail = (await (await get(detailUrl)).json().catch(() => null)) as {
    chainId?: unknown;
    portfolio?: unknown;
    recoveryId?: unknown;
  } | null;
  if (
    detail === null ||
    typeof detail.portfolio !== 'string' ||
    !/^0x[0-9a-fA-F]{40}$/.test(detail.portfolio) ||
    typeof detail.recoveryId !== 'string' ||
    !/^\d{1,78}$/.test(detail.recoveryId)
  ) {
    throw new VerifyInputError(`${detailUrl} is not a distribution (no portfolio address or recoveryId)`);
  }
  const treeBytes = new Uint8Array(await (await get(`${detailUrl}/tree`)).arrayBuffer());
  return {
    distribution: {
      id,
      chainId: typeof detail.chainId === 'number' ? detail.chainId : undefined,
      portfolio: detail.portfolio,
      recoveryId: detail.recoveryId,
    },
    treeBytes,
  };
}
