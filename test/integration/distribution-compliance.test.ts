/**
 * Finding 3 of issue 11 end to end on anvil + Postgres + Redis: a holder the ComplianceRegistry freezes
 * is not paid by the distribution job's claimMany push (the Distributor skips it with ClaimSkipped), the
 * job records the skip and still ends `paid` without retrying, the payouts route keeps the holder's
 * payout claimable and a relayed claim answers NOT_ALLOWLISTED; once unfrozen, the next distribution's
 * push pays it, even though the holder has no payout of its own in that distribution.
 */
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositRecovery } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import type { PlatformChain } from '../../core/chain/deployment.ts';
import { trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { distributionPushKey } from '../../core/distributions/run.ts';
import type { createRedis } from '../../core/platform/queue.ts';
import type { NplWorker } from '../../worker/main.ts';
import type { TestApp } from '../helpers/app.ts';
import {
  type DistributionEnv,
  startDistributionEnv,
  startDistributionWorker,
  waitDistributionsPaid,
} from '../helpers/distribution.ts';
import { createClosedPortfolio } from '../helpers/portfolio.ts';
import {
  claimedFrom,
  fundServicer,
  payTokenBalance,
  setFrozen as setRegistryFrozen,
} from '../helpers/stack.ts';

const usd = (whole: bigint) => whole * 10n ** 6n;

let stack: DeployedStack;
let deployer: ChainClients;
let servicer: ChainClients;
let holders: ChainClients[];
let platform: PlatformChain;
let env: DistributionEnv;
let t: TestApp;
let worker: NplWorker | undefined;
let workerRedis: ReturnType<typeof createRedis>;

beforeAll(async () => {
  // the API reads the deployment (payouts, relayed claims) from its file
  env = await startDistributionEnv({ name: 'distribution-compliance', accounts: 8, holders: [3, 4, 5] });
  ({ deployer, stack, servicer, holders, t, platform, workerRedis } = env);
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await env?.close();
});

const tranchesSpec = [
  { name: 'Senior', symbol: 'SNR', face: usd(1_000n), couponBps: 500, priceBps: 10_000 },
  { name: 'Equity', symbol: 'EQ', face: usd(300n), couponBps: 0, priceBps: 5_000 },
];
const purchases = [
  [usd(300n), usd(17n)],
  [usd(211n), usd(50n)],
  [usd(89n), 0n],
];

const payBalance = (account: Address) => payTokenBalance(deployer, stack, account);
const claimedOf = (distributor: Address, account: Address) => claimedFrom(deployer, distributor, account);

/** The deployer holds the registry's GUARDIAN_ROLE (deployStack's defaults). */
const setFrozen = (account: Address, frozen: boolean) => setRegistryFrozen(deployer, stack, account, frozen);

const waitPaid = (portfolioId: string, count: number) => waitDistributionsPaid(t, portfolioId, count);

describe('a holder the registry does not allow', () => {
  it('is skipped by the push, stays claimable, and is paid by the next push once allowed again', async () => {
    const portfolio = await createClosedPortfolio(deployer, t.db.prisma, {
      stack,
      name: 'Compliance test',
      servicer: servicer.account.address,
      rootProposer: platform.clients.account.address,
      timelockDelay: 2,
      tranches: tranchesSpec,
      holders,
      purchases,
    });
    await fundServicer(deployer, servicer, { stack, portfolio: portfolio.portfolio, amount: usd(100_000n) });
    const frozen = holders[1].account.address;
    const others = [holders[0].account.address, holders[2].account.address];
    const frozenBefore = await payBalance(frozen);
    await setFrozen(frozen, true);

    await depositRecovery(servicer, { portfolio: portfolio.portfolio, amount: usd(123n) });
    worker = await startDistributionWorker({ t, redis: workerRedis, platform, stack });
    const [first] = await waitPaid(portfolio.id, 1);

    // the push paid the others, skipped the frozen holder, and recorded why
    const rows = await t.db.prisma.distributionHolder.findMany({ where: { distributionId: first.id } });
    const frozenRow = rows.find((r) => r.account === frozen);
    expect(frozenRow?.payout.gt(0)).toBe(true);
    expect(frozenRow?.pushedTx).not.toBeNull();
    expect(frozenRow?.pushSkipped).toBe('not_allowed');
    for (const account of others) {
      const row = rows.find((r) => r.account === account);
      expect(row?.pushSkipped).toBeNull();
      expect(await claimedOf(portfolio.distributor, account)).toBe(BigInt(row?.cumulative.toFixed(0) ?? -1));
    }
    expect(await payBalance(frozen)).toBe(frozenBefore);
    expect(await claimedOf(portfolio.distributor, frozen)).toBe(0n);
    // one claimMany, sent once: no retry of the skipped holder
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'claimMany', refId: first.id } })).toBe(1);
    expect(
      await t.db.prisma.relayTx.count({ where: { idempotencyKey: distributionPushKey(first.id, 0) } }),
    ).toBe(1);

    // not marked paid: the payouts route still shows it claimable, from the chain and from the index
    const cumulative = (frozenRow?.cumulative.toFixed(0) ?? '') as string;
    const chainView = await t.app.inject({ method: 'GET', url: `/v1/investors/${frozen}/payouts` });
    expect(chainView.statusCode, chainView.body).toBe(200);
    expect(chainView.json().items[0]).toMatchObject({ claimed: '0', claimable: cumulative });

    // a relayed claim is refused while frozen (simulated, nothing sent)
    const refused = await t.app.inject({ method: 'POST', url: `/v1/investors/${frozen}/claims` });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('NOT_ALLOWLISTED');
    expect(await t.db.prisma.relayTx.count({ where: { kind: 'claim' } })).toBe(0);

    // allowed again; it moves all its tranche tokens away, so it has no payout of the next recovery
    await setFrozen(frozen, false);
    for (const token of portfolio.tranches) {
      const balance = await deployer.publicClient.readContract({
        address: token,
        abi: trancheTokenAbi,
        functionName: 'balanceOf',
        args: [frozen],
      });
      if (balance === 0n) continue;
      const hash = await holders[1].walletClient.writeContract({
        address: token,
        abi: trancheTokenAbi,
        functionName: 'transfer',
        args: [others[0], balance],
        chain: holders[1].chain,
        account: holders[1].account,
      });
      await deployer.publicClient.waitForTransactionReceipt({ hash });
    }
    await depositRecovery(servicer, { portfolio: portfolio.portfolio, amount: usd(77n) });
    const [, second] = await waitPaid(portfolio.id, 2);
    const secondRow = await t.db.prisma.distributionHolder.findUniqueOrThrow({
      where: { distributionId_account: { distributionId: second.id, account: frozen } },
    });
    expect(secondRow.payout.toFixed(0)).toBe('0');
    expect(secondRow.cumulative.toFixed(0)).toBe(cumulative);
    expect(secondRow.pushBatch).not.toBeNull();
    expect(secondRow.pushSkipped).toBeNull();
    expect(await claimedOf(portfolio.distributor, frozen)).toBe(BigInt(cumulative));
    expect((await payBalance(frozen)) - frozenBefore).toBe(BigInt(cumulative));
  }, 180_000);
});
