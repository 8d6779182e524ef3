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
  /** Protocol fee (to the protocol treasury), taken first, in bps of the recovery. */
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

// ---------------------------------------------------------------------------------------------
// Waterfall spec v2 (ARCHITECTURE.md "Waterfall spec v2: reserve, trigger, resolution"):
// the cash reserve, the collection-ratio trigger over the business plan, and resolution.
//
// Written apart from the v1 functions above (which stay exactly as they are, with all their
// callers): `computeWaterfallV2` with no reserve, no trigger and `final` false gives the v1 numbers,
// and the property tests check that against `computeWaterfall` rather than by construction.
// ---------------------------------------------------------------------------------------------

/** Most points a business plan may have (the bound the contract stores at creation). */
export const MAX_BUSINESS_PLAN_POINTS = 64;

/** One point of the issuer's business plan. */
export type BusinessPlanPoint = {
  /** Seconds since the offering closed. Points are strictly increasing in `atSeconds`. */
  atSeconds: bigint | number;
  /** Cumulative gross collections the business plan expects by `atSeconds`, in base units. */
  cumulative: bigint;
};

/** The collection-ratio trigger, fixed at creation. */
export type WaterfallTrigger = {
  /** Breached while `collected * 10000 < collectionRatioBps * plan(T)`. */
  collectionRatioBps: number;
  /** 1 to MAX_BUSINESS_PLAN_POINTS points, sorted by strictly increasing `atSeconds`, `cumulative` non-decreasing. */
  businessPlan: readonly BusinessPlanPoint[];
};

/** Reserve terms, fixed at creation: the target and what the issuer funded before the offering closed. */
export type WaterfallReserveTerms = {
  /** Target = floor(senior outstanding * targetBps / 10000), 0..10000. */
  targetBps: number;
  /** Balance before the first recovery, in base units. */
  initial: bigint;
};

/** Reserve between two recoveries. */
export type WaterfallReserveState = {
  targetBps: number;
  /** Cash in the reserve before this recovery, in base units. */
  balance: bigint;
};

export type ComputeWaterfallV2Parameters = ComputeWaterfallParameters & {
  /** Absent: no reserve (target 0, balance 0). */
  reserve?: WaterfallReserveState | undefined;
  /** Absent: never breached. */
  trigger?: WaterfallTrigger | undefined;
  /** Σ elapsedSeconds of the previous recoveries (the clock before this one); default 0. */
  clockSeconds?: bigint | number | undefined;
  /** Σ gross amounts of the previous recoveries; default 0. */
  collected?: bigint | undefined;
  /** The resolving recovery: target 0 (whole reserve released), every debt left written off. */
  final?: boolean | undefined;
};

/** v1's per-tranche result plus the write-offs (0 except on the final recovery). */
export type TranchePaymentV2 = TranchePayment & {
  principalWrittenOff: bigint;
  interestWrittenOff: bigint;
};

export type WaterfallReserveMovements = {
  /** Left the reserve (balance above target) and joined the cash available. */
  released: bigint;
  /** Left the reserve to pay the senior's interest the cash available did not. */
  drawn: bigint;
  /** Went back into the reserve from the cash available, up to the target. */
  replenished: bigint;
  balanceAfter: bigint;
};

export type ComputeWaterfallV2ReturnType = {
  servicerFee: bigint;
  protocolFee: bigint;
  triggerBreached: boolean;
  reserve: WaterfallReserveMovements;
  /** One entry per input tranche, same order. */
  tranches: TranchePaymentV2[];
  undistributed: bigint;
  /** The tranches after this recovery (after write-offs when final). */
  state: TrancheState[];
  /** The reserve target of this recovery (0 when final). */
  reserveTarget: bigint;
  /** plan(T): the cumulative of the last business plan point at or before T (0 without a trigger). */
  planned: bigint;
  /** T after this recovery: Σ elapsedSeconds, this one included. */
  clockSeconds: bigint;
  /** Σ gross amounts, this one included. */
  collected: bigint;
  /** True after the final recovery: no more recoveries. */
  resolved: boolean;
};

/** plan(T): `cumulative` of the last point with `atSeconds <= T`, 0 when none. Points must be sorted. */
export function plannedCollections(businessPlan: readonly BusinessPlanPoint[], clockSeconds: bigint): bigint {
  let planned = 0n;
  for (const point of businessPlan) {
    if (BigInt(point.atSeconds) > clockSeconds) break;
    planned = point.cumulative;
  }
  return planned;
}

/** The trigger test: `collected * 10000 < collectionRatioBps * planned` (planned = plan(T)). */
export function isTriggerBreached(parameters: {
  collectionRatioBps: number;
  collected: bigint;
  planned: bigint;
}): boolean {
  const { collectionRatioBps, collected, planned } = parameters;
  return collected * BPS_DENOMINATOR < BigInt(collectionRatioBps) * planned;
}

/**
 * Runs one recovery of gross `amount` through waterfall spec v2: accrue, fees, trigger test,
 * reserve release, senior interest (with a draw on the reserve), replenishment, the rest by
 * seniority (senior principal ahead of junior interest while breached or in `sequential`), the
 * residual tranche, and on `final` the write-off of every debt left.
 * Throws `DomainInputError` (listing every problem) on invalid input.
 */
export function computeWaterfallV2(parameters: ComputeWaterfallV2Parameters): ComputeWaterfallV2ReturnType {
  assertValid(validateWaterfallV2Parameters(parameters));
  const { tranches, fees, mode = 'interestFirst', amount, trigger, final = false } = parameters;
  const elapsedSeconds = BigInt(parameters.elapsedSeconds);
  const clockSeconds = BigInt(parameters.clockSeconds ?? 0) + elapsedSeconds;
  const collected = (parameters.collected ?? 0n) + amount;
  const targetBps = BigInt(parameters.reserve?.targetBps ?? 0);
  let reserve = parameters.reserve?.balance ?? 0n;

  const state: TrancheState[] = tranches.map((tranche) => ({ ...tranche }));
  const payments: TranchePaymentV2[] = tranches.map(() => ({
    interest: 0n,
    principal: 0n,
    residual: 0n,
    total: 0n,
    outstandingAfter: 0n,
    interestArrearsAfter: 0n,
    principalWrittenOff: 0n,
    interestWrittenOff: 0n,
  }));
  const last = state.length - 1;
  const debt = state.slice(0, last).map((_, index) => index);
  const senior = debt.length > 0 ? 0 : undefined;
  const juniors = debt.slice(1);

  // 1. accrual as in v1
  for (const i of debt) {
    state[i].interestArrears += accrueInterest({
      outstanding: state[i].outstanding,
      couponBps: state[i].couponBps,
      elapsedSeconds,
    });
  }

  // 2. fees on the gross amount
  const servicerFee = feeOf(amount, fees.servicerBps);
  const protocolFee = feeOf(amount, fees.protocolBps);
  let available = amount - servicerFee - protocolFee;

  // 3. the trigger, on the clock and the collections so far (this recovery included)
  const planned = trigger === undefined ? 0n : plannedCollections(trigger.businessPlan, clockSeconds);
  const triggerBreached =
    trigger !== undefined &&
    isTriggerBreached({ collectionRatioBps: trigger.collectionRatioBps, collected, planned });

  // 4. the target on the senior's outstanding before this recovery's payments; the excess is released
  const seniorOutstanding = senior === undefined ? 0n : state[senior].outstanding;
  const reserveTarget = final ? 0n : (seniorOutstanding * targetBps) / BPS_DENOMINATOR;
  const released = reserve > reserveTarget ? reserve - reserveTarget : 0n;
  reserve -= released;
  available += released;

  const payInterest = (i: number) => {
    const paid = min(available, state[i].interestArrears);
    state[i].interestArrears -= paid;
    payments[i].interest += paid;
    available -= paid;
  };
  const payPrincipal = (i: number) => {
    const paid = min(available, state[i].outstanding);
    state[i].outstanding -= paid;
    payments[i].principal += paid;
    available -= paid;
  };

  // 5. the senior's interest, what the cash does not cover drawn from the reserve
  let drawn = 0n;
  if (senior !== undefined) {
    payInterest(senior);
    drawn = min(reserve, state[senior].interestArrears);
    state[senior].interestArrears -= drawn;
    payments[senior].interest += drawn;
    reserve -= drawn;
  }

  // 6. back into the reserve up to the target
  const shortfall = reserveTarget > reserve ? reserveTarget - reserve : 0n;
  const replenished = min(available, shortfall);
  reserve += replenished;
  available -= replenished;

  // 7. the rest by seniority
  if (mode === 'interestFirst' && !triggerBreached) {
    for (const i of juniors) payInterest(i);
    for (const i of debt) payPrincipal(i);
  } else {
    if (senior !== undefined) payPrincipal(senior);
    for (const i of juniors) {
      payInterest(i);
      payPrincipal(i);
    }
  }

  // 8. the residual tranche, or undistributed when it has no holders
  if (state[last].outstanding !== 0n) {
    payments[last].residual = available;
    available = 0n;
  }

  // 9. resolution: every debt left is written off
  if (final) {
    for (const i of debt) {
      payments[i].principalWrittenOff = state[i].outstanding;
      payments[i].interestWrittenOff = state[i].interestArrears;
      state[i].outstanding = 0n;
      state[i].interestArrears = 0n;
    }
  }

  for (const [i, payment] of payments.entries()) {
    payment.total = payment.interest + payment.principal + payment.residual;
    payment.outstandingAfter = state[i].outstanding;
    payment.interestArrearsAfter = state[i].interestArrears;
  }
  return {
    servicerFee,
    protocolFee,
    triggerBreached,
    reserve: { released, drawn, replenished, balanceAfter: reserve },
    tranches: payments,
    undistributed: available,
    state,
    reserveTarget,
    planned,
    clockSeconds,
    collected,
    resolved: final,
  };
}

export type WaterfallRecoveryV2 = WaterfallRecovery & {
  /** The resolving recovery (amount may be 0); no recovery may follow it. */
  final?: boolean | undefined;
};

export type RunWaterfallV2Parameters = Omit<RunWaterfallParameters, 'recoveries'> & {
  reserve?: WaterfallReserveTerms | undefined;
  trigger?: WaterfallTrigger | undefined;
  /** Applied in order, each to the state the previous one left; only the last may be final. */
  recoveries: readonly WaterfallRecoveryV2[];
};

export type RunWaterfallV2ReturnType = {
  /** `results[i]` is the result of `recoveries[i]`. */
  results: ComputeWaterfallV2ReturnType[];
  /** Tranches after the last recovery. */
  state: TrancheState[];
  /** Reserve balance after the last recovery (the initial balance when there is none). */
  reserveBalance: bigint;
  clockSeconds: bigint;
  collected: bigint;
  resolved: boolean;
};

/** Applies `recoveries` in order to one v2 portfolio (the shape of a waterfall-v2 test vector). */
export function runWaterfallV2(parameters: RunWaterfallV2Parameters): RunWaterfallV2ReturnType {
  const { mode, fees, recoveries, reserve, trigger } = parameters;
  if (!Array.isArray(recoveries)) {
    throw new DomainInputError({ field: 'recoveries', message: 'must be an array' });
  }
  let state = initialTrancheState(Array.isArray(parameters.tranches) ? parameters.tranches : []);
  const reserveIssues: DomainInputIssue[] = [];
  if (reserve !== undefined) {
    if (reserve === null || typeof reserve !== 'object') {
      reserveIssues.push({ field: 'reserve', message: 'must be an object { targetBps, initial }' });
    } else if (!isNonNegativeBigint(reserve.initial)) {
      reserveIssues.push({ field: 'reserve.initial', message: 'must be a non-negative bigint' });
    }
  }
  const reserveState = (balance: bigint): WaterfallReserveState | undefined =>
    reserve === undefined || reserve === null ? undefined : { targetBps: reserve.targetBps, balance };
  let reserveBalance = reserveIssues.length === 0 && reserve ? reserve.initial : 0n;
  assertValid([
    ...reserveIssues,
    ...validateWaterfallV2Parameters({
      tranches: state,
      fees,
      mode,
      elapsedSeconds: 0,
      amount: 0n,
      reserve: reserveState(reserveBalance),
      trigger,
    }).filter((issue) => issue.field !== 'reserve.balance'),
  ]);

  let clockSeconds = 0n;
  let collected = 0n;
  let resolvedBy: number | undefined;
  const results: ComputeWaterfallV2ReturnType[] = [];
  for (const [index, recovery] of recoveries.entries()) {
    const at = `recoveries[${index}]`;
    if (resolvedBy !== undefined) {
      throw new DomainInputError({
        field: at,
        message: `the portfolio was resolved by recoveries[${resolvedBy}]: no recovery may follow the final one`,
      });
    }
    const { elapsedSeconds, amount, final } = recovery ?? ({} as WaterfallRecoveryV2);
    const input: ComputeWaterfallV2Parameters = {
      tranches: state,
      fees,
      mode,
      elapsedSeconds,
      amount,
      reserve: reserveState(reserveBalance),
      trigger,
      clockSeconds,
      collected,
      final,
    };
    assertValid(
      validateWaterfallV2Parameters(input)
        .filter((issue) => ['elapsedSeconds', 'amount', 'final'].includes(issue.field))
        .map((issue) => ({ ...issue, field: `${at}.${issue.field}` })),
    );
    const result = computeWaterfallV2(input);
    results.push(result);
    state = result.state;
    reserveBalance = result.reserve.balanceAfter;
    clockSeconds = result.clockSeconds;
    collected = result.collected;
    if (result.resolved) resolvedBy = index;
  }
  return { results, state, reserveBalance, clockSeconds, collected, resolved: resolvedBy !== undefined };
}

/** Every problem with v2 `parameters` (v1's checks included); empty when valid. */
export function validateWaterfallV2Parameters(parameters: ComputeWaterfallV2Parameters): DomainInputIssue[] {
  const issues = validateWaterfallParameters(parameters);
  const issue = (field: string, message: string) => issues.push({ field, message });
  const { reserve, trigger, clockSeconds, collected, final } =
    parameters ?? ({} as ComputeWaterfallV2Parameters);

  if (reserve !== undefined) {
    if (reserve === null || typeof reserve !== 'object') {
      issue('reserve', 'must be an object { targetBps, balance }');
    } else {
      checkBps(reserve.targetBps, 'reserve.targetBps', issue);
      if (!isNonNegativeBigint(reserve.balance)) issue('reserve.balance', 'must be a non-negative bigint');
    }
  }
  if (trigger !== undefined) validateTrigger(trigger, issue);
  if (clockSeconds !== undefined && !isNonNegativeInteger(clockSeconds)) {
    issue('clockSeconds', 'must be a non-negative integer');
  }
  if (collected !== undefined && !isNonNegativeBigint(collected)) {
    issue('collected', 'must be a non-negative bigint');
  }
  if (final !== undefined && typeof final !== 'boolean') issue('final', 'must be a boolean');
  return issues;
}

function validateTrigger(trigger: WaterfallTrigger, issue: (field: string, message: string) => void): void {
  if (trigger === null || typeof trigger !== 'object') {
    issue('trigger', 'must be an object { collectionRatioBps, businessPlan }');
    return;
  }
  checkBps(trigger.collectionRatioBps, 'trigger.collectionRatioBps', issue);
  checkBusinessPlan(trigger.businessPlan, 'trigger.businessPlan', issue);
}

/**
 * Every problem with a business plan on its own (fields `businessPlan`, `businessPlan[i].atSeconds`,
 * `businessPlan[i].cumulative`): 1 to MAX_BUSINESS_PLAN_POINTS points, strictly increasing `atSeconds`,
 * non-decreasing `cumulative`; empty when valid. `validateWaterfallV2Parameters` applies the same rules
 * under `trigger.businessPlan`.
 */
export function validateBusinessPlan(plan: readonly BusinessPlanPoint[]): DomainInputIssue[] {
  const issues: DomainInputIssue[] = [];
  checkBusinessPlan(plan, 'businessPlan', (field, message) => issues.push({ field, message }));
  return issues;
}

function checkBusinessPlan(
  plan: readonly BusinessPlanPoint[],
  field: string,
  issue: (field: string, message: string) => void,
): void {
  if (!Array.isArray(plan) || plan.length === 0) {
    issue(field, 'must list at least one point');
    return;
  }
  if (plan.length > MAX_BUSINESS_PLAN_POINTS) {
    issue(field, `must not have more than ${MAX_BUSINESS_PLAN_POINTS} points`);
  }
  let previous: { atSeconds: bigint; cumulative: bigint } | undefined;
  for (const [i, point] of plan.entries()) {
    const at = `${field}[${i}]`;
    if (point === null || typeof point !== 'object') {
      issue(at, 'must be an object { atSeconds, cumulative }');
      previous = undefined;
      continue;
    }
    const atOk = isNonNegativeInteger(point.atSeconds);
    if (!atOk) issue(`${at}.atSeconds`, 'must be a non-negative integer');
    const cumulativeOk = isNonNegativeBigint(point.cumulative);
    if (!cumulativeOk) issue(`${at}.cumulative`, 'must be a non-negative bigint');
    if (!atOk || !cumulativeOk) {
      previous = undefined;
      continue;
    }
    const current = { atSeconds: BigInt(point.atSeconds), cumulative: point.cumulative };
    if (previous !== undefined) {
      if (current.atSeconds === previous.atSeconds) {
        issue(`${at}.atSeconds`, `duplicates the previous point's (${previous.atSeconds})`);
      } else if (current.atSeconds < previous.atSeconds) {
        issue(
          `${at}.atSeconds`,
          `must be greater than the previous point's (${previous.atSeconds}): sort the points`,
        );
      }
      if (current.cumulative < previous.cumulative) {
        issue(
          `${at}.cumulative`,
          `must not be below the previous point's (${previous.cumulative}): it is cumulative`,
        );
      }
    }
    previous = current;
  }
}

function isNonNegativeInteger(value: unknown): boolean {
  if (typeof value === 'bigint') return value >= 0n;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
