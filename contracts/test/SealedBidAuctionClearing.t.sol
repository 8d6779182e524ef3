// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISealedBidAuction} from "../src/interfaces/ISealedBidAuction.sol";
import {AuctionFixture} from "./utils/AuctionFixture.sol";

/// @notice The clearing computation against a simple reference (all revealed bids sorted by price), on random
/// bid sets and on the edge cases by name: ties at the clearing price, undersubscription, a reserve above every
/// bid, one bidder. Every run also settles in random batch sizes, claims every bid and checks the money.
contract SealedBidAuctionClearingTest is AuctionFixture {
    uint256 internal constant MAX_BIDS = 12;

    struct BidSpec {
        uint256 units;
        uint256 priceBps;
        uint256 deposit;
        bool revealed;
    }

    address[] internal bidders;

    function setUp() public {
        _setUpAuctionStack();
        for (uint256 i; i < MAX_BIDS; ++i) {
            address bidder = makeAddr(string.concat("bidder", vm.toString(i)));
            _allow(bidder);
            bidders.push(bidder);
        }
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_clearingMatchesSortedReference(
        uint256 seed,
        uint256 count,
        uint256 supplyUnits,
        uint256 reserve,
        uint256 batch,
        bool widePrices
    ) public {
        count = bound(count, 1, MAX_BIDS);
        supplyUnits = bound(supplyUnits, 1, 3_000);
        BidSpec[] memory bids = new BidSpec[](count);
        uint256 penalty = seed % 40;
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            // a bid may not exceed the supply (the auction rejects such a reveal)
            bids[i].units = 1 + (r % _min(600, supplyUnits));
            // few price levels force ties; wide prices spread the bids over many bitmap words
            bids[i].priceBps = widePrices ? 1_000 + ((r >> 16) % 64_535) : 1_000 + ((r >> 16) % 6) * 1_500;
            uint256 cost = _unitCost(bids[i].units, bids[i].priceBps);
            bids[i].deposit = (cost > penalty ? cost : penalty) + ((r >> 48) % 3 == 0 ? (r >> 64) % 1_000 : 0);
            bids[i].revealed = (r >> 96) % 5 != 0;
        }
        // reserve: none, or anywhere from below every bid to above every bid
        bool hasReserve = reserve % 3 != 0;
        reserve = bound(reserve, 0, 65_535);
        _runAndCheck(bids, supplyUnits, penalty, hasReserve, reserve, bound(batch, 1, 300));
    }

    // ------------------------------------------------------------------ named edge cases

    function test_clearing_tiesAtTheClearingPrice() public {
        BidSpec[] memory bids = new BidSpec[](4);
        bids[0] = _spec(7, 9_000);
        bids[1] = _spec(5, 8_000);
        bids[2] = _spec(3, 8_000);
        bids[3] = _spec(1, 8_000);
        // 10 units: 7 above, 3 shared by 9 units at 8 000 (1.67, 1, 0.33 -> 1, 1, 1 by cumulative rounding)
        _runAndCheck(bids, 10, 0, false, 0, 1);
        assertEq(_allocated(1), 1);
        assertEq(_allocated(2), 1);
        assertEq(_allocated(3), 1);
    }

    function test_clearing_undersubscribed() public {
        BidSpec[] memory bids = new BidSpec[](3);
        bids[0] = _spec(10, 9_000);
        bids[1] = _spec(20, 6_000);
        bids[2] = _spec(30, 7_000);
        _runAndCheck(bids, 1_000, 0, false, 0, 500);
        assertEq(auction.outcome().clearingPriceBps, 6_000);
        assertEq(auction.outcome().sold, 60 * SCALE);
    }

    function test_clearing_reserveAboveEveryBidFails() public {
        BidSpec[] memory bids = new BidSpec[](3);
        bids[0] = _spec(500, 9_000);
        bids[1] = _spec(500, 9_500);
        bids[2] = _spec(500, 9_900);
        _runAndCheck(bids, 1_000, 0, true, 10_000, 500);
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Failed));
    }

    function test_clearing_oneBidder() public {
        BidSpec[] memory bids = new BidSpec[](1);
        bids[0] = _spec(1_000, 7_500);
        _runAndCheck(bids, 1_000, 0, true, 7_500, 3);
        assertEq(auction.outcome().clearingPriceBps, 7_500);
        assertEq(_allocated(0), 1_000);
    }

    function test_clearing_oneBidderShortOfTheSupply() public {
        BidSpec[] memory bids = new BidSpec[](1);
        bids[0] = _spec(400, 7_500);
        _runAndCheck(bids, 1_000, 0, true, 7_000, 3);
        assertEq(_allocated(0), 400);
    }

    function test_clearing_unrevealedPenaltyAndExactCover() public {
        BidSpec[] memory bids = new BidSpec[](3);
        bids[0] = _spec(400, 9_000);
        bids[1] = _spec(600, 8_000);
        bids[2] = _spec(900, 9_900);
        bids[2].revealed = false;
        bids[2].deposit = 9_000;
        _runAndCheck(bids, 1_000, 25, false, 0, 2);
        assertEq(auction.outcome().clearingPriceBps, 8_000);
    }

    // ------------------------------------------------------------------ run and reference

    /// @dev Allocations of the last run, by bid index, from the contract (checked against the reference).
    uint256[] internal _lastAllocations;

    function _allocated(uint256 i) internal view returns (uint256) {
        return _lastAllocations[i];
    }

    function _spec(uint256 units, uint256 priceBps) internal pure returns (BidSpec memory spec) {
        spec.units = units;
        spec.priceBps = priceBps;
        spec.deposit = _unitCost(units, priceBps);
        spec.revealed = true;
    }

    function _unitCost(uint256 units, uint256 priceBps) internal pure returns (uint256) {
        return (units * priceBps + BPS - 1) / BPS;
    }

    /// @dev What the reference expects and what the claims added up to.
    struct Ctx {
        bool failed;
        uint256 clearing;
        uint256 above;
        uint256 marginalDemand;
        uint256 marginalFill;
        uint256 penalty;
        uint256 prefix;
        uint256 refunds;
        uint256 allocatedSum;
        uint256 marginalSum;
    }

    function _runAndCheck(
        BidSpec[] memory bids,
        uint256 supplyUnits,
        uint256 penalty,
        bool hasReserve,
        uint256 reserve,
        uint256 batch
    ) internal {
        ISealedBidAuction.InitParams memory params = _defaultParams();
        params.supply = supplyUnits * SCALE;
        params.minAmount = SCALE;
        params.minPriceBps = 1_000;
        params.penalty = penalty;
        _deployWithReserve(params, hasReserve, reserve);

        uint256 deposits;
        for (uint256 i; i < bids.length; ++i) {
            if (bids[i].deposit < penalty) bids[i].deposit = penalty;
            if (bids[i].deposit == 0) bids[i].deposit = 1;
            _commit(bidders[i], bids[i].units * SCALE, bids[i].priceBps, bids[i].deposit);
            deposits += bids[i].deposit;
        }
        _toReveal();
        for (uint256 i; i < bids.length; ++i) {
            if (bids[i].revealed) _reveal(bidders[i], bids[i].units * SCALE, bids[i].priceBps);
        }
        _toSettle();
        if (hasReserve) auction.revealReserve(reserve, RESERVE_SALT);
        uint256 calls;
        while (!auction.settle(batch)) {
            ++calls;
            assertLe(calls, 300, "settlement must end within 256 words + 12 levels of steps");
        }

        Ctx memory ctx;
        ctx.penalty = penalty;
        (ctx.failed, ctx.clearing, ctx.above, ctx.marginalDemand) = _reference(bids, supplyUnits, hasReserve, reserve);
        ISealedBidAuction.Outcome memory out = auction.outcome();
        assertEq(ctx.failed, out.phase == ISealedBidAuction.Phase.Failed, "failed");
        if (!ctx.failed) {
            assertEq(out.clearingPriceBps, ctx.clearing, "clearing price");
            ctx.marginalFill = _min(supplyUnits - ctx.above, ctx.marginalDemand);
        }
        delete _lastAllocations;
        for (uint256 i; i < bids.length; ++i) {
            _claimAndCheck(ctx, bids[i], bidders[i]);
        }
        if (!ctx.failed) {
            assertEq(ctx.marginalSum, ctx.marginalFill, "marginal level filled exactly");
            assertEq(ctx.allocatedSum, ctx.above + ctx.marginalFill, "allocated");
            assertEq(out.allocated, ctx.allocatedSum * SCALE);
        }
        assertLe(ctx.allocatedSum, supplyUnits, "allocations within supply");
        assertEq(token.totalSupply(), ctx.allocatedSum * SCALE);
        uint256 proceeds = auction.outcome().proceeds;
        assertEq(proceeds + ctx.refunds, deposits, "paid + penalties + refunded == deposited");
        if (proceeds != 0) auction.withdrawProceeds();
        assertEq(usd.balanceOf(address(auction)), 0, "nothing stuck");
        assertEq(usd.balanceOf(issuerTreasury), proceeds);
    }

    function _claimAndCheck(Ctx memory ctx, BidSpec memory bid, address bidder) internal {
        (uint256 amount, uint256 cost, uint256 refund) = auction.claim(bidder);
        uint256 units = amount / SCALE;
        _lastAllocations.push(units);
        ctx.refunds += refund;
        ctx.allocatedSum += units;
        assertEq(token.balanceOf(bidder), amount, "tokens to the bidder");
        assertEq(usd.balanceOf(bidder), refund, "refund to the bidder");
        if (ctx.failed) {
            assertEq(refund, bid.deposit, "failed: full refund");
            return;
        }
        if (!bid.revealed) {
            assertEq(units, 0);
            assertEq(refund, bid.deposit - ctx.penalty, "unrevealed: penalty");
            return;
        }
        // every winner pays the clearing price, never above its own bid
        assertEq(cost, _unitCost(units, ctx.clearing), "uniform price");
        assertLe(cost, _unitCost(units, bid.priceBps), "not above the bid");
        assertEq(cost + refund, bid.deposit, "deposit split");
        if (bid.priceBps > ctx.clearing) {
            assertEq(units, bid.units, "above: full");
        } else if (bid.priceBps < ctx.clearing) {
            assertEq(units, 0, "below: nothing");
        } else {
            // pro rata: the exact share rounded down or up, cumulatively in reveal order
            uint256 d = ctx.marginalDemand;
            uint256 exactTimesDemand = bid.units * ctx.marginalFill;
            assertLe(units * d, exactTimesDemand + d - 1, "share ceiling");
            assertGe(units * d + d - 1, exactTimesDemand, "share floor");
            assertEq(
                units,
                (ctx.prefix + bid.units) * ctx.marginalFill / d - ctx.prefix * ctx.marginalFill / d,
                "cumulative rounding"
            );
            ctx.prefix += bid.units;
            ctx.marginalSum += units;
        }
    }

    /// @dev Sorts the revealed bids by price (descending) and walks them: the clearing price, the demand above
    /// it and at it, or failure (nothing revealed, or the clearing price below the reserve).
    function _reference(BidSpec[] memory bids, uint256 supplyUnits, bool hasReserve, uint256 reserve)
        internal
        pure
        returns (bool failed, uint256 clearing, uint256 above, uint256 marginalDemand)
    {
        uint256 n;
        BidSpec[] memory sorted = new BidSpec[](bids.length);
        for (uint256 i; i < bids.length; ++i) {
            if (!bids[i].revealed) continue;
            uint256 j = n++;
            while (j > 0 && sorted[j - 1].priceBps < bids[i].priceBps) {
                sorted[j] = sorted[j - 1];
                --j;
            }
            sorted[j] = bids[i];
        }
        if (n == 0) return (true, 0, 0, 0);
        uint256 cumulative;
        uint256 i;
        while (i < n) {
            uint256 price = sorted[i].priceBps;
            uint256 level;
            while (i < n && sorted[i].priceBps == price) {
                level += sorted[i].units;
                ++i;
            }
            clearing = price;
            above = cumulative;
            marginalDemand = level;
            cumulative += level;
            if (cumulative >= supplyUnits) break;
        }
        failed = hasReserve && clearing < reserve;
    }

    function _deployWithReserve(ISealedBidAuction.InitParams memory params, bool hasReserve, uint256 reserve)
        internal
    {
        vm.warp(START);
        if (hasReserve) _deployReserve(params, reserve);
        else _deploy(params);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
