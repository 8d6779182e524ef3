// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Portfolio} from "../../src/Portfolio.sol";
import {IPortfolio} from "../../src/interfaces/IPortfolio.sol";
import {WaterfallLib} from "../../src/libraries/WaterfallLib.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";
import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Drives recoveries into closed portfolios (Morpho style: inputs are bounded, impossible calls
/// return early) and records every call's result as emitted by `RecoveryDistributed`, together with the
/// tranche state before and after, for the invariant test to check.
contract WaterfallHandler is Test {
    struct Call {
        uint256 portfolioIndex;
        WaterfallLib.Mode mode;
        uint256 amount;
        uint256 servicerFee;
        uint256 protocolFee;
        uint256 undistributed;
        uint256 elapsed;
        uint256[] interest;
        uint256[] principal;
        uint256[] residual;
        uint256[] outstandingBefore;
        uint256[] arrearsBefore;
        uint256[] outstandingAfter;
        uint256[] arrearsAfter;
    }

    Portfolio[] internal _portfolios;
    TestStablecoin internal immutable _usd;
    address internal immutable _minter;
    address internal immutable _servicer;

    Call[] internal _calls;
    uint256 public ghostDeposited;

    constructor(Portfolio[] memory portfolios, TestStablecoin usd, address minter, address servicer) {
        _portfolios = portfolios;
        _usd = usd;
        _minter = minter;
        _servicer = servicer;
    }

    // ------------------------------------------------------------------ actions

    function depositRecovery(uint256 portfolioSeed, uint256 amount, uint256 elapsed) external {
        uint256 index = bound(portfolioSeed, 0, _portfolios.length - 1);
        Portfolio portfolio = _portfolios[index];
        if (portfolio.paused()) return;
        // small amounts exercise shortfalls, large ones pay everything off
        amount = bound(amount, 1, 3_000_000e6);
        elapsed = bound(elapsed, 0, 400 days);
        vm.warp(block.timestamp + elapsed);
        vm.roll(block.number + 1);

        Call memory call;
        call.portfolioIndex = index;
        call.mode = portfolio.terms().mode;
        call.elapsed = block.timestamp - portfolio.terms().lastRecoveryAt;
        (call.outstandingBefore, call.arrearsBefore) = _state(portfolio);

        vm.prank(_minter);
        _usd.mint(_servicer, amount);
        vm.startPrank(_servicer);
        _usd.approve(address(portfolio), amount);
        vm.recordLogs();
        portfolio.depositRecovery(amount, keccak256(abi.encode(_calls.length)));
        vm.stopPrank();
        ghostDeposited += amount;

        _decode(call, vm.getRecordedLogs(), address(portfolio));
        (call.outstandingAfter, call.arrearsAfter) = _state(portfolio);
        _calls.push(call);
    }

    /// @notice Lets time pass without a recovery (interest keeps accruing into arrears).
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 200 days));
    }

    // ------------------------------------------------------------------ views for the invariants

    function callCount() external view returns (uint256) {
        return _calls.length;
    }

    function getCall(uint256 i) external view returns (Call memory) {
        return _calls[i];
    }

    function portfolioCount() external view returns (uint256) {
        return _portfolios.length;
    }

    function portfolioAt(uint256 i) external view returns (Portfolio) {
        return _portfolios[i];
    }

    // ------------------------------------------------------------------ internal

    function _state(Portfolio portfolio)
        internal
        view
        returns (uint256[] memory outstanding, uint256[] memory arrears)
    {
        uint256 count = portfolio.trancheCount();
        outstanding = new uint256[](count);
        arrears = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            (outstanding[i], arrears[i],,) = portfolio.trancheState(i);
        }
    }

    function _decode(Call memory call, Vm.Log[] memory logs, address portfolio) internal pure {
        bytes32 topic = IPortfolio.RecoveryDistributed.selector;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == portfolio && logs[i].topics[0] == topic) {
                (call.amount, call.servicerFee, call.protocolFee, call.interest, call.principal, call.residual) =
                    abi.decode(logs[i].data, (uint256, uint256, uint256, uint256[], uint256[], uint256[]));
                (,,,,,, call.undistributed) = abi.decode(
                    logs[i].data, (uint256, uint256, uint256, uint256[], uint256[], uint256[], uint256)
                );
                return;
            }
        }
        revert("RecoveryDistributed not emitted");
    }
}
