/**
 * Per-holder amounts of one distribution (ARCHITECTURE.md "Per holder inside a tranche" and
 * "The distribution job"): each tranche's share of a recovery, plus the dust that tranche carried
 * out of its previous distribution, is split pro rata to the snapshot balances (floor, dust carried
 * forward per tranche); an account holding several tranches gets the sum; its cumulative amount
 * (what the Merkle leaf commits to) is its previous cumulative plus this payout. Pure, bigint.
 */
import { DomainInputError, type DomainInputIssue } from '../domain/errors.ts';
import { splitProRataWithCarry } from '../domain/prorata.ts';

export type DistributionBalance = { account: string; balance: bigint };

export type DistributionTrancheInput = {
  trancheId: bigint | number | string;
  /** This recovery's total for the tranche (the waterfall's `total`), base units. */
  amount: bigint;
  /** Dust carried from the previous distribution of this tranche (0 for the first). */
  carryIn?: bigint | undefined;
  /** Holder balances at the snapshot block; each account at most once. */
  balances: readonly DistributionBalance[];
};

export type ComputeDistributionParameters = {
  tranches: readonly DistributionTrancheInput[];
  /** Cumulative amount of every account in the previous distribution's tree (empty for the first). */
  previousCumulative?: ReadonlyMap<string, bigint> | Readonly<Record<string, bigint>> | undefined;
};

export type DistributionHolder = {
  /** Lowercase 0x address. */
  account: string;
  /** Paid by this distribution (sum over the tranches the account holds). */
  payout: bigint;
  /** Previous cumulative + payout: the amount in the Merkle leaf. */
  cumulative: bigint;
};

export type DistributionTrancheResult = {
  trancheId: DistributionTrancheInput['trancheId'];
  /** Sum of this tranche's payouts. */
  distributed: bigint;
  /** `amount + carryIn - distributed`: carried into the tranche's next distribution. */
  dustOut: bigint;
};

export type ComputeDistributionReturnType = {
  /** Every account paid now or present in the previous tree, sorted by account. */
  holders: DistributionHolder[];
  /** One per input tranche, in input order. */
  perTranche: DistributionTrancheResult[];
  /** Sum of `holders[].payout`. */
  totalPayout: bigint;
  /** Sum of `holders[].cumulative` (the total the root commits to). */
  total: bigint;
};

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The on-chain `distributionId` of a distribution (Distributor events): its row's uuid as a 128-bit integer. */
export const distributionChainId = (id: string): bigint => BigInt(`0x${id.replaceAll('-', '')}`);

/** Splits every tranche's `amount + carryIn` over its holders and accumulates per account. */
export function computeDistribution(
  parameters: ComputeDistributionParameters,
): ComputeDistributionReturnType {
  const { tranches, previousCumulative } = parameters ?? ({} as ComputeDistributionParameters);
  const issues: DomainInputIssue[] = [];
  const previous = new Map<string, bigint>();

  if (!Array.isArray(tranches)) {
    issues.push({ field: 'tranches', message: 'must be an array' });
  } else {
    const seenTranches = new Set<string>();
    for (const [t, tranche] of tranches.entries()) {
      const at = `tranches[${t}]`;
      if (tranche === null || typeof tranche !== 'object') {
        issues.push({ field: at, message: 'must be an object' });
        continue;
      }
      const id = String(tranche.trancheId);
      if (tranche.trancheId === undefined || tranche.trancheId === null) {
        issues.push({ field: `${at}.trancheId`, message: 'is required' });
      } else if (seenTranches.has(id)) {
        issues.push({ field: `${at}.trancheId`, message: 'appears twice' });
      }
      seenTranches.add(id);
      if (typeof tranche.amount !== 'bigint' || tranche.amount < 0n) {
        issues.push({ field: `${at}.amount`, message: 'must be a non-negative bigint' });
      }
      if (tranche.carryIn !== undefined && (typeof tranche.carryIn !== 'bigint' || tranche.carryIn < 0n)) {
        issues.push({ field: `${at}.carryIn`, message: 'must be a non-negative bigint' });
      }
      if (!Array.isArray(tranche.balances)) {
        issues.push({ field: `${at}.balances`, message: 'must be an array' });
        continue;
      }
      const seen = new Set<string>();
      for (const [i, entry] of tranche.balances.entries()) {
        const field = `${at}.balances[${i}]`;
        if (entry === null || typeof entry !== 'object') {
          issues.push({ field, message: 'must be an object' });
          continue;
        }
        if (typeof entry.account !== 'string' || !ADDRESS.test(entry.account)) {
          issues.push({ field: `${field}.account`, message: 'must be a 0x-prefixed 20-byte hex address' });
        } else {
          const account = entry.account.toLowerCase();
          if (seen.has(account))
            issues.push({ field: `${field}.account`, message: 'appears twice in the tranche' });
          seen.add(account);
        }
        if (typeof entry.balance !== 'bigint' || entry.balance < 0n) {
          issues.push({ field: `${field}.balance`, message: 'must be a non-negative bigint' });
        }
      }
    }
  }

  if (previousCumulative !== undefined && previousCumulative !== null) {
    const entries =
      previousCumulative instanceof Map
        ? [...previousCumulative.entries()]
        : typeof previousCumulative === 'object'
          ? Object.entries(previousCumulative)
          : null;
    if (entries === null) {
      issues.push({ field: 'previousCumulative', message: 'must be a Map or a record' });
    } else {
      for (const [account, amount] of entries) {
        const field = `previousCumulative.${account}`;
        if (typeof account !== 'string' || !ADDRESS.test(account)) {
          issues.push({ field, message: 'key must be a 0x-prefixed 20-byte hex address' });
          continue;
        }
        if (typeof amount !== 'bigint' || amount < 0n) {
          issues.push({ field, message: 'must be a non-negative bigint' });
          continue;
        }
        const key = account.toLowerCase();
        if (previous.has(key)) issues.push({ field, message: 'appears twice (letter case aside)' });
        previous.set(key, amount);
      }
    }
  }
  if (issues.length > 0) throw new DomainInputError(issues);

  const payouts = new Map<string, bigint>();
  const perTranche: DistributionTrancheResult[] = [];
  for (const tranche of tranches) {
    const { payouts: split, dust } = splitProRataWithCarry({
      amount: tranche.amount,
      carryIn: tranche.carryIn ?? 0n,
      balances: tranche.balances.map((entry: DistributionBalance) => entry.balance),
    });
    let distributed = 0n;
    for (const [i, payout] of split.entries()) {
      if (payout === 0n) continue;
      const account = tranche.balances[i].account.toLowerCase();
      payouts.set(account, (payouts.get(account) ?? 0n) + payout);
      distributed += payout;
    }
    perTranche.push({ trancheId: tranche.trancheId, distributed, dustOut: dust });
  }

  const accounts = new Set<string>([...previous.keys(), ...payouts.keys()]);
  const sorted = [...accounts].sort();
  let totalPayout = 0n;
  let total = 0n;
  const holders = sorted.map((account) => {
    const payout = payouts.get(account) ?? 0n;
    const cumulative = (previous.get(account) ?? 0n) + payout;
    totalPayout += payout;
    total += cumulative;
    return { account, payout, cumulative };
  });
  return { holders, perTranche, totalPayout, total };
}
