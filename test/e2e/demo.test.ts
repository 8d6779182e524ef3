/**
 * `npm run demo` end to end: the demo flow (scripts/demo/run.ts) against a marketplace started the
 * way `npm start` starts it (startMarketplace with no service URLs: anvil, redis-server, the embedded
 * PGlite) in a temporary DATA_DIR. The payouts are then checked to the unit, independently of the
 * worker's tables: the waterfall of each recovery is recomputed with core/domain computeWaterfall from
 * the chain (tranche terms, what was sold at close, block timestamps), each tranche's amount is split
 * pro rata (with the dust carried) over the investors' balances read at the snapshot block, and each
 * investor's pay-token balance change, read here at the blocks the demo measured, must equal it.
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
import { computeWaterfall, type TrancheState } from '../../core/domain/waterfall.ts';
import { runCli } from '../../scripts/cli/run.ts';
import type { Json } from '../../scripts/demo/api.ts';
import { type DemoResult, runDemo } from '../../scripts/demo/run.ts';
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

  test('every step ran: the portfolio is published with 5,000 loans, bought, traded, closed and paid three times', async () => {
    expect(result.missing, lines.join('\n')).toEqual([]);
    const detail: Json = await (
      await fetch(`${running?.urls.api}/v1/portfolios/${result.portfolioId}`)
    ).json();
    expect(detail.status).toBe('published');
    expect(detail.stats.loanCount).toBe(5_000);
    expect(detail.tranches.map((t: { symbol: string }) => t.symbol)).toEqual(['NPLSR', 'NPLMZ', 'NPLRS']);
    expect(result.purchases.length).toBe(7);
    expect(result.trade).not.toBeNull();
    expect(result.recoveries.length).toBe(3);
    expect(result.verification.length).toBe(3);
    expect(result.verification.every((v) => v.ok)).toBe(true);
    // printed as it went: a waterfall table and payouts per recovery, verify agreeing at the end
    const text = lines.join('\n');
    expect(text).toMatch(/Recovery 1 of 3/);
    expect(text).toMatch(/servicer fee/);
    expect(text).toMatch(/payouts received on-chain/);
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
      const waterfall = computeWaterfall({
        tranches: state,
        fees: { servicerBps: terms.servicerFeeBps, protocolBps: terms.protocolFeeBps },
        mode: terms.mode,
        elapsedSeconds: block.timestamp - previousTimestamp,
        amount: deposit.args.amount as bigint,
      });
      previousTimestamp = block.timestamp;
      state = waterfall.state;
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
