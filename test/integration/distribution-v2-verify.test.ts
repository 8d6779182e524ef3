/**
 * verify-distribution on a spec-v2 portfolio, on anvil + Postgres + Redis with the worker running: a
 * portfolio with a 400 bps cash reserve and a 90 % collection-ratio trigger over a business plan,
 * walked through every v2 case the contract has, then distributed by the distribution job (unchanged:
 * it pays each `RecoveryDistributed`'s tranche totals, which already carry the v2 effects) and checked
 * from the chain alone:
 *
 * - the issuer treasury funds the reserve before the close (5 000) and again between recoveries 1 and 2;
 * - recovery 1 comes late and small: the trigger is breached and the senior's interest is drawn from
 *   the reserve; recovery 2 is still behind the plan (breached: the mezzanine's interest waits behind
 *   senior principal) and replenishes the reserve to its target; recovery 3 catches up (cured) and,
 *   the senior amortised, releases what is above the lower target;
 * - the servicer proposes the resolution, the delay passes, and the final recovery releases the whole
 *   reserve and writes off what the mezzanine still owes (PortfolioResolved);
 * - the worker distributes all four (the last after the tranche tokens stopped transferring), and
 *   `verifyDistribution` agrees on each: every waterfall, trigger state, reserve movement, write-off
 *   and ReserveFunded balance as recomputed, the tree and the committed root;
 * - recomputed as a v1 portfolio (the risk terms dropped), the same chain data disagrees.
 */
import { type Address, type Hex, maxUint256, type PublicClient, parseEventLogs } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  approve,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
} from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { distributorAbi, portfolioAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { distributionChainId } from '../../core/distributions/compute.ts';
import { compareDistribution, readPublishedTree } from '../../core/distributions/verify/compare.ts';
import { readDistributionHistory } from '../../core/distributions/verify/history.ts';
import { verifyDistribution } from '../../core/distributions/verify/index.ts';
import { recomputeDistribution } from '../../core/distributions/verify/recompute.ts';
import type { createRedis } from '../../core/platform/queue.ts';
import type { NplWorker } from '../../worker/main.ts';
import { type AnvilInstance, createAnvilTestClient } from '../helpers/anvil.ts';
import type { TestApp } from '../helpers/app.ts';
import {
  type DistributionEnv,
  startDistributionEnv,
  startDistributionWorker,
  waitDistributionsPaid,
} from '../helpers/distribution.ts';
import { allowlistAndBuy, recordPublishedPortfolio } from '../helpers/portfolio.ts';
import { fundServicer } from '../helpers/stack.ts';

const usd = (whole: bigint) => whole * 10n ** 6n;
const DAY = 86_400;
const SCALE = 10n ** 12n;

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(300_000n), couponBps: 800 },
  { name: 'Mezzanine', symbol: 'MEZ', face: usd(150_000n), couponBps: 1_200 },
  { name: 'Equity', symbol: 'EQ', face: usd(100_000n), couponBps: 0 },
];
const fees = { servicerBps: 150, protocolBps: 50 };
/** Per holder, pay units of face of each tranche (everything sold). */
const purchases = [
  [usd(100_000n), usd(50_000n), usd(30_000n)],
  [usd(120_000n), usd(60_000n), usd(40_000n)],
  [usd(80_000n), usd(40_000n), usd(30_000n)],
];

let anvil: AnvilInstance;
let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holders: ChainClients[];
let platform: PlatformChain;
let env: DistributionEnv;
let t: TestApp;
let worker: NplWorker | undefined;
let workerRedis: ReturnType<typeof createRedis>;
let client: PublicClient;

beforeAll(async () => {
  env = await startDistributionEnv({ name: 'verify-v2', accounts: 6, holders: [3, 4, 5] });
  ({ anvil, deployer, stack, servicer, holders, t, platform, workerRedis } = env);
  client = deployer.publicClient as unknown as PublicClient;
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await env?.close();
});

describe('verify-distribution on a spec-v2 portfolio', () => {
  it('agrees on every distribution of a walk with a breach, a draw, a replenishment, a release and a resolution', async () => {
    const testClient = createAnvilTestClient(anvil.rpcUrl);
    const payToken = stack.testStablecoin as Address;
    const now = (await client.getBlock()).timestamp;

    // ---------------------------------------------------------------- a v2 portfolio (the deployer is its issuer treasury)
    const created = await createPortfolio(deployer, {
      factory: stack.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: servicer.account.address,
      rootProposer: platform.clients.account.address,
      timelockDelay: 2,
      servicerFeeBps: fees.servicerBps,
      protocolFeeBps: fees.protocolBps,
      mode: 'interestFirst',
      offeringEnd: now + 30n * 86_400n,
      tranches: tranchesSpec,
      reserve: { targetBps: 400 },
      trigger: {
        collectionRatioBps: 9_000,
        businessPlan: [
          { atSeconds: 90 * DAY, cumulative: usd(100_000n) },
          { atSeconds: 180 * DAY, cumulative: usd(250_000n) },
          { atSeconds: 270 * DAY, cumulative: usd(300_000n) },
          { atSeconds: 360 * DAY, cumulative: usd(450_000n) },
        ],
      },
    });
    const portfolio = created.portfolio;
    await allowlistAndBuy(deployer, {
      stack,
      portfolio,
      holders,
      purchases,
      expiry: now + 10n * 365n * 86_400n,
      cash: usd(1_000_000n),
    });
    await mintTestStablecoin(deployer, {
      token: payToken,
      to: deployer.account.address,
      amount: usd(100_000n),
    });
    await approve(deployer, { token: payToken, spender: portfolio, amount: maxUint256 });
    const fundReserve = (amount: bigint) =>
      sendAndWait(deployer, { contract: 'Portfolio', functionName: 'fundReserve', abi: portfolioAbi }, () =>
        deployer.walletClient.writeContract({
          address: portfolio,
          abi: portfolioAbi,
          functionName: 'fundReserve',
          args: [amount],
        }),
      );
    await fundReserve(usd(5_000n));
    const closed = await closeOffering(deployer, { portfolio });
    expect(closed.sold).toEqual(tranchesSpec.map((s) => s.face));
    const row = await recordPublishedPortfolio(t.db.prisma, {
      name: 'Verify v2',
      servicer: servicer.account.address,
      chainId: anvil.chainId,
      created,
      tranches: tranchesSpec,
      fees,
    });
    await fundServicer(deployer, servicer, { stack, portfolio, amount: usd(1_000_000n) });

    // ---------------------------------------------------------------- the walk
    type V2Event = {
      triggerBreached: boolean;
      released: bigint;
      drawn: bigint;
      replenished: bigint;
      reserveBalance: bigint;
    };
    const v2Events: V2Event[] = [];
    const totals: bigint[][] = [];
    const later = async (days: number) => {
      await testClient.increaseTime({ seconds: days * DAY });
      await testClient.mine({ blocks: 1 });
    };
    const recorded = async (txHash: Hex) => {
      const receipt = await client.getTransactionReceipt({ hash: txHash });
      const [distributed] = parseEventLogs({
        abi: portfolioAbi,
        logs: receipt.logs,
        eventName: 'RecoveryDistributed',
      });
      const [v2] = parseEventLogs({
        abi: portfolioAbi,
        logs: receipt.logs,
        eventName: 'RecoveryTriggerAndReserve',
      });
      expect(v2).toBeDefined();
      v2Events.push(v2.args);
      const a = distributed.args;
      totals.push(a.interest.map((x, i) => x + a.principal[i] + a.residual[i]));
      return receipt;
    };
    const deposit = async (amount: bigint) =>
      recorded((await depositRecovery(servicer, { portfolio, amount })).txHash);

    await later(100);
    await deposit(usd(2_000n));
    // a holder trades between recoveries
    await holders[0].walletClient.writeContract({
      address: created.tranches[1],
      abi: trancheTokenAbi,
      functionName: 'transfer',
      args: [holders[1].account.address, usd(10_000n) * SCALE],
    });
    await fundReserve(usd(10_000n));
    await later(90);
    await deposit(usd(200_000n));
    await later(90);
    await deposit(usd(150_000n));

    await sendAndWait(
      servicer,
      { contract: 'Portfolio', functionName: 'proposeResolution', abi: portfolioAbi },
      () =>
        servicer.walletClient.writeContract({
          address: portfolio,
          abi: portfolioAbi,
          functionName: 'proposeResolution',
        }),
    );
    const [executableAt, resolvedYet] = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'resolution',
    });
    expect(resolvedYet).toBe(false);
    expect(executableAt).toBeGreaterThan(0n);
    await testClient.increaseTime({ seconds: 3 });
    await testClient.mine({ blocks: 1 });
    const final = await sendAndWait(
      servicer,
      { contract: 'Portfolio', functionName: 'depositFinalRecovery', abi: portfolioAbi },
      () =>
        servicer.walletClient.writeContract({
          address: portfolio,
          abi: portfolioAbi,
          functionName: 'depositFinalRecovery',
          args: [usd(20_000n), `0x${'0f'.repeat(32)}`],
        }),
    );
    const finalReceipt = await recorded(final.txHash);
    const [resolved] = parseEventLogs({
      abi: portfolioAbi,
      logs: finalReceipt.logs,
      eventName: 'PortfolioResolved',
    });
    expect(resolved.args.recoveryId).toBe(4n);

    // every v2 case happened on-chain
    expect(v2Events.map((e) => e.triggerBreached)).toEqual([true, true, false, false]);
    expect(v2Events[0].drawn).toBeGreaterThan(0n);
    expect(v2Events[1].replenished).toBeGreaterThan(0n);
    expect(v2Events[2].released).toBeGreaterThan(0n);
    expect(v2Events[3].released).toBeGreaterThan(0n);
    expect(v2Events[3].reserveBalance).toBe(0n);
    expect(resolved.args.principalWrittenOff[1]).toBeGreaterThan(0n);

    // ---------------------------------------------------------------- the distribution job, unchanged
    worker = await startDistributionWorker({ t, redis: workerRedis, platform, stack });
    const rows = await waitDistributionsPaid(t, row.id, 4, { timeoutMs: 300_000, pollMs: 250 });
    await worker.close();
    worker = undefined;
    // it paid each RecoveryDistributed's tranche totals (the final one's include the released reserve)
    const listed = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${row.id}/distributions` });
    const items = listed.json().items as { recoveryId: string; tranches: { amount: string }[] }[];
    expect(items.map((i) => i.tranches.map((x) => BigInt(x.amount)))).toEqual(totals);
    const totalFunded = await client.readContract({
      address: created.distributor,
      abi: distributorAbi,
      functionName: 'totalFunded',
    });
    expect(totalFunded).toBe(totals.flat().reduce((a, b) => a + b, 0n));

    // every holder was paid its whole cumulative amount, after the resolution too
    const lastTree = readPublishedTree(
      (await t.app.inject({ method: 'GET', url: `/v1/distributions/${rows[3].id}/tree` })).rawPayload,
    );
    expect(lastTree.leaves.size).toBe(holders.length);
    for (const [account, cumulative] of lastTree.leaves) {
      const claimed = await client.readContract({
        address: created.distributor,
        abi: distributorAbi,
        functionName: 'claimed',
        args: [account as Address],
      });
      expect(claimed).toBe(cumulative);
    }

    // ---------------------------------------------------------------- the holder's check agrees on each
    for (const [r, distribution] of rows.entries()) {
      const detail = (
        await t.app.inject({ method: 'GET', url: `/v1/distributions/${distribution.id}` })
      ).json();
      const bytes = (await t.app.inject({ method: 'GET', url: `/v1/distributions/${distribution.id}/tree` }))
        .rawPayload;
      const result = await verifyDistribution({
        publicClient: client,
        distribution: detail,
        treeBytes: bytes,
      });
      expect(result.reasons).toEqual([]);
      expect(result.agree).toBe(true);
      expect(result.recoveries).toHaveLength(r + 1);
      const names = result.checks.map((c) => c.name);
      expect(names).toEqual(
        expect.arrayContaining([
          ...rows.slice(0, r + 1).map((_, k) => `waterfall #${k + 1}`),
          'reserve fundings',
        ]),
      );
      const last = result.recoveries[r];
      expect(last.triggerBreached).toBe(v2Events[r].triggerBreached);
      expect(last.reserve?.balanceAfter).toBe(v2Events[r].reserveBalance);
      expect(last.final).toBe(r === 3);
      expect(result.report.trimEnd().split('\n').at(-1)).toBe('agree');
    }
    const verified = await verifyDistribution({
      publicClient: client,
      distribution: { id: rows[3].id, portfolio, recoveryId: 4n, chainId: anvil.chainId },
      treeBytes: (await t.app.inject({ method: 'GET', url: `/v1/distributions/${rows[3].id}/tree` }))
        .rawPayload,
    });
    expect(verified.recoveries[3].writtenOff).toEqual({
      principal: [...resolved.args.principalWrittenOff],
      interest: [...resolved.args.interestWrittenOff],
    });
    if (process.env.VERIFY_V2_PRINT) console.info(verified.report);
    expect(verified.report).toContain('v2 (final): trigger not breached');
    expect(verified.report).toContain('written off: principal');

    // ---------------------------------------------------------------- read as v1, the chain data disagrees
    const history = await readDistributionHistory(client, {
      portfolio,
      recoveryId: 4n,
      distributionId: distributionChainId(rows[3].id),
      range: 2000n,
      progress: () => {},
    });
    expect(history.riskTerms).toMatchObject({ reserveTargetBps: 400, collectionRatioBps: 9_000 });
    expect(history.reserveFundings.map((f) => f.amount)).toEqual([usd(5_000n), usd(10_000n)]);
    expect(history.reserveFundings.every((f) => f.from === deployer.account.address)).toBe(true);
    expect(history.recoveries.map((r) => r.resolved !== null)).toEqual([false, false, false, true]);
    const v1History = { ...history, riskTerms: null };
    const asV1 = compareDistribution({
      history: v1History,
      recomputed: recomputeDistribution(v1History),
      published: lastTree,
    });
    expect(asV1.agree).toBe(false);
    expect(asV1.reasons.filter((r) => r.startsWith('waterfall #'))).toHaveLength(4);
    // and the honest recomputation of the same history agrees
    const honest = compareDistribution({
      history,
      recomputed: recomputeDistribution(history),
      published: lastTree,
    });
    expect(honest.reasons).toEqual([]);
    // one reserve movement of the real events changed: caught and named
    const drawn = history.recoveries[0].triggerAndReserve?.drawn ?? 0n;
    const tampered = structuredClone(history);
    const first = tampered.recoveries[0].triggerAndReserve;
    if (first) first.drawn = drawn - 1n;
    const caught = compareDistribution({
      history: tampered,
      recomputed: recomputeDistribution(tampered),
      published: lastTree,
    });
    expect(caught.reasons).toEqual([`waterfall #1: drawn ${drawn - 1n} on-chain, ${drawn} recomputed`]);
  }, 600_000);
});
