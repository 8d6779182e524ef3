// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BusinessPlanPoint, CreateParams, ReserveTerms, TriggerTerms} from "../../src/types/PortfolioTypes.sol";
import {PortfolioFixture} from "../utils/PortfolioFixture.sol";
import {PortfolioV2Handler} from "./PortfolioV2Handler.sol";

/// @notice Spec v2 through a real Portfolio (3 tranches, 4 % reserve funded by the issuer treasury, a 12-point
/// plan at 90 %) over random recoveries, fundings, proposals, vetoes, final recoveries and transfers:
/// conservation at every recovery and in pay-token balances, the Portfolio holds exactly reserve +
/// undistributed, the reserve never above what was funded plus replenished, the waterfall's order (no junior
/// principal while the senior has principal outstanding, no junior interest while breached and the senior has
/// principal outstanding), and nothing moves after resolution.
contract PortfolioV2InvariantTest is PortfolioFixture {
    PortfolioV2Handler internal handler;

    function setUp() public {
        _setUpStack();
        CreateParams memory params = _defaultParams();
        params.reserve = ReserveTerms(400);
        BusinessPlanPoint[] memory plan = new BusinessPlanPoint[](12);
        for (uint256 i; i < 12; ++i) {
            plan[i] = BusinessPlanPoint(uint64((i + 1) * 30 days), uint192((i + 1) * 70_000e6));
        }
        params.trigger = TriggerTerms(9_000, plan);
        _deploy(params);
        _buy(alice, 0, 600_000e6);
        _buy(alice, 1, 250_000e6);
        _buy(bob, 2, 150_000e6);
        _close();
        handler = new PortfolioV2Handler(portfolio, usd, servicer, issuerTreasury, guardian, admin, alice, bob);
        targetContract(address(handler));
    }

    function invariant_everyRecoveryConservesAndKeepsTheReserveBounded() public view {
        assertEq(handler.conservationViolations(), 0);
    }

    function invariant_waterfallOrder() public view {
        assertEq(handler.orderViolations(), 0);
    }

    function invariant_portfolioHoldsExactlyReservePlusUndistributed() public view {
        (uint256 balance, uint256 funded) = portfolio.reserve();
        assertEq(usd.balanceOf(address(portfolio)), balance + portfolio.undistributed());
        assertLe(balance, funded + handler.sumReplenished());
    }

    function invariant_everyUnitInIsAccounted() public view {
        assertEq(
            handler.inflow(),
            handler.sumServicerFees() + usd.balanceOf(protocolTreasury) + distributor.totalFunded()
                + usd.balanceOf(address(portfolio))
        );
    }

    function invariant_nothingMovesAfterResolution() public view {
        assertEq(handler.movedAfterResolution(), 0);
        if (!handler.resolved()) return;
        assertEq(portfolio.recoveryCount(), handler.recoveriesAtResolution());
        (uint256 balance,) = portfolio.reserve();
        assertEq(balance, 0);
        for (uint256 i; i + 1 < portfolio.trancheCount(); ++i) {
            (uint256 outstanding, uint256 arrears,,) = portfolio.trancheState(i);
            assertEq(outstanding + arrears, 0);
        }
        assertTrue(tokens[0].paused());
    }
}
