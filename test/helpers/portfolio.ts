import { type Address, type Hex, maxUint256 } from 'viem';
import { allowlistInvestors, approve, buy, mintTestStablecoin } from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { trancheTokenAbi } from '../../core/chain/generated/index.ts';
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

/**
 * Allowlists `holders` until `expiry`, gives each `cash` test dollars (default 10,000) and an
 * unlimited allowance to the Portfolio, then buys `purchases[h][trancheId]` pay units of face of each
 * tranche as holder `h` (0 = none), at the offering price. The pay token is the stack's TestStablecoin
 * (6 decimals), so a pay unit of face is 10^12 tranche-token base units.
 */
export async function allowlistAndBuy(
  deployer: ChainClients,
  parameters: {
    stack: DeployedStack;
    portfolio: Address;
    holders: readonly ChainClients[];
    purchases: readonly (readonly bigint[])[];
    expiry: bigint;
    cash?: bigint;
  },
): Promise<void> {
  const { stack, portfolio, holders } = parameters;
  const payToken = stack.testStablecoin as Address;
  await allowlistInvestors(deployer, {
    registry: stack.complianceRegistry,
    accounts: holders.map((h) => h.account.address),
    expiry: parameters.expiry,
  });
  for (const [h, holder] of holders.entries()) {
    await mintTestStablecoin(deployer, {
      token: payToken,
      to: holder.account.address,
      amount: parameters.cash ?? 10_000n * 10n ** 6n,
    });
    await approve(holder, { token: payToken, spender: portfolio, amount: maxUint256 });
    for (const [trancheId, units] of (parameters.purchases[h] ?? []).entries()) {
      if (units > 0n) {
        await buy(holder, { portfolio, trancheId, amount: units * 10n ** 12n, maxCost: maxUint256 });
      }
    }
  }
}

/** The non-zero `balanceOf` of each account in `token` at `blockNumber`, read from the chain. */
export async function balancesAtBlock(
  publicClient: ChainClients['publicClient'],
  parameters: { token: Address; accounts: readonly Address[]; blockNumber: bigint },
): Promise<{ account: Address; balance: bigint }[]> {
  const balances: { account: Address; balance: bigint }[] = [];
  for (const account of parameters.accounts) {
    const balance = await publicClient.readContract({
      address: parameters.token,
      abi: trancheTokenAbi,
      functionName: 'balanceOf',
      args: [account],
      blockNumber: parameters.blockNumber,
    });
    if (balance > 0n) balances.push({ account, balance });
  }
  return balances;
}

/**
 * A valid `POST /v1/portfolios` body (a senior and a residual tranche), with `over` replacing top-level
 * fields: `draftPortfolioBody({ askingPrice: '1' })`.
 */
export function draftPortfolioBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Draft portfolio',
    assetClass: 'residential_mortgage',
    jurisdiction: 'IT',
    currency: 'EUR',
    askingPrice: '25000000000',
    servicerAddress: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
    fees: { servicerBps: 150, protocolBps: 50 },
    tranches: [
      { name: 'Senior', symbol: 'NPLA', face: '15000000000', couponBps: 500 },
      { name: 'Residual', symbol: 'NPLR', face: '3000000000' },
    ],
    ...over,
  };
}
