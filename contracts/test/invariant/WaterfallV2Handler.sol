// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../../src/libraries/WaterfallLib.sol";
import {Test} from "../utils/Test.sol";

/// @notice Drives random sequences of spec-v2 recoveries (any amount, any elapsed time, rarely the final one)
/// through `WaterfallLib.runV2` on one portfolio kept in storage (tranches, reserve, trigger, clock,
/// collected), the way Portfolio will carry them, and records the newest call with the state before and after
/// it and the running reserve ghosts for `WaterfallV2InvariantTest`. After the final recovery every call
/// returns early (a resolved portfolio takes no more recoveries).
contract WaterfallV2Handler is Test {
    struct Call {
        uint256 amount;
        uint256 elapsed;
        bool isFinal;
        bool breachedIndependently;
        WaterfallLib.Result result;
        WaterfallLib.Tranche[] before;
        WaterfallLib.Tranche[] afterState;
        uint256 reserveBefore;
    }

    WaterfallLib.Tranche[] internal _tranches;
    WaterfallLib.PlanPoint[] internal _plan;
    WaterfallLib.Mode public mode;
    uint256 public servicerBps;
    uint256 public protocolBps;
    uint256 public reserveTargetBps;
    uint256 public reserveBalance;
    uint256 public collectionRatioBps;
    uint256 public clock;
    uint256 public collected;
    bool public resolved;

    uint256 public immutable initialReserve;
    uint256 public ghostReplenished;
    uint256 public ghostReleasedAndDrawn;
    uint256 public calls;

    Call internal _last;

    constructor(
        WaterfallLib.Tranche[] memory tranches,
        WaterfallLib.Mode mode_,
        uint256 servicerBps_,
        uint256 protocolBps_,
        WaterfallLib.Reserve memory reserve,
        WaterfallLib.Trigger memory trigger
    ) {
        WaterfallLib.checkTerms(reserve.targetBps, trigger.collectionRatioBps, trigger.businessPlan);
        for (uint256 i; i < tranches.length; ++i) {
            _tranches.push(tranches[i]);
        }
        for (uint256 i; i < trigger.businessPlan.length; ++i) {
            _plan.push(trigger.businessPlan[i]);
        }
        mode = mode_;
        servicerBps = servicerBps_;
        protocolBps = protocolBps_;
        reserveTargetBps = reserve.targetBps;
        reserveBalance = reserve.balance;
        initialReserve = reserve.balance;
        collectionRatioBps = trigger.collectionRatioBps;
    }

    // ------------------------------------------------------------------ actions

    /// @notice One recovery of `amount` after `elapsed`; final when `finalSeed < 3` (about 1 in 85 calls).
    function recover(uint256 amount, uint256 elapsed, uint8 finalSeed) external {
        if (resolved) return;
        // small amounts exercise shortfalls and draws, large ones pay everything off
        amount = amount % 4 == 0 ? bound(amount, 0, 20_000e6) : bound(amount, 0, 2_000_000e6);
        elapsed = bound(elapsed, 0, 400 days);
        clock += elapsed;
        collected += amount;
        WaterfallLib.Recovery memory recovery =
            WaterfallLib.Recovery(amount, elapsed, clock, collected, finalSeed < 3);

        Call storage call = _last;
        call.amount = amount;
        call.elapsed = elapsed;
        call.isFinal = recovery.isFinal;
        call.breachedIndependently = _breached();
        call.reserveBefore = reserveBalance;
        _run(call, recovery);
        if (recovery.isFinal) resolved = true;
        ++calls;
    }

    function _run(Call storage call, WaterfallLib.Recovery memory recovery) internal {
        WaterfallLib.Tranche[] memory state = _loadTranches();
        _storeTranches(call.before, state);
        WaterfallLib.Reserve memory reserve = WaterfallLib.Reserve(reserveTargetBps, reserveBalance);
        WaterfallLib.Result memory r = WaterfallLib.runV2(
            state, mode, servicerBps, protocolBps, reserve, WaterfallLib.Trigger(collectionRatioBps, _plan), recovery
        );
        call.result = r;
        _storeTranches(call.afterState, state);
        for (uint256 i; i < state.length; ++i) {
            _tranches[i] = state[i];
        }
        reserveBalance = reserve.balance;
        ghostReplenished += r.reserve.replenished;
        ghostReleasedAndDrawn += r.reserve.released + r.reserve.drawn;
    }

    // ------------------------------------------------------------------ views

    function lastCall() external view returns (Call memory) {
        return _last;
    }

    function tranches() external view returns (WaterfallLib.Tranche[] memory) {
        return _tranches;
    }

    // ------------------------------------------------------------------ internal

    /// @dev The trigger recomputed without the library: the last plan point at or before the clock, and the
    /// comparison in plain uint256 (the bounded amounts here never overflow it).
    function _breached() internal view returns (bool) {
        uint256 planned;
        for (uint256 i; i < _plan.length; ++i) {
            if (_plan[i].atSeconds <= clock) planned = _plan[i].cumulative;
        }
        return collected * 10_000 < collectionRatioBps * planned;
    }

    function _loadTranches() internal view returns (WaterfallLib.Tranche[] memory state) {
        state = new WaterfallLib.Tranche[](_tranches.length);
        for (uint256 i; i < state.length; ++i) {
            state[i] = _tranches[i];
        }
    }

    function _storeTranches(WaterfallLib.Tranche[] storage target, WaterfallLib.Tranche[] memory state) internal {
        while (target.length != 0) target.pop();
        for (uint256 i; i < state.length; ++i) {
            target.push(state[i]);
        }
    }
}
