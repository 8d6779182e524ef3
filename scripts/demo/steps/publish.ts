/** Step 3: publish; the worker deploys the Portfolio, its tranche tokens and its Distributor. */
import { type Address, getAddress } from 'viem';
import { readPortfolioTerms } from '../../../core/chain/actions.ts';
import { portfolioAbi } from '../../../core/chain/generated/index.ts';
import { ApiError, type Json } from '../api.ts';
import { type Deployed, type DraftContext, formatPay, MissingFeature, RESERVE, whole } from './context.ts';

export async function publish(ctx: DraftContext): Promise<Deployed> {
  const { api, base, portfolioId, step, info, until } = ctx;
  step(
    'Publishing: the worker deploys the Portfolio, three tranche tokens and the Distributor, and funds the reserve',
  );
  // the initial reserve comes from the issuer treasury (the platform's key on npm start): test dollars
  // first (the top-up after the close comes out of the offering's proceeds, which the treasury receives)
  let accounts: Json;
  try {
    accounts = await api.request('GET', '/v1/dev/accounts', { auth: false });
  } catch (error) {
    if (error instanceof ApiError && error.routeMissing)
      throw new MissingFeature('GET /v1/dev/accounts (the issuer treasury to fund) is not in this API build');
    throw error;
  }
  if (!accounts.issuerTreasuryHeld)
    throw new Error(
      `the issuer treasury ${accounts.issuerTreasury} is not the platform's key (ISSUER_TREASURY_ADDRESS): publish cannot fund reserve.initial`,
    );
  const minted: Json = await api.request('POST', '/v1/dev/faucet', {
    body: { address: accounts.issuerTreasury, amount: RESERVE.initialUnits.toString() },
    auth: false,
  });
  info(
    `issuer treasury ${accounts.issuerTreasury} (the platform's key) received ${formatPay(BigInt(minted.amountBaseUnits))} test USD from the faucet`,
  );
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
  const [reserveBalance, reserveFunded] = await base.publicClient.readContract({
    address: portfolio,
    abi: portfolioAbi,
    functionName: 'reserve',
  });
  const [targetBps, collectionRatioBps, plan, resolutionDelay] = await base.publicClient.readContract({
    address: portfolio,
    abi: portfolioAbi,
    functionName: 'riskTerms',
  });
  info(
    `reserve funded at publish: ${formatPay(reserveFunded)} from the issuer treasury (balance ${formatPay(reserveBalance)}, target ${Number(targetBps) / 100}% of the senior's outstanding)`,
  );
  info(
    `on-chain v2 terms: trigger ${Number(collectionRatioBps) / 100}% over a ${plan.length}-point business plan, resolution delay (veto window) ${resolutionDelay} s`,
  );
  if (reserveFunded !== whole(RESERVE.initialUnits))
    throw new Error(`the reserve holds ${reserveFunded}, not reserve.initial ${whole(RESERVE.initialUnits)}`);
  for (const t of tranches) info(`  ${t.name.padEnd(10)} ${t.symbol.padEnd(6)} ${t.address}`);
  return { portfolio, distributor, payToken, tranches };
}
