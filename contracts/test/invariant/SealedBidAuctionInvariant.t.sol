// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISealedBidAuction} from "../../src/interfaces/ISealedBidAuction.sol";
import {AuctionFixture} from "../utils/AuctionFixture.sol";
import {SealedBidAuctionHandler} from "./SealedBidAuctionHandler.sol";

/// @notice One auction (supply 1 000 units, reserve at 55 %) under random commitments, reveals, settlement
/// batches, claims, compliance revokes and pauses: allocations within the supply, every unit of deposit paid,
/// refunded, forfeited or still held for an unclaimed bid, nobody paying above its bid, one price for every
/// winner, no tokens to a non-allowlisted bidder, nothing left once every bid is claimed.
/// forge-config: default.invariant.depth = 150
contract SealedBidAuctionInvariantTest is AuctionFixture {
    uint256 internal constant SUPPLY_UNITS = 1_000;
    SealedBidAuctionHandler internal handler;

    function setUp() public {
        _setUpAuctionStack();
        ISealedBidAuction.InitParams memory params = _defaultParams();
        params.supply = SUPPLY_UNITS * SCALE;
        params.minAmount = SCALE;
        params.penalty = 10;
        params.bidEnd = START + 1 days;
        params.revealEnd = START + 2 days;
        params.maxBidEnd = START + 36 hours;
        params.antiSnipingSeconds = 1 hours;
        _deployReserve(params, 5_500);
        address[] memory actors = new address[](8);
        for (uint256 i; i < actors.length; ++i) {
            actors[i] = makeAddr(string.concat("actor", vm.toString(i)));
            _allow(actors[i]);
        }
        handler = new SealedBidAuctionHandler(
            auction, usd, token, registry, minter, admin, actors, 5_500, RESERVE_SALT
        );
        targetContract(address(handler));
        // only the actions (not the ghost getters); time, commitments and claims weighted up
        bytes4[] memory selectors = new bytes4[](15);
        selectors[0] = SealedBidAuctionHandler.warp.selector;
        selectors[1] = SealedBidAuctionHandler.warp.selector;
        selectors[2] = SealedBidAuctionHandler.commit.selector;
        selectors[3] = SealedBidAuctionHandler.commit.selector;
        selectors[4] = SealedBidAuctionHandler.reveal.selector;
        selectors[5] = SealedBidAuctionHandler.reveal.selector;
        selectors[6] = SealedBidAuctionHandler.revealReserve.selector;
        selectors[7] = SealedBidAuctionHandler.settle.selector;
        selectors[8] = SealedBidAuctionHandler.claim.selector;
        selectors[9] = SealedBidAuctionHandler.withdraw.selector;
        selectors[10] = SealedBidAuctionHandler.toggleCompliance.selector;
        selectors[11] = SealedBidAuctionHandler.claim.selector;
        selectors[12] = SealedBidAuctionHandler.finish.selector;
        selectors[13] = SealedBidAuctionHandler.commit.selector;
        selectors[14] = SealedBidAuctionHandler.togglePause.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function invariant_allocationsWithinSupply() public view {
        ISealedBidAuction.Outcome memory out = auction.outcome();
        assertLe(out.allocated, SUPPLY_UNITS * SCALE);
        assertLe(out.sold, out.allocated);
        assertEq(token.totalSupply(), out.sold);
    }

    function invariant_everyUnitOfDepositAccounted() public view {
        // in = refunded + withdrawn + held; held = unclaimed deposits + proceeds not yet withdrawn
        assertEq(
            handler.sumDeposited(), handler.sumRefunded() + handler.sumWithdrawn() + usd.balanceOf(address(auction))
        );
        ISealedBidAuction.Outcome memory out = auction.outcome();
        assertEq(out.proceeds, handler.sumPaid() + handler.sumPenalties());
        assertEq(out.proceedsWithdrawn, handler.sumWithdrawn());
        assertEq(usd.balanceOf(address(auction)), handler.unclaimedDeposits() + out.proceeds - out.proceedsWithdrawn);
        assertEq(
            handler.sumPaid() + handler.sumRefunded() + handler.sumPenalties() + handler.unclaimedDeposits(),
            handler.sumDeposited()
        );
        assertEq(handler.depositSplitWrong(), 0);
    }

    function invariant_nobodyPaysAboveItsBidAndEveryWinnerPaysTheSamePrice() public view {
        assertEq(handler.paidAboveBid(), 0);
        assertEq(handler.nonUniformPrice(), 0);
    }

    function invariant_noTokensToANonAllowlistedBidder() public view {
        assertEq(handler.tokensToNotAllowed(), 0);
    }

    function invariant_depositsNeverStuckAfterSettlement() public view {
        assertEq(handler.stuckAfterFinish(), 0);
    }

    /// @dev The handler can drive the auction all the way to winners holding tokens (not an invariant: a
    /// check that the random runs above can reach claims at all).
    function test_handlerReachesWinners() public {
        handler.commit(0, 300, 2, 5);
        handler.commit(1, 300, 4, 5);
        handler.commit(2, 300, 6, 5);
        handler.commit(3, 300, 8, 5);
        handler.warp(3); // to the reveal window
        for (uint256 i; i < 4; ++i) {
            handler.reveal(i, false);
        }
        (, uint256 reveals) = auction.counts();
        assertEq(reveals, 4);
        handler.warp(3); // past it
        handler.settle(399); // reveals the reserve, then settles
        assertEq(handler.settledOrFailed(), 1);
        handler.finish();
        assertGt(handler.winnerClaims(), 0);
        invariant_allocationsWithinSupply();
        invariant_everyUnitOfDepositAccounted();
        invariant_nobodyPaysAboveItsBidAndEveryWinnerPaysTheSamePrice();
        invariant_noTokensToANonAllowlistedBidder();
        invariant_depositsNeverStuckAfterSettlement();
        assertEq(usd.balanceOf(address(auction)), 0);
    }
}
