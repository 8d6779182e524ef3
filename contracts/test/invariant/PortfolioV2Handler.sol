// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Distributor} from "../../src/Distributor.sol";
import {Portfolio} from "../../src/Portfolio.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {IPortfolio} from "../../src/interfaces/IPortfolio.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";
import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Drives one spec-v2 Portfolio with real tokens: recoveries, reserve funding by the issuer treasury,
/// resolution proposals, vetoes and the final recovery, tranche transfers, and after resolution attempts that
/// must all fail. Every check that needs the call's own data (the recovery's events) is recorded here as a
/// violation counter the invariant test reads, since a failing assertion inside a handler is only a revert.
contract PortfolioV2Handler is Test {
    Portfolio internal immutable portfolio;
    Distributor internal immutable distributor;
    TestStablecoin internal immutable usd;
    TrancheToken[] internal tokens;
    address internal immutable servicer;
    address internal immutable issuerTreasury;
    address internal immutable guardian;
    address internal immutable mint;
    address internal immutable alice;
    address internal immutable bob;

    /// @dev Everything that came into the Portfolio: recoveries plus reserve funding.
    uint256 public inflow;
    uint256 public sumReplenished;
    uint256 public sumServicerFees;
    /// @dev Recoveries whose own numbers broke conservation, the waterfall's order, or the reserve bound.
    uint256 public conservationViolations;
    uint256 public orderViolations;
    /// @dev Calls after resolution that moved something (a recovery, a funding, a transfer).
    uint256 public movedAfterResolution;
    bool public resolved;
    uint256 public recoveriesAtResolution;

    constructor(
        Portfolio portfolio_,
        TestStablecoin usd_,
        address servicer_,
        address issuerTreasury_,
        address guardian_,
        address mint_,
        address alice_,
        address bob_
    ) {
        portfolio = portfolio_;
        distributor = Distributor(portfolio_.terms().distributor);
        usd = usd_;
        servicer = servicer_;
        issuerTreasury = issuerTreasury_;
        guardian = guardian_;
        mint = mint_;
        alice = alice_;
        bob = bob_;
        for (uint256 i; i < portfolio_.trancheCount(); ++i) {
            tokens.push(TrancheToken(portfolio_.trancheToken(i)));
        }
    }

    function deposit(uint256 amount, uint256 gap) external {
        vm.warp(block.timestamp + bound(gap, 0, 120 days));
        amount = bound(amount, 1, 300_000e6);
        _fund(servicer, amount);
        (uint256 reserveBefore,) = portfolio.reserve();
        uint256 undistributedBefore = portfolio.undistributed();
        vm.recordLogs();
        vm.prank(servicer);
        try portfolio.depositRecovery(amount, bytes32(0)) {
            if (resolved) ++movedAfterResolution;
            inflow += amount;
            _checkRecovery(vm.getRecordedLogs(), reserveBefore, undistributedBefore);
        } catch {
            vm.getRecordedLogs();
        }
    }

    function fundReserve(uint256 amount) external {
        amount = bound(amount, 1, 50_000e6);
        _fund(issuerTreasury, amount);
        vm.prank(issuerTreasury);
        try portfolio.fundReserve(amount) {
            if (resolved) ++movedAfterResolution;
            inflow += amount;
        } catch {}
    }

    function propose() external {
        vm.prank(servicer);
        try portfolio.proposeResolution() {} catch {}
    }

    function veto() external {
        vm.prank(guardian);
        try portfolio.vetoResolution() {} catch {}
    }

    /// @dev The final recovery once the pending proposal is executable (waits for it when one is pending).
    function resolve(uint256 amount) external {
        (uint256 executableAt,) = portfolio.resolution();
        if (executableAt > block.timestamp) vm.warp(executableAt);
        amount = bound(amount, 0, 300_000e6);
        _fund(servicer, amount);
        (uint256 reserveBefore,) = portfolio.reserve();
        uint256 undistributedBefore = portfolio.undistributed();
        vm.recordLogs();
        vm.prank(servicer);
        try portfolio.depositFinalRecovery(amount, bytes32(0)) {
            if (resolved) ++movedAfterResolution;
            inflow += amount;
            _checkRecovery(vm.getRecordedLogs(), reserveBefore, undistributedBefore);
            resolved = true;
            recoveriesAtResolution = portfolio.recoveryCount();
        } catch {
            vm.getRecordedLogs();
        }
    }

    function transfer(uint256 trancheId, uint256 amount) external {
        TrancheToken token = tokens[bound(trancheId, 0, tokens.length - 1)];
        uint256 balance = token.balanceOf(alice);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        vm.prank(alice);
        try token.transfer(bob, amount) {
            if (resolved) ++movedAfterResolution;
        } catch {}
    }

    function _fund(address account, uint256 amount) internal {
        vm.prank(mint);
        usd.mint(account, amount);
        vm.prank(account);
        usd.approve(address(portfolio), amount);
    }

    /// @dev Per recovery, from its own events: conservation `amount + released + drawn == fees + totals +
    /// replenished + undistributed`, the reserve view moved by exactly the event's flows, no junior principal
    /// while the senior has principal outstanding, no junior interest while breached and the senior has
    /// principal outstanding.
    /// @dev RecoveryDistributed's gross amount, everything it paid out or kept (fees, tranche totals,
    /// undistributed), and its per-tranche interest and principal.
    function _decodeRecovery(bytes memory data)
        internal
        returns (uint256 gross, uint256 out, uint256[] memory interest, uint256[] memory principal)
    {
        uint256[] memory residual;
        uint256 servicerFee;
        uint256 protocolFee;
        uint256 undistributed_;
        (gross, servicerFee, protocolFee, interest, principal, residual, undistributed_,,) = abi.decode(
            data, (uint256, uint256, uint256, uint256[], uint256[], uint256[], uint256, uint256, bytes32)
        );
        sumServicerFees += servicerFee;
        out = servicerFee + protocolFee + undistributed_;
        for (uint256 i; i < interest.length; ++i) {
            out += interest[i] + principal[i] + residual[i];
        }
    }

    function _checkRecovery(Vm.Log[] memory logs, uint256 reserveBefore, uint256 undistributedBefore) internal {
        uint256[] memory interest;
        uint256[] memory principal;
        uint256 gross;
        uint256 out;
        uint256[7] memory flow; // (breached, collected, planned, released, drawn, replenished, balance)
        for (uint256 l; l < logs.length; ++l) {
            if (logs[l].emitter != address(portfolio)) continue;
            bytes32 topic = logs[l].topics[0];
            if (topic == IPortfolio.RecoveryDistributed.selector) {
                (gross, out, interest, principal) = _decodeRecovery(logs[l].data);
            } else if (topic == IPortfolio.RecoveryTriggerAndReserve.selector) {
                flow = abi.decode(logs[l].data, (uint256[7]));
            }
        }
        sumReplenished += flow[5];
        (uint256 reserveAfter, uint256 funded) = portfolio.reserve();
        if (
            gross + flow[3] + flow[4] != out + flow[5] || reserveAfter != flow[6]
                || reserveBefore + flow[5] != reserveAfter + flow[3] + flow[4]
                || portfolio.undistributed() < undistributedBefore || reserveAfter > funded + sumReplenished
        ) ++conservationViolations;
        (uint256 seniorAfter,,,) = portfolio.trancheState(0);
        for (uint256 i = 1; i + 1 < principal.length; ++i) {
            if (principal[i] != 0 && seniorAfter != 0) ++orderViolations;
            if (flow[0] == 1 && interest[i] != 0 && seniorAfter != 0) ++orderViolations;
        }
    }
}
