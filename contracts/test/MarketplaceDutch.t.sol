// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarketplace} from "../src/interfaces/IMarketplace.sol";

import {MarketplaceFixture} from "./utils/MarketplaceFixture.sol";

/// @notice Dutch orders: the price function (`priceAt`), fills at different timestamps, the taker's
/// maxCost bound over a decaying price, and the reverts for an invalid decay.
contract MarketplaceDutchTest is MarketplaceFixture {
    uint64 internal constant START = 1_700_000_000 + 1 hours;
    uint64 internal constant END = 1_700_000_000 + 5 hours;

    /// @dev The fixture's order (1,000 tokens, price 990 USD) decaying from 110% to 80% of its price over
    /// four hours starting in one hour.
    function _dutch() internal view returns (IMarketplace.Order memory order) {
        order = _order();
        order.startPriceBps = 11_000;
        order.endPriceBps = 8_000;
        order.decayStart = START;
        order.decayEnd = END;
    }

    /// @dev Reference price, written apart from the contract (plain checked arithmetic, ceil division).
    function _reference(IMarketplace.Order memory order, uint256 t) internal pure returns (uint256) {
        if (order.decayEnd == 0) return order.price;
        if (t >= order.decayEnd) return _ceilDiv(order.price * order.endPriceBps, 10_000);
        if (t <= order.decayStart) return _ceilDiv(order.price * order.startPriceBps, 10_000);
        uint256 weighted = uint256(order.startPriceBps) * (order.decayEnd - t)
            + uint256(order.endPriceBps) * (t - order.decayStart);
        return _ceilDiv(order.price * weighted, 10_000 * uint256(order.decayEnd - order.decayStart));
    }

    // ------------------------------------------------------------------ priceAt

    function test_priceAt_withoutDecayIsThePriceAtAnyTime() public view {
        IMarketplace.Order memory order = _order();
        order.startPriceBps = 12_345; // ignored: decayEnd == 0
        order.endPriceBps = 60_000;
        order.decayStart = 99;
        assertEq(market.priceAt(order, 0), 990e6);
        assertEq(market.priceAt(order, block.timestamp), 990e6);
        assertEq(market.priceAt(order, type(uint256).max), 990e6);
    }

    function test_priceAt_startBeforeEndAfterLinearBetween() public view {
        IMarketplace.Order memory order = _dutch();
        assertEq(market.priceAt(order, 0), 1089e6, "before: 110%");
        assertEq(market.priceAt(order, START), 1089e6, "at start: 110%");
        assertEq(market.priceAt(order, START + 1 hours), 1014.75e6, "a quarter: 102.5%");
        assertEq(market.priceAt(order, START + 2 hours), 940.5e6, "half: 95%");
        assertEq(market.priceAt(order, END), 792e6, "at end: 80%");
        assertEq(market.priceAt(order, type(uint256).max), 792e6, "after: 80%");
    }

    function test_priceAt_roundsUpTowardTheMaker() public view {
        IMarketplace.Order memory order = _dutch();
        order.price = 3;
        order.startPriceBps = 10_000;
        order.endPriceBps = 0;
        order.decayStart = 0;
        order.decayEnd = 3;
        // 3 * (10000 * 2) / (10000 * 3) = 2 exactly; 3 * 10000 / 30000 = 1; at t = 2: 3 * 10000 * 1 / 30000 = 1
        assertEq(market.priceAt(order, 1), 2);
        assertEq(market.priceAt(order, 2), 1);
        order.price = 10;
        // t = 1: 10 * 20000 / 30000 = 6.67 -> 7; t = 2: 10 * 10000 / 30000 = 3.33 -> 4
        assertEq(market.priceAt(order, 1), 7);
        assertEq(market.priceAt(order, 2), 4);
        assertEq(market.priceAt(order, 3), 0);
    }

    function test_priceAt_stepWhenTheDecayStartsAndEndsAtOnce() public view {
        IMarketplace.Order memory order = _dutch();
        order.decayStart = START;
        order.decayEnd = START;
        assertEq(market.priceAt(order, START - 1), 1089e6);
        assertEq(market.priceAt(order, START), 792e6);
    }

    function test_priceAt_revertsIfTheDecayRises() public {
        IMarketplace.Order memory order = _dutch();
        order.endPriceBps = 11_001;
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderDecayPriceRises.selector, 11_000, 11_001));
        market.priceAt(order, START);
    }

    function test_priceAt_revertsIfTheDecayEndsBeforeItStarts() public {
        IMarketplace.Order memory order = _dutch();
        order.decayEnd = START - 1;
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderDecayEndsBeforeStart.selector, START, START - 1));
        market.priceAt(order, START);
    }

    function testFuzz_priceAt_matchesTheReferenceAndNeverRises(
        uint256 price,
        uint16 startBps,
        uint16 endBps,
        uint64 decayStart,
        uint64 duration,
        uint256 t1,
        uint256 t2
    ) public view {
        IMarketplace.Order memory order = _order();
        order.price = bound(price, 0, type(uint128).max);
        order.startPriceBps = startBps;
        order.endPriceBps = uint16(bound(endBps, 0, startBps));
        order.decayStart = uint64(bound(decayStart, 0, type(uint64).max - 1));
        order.decayEnd = uint64(bound(duration, 0, type(uint64).max - order.decayStart)) + order.decayStart;
        if (order.decayEnd == 0) order.decayEnd = 1; // a decaying order
        t1 = bound(t1, 0, uint256(type(uint64).max) + 10);
        t2 = bound(t2, t1, uint256(type(uint64).max) + 20);
        uint256 p1 = market.priceAt(order, t1);
        uint256 p2 = market.priceAt(order, t2);
        assertEq(p1, _reference(order, t1), "matches the reference");
        assertLe(p2, p1, "never rises over time");
        assertLe(p1, _ceilDiv(order.price * startBps, 10_000), "at most the start price");
        assertGe(p2, _ceilDiv(order.price * order.endPriceBps, 10_000), "at least the end price");
    }

    function testFuzz_priceAt_revertsForAnyInvalidDecay(uint16 startBps, uint16 endBps, uint64 decayStart, uint64 decayEnd)
        public
    {
        vm.assume(decayEnd != 0);
        vm.assume(endBps > startBps || decayEnd < decayStart);
        IMarketplace.Order memory order = _order();
        order.startPriceBps = startBps;
        order.endPriceBps = endBps;
        order.decayStart = decayStart;
        order.decayEnd = decayEnd;
        // the price check comes first
        if (endBps > startBps) {
            vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderDecayPriceRises.selector, startBps, endBps));
        } else {
            vm.expectRevert(
                abi.encodeWithSelector(IMarketplace.OrderDecayEndsBeforeStart.selector, decayStart, decayEnd)
            );
        }
        market.priceAt(order, block.timestamp);
    }

    // ------------------------------------------------------------------ fills

    function test_fill_paysThePriceAtTheBlockTimestamp() public {
        IMarketplace.Order memory order = _dutch();
        bytes memory signature = _signOrder(order);

        vm.warp(START + 2 hours); // 95%: 940.5 USD for the whole order
        uint256 makerBefore = usd.balanceOf(maker);
        vm.prank(taker);
        uint256 cost1 = market.fill(order, signature, 100e18);
        assertEq(cost1, 94.05e6);
        assertEq(usd.balanceOf(maker) - makerBefore, cost1 - cost1 * FEE_BPS / 10_000);

        vm.warp(START + 3 hours); // 87.5%: 866.25 USD for the whole order
        vm.prank(taker);
        uint256 cost2 = market.fill(order, signature, 100e18);
        assertEq(cost2, 86.625e6);
        (uint256 quoted,) = market.quote(order, 100e18);
        assertEq(quoted, cost2, "quote uses the same clock");
    }

    function test_fill_beforeTheDecayPaysTheStartPrice() public {
        IMarketplace.Order memory order = _dutch();
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        assertEq(market.fill(order, signature, 1000e18), 1089e6);
    }

    function test_fillWithSig_maxCostAtAnEarlierPriceCoversALaterFill() public {
        IMarketplace.Order memory order = _dutch();
        bytes memory makerSig = _signOrder(order);
        IMarketplace.FillIntent memory intent = _intent(order, 100e18, 1);
        intent.maxCost = market.priceAt(order, START + 1 hours) / 10; // 101.475 USD, the price an hour in
        intent.deadline = START + 4 hours;
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));

        vm.warp(START + 30 minutes); // still above what the taker signed for
        uint256 above = _ceilDiv(market.priceAt(order, block.timestamp) * 100e18, 1000e18);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentCostExceedsMax.selector, above, intent.maxCost));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());

        vm.warp(START + 90 minutes); // the price fell below it
        vm.prank(relayer);
        uint256 cost = market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(cost, _ceilDiv(_reference(order, START + 90 minutes) * 100e18, 1000e18));
        assertLt(cost, intent.maxCost);
    }

    function test_fill_revertsIfTheDecayRises() public {
        IMarketplace.Order memory order = _dutch();
        order.endPriceBps = 12_000;
        bytes memory signature = _signOrder(order);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderDecayPriceRises.selector, 11_000, 12_000));
        vm.prank(taker);
        market.fill(order, signature, 100e18);
        assertEq(market.filled(market.hashOrder(order)), 0);
    }

    function test_fill_revertsIfTheDecayEndsBeforeItStarts() public {
        IMarketplace.Order memory order = _dutch();
        order.decayStart = END;
        order.decayEnd = START;
        bytes memory signature = _signOrder(order);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderDecayEndsBeforeStart.selector, END, START));
        vm.prank(taker);
        market.fill(order, signature, 100e18);
        assertEq(market.filled(market.hashOrder(order)), 0);
    }

    function test_hashOrder_signsTheDecayFields() public view {
        IMarketplace.Order memory order = _dutch();
        bytes32 hash = market.hashOrder(order);
        order.endPriceBps = 7_999;
        assertTrue(market.hashOrder(order) != hash, "endPriceBps");
        order = _dutch();
        order.decayEnd = END + 1;
        assertTrue(market.hashOrder(order) != hash, "decayEnd");
        order = _dutch();
        order.decayStart = START + 1;
        assertTrue(market.hashOrder(order) != hash, "decayStart");
        order = _dutch();
        order.startPriceBps = 11_001;
        assertTrue(market.hashOrder(order) != hash, "startPriceBps");
    }

    function testFuzz_fill_costIsCeilOfThePriceAtTheBlock(uint256 t, uint256 amount) public {
        IMarketplace.Order memory order = _dutch();
        t = bound(t, block.timestamp, order.expiry);
        amount = bound(amount, 1, order.sellAmount);
        bytes memory signature = _signOrder(order);
        vm.warp(t);
        vm.prank(taker);
        uint256 cost = market.fill(order, signature, amount);
        assertEq(cost, _ceilDiv(_reference(order, t) * amount, order.sellAmount));
    }
}
