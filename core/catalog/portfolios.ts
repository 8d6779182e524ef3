/**
 * Portfolios as an issuer creates and reads them: a draft with its tranches (one insert: the row and
 * every tranche, or nothing), the ownership snapshot the routes authorize against, and the detail read
 * (core/catalog/listing.ts) the API answers with.
 */
import type pg from 'pg';
import type { AssetClass, PortfolioStatus, PrismaClient, WaterfallMode } from '../db/index.ts';
import { NotFoundError } from '../platform/errors/index.ts';
import { getPortfolio } from './listing.ts';

export type CatalogContext = { prisma: PrismaClient };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `id` can be a row id; anything else is simply not found. */
export const isRowId = (id: string): boolean => UUID.test(id);

export type PortfolioOwnership = { id: string; owner: string; status: PortfolioStatus };

/** The portfolio's id, owner and status (what its routes authorize and check against), or 404. */
export async function findPortfolio(context: CatalogContext, id: string): Promise<PortfolioOwnership> {
  const portfolio = isRowId(id)
    ? await context.prisma.portfolio.findUnique({
        where: { id },
        select: { id: true, owner: true, status: true },
      })
    : null;
  if (portfolio === null) throw new NotFoundError('Portfolio', id);
  return portfolio;
}

export type DraftTrancheParameters = {
  name: string;
  symbol: string;
  /** face value in pay-token base units, decimal string */
  face: string;
  /** 0 when absent (the residual tranche) */
  couponBps?: number;
  /** 10 000 (par) when absent */
  priceBps?: number;
};

export type CreateDraftPortfolioParameters = {
  /** the issuer's owner name */
  owner: string;
  name: string;
  description: string;
  assetClass: AssetClass;
  jurisdiction: string;
  currency: string;
  /** pay-token base units, decimal string */
  askingPrice: string;
  payTokenDecimals: number;
  servicerAddress: string;
  fees: { servicerBps: number; protocolBps: number };
  waterfallMode: WaterfallMode;
  /** in seniority order (0 = most senior); the last one is the residual tranche */
  tranches: readonly DraftTrancheParameters[];
  /** waterfall spec v2: the cash reserve (initial in pay-token base units, decimal string) */
  reserve?: { targetBps: number; initial: string } | undefined;
  /**
   * waterfall spec v2: the collection-ratio trigger; its business plan may come later
   * (PUT /v1/portfolios/:id/business-plan). Points already checked (domain `validateBusinessPlan`).
   */
  trigger?:
    | {
        collectionRatioBps: number;
        businessPlan?: readonly { atSeconds: number; cumulative: string }[] | undefined;
      }
    | undefined;
};

export type CreateDraftPortfolioReturnType = NonNullable<Awaited<ReturnType<typeof getPortfolio>>>;

/**
 * Creates a draft portfolio with its tranches and business-plan points (one nested insert: Prisma runs it
 * in one transaction)
 * and returns it as the detail read answers it.
 */
export async function createDraftPortfolio(
  context: CatalogContext & { pool: pg.Pool },
  parameters: CreateDraftPortfolioParameters,
): Promise<CreateDraftPortfolioReturnType> {
  const p = parameters;
  const created = await context.prisma.portfolio.create({
    data: {
      owner: p.owner,
      name: p.name,
      description: p.description,
      assetClass: p.assetClass,
      jurisdiction: p.jurisdiction,
      currency: p.currency,
      askingPrice: p.askingPrice,
      payTokenDecimals: p.payTokenDecimals,
      servicerAddress: p.servicerAddress,
      servicerFeeBps: p.fees.servicerBps,
      protocolFeeBps: p.fees.protocolBps,
      waterfallMode: p.waterfallMode,
      reserveTargetBps: p.reserve?.targetBps ?? null,
      reserveInitial: p.reserve?.initial ?? null,
      triggerCollectionRatioBps: p.trigger?.collectionRatioBps ?? null,
      businessPlan: {
        create: (p.trigger?.businessPlan ?? []).map((point, position) => ({
          position,
          atSeconds: BigInt(point.atSeconds),
          cumulative: point.cumulative,
        })),
      },
      tranches: {
        create: p.tranches.map((t, i) => ({
          seniority: i,
          name: t.name,
          symbol: t.symbol,
          face: t.face,
          couponBps: t.couponBps ?? 0,
          priceBps: t.priceBps ?? 10_000,
          residual: i === p.tranches.length - 1,
        })),
      },
    },
    select: { id: true },
  });
  const found = await getPortfolio(context.pool, created.id);
  if (found === null) throw new NotFoundError('Portfolio', created.id);
  return found;
}
