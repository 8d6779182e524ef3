import type { Address, Hex } from 'viem';
import type { PrismaClient } from '../../core/db/index.ts';

/**
 * The `portfolio` row (and its tranche rows) of a portfolio created on-chain by a test or benchmark
 * itself (core/chain `createPortfolio`) rather than by the publish job: status `published`, the
 * chain addresses of `created`, one tranche row per spec in seniority order (the last is residual).
 *
 *   const created = await createPortfolio(deployer, { ..., tranches: specs });
 *   const row = await recordPublishedPortfolio(t.db.prisma, {
 *     name: 'Payouts test', servicer: servicer.account.address, chainId: anvil.chainId, created, tranches: specs,
 *   });
 */
export type RecordPublishedPortfolioParameters = {
  name: string;
  /** The owning organisation (issuer API keys of this owner may act on it); default `acme`. */
  owner?: string;
  servicer: Address;
  chainId: number;
  created: { portfolio: Address; distributor: Address; txHash?: Hex; tranches: readonly Address[] };
  tranches: readonly { name: string; symbol: string; face: bigint; couponBps: number; priceBps?: number }[];
  fees?: { servicerBps: number; protocolBps: number };
  askingPrice?: string;
};

export async function recordPublishedPortfolio(
  prisma: PrismaClient,
  parameters: RecordPublishedPortfolioParameters,
) {
  const { created, tranches } = parameters;
  return prisma.portfolio.create({
    data: {
      owner: parameters.owner ?? 'acme',
      name: parameters.name,
      assetClass: 'corporate',
      jurisdiction: 'IT',
      currency: 'EUR',
      askingPrice: parameters.askingPrice ?? '1000',
      servicerAddress: parameters.servicer,
      servicerFeeBps: parameters.fees?.servicerBps ?? 0,
      protocolFeeBps: parameters.fees?.protocolBps ?? 0,
      status: 'published',
      chainId: parameters.chainId,
      portfolioAddress: created.portfolio,
      distributorAddress: created.distributor,
      offeringAddress: created.portfolio,
      deployTxHash: created.txHash ?? null,
      publishedAt: new Date(),
      tranches: {
        create: tranches.map((spec, i) => ({
          seniority: i,
          name: spec.name,
          symbol: spec.symbol,
          face: spec.face.toString(),
          couponBps: spec.couponBps,
          ...(spec.priceBps === undefined ? {} : { priceBps: spec.priceBps }),
          residual: i === tranches.length - 1,
          address: created.tranches[i],
        })),
      },
    },
    include: { tranches: { orderBy: { seniority: 'asc' } } },
  });
}
