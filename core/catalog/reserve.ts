/**
 * The cash reserve of waterfall spec v2, funded by the issuer treasury: `Portfolio.fundReserve(amount)`
 * pulls from its caller, which must be the issuer treasury fixed at creation. The platform relays it only
 * when the treasury is the platform's own key (the default issuer treasury of `npm start`); the treasury's
 * transaction is its consent. It first approves the Portfolio once for good (`approve(portfolio, max)`: the
 * Portfolio pulls from the treasury only in `fundReserve`, which only the treasury can call). Any other
 * treasury calls `fundReserve` itself (409 `TREASURY_NOT_HELD`). Used by POST
 * /v1/portfolios/:id/reserve/funding and by the publish job (`reserve.initial`, request key `initial`).
 *
 * Every check reads the chain before anything is sent; a rejection sends nothing. One `relay_tx` row per
 * (portfolio, request key) (core/trading/settlement.ts `relayOnce`): a retried request never funds twice.
 */
import { randomBytes } from 'node:crypto';
import {
  type Address,
  bytesToBigInt,
  erc20Abi,
  getAddress,
  type Hex,
  isAddressEqual,
  maxUint256,
} from 'viem';
import { readPortfolioTerms } from '../chain/actions.ts';
import { readRiskState } from '../chain/contracts/portfolio.ts';
import { readBalanceAndAllowance } from '../chain/contracts/tranche-token.ts';
import { portfolioAbi } from '../chain/generated/index.ts';
import { readChain } from '../chain/read.ts';
import { assertPublishedOnChain } from '../domain/published-portfolio.ts';
import { ConflictError, NotFoundError } from '../platform/errors/index.ts';
import { byTxHashes, type RelayedActionContext, relayOnce } from '../trading/settlement.ts';

export type ReserveContext = RelayedActionContext & {
  /** The platform relayer's address (the only treasury whose funding the platform can send). */
  relayerAddress?: Address;
};

export const FUND_RESERVE_KIND = 'fundReserve';
export const RESERVE_APPROVE_KIND = 'reserveApprove';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The published portfolio row (404 unknown, 409 not published, 503 another chain). */
async function publishedPortfolio(context: Pick<ReserveContext, 'prisma' | 'chainId'>, id: string) {
  const portfolio = UUID.test(id) ? await context.prisma.portfolio.findUnique({ where: { id } }) : null;
  if (portfolio === null) throw new NotFoundError('Portfolio', id);
  return { ...portfolio, portfolioAddress: assertPublishedOnChain(portfolio, context.chainId) };
}

const latestBlock = (context: ReserveContext) =>
  readChain('chain', 'getBlock', () => context.publicClient.getBlock({ blockTag: 'latest' }));

export type FundReserveParameters = {
  portfolioId: string;
  amount: bigint;
  /** One funding per key (a retried request with the same key answers the same funding); default: a new one. */
  requestKey?: string;
  /**
   * The issuer treasury may be shared by every issuer's portfolio (one `ISSUER_TREASURY_ADDRESS`, or the
   * relayer key): an issuer may then put into its portfolio's reserve no more than the proceeds its own
   * offering paid the treasury (indexed `Purchased` costs) minus what its reserve was funded with already
   * (`Portfolio.reserve().funded`), so no issuer spends another's proceeds. Admins: no cap.
   */
  capToProceeds?: boolean;
};

/**
 * Relays `Portfolio.fundReserve(amount)` from the issuer treasury (the platform's key), approving the
 * Portfolio once first. 409 `RESERVE_NOT_CONFIGURED` (no reserve target), `PORTFOLIO_RESOLVED`,
 * `TREASURY_NOT_HELD`, `INSUFFICIENT_BALANCE` (the treasury's pay-token balance); nothing sent then.
 */
export async function fundReserve(context: ReserveContext, parameters: FundReserveParameters) {
  const portfolio = await publishedPortfolio(context, parameters.portfolioId);
  const address = portfolio.portfolioAddress;
  const block = await latestBlock(context);
  const [terms, risk] = await Promise.all([
    readPortfolioTerms(context.publicClient, { portfolio: address, blockNumber: block.number }),
    readRiskState(context.publicClient, address, block.number),
  ]);
  if (risk.resolved) {
    throw new ConflictError('The portfolio is resolved', {
      details: { reason: 'PORTFOLIO_RESOLVED', portfolioId: portfolio.id },
    });
  }
  if (risk.reserveTargetBps === 0) {
    throw new ConflictError('The portfolio has no reserve (its reserve target is 0)', {
      details: { reason: 'RESERVE_NOT_CONFIGURED', portfolioId: portfolio.id },
    });
  }
  const treasury = getAddress(terms.issuerTreasury);
  if (context.relayerAddress === undefined || !isAddressEqual(context.relayerAddress, treasury)) {
    throw new ConflictError(
      `The issuer treasury ${treasury} is not a key this platform holds: it calls Portfolio.fundReserve itself`,
      { details: { reason: 'TREASURY_NOT_HELD', issuerTreasury: treasury, portfolio: address } },
    );
  }
  if (parameters.capToProceeds === true) {
    const [{ proceeds }] = await context.prisma.$queryRaw<{ proceeds: string }[]>`
      SELECT coalesce(sum(cost), 0)::text AS proceeds FROM purchase_event
      WHERE chain_id = ${context.chainId} AND portfolio = ${getAddress(address)}`;
    const available = BigInt(proceeds) - risk.reserveFunded;
    if (parameters.amount > available) {
      throw new ConflictError(
        "The issuer treasury is shared: an issuer funds its reserve only from its own offering's proceeds (an admin may fund more)",
        {
          details: {
            path: 'body.amount',
            reason: 'EXCEEDS_PORTFOLIO_PROCEEDS',
            proceeds,
            funded: risk.reserveFunded.toString(),
            available: (available > 0n ? available : 0n).toString(),
          },
        },
      );
    }
  }
  const payToken = getAddress(terms.payToken);
  const { balance, allowance } = await readBalanceAndAllowance(context.publicClient, {
    token: payToken,
    owner: treasury,
    spender: address,
    blockNumber: block.number,
  });
  if (balance < parameters.amount) {
    throw new ConflictError(`The issuer treasury's pay-token balance is below the amount`, {
      details: {
        path: 'body.amount',
        reason: 'INSUFFICIENT_BALANCE',
        issuerTreasury: treasury,
        payToken,
        amount: parameters.amount.toString(),
        balance: balance.toString(),
        missing: (parameters.amount - balance).toString(),
      },
    });
  }
  const requestKey = parameters.requestKey ?? bytesToBigInt(randomBytes(16)).toString(36);
  const { row, state, existing } = await relayReserveFunding(context, {
    portfolioId: portfolio.id,
    portfolio: address,
    payToken,
    allowance,
    amount: parameters.amount,
    requestKey,
  });
  return {
    id: row.id,
    portfolioId: portfolio.id,
    amount: parameters.amount.toString(),
    issuerTreasury: treasury,
    status: state,
    txHash: row.txHash as Hex,
    existing,
  };
}

/**
 * Relays the issuer treasury's (the relayer key's) `approve(portfolio, max)` when its `allowance` is below
 * `amount`, then `fundReserve(amount)`: one funding per (portfolio, `requestKey`), a new transaction only
 * after the previous one failed (`relayOnce`). The caller checked the treasury, its balance and the
 * portfolio's state. Shared by the REST route and the publish job's initial funding (`requestKey` `initial`).
 */
export async function relayReserveFunding(
  context: Pick<ReserveContext, 'prisma' | 'relayer' | 'chainId'>,
  parameters: {
    portfolioId: string;
    portfolio: Address;
    payToken: Address;
    allowance: bigint;
    amount: bigint;
    requestKey: string;
  },
) {
  const { portfolioId, portfolio } = parameters;
  if (parameters.allowance < parameters.amount) {
    await relayOnce(context, {
      keyBase: `reserve-approve-${portfolioId}`,
      kind: RESERVE_APPROVE_KIND,
      refId: portfolioId,
      to: parameters.payToken,
      abi: erc20Abi,
      functionName: 'approve',
      args: [portfolio, maxUint256],
    });
  }
  return relayOnce(context, {
    keyBase: `reserve-fund-${portfolioId}-${parameters.requestKey}`,
    kind: FUND_RESERVE_KIND,
    refId: `${portfolioId}:${parameters.requestKey}`,
    to: portfolio,
    abi: portfolioAbi,
    functionName: 'fundReserve',
    args: [parameters.amount],
    // the approval just sent may not be in the latest block yet
    blockTag: 'pending',
    findEvent: byTxHashes((hashes) =>
      context.prisma.reserveFundedEvent.findFirst({
        where: { chainId: context.chainId, ...hashes },
        orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
      }),
    ),
  });
}
