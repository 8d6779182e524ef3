// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Portfolio} from "../../src/Portfolio.sol";
import {WaterfallLib} from "../../src/libraries/WaterfallLib.sol";
import {CreateParams} from "../../src/types/PortfolioTypes.sol";
import {PortfolioFixture} from "../utils/PortfolioFixture.sol";
import {WaterfallHandler} from "./WaterfallHandler.sol";

/// @notice Over random sequences of recoveries and idle time on two real portfolios (interestFirst with every
/// tranche partly sold; sequential with an unsold residual tranche, so its share stays undistributed):
/// (1) money is conserved per call and in token balances; (2) no junior tranche is ever paid principal or
/// residual while a more senior tranche still has arrears or principal outstanding, and interest respects
/// each mode's order; (3) no tranche is paid more than it was owed.
/// Forge asserts the invariants after every handler call, so the per-call invariants check the newest
/// recorded call only: every call is checked right after it happened.
contract WaterfallInvariantTest is PortfolioFixture {
    WaterfallHandler internal handler;
    Portfolio[] internal portfolios;

    function setUp() public {
        _setUpStack();

        CreateParams memory params = _defaultParams();
        _deploy(params);
        _buy(alice, 0, 400_000e6);
        _buy(bob, 1, 120_000e6);
        _buy(alice, 2, 90_000e6);
        _close();
        portfolios.push(portfolio);

        params.mode = WaterfallLib.Mode.Sequential;
        params.servicerFeeBps = 333;
        params.protocolFeeBps = 17;
        _deploy(params);
        _buy(bob, 0, 600_000e6);
        _buy(alice, 1, 1e6);
        _close();
        portfolios.push(portfolio);

        handler = new WaterfallHandler(portfolios, usd, admin, servicer);
        targetContract(address(handler));
    }

    function invariant_conservesMoneyPerCall() public view {
        uint256 calls = handler.callCount();
        if (calls != 0) {
            WaterfallHandler.Call memory call = handler.getCall(calls - 1);
            uint256 sum = call.servicerFee + call.protocolFee + call.undistributed;
            for (uint256 i; i < call.interest.length; ++i) {
                sum += call.interest[i] + call.principal[i] + call.residual[i];
            }
            assertEq(sum, call.amount, "fees + tranche totals + undistributed != amount");
        }
    }

    function invariant_conservesMoneyInBalances() public view {
        uint256 held = usd.balanceOf(servicer) + usd.balanceOf(protocolTreasury);
        for (uint256 p; p < handler.portfolioCount(); ++p) {
            Portfolio portfolio_ = handler.portfolioAt(p);
            address distributor_ = portfolio_.terms().distributor;
            held += usd.balanceOf(address(portfolio_)) + usd.balanceOf(distributor_);
            assertEq(usd.balanceOf(address(portfolio_)), portfolio_.undistributed(), "portfolio holds only undistributed");
            uint256 paid;
            for (uint256 i; i < portfolio_.trancheCount(); ++i) {
                (,,, uint256 paidToDate) = portfolio_.trancheState(i);
                paid += paidToDate;
            }
            assertEq(usd.balanceOf(distributor_), paid, "distributor holds exactly what tranches were paid");
        }
        assertEq(held, handler.ghostDeposited(), "recoveries leaked or created money");
    }

    function invariant_respectsSeniority() public view {
        uint256 calls = handler.callCount();
        if (calls != 0) _checkSeniority(handler.getCall(calls - 1));
    }

    function invariant_neverOverpays() public view {
        uint256 calls = handler.callCount();
        if (calls != 0) {
            WaterfallHandler.Call memory call = handler.getCall(calls - 1);
            Portfolio portfolio_ = handler.portfolioAt(call.portfolioIndex);
            uint256 last = call.interest.length - 1;
            for (uint256 i; i < last; ++i) {
                uint16 coupon = portfolio_.trancheTerms(i).couponBps;
                uint256 accrued = call.outstandingBefore[i] * coupon * call.elapsed / (10_000 * 365 days);
                assertEq(call.interest[i] + call.arrearsAfter[i], call.arrearsBefore[i] + accrued, "interest != owed");
                assertEq(call.principal[i] + call.outstandingAfter[i], call.outstandingBefore[i], "principal != owed");
                assertEq(call.residual[i], 0, "debt tranche got residual");
            }
            assertEq(call.interest[last] + call.principal[last], 0, "residual tranche got interest or principal");
            assertEq(call.outstandingAfter[last], call.outstandingBefore[last], "residual outstanding moved");
        }
    }

    function _checkSeniority(WaterfallHandler.Call memory call) internal pure {
        uint256 last = call.interest.length - 1;
        for (uint256 j = 1; j <= last; ++j) {
            bool principalOrResidual =
                call.principal[j] + call.residual[j] + (j == last ? call.undistributed : 0) > 0;
            for (uint256 i; i < j && i < last; ++i) {
                if (principalOrResidual) {
                    assertEq(call.arrearsAfter[i], 0, "junior paid while senior arrears remain");
                    assertEq(call.outstandingAfter[i], 0, "junior paid while senior principal remains");
                }
                if (call.interest[j] > 0) {
                    assertEq(call.arrearsAfter[i], 0, "junior interest while senior arrears remain");
                    if (call.mode == WaterfallLib.Mode.Sequential) {
                        assertEq(call.outstandingAfter[i], 0, "sequential: junior interest before senior principal");
                    }
                }
            }
        }
        if (call.mode == WaterfallLib.Mode.InterestFirst) {
            for (uint256 j; j < last; ++j) {
                if (call.principal[j] == 0) continue;
                for (uint256 i; i < last; ++i) {
                    assertEq(call.arrearsAfter[i], 0, "interestFirst: principal before all arrears");
                }
            }
        }
    }
}
