/** Step 1: a synthetic portfolio from the seed (core/catalog/synthetic-portfolio.ts), its price and tranches. */
import { formatCents, generateLoanTape } from '../../../core/catalog/synthetic-portfolio.ts';
import { type DemoContext, PAY_DECIMALS, type PortfolioPlan, TRANCHE_PLAN, whole } from './context.ts';

export async function generatePortfolio(ctx: DemoContext): Promise<PortfolioPlan> {
  const { seed, options, step, info } = ctx;
  step(`Generating a synthetic portfolio from seed "${seed}"`);
  const cutoffDate = '2025-09-30';
  const tape = generateLoanTape({ seed, loans: options.loans ?? 5_000, cutoffDate });
  const { stats } = tape;
  info(
    `${stats.loanCount.toLocaleString('en-US')} loans, ${stats.borrowerCount.toLocaleString('en-US')} borrowers, ` +
      `UPB EUR ${formatCents(stats.totalUpbCents)}, collateral EUR ${formatCents(stats.totalCollateralCents)}, ` +
      `WA days past due ${stats.waDaysPastDue}`,
  );
  const mix = Object.entries(stats.byAssetClass)
    .sort((a, b) => (a[1].upbCents > b[1].upbCents ? -1 : 1))
    .map(([k, v]) => `${k} ${((Number(v.upbCents) / Number(stats.totalUpbCents)) * 100).toFixed(0)}%`)
    .join(', ');
  info(`by UPB: ${mix}`);
  // asking price: 14 cents per euro of UPB, in pay-token base units (cents * 10^4)
  const askingPrice = ((stats.totalUpbCents * 14n) / 100n) * 10n ** BigInt(PAY_DECIMALS - 2);
  const askingWhole = askingPrice / whole(1n);
  const tranchePlan = TRANCHE_PLAN.map((t) => ({ ...t, face: whole((askingWhole * t.share) / 100n) }));
  const portfolioName = `Mediterranean NPL Portfolio (seed ${seed})`;
  return { cutoffDate, tape, askingPrice, tranchePlan, portfolioName };
}
