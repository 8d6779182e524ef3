/**
 * Waterfall spec v1 (ARCHITECTURE.md), mirrored by `contracts/src/libraries/WaterfallLib.sol`.
 * Pure: plain data in, plain data out, integers in payToken base units as bigint.
 *
 * Rounding: every division floors. Interest accrues as ONE floor of the full product over the
 * full denominator: `outstanding * couponBps * elapsedSeconds / (10000 * 31536000)`. (Dividing
 * the full product by 10000 and then by 31536000 gives the same integer; flooring
 * `outstanding * couponBps / 10000` first does not.)
 *
 * As in WaterfallLib, the last tranche is always the residual tranche; when its outstanding (its
 * face: "has holders") is 0, what it would get is returned as `undistributed` instead.
 */
import { DomainInputError, type DomainInputIssue } from './errors.ts';

export const BPS_DENOMINATOR = 10_000n;
export const SECONDS_PER_YEAR = 31_536_000n;
export const MAX_BPS = 10_000;

export const waterfallModes = ['interestFirst', 'sequential'] as const;
/** `interestFirst`: all arrears in seniority order, then all principal; `sequential`: tranche by tranche. */
export type WaterfallMode = (typeof waterfallModes)[number];

export type WaterfallFees = {
  /** Servicer fee, taken first, in bps of the recovery. */
  servicerBps: number;
  /** Protocol fee (funds the reserve), taken first, in bps of the recovery. */
  protocolBps: number;
};

/** Listed terms of one tranche. Index 0 is the most senior. */
export type TrancheTerms = {
  name?: string;
  /** Face value in base units. */
  face: bigint;
  /** Annual coupon in bps of the outstanding principal; 0 for the residual tranche. */
  couponBps: number;
  /**
   * The last tranche is always the residual tranche (spec v1): it takes whatever is left, has no
   * principal or interest, and its `outstanding` (its face) only says whether it has holders. The
   * flag (as in the vectors) may be `true` on the last tranche only, and may not be `false` there.
   */
  residual?: boolean;
};

/** One tranche between two recoveries. */
export type TrancheState = TrancheTerms & {
  /** Principal still owed; for the residual tranche its face, never changed (0 = no holders). */
  outstanding: bigint;
  /** Accrued and unpaid interest (always 0 for the residual tranche). */
  interestArrears: bigint;
};

/** What one tranche received from one recovery, and its state afterwards. */
export type TranchePayment = {
  interest: bigint;
  principal: bigint;
  residual: bigint;
  /** interest + principal + residual */
  total: bigint;
  outstandingAfter: bigint;
  interestArrearsAfter: bigint;
};

export type ComputeWaterfallParameters = {
  /** Tranches in seniority order, the residual tranche last. */
  tranches: readonly TrancheState[];
  fees: WaterfallFees;
  /** Defaults to `interestFirst`. */
  mode?: WaterfallMode | undefined;
  /** Seconds since the previous recovery (for the first one, since the offering closed). */
  elapsedSeconds: bigint | number;
  /** Recovery amount in base units. */
  amount: bigint;
};

export type ComputeWaterfallReturnType = {
  servicerFee: bigint;
  protocolFee: bigint;
  /** One entry per input tranche, same order. */
  tranches: TranchePayment[];
  /** Cash no tranche could take: what the residual tranche would get when it has no holders (outstanding 0). */
  undistributed: bigint;
  /** The tranches after this recovery, to pass to the next one. */
  state: TrancheState[];
};

/** Interest accrued on `outstanding` over `elapsedSeconds`: one floor of the full product over the full denominator. */
export function accrueInterest(parameters: {
  outstanding: bigint;
  couponBps: number | bigint;
  elapsedSeconds: number | bigint;
}): bigint {
  const { outstanding, couponBps, elapsedSeconds } = parameters;
  return (outstanding * BigInt(couponBps) * BigInt(elapsedSeconds)) / (BPS_DENOMINATOR * SECONDS_PER_YEAR);
}

/** Fee of `bps` on `amount`, floored. */
export function feeOf(amount: bigint, bps: number): bigint {
  return (amount * BigInt(bps)) / BPS_DENOMINATOR;
}

/**
 * Runs one recovery of `amount` through the waterfall: accrue interest, take the fees, pay
 * arrears and principal by seniority (per `mode`), give the rest to the residual tranche.
 * Throws `DomainInputError` (listing every problem) on invalid input.
 */
export function computeWaterfall(parameters: ComputeWaterfallParameters): ComputeWaterfallReturnType {
  assertValid(validateWaterfallParameters(parameters));
  const { tranches, fees, mode = 'interestFirst', amount } = parameters;
  const elapsedSeconds = BigInt(parameters.elapsedSeconds);

  const state: TrancheState[] = tranches.map((tranche) => ({ ...tranche }));
  const payments: TranchePayment[] = tranches.map(() => ({
    interest: 0n,
    principal: 0n,
    residual: 0n,
    total: 0n,
    outstandingAfter: 0n,
    interestArrearsAfter: 0n,
  }));
  const last = state.length - 1;
  const debt = state.slice(0, last).map((_, index) => index);

  // 1. accrual (no interest on interest)
  for (const i of debt) {
    state[i].interestArrears += accrueInterest({
      outstanding: state[i].outstanding,
      couponBps: state[i].couponBps,
      elapsedSeconds,
    });
  }

  // 2. fees first
  const servicerFee = feeOf(amount, fees.servicerBps);
  const protocolFee = feeOf(amount, fees.protocolBps);
  let remaining = amount - servicerFee - protocolFee;

  // 3. debt tranches
  const payInterest = (i: number) => {
    const paid = min(remaining, state[i].interestArrears);
    state[i].interestArrears -= paid;
    payments[i].interest += paid;
    remaining -= paid;
  };
  const payPrincipal = (i: number) => {
    const paid = min(remaining, state[i].outstanding);
    state[i].outstanding -= paid;
    payments[i].principal += paid;
    remaining -= paid;
  };
  if (mode === 'sequential') {
    for (const i of debt) {
      payInterest(i);
      payPrincipal(i);
    }
  } else {
    for (const i of debt) payInterest(i);
    for (const i of debt) payPrincipal(i);
  }

  // 4. the rest to the residual tranche, or kept aside if it has no holders
  if (state[last].outstanding !== 0n) {
    payments[last].residual = remaining;
    remaining = 0n;
  }

  for (const [i, payment] of payments.entries()) {
    payment.total = payment.interest + payment.principal + payment.residual;
    payment.outstandingAfter = state[i].outstanding;
    payment.interestArrearsAfter = state[i].interestArrears;
  }
  return { servicerFee, protocolFee, tranches: payments, undistributed: remaining, state };
}

export type WaterfallRecovery = { elapsedSeconds: bigint | number; amount: bigint };

export type RunWaterfallParameters = {
  mode?: WaterfallMode | undefined;
  /** Terms, optionally with a starting state (defaults: outstanding = face, no arrears). */
  tranches: readonly (TrancheTerms & Partial<Pick<TrancheState, 'outstanding' | 'interestArrears'>>)[];
  fees: WaterfallFees;
  /** Applied in order, each to the state the previous one left. */
  recoveries: readonly WaterfallRecovery[];
};

export type RunWaterfallReturnType = {
  /** `results[i]` is the result of `recoveries[i]`. */
  results: ComputeWaterfallReturnType[];
  /** State after the last recovery. */
  state: TrancheState[];
};

/** Starting state of listed tranches: every debt tranche owes its face, no arrears. */
export function initialTrancheState(tranches: RunWaterfallParameters['tranches']): TrancheState[] {
  return tranches.map((tranche) => ({
    ...tranche,
    outstanding: tranche.outstanding ?? tranche.face,
    interestArrears: tranche.interestArrears ?? 0n,
  }));
}

/** Applies `recoveries` in order to one portfolio (the shape of a waterfall test vector). */
export function runWaterfall(parameters: RunWaterfallParameters): RunWaterfallReturnType {
  const { mode, fees, recoveries } = parameters;
  if (!Array.isArray(recoveries)) {
    throw new DomainInputError({ field: 'recoveries', message: 'must be an array' });
  }
  let state = initialTrancheState(Array.isArray(parameters.tranches) ? parameters.tranches : []);
  assertValid(validateWaterfallParameters({ tranches: state, fees, mode, elapsedSeconds: 0, amount: 0n }));
  const results: ComputeWaterfallReturnType[] = [];
  for (const [index, recovery] of recoveries.entries()) {
    const { elapsedSeconds, amount } = recovery ?? ({} as WaterfallRecovery);
    assertValid(
      validateWaterfallParameters({ tranches: state, fees, mode, elapsedSeconds, amount }).map((issue) => ({
        ...issue,
        field: `recoveries[${index}].${issue.field}`,
      })),
    );
    const result = computeWaterfall({ tranches: state, fees, mode, elapsedSeconds, amount });
    results.push(result);
    state = result.state;
  }
  return { results, state };
}

/** Every problem with `parameters`; empty when valid. */
export function validateWaterfallParameters(parameters: ComputeWaterfallParameters): DomainInputIssue[] {
  const issues: DomainInputIssue[] = [];
  const issue = (field: string, message: string) => issues.push({ field, message });
  const { tranches, fees, mode, elapsedSeconds, amount } = parameters ?? ({} as ComputeWaterfallParameters);

  if (!isNonNegativeBigint(amount)) issue('amount', 'must be a non-negative bigint');
  if (typeof elapsedSeconds === 'bigint') {
    if (elapsedSeconds < 0n) issue('elapsedSeconds', 'must not be negative');
  } else if (!Number.isSafeInteger(elapsedSeconds) || elapsedSeconds < 0) {
    issue('elapsedSeconds', 'must be a non-negative integer');
  }
  if (mode !== undefined && !waterfallModes.includes(mode)) {
    issue('mode', `must be one of ${waterfallModes.join(', ')}`);
  }

  if (fees === null || typeof fees !== 'object') {
    issue('fees', 'is required');
  } else {
    const servicerOk = checkBps(fees.servicerBps, 'fees.servicerBps', issue);
    const protocolOk = checkBps(fees.protocolBps, 'fees.protocolBps', issue);
    if (servicerOk && protocolOk && fees.servicerBps + fees.protocolBps > MAX_BPS) {
      issue('fees', `servicerBps + protocolBps must not exceed ${MAX_BPS}`);
    }
  }

  if (!Array.isArray(tranches) || tranches.length === 0) {
    issue('tranches', 'must list at least one tranche');
    return issues;
  }
  for (const [i, tranche] of tranches.entries()) {
    const at = `tranches[${i}]`;
    if (tranche === null || typeof tranche !== 'object') {
      issue(at, 'must be an object');
      continue;
    }
    checkBps(tranche.couponBps, `${at}.couponBps`, issue);
    const faceOk = isNonNegativeBigint(tranche.face);
    if (!faceOk) issue(`${at}.face`, 'must be a non-negative bigint');
    if (!isNonNegativeBigint(tranche.interestArrears)) {
      issue(`${at}.interestArrears`, 'must be a non-negative bigint');
    }
    if (!isNonNegativeBigint(tranche.outstanding)) {
      issue(`${at}.outstanding`, 'must be a non-negative bigint');
    } else if (faceOk && tranche.outstanding > tranche.face) {
      issue(`${at}.outstanding`, 'must not exceed face');
    }
    if (tranche.residual !== undefined && typeof tranche.residual !== 'boolean') {
      issue(`${at}.residual`, 'must be a boolean');
    }
    const isLast = i === tranches.length - 1;
    if (tranche.residual === true && !isLast)
      issue(`${at}.residual`, 'only the last tranche may be residual');
    if (tranche.residual === false && isLast) {
      issue(`${at}.residual`, 'the last tranche is always the residual tranche');
    }
    if (isLast) {
      if (tranche.couponBps !== 0) issue(`${at}.couponBps`, 'must be 0 for the residual tranche');
      if (typeof tranche.interestArrears === 'bigint' && tranche.interestArrears !== 0n) {
        issue(`${at}.interestArrears`, 'must be 0 for the residual tranche');
      }
    }
  }
  return issues;
}

function checkBps(value: unknown, field: string, issue: (field: string, message: string) => void): boolean {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_BPS) {
    issue(field, `must be an integer from 0 to ${MAX_BPS}`);
    return false;
  }
  return true;
}

function isNonNegativeBigint(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= 0n;
}

function assertValid(issues: DomainInputIssue[]): void {
  if (issues.length > 0) throw new DomainInputError(issues);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
