/** Step 7: the issuer closes the offering; outstanding principal is fixed at what was sold. */
import { readPortfolioTerms, readTrancheState } from '../../../core/chain/actions.ts';
import { portfolioAbi } from '../../../core/chain/generated/index.ts';
import { ApiError } from '../api.ts';
import { chainDate } from './clock.ts';
import { formatPay, MissingFeature, type RunningContext } from './context.ts';

export async function closeOffering(ctx: RunningContext): Promise<void> {
  const { api, base, portfolioId, step, info, until } = ctx;
  const { portfolio, tranches } = ctx.deployed;
  step('Closing the offering (issuer): outstanding principal is fixed at what was sold');
  try {
    await api.post(`/v1/portfolios/${portfolioId}/offering/close`);
  } catch (error) {
    if (error instanceof ApiError && error.routeMissing) {
      throw new MissingFeature(
        'POST /v1/portfolios/:id/offering/close is not in this API build (helper "api")',
      );
    }
    throw error;
  }
  await until(
    'the offering to close',
    () => readPortfolioTerms(base.publicClient, { portfolio }),
    (t) => t.offeringClosed,
  );
  const [closed] = await base.publicClient.getContractEvents({
    address: portfolio,
    abi: portfolioAbi,
    eventName: 'OfferingClosed',
    fromBlock: 0n,
  });
  if (closed?.args.closedAt === undefined) throw new Error('no OfferingClosed event');
  ctx.result.closedAt = closed.args.closedAt;
  info(
    `closed at chain time ${closed.args.closedAt} (${chainDate(closed.args.closedAt)}): the business plan's month 0`,
  );
  const closedState = await readTrancheState(base.publicClient, { portfolio });
  for (const t of closedState) {
    info(
      `${tranches[t.trancheId].name.padEnd(10)} sold ${formatPay(t.sold).padStart(20)} of face ${formatPay(t.face).padStart(20)}, outstanding ${formatPay(t.outstanding)}`,
    );
  }
}
