/** The verifier's parameters and result (core/distributions/verify/index.ts `verifyDistribution`). */
import type { Address, Hex, PublicClient } from 'viem';

/** What the verifier takes from the API: which distribution of which portfolio. */
export type DistributionToVerify = {
  /** The distribution's uuid (its on-chain `distributionId` is this as a 128-bit integer). */
  id: string;
  chainId?: number | undefined;
  /** The Portfolio contract. */
  portfolio: string;
  recoveryId: bigint | number | string;
};

export type VerifyDistributionParameters = {
  publicClient: PublicClient;
  distribution: DistributionToVerify;
  /** The published tree dump bytes (GET /v1/distributions/:id/tree). */
  treeBytes: Uint8Array;
  /** First block to read logs from (default: the block the Portfolio's code appeared in). */
  fromBlock?: bigint | undefined;
  /** Largest block range of one eth_getLogs (default 2000; halved on "too many results"). */
  blockRange?: bigint | undefined;
  /** Leaf differences listed (default 10). */
  maxDifferences?: number | undefined;
  /** Progress lines. */
  progress?: ((line: string) => void) | undefined;
};

export type LeafDifference = { account: Address; expected: bigint | null; published: bigint | null };

export type VerifyCheck = { name: string; ok: boolean; detail: string };

export type VerifiedRecovery = {
  recoveryId: bigint;
  blockNumber: bigint;
  snapshotBlock: bigint;
  amount: bigint;
  /** Per tranche: interest + principal + residual of the event. */
  trancheTotals: bigint[];
  carryIn: bigint[];
  distributed: bigint[];
  dustOut: bigint[];
  supplies: bigint[];
  holders: number;
  payout: bigint;
  /** The resolving recovery (its `PortfolioResolved` is on-chain). */
  final: boolean;
  /** Spec v2 (a portfolio with v2 terms, or the final recovery), recomputed: the trigger; null for v1. */
  triggerBreached: boolean | null;
  /** Spec v2, recomputed: the reserve it started from and its movements; null for v1. */
  reserve: {
    before: bigint;
    released: bigint;
    drawn: bigint;
    replenished: bigint;
    balanceAfter: bigint;
  } | null;
  /** The final recovery, recomputed: per tranche what was written off; null otherwise. */
  writtenOff: { principal: bigint[]; interest: bigint[] } | null;
};

/** A root the Distributor committed to (its last `RootProposed` or `RootAccepted` for the id). */
export type CommittedRoot = { root: Hex; total: bigint; treeHash: Hex; blockNumber: bigint };

export type VerifyDistributionResult = {
  agree: boolean;
  reasons: string[];
  checks: VerifyCheck[];
  recoveries: VerifiedRecovery[];
  expected: { root: Hex; total: bigint; leaves: number };
  published: { root: Hex | null; leaves: number; treeHash: Hex };
  committed: {
    distributionId: bigint;
    proposed: CommittedRoot | null;
    accepted: CommittedRoot | null;
    currentRoot: Hex;
  };
  differences: LeafDifference[];
  differenceCount: number;
  /** The readable report, ending with `agree` or `DISAGREE: <reasons>`. */
  report: string;
};
