/**
 * Per-holder split inside a tranche (ARCHITECTURE.md "Per holder inside a tranche"):
 * `payout[i] = floor(amount * balances[i] / sum(balances))`, the dust stays with the tranche and
 * is carried into its next distribution, so nothing is ever lost or overpaid. Pure, bigint.
 */
import { DomainInputError, type DomainInputIssue } from './errors.ts';

export type SplitProRataParameters = {
  /** Amount to split, in base units. */
  amount: bigint;
  /** Holder balances (e.g. at the snapshot block); their sum is the total supply. */
  balances: readonly bigint[];
};

export type SplitProRataReturnType = {
  /** `payouts[i]` belongs to the holder of `balances[i]`. */
  payouts: bigint[];
  /** `amount - sum(payouts)`: less than the number of holders with a balance, or all of it when the supply is zero. */
  dust: bigint;
};

/**
 * Splits `amount` pro rata to `balances`, flooring each share. With a zero total supply
 * (no holders, or only zero balances) nothing is paid and the whole amount is dust.
 */
export function splitProRata(parameters: SplitProRataParameters): SplitProRataReturnType {
  const { amount, balances } = parameters;
  const issues: DomainInputIssue[] = [];
  if (typeof amount !== 'bigint' || amount < 0n) {
    issues.push({ field: 'amount', message: 'must be a non-negative bigint' });
  }
  if (!Array.isArray(balances)) {
    issues.push({ field: 'balances', message: 'must be an array' });
  } else {
    for (const [i, balance] of balances.entries()) {
      if (typeof balance !== 'bigint' || balance < 0n) {
        issues.push({ field: `balances[${i}]`, message: 'must be a non-negative bigint' });
      }
    }
  }
  if (issues.length > 0) throw new DomainInputError(issues);

  let totalSupply = 0n;
  for (const balance of balances) totalSupply += balance;
  if (totalSupply === 0n) return { payouts: balances.map(() => 0n), dust: amount };

  let paid = 0n;
  const payouts = balances.map((balance) => {
    const payout = (amount * balance) / totalSupply;
    paid += payout;
    return payout;
  });
  return { payouts, dust: amount - paid };
}

export type SplitProRataWithCarryParameters = SplitProRataParameters & {
  /** Dust this tranche carried out of its previous distribution (0 for the first). */
  carryIn?: bigint | undefined;
};

/**
 * `splitProRata` of `amount + carryIn`: the tranche's dust from the previous distribution joins
 * this one. The returned `dust` is what to carry into the next distribution of the same tranche.
 */
export function splitProRataWithCarry(parameters: SplitProRataWithCarryParameters): SplitProRataReturnType {
  const { amount, balances, carryIn = 0n } = parameters;
  if (typeof carryIn !== 'bigint' || carryIn < 0n) {
    throw new DomainInputError({ field: 'carryIn', message: 'must be a non-negative bigint' });
  }
  if (typeof amount !== 'bigint') return splitProRata({ amount, balances });
  return splitProRata({ amount: amount + carryIn, balances });
}
