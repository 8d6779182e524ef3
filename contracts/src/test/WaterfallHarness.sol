// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../libraries/WaterfallLib.sol";

/// @title WaterfallHarness
/// @notice Exposes `WaterfallLib.run` to off-chain tests (the differential fuzz of
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

    /// @notice The arrays of a sequence differ in length.
    error HarnessLengthMismatch(uint256 amounts, uint256 elapsedSeconds);

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

    function _runSequence(Sequence calldata sequence) private pure returns (Step[] memory steps) {
        uint256 recoveries = sequence.amounts.length;
        if (sequence.elapsedSeconds.length != recoveries) {
            revert HarnessLengthMismatch(recoveries, sequence.elapsedSeconds.length);
        }
        WaterfallLib.Tranche[] memory tranches = sequence.tranches;
        uint256 count = tranches.length;
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
            step.totals = new uint256[](count);
            step.stateAfter = new WaterfallLib.Tranche[](count);
            for (uint256 i; i < count; ++i) {
                step.totals[i] = WaterfallLib.total(step.result, i);
                WaterfallLib.Tranche memory tranche = tranches[i];
                step.stateAfter[i] = WaterfallLib.Tranche({
                    outstanding: tranche.outstanding,
                    arrears: tranche.arrears,
                    couponBps: tranche.couponBps
                });
            }
        }
    }
}
