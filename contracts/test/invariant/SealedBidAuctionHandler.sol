// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {SealedBidAuction} from "../../src/SealedBidAuction.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {ISealedBidAuction} from "../../src/interfaces/ISealedBidAuction.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";
import {MockAuctionMinter} from "../utils/AuctionFixture.sol";
import {Test} from "../utils/Test.sol";

/// @notice Drives one SealedBidAuction through random commitments (some not covering their bid), time, reveals
/// (some with another salt), the reserve, settlement in random batches, claims by anyone, compliance revokes and
/// token pauses. Ghost sums of every unit in and out, and violation counters for what only a claim's own numbers
/// show (a handler's failing assertion would only be a revert).
contract SealedBidAuctionHandler is Test {
    uint256 internal constant SCALE = 1e12;
    uint256 internal constant BPS = 10_000;

    SealedBidAuction internal immutable auction;
    TestStablecoin internal immutable usd;
    TrancheToken internal immutable token;
    ComplianceRegistry internal immutable registry;
    MockAuctionMinter internal immutable minter;
    address internal immutable admin;
    uint256 internal immutable reservePriceBps;
    bytes32 internal immutable reserveSalt;

    address[] public actors;

    struct Intended {
        uint256 units;
        uint256 priceBps;
        uint256 deposit;
    }

    mapping(address => Intended) internal _intended;

    uint256 public sumDeposited;
    uint256 public sumRefunded;
    uint256 public sumPaid;
    uint256 public sumPenalties;
    uint256 public sumWithdrawn;
    /// @dev Deposits of bids not claimed yet.
    uint256 public unclaimedDeposits;

    uint256 public paidAboveBid;
    uint256 public nonUniformPrice;
    uint256 public tokensToNotAllowed;
    uint256 public depositSplitWrong;
    uint256 public stuckAfterFinish;
    uint256 public claims;
    uint256 public winnerClaims;
    uint256 public settledOrFailed;

    constructor(
        SealedBidAuction auction_,
        TestStablecoin usd_,
        TrancheToken token_,
        ComplianceRegistry registry_,
        MockAuctionMinter minter_,
        address admin_,
        address[] memory actors_,
        uint256 reservePriceBps_,
        bytes32 reserveSalt_
    ) {
        auction = auction_;
        usd = usd_;
        token = token_;
        registry = registry_;
        minter = minter_;
        admin = admin_;
        actors = actors_;
        reservePriceBps = reservePriceBps_;
        reserveSalt = reserveSalt_;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function _salt(address bidder) internal pure returns (bytes32) {
        return keccak256(abi.encode("invariant salt", bidder));
    }

    function _cost(uint256 units, uint256 priceBps) internal pure returns (uint256) {
        return (units * priceBps + BPS - 1) / BPS;
    }

    // ------------------------------------------------------------------ actions

    /// @dev A third of the time jumps to the next phase (after any extension), else a few minutes to hours.
    function warp(uint256 seconds_) external {
        (ISealedBidAuction.InitParams memory terms,) = auction.terms();
        if (seconds_ % 3 == 0 && block.timestamp <= terms.bidEnd) return vm.warp(terms.bidEnd + 1);
        if (seconds_ % 3 == 0 && block.timestamp <= terms.revealEnd) return vm.warp(terms.revealEnd + 1);
        vm.warp(block.timestamp + bound(seconds_, 1 minutes, 6 hours));
    }

    function commit(uint256 actorSeed, uint256 units, uint256 priceSeed, uint256 depositSeed) external {
        address bidder = _actor(actorSeed);
        units = bound(units, 1, 400);
        // few levels (ties) and a spread across the range
        uint256 priceBps = priceSeed % 2 == 0 ? 5_000 + (priceSeed % 5) * 1_000 : bound(priceSeed, 5_000, 40_000);
        uint256 cost = _cost(units, priceBps);
        // a third of the deposits fall short of their bid (the reveal is then refused: penalty)
        uint256 deposit = depositSeed % 3 == 0 ? bound(depositSeed, 10, cost + 10) : cost + (depositSeed % 100);
        if (deposit < 10) deposit = 10;
        vm.prank(admin);
        usd.mint(bidder, deposit);
        vm.startPrank(bidder);
        usd.approve(address(auction), deposit);
        bytes32 commitment = keccak256(abi.encode(address(auction), bidder, units * SCALE, priceBps, _salt(bidder)));
        try auction.commit(commitment, deposit) {
            _intended[bidder] = Intended(units, priceBps, deposit);
            sumDeposited += deposit;
            unclaimedDeposits += deposit;
        } catch {}
        vm.stopPrank();
    }

    function reveal(uint256 actorSeed, bool tamper) external {
        address bidder = _actor(actorSeed);
        Intended memory bid = _intended[bidder];
        bytes32 salt = tamper ? keccak256("wrong") : _salt(bidder);
        try auction.reveal(bidder, bid.units * SCALE, bid.priceBps, salt) {} catch {}
    }

    function revealReserve() external {
        try auction.revealReserve(reservePriceBps, reserveSalt) {} catch {}
    }

    /// @dev Usually reveals the reserve first when it can (else the reserve deadline may pass: failure).
    function settle(uint256 steps) external {
        if (steps % 4 != 0) {
            try auction.revealReserve(reservePriceBps, reserveSalt) {} catch {}
        }
        try auction.settle(bound(steps, 1, 400)) returns (bool done) {
            if (done) ++settledOrFailed;
        } catch {}
    }

    /// @dev By the bidder itself or by a stranger (whose claim reverts when delivery fails within the grace).
    function claim(uint256 actorSeed, bool byBidder) external {
        _claim(_actor(actorSeed), byBidder);
    }

    function withdraw() external {
        try auction.withdrawProceeds() returns (uint256 amount) {
            sumWithdrawn += amount;
        } catch {}
    }

    function toggleCompliance(uint256 actorSeed) external {
        address account = _actor(actorSeed);
        vm.startPrank(admin);
        if (registry.isAllowed(account)) registry.revoke(account);
        else registry.allowlist(account, type(uint64).max);
        vm.stopPrank();
    }

    function togglePause() external {
        minter.setPaused(!token.paused());
    }

    /// @dev Once settled or failed: every bid claimed and the proceeds withdrawn leave nothing in the auction.
    function finish() external {
        ISealedBidAuction.Phase phase = auction.phase();
        if (phase != ISealedBidAuction.Phase.Settled && phase != ISealedBidAuction.Phase.Failed) return;
        // past the delivery grace, a stranger's claim closes every bid
        uint256 refundableFrom = auction.outcome().settledAt + auction.DELIVERY_GRACE_SECONDS();
        if (block.timestamp < refundableFrom) vm.warp(refundableFrom);
        for (uint256 i; i < actors.length; ++i) {
            _claim(actors[i], false);
        }
        try auction.withdrawProceeds() returns (uint256 amount) {
            sumWithdrawn += amount;
        } catch {}
        if (usd.balanceOf(address(auction)) != 0) ++stuckAfterFinish;
    }

    function _claim(address bidder, bool byBidder) internal {
        ISealedBidAuction.BidView memory before = auction.bidOf(bidder);
        if (before.commitment == bytes32(0) || before.claimed) return;
        bool allowed = registry.isAllowed(bidder);
        uint256 tokensBefore = token.balanceOf(bidder);
        uint256 penaltyBefore = auction.outcome().proceeds;
        if (byBidder) vm.prank(bidder);
        try auction.claim(bidder) returns (uint256 amount, uint256 cost, uint256 refund) {
            ++claims;
            unclaimedDeposits -= before.deposit;
            sumRefunded += refund;
            sumPaid += cost;
            uint256 penalty = auction.outcome().proceeds - penaltyBefore - cost;
            sumPenalties += penalty;
            if (cost + refund + penalty != before.deposit) ++depositSplitWrong;
            if (amount != 0 && !allowed) ++tokensToNotAllowed;
            if (token.balanceOf(bidder) - tokensBefore != amount) ++tokensToNotAllowed;
            if (amount != 0) {
                ++winnerClaims;
                uint256 units = amount / SCALE;
                if (cost > _cost(units, before.priceBps)) ++paidAboveBid;
                if (cost != _cost(units, auction.outcome().clearingPriceBps)) ++nonUniformPrice;
            }
        } catch {}
    }
}
