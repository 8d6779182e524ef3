/** Step 3: publish; the worker deploys the Portfolio, its tranche tokens and its Distributor. */
import { type Address, getAddress } from 'viem';
import { readPortfolioTerms } from '../../../core/chain/actions.ts';
import type { Json } from '../api.ts';
import type { Deployed, DraftContext } from './context.ts';

export async function publish(ctx: DraftContext): Promise<Deployed> {
  const { api, base, portfolioId, step, info, until } = ctx;
  step('Publishing: the worker deploys the Portfolio, three tranche tokens and the Distributor');
  const published = await api.post(`/v1/portfolios/${portfolioId}/publish`);
  const job = await until(
    'the publish job',
    () => api.get(`/v1/jobs/${published.job.id}`),
    (j: Json) => j.status === 'succeeded' || j.status === 'failed',
  );
  if (job.status !== 'succeeded') throw new Error(`publish failed: ${job.error}`);
  const detail = await api.get(`/v1/portfolios/${portfolioId}`);
  const portfolio = getAddress(detail.chain.portfolio) as Address;
  const distributor = getAddress(detail.chain.distributor) as Address;
  const tranches = (detail.tranches as Json[])
    .sort((a, b) => a.seniority - b.seniority)
    .map((t) => ({
      id: t.id as string,
      name: t.name as string,
      symbol: t.symbol as string,
      address: getAddress(t.address) as Address,
    }));
  const terms = await readPortfolioTerms(base.publicClient, { portfolio });
  const payToken = terms.payToken;
  info(`job ${job.id} succeeded (tx ${job.txHash}); portfolio ${portfolio}`);
  info(`document root ${detail.chain.documentRoot}, loan tape hash anchored on-chain`);
  for (const t of tranches) info(`  ${t.name.padEnd(10)} ${t.symbol.padEnd(6)} ${t.address}`);
  return { portfolio, distributor, payToken, tranches };
}
