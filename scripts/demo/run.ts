/**
 * The demo flow (`npm run demo`, test/e2e/demo.test.ts): a synthetic portfolio from a seed goes through
 * the whole marketplace over REST, as an issuer, three investors and a servicer would use it:
 *
 *   tape + data room (waterfall spec v2 terms: a reserve and a collection-ratio trigger) → business plan
 *   → publish (three tranches; the reserve funded from the issuer treasury) → allowlist + faucet →
 *   primary purchases (EIP-712 intent + ERC-2612 permit) → one secondary trade (signed order, signed
 *   fill) → close the offering → reserve top-up → two recoveries, each behind a remittance report,
 *   through the on-chain waterfall (the second late enough to breach the trigger) and a Merkle
 *   distribution pushed to the holders → resolution (proposal, guardian veto, proposal, final
 *   recovery with write-offs) → performance → payouts against what was paid → verify-distribution of
 *   each distribution.
 *
 * The business plan runs on chain time after the close: the demo moves the local chain's clock
 * forward (anvil `evm_increaseTime`, steps/clock.ts), and prints it each time.
 *
 * Investors and the servicer are fresh keys of this run (their ether for gas comes from
 * `anvil_setBalance`: the demo needs a local chain, as the faucet does). Everything is printed
 * through `print` as it happens; the returned `DemoResult` carries what a test needs to check the
 * payouts independently (blocks, addresses, measured balance changes).
 *
 * One file per step in `steps/` (what they share, the plan of the run and the context they take in
 * `steps/context.ts`); this file runs them in order.
 */
import { allowlistAndFund } from './steps/allowlist.ts';
import { uploadBusinessPlan } from './steps/business-plan.ts';
import { closeOffering } from './steps/close-offering.ts';
import { type DemoOptions, type DemoResult, MissingFeature, RESERVE, whole } from './steps/context.ts';
import { createDataRoom } from './steps/data-room.ts';
import { reportPerformance } from './steps/performance.ts';
import { generatePortfolio } from './steps/portfolio.ts';
import { publish } from './steps/publish.ts';
import { buyPrimary } from './steps/purchases.ts';
import { depositRecoveries } from './steps/recoveries.ts';
import { reportPayouts } from './steps/report.ts';
import { topUpReserve } from './steps/reserve.ts';
import { resolvePortfolio } from './steps/resolution.ts';
import { fundServicer } from './steps/servicer.ts';
import { setUpDemo } from './steps/setup.ts';
import { tradeSecondary } from './steps/trade.ts';
import { verifyDistributions } from './steps/verify.ts';

export {
  DEFAULT_DEMO_SEED,
  type DemoInvestor,
  type DemoOptions,
  type DemoRecovery,
  type DemoResult,
  formatPay,
} from './steps/context.ts';

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const ctx = await setUpDemo(options);
  const planned = { ...ctx, plan: await generatePortfolio(ctx) };
  const draft = { ...planned, portfolioId: await createDataRoom(planned) };
  await uploadBusinessPlan(draft);
  const published = { ...draft, deployed: await publish(draft) };
  await allowlistAndFund(published);
  const purchases = await buyPrimary(published);
  const trade = await tradeSecondary(published);

  const missing: string[] = [];
  const result: DemoResult = {
    seed: ctx.seed,
    portfolioId: draft.portfolioId,
    ...published.deployed,
    investors: ctx.investors,
    servicer: ctx.servicer.account.address,
    purchases,
    trade,
    closedAt: null,
    reserve: { targetBps: RESERVE.targetBps, initial: whole(RESERVE.initialUnits), topUp: 0n },
    resolution: null,
    clockAdvances: [],
    recoveries: [],
    verification: [],
    missing,
  };
  const running = { ...published, result, servicing: { resolvedLoans: new Set<string>(), periodStart: 0n } };
  try {
    await closeOffering(running);
    running.servicing.periodStart = result.closedAt as bigint;
    await topUpReserve(running);
    await fundServicer(running);
    await depositRecoveries(running);
    await resolvePortfolio(running);
    await reportPerformance(running);
    await reportPayouts(running);
    await verifyDistributions(running);
  } catch (error) {
    if (!(error instanceof MissingFeature)) throw error;
    missing.push(error.message);
    ctx.print('');
    ctx.print(`NOT DONE: ${error.message}`);
  }
  ctx.print('');
  ctx.print(missing.length === 0 ? 'Demo complete.' : `Demo stopped early; missing: ${missing.join('; ')}`);
  return result;
}
