// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title WaterfallLib
/// @notice The cash waterfall of spec v2 (ARCHITECTURE.md, "Waterfall spec v2": cash reserve, collection-ratio
/// trigger, resolution with write-offs), in pay-token base units; `run` is its v1 special case (no reserve, no
/// trigger, not final), which gives exactly the v1 numbers. Mirrored by `core/domain/waterfall.ts`; both must
/// give the same integers on `spec/vectors/waterfall.json` (v1) and `spec/vectors/waterfall-v2.json` (v2).
/// @dev Tranches are in seniority order (index 0 most senior); every tranche but the last is a debt
/// tranche with outstanding principal, interest arrears and a coupon; the last is the residual tranche,
/// whose `outstanding` is only read as "has holders" (non-zero) and never changes. "Senior" is tranche 0
/// when there is at least one debt tranche.
library WaterfallLib {
    /// @dev Basis points in one whole.
    uint256 internal constant BPS = 10_000;
    /// @dev Seconds in the 365-day year used for coupon accrual.
    uint256 internal constant YEAR = 31_536_000;
    /// @notice Most business plan points a trigger may carry (`checkTerms`), so a recovery's scan is bounded.
    uint256 internal constant MAX_PLAN_POINTS = 64;

    /// @notice `InterestFirst`: every debt tranche's arrears in seniority order, then every debt tranche's
    /// principal in seniority order. `Sequential`: for each debt tranche in order, its arrears then its
    /// principal. (Spec v2: `InterestFirst` while the trigger is breached pays like `Sequential` after the
    /// senior's interest.)
    enum Mode {
        InterestFirst,
        Sequential
    }

    /// @notice State of one tranche, updated in place by `run` / `runV2`.
    struct Tranche {
        uint256 outstanding;
        uint256 arrears;
        uint256 couponBps;
    }

    /// @notice The cash reserve: `targetBps` of the senior's outstanding principal (at most 10 000, fixed at
    /// creation) and its current `balance`, updated in place by `runV2`. `{0, 0}`: no reserve.
    struct Reserve {
        uint256 targetBps;
        uint256 balance;
    }

    /// @notice One business plan point: the issuer expects `cumulative` collections by `atSeconds` seconds
    /// after the offering closed.
    struct PlanPoint {
        uint256 atSeconds;
        uint256 cumulative;
    }

    /// @notice The subordination trigger: breached while `collected * 10000 < collectionRatioBps * plan(T)`.
    /// `businessPlan` is sorted by strictly increasing `atSeconds` (`checkTerms`). A zero ratio or an empty
    /// plan is no trigger (never breached).
    /// @dev `plan(T)` depends only on the last point with `atSeconds <= T`, so a caller keeping its plan in
    /// storage may pass just the points up to `T`, or only that last one.
    struct Trigger {
        uint256 collectionRatioBps;
        PlanPoint[] businessPlan;
    }

    /// @notice One recovery: gross `amount` after `elapsedSeconds` since the previous recovery (the first:
    /// since the offering closed); `clock` = T, the sum of every recovery's `elapsedSeconds` so far, this one
    /// included (seconds since the offering closed); `collected` = the sum of every gross amount so far,
    /// this one included; `isFinal` for the resolving recovery.
    struct Recovery {
        uint256 amount;
        uint256 elapsedSeconds;
        uint256 clock;
        uint256 collected;
        bool isFinal;
    }

    /// @notice Reserve movements of one recovery: `released` (above target, or everything on the final
    /// recovery) and `drawn` (to pay the senior's interest) left the reserve into the waterfall;
    /// `replenished` came back from it; `balanceAfter` is the reserve after the recovery.
    struct ReserveFlow {
        uint256 released;
        uint256 drawn;
        uint256 replenished;
        uint256 balanceAfter;
    }

    /// @notice What one recovery pays. Arrays have one entry per tranche; for a tranche i its total is
    /// `interest[i] + principal[i] + residual[i]`. `undistributed` is the residual share when the residual
    /// tranche has no holders (outstanding 0). Always `amount + reserve.released + reserve.drawn ==
    /// servicerFee + protocolFee + sum(totals) + reserve.replenished + undistributed` (v1: the reserve terms
    /// are 0). `principalWrittenOff[i]` / `interestWrittenOff[i]` are non-zero only on a final recovery, for
    /// debt tranches.
    struct Result {
        uint256 servicerFee;
        uint256 protocolFee;
        uint256[] interest;
        uint256[] principal;
        uint256[] residual;
        uint256 undistributed;
        bool triggerBreached;
        ReserveFlow reserve;
        uint256[] principalWrittenOff;
        uint256[] interestWrittenOff;
    }

    /// @notice The reserve target is above 10 000 bps.
    error WaterfallReserveTargetTooHigh(uint256 targetBps);
    /// @notice The business plan has more than `MAX_PLAN_POINTS` points.
    error WaterfallBusinessPlanTooLong(uint256 points, uint256 max);
    /// @notice Business plan point `index` does not come strictly after the previous one.
    error WaterfallBusinessPlanUnsorted(uint256 index);
    /// @notice Business plan point `index` expects less cumulative collections than the previous one.
    error WaterfallBusinessPlanDecreasing(uint256 index);
    /// @notice The trigger's collection ratio is above 10 000 bps.
    error WaterfallCollectionRatioTooHigh(uint256 collectionRatioBps);
    /// @notice A trigger (collection ratio above 0) without a business plan to compare collections with.
    error WaterfallTriggerWithoutPlan();

    /// @notice Checks the v2 terms fixed at creation, as `validateWaterfallV2Parameters` of
    /// core/domain/waterfall.ts does: reserve target and collection ratio at most 10 000 bps, at most
    /// `MAX_PLAN_POINTS` business plan points (at least one when the ratio is above 0), sorted by strictly
    /// increasing `atSeconds`, with non-decreasing `cumulative`.
    function checkTerms(uint256 reserveTargetBps, uint256 collectionRatioBps, PlanPoint[] memory businessPlan)
        internal
        pure
    {
        if (reserveTargetBps > BPS) revert WaterfallReserveTargetTooHigh(reserveTargetBps);
        if (collectionRatioBps > BPS) revert WaterfallCollectionRatioTooHigh(collectionRatioBps);
        uint256 points = businessPlan.length;
        if (collectionRatioBps != 0 && points == 0) revert WaterfallTriggerWithoutPlan();
        if (points > MAX_PLAN_POINTS) revert WaterfallBusinessPlanTooLong(points, MAX_PLAN_POINTS);
        for (uint256 i = 1; i < points; ++i) {
            if (businessPlan[i].atSeconds <= businessPlan[i - 1].atSeconds) revert WaterfallBusinessPlanUnsorted(i);
            if (businessPlan[i].cumulative < businessPlan[i - 1].cumulative) {
                revert WaterfallBusinessPlanDecreasing(i);
            }
        }
    }

    /// @notice Runs one spec-v1 recovery of `amount` after `elapsedSeconds` through the waterfall, updating
    /// `tranches` (outstanding principal and interest arrears) in place: `runV2` without reserve, without
    /// trigger and not final (its v2 fields read 0 / false).
    /// @dev Requires `tranches.length >= 1` and `servicerFeeBps + protocolFeeBps <= BPS` (Portfolio.initialize
    /// checks both; the library itself panics only when no tranche is given or the floored fees exceed `amount`).
    /// Accrual floors `outstanding * couponBps * elapsedSeconds / (BPS * YEAR)` and the caller restarts the
    /// clock at every recovery, so each recovery drops the remainder: less than one base unit of interest
    /// entitlement (arrears) per debt tranche, never cash. Every unit of `amount` is still allocated
    /// (fees + tranche totals + undistributed == amount): the cash one more unit of arrears would have
    /// taken goes to the next claim down the waterfall. Kept by design: spec v1 and its normative vectors
    /// (spec/vectors) fix this rounding, and the bound (< 1 base unit per debt tranche per recovery) is
    /// below any amount a holder can be paid.
    function run(
        Tranche[] memory tranches,
        Mode mode,
        uint256 servicerFeeBps,
        uint256 protocolFeeBps,
        uint256 amount,
        uint256 elapsedSeconds
    ) internal pure returns (Result memory result) {
        uint256 left;
        (result, left) = _start(tranches, servicerFeeBps, protocolFeeBps, amount, elapsedSeconds);
        uint256 last = tranches.length - 1;
        if (last != 0) left = _payInterest(tranches[0], result, 0, left);
        left = _payRest(tranches, result, left, mode == Mode.Sequential);
        _payResidual(tranches, result, left);
    }

    /// @notice Runs one spec-v2 recovery through the waterfall, updating `tranches` and `reserve.balance` in
    /// place: accrual and fees as in v1; the trigger at `recovery.clock` / `recovery.collected`; the reserve
    /// released above its target (`floor(senior outstanding * targetBps / 10000)` before this recovery's
    /// payments, 0 when final); the senior's arrears, then a draw on the reserve for what is still unpaid;
    /// the reserve replenished to its target; the other claims (`InterestFirst` while breached pays like
    /// `Sequential`); the residual; on a final recovery every debt tranche's remaining principal and arrears
    /// written off (both then read 0).
    /// @dev Same requirements as `run`; `checkTerms` holds for `reserve.targetBps` and `trigger.businessPlan`
    /// (the library reads the plan as sorted). Panics on overflow when `amount + reserve.balance` exceeds
    /// 2^256 - 1 (never with real token balances). The caller enforces that nothing follows a final recovery.
    /// With `reserve = {0, 0}`, an empty trigger and `isFinal == false` the result equals `run`'s.
    function runV2(
        Tranche[] memory tranches,
        Mode mode,
        uint256 servicerFeeBps,
        uint256 protocolFeeBps,
        Reserve memory reserve,
        Trigger memory trigger,
        Recovery memory recovery
    ) internal pure returns (Result memory result) {
        uint256 left;
        (result, left) = _start(tranches, servicerFeeBps, protocolFeeBps, recovery.amount, recovery.elapsedSeconds);
        bool breached = isBreached(trigger, recovery.clock, recovery.collected);
        result.triggerBreached = breached;
        left = _reserveAndSenior(tranches, result, reserve, recovery.isFinal, left);
        left = _payRest(tranches, result, left, breached || mode == Mode.Sequential);
        _payResidual(tranches, result, left);
        if (recovery.isFinal) _writeOff(tranches, result);
    }

    /// @notice `plan(T)`: the `cumulative` of the last business plan point with `atSeconds <= clock`, 0 when
    /// there is none. Reads the plan as sorted by `atSeconds`.
    function planAt(PlanPoint[] memory businessPlan, uint256 clock) internal pure returns (uint256 planned) {
        uint256 points = businessPlan.length;
        for (uint256 i; i < points; ++i) {
            PlanPoint memory point = businessPlan[i];
            if (point.atSeconds > clock) break;
            planned = point.cumulative;
        }
    }

    /// @notice `collected * 10000 < collectionRatioBps * plan(clock)`, exact over the whole uint256 range.
    function isBreached(Trigger memory trigger, uint256 clock, uint256 collected) internal pure returns (bool) {
        uint256 ratio = trigger.collectionRatioBps;
        if (ratio == 0 || trigger.businessPlan.length == 0) return false;
        uint256 planned = planAt(trigger.businessPlan, clock);
        if (planned == 0) return false;
        (uint256 highCollected, uint256 lowCollected) = Math.mul512(collected, BPS);
        (uint256 highPlanned, uint256 lowPlanned) = Math.mul512(ratio, planned);
        return highCollected < highPlanned || (highCollected == highPlanned && lowCollected < lowPlanned);
    }

    /// @notice Sum of what tranche `trancheId` receives in `result`.
    function total(Result memory result, uint256 trancheId) internal pure returns (uint256) {
        return result.interest[trancheId] + result.principal[trancheId] + result.residual[trancheId];
    }

    /// @dev Allocates the result, accrues interest (step 1) and takes the fees (step 2); returns what is left.
    function _start(
        Tranche[] memory tranches,
        uint256 servicerFeeBps,
        uint256 protocolFeeBps,
        uint256 amount,
        uint256 elapsedSeconds
    ) private pure returns (Result memory result, uint256 left) {
        uint256 count = tranches.length;
        uint256 last = count - 1;
        result.interest = new uint256[](count);
        result.principal = new uint256[](count);
        result.residual = new uint256[](count);
        result.principalWrittenOff = new uint256[](count);
        result.interestWrittenOff = new uint256[](count);

        // 1. accrue simple interest into arrears (floor)
        if (elapsedSeconds != 0) {
            for (uint256 i; i < last; ++i) {
                Tranche memory tranche = tranches[i];
                if (tranche.couponBps != 0 && tranche.outstanding != 0) {
                    tranche.arrears += Math.mulDiv(tranche.outstanding, tranche.couponBps * elapsedSeconds, BPS * YEAR);
                }
            }
        }

        // 2. fees first (floor each)
        result.servicerFee = Math.mulDiv(amount, servicerFeeBps, BPS);
        result.protocolFee = Math.mulDiv(amount, protocolFeeBps, BPS);
        left = amount - result.servicerFee - result.protocolFee;
    }

    /// @dev Steps 4-6 of v2: release above target, the senior's arrears, the draw, the replenishment.
    function _reserveAndSenior(
        Tranche[] memory tranches,
        Result memory result,
        Reserve memory reserve,
        bool isFinal,
        uint256 left
    ) private pure returns (uint256) {
        bool hasSenior = tranches.length > 1;
        uint256 balance = reserve.balance;
        uint256 target;
        if (hasSenior && !isFinal && reserve.targetBps != 0) {
            target = Math.mulDiv(tranches[0].outstanding, reserve.targetBps, BPS);
        }
        ReserveFlow memory flow = result.reserve;
        if (balance > target) {
            flow.released = balance - target;
            balance = target;
            left += flow.released;
        }
        if (hasSenior) {
            Tranche memory senior = tranches[0];
            left = _payInterest(senior, result, 0, left);
            uint256 unpaid = senior.arrears;
            if (unpaid != 0 && balance != 0) {
                uint256 drawn = Math.min(unpaid, balance);
                flow.drawn = drawn;
                balance -= drawn;
                senior.arrears = unpaid - drawn;
                result.interest[0] += drawn;
            }
        }
        if (target > balance) {
            uint256 replenished = Math.min(left, target - balance);
            flow.replenished = replenished;
            balance += replenished;
            left -= replenished;
        }
        flow.balanceAfter = balance;
        reserve.balance = balance;
        return left;
    }

    /// @dev Step 7 (v1 step 3 after the senior's arrears): `subordinate` (sequential, or interestFirst while
    /// the trigger is breached): the senior's principal, then for each other debt tranche its arrears then its
    /// principal; otherwise the other debt tranches' arrears, then every debt tranche's principal.
    function _payRest(Tranche[] memory tranches, Result memory result, uint256 left, bool subordinate)
        private
        pure
        returns (uint256)
    {
        uint256 last = tranches.length - 1;
        if (subordinate) {
            for (uint256 i; i < last && left != 0; ++i) {
                if (i != 0) left = _payInterest(tranches[i], result, i, left);
                left = _payPrincipal(tranches[i], result, i, left);
            }
        } else {
            for (uint256 i = 1; i < last && left != 0; ++i) {
                left = _payInterest(tranches[i], result, i, left);
            }
            for (uint256 i; i < last && left != 0; ++i) {
                left = _payPrincipal(tranches[i], result, i, left);
            }
        }
        return left;
    }

    /// @dev Step 8: the rest to the residual tranche, or kept aside if it has no holders.
    function _payResidual(Tranche[] memory tranches, Result memory result, uint256 left) private pure {
        uint256 last = tranches.length - 1;
        if (tranches[last].outstanding != 0) result.residual[last] = left;
        else result.undistributed = left;
    }

    /// @dev Step 9: every debt tranche's remaining principal and arrears are written off.
    function _writeOff(Tranche[] memory tranches, Result memory result) private pure {
        uint256 last = tranches.length - 1;
        for (uint256 i; i < last; ++i) {
            Tranche memory tranche = tranches[i];
            result.principalWrittenOff[i] = tranche.outstanding;
            result.interestWrittenOff[i] = tranche.arrears;
            tranche.outstanding = 0;
            tranche.arrears = 0;
        }
    }

    function _payInterest(Tranche memory tranche, Result memory result, uint256 i, uint256 left)
        private
        pure
        returns (uint256)
    {
        uint256 paid = Math.min(left, tranche.arrears);
        tranche.arrears -= paid;
        result.interest[i] += paid;
        return left - paid;
    }

    function _payPrincipal(Tranche memory tranche, Result memory result, uint256 i, uint256 left)
        private
        pure
        returns (uint256)
    {
        uint256 paid = Math.min(left, tranche.outstanding);
        tranche.outstanding -= paid;
        result.principal[i] += paid;
        return left - paid;
    }
}
