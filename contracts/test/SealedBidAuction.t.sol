// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {SealedBidAuction} from "../src/SealedBidAuction.sol";
import {ISealedBidAuction} from "../src/interfaces/ISealedBidAuction.sol";
import {AuctionFixture, MockAuctionMinter} from "./utils/AuctionFixture.sol";

/// @notice Unit tests of SealedBidAuction, one group per function and error.
contract SealedBidAuctionTest is AuctionFixture {
    function setUp() public {
        _setUpAuctionStack();
        ISealedBidAuction.InitParams memory params = _defaultParams();
        params.reserveCommitment = bytes32(uint256(1));
        _deploy(params);
    }

    // ------------------------------------------------------------------ initialize

    function test_initialize_storesTerms() public view {
        (ISealedBidAuction.InitParams memory params, uint256 scale) = auction.terms();
        assertEq(scale, SCALE);
        assertEq(params.supply, 1_000_000 * SCALE);
        assertEq(params.minAmount, 100 * SCALE);
        assertEq(params.bidEnd, BID_END);
        assertEq(params.revealEnd, REVEAL_END);
        assertEq(params.token, address(token));
        assertEq(params.reserveCommitment, auction.reserveCommitmentOf(RESERVE_PRICE, RESERVE_SALT));
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Bidding));
    }

    function test_initialize_implementationIsDisabled() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        implementation.initialize(_defaultParams());
    }

    function test_initialize_onlyOnce() public {
        vm.prank(outsider);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        auction.initialize(_defaultParams());
    }

    function test_initialize_revertsOnZeroAddress() public {
        SealedBidAuction clone = SealedBidAuction(Clones.clone(address(implementation)));
        ISealedBidAuction.InitParams memory params = _defaultParams();
        params.minter = address(0);
        vm.expectRevert(ISealedBidAuction.AuctionZeroAddress.selector);
        clone.initialize(params);
    }

    function test_initialize_revertsOnInvalidParams() public {
        ISealedBidAuction.InitParams[] memory bad = new ISealedBidAuction.InitParams[](8);
        for (uint256 i; i < bad.length; ++i) {
            bad[i] = _defaultParams();
        }
        bad[0].supply = 0;
        bad[1].supply = 1_000_000 * SCALE + 1; // not a whole unit
        bad[2].minAmount = 0;
        bad[3].minAmount = 2_000_000 * SCALE; // above the supply
        bad[4].minPriceBps = 0;
        bad[5].bidEnd = START; // not in the future
        bad[6].revealEnd = BID_END;
        bad[7].maxBidEnd = BID_END - 1;
        for (uint256 i; i < bad.length; ++i) {
            SealedBidAuction clone = SealedBidAuction(Clones.clone(address(implementation)));
            vm.expectRevert(ISealedBidAuction.AuctionParamsInvalid.selector);
            clone.initialize(bad[i]);
        }
    }

    // ------------------------------------------------------------------ commit

    function test_commit_pullsDepositAndRecords() public {
        bytes32 commitment = _commitment(alice, 1000 * SCALE, 9_000);
        vm.prank(admin);
        usd.mint(alice, 5_000);
        vm.startPrank(alice);
        usd.approve(address(auction), 5_000);
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.BidCommitted(alice, commitment, 5_000);
        auction.commit(commitment, 5_000);
        vm.stopPrank();
        ISealedBidAuction.BidView memory bid = auction.bidOf(alice);
        assertEq(bid.commitment, commitment);
        assertEq(bid.deposit, 5_000);
        assertFalse(bid.revealed);
        assertEq(usd.balanceOf(address(auction)), 5_000);
        (uint256 commitments,) = auction.counts();
        assertEq(commitments, 1);
    }

    function test_commit_revertsAfterBiddingClosed() public {
        vm.warp(BID_END + 1);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionBiddingClosed.selector, BID_END));
        vm.prank(alice);
        auction.commit(keccak256("x"), 5_000);
    }

    function test_commit_acceptedAtTheLastSecond() public {
        vm.warp(BID_END);
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        assertEq(auction.bidOf(alice).deposit, 5_000);
    }

    function test_commit_revertsOnZeroCommitment() public {
        vm.expectRevert(ISealedBidAuction.AuctionCommitmentZero.selector);
        vm.prank(alice);
        auction.commit(bytes32(0), 5_000);
    }

    function test_commit_secondCommitmentIsRefused() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        vm.prank(admin);
        usd.mint(alice, 5_000);
        vm.startPrank(alice);
        usd.approve(address(auction), 5_000);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionAlreadyCommitted.selector, alice));
        auction.commit(_commitment(alice, 2000 * SCALE, 9_000), 5_000);
        vm.stopPrank();
    }

    function test_commit_revertsBelowMinimumDeposit() public {
        // the minimum deposit is max(penalty 1 000, cost of 100 units at 50 % = 50)
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionDepositTooLow.selector, 999, 1_000));
        vm.prank(alice);
        auction.commit(keccak256("x"), 999);
    }

    function test_commit_revertsForNonAllowlistedBidder() public {
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionBidderNotAllowed.selector, outsider));
        vm.prank(outsider);
        auction.commit(keccak256("x"), 5_000);
    }

    function test_commit_lateCommitmentExtendsBidding() public {
        vm.warp(BID_END - 5 minutes);
        vm.prank(admin);
        usd.mint(alice, 5_000);
        vm.startPrank(alice);
        usd.approve(address(auction), 5_000);
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.BiddingExtended(BID_END + 5 minutes, REVEAL_END + 5 minutes);
        auction.commit(_commitment(alice, 1000 * SCALE, 9_000), 5_000);
        vm.stopPrank();
        (ISealedBidAuction.InitParams memory params,) = auction.terms();
        assertEq(params.bidEnd, BID_END + 5 minutes);
        assertEq(params.revealEnd, REVEAL_END + 5 minutes);
        // the old end no longer closes bidding
        vm.warp(BID_END + 1);
        _commit(bob, 1000 * SCALE, 9_000, 5_000);
    }

    function test_commit_earlyCommitmentDoesNotExtend() public {
        vm.warp(BID_END - ANTI_SNIPING - 1);
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        (ISealedBidAuction.InitParams memory params,) = auction.terms();
        assertEq(params.bidEnd, BID_END);
    }

    function test_commit_extensionIsBoundedByMaxBidEnd() public {
        address[6] memory bidders = [alice, bob, carol, dave, makeAddr("e1"), makeAddr("e2")];
        _allow(bidders[4]);
        _allow(bidders[5]);
        // each commitment 1 second before the current end: the end creeps forward but stops at maxBidEnd
        for (uint256 i; i < bidders.length; ++i) {
            (ISealedBidAuction.InitParams memory current,) = auction.terms();
            vm.warp(current.bidEnd);
            _commit(bidders[i], 1000 * SCALE, 9_000, 5_000);
        }
        (ISealedBidAuction.InitParams memory params,) = auction.terms();
        assertEq(params.bidEnd, MAX_BID_END);
        assertEq(params.revealEnd, REVEAL_END + (MAX_BID_END - BID_END));
        vm.warp(MAX_BID_END + 1);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionBiddingClosed.selector, MAX_BID_END));
        vm.prank(admin);
        auction.commit(keccak256("late"), 5_000);
    }

    // ------------------------------------------------------------------ commitWithSig

    function _intent(uint256 deposit) internal view returns (ISealedBidAuction.BidIntent memory) {
        return ISealedBidAuction.BidIntent({
            bidder: alice,
            commitment: _commitment(alice, 1000 * SCALE, 9_000),
            deposit: deposit,
            deadline: block.timestamp + 1 hours
        });
    }

    function test_commitWithSig_relayedWithPermit() public {
        vm.prank(admin);
        usd.mint(alice, 5_000);
        ISealedBidAuction.BidIntent memory intent = _intent(5_000);
        bytes memory signature = _sign(aliceKey, _digest(intent));
        ISealedBidAuction.PermitData memory permit = _permit(alice, aliceKey, 5_000);
        vm.prank(relayer);
        auction.commitWithSig(intent, signature, permit);
        assertEq(auction.bidOf(alice).deposit, 5_000);
        assertEq(usd.balanceOf(alice), 0);
        assertEq(usd.balanceOf(relayer), 0);
    }

    function test_commitWithSig_frontRunPermitDoesNotBlock() public {
        vm.prank(admin);
        usd.mint(alice, 5_000);
        ISealedBidAuction.BidIntent memory intent = _intent(5_000);
        bytes memory signature = _sign(aliceKey, _digest(intent));
        ISealedBidAuction.PermitData memory permit = _permit(alice, aliceKey, 5_000);
        usd.permit(alice, address(auction), permit.value, permit.deadline, permit.v, permit.r, permit.s);
        vm.prank(relayer);
        auction.commitWithSig(intent, signature, permit);
        assertEq(auction.bidOf(alice).deposit, 5_000);
    }

    function test_commitWithSig_cannotBeReplayed() public {
        vm.prank(admin);
        usd.mint(alice, 10_000);
        vm.prank(alice);
        usd.approve(address(auction), 10_000);
        ISealedBidAuction.BidIntent memory intent = _intent(5_000);
        bytes memory signature = _sign(aliceKey, _digest(intent));
        ISealedBidAuction.PermitData memory none;
        auction.commitWithSig(intent, signature, none);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionAlreadyCommitted.selector, alice));
        auction.commitWithSig(intent, signature, none);
    }

    function test_commitWithSig_revertsWhenExpired() public {
        ISealedBidAuction.BidIntent memory intent = _intent(5_000);
        bytes memory signature = _sign(aliceKey, _digest(intent));
        ISealedBidAuction.PermitData memory none;
        vm.warp(intent.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionIntentExpired.selector, intent.deadline));
        auction.commitWithSig(intent, signature, none);
    }

    function test_commitWithSig_revertsOnWrongSigner() public {
        ISealedBidAuction.BidIntent memory intent = _intent(5_000);
        bytes memory signature = _sign(uint256(keccak256("mallory")), _digest(intent));
        ISealedBidAuction.PermitData memory none;
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionIntentSignatureInvalid.selector, alice));
        auction.commitWithSig(intent, signature, none);
    }

    function test_commitWithSig_revertsOnTamperedDeposit() public {
        ISealedBidAuction.BidIntent memory intent = _intent(5_000);
        bytes memory signature = _sign(aliceKey, _digest(intent));
        intent.deposit = 1_000;
        ISealedBidAuction.PermitData memory none;
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionIntentSignatureInvalid.selector, alice));
        auction.commitWithSig(intent, signature, none);
    }

    // ------------------------------------------------------------------ reveal

    function test_reveal_byAnyoneRecordsTheBid() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        _toReveal();
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Revealing));
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.BidRevealed(alice, 1000 * SCALE, 9_000);
        vm.prank(relayer);
        _reveal(alice, 1000 * SCALE, 9_000);
        ISealedBidAuction.BidView memory bid = auction.bidOf(alice);
        assertTrue(bid.revealed);
        assertEq(bid.amount, 1000 * SCALE);
        assertEq(bid.priceBps, 9_000);
        assertEq(auction.demandAt(9_000), 1000 * SCALE);
    }

    function test_reveal_revertsDuringBidding() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        vm.expectRevert(
            abi.encodeWithSelector(ISealedBidAuction.AuctionNotRevealing.selector, BID_END, REVEAL_END)
        );
        _reveal(alice, 1000 * SCALE, 9_000);
    }

    function test_reveal_acceptedAtTheLastSecond() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        vm.warp(REVEAL_END);
        _reveal(alice, 1000 * SCALE, 9_000);
        assertTrue(auction.bidOf(alice).revealed);
    }

    function test_reveal_revertsAfterTheWindow() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        _toSettle();
        vm.expectRevert(
            abi.encodeWithSelector(ISealedBidAuction.AuctionNotRevealing.selector, BID_END, REVEAL_END)
        );
        _reveal(alice, 1000 * SCALE, 9_000);
    }

    function test_reveal_revertsOnOtherSaltAmountOrPrice() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        _commit(bob, 500 * SCALE, 9_000, 5_000);
        _toReveal();
        bytes memory mismatch = abi.encodeWithSelector(ISealedBidAuction.AuctionRevealMismatch.selector, alice);
        vm.expectRevert(mismatch);
        auction.reveal(alice, 1000 * SCALE, 9_000, keccak256("other salt"));
        vm.expectRevert(mismatch);
        _reveal(alice, 1001 * SCALE, 9_000);
        vm.expectRevert(mismatch);
        _reveal(alice, 1000 * SCALE, 9_001);
        // the commitment binds the bidder: bob cannot reveal alice's values as his own
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionRevealMismatch.selector, bob));
        auction.reveal(bob, 1000 * SCALE, 9_000, _salt(alice));
    }

    function test_reveal_revertsWithoutCommitment() public {
        _toReveal();
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionNoCommitment.selector, alice));
        _reveal(alice, 1000 * SCALE, 9_000);
    }

    function test_reveal_revertsWhenAlreadyRevealed() public {
        _commit(alice, 1000 * SCALE, 9_000, 5_000);
        _toReveal();
        _reveal(alice, 1000 * SCALE, 9_000);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionAlreadyRevealed.selector, alice));
        _reveal(alice, 1000 * SCALE, 9_000);
    }

    function test_reveal_revertsWhenDepositDoesNotCover() public {
        // 10 000 units at 90 % cost 9 000; the deposit is 5 000
        _commit(alice, 10_000 * SCALE, 9_000, 5_000);
        _toReveal();
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionDepositTooLow.selector, 5_000, 9_000));
        _reveal(alice, 10_000 * SCALE, 9_000);
    }

    function test_reveal_revertsOutOfTerms() public {
        uint256[4] memory amounts = [uint256(99 * SCALE), 1000 * SCALE + 1, 1_000_001 * SCALE, 1000 * SCALE];
        uint256[4] memory prices = [uint256(9_000), 9_000, 9_000, MIN_PRICE - 1];
        address[4] memory bidders = [alice, bob, carol, dave];
        for (uint256 i; i < 4; ++i) {
            _commit(bidders[i], amounts[i], prices[i], 2_000_000);
        }
        _toReveal();
        for (uint256 i; i < 4; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(ISealedBidAuction.AuctionBidInvalid.selector, amounts[i], prices[i])
            );
            _reveal(bidders[i], amounts[i], prices[i]);
        }
    }

    // ------------------------------------------------------------------ revealReserve

    function test_revealReserve_afterTheRevealWindow() public {
        _toSettle();
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.ReserveRevealed(RESERVE_PRICE);
        vm.prank(relayer);
        _revealDefaultReserve();
        ISealedBidAuction.Outcome memory out = auction.outcome();
        assertTrue(out.reserveRevealed);
        assertEq(out.reservePriceBps, RESERVE_PRICE);
    }

    function test_revealReserve_revertsDuringRevealWindow() public {
        _toReveal();
        vm.expectRevert(
            abi.encodeWithSelector(
                ISealedBidAuction.AuctionReserveNotRevealable.selector, REVEAL_END, REVEAL_END + 1 days
            )
        );
        _revealDefaultReserve();
    }

    function test_revealReserve_revertsAfterItsDeadline() public {
        vm.warp(REVEAL_END + 1 days);
        uint256 snapshot = vm.snapshotState();
        _revealDefaultReserve(); // the last second
        vm.revertToState(snapshot);
        vm.warp(REVEAL_END + 1 days + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISealedBidAuction.AuctionReserveNotRevealable.selector, REVEAL_END, REVEAL_END + 1 days
            )
        );
        _revealDefaultReserve();
    }

    function test_revealReserve_revertsOnMismatch() public {
        _toSettle();
        vm.expectRevert(ISealedBidAuction.AuctionReserveMismatch.selector);
        auction.revealReserve(RESERVE_PRICE - 1, RESERVE_SALT);
        vm.expectRevert(ISealedBidAuction.AuctionReserveMismatch.selector);
        auction.revealReserve(RESERVE_PRICE, keccak256("other"));
    }

    function test_revealReserve_revertsTwice() public {
        _toSettle();
        _revealDefaultReserve();
        vm.expectRevert(ISealedBidAuction.AuctionNoReserveToReveal.selector);
        _revealDefaultReserve();
    }

    function test_revealReserve_revertsWithoutReserve() public {
        _deploy(_defaultParams()); // no reserve
        _toSettle();
        vm.expectRevert(ISealedBidAuction.AuctionNoReserveToReveal.selector);
        _revealDefaultReserve();
    }

    // ------------------------------------------------------------------ settle

    /// @dev alice 500k @ 95 %, bob 400k @ 90 %, carol 300k @ 90 %, dave 200k @ 85 % for a supply of 1M:
    /// clearing at 90 %, alice full, bob and carol share 500k pro rata, dave nothing.
    function _fourBids() internal {
        _commitExact(alice, 500_000 * SCALE, 9_500);
        _commitExact(bob, 400_000 * SCALE, 9_000);
        _commitExact(carol, 300_000 * SCALE, 9_000);
        _commitExact(dave, 200_000 * SCALE, 8_500);
        _toReveal();
        _reveal(alice, 500_000 * SCALE, 9_500);
        _reveal(bob, 400_000 * SCALE, 9_000);
        _reveal(carol, 300_000 * SCALE, 9_000);
        _reveal(dave, 200_000 * SCALE, 8_500);
        _toSettle();
    }

    function test_settle_revertsBeforeRevealWindowEnds() public {
        _toReveal();
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionRevealNotOver.selector, REVEAL_END));
        auction.settle(100);
    }

    function test_settle_revertsOnZeroSteps() public {
        _toSettle();
        vm.expectRevert(ISealedBidAuction.AuctionStepsZero.selector);
        auction.settle(0);
    }

    function test_settle_waitsForTheReserveThenFails() public {
        _fourBids();
        uint256 deadline = REVEAL_END + 1 days;
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionReserveNotRevealed.selector, deadline));
        auction.settle(1000);
        vm.warp(deadline + 1);
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.AuctionFailed();
        assertTrue(auction.settle(1000));
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Failed));
    }

    function test_settle_clearsAtTheMarginalPriceWithProRata() public {
        _fourBids();
        _revealDefaultReserve();
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.AuctionSettled(9_000, 1_000_000 * SCALE);
        assertTrue(auction.settle(1000));
        ISealedBidAuction.Outcome memory out = auction.outcome();
        assertEq(uint256(out.phase), uint256(ISealedBidAuction.Phase.Settled));
        assertEq(out.clearingPriceBps, 9_000);
        assertEq(out.allocated, 1_000_000 * SCALE);
        (uint256 a,,,) = auction.allocationOf(alice);
        (uint256 b, uint256 bCost,,) = auction.allocationOf(bob);
        (uint256 c, uint256 cCost,,) = auction.allocationOf(carol);
        (uint256 d,, uint256 dRefund,) = auction.allocationOf(dave);
        assertEq(a, 500_000 * SCALE);
        // 500k * 4/7 = 285 714.28 (bob first in reveal order, rounded down), carol the rest: 214 286
        assertEq(b, 285_714 * SCALE);
        assertEq(c, 214_286 * SCALE);
        assertEq(a + b + c, 1_000_000 * SCALE);
        assertEq(d, 0);
        assertEq(dRefund, _cost(200_000 * SCALE, 8_500));
        assertEq(bCost, 257_143); // ceil(285 714 * 0.9)
        assertEq(cCost, 192_858); // ceil(214 286 * 0.9)
    }

    function test_settle_inOneStepBatches() public {
        _fourBids();
        _revealDefaultReserve();
        uint256 calls;
        while (!auction.settle(1)) {
            ++calls;
            assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Settling));
        }
        // 65 535 down to 9 000: words 255..36 (220 empty-word steps), then 9 500 and 9 000
        assertGt(calls, 200);
        assertEq(auction.outcome().clearingPriceBps, 9_000);
        (uint256 b,,,) = auction.allocationOf(bob);
        assertEq(b, 285_714 * SCALE);
    }

    function test_settle_undersubscribedClearsAtLowestRevealedPrice() public {
        _commitExact(alice, 300_000 * SCALE, 9_500);
        _commitExact(bob, 200_000 * SCALE, 8_500);
        _toReveal();
        _reveal(alice, 300_000 * SCALE, 9_500);
        _reveal(bob, 200_000 * SCALE, 8_500);
        _toSettle();
        _revealDefaultReserve();
        assertTrue(auction.settle(1000));
        ISealedBidAuction.Outcome memory out = auction.outcome();
        assertEq(out.clearingPriceBps, 8_500);
        assertEq(out.allocated, 500_000 * SCALE);
        (uint256 a, uint256 aCost,,) = auction.allocationOf(alice);
        assertEq(a, 300_000 * SCALE);
        assertEq(aCost, 255_000);
    }

    function test_settle_failsBelowTheReserve() public {
        _commitExact(alice, 2_000_000 * SCALE / 2, 7_900);
        _toReveal();
        _reveal(alice, 1_000_000 * SCALE, 7_900);
        _toSettle();
        _revealDefaultReserve();
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.AuctionFailed();
        assertTrue(auction.settle(1000));
        (uint256 amount,, uint256 refund, uint256 penalty) = auction.allocationOf(alice);
        assertEq(amount, 0);
        assertEq(penalty, 0);
        assertEq(refund, auction.bidOf(alice).deposit);
    }

    function test_settle_failsWithoutRevealedBids() public {
        _commitExact(alice, 1000 * SCALE, 9_000);
        _toSettle();
        _revealDefaultReserve();
        assertTrue(auction.settle(1));
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Failed));
        // a failed auction refunds an unrevealed deposit in full too
        (,, uint256 refund, uint256 penalty) = auction.allocationOf(alice);
        assertEq(penalty, 0);
        assertEq(refund, auction.bidOf(alice).deposit);
    }

    function test_settle_revertsWhenAlreadySettled() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        vm.expectRevert(ISealedBidAuction.AuctionAlreadySettled.selector);
        auction.settle(1000);
    }

    function test_settle_withoutReserveCommitment() public {
        _deploy(_defaultParams());
        _commitExact(alice, 1000 * SCALE, 5_000);
        _toReveal();
        _reveal(alice, 1000 * SCALE, 5_000);
        _toSettle();
        assertTrue(auction.settle(1000));
        assertEq(auction.outcome().clearingPriceBps, 5_000);
    }

    // ------------------------------------------------------------------ claim

    function test_claim_revertsBeforeSettlement() public {
        _fourBids();
        vm.expectRevert(ISealedBidAuction.AuctionNotSettled.selector);
        auction.claim(alice);
    }

    function test_claim_deliversTokensAndRefundsToTheBidderOnly() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        uint256 deposit = auction.bidOf(bob).deposit;
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.BidClaimed(bob, 285_714 * SCALE, 257_143, deposit - 257_143, 0);
        vm.prank(relayer);
        (uint256 amount, uint256 cost, uint256 refund) = auction.claim(bob);
        assertEq(amount, 285_714 * SCALE);
        assertEq(token.balanceOf(bob), amount);
        assertEq(usd.balanceOf(bob), refund);
        assertEq(cost + refund, deposit);
        assertEq(usd.balanceOf(relayer), 0);
        assertEq(token.balanceOf(relayer), 0);
        assertTrue(auction.bidOf(bob).claimed);
    }

    function test_claim_loserGetsFullRefund() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        uint256 deposit = auction.bidOf(dave).deposit;
        auction.claim(dave);
        assertEq(usd.balanceOf(dave), deposit);
        assertEq(token.balanceOf(dave), 0);
    }

    function test_claim_unrevealedForfeitsThePenalty() public {
        _commit(alice, 500_000 * SCALE, 9_500, 500_000);
        _commitExact(bob, 1_000_000 * SCALE, 9_000);
        _toReveal();
        _reveal(bob, 1_000_000 * SCALE, 9_000);
        _toSettle();
        _revealDefaultReserve();
        auction.settle(1000);
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.BidClaimed(alice, 0, 0, 500_000 - 1_000, 1_000);
        auction.claim(alice);
        assertEq(usd.balanceOf(alice), 499_000);
        auction.claim(bob);
        assertEq(auction.withdrawProceeds(), 900_000 + 1_000);
        assertEq(usd.balanceOf(issuerTreasury), 901_000);
        assertEq(usd.balanceOf(address(auction)), 0);
    }

    function test_claim_revertsTwiceOrWithoutCommitment() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        auction.claim(alice);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionAlreadyClaimed.selector, alice));
        auction.claim(alice);
        vm.expectRevert(abi.encodeWithSelector(ISealedBidAuction.AuctionNoCommitment.selector, outsider));
        auction.claim(outsider);
    }

    function test_claim_nonAllowlistedWinnerIsRefundedInFull() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        vm.prank(admin);
        registry.revoke(alice);
        uint256 deposit = auction.bidOf(alice).deposit;
        vm.expectEmit(address(auction));
        emit ISealedBidAuction.AllocationRefused(alice, 500_000 * SCALE);
        vm.prank(alice);
        (uint256 amount, uint256 cost, uint256 refund) = auction.claim(alice);
        assertEq(amount + cost, 0);
        assertEq(refund, deposit);
        assertEq(token.balanceOf(alice), 0);
        assertEq(usd.balanceOf(alice), deposit);
        // the others are not blocked
        auction.claim(bob);
        assertEq(token.balanceOf(bob), 285_714 * SCALE);
        assertEq(auction.outcome().sold, 285_714 * SCALE);
    }

    function test_claim_pausedTokenOrBrokenMinterRefundsInFull() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        minter.setPaused(true);
        vm.prank(alice);
        (uint256 amount,, uint256 refund) = auction.claim(alice);
        assertEq(amount, 0);
        assertEq(refund, auction.bidOf(alice).deposit);
        minter.setPaused(false);
        minter.setMode(MockAuctionMinter.Mode.Revert);
        vm.prank(bob);
        (amount,, refund) = auction.claim(bob);
        assertEq(amount, 0);
        assertEq(refund, auction.bidOf(bob).deposit);
    }

    function test_claim_strangerCannotForceARefundDuringTheGrace() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        uint256 refundableFrom = block.timestamp + auction.DELIVERY_GRACE_SECONDS();
        assertEq(auction.outcome().settledAt, block.timestamp);
        minter.setPaused(true);
        vm.expectRevert(
            abi.encodeWithSelector(ISealedBidAuction.AuctionDeliveryDeferred.selector, alice, refundableFrom)
        );
        vm.prank(outsider);
        auction.claim(alice);
        // the pause lifted, anyone's claim delivers
        minter.setPaused(false);
        vm.prank(outsider);
        auction.claim(alice);
        assertEq(token.balanceOf(alice), 500_000 * SCALE);
        // still blocked after the grace: anyone's claim refunds in full, so no deposit stays stuck
        vm.prank(admin);
        registry.revoke(bob);
        vm.warp(refundableFrom);
        vm.prank(outsider);
        (uint256 amount,, uint256 refund) = auction.claim(bob);
        assertEq(amount, 0);
        assertEq(refund, auction.bidOf(bob).deposit);
        assertEq(usd.balanceOf(bob), refund);
    }

    function test_claim_minterOutOfGasRevertsTheClaim() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        minter.setMode(MockAuctionMinter.Mode.BurnGas);
        vm.expectRevert(ISealedBidAuction.AuctionClaimOutOfGas.selector);
        auction.claim{gas: 300_000}(alice);
        assertFalse(auction.bidOf(alice).claimed);
    }

    // ------------------------------------------------------------------ withdrawProceeds

    function test_withdrawProceeds_revertsWhenNothingOwed() public {
        vm.expectRevert(ISealedBidAuction.AuctionNothingToWithdraw.selector);
        auction.withdrawProceeds();
    }

    function test_withdrawProceeds_everyUnitAccounted() public {
        _fourBids();
        _revealDefaultReserve();
        auction.settle(1000);
        uint256 deposits;
        address[4] memory bidders = [alice, bob, carol, dave];
        uint256 refunds;
        for (uint256 i; i < 4; ++i) {
            deposits += auction.bidOf(bidders[i]).deposit;
            (,, uint256 refund) = auction.claim(bidders[i]);
            refunds += refund;
        }
        vm.prank(outsider);
        uint256 proceeds = auction.withdrawProceeds();
        assertEq(proceeds, 450_000 + 257_143 + 192_858);
        assertEq(proceeds + refunds, deposits);
        assertEq(usd.balanceOf(issuerTreasury), proceeds);
        assertEq(usd.balanceOf(address(auction)), 0);
        assertEq(token.totalSupply(), 1_000_000 * SCALE);
    }

    // ------------------------------------------------------------------ phase

    function test_phase_followsTheClock() public {
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Bidding));
        vm.warp(BID_END);
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Bidding));
        vm.warp(BID_END + 1);
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Revealing));
        vm.warp(REVEAL_END);
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Revealing));
        vm.warp(REVEAL_END + 1);
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Settling));
    }
}
