import { type Address, getAddress } from 'viem';
import { ConflictError, ServiceUnavailableError } from '../platform/errors/index.ts';

/** The fields of a portfolio row that say whether its contract can be acted on from this API. */
export type PortfolioOnChain = {
  id: string;
  status: string;
  chainId: number | null;
  portfolioAddress: string | null;
};

/**
 * The rule every relayed action on a portfolio starts with (purchases, recoveries, the offering
 * close): the portfolio is published (409 `NOT_PUBLISHED`, with `notPublished` as the message) and
 * lives on the chain this API serves (503). Returns its checksummed address.
 */
export function assertPublishedOnChain(
  portfolio: PortfolioOnChain,
  chainId: number,
  notPublished = 'The portfolio is not published',
): Address {
  if (portfolio.status !== 'published' || portfolio.portfolioAddress === null) {
    throw new ConflictError(notPublished, {
      details: { reason: 'NOT_PUBLISHED', portfolioId: portfolio.id, status: portfolio.status },
    });
  }
  if (portfolio.chainId !== chainId) {
    throw new ServiceUnavailableError(
      `The portfolio lives on chain ${portfolio.chainId}, the API serves ${chainId}`,
    );
  }
  return getAddress(portfolio.portfolioAddress);
}
