/**
 * Portfolio reads: its terms and tranche state (`readPortfolioTerms`, `readTrancheState`, kept in
 * ../actions.ts beside the actions that use them), the snapshot a purchase is checked against
 * (`readOfferingSnapshot`: terms, tranche, registry record, at one block), a quote, a buyer's intent
 * nonce, the anchored documents and the tranche layout. Every read goes through `readChain`, so a
 * failure is a decoded `ChainError`; `portfolioRaw` holds the bare calls for snapshots that compose
 * several contracts under one label.
 */
import type { Address, Hex, PublicClient } from 'viem';
import { type PortfolioTerms, waterfallModeFromIndex } from '../actions.ts';
import { portfolioAbi } from '../generated/index.ts';
import { readChain } from '../read.ts';
import { complianceRegistryRaw, type InvestorRecord } from './compliance-registry.ts';

export {
  type PortfolioTerms,
  readPortfolioTerms,
  readTrancheState,
  type TrancheOnChainState,
} from '../actions.ts';

type AtBlock = { blockNumber?: bigint };
type OfTranche = { portfolio: Address; trancheIndex: number | bigint };

/** `trancheTerms(i)`: the tranche's token and fixed terms (face in pay units). */
export type TrancheTerms = { token: Address; face: bigint; couponBps: number; priceBps: number };
/** `trancheState(i)` (pay units). */
export type TrancheState = { outstanding: bigint; arrears: bigint; sold: bigint; paidToDate: bigint };

/** The bare `readContract` calls (no decoding): compose them inside one `readChain`. */
export const portfolioRaw = {
  terms: async (client: PublicClient, { portfolio, blockNumber }: AtBlock & { portfolio: Address }) => {
    const terms = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'terms',
      blockNumber,
    });
    return { ...terms, mode: waterfallModeFromIndex(terms.mode) } satisfies PortfolioTerms;
  },
  trancheTerms: async (
    client: PublicClient,
    { portfolio, trancheIndex, blockNumber }: AtBlock & OfTranche,
  ): Promise<TrancheTerms> => {
    const terms = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'trancheTerms',
      args: [BigInt(trancheIndex)],
      blockNumber,
    });
    return { token: terms.token, face: terms.face, couponBps: terms.couponBps, priceBps: terms.priceBps };
  },
  trancheState: async (
    client: PublicClient,
    { portfolio, trancheIndex, blockNumber }: AtBlock & OfTranche,
  ): Promise<TrancheState> => {
    const [outstanding, arrears, sold, paidToDate] = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'trancheState',
      args: [BigInt(trancheIndex)],
      blockNumber,
    });
    return { outstanding, arrears, sold, paidToDate };
  },
};

export type ReadOfferingSnapshotParameters = OfTranche & {
  registry: Address;
  buyer: Address;
  blockNumber?: bigint;
};
export type OfferingSnapshot = {
  terms: PortfolioTerms;
  tranche: TrancheTerms;
  state: TrancheState;
  /** `registry.isAllowed(buyer)`. */
  allowed: boolean;
  /** `registry.investor(buyer)`. */
  investor: InvestorRecord;
};

/**
 * What a primary purchase is checked against, in one round of calls at one block: the portfolio's
 * terms, the tranche's terms and state, and the buyer's registry record (`isAllowed`, `investor`).
 */
export async function readOfferingSnapshot(
  client: PublicClient,
  parameters: ReadOfferingSnapshotParameters,
): Promise<OfferingSnapshot> {
  const { portfolio, trancheIndex, registry, buyer, blockNumber } = parameters;
  const [terms, tranche, state, allowed, investor] = await readChain('Portfolio', 'terms', () =>
    Promise.all([
      portfolioRaw.terms(client, { portfolio, blockNumber }),
      portfolioRaw.trancheTerms(client, { portfolio, trancheIndex, blockNumber }),
      portfolioRaw.trancheState(client, { portfolio, trancheIndex, blockNumber }),
      complianceRegistryRaw.isAllowed(client, { registry, account: buyer, blockNumber }),
      complianceRegistryRaw.investor(client, { registry, account: buyer, blockNumber }),
    ]),
  );
  return { terms, tranche, state, allowed, investor };
}

export type ReadQuoteParameters = OfTranche & { amount: bigint; blockNumber?: bigint };

/** `quote(trancheIndex, amount)`: what `amount` tranche-token units cost (pay-token base units). */
export function readQuote(client: PublicClient, parameters: ReadQuoteParameters): Promise<bigint> {
  return readChain('Portfolio', 'quote', () =>
    client.readContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'quote',
      args: [BigInt(parameters.trancheIndex), parameters.amount],
      blockNumber: parameters.blockNumber,
    }),
  );
}

export type ReadIntentNonceUsedParameters = {
  portfolio: Address;
  buyer: Address;
  nonce: bigint;
  blockNumber?: bigint;
};

/** `nonceUsed(buyer, nonce)`: was a purchase intent with this nonce already executed. */
export function readIntentNonceUsed(
  client: PublicClient,
  parameters: ReadIntentNonceUsedParameters,
): Promise<boolean> {
  return readChain('Portfolio', 'nonceUsed', () =>
    client.readContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'nonceUsed',
      args: [parameters.buyer, parameters.nonce],
      blockNumber: parameters.blockNumber,
    }),
  );
}

export type AnchoredDocuments = { version: bigint; documentRoot: Hex; loanTapeHash: Hex };

/** `documents()`: the latest anchored document root and loan-tape hash, and their version. */
export async function readAnchoredDocuments(
  client: PublicClient,
  parameters: { portfolio: Address },
): Promise<AnchoredDocuments> {
  const [version, documentRoot, loanTapeHash] = await readChain('Portfolio', 'documents', () =>
    client.readContract({ address: parameters.portfolio, abi: portfolioAbi, functionName: 'documents' }),
  );
  return { version, documentRoot, loanTapeHash };
}

export type PortfolioLayout = {
  terms: PortfolioTerms;
  /** Tranche tokens in seniority order. */
  tokens: Address[];
  trancheTerms: TrancheTerms[];
};

/** `terms()`, `trancheCount()` and every tranche's `trancheToken(i)` and `trancheTerms(i)`, one after the other. */
export function readPortfolioLayout(
  client: PublicClient,
  parameters: { portfolio: Address },
): Promise<PortfolioLayout> {
  const { portfolio } = parameters;
  return readChain('Portfolio', 'terms', async () => {
    const terms = await portfolioRaw.terms(client, { portfolio });
    const count = await client.readContract({
      address: portfolio,
      abi: portfolioAbi,
      functionName: 'trancheCount',
    });
    const tokens: Address[] = [];
    const trancheTerms: TrancheTerms[] = [];
    for (let i = 0n; i < count; i++) {
      tokens.push(
        await client.readContract({
          address: portfolio,
          abi: portfolioAbi,
          functionName: 'trancheToken',
          args: [i],
        }),
      );
      trancheTerms.push(await portfolioRaw.trancheTerms(client, { portfolio, trancheIndex: i }));
    }
    return { terms, tokens, trancheTerms };
  });
}

/** The portfolio's spec-v2 state on-chain (at `blockNumber`, default latest): risk terms, reserve, resolution, collections. */
export async function readRiskState(client: PublicClient, portfolio: Address, blockNumber?: bigint) {
  const read = <F extends 'riskTerms' | 'reserve' | 'resolution' | 'collected'>(functionName: F) =>
    readChain('Portfolio', functionName, () =>
      client.readContract({ address: portfolio, abi: portfolioAbi, functionName, blockNumber }),
    );
  const [riskTerms, reserve, resolution, collected] = await Promise.all([
    read('riskTerms'),
    read('reserve'),
    read('resolution'),
    read('collected'),
  ]);
  const [reserveTargetBps, collectionRatioBps, businessPlan, resolutionDelay] = riskTerms as readonly [
    bigint,
    bigint,
    readonly { atSeconds: bigint; cumulative: bigint }[],
    bigint,
  ];
  const [reserveBalance, reserveFunded] = reserve as readonly [bigint, bigint];
  const [executableAt, resolved] = resolution as readonly [bigint, boolean];
  return {
    reserveTargetBps: Number(reserveTargetBps),
    collectionRatioBps: Number(collectionRatioBps),
    businessPlan: businessPlan.map((p) => ({ atSeconds: BigInt(p.atSeconds), cumulative: p.cumulative })),
    resolutionDelay,
    reserveBalance,
    reserveFunded,
    executableAt,
    resolved,
    collected: collected as bigint,
  };
}
export type RiskState = Awaited<ReturnType<typeof readRiskState>>;

/**
 * The spec-v2 state of one recovery, as `Portfolio.RecoveryTriggerAndReserve` carries it: the trigger test
 * and the reserve's movements (amounts in pay-token base units).
 */
export type TriggerAndReserve = {
  triggerBreached: boolean;
  /** Gross collections so far, this recovery included. */
  collected: bigint;
  /** plan(T): the business plan's cumulative at the recovery's clock (0 without a trigger). */
  planned: bigint;
  released: bigint;
  drawn: bigint;
  replenished: bigint;
  /** The reserve balance after the recovery. */
  reserveBalance: bigint;
};
