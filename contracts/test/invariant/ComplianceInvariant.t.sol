// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CreateParams} from "../../src/types/PortfolioTypes.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {PortfolioFixture} from "../utils/PortfolioFixture.sol";
import {ComplianceHandler} from "./ComplianceHandler.sol";

/// @notice Tranche tokens only move between compliant parties.
/// @dev Semantics: the compliance officer may revoke and the guardian may freeze an account that already
/// holds tokens; its tokens then stay where they are (frozen in place) until it is allowed again. So "every
/// holder is allowed right now" is not an invariant; what holds is:
/// (1) every successful mint went to an account allowed at that moment, and every successful transfer had
///     both sender and receiver allowed at that moment;
/// (2) an account that is not allowed right now holds exactly what it held when it became disallowed;
/// (3) the actors hold the whole supply (no tokens reached anyone else);
/// (4) a transfer between two allowed parties is never rejected (compliance does not block legal moves).
contract ComplianceInvariantTest is PortfolioFixture {
    ComplianceHandler internal handler;

    function setUp() public {
        _setUpStack();
        CreateParams memory params = _defaultParams();
        params.offeringEnd = START + 3_650 days; // the offering stays open for the whole run
        _deploy(params);

        address[] memory actors = new address[](5);
        actors[0] = alice;
        actors[1] = bob;
        actors[2] = outsider; // starts without allowlisting
        actors[3] = makeAddr("dave");
        actors[4] = makeAddr("erin");
        _allow(actors[3]);
        vm.prank(admin);
        registry.allowlist(actors[4], uint64(block.timestamp + 10 days)); // expires during the run

        handler = new ComplianceHandler(portfolio, registry, usd, admin, actors);
        targetContract(address(handler));
    }

    function invariant_movesOnlyBetweenAllowedParties() public view {
        uint256 moves = handler.moveCount();
        for (uint256 i; i < moves; ++i) {
            ComplianceHandler.Move memory move = handler.moveAt(i);
            assertTrue(move.toAllowed, "tokens reached a disallowed account");
            assertTrue(move.fromAllowed, "tokens left a disallowed account");
        }
    }

    function invariant_disallowedHoldersAreFrozenInPlace() public view {
        address[] memory actors = handler.actors();
        TrancheToken[] memory tokens_ = handler.tokens();
        for (uint256 a; a < actors.length; ++a) {
            if (registry.isAllowed(actors[a])) continue;
            assertTrue(handler.ghostDisallowed(actors[a]), "ghost out of sync");
            for (uint256 t; t < tokens_.length; ++t) {
                assertEq(
                    tokens_[t].balanceOf(actors[a]),
                    handler.ghostFrozenBalance(actors[a], t),
                    "a disallowed holder's balance changed"
                );
            }
        }
    }

    function invariant_actorsHoldTheWholeSupply() public view {
        address[] memory actors = handler.actors();
        TrancheToken[] memory tokens_ = handler.tokens();
        for (uint256 t; t < tokens_.length; ++t) {
            uint256 held;
            for (uint256 a; a < actors.length; ++a) {
                held += tokens_[t].balanceOf(actors[a]);
            }
            assertEq(held, tokens_[t].totalSupply(), "tokens outside the actor set");
            (,, uint256 sold,) = portfolio.trancheState(t);
            assertEq(tokens_[t].totalSupply(), sold * SCALE, "supply differs from sold face");
        }
    }

    function invariant_allowedTransfersAreNeverRejected() public view {
        assertEq(handler.ghostAllowedTransfersRejected(), 0);
    }
}
