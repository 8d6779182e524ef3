// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../libraries/WaterfallLib.sol";

/// @title WaterfallHarness
/// @notice Exposes `WaterfallLib.run` (v1) and `WaterfallLib.runV2` (v2) to off-chain tests (the differential fuzz of
/// `test/integration/waterfall-harness-diff.test.ts` against `core/domain/waterfall.ts`). Stateless and
/// pure: it holds no funds and no roles; there is no reason to deploy it anywhere but a local chain.
contract WaterfallHarness {
    /// @notice One portfolio and the recoveries applied to it in order, the tranche state carried from one
    /// recovery to the next. `amounts[k]` arrives `elapsedSeconds[k]` seconds after the previous recovery.
    struct Sequence {
        WaterfallLib.Tranche[] tranches;
        WaterfallLib.Mode mode;
        uint256 servicerFeeBps;
        uint256 protocolFeeBps;
        uint256[] amounts;
        uint256[] elapsedSeconds;
    }

    /// @notice The result of one recovery, `WaterfallLib.total` of every tranche, and the tranche state
    /// `run` left (the state the next recovery starts from).
    struct Step {
        WaterfallLib.Result result;
        uint256[] totals;
        WaterfallLib.Tranche[] stateAfter;
    }

    /// @notice One spec-v2 portfolio: its terms, its starting tranche state and reserve balance
    /// (`reserve.balance` = the reserve's `initial`), and its recoveries in order; `isFinal[k]` marks the
    /// resolving recovery (only the last may be final). The harness carries the clock T (sum of
    /// `elapsedSeconds`) and `collected` (sum of `amounts`) from one recovery to the next, as Portfolio does.
    struct SequenceV2 {
        WaterfallLib.Tranche[] tranches;
        WaterfallLib.Mode mode;
        uint256 servicerFeeBps;
        uint256 protocolFeeBps;
        WaterfallLib.Reserve reserve;
        WaterfallLib.Trigger trigger;
        uint256[] amounts;
        uint256[] elapsedSeconds;
        bool[] isFinal;
    }

    /// @notice The arrays of a sequence differ in length.
    error HarnessLengthMismatch(uint256 amounts, uint256 elapsedSeconds);
    /// @notice A v2 sequence's `isFinal` differs in length from its `amounts`.
    error HarnessFinalLengthMismatch(uint256 amounts, uint256 isFinal);
    /// @notice Recovery `index` of a v2 sequence comes after its final recovery.
    error HarnessRecoveryAfterFinal(uint256 index);

    /// @notice Runs every sequence through `WaterfallLib.run`; `steps[s][k]` is recovery `k` of sequence `s`.
    /// @dev Reverts (panics) wherever `WaterfallLib.run` does, e.g. no tranche or fees above 10_000 bps.
    /// @param sequences The portfolios, each with its starting tranche state and its recoveries.
    /// @return steps Per sequence, per recovery: the result, the tranche totals and the state after it.
    function runSequences(Sequence[] calldata sequences) external pure returns (Step[][] memory steps) {
        steps = new Step[][](sequences.length);
        for (uint256 s; s < sequences.length; ++s) {
            steps[s] = _runSequence(sequences[s]);
        }
    }

    /// @notice Runs every v2 sequence through `WaterfallLib.runV2`; `steps[s][k]` is recovery `k` of sequence
    /// `s` (its `result.reserve.balanceAfter` is the reserve the next recovery starts from).
    /// @dev Reverts (panics) wherever `WaterfallLib.runV2` does; reverts `HarnessLengthMismatch` /
    /// `HarnessFinalLengthMismatch` on uneven arrays and `HarnessRecoveryAfterFinal` when a recovery follows a
    /// final one. The terms are not checked (`WaterfallLib.checkTerms` is the creator's check).
    /// @param sequences The portfolios, each with its terms, starting state and recoveries.
    /// @return steps Per sequence, per recovery: the result, the tranche totals and the state after it.
    function runSequencesV2(SequenceV2[] calldata sequences) external pure returns (Step[][] memory steps) {
        steps = new Step[][](sequences.length);
        for (uint256 s; s < sequences.length; ++s) {
            steps[s] = _runSequenceV2(sequences[s]);
        }
    }

    function _runSequenceV2(SequenceV2 calldata sequence) private pure returns (Step[] memory steps) {
        uint256 recoveries = sequence.amounts.length;
        if (sequence.elapsedSeconds.length != recoveries) {
            revert HarnessLengthMismatch(recoveries, sequence.elapsedSeconds.length);
        }
        if (sequence.isFinal.length != recoveries) {
            revert HarnessFinalLengthMismatch(recoveries, sequence.isFinal.length);
        }
        WaterfallLib.Tranche[] memory tranches = sequence.tranches;
        WaterfallLib.Reserve memory reserve = sequence.reserve;
        WaterfallLib.Trigger memory trigger = sequence.trigger;
        WaterfallLib.Recovery memory recovery;
        steps = new Step[](recoveries);
        for (uint256 k; k < recoveries; ++k) {
            if (recovery.isFinal) revert HarnessRecoveryAfterFinal(k);
            recovery.amount = sequence.amounts[k];
            recovery.elapsedSeconds = sequence.elapsedSeconds[k];
            recovery.clock += recovery.elapsedSeconds;
            recovery.collected += recovery.amount;
            recovery.isFinal = sequence.isFinal[k];
            Step memory step = steps[k];
            step.result = WaterfallLib.runV2(
                tranches, sequence.mode, sequence.servicerFeeBps, sequence.protocolFeeBps, reserve, trigger, recovery
            );
            _record(step, tranches);
        }
    }

    function _record(Step memory step, WaterfallLib.Tranche[] memory tranches) private pure {
        uint256 count = tranches.length;
        step.totals = new uint256[](count);
        step.stateAfter = new WaterfallLib.Tranche[](count);
        for (uint256 i; i < count; ++i) {
            step.totals[i] = WaterfallLib.total(step.result, i);
            WaterfallLib.Tranche memory tranche = tranches[i];
            step.stateAfter[i] = WaterfallLib.Tranche({
                outstanding: tranche.outstanding, arrears: tranche.arrears, couponBps: tranche.couponBps
            });
        }
    }

    function _runSequence(Sequence calldata sequence) private pure returns (Step[] memory steps) {
        uint256 recoveries = sequence.amounts.length;
        if (sequence.elapsedSeconds.length != recoveries) {
            revert HarnessLengthMismatch(recoveries, sequence.elapsedSeconds.length);
        }
        WaterfallLib.Tranche[] memory tranches = sequence.tranches;
        steps = new Step[](recoveries);
        for (uint256 k; k < recoveries; ++k) {
            Step memory step = steps[k];
            step.result = WaterfallLib.run(
                tranches,
                sequence.mode,
                sequence.servicerFeeBps,
                sequence.protocolFeeBps,
                sequence.amounts[k],
                sequence.elapsedSeconds[k]
            );
            _record(step, tranches);
        }
    }
}
