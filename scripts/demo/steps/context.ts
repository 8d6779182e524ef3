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
import type { TriggerAndReserve } from '../../../core/chain/contracts/portfolio.ts';
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

/** The spec-v2 state of one recovery, from its `RecoveryTriggerAndReserve` event. */
export type DemoTriggerAndReserve = TriggerAndReserve;

export type DemoRecovery = {
  index: number;
  amount: bigint;
  /** The resolving recovery (`final: true`, after the resolution's veto window). */
  final: boolean;
  /** The remittance report behind it (`POST …/remittance-reports`): its id, total and loans resolved. */
  report: {
    id: string;
    total: bigint;
    loanCount: number;
    resolvedCount: number;
    /** The reporting period the API gave it (its defaults: after the previous report's, to today). */
    periodStart: string;
    periodEnd: string;
  };
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
  /** From `RecoveryTriggerAndReserve` (every recovery of a v2 portfolio emits it). */
  triggerAndReserve: DemoTriggerAndReserve;
  /** Interest arrears per tranche just after this recovery (`trancheState` at its block): interest deferred. */
  interestArrearsAfter: bigint[];
  /** The final recovery's `PortfolioResolved`: what was written off per tranche; null otherwise. */
  writtenOff: { principal: bigint[]; interest: bigint[] } | null;
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
    /** What the taker paid; the maker received it less the marketplace's fee. */
    cost: bigint;
    fee: bigint;
  } | null;
  /** When the offering closed (chain seconds): the business plan's clock starts there. */
  closedAt: bigint | null;
  /** The reserve: funded at publish (`reserve.initial`) and topped up after the close (`POST …/reserve/funding`). */
  reserve: { targetBps: number; initial: bigint; topUp: bigint };
  /** The resolution: proposals made, the one vetoed, and the executable one the final recovery ran after. */
  resolution: { vetoed: boolean; executableAt: bigint } | null;
  /** Seconds the demo moved the local chain clock forward (anvil `evm_increaseTime`), in order. */
  clockAdvances: bigint[];
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

/** A month of the business plan: a twelfth of the waterfall's 365-day year (docs/api.md). */
export const MONTH_SECONDS = 2_628_000n;

/**
 * Waterfall spec v2 terms of the draft: a cash reserve of 5% of the senior's outstanding, 100,000
 * funded by the issuer treasury at publish and topped up to the target after the close; a trigger
 * breached while collections fall below 80% of the business plan.
 */
export const RESERVE = { targetBps: 500, initialUnits: 100_000n } as const;
export const TRIGGER = { collectionRatioBps: 8_000 } as const;

/** The issuer's business plan: cumulative collections (whole pay units) expected by each month after the close. */
export const BUSINESS_PLAN = [
  { month: 0, cumulativeUnits: 0n },
  { month: 3, cumulativeUnits: 1_500_000n },
  { month: 6, cumulativeUnits: 2_500_000n },
  { month: 12, cumulativeUnits: 4_500_000n },
  { month: 18, cumulativeUnits: 5_500_000n },
  { month: 24, cumulativeUnits: 6_000_000n },
] as const;

/**
 * The servicer's recoveries (whole pay units), each deposited that many months after the close: the
 * first on plan; the second late and short (3,000,000 collected against 4,500,000 planned by month 12,
 * below 80%), which breaches the trigger.
 */
export const RECOVERIES = [
  { month: 3, units: 2_000_000n },
  { month: 12, units: 1_000_000n },
] as const;

/**
 * The resolving recovery (whole pay units), a month after the breach, once the resolution's veto
 * window is over: the last loans settled, sold or written off; what it cannot pay is written off.
 */
export const FINAL_RECOVERY = { month: 13, units: 700_000n } as const;

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
  /** Polls `read` until `done` says so (or the step timeout). */
  until: <T>(what: string, read: () => Promise<T>, done: (value: T) => boolean) => Promise<T>;
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

/** What the servicer's remittance reports carry from one period to the next. */
export type ServicingState = {
  /** Loans a deposited report resolved: they collect nothing later. */
  resolvedLoans: Set<string>;
  /** Chain seconds the current reporting period starts at (the close, then each recovery). */
  periodStart: bigint;
};

/** From the offering's close on: the result the remaining steps fill in. */
export type RunningContext = PublishedContext & { result: DemoResult; servicing: ServicingState };
