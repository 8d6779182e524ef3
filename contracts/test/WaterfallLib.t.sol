// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../src/libraries/WaterfallLib.sol";
import {WaterfallVectors} from "./utils/WaterfallVectors.sol";

/// @notice Reads the normative vectors (spec/vectors/waterfall.json, spec/vectors/waterfall-v2.json) and the
/// waterfall's properties (v1 and v2).
contract WaterfallLibTest is WaterfallVectors {
    /// @dev One v2 portfolio's terms and running state, as the vectors and the fuzz sequences carry them.
    struct V2Case {
        WaterfallLib.Tranche[] tranches;
        WaterfallLib.Mode mode;
        uint256 servicerBps;
        uint256 protocolBps;
        WaterfallLib.Reserve reserve;
        WaterfallLib.Trigger trigger;
        uint256 clock;
        uint256 collected;
    }

    // ------------------------------------------------------------------ vectors

    function test_run_reproducesEveryVectorCase() public view {
        string memory json = _vectors();
        uint256 cases = _caseCount(json);
        assertGt(cases, 0);
        for (uint256 c; c < cases; ++c) {
            _checkCase(json, c);
        }
    }

    function _checkCase(string memory json, uint256 c) internal view {
        WaterfallLib.Tranche[] memory tranches = _vectorTranches(json, c);
        uint256 recoveries = _recoveryCountOf(json, c);
        assertGt(recoveries, 0);
        for (uint256 k; k < recoveries; ++k) {
            (uint256 servicerBps, uint256 protocolBps) = _vectorFees(json, c);
            (uint256 amount, uint256 elapsed) = _vectorRecovery(json, c, k);
            WaterfallLib.Result memory r =
                WaterfallLib.run(tranches, _vectorMode(json, c), servicerBps, protocolBps, amount, elapsed);
            _checkRecovery(json, c, k, tranches, r);
            _assertNoV2Effects(r, tranches.length);
        }
    }

    function _assertNoV2Effects(WaterfallLib.Result memory r, uint256 count) internal pure {
        assertFalse(r.triggerBreached, "v1: trigger breached");
        assertEq(r.reserve.released + r.reserve.drawn + r.reserve.replenished + r.reserve.balanceAfter, 0, "v1: reserve");
        assertEq(r.principalWrittenOff.length, count, "v1: principalWrittenOff length");
        assertEq(r.interestWrittenOff.length, count, "v1: interestWrittenOff length");
        for (uint256 i; i < count; ++i) {
            assertEq(r.principalWrittenOff[i] + r.interestWrittenOff[i], 0, "v1: write-off");
        }
    }

    function _checkRecovery(
        string memory json,
        uint256 c,
        uint256 k,
        WaterfallLib.Tranche[] memory tranches,
        WaterfallLib.Result memory r
    ) internal pure {
        string memory where = string.concat(_caseId(json, c), " recovery ", vm.toString(k));
        assertEq(r.servicerFee, _expected(json, c, k, ".servicerFee"), where);
        assertEq(r.protocolFee, _expected(json, c, k, ".protocolFee"), where);
        assertEq(r.undistributed, _expected(json, c, k, ".undistributed"), where);
        for (uint256 i; i < tranches.length; ++i) {
            string memory at = string.concat(where, " tranche ", vm.toString(i));
            assertEq(r.interest[i], _expectedTranche(json, c, k, i, ".interest"), string.concat(at, " interest"));
            assertEq(r.principal[i], _expectedTranche(json, c, k, i, ".principal"), string.concat(at, " principal"));
            assertEq(r.residual[i], _expectedTranche(json, c, k, i, ".residual"), string.concat(at, " residual"));
            assertEq(WaterfallLib.total(r, i), _expectedTranche(json, c, k, i, ".total"), string.concat(at, " total"));
            assertEq(
                tranches[i].outstanding,
                _expectedTranche(json, c, k, i, ".outstandingAfter"),
                string.concat(at, " outstandingAfter")
            );
            assertEq(
                tranches[i].arrears,
                _expectedTranche(json, c, k, i, ".interestArrearsAfter"),
                string.concat(at, " interestArrearsAfter")
            );
        }
    }

    // ------------------------------------------------------------------ v2 vectors

    function test_runV2_reproducesEveryV2VectorCase() public view {
        string memory json = _vectorsV2();
        uint256 cases = _caseCount(json);
        assertGe(cases, 14);
        for (uint256 c; c < cases; ++c) {
            _checkCaseV2(json, c);
        }
    }

    /// @dev The v2 file's cases without reserve, trigger or final step (its v1 repeats) through the v1 entry
    /// point: `run` gives them exactly, the v2 fields included (0 / false).
    function test_run_reproducesEveryV2CaseWithoutReserveTriggerOrFinal() public view {
        string memory json = _vectorsV2();
        uint256 cases = _caseCount(json);
        uint256 checked;
        for (uint256 c; c < cases; ++c) {
            if (_isV1Case(json, c)) {
                _checkCase(json, c);
                ++checked;
            }
        }
        assertGe(checked, 6, "the v2 vectors repeat the six v1 cases");
    }

    function _isV1Case(string memory json, uint256 c) internal view returns (bool) {
        if (vm.keyExistsJson(json, _caseKey(c, ".reserve")) || vm.keyExistsJson(json, _caseKey(c, ".trigger"))) {
            return false;
        }
        uint256 recoveries = _recoveryCountOf(json, c);
        for (uint256 k; k < recoveries; ++k) {
            if (_vectorFinal(json, c, k)) return false;
        }
        return true;
    }

    function _checkCaseV2(string memory json, uint256 c) internal view {
        V2Case memory v;
        v.tranches = _vectorTranches(json, c);
        v.mode = _vectorMode(json, c);
        (v.servicerBps, v.protocolBps) = _vectorFees(json, c);
        v.reserve = _vectorReserve(json, c);
        v.trigger = _vectorTrigger(json, c);
        uint256 recoveries = _recoveryCountOf(json, c);
        assertGt(recoveries, 0);
        for (uint256 k; k < recoveries; ++k) {
            (uint256 amount, uint256 elapsed) = _vectorRecovery(json, c, k);
            bool isFinal = _vectorFinal(json, c, k);
            if (isFinal) assertEq(k, recoveries - 1, "a final recovery is the last one");
            WaterfallLib.Result memory r = _stepV2(v, amount, elapsed, isFinal);
            _checkRecovery(json, c, k, v.tranches, r);
            _checkRecoveryV2(json, c, k, v.tranches.length, r);
        }
    }

    /// @dev Runs one recovery on the running state `v` (clock and collected carried like Portfolio will).
    function _stepV2(V2Case memory v, uint256 amount, uint256 elapsed, bool isFinal)
        internal
        pure
        returns (WaterfallLib.Result memory)
    {
        v.clock += elapsed;
        v.collected += amount;
        return WaterfallLib.runV2(
            v.tranches,
            v.mode,
            v.servicerBps,
            v.protocolBps,
            v.reserve,
            v.trigger,
            WaterfallLib.Recovery({
                amount: amount, elapsedSeconds: elapsed, clock: v.clock, collected: v.collected, isFinal: isFinal
            })
        );
    }

    function _checkRecoveryV2(string memory json, uint256 c, uint256 k, uint256 count, WaterfallLib.Result memory r)
        internal
        pure
    {
        string memory where = string.concat(_caseId(json, c), " recovery ", vm.toString(k));
        assertEq(r.triggerBreached, _expectedBreached(json, c, k), string.concat(where, " triggerBreached"));
        assertEq(r.reserve.released, _expected(json, c, k, ".reserve.released"), string.concat(where, " released"));
        assertEq(r.reserve.drawn, _expected(json, c, k, ".reserve.drawn"), string.concat(where, " drawn"));
        assertEq(
            r.reserve.replenished, _expected(json, c, k, ".reserve.replenished"), string.concat(where, " replenished")
        );
        assertEq(
            r.reserve.balanceAfter, _expected(json, c, k, ".reserve.balanceAfter"), string.concat(where, " balanceAfter")
        );
        for (uint256 i; i < count; ++i) {
            string memory at = string.concat(where, " tranche ", vm.toString(i));
            assertEq(
                r.principalWrittenOff[i],
                _expectedTranche(json, c, k, i, ".principalWrittenOff"),
                string.concat(at, " principalWrittenOff")
            );
            assertEq(
                r.interestWrittenOff[i],
                _expectedTranche(json, c, k, i, ".interestWrittenOff"),
                string.concat(at, " interestWrittenOff")
            );
        }
    }

    // ------------------------------------------------------------------ unit

    function test_run_keepsResidualShareUndistributedWithoutResidualHolders() public pure {
        WaterfallLib.Tranche[] memory tranches = new WaterfallLib.Tranche[](2);
        tranches[0] = WaterfallLib.Tranche({outstanding: 100, arrears: 0, couponBps: 0});
        tranches[1] = WaterfallLib.Tranche({outstanding: 0, arrears: 0, couponBps: 0});
        WaterfallLib.Result memory r = WaterfallLib.run(tranches, WaterfallLib.Mode.InterestFirst, 0, 0, 150, 0);
        assertEq(r.principal[0], 100);
        assertEq(r.residual[1], 0);
        assertEq(r.undistributed, 50);
    }

    function test_run_sequentialPaysSeniorPrincipalBeforeJuniorInterest() public pure {
        WaterfallLib.Tranche[] memory a = _twoDebtTranches();
        WaterfallLib.Tranche[] memory b = _twoDebtTranches();
        WaterfallLib.Result memory seq = WaterfallLib.run(a, WaterfallLib.Mode.Sequential, 0, 0, 1_050, 0);
        WaterfallLib.Result memory intFirst = WaterfallLib.run(b, WaterfallLib.Mode.InterestFirst, 0, 0, 1_050, 0);
        // sequential: A arrears 10 + A principal 1000, then B arrears 40 of 50
        assertEq(seq.interest[0], 10);
        assertEq(seq.principal[0], 1_000);
        assertEq(seq.interest[1], 40);
        assertEq(seq.principal[1], 0);
        // interest first: both arrears (10 + 50), then A principal 990
        assertEq(intFirst.interest[0], 10);
        assertEq(intFirst.interest[1], 50);
        assertEq(intFirst.principal[0], 990);
    }

    function test_run_accruesNoInterestOnResidualOrZeroCoupon() public pure {
        WaterfallLib.Tranche[] memory tranches = new WaterfallLib.Tranche[](2);
        tranches[0] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 0, couponBps: 0});
        tranches[1] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 0, couponBps: 5_000});
        WaterfallLib.run(tranches, WaterfallLib.Mode.InterestFirst, 0, 0, 0, 365 days);
        assertEq(tranches[0].arrears, 0);
        assertEq(tranches[1].arrears, 0);
    }

    function _twoDebtTranches() internal pure returns (WaterfallLib.Tranche[] memory tranches) {
        tranches = new WaterfallLib.Tranche[](3);
        tranches[0] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 10, couponBps: 800});
        tranches[1] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 50, couponBps: 800});
        tranches[2] = WaterfallLib.Tranche({outstanding: 1, arrears: 0, couponBps: 0});
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_run_conservesAmount(
        uint256 seed,
        uint8 count,
        bool sequential,
        uint256 servicerBps,
        uint256 protocolBps,
        uint256 amount,
        uint256 elapsed
    ) public pure {
        WaterfallLib.Tranche[] memory tranches = _randomTranches(seed, count);
        servicerBps = bound(servicerBps, 0, 10_000);
        protocolBps = bound(protocolBps, 0, 10_000 - servicerBps);
        amount = bound(amount, 0, 1e30);
        elapsed = bound(elapsed, 0, 50 * 365 days);
        WaterfallLib.Result memory r = WaterfallLib.run(
            tranches, sequential ? WaterfallLib.Mode.Sequential : WaterfallLib.Mode.InterestFirst,
            servicerBps, protocolBps, amount, elapsed
        );
        uint256 sum = r.servicerFee + r.protocolFee + r.undistributed;
        for (uint256 i; i < tranches.length; ++i) {
            sum += WaterfallLib.total(r, i);
        }
        assertEq(sum, amount);
        assertEq(r.servicerFee, amount * servicerBps / 10_000);
        assertEq(r.protocolFee, amount * protocolBps / 10_000);
    }

    function testFuzz_run_respectsSeniority(
        uint256 seed,
        uint8 count,
        bool sequential,
        uint256 amount,
        uint256 elapsed
    ) public pure {
        WaterfallLib.Tranche[] memory tranches = _randomTranches(seed, count);
        WaterfallLib.Tranche[] memory before = _copy(tranches);
        amount = bound(amount, 0, 1e28);
        elapsed = bound(elapsed, 0, 5 * 365 days);
        WaterfallLib.Mode mode = sequential ? WaterfallLib.Mode.Sequential : WaterfallLib.Mode.InterestFirst;
        WaterfallLib.Result memory r = WaterfallLib.run(tranches, mode, 100, 50, amount, elapsed);
        assertSeniority(tranches, before, r, mode, elapsed);
    }

    /// @dev Shared with the invariant suite's reasoning: junior tranches receive principal or residual only
    /// once every more senior tranche has neither arrears nor principal left; interest in sequential mode
    /// likewise; in interestFirst mode junior interest only once senior arrears are cleared.
    function assertSeniority(
        WaterfallLib.Tranche[] memory afterState,
        WaterfallLib.Tranche[] memory beforeState,
        WaterfallLib.Result memory r,
        WaterfallLib.Mode mode,
        uint256 elapsed
    ) internal pure {
        uint256 last = afterState.length - 1;
        for (uint256 j; j <= last; ++j) {
            // never pay more than what was owed
            if (j < last) {
                uint256 accrued = beforeState[j].outstanding * beforeState[j].couponBps * elapsed / (10_000 * 365 days);
                assertEq(r.interest[j] + afterState[j].arrears, beforeState[j].arrears + accrued, "arrears");
                assertEq(r.principal[j] + afterState[j].outstanding, beforeState[j].outstanding, "principal");
                assertEq(r.residual[j], 0, "debt tranche got residual");
            } else {
                assertEq(r.interest[j] + r.principal[j], 0, "residual tranche got interest or principal");
                assertEq(afterState[j].outstanding, beforeState[j].outstanding, "residual outstanding changed");
            }
            bool juniorPrincipalOrResidual = r.principal[j] + r.residual[j] + r.undistributed * (j == last ? 1 : 0) > 0;
            for (uint256 i; i < j && i < last; ++i) {
                if (juniorPrincipalOrResidual) {
                    assertEq(afterState[i].arrears, 0, "junior paid while senior arrears remain");
                    assertEq(afterState[i].outstanding, 0, "junior paid while senior principal remains");
                }
                if (r.interest[j] > 0) {
                    assertEq(afterState[i].arrears, 0, "junior interest while senior arrears remain");
                    if (mode == WaterfallLib.Mode.Sequential) {
                        assertEq(afterState[i].outstanding, 0, "sequential: junior interest before senior principal");
                    }
                }
            }
            if (mode == WaterfallLib.Mode.InterestFirst && r.principal[j] > 0) {
                for (uint256 i; i < last; ++i) {
                    assertEq(afterState[i].arrears, 0, "interestFirst: principal before all arrears");
                }
            }
        }
    }

    // ------------------------------------------------------------------ v2 unit

    function test_checkTerms_acceptsBoundsAndRejectsBadTerms() public {
        WaterfallLib.PlanPoint[] memory plan = _plan(WaterfallLib.MAX_PLAN_POINTS);
        this.checkTermsExternal(10_000, 10_000, plan);
        this.checkTermsExternal(0, 0, new WaterfallLib.PlanPoint[](0)); // no trigger
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallReserveTargetTooHigh.selector, 10_001));
        this.checkTermsExternal(10_001, 0, plan);
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallCollectionRatioTooHigh.selector, 10_001));
        this.checkTermsExternal(0, 10_001, plan);
        vm.expectRevert(WaterfallLib.WaterfallTriggerWithoutPlan.selector);
        this.checkTermsExternal(0, 9_000, new WaterfallLib.PlanPoint[](0));
        vm.expectRevert(
            abi.encodeWithSelector(
                WaterfallLib.WaterfallBusinessPlanTooLong.selector,
                WaterfallLib.MAX_PLAN_POINTS + 1,
                WaterfallLib.MAX_PLAN_POINTS
            )
        );
        this.checkTermsExternal(0, 0, _plan(WaterfallLib.MAX_PLAN_POINTS + 1));
        plan[5].cumulative = plan[4].cumulative - 1; // decreasing
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallBusinessPlanDecreasing.selector, 5));
        this.checkTermsExternal(0, 9_000, plan);
        plan[5].cumulative = plan[4].cumulative; // flat is fine
        this.checkTermsExternal(0, 9_000, plan);
        plan[5].atSeconds = plan[4].atSeconds; // duplicate
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallBusinessPlanUnsorted.selector, 5));
        this.checkTermsExternal(0, 0, plan);
        plan[5].atSeconds = plan[4].atSeconds - 1; // unsorted
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallBusinessPlanUnsorted.selector, 5));
        this.checkTermsExternal(0, 0, plan);
    }

    function checkTermsExternal(uint256 targetBps, uint256 collectionRatioBps, WaterfallLib.PlanPoint[] memory plan)
        external
        pure
    {
        WaterfallLib.checkTerms(targetBps, collectionRatioBps, plan);
    }

    function test_planAt_isTheLastPointAtOrBeforeTheClock() public pure {
        WaterfallLib.PlanPoint[] memory plan = _plan(3); // (100, 1000), (200, 2000), (300, 3000)
        assertEq(WaterfallLib.planAt(plan, 99), 0);
        assertEq(WaterfallLib.planAt(plan, 100), 1_000);
        assertEq(WaterfallLib.planAt(plan, 299), 2_000);
        assertEq(WaterfallLib.planAt(plan, type(uint256).max), 3_000);
        assertEq(WaterfallLib.planAt(new WaterfallLib.PlanPoint[](0), 1e9), 0);
    }

    function test_isBreached_isExactAtTheBoundaryAndBeyond256Bits() public pure {
        WaterfallLib.Trigger memory trigger;
        trigger.collectionRatioBps = 9_000;
        trigger.businessPlan = _plan(1); // 1000 at 100 s
        assertFalse(WaterfallLib.isBreached(trigger, 99, 0), "no point yet");
        assertFalse(WaterfallLib.isBreached(trigger, 100, 900), "900 * 10000 == 9000 * 1000");
        assertTrue(WaterfallLib.isBreached(trigger, 100, 899));
        // products above 2^256: collected * 10000 and ratio * plan both overflow a word
        trigger.collectionRatioBps = 20_000;
        trigger.businessPlan[0].cumulative = type(uint256).max;
        assertTrue(WaterfallLib.isBreached(trigger, 100, type(uint256).max), "2 * max > max");
        trigger.collectionRatioBps = 10_000;
        assertFalse(WaterfallLib.isBreached(trigger, 100, type(uint256).max));
        assertTrue(WaterfallLib.isBreached(trigger, 100, type(uint256).max - 1));
        trigger.collectionRatioBps = 0;
        assertFalse(WaterfallLib.isBreached(trigger, 100, 0), "ratio 0 is no trigger");
    }

    /// @dev Without a debt tranche there is no senior: the target is 0, the whole reserve is released to the
    /// residual tranche.
    function test_runV2_releasesTheReserveWithoutADebtTranche() public pure {
        WaterfallLib.Tranche[] memory tranches = new WaterfallLib.Tranche[](1);
        tranches[0] = WaterfallLib.Tranche({outstanding: 1, arrears: 0, couponBps: 0});
        WaterfallLib.Reserve memory reserve = WaterfallLib.Reserve({targetBps: 5_000, balance: 70});
        WaterfallLib.Trigger memory trigger;
        WaterfallLib.Result memory r = WaterfallLib.runV2(
            tranches, WaterfallLib.Mode.InterestFirst, 0, 0, reserve, trigger, WaterfallLib.Recovery(30, 0, 0, 30, false)
        );
        assertEq(r.reserve.released, 70);
        assertEq(r.residual[0], 100);
        assertEq(reserve.balance, 0);
    }

    // ------------------------------------------------------------------ v2 fuzz

    /// @dev Any state, any terms, one recovery: conservation, reserve accounting, what is owed, seniority under
    /// the trigger, the draw only for the senior's interest, and the write-off on a final recovery.
    function testFuzz_runV2_conservesAndRespectsSeniority(
        uint256 seed,
        uint8 count,
        bool sequential,
        uint256 amount,
        uint256 elapsed,
        bool isFinal
    ) public pure {
        V2Case memory v = _randomV2(seed, count, sequential);
        WaterfallLib.Tranche[] memory before = _copy(v.tranches);
        uint256 reserveBefore = v.reserve.balance;
        amount = bound(amount, 0, 1e30);
        elapsed = bound(elapsed, 0, 5 * 365 days);
        v.clock = bound(uint256(keccak256(abi.encode(seed, "clock"))), 0, 20 * 365 days);
        v.collected = bound(uint256(keccak256(abi.encode(seed, "collected"))), 0, 1e30);
        WaterfallLib.Result memory r = _stepV2(v, amount, elapsed, isFinal);

        _assertConservation(r, amount, v.tranches.length);
        // the reserve: what left it and what came back
        assertEq(
            r.reserve.balanceAfter + r.reserve.released + r.reserve.drawn,
            reserveBefore + r.reserve.replenished,
            "reserve accounting"
        );
        assertEq(v.reserve.balance, r.reserve.balanceAfter, "reserve updated in place");
        // a draw (released and drawn may come together: the release went to the senior's interest first)
        if (r.reserve.drawn != 0) {
            assertEq(r.reserve.replenished, 0, "drawn and replenished");
            assertEq(_sumTotals(r) - r.interest[0], 0, "drawn while paying something other than senior interest");
        }
        if (isFinal) assertEq(r.reserve.balanceAfter, 0, "final: reserve left");
        _assertOwedAndOrdered(v.tranches, before, r, elapsed, isFinal);
    }

    /// @dev Random sequences (up to 12 recoveries, the last possibly final): conservation at every recovery;
    /// the reserve never negative (no underflow) and never above initial + sum(replenished); it always equals
    /// initial + sum(replenished) - sum(released) - sum(drawn).
    function testFuzz_runV2_sequenceKeepsTheReserveBounded(uint256 seed, uint8 count, bool sequential, uint8 steps)
        public
        pure
    {
        V2Case memory v = _randomV2(seed, count, sequential);
        uint256 initial = v.reserve.balance;
        uint256 replenished;
        uint256 out;
        uint256 n = bound(steps, 1, 12);
        bool endsFinal = uint256(keccak256(abi.encode(seed, "final"))) % 2 == 0;
        for (uint256 k; k < n; ++k) {
            uint256 r0 = uint256(keccak256(abi.encode(seed, "step", k)));
            uint256 amount = r0 % 3 == 0 ? bound(r0 >> 8, 0, 1e4) : bound(r0 >> 8, 0, 1e25);
            uint256 elapsed = bound(r0 >> 128, 0, 200 days);
            WaterfallLib.Result memory r = _stepV2(v, amount, elapsed, endsFinal && k == n - 1);
            _assertConservation(r, amount, v.tranches.length);
            replenished += r.reserve.replenished;
            out += r.reserve.released + r.reserve.drawn;
            assertLe(v.reserve.balance, initial + replenished, "reserve above initial + replenished");
            assertEq(v.reserve.balance + out, initial + replenished, "reserve drifted");
        }
    }

    /// @dev Zero reserve, no trigger (ratio 0 with any plan, or any ratio with no point), not final: `runV2`
    /// equals `run` in every field and in the state it leaves.
    function testFuzz_runV2_withoutReserveTriggerOrFinalEqualsRun(
        uint256 seed,
        uint8 count,
        bool sequential,
        uint256 amount,
        uint256 elapsed,
        bool ratioZero
    ) public pure {
        V2Case memory v = _randomV2(seed, count, sequential);
        v.reserve = WaterfallLib.Reserve(0, 0);
        if (ratioZero) v.trigger.collectionRatioBps = 0;
        else v.trigger.businessPlan = new WaterfallLib.PlanPoint[](0);
        WaterfallLib.Tranche[] memory v1State = _copy(v.tranches);
        amount = bound(amount, 0, 1e30);
        elapsed = bound(elapsed, 0, 50 * 365 days);
        v.clock = bound(uint256(keccak256(abi.encode(seed, "clock"))), 0, 20 * 365 days);
        WaterfallLib.Result memory a = _stepV2(v, amount, elapsed, false);
        WaterfallLib.Result memory b =
            WaterfallLib.run(v1State, v.mode, v.servicerBps, v.protocolBps, amount, elapsed);
        assertEq(keccak256(abi.encode(a)), keccak256(abi.encode(b)), "result");
        assertEq(keccak256(abi.encode(v.tranches)), keccak256(abi.encode(v1State)), "state");
    }

    function _assertConservation(WaterfallLib.Result memory r, uint256 amount, uint256 count) internal pure {
        assertEq(r.principalWrittenOff.length, count);
        assertEq(
            amount + r.reserve.released + r.reserve.drawn,
            r.servicerFee + r.protocolFee + _sumTotals(r) + r.reserve.replenished + r.undistributed,
            "amount + released + drawn != fees + totals + replenished + undistributed"
        );
    }

    function _sumTotals(WaterfallLib.Result memory r) internal pure returns (uint256 sum) {
        for (uint256 i; i < r.interest.length; ++i) {
            sum += WaterfallLib.total(r, i);
        }
    }

    function _assertOwedAndOrdered(
        WaterfallLib.Tranche[] memory afterState,
        WaterfallLib.Tranche[] memory beforeState,
        WaterfallLib.Result memory r,
        uint256 elapsed,
        bool isFinal
    ) internal pure {
        uint256 last = afterState.length - 1;
        for (uint256 j; j < last; ++j) {
            uint256 accrued = beforeState[j].outstanding * beforeState[j].couponBps * elapsed / (10_000 * 365 days);
            assertEq(
                r.interest[j] + afterState[j].arrears + r.interestWrittenOff[j],
                beforeState[j].arrears + accrued,
                "interest owed"
            );
            assertEq(
                r.principal[j] + afterState[j].outstanding + r.principalWrittenOff[j],
                beforeState[j].outstanding,
                "principal owed"
            );
            assertEq(r.residual[j], 0, "debt tranche got residual");
            if (isFinal) {
                assertEq(afterState[j].outstanding + afterState[j].arrears, 0, "final: debt left");
            } else {
                assertEq(r.principalWrittenOff[j] + r.interestWrittenOff[j], 0, "write-off before final");
            }
        }
        assertEq(r.interest[last] + r.principal[last], 0, "residual tranche got interest or principal");
        assertEq(r.principalWrittenOff[last] + r.interestWrittenOff[last], 0, "residual tranche written off");
        assertEq(afterState[last].outstanding, beforeState[last].outstanding, "residual outstanding moved");
        if (last == 0) return;
        // the senior's principal left after this recovery's payments (before any write-off)
        uint256 seniorPrincipalLeft = afterState[0].outstanding + r.principalWrittenOff[0];
        for (uint256 j = 1; j <= last; ++j) {
            if (r.principal[j] + r.residual[j] + (j == last ? r.undistributed : 0) > 0) {
                assertEq(seniorPrincipalLeft, 0, "junior principal while the senior has principal outstanding");
            }
            if (r.triggerBreached && r.interest[j] > 0) {
                assertEq(seniorPrincipalLeft, 0, "junior interest while breached and senior principal outstanding");
            }
        }
    }

    /// @dev Random tranches (as `_randomTranches`), fees, reserve (a quarter without) and trigger (a quarter
    /// without; up to 24 points, increasing).
    function _randomV2(uint256 seed, uint8 count, bool sequential) internal pure returns (V2Case memory v) {
        v.tranches = _randomTranches(seed, count);
        v.mode = sequential ? WaterfallLib.Mode.Sequential : WaterfallLib.Mode.InterestFirst;
        uint256 r = uint256(keccak256(abi.encode(seed, "terms")));
        v.servicerBps = bound(r & 0xffff, 0, 3_000);
        v.protocolBps = bound((r >> 16) & 0xffff, 0, 10_000 - v.servicerBps);
        if ((r >> 32) % 4 != 0) {
            v.reserve.targetBps = bound(r >> 40, 0, 10_000);
            v.reserve.balance = (r >> 60) % 5 == 0 ? 0 : bound(r >> 64, 0, 1e24);
        }
        if ((r >> 160) % 4 != 0) {
            v.trigger.collectionRatioBps = bound(r >> 168, 0, 12_000);
            uint256 points = bound(r >> 200, 0, WaterfallLib.MAX_PLAN_POINTS);
            v.trigger.businessPlan = new WaterfallLib.PlanPoint[](points);
            uint256 at;
            uint256 cumulative;
            for (uint256 i; i < points; ++i) {
                uint256 p = uint256(keccak256(abi.encode(seed, "plan", i)));
                at += bound(p, 1, 200 days);
                cumulative += bound(p >> 64, 0, 1e24);
                v.trigger.businessPlan[i] = WaterfallLib.PlanPoint(at, cumulative);
            }
        }
    }

    function _plan(uint256 points) internal pure returns (WaterfallLib.PlanPoint[] memory plan) {
        plan = new WaterfallLib.PlanPoint[](points);
        for (uint256 i; i < points; ++i) {
            plan[i] = WaterfallLib.PlanPoint((i + 1) * 100, (i + 1) * 1_000);
        }
    }

    function _randomTranches(uint256 seed, uint8 count) internal pure returns (WaterfallLib.Tranche[] memory t) {
        uint256 n = bound(count, 1, 6);
        t = new WaterfallLib.Tranche[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            t[i].outstanding = (r % 4 == 0) ? 0 : bound(r >> 8, 1, 1e24);
            if (i < n - 1) {
                t[i].arrears = (r % 3 == 0) ? 0 : bound(r >> 100, 0, 1e22);
                t[i].couponBps = bound(r >> 200, 0, 3_000);
            }
        }
    }

    function _copy(WaterfallLib.Tranche[] memory t) internal pure returns (WaterfallLib.Tranche[] memory c) {
        c = new WaterfallLib.Tranche[](t.length);
        for (uint256 i; i < t.length; ++i) {
            c[i] = WaterfallLib.Tranche(t[i].outstanding, t[i].arrears, t[i].couponBps);
        }
    }
}
