// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../../src/libraries/WaterfallLib.sol";
import {Test} from "../utils/Test.sol";
import {WaterfallV2Handler} from "./WaterfallV2Handler.sol";

/// @notice Spec v2 over random sequences of recoveries on two portfolios (interestFirst with a 4 % reserve and
/// a 12-point business plan at 90 %; sequential with a 5 % reserve funded below target, a 3-point plan at
/// 100 % and a residual tranche without holders): at every recovery (1) conservation `amount + released +
/// drawn == fees + tranche totals + replenished + undistributed`; (2) the reserve is never above initial +
/// sum(replenished) and always equals initial + sum(replenished) - sum(released + drawn) (it never goes
/// negative: the library would underflow); (3) no junior principal while the senior has principal
/// outstanding, and no junior interest while the trigger is breached and the senior has principal
/// outstanding; (4) the trigger equals an independent recomputation; (5) no tranche is paid more than it was
/// owed; (6) after the final recovery no debt and no reserve are left. Forge checks the invariants after
/// every handler call, so each checks the newest call.
contract WaterfallV2InvariantTest is Test {
    WaterfallV2Handler internal interestFirst;
    WaterfallV2Handler internal sequential;

    function setUp() public {
        WaterfallLib.Tranche[] memory tranches = new WaterfallLib.Tranche[](3);
        tranches[0] = WaterfallLib.Tranche(600_000e6, 0, 800);
        tranches[1] = WaterfallLib.Tranche(250_000e6, 0, 1_200);
        tranches[2] = WaterfallLib.Tranche(150_000e6, 0, 0);
        WaterfallLib.Trigger memory trigger;
        trigger.collectionRatioBps = 9_000;
        trigger.businessPlan = new WaterfallLib.PlanPoint[](12);
        for (uint256 i; i < 12; ++i) {
            trigger.businessPlan[i] = WaterfallLib.PlanPoint((i + 1) * 30 days, (i + 1) * 70_000e6);
        }
        interestFirst = new WaterfallV2Handler(
            tranches, WaterfallLib.Mode.InterestFirst, 1_000, 100, WaterfallLib.Reserve(400, 24_000e6), trigger
        );

        tranches = new WaterfallLib.Tranche[](4);
        tranches[0] = WaterfallLib.Tranche(500_000e6, 0, 350);
        tranches[1] = WaterfallLib.Tranche(100_000e6, 0, 700);
        tranches[2] = WaterfallLib.Tranche(50_000e6, 0, 1_100);
        tranches[3] = WaterfallLib.Tranche(0, 0, 0);
        trigger.collectionRatioBps = 10_000;
        trigger.businessPlan = new WaterfallLib.PlanPoint[](3);
        trigger.businessPlan[0] = WaterfallLib.PlanPoint(90 days, 100_000e6);
        trigger.businessPlan[1] = WaterfallLib.PlanPoint(365 days, 400_000e6);
        trigger.businessPlan[2] = WaterfallLib.PlanPoint(730 days, 700_000e6);
        sequential = new WaterfallV2Handler(
            tranches, WaterfallLib.Mode.Sequential, 333, 17, WaterfallLib.Reserve(500, 10_000e6), trigger
        );

        targetContract(address(interestFirst));
        targetContract(address(sequential));
    }

    function invariant_conservesMoneyAtEveryRecovery() public view {
        _conserves(interestFirst);
        _conserves(sequential);
    }

    function invariant_reserveStaysWithinWhatWasFundedAndReplenished() public view {
        _reserveBounded(interestFirst);
        _reserveBounded(sequential);
    }

    function invariant_respectsSeniorityAndTheTrigger() public view {
        _seniority(interestFirst);
        _seniority(sequential);
    }

    function invariant_neverOverpaysAndWritesOffOnlyAtTheEnd() public view {
        _owed(interestFirst);
        _owed(sequential);
    }

    function _conserves(WaterfallV2Handler handler) internal view {
        if (handler.calls() == 0) return;
        WaterfallV2Handler.Call memory call = handler.lastCall();
        WaterfallLib.Result memory r = call.result;
        uint256 paid = r.servicerFee + r.protocolFee + r.reserve.replenished + r.undistributed;
        for (uint256 i; i < r.interest.length; ++i) {
            paid += WaterfallLib.total(r, i);
        }
        assertEq(call.amount + r.reserve.released + r.reserve.drawn, paid, "conservation");
    }

    function _reserveBounded(WaterfallV2Handler handler) internal view {
        uint256 balance = handler.reserveBalance();
        uint256 funded = handler.initialReserve() + handler.ghostReplenished();
        assertLe(balance, funded, "reserve above initial + replenished");
        assertEq(balance + handler.ghostReleasedAndDrawn(), funded, "reserve drifted");
        if (handler.calls() == 0) return;
        WaterfallV2Handler.Call memory call = handler.lastCall();
        assertEq(call.result.reserve.balanceAfter, balance, "balanceAfter");
        if (call.isFinal) assertEq(balance, 0, "reserve left after the final recovery");
    }

    function _seniority(WaterfallV2Handler handler) internal view {
        if (handler.calls() == 0) return;
        WaterfallV2Handler.Call memory call = handler.lastCall();
        WaterfallLib.Result memory r = call.result;
        assertEq(r.triggerBreached, call.breachedIndependently, "trigger");
        uint256 last = r.interest.length - 1;
        uint256 seniorPrincipalLeft = call.afterState[0].outstanding + r.principalWrittenOff[0];
        for (uint256 j = 1; j <= last; ++j) {
            if (r.principal[j] + r.residual[j] + (j == last ? r.undistributed : 0) > 0) {
                assertEq(seniorPrincipalLeft, 0, "junior principal while the senior has principal outstanding");
            }
            if (r.triggerBreached && r.interest[j] > 0) {
                assertEq(seniorPrincipalLeft, 0, "junior interest while breached and senior principal outstanding");
            }
        }
    }

    function _owed(WaterfallV2Handler handler) internal view {
        if (handler.calls() == 0) return;
        WaterfallV2Handler.Call memory call = handler.lastCall();
        WaterfallLib.Result memory r = call.result;
        uint256 last = r.interest.length - 1;
        for (uint256 i; i < last; ++i) {
            WaterfallLib.Tranche memory b = call.before[i];
            uint256 accrued = b.outstanding * b.couponBps * call.elapsed / (10_000 * 365 days);
            assertEq(
                r.interest[i] + call.afterState[i].arrears + r.interestWrittenOff[i], b.arrears + accrued, "interest"
            );
            assertEq(
                r.principal[i] + call.afterState[i].outstanding + r.principalWrittenOff[i], b.outstanding, "principal"
            );
            if (call.isFinal) {
                assertEq(call.afterState[i].outstanding + call.afterState[i].arrears, 0, "debt left after final");
            } else {
                assertEq(r.principalWrittenOff[i] + r.interestWrittenOff[i], 0, "write-off before final");
            }
        }
        assertEq(r.interest[last] + r.principal[last], 0, "residual tranche got interest or principal");
    }
}
