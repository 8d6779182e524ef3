import type { Address, TransactionReceipt } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approve } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import { createChainClients, withAccount } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { createIndexer, type Indexer } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  depositFinalRecovery,
  fundReserve,
  portfolioLogs,
  proposeResolution,
  runV2Scenario,
  USD,
  V2_FUNDINGS,
  V2_PLAN,
  V2_TERMS,
  type V2Scenario,
  vetoResolution,
} from '../helpers/portfolio-v2.ts';

/**
 * The indexer on the five spec-v2 Portfolio events (RecoveryTriggerAndReserve, ReserveFunded,
 * ResolutionProposed, ResolutionVetoed, PortfolioResolved) on a real anvil and Postgres: every row
 * equals its log in the receipts, to the unit, and the rows of orphaned blocks go on a reorg.
 */

let tdb: TestDatabase;
let anvil: AnvilInstance;
let platform: ChainClients;
let servicer: ChainClients;
let treasury: ChainClients;
let guardian: ChainClients;
let holders: ChainClients[];
let stack: DeployedStack;
let testClient: ReturnType<typeof createAnvilTestClient>;
let scenario: V2Scenario;

const V2_TABLES = [
  'recovery_trigger_reserve_event',
  'reserve_funded_event',
  'resolution_proposed_event',
  'resolution_vetoed_event',
  'portfolio_resolved_event',
  'portfolio_resolved_event_tranche',
];

function newIndexer(confirmations = 0): Indexer {
  return createIndexer({ db: tdb, publicClient: platform.publicClient, stack, confirmations, blockRange: 9 });
}

const n = (d: { toFixed: () => string }) => BigInt(d.toFixed());
const byChainOrder = (a: { blockNumber: bigint; logIndex: number }, b: typeof a) =>
  a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1;

/** The indexed v2 rows of `portfolio` in the shape `expectedRows` builds from receipts. */
async function indexedRows(portfolio: Address) {
  const where = { chainId: stack.chainId, portfolio };
  const key = (r: { txHash: string; logIndex: number; blockNumber: bigint }) => ({
    txHash: r.txHash,
    logIndex: r.logIndex,
    blockNumber: r.blockNumber,
  });
  const triggerReserve = (await tdb.prisma.recoveryTriggerReserveEvent.findMany({ where }))
    .sort(byChainOrder)
    .map((r) => ({
      ...key(r),
      portfolio: r.portfolio,
      recoveryId: n(r.recoveryId),
      triggerBreached: r.triggerBreached,
      collected: n(r.collected),
      planned: n(r.planned),
      released: n(r.released),
      drawn: n(r.drawn),
      replenished: n(r.replenished),
      reserveBalance: n(r.reserveBalance),
    }));
  const reserveFunded = (await tdb.prisma.reserveFundedEvent.findMany({ where }))
    .sort(byChainOrder)
    .map((r) => ({
      ...key(r),
      portfolio: r.portfolio,
      from: r.from,
      amount: n(r.amount),
      balance: n(r.balance),
    }));
  const proposed = (await tdb.prisma.resolutionProposedEvent.findMany({ where }))
    .sort(byChainOrder)
    .map((r) => ({ ...key(r), portfolio: r.portfolio, executableAt: r.executableAt }));
  const vetoed = (await tdb.prisma.resolutionVetoedEvent.findMany({ where }))
    .sort(byChainOrder)
    .map((r) => ({ ...key(r), portfolio: r.portfolio, guardian: r.guardian, executableAt: r.executableAt }));
  const resolvedRows = (await tdb.prisma.portfolioResolvedEvent.findMany({ where })).sort(byChainOrder);
  const resolved = [];
  for (const r of resolvedRows) {
    const tranches = await tdb.prisma.portfolioResolvedEventTranche.findMany({
      where: { chainId: stack.chainId, txHash: r.txHash, logIndex: r.logIndex },
      orderBy: { trancheIndex: 'asc' },
    });
    expect(tranches.every((t) => t.blockNumber === r.blockNumber)).toBe(true);
    resolved.push({
      ...key(r),
      portfolio: r.portfolio,
      recoveryId: n(r.recoveryId),
      tranches: tranches.map((t) => [t.trancheIndex, n(t.principalWrittenOff), n(t.interestWrittenOff)]),
    });
  }
  return { triggerReserve, reserveFunded, proposed, vetoed, resolved };
}

/** The same rows, straight from the logs of `receipts` (viem's decoding of the generated ABI). */
function expectedRows(receipts: readonly TransactionReceipt[], portfolio: Address) {
  const logs = portfolioLogs(receipts, portfolio);
  const key = (l: (typeof logs)[number]) => ({
    txHash: l.transactionHash,
    logIndex: l.logIndex,
    blockNumber: l.blockNumber,
    portfolio,
  });
  const rows = {
    triggerReserve: [] as unknown[],
    reserveFunded: [] as unknown[],
    proposed: [] as unknown[],
    vetoed: [] as unknown[],
    resolved: [] as unknown[],
  };
  for (const l of logs) {
    if (l.eventName === 'RecoveryTriggerAndReserve') rows.triggerReserve.push({ ...key(l), ...l.args });
    else if (l.eventName === 'ReserveFunded') rows.reserveFunded.push({ ...key(l), ...l.args });
    else if (l.eventName === 'ResolutionProposed') rows.proposed.push({ ...key(l), ...l.args });
    else if (l.eventName === 'ResolutionVetoed') rows.vetoed.push({ ...key(l), ...l.args });
    else if (l.eventName === 'PortfolioResolved') {
      rows.resolved.push({
        ...key(l),
        recoveryId: l.args.recoveryId,
        tranches: l.args.principalWrittenOff.map((p, i) => [i, p, l.args.interestWrittenOff[i]]),
      });
    }
  }
  return rows;
}

const read = <T>(portfolio: Address, functionName: 'reserve' | 'resolution', blockNumber: bigint) =>
  platform.publicClient.readContract({
    address: portfolio,
    abi: portfolioAbi,
    functionName,
    blockNumber,
  }) as Promise<T>;

beforeAll(async () => {
  [tdb, anvil] = await Promise.all([createTestDatabase(), startAnvil({ accounts: 8 })]);
  const [a0, , a2, a3, a4, a5, a6] = anvil.accounts;
  platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
  servicer = withAccount(platform, a2.privateKey);
  treasury = withAccount(platform, a3.privateKey);
  guardian = withAccount(platform, a4.privateKey);
  holders = [a5, a6].map((a) => withAccount(platform, a.privateKey));
  testClient = createAnvilTestClient(anvil.rpcUrl);
  stack = await deployStack(platform, { timelockDelay: 5 });
  scenario = await runV2Scenario(platform, { stack, testClient, servicer, treasury, guardian, holders });
}, 180_000);

afterAll(async () => {
  await anvil?.stop();
  await tdb?.drop();
});

describe('the spec-v2 Portfolio events', () => {
  it('are stored one row per log, every field equal to the receipts’ logs', async () => {
    const result = await newIndexer().syncOnce();
    expect(result.toBlock).toBe(await platform.publicClient.getBlockNumber());
    const portfolio = scenario.created.portfolio;
    const expected = expectedRows(scenario.receipts, portfolio);
    // the scenario emits every kind: 2 fundings, 3 recoveries (2 ordinary + the final), 2 proposals, 1 veto
    expect(expected.reserveFunded).toHaveLength(2);
    expect(expected.triggerReserve).toHaveLength(3);
    expect(expected.proposed).toHaveLength(2);
    expect(expected.vetoed).toHaveLength(1);
    expect(expected.resolved).toHaveLength(1);
    expect(await indexedRows(portfolio)).toEqual(expected);
  });

  it('carries the chain’s state: reserve balances, collections, plan, breach and write-offs', async () => {
    const portfolio = scenario.created.portfolio;
    const rows = await indexedRows(portfolio);

    // ReserveFunded: from the issuer treasury; balance = Portfolio.reserve().balance at that block
    let funded = 0n;
    for (const row of rows.reserveFunded) {
      expect(row.from).toBe(treasury.account.address);
      funded += row.amount;
      const [balance, fundedToDate] = await read<[bigint, bigint]>(portfolio, 'reserve', row.blockNumber);
      expect(row.balance).toBe(balance);
      expect(fundedToDate).toBe(funded);
    }
    expect(rows.reserveFunded.map((r) => r.amount)).toEqual([...V2_FUNDINGS]);

    // RecoveryTriggerAndReserve: collected = running sum of amounts, planned = the plan's last point at the
    // clock (block time - close time), breached = collected * 10000 < ratio * planned, the reserve balance
    // = Portfolio.reserve() after the recovery
    const closedAt = (
      await platform.publicClient.getBlock({ blockNumber: scenario.closeReceipt.blockNumber })
    ).timestamp;
    let collected = 0n;
    for (const [k, row] of rows.triggerReserve.entries()) {
      expect(row.recoveryId).toBe(BigInt(k + 1));
      collected += scenario.amounts[k];
      expect(row.collected).toBe(collected);
      const at = (await platform.publicClient.getBlock({ blockNumber: row.blockNumber })).timestamp;
      const clock = at - closedAt;
      const planned = [...V2_PLAN].reverse().find((p) => p.atSeconds <= clock)?.cumulative ?? 0n;
      expect(row.planned).toBe(planned);
      expect(row.triggerBreached).toBe(
        collected * 10_000n < BigInt(V2_TERMS.trigger.collectionRatioBps) * planned,
      );
      const [balance] = await read<[bigint, bigint]>(portfolio, 'reserve', row.blockNumber);
      expect(row.reserveBalance).toBe(balance);
    }
    expect(rows.triggerReserve.map((r) => r.triggerBreached)).toEqual([true, false, false]);
    // recovery 1 drew on the reserve for the senior's interest, recovery 2 replenished it
    expect(rows.triggerReserve[0].drawn).toBeGreaterThan(0n);
    expect(rows.triggerReserve[1].replenished).toBeGreaterThan(0n);
    // the final recovery releases the whole reserve
    const last = rows.triggerReserve.at(-1);
    expect(last?.reserveBalance).toBe(0n);
    expect(last?.released).toBeGreaterThan(0n);

    // proposals: executableAt = block time + the resolution delay; the veto names the vetoed one
    for (const row of rows.proposed) {
      const at = (await platform.publicClient.getBlock({ blockNumber: row.blockNumber })).timestamp;
      expect(row.executableAt).toBe(at + BigInt(V2_TERMS.resolutionDelay));
    }
    expect(rows.vetoed).toEqual([
      expect.objectContaining({
        guardian: guardian.account.address,
        executableAt: rows.proposed[0].executableAt,
      }),
    ]);

    // resolved by the final recovery (id 3); something of the debt tranches was written off
    const [resolved] = rows.resolved;
    expect(resolved.recoveryId).toBe(3n);
    expect(resolved.txHash).toBe(rows.triggerReserve[2].txHash);
    expect(resolved.tranches).toHaveLength(3);
    expect(resolved.tranches[2]).toEqual([2, 0n, 0n]);
    expect(resolved.tranches.reduce((s, [, p, i]) => s + (p as bigint) + (i as bigint), 0n)).toBeGreaterThan(
      0n,
    );
    const [, isResolved] = await read<[bigint, boolean]>(portfolio, 'resolution', resolved.blockNumber);
    expect(isResolved).toBe(true);
  });

  it('changes nothing when the same blocks are indexed again', async () => {
    const dump = async () => {
      const out: Record<string, string[]> = {};
      for (const table of V2_TABLES) {
        const { rows } = await tdb.pool.query(`SELECT * FROM ${table}`);
        out[table] = rows.map((r) => JSON.stringify(r)).sort();
      }
      return out;
    };
    const before = await dump();
    await tdb.pool.query(
      "UPDATE indexer_cursor SET indexed_block = $1, indexed_hash = '' WHERE chain_id = $2",
      [stack.startBlock - 1, stack.chainId],
    );
    const replay = await newIndexer().syncOnce();
    expect(replay.logs).toBeGreaterThan(9);
    expect(await dump()).toEqual(before);
  });
});

describe('a reorg', () => {
  it('removes the v2 rows of the orphaned blocks and indexes the new branch', async () => {
    // a second v2 portfolio, closed and indexed; everything after the snapshot is orphaned
    const second = await runV2Scenario(platform, {
      stack,
      testClient,
      servicer,
      treasury,
      guardian,
      holders,
      until: 'closed',
    });
    const portfolio = second.created.portfolio;
    const indexer = newIndexer(64);
    await indexer.syncOnce();
    const kept = await indexedRows(portfolio);
    expect(kept.reserveFunded).toHaveLength(1);
    const firstPortfolioRows = await indexedRows(scenario.created.portfolio);

    const snapshot = await testClient.snapshot();
    const orphaned: TransactionReceipt[] = [];
    orphaned.push(await fundReserve(platform, treasury, { stack, portfolio, amount: USD(7_000) }));
    orphaned.push(await proposeResolution(servicer, portfolio));
    orphaned.push(await vetoResolution(guardian, portfolio));
    orphaned.push(await proposeResolution(servicer, portfolio));
    await testClient.increaseTime({ seconds: 601 });
    await approve(servicer, {
      token: stack.testStablecoin as Address,
      spender: portfolio,
      amount: USD(1_000),
    });
    orphaned.push(await depositFinalRecovery(servicer, portfolio, USD(1_000)));
    await indexer.syncOnce();
    const withOrphans = expectedRows([...second.receipts, ...orphaned], portfolio);
    expect(withOrphans.triggerReserve).toHaveLength(1);
    expect(withOrphans.resolved).toHaveLength(1);
    expect(await indexedRows(portfolio)).toEqual(withOrphans);

    await testClient.revert({ id: snapshot });
    // the new branch: a different funding at the orphaned funding's height
    const replacement = await fundReserve(platform, treasury, { stack, portfolio, amount: USD(3_000) });
    const result = await indexer.syncOnce();
    expect(result.reorg).not.toBeNull();
    expect(result.reorg?.forkBlock).toBeLessThan(orphaned[0].blockNumber);
    expect(result.reorg?.forkBlock).toBeGreaterThanOrEqual(second.closeReceipt.blockNumber);

    const after = await indexedRows(portfolio);
    expect(after).toEqual(expectedRows([...second.receipts, replacement], portfolio));
    expect(after.reserveFunded.map((r) => r.amount)).toEqual([USD(15_000), USD(3_000)]);
    expect(after.triggerReserve).toEqual([]);
    expect(after.proposed).toEqual([]);
    expect(after.vetoed).toEqual([]);
    expect(after.resolved).toEqual([]);
    const orphanTx = orphaned.map((r) => r.transactionHash);
    for (const table of V2_TABLES) {
      const { rows } = await tdb.pool.query(
        `SELECT count(*)::int AS n FROM ${table} WHERE tx_hash = ANY($1)`,
        [orphanTx],
      );
      expect(rows[0].n, table).toBe(0);
    }
    // the rows of blocks below the fork are untouched
    expect(await indexedRows(scenario.created.portfolio)).toEqual(firstPortfolioRows);
  });
});
