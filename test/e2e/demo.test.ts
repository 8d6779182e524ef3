/**
 * `npm run demo` end to end: the demo flow (scripts/demo/run.ts) against a marketplace started the
 * way `npm start` starts it (startMarketplace with no service URLs: anvil, redis-server, the embedded
 * PGlite) in a temporary DATA_DIR. The payouts are then checked to the unit, independently of the
 * worker's tables: the waterfall of each recovery is recomputed with core/domain computeWaterfallV2
 * from the chain (tranche terms, what was sold at close, block timestamps, the reserve before the first
 * recovery, the trigger's business plan, the final recovery), each tranche's amount is split pro rata
 * (with the dust carried) over the investors' balances read at the snapshot block, and each investor's
 * pay-token balance change, read here at the blocks the demo measured, must equal it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Address, createPublicClient, erc20Abi, http } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readPortfolioTerms } from '../../core/chain/actions.ts';
import { getFreePort } from '../../core/chain/anvil.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { splitProRataWithCarry } from '../../core/domain/prorata.ts';
import { computeWaterfallV2, type TrancheState } from '../../core/domain/waterfall.ts';
import { runCli } from '../../scripts/cli/run.ts';
import type { Json } from '../../scripts/demo/api.ts';
import { type DemoResult, formatPay, runDemo } from '../../scripts/demo/run.ts';
import {
  BUSINESS_PLAN,
  FINAL_RECOVERY,
  RECOVERIES,
  RESERVE,
  whole,
} from '../../scripts/demo/steps/context.ts';
import { type RunningMarketplace, startMarketplace } from '../../scripts/start.ts';

const SEED = 'e2e-demo-seed';

describe('npm run demo on the embedded services of npm start', () => {
  let dataDir: string;
  let running: RunningMarketplace | undefined;
  let result: DemoResult;
  const lines: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'npl-demo-'));
    running = await startMarketplace({
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      dataDir,
      port: 0,
      servicePorts: { anvil: await getFreePort() },
      print: () => {},
    });
    expect(running.embedded).toEqual({ postgres: true, redis: true, chain: true });
    const marketplace = running.deployment.marketplace;
    if (marketplace === undefined) throw new Error('the deployment has no Marketplace');
    result = await runDemo({
      apiUrl: running.urls.api,
      apiKey: running.apiKey,
      rpcUrl: running.urls.rpc,
      marketplace,
      seed: SEED,
      print: (line) => lines.push(line),
    });
  }, 900_000);

  afterAll(async () => {
    await running?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('every step ran: published with 5,000 loans and v2 terms, bought, traded, closed, two recoveries and a final one paid', async () => {
    expect(result.missing, lines.join('\n')).toEqual([]);
    const detail: Json = await (
      await fetch(`${running?.urls.api}/v1/portfolios/${result.portfolioId}`)
    ).json();
    expect(detail.status).toBe('published');
    expect(detail.stats.loanCount).toBe(5_000);
    expect(detail.tranches.map((t: { symbol: string }) => t.symbol)).toEqual(['NPLSR', 'NPLMZ', 'NPLRS']);
    expect(detail.reserve).toEqual({
      targetBps: RESERVE.targetBps,
      initial: whole(RESERVE.initialUnits).toString(),
    });
    expect(detail.trigger.businessPlan.length).toBe(BUSINESS_PLAN.length);
    expect(result.purchases.length).toBe(7);
    expect(result.trade).not.toBeNull();
    expect(result.recoveries.map((r) => r.final)).toEqual([false, false, true]);
    expect(result.recoveries.map((r) => r.amount)).toEqual([
      ...RECOVERIES.map((r) => whole(r.units)),
      whole(FINAL_RECOVERY.units),
    ]);
    expect(result.verification.length).toBe(3);
    expect(result.verification.every((v) => v.ok)).toBe(true);
    // a remittance report behind every recovery, its total the amount deposited, every loan in it
    for (const r of result.recoveries) {
      expect(r.report.total).toBe(r.amount);
      expect(r.report.loanCount).toBe(5_000);
    }
    // the last report resolves every loan the earlier ones left
    expect(result.recoveries.reduce((a, r) => a + r.report.resolvedCount, 0)).toBe(5_000);
    // on plan at month 3; late and short at month 12: breached, the mezzanine's interest deferred
    const [first, second, final] = result.recoveries;
    expect(first.triggerAndReserve.triggerBreached).toBe(false);
    expect(second.triggerAndReserve.triggerBreached).toBe(true);
    expect(second.waterfall.interest[1]).toBe(0n);
    expect(second.interestArrearsAfter[1]).toBeGreaterThan(0n);
    expect(second.triggerAndReserve.released).toBeGreaterThan(0n);
    // the resolution: vetoed once, then the final recovery wrote off what it could not pay
    expect(result.resolution?.vetoed).toBe(true);
    expect(final.writtenOff).not.toBeNull();
    expect(final.writtenOff?.principal[1]).toBeGreaterThan(0n);
    expect(final.triggerAndReserve.reserveBalance).toBe(0n);
    expect(result.reserve.topUp).toBeGreaterThan(0n);
    // the local clock moved to month 3, month 12, then past the veto window
    expect(result.clockAdvances.length).toBe(3);

    // printed as it went
    const text = lines.join('\n');
    expect(text).toMatch(/Business plan \(issuer\)/);
    expect(text).toMatch(/\n {8}12 {20} +4,500,000\.000000 +3,600,000\.000000/);
    expect(text).toMatch(/reserve funded at publish: 100,000\.000000 from the issuer treasury/);
    expect(text).toMatch(/Reserve: the issuer tops it up/);
    expect(text).toMatch(
      /LOCAL CHAIN ONLY: advancing the chain clock by .* \(anvil evm_increaseTime \+ evm_mine\), to month 3 after the close/,
    );
    expect(text).toMatch(/Recovery 1 of 2, month 3 after the close/);
    expect(text).toMatch(
      /remittance report \S+ \(sha256 [0-9a-f]{16}\.\.\.\): 5,000 loans, total 2,000,000\.000000/,
    );
    expect(text).toMatch(
      /remittance report \S+ \(sha256 [0-9a-f]{16}\.\.\.\): 5,000 loans, total 1,000,000\.000000/,
    );
    expect(text).toMatch(
      /trigger: collected 2,000,000\.000000 against a plan of 1,500,000\.000000 by now \(133\.33%, floor 80\.00%\): not breached/,
    );
    expect(text).toMatch(
      /trigger: collected 3,000,000\.000000 against a plan of 4,500,000\.000000 by now \(66\.66%, floor 80\.00%\): BREACHED/,
    );
    expect(text).toContain(
      `Mezzanine (NPLMZ) interest deferred: ${formatPay(second.interestArrearsAfter[1])} (due ${formatPay(second.interestArrearsAfter[1])}, paid 0.000000)`,
    );
    expect(text).toMatch(
      /reserve: released [1-9][\d,]*\.\d{6}, drawn 0\.000000, replenished 0\.000000, balance after /,
    );
    expect(text).toMatch(
      /proposed \(servicer-signed ResolutionIntent, tx 0x[0-9a-f]{64}\): executable at \d+/,
    );
    expect(text).toMatch(/the guardian vetoes it inside the window/);
    expect(text).toMatch(/past the veto window/);
    expect(text).toMatch(/waterfall \(final: the resolving recovery\)/);
    expect(text).toContain('written off at resolution (PortfolioResolved):');
    expect(text).toContain(
      `Mezzanine (NPLMZ)    ${formatPay(final.writtenOff?.principal[1] ?? 0n).padStart(20)} ${formatPay(final.writtenOff?.interest[1] ?? 0n).padStart(20)}`,
    );
    expect(text).toMatch(/resolution status: resolved/);
    expect(text).toMatch(/Performance \(GET \/v1\/portfolios\/:id\/performance\)/);
    expect(text).toMatch(
      /\n {8}2 +1,000,000\.000000 +3,000,000\.000000 +4,500,000\.000000 +66\.66% BREACHED/,
    );
    expect(text).toMatch(/loans: 5000 of 5000 resolved by the remittance reports/);
    expect(text).toMatch(/servicer fee/);
    expect(text).toMatch(/payouts received on-chain/);
    expect(text).toMatch(/received \(claimed \+ claimable\) against paid/);
    for (const investor of result.investors) {
      const received = result.recoveries.reduce((a, r) => a + (r.payouts[investor.address] ?? 0n), 0n);
      const offering = result.purchases
        .filter((p) => p.investor === investor.name)
        .reduce((a, p) => a + p.cost, 0n);
      const trade = result.trade;
      const traded =
        trade?.taker === investor.address
          ? trade.cost
          : trade?.maker === investor.address
            ? -(trade.cost - trade.fee)
            : 0n;
      const paid = offering + traded;
      expect(text).toContain(
        `${investor.name.padEnd(30)} ${formatPay(offering).padStart(16)} ${formatPay(traded).padStart(16)} ${formatPay(paid).padStart(16)} ${formatPay(received).padStart(16)} ${formatPay(received - paid).padStart(16)}`,
      );
    }
    expect(text).toMatch(/agrees/);
  });

  test('each investor received on-chain exactly computeWaterfall + the pro-rata split of their balances at each snapshot', async () => {
    expect(result.missing).toEqual([]);
    const client = createPublicClient({ transport: http(running?.urls.rpc) });
    const portfolio = result.portfolio;
    const terms = await readPortfolioTerms(client as never, { portfolio });
    const [closed] = await client.getContractEvents({
      address: portfolio,
      abi: portfolioAbi,
      eventName: 'OfferingClosed',
      fromBlock: 0n,
    });
    expect(closed).toBeDefined();
    const deposits = await client.getContractEvents({
      address: portfolio,
      abi: portfolioAbi,
      eventName: 'RecoveryDistributed',
      fromBlock: 0n,
    });
    expect(deposits.length).toBe(3);

    let state: TrancheState[] = await Promise.all(
      result.tranches.map(async (_, i) => {
        const t = await client.readContract({
          address: portfolio,
          abi: portfolioAbi,
          functionName: 'trancheTerms',
          args: [BigInt(i)],
        });
        return {
          face: t.face,
          couponBps: t.couponBps,
          outstanding: closed.args.sold?.[i] as bigint,
          interestArrears: 0n,
        };
      }),
    );
    // spec v2: the trigger's business plan, the reserve before the first recovery (funded at publish and
    // topped up after the close), the clock and the collections carried from one recovery to the next
    const [targetBps, collectionRatioBps, businessPlan] = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'riskTerms',
    });
    const trigger = { collectionRatioBps: Number(collectionRatioBps), businessPlan: [...businessPlan] };
    const [reserveBefore] = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'reserve',
      blockNumber: deposits[0].blockNumber - 1n,
    });
    expect(reserveBefore).toBe(result.reserve.initial + result.reserve.topUp);
    const v2Events = await client.getContractEvents({
      address: portfolio,
      abi: portfolioAbi,
      eventName: 'RecoveryTriggerAndReserve',
      fromBlock: 0n,
    });
    const [resolvedEvent, ...moreResolved] = await client.getContractEvents({
      address: portfolio,
      abi: portfolioAbi,
      eventName: 'PortfolioResolved',
      fromBlock: 0n,
    });
    expect(v2Events.length).toBe(3);
    expect(moreResolved).toEqual([]);
    let reserveBalance = reserveBefore;
    let clockSeconds = 0n;
    let collected = 0n;
    let previousTimestamp = closed.args.closedAt as bigint;
    const carry = result.tranches.map(() => 0n);
    const investors = result.investors.map((i) => i.address);
    const balanceOf = (token: Address, account: Address, blockNumber: bigint) =>
      client.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [account],
        blockNumber,
      });

    for (const [k, deposit] of deposits.entries()) {
      const recovery = result.recoveries[k];
      expect(deposit.transactionHash).toBe(recovery.txHash);
      const block = await client.getBlock({ blockNumber: deposit.blockNumber });
      const waterfall = computeWaterfallV2({
        tranches: state,
        fees: { servicerBps: terms.servicerFeeBps, protocolBps: terms.protocolFeeBps },
        mode: terms.mode,
        elapsedSeconds: block.timestamp - previousTimestamp,
        amount: deposit.args.amount as bigint,
        reserve: { targetBps: Number(targetBps), balance: reserveBalance },
        trigger,
        clockSeconds,
        collected,
        final: recovery.final,
      });
      previousTimestamp = block.timestamp;
      state = waterfall.state;
      reserveBalance = waterfall.reserve.balanceAfter;
      clockSeconds = waterfall.clockSeconds;
      collected = waterfall.collected;
      // the trigger and the reserve as the chain ran them
      const v2 = v2Events[k];
      expect(v2.transactionHash).toBe(recovery.txHash);
      expect(v2.args).toMatchObject({
        triggerBreached: waterfall.triggerBreached,
        collected: waterfall.collected,
        planned: waterfall.planned,
        released: waterfall.reserve.released,
        drawn: waterfall.reserve.drawn,
        replenished: waterfall.reserve.replenished,
        reserveBalance: waterfall.reserve.balanceAfter,
      });
      // what the demo printed as the interest deferred is the arrears the waterfall left
      expect(recovery.interestArrearsAfter).toEqual(waterfall.tranches.map((t) => t.interestArrearsAfter));
      if (recovery.final) {
        expect(resolvedEvent.transactionHash).toBe(recovery.txHash);
        expect([...(resolvedEvent.args.principalWrittenOff ?? [])]).toEqual(
          waterfall.tranches.map((t) => t.principalWrittenOff),
        );
        expect([...(resolvedEvent.args.interestWrittenOff ?? [])]).toEqual(
          waterfall.tranches.map((t) => t.interestWrittenOff),
        );
        expect(recovery.writtenOff?.principal).toEqual(waterfall.tranches.map((t) => t.principalWrittenOff));
      }
      // the on-chain waterfall agrees with the TypeScript one
      expect(deposit.args.servicerFee).toBe(waterfall.servicerFee);
      expect(deposit.args.protocolFee).toBe(waterfall.protocolFee);
      expect([...(deposit.args.interest ?? [])]).toEqual(waterfall.tranches.map((t) => t.interest));
      expect([...(deposit.args.principal ?? [])]).toEqual(waterfall.tranches.map((t) => t.principal));
      expect([...(deposit.args.residual ?? [])]).toEqual(waterfall.tranches.map((t) => t.residual));

      // per investor: the pro-rata split of each tranche's amount over the balances at the snapshot
      const snapshot = deposit.args.snapshotBlock as bigint;
      expect(snapshot).toBe(deposit.blockNumber - 1n);
      const expected = new Map<Address, bigint>(investors.map((a) => [a, 0n]));
      for (const [t, tranche] of result.tranches.entries()) {
        const balances = await Promise.all(investors.map((a) => balanceOf(tranche.address, a, snapshot)));
        const supply = await client.readContract({
          address: tranche.address,
          abi: erc20Abi,
          functionName: 'totalSupply',
          blockNumber: snapshot,
        });
        // the three investors are the only holders
        expect(balances.reduce((a, b) => a + b, 0n)).toBe(supply);
        const split = splitProRataWithCarry({
          amount: waterfall.tranches[t].total,
          balances,
          carryIn: carry[t],
        });
        carry[t] = split.dust;
        investors.forEach((a, i) => {
          expected.set(a, (expected.get(a) ?? 0n) + split.payouts[i]);
        });
      }
      const blocks = recovery.balanceBlocks;
      expect(blocks).not.toBeNull();
      for (const address of investors) {
        const received =
          (await balanceOf(result.payToken, address, blocks?.after as bigint)) -
          (await balanceOf(result.payToken, address, blocks?.before as bigint));
        expect(received, `investor ${address}, recovery ${k + 1}`).toBe(expected.get(address));
        expect(recovery.payouts[address]).toBe(received);
        expect(received).toBeGreaterThan(0n);
      }
    }
  });

  test('npm run cli -- verify-distribution agrees with the last distribution, as a holder would run it', async () => {
    const id = result.recoveries[result.recoveries.length - 1]?.distributionId;
    expect(id).toBeTruthy();
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      [
        'verify-distribution',
        id as string,
        '--rpc',
        running?.urls.rpc as string,
        '--api',
        running?.urls.api as string,
      ],
      {
        stdout: (text) => {
          stdout += text;
        },
        stderr: (text) => {
          stderr += text;
        },
        cwd: process.cwd(),
        readStdin: async () => '',
      },
    );
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('agree');
  });
});
