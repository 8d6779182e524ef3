/**
 * What the demo's steps share (scripts/demo/run.ts runs them in order): the options and result
 * types, the plan of the run (tranches, investors, the trade, the recoveries), the printing and
 * polling helpers, and the context each step takes. The context grows as the steps run: the
 * portfolio's plan, then its draft id, then what publishing deployed, then the result being filled.
 */
import { createHash } from 'node:crypto';
import { type Address, formatUnits, type Hex } from 'viem';
import type { PrivateKeyAccount } from 'viem/accounts';
import type { generateLoanTape } from '../../../core/catalog/synthetic-portfolio.ts';
import type { createAnvilTestClient } from '../../../core/chain/anvil.ts';
import type { ChainClients } from '../../../core/chain/clients.ts';
import type { createApiClient } from '../api.ts';

export const DEFAULT_DEMO_SEED = 'npl-demo-1';

export type DemoOptions = {
  /** The API's base URL, e.g. http://localhost:3000. */
  apiUrl: string;
  /** An admin API key (npm start's dev key). */
  apiKey: string;
  /** JSON-RPC of the marketplace's chain (a local anvil). */
  rpcUrl: string;
  /** The Marketplace contract (the EIP-712 domain of sell orders). */
  marketplace: Address;
  /** Seed of the synthetic portfolio; default DEFAULT_DEMO_SEED. */
  seed?: string;
  /** Loans in the tape; default 5,000. */
  loans?: number;
  /** Where progress goes, one line at a time; default console.log. */
  print?: (line: string) => void;
  /** Longest wait for one asynchronous step (publish, a purchase, a distribution), ms; default 180 s. */
  stepTimeoutMs?: number;
};

export type DemoInvestor = { name: string; address: Address };

export type DemoRecovery = {
  index: number;
  amount: bigint;
  reportSha256: string;
  txHash: Hex;
  blockNumber: bigint;
  snapshotBlock: bigint;
  recoveryId: bigint;
  waterfall: {
    servicerFee: bigint;
    protocolFee: bigint;
    interest: bigint[];
    principal: bigint[];
    residual: bigint[];
    undistributed: bigint;
  };
  distributionId: string | null;
  /** Pay-token balances were read at `before` (just before the deposit) and `after` (distribution paid). */
  balanceBlocks: { before: bigint; after: bigint } | null;
  /** Pay-token received per investor address from this recovery's distribution. */
  payouts: Record<Address, bigint>;
};

export type DemoResult = {
  seed: string;
  portfolioId: string;
  portfolio: Address;
  distributor: Address;
  payToken: Address;
  tranches: { id: string; name: string; symbol: string; address: Address }[];
  investors: DemoInvestor[];
  servicer: Address;
  purchases: { investor: string; tranche: string; tokens: bigint; cost: bigint; txHash: string }[];
  trade: {
    orderHash: Hex;
    maker: Address;
    taker: Address;
    tranche: Address;
    amount: bigint;
    cost: bigint;
  } | null;
  recoveries: DemoRecovery[];
  verification: { distributionId: string; ok: boolean; summary: string }[];
  /** Steps that could not run because the API (or the project) lacks what they need; empty when complete. */
  missing: string[];
};

export const PAY_DECIMALS = 6;
const SCALE = 10n ** 12n; // 18-decimal tranche tokens per 6-decimal pay unit of face
export const whole = (units: bigint) => units * 10n ** BigInt(PAY_DECIMALS);
export const tokens = (units: bigint) => whole(units) * SCALE;

/** `1,234,567.891011` (pay-token base units, every digit kept). */
export function formatPay(baseUnits: bigint): string {
  const negative = baseUnits < 0n;
  const text = formatUnits(negative ? -baseUnits : baseUnits, PAY_DECIMALS);
  const [int, frac = ''] = text.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}.${frac.padEnd(PAY_DECIMALS, '0')}`;
}

export const formatTokens = (baseUnits: bigint) => formatPay(baseUnits / SCALE).replace(/\.0+$/, '');

/** The three tranches, as shares of the asking price. */
export const TRANCHE_PLAN = [
  { name: 'Senior', symbol: 'NPLSR', share: 55n, couponBps: 600, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'NPLMZ', share: 25n, couponBps: 1_000, priceBps: 9_500 },
  { name: 'Residual', symbol: 'NPLRS', share: 20n, couponBps: 0, priceBps: 5_000 },
] as const;

/** What each investor buys in the offering (whole units of face per tranche: senior, mezzanine, residual). */
export const INVESTOR_PLAN = [
  { name: 'Alice (pension fund)', buys: [2_000_000n, 250_000n, 0n] },
  { name: 'Bob (credit fund)', buys: [1_000_000n, 750_000n, 200_000n] },
  { name: 'Carol (distressed-debt fund)', buys: [0n, 500_000n, 600_000n] },
] as const;

/** The secondary trade: Alice sells this much senior face to Carol at 100.5% of par. */
export const TRADE = { maker: 0, taker: 2, tranche: 0, units: 500_000n, priceBps: 10_050n } as const;

/** Three recoveries (whole pay units): senior principal, then mezzanine, then the residual. */
export const RECOVERIES = [2_000_000n, 2_500_000n, 1_200_000n] as const;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A step the API (or the project) cannot run yet: the demo stops there and says what is missing. */
export class MissingFeature extends Error {}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function stringify(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]),
  );
}

export function jsonBig(_key: string, value: unknown) {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A key of this run with its clients (ether for gas from `anvil_setBalance`). */
export type DemoAccount = { account: PrivateKeyAccount; clients: ChainClients };

/** What every step has: the options, the API, the chain, the accounts of this run, printing and polling. */
export type DemoContext = {
  options: DemoOptions;
  seed: string;
  stepTimeoutMs: number;
  api: ReturnType<typeof createApiClient>;
  chainId: number;
  base: ChainClients;
  testClient: ReturnType<typeof createAnvilTestClient>;
  /** The latest block's timestamp. */
  chainNow: () => Promise<bigint>;
  /** The investors' accounts, in INVESTOR_PLAN order. */
  people: DemoAccount[];
  investors: DemoInvestor[];
  servicer: DemoAccount;
  print: (line: string) => void;
  /** Prints the next numbered step's title. */
  step: (title: string) => void;
  /** Prints an indented line under the current step. */
  info: (line: string) => void;
  /** Polls `read` until `done` says so (or the step timeout); `tick` runs between two reads. */
  until: <T>(
    what: string,
    read: () => Promise<T>,
    done: (value: T) => boolean,
    tick?: () => Promise<void>,
  ) => Promise<T>;
};

/** The portfolio of this run (steps/portfolio.ts). */
export type PortfolioPlan = {
  cutoffDate: string;
  tape: ReturnType<typeof generateLoanTape>;
  askingPrice: bigint;
  tranchePlan: ((typeof TRANCHE_PLAN)[number] & { face: bigint })[];
  portfolioName: string;
};

export type PlannedContext = DemoContext & { plan: PortfolioPlan };

/** After the draft was created (steps/data-room.ts). */
export type DraftContext = PlannedContext & { portfolioId: string };

/** What publishing deployed (steps/publish.ts). */
export type Deployed = {
  portfolio: Address;
  distributor: Address;
  payToken: Address;
  tranches: DemoResult['tranches'];
};

export type PublishedContext = DraftContext & { deployed: Deployed };

/** From the offering's close on: the result the remaining steps fill in. */
export type RunningContext = PublishedContext & { result: DemoResult };
