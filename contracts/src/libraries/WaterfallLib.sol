// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title WaterfallLib
/// @notice The cash waterfall of spec v1 (ARCHITECTURE.md), in pay-token base units. Mirrored by
/// `core/domain/waterfall.ts`; both must give the same integers on `spec/vectors/waterfall.json`.
/// @dev Tranches are in seniority order (index 0 most senior); every tranche but the last is a debt
/// tranche with outstanding principal, interest arrears and a coupon; the last is the residual tranche,
/// whose `outstanding` is only read as "has holders" (non-zero) and never changes.
library WaterfallLib {
    /// @dev Basis points in one whole.
    uint256 internal constant BPS = 10_000;
    /// @dev Seconds in the 365-day year used for coupon accrual.
    uint256 internal constant YEAR = 31_536_000;

    /// @notice `InterestFirst`: every debt tranche's arrears in seniority order, then every debt tranche's
    /// principal in seniority order. `Sequential`: for each debt tranche in order, its arrears then its
    /// principal.
    enum Mode {
        InterestFirst,
        Sequential
    }

    /// @notice State of one tranche, updated in place by `run`.
    struct Tranche {
        uint256 outstanding;
        uint256 arrears;
        uint256 couponBps;
    }

    /// @notice What one recovery pays. Arrays have one entry per tranche; for a tranche i its total is
    /// `interest[i] + principal[i] + residual[i]`. `undistributed` is the residual share when the residual
    /// tranche has no holders (outstanding 0). Always
    /// `servicerFee + protocolFee + sum(totals) + undistributed == amount`.
    struct Result {
        uint256 servicerFee;
        uint256 protocolFee;
        uint256[] interest;
        uint256[] principal;
        uint256[] residual;
        uint256 undistributed;
    }

    /// @notice Runs one recovery of `amount` after `elapsedSeconds` through the waterfall, updating
    /// `tranches` (outstanding principal and interest arrears) in place.
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
        uint256 count = tranches.length;
        uint256 last = count - 1;
        result.interest = new uint256[](count);
        result.principal = new uint256[](count);
        result.residual = new uint256[](count);

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
        uint256 left = amount - result.servicerFee - result.protocolFee;

        // 3. debt tranches
        if (mode == Mode.InterestFirst) {
            for (uint256 i; i < last && left != 0; ++i) {
                left = _payInterest(tranches[i], result, i, left);
            }
            for (uint256 i; i < last && left != 0; ++i) {
                left = _payPrincipal(tranches[i], result, i, left);
            }
        } else {
            for (uint256 i; i < last && left != 0; ++i) {
                left = _payInterest(tranches[i], result, i, left);
                left = _payPrincipal(tranches[i], result, i, left);
            }
        }

        // 4. the rest to the residual tranche, or kept aside if it has no holders
        if (tranches[last].outstanding != 0) result.residual[last] = left;
        else result.undistributed = left;
    }

    /// @notice Sum of what tranche `trancheId` receives in `result`.
    function total(Result memory result, uint256 trancheId) internal pure returns (uint256) {
        return result.interest[trancheId] + result.principal[trancheId] + result.residual[trancheId];
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
