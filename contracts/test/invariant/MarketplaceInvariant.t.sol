// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {IComplianceRegistry} from "../../src/interfaces/IComplianceRegistry.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";

import {Test} from "../utils/Test.sol";

/// @notice Makers sign orders, takers fill them directly or through relayed intents, makers cancel and bump
/// counters, time passes. The handler predicts from its ghost state whether a fill is allowed; allowed fills
/// must succeed and move both legs exactly (a fill asking for more than what is left takes what is left),
/// forbidden ones (cancelled, expired, stale counter, nothing left, wrong taker, replayed nonce, a fee above
/// the order's maxFeeBps) must revert and move nothing.
contract MarketplaceHandler is Test {
    uint256 internal constant MAKERS = 3;
    uint256 internal constant TAKERS = 3;

    Marketplace public market;
    TestStablecoin public usd;
    TrancheToken public tranche;
    address public admin;
    address public treasury;

    address[] public makers;
    uint256[] internal _makerKeys;
    address[] public takers;
    uint256[] internal _takerKeys;

    IMarketplace.Order[] internal _orders;
    bytes[] internal _signatures;
    bytes32[] public orderHashes;

    // Ghost state.
    mapping(bytes32 orderHash => uint256) public ghostFilled;
    mapping(bytes32 orderHash => bool) public ghostCancelled;
    mapping(address maker => uint256) public ghostCounter;
    mapping(address account => uint256) public ghostUsd;
    mapping(address account => uint256) public ghostTranche;
    mapping(address taker => mapping(uint256 nonce => bool)) public ghostNonceUsed;
    uint256 public ghostFeeBps;
    /// @dev Forbidden fills that succeeded.
    uint256 public violations;
    /// @dev Allowed fills that reverted.
    uint256 public unexpectedReverts;
    uint256 public fills;

    constructor(Marketplace market_, TestStablecoin usd_, TrancheToken tranche_, address admin_, address treasury_) {
        market = market_;
        usd = usd_;
        tranche = tranche_;
        admin = admin_;
        treasury = treasury_;
        ghostFeeBps = market_.feeBps();
        for (uint256 i; i < MAKERS; ++i) {
            (address maker, uint256 key) = makeAddrAndKey(string.concat("maker", vm.toString(i)));
            makers.push(maker);
            _makerKeys.push(key);
        }
        for (uint256 i; i < TAKERS; ++i) {
            (address taker, uint256 key) = makeAddrAndKey(string.concat("taker", vm.toString(i)));
            takers.push(taker);
            _takerKeys.push(key);
        }
    }

    /// @dev Called by the test once balances are set up.
    function syncBalances(address[] calldata accounts) external {
        for (uint256 i; i < accounts.length; ++i) {
            ghostUsd[accounts[i]] = usd.balanceOf(accounts[i]);
            ghostTranche[accounts[i]] = tranche.balanceOf(accounts[i]);
        }
    }

    // ------------------------------------------------------------------ actions

    function createOrder(
        uint256 makerSeed,
        uint256 sellAmount,
        uint256 price,
        uint256 expiryDelta,
        bool partialFill,
        uint256 takerSeed,
        uint256 maxFeeSeed
    ) external {
        if (_orders.length >= 40) return;
        uint256 m = makerSeed % MAKERS;
        address maker = makers[m];
        IMarketplace.Order memory order = IMarketplace.Order({
            maker: maker,
            taker: takerSeed % 4 == 0 ? takers[takerSeed % TAKERS] : address(0),
            tranche: address(tranche),
            payToken: address(usd),
            sellAmount: bound(sellAmount, 1, 50_000e18),
            price: bound(price, 0, 60_000e6),
            expiry: block.timestamp + bound(expiryDelta, 0, 7 days),
            salt: _orders.length,
            // Sometimes sign with an old counter on purpose.
            counter: takerSeed % 7 == 0 && ghostCounter[maker] > 0 ? ghostCounter[maker] - 1 : ghostCounter[maker],
            partialFill: partialFill,
            // Mostly any fee up to the cap, sometimes a bound the admin's setFee may cross.
            maxFeeBps: maxFeeSeed % 2 == 0 ? 100 : uint16(bound(maxFeeSeed >> 1, 0, 100)),
            startPriceBps: 0,
            endPriceBps: 0,
            decayStart: 0,
            decayEnd: 0
        });
        // One order in three is a Dutch order: from 100-120% of `price` down to 50-100%, over a window that
        // starts within the next hour and lasts up to three (the `warp` action moves through it).
        if (maxFeeSeed % 3 == 0) {
            uint256 seed = uint256(keccak256(abi.encode(maxFeeSeed, price)));
            order.startPriceBps = uint16(bound(seed & 0xffff, 10_000, 12_000));
            order.endPriceBps = uint16(bound((seed >> 16) & 0xffff, 5_000, order.startPriceBps));
            order.decayStart = uint64(block.timestamp + bound((seed >> 32) & 0xffff, 0, 1 hours));
            order.decayEnd = uint64(order.decayStart + bound((seed >> 48) & 0xffff, 0, 3 hours));
        }
        bytes32 orderHash = market.hashOrder(order);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_makerKeys[m], orderHash);
        _orders.push(order);
        _signatures.push(abi.encodePacked(r, s, v));
        orderHashes.push(orderHash);
    }

    function fill(uint256 orderSeed, uint256 takerSeed, uint256 amount) external {
        if (_orders.length == 0) return;
        uint256 index = orderSeed % _orders.length;
        IMarketplace.Order memory order = _orders[index];
        address taker = takers[takerSeed % TAKERS];
        amount = _amount(order, orderHashes[index], amount);
        bool allowed = _allowed(order, orderHashes[index], taker, amount);
        uint256 taken = _taken(order, orderHashes[index], amount);
        if (allowed && tranche.balanceOf(order.maker) < taken) return; // maker sold its tokens elsewhere
        vm.prank(taker);
        try market.fill(order, _signatures[index], amount) returns (uint256 cost) {
            if (!allowed) ++violations;
            else _book(order, orderHashes[index], taker, taken, cost);
        } catch {
            if (allowed) ++unexpectedReverts;
        }
    }

    function fillWithSig(uint256 orderSeed, uint256 takerSeed, uint256 amount, uint256 nonce, bool replay)
        external
    {
        if (_orders.length == 0) return;
        uint256 index = orderSeed % _orders.length;
        uint256 t = takerSeed % TAKERS;
        amount = _amount(_orders[index], orderHashes[index], amount);
        // Half the nonces counted in a small range (they share bitmap words), half spread out.
        nonce = replay ? 0 : nonce % 2 == 0 ? bound(nonce >> 1, 1, 600) : bound(nonce >> 1, 1, type(uint64).max);
        bool allowed =
            _allowed(_orders[index], orderHashes[index], takers[t], amount) && !ghostNonceUsed[takers[t]][nonce];
        uint256 taken = _taken(_orders[index], orderHashes[index], amount);
        if (allowed && tranche.balanceOf(_orders[index].maker) < taken) return;
        (IMarketplace.FillIntent memory intent, bytes memory takerSignature) = _signIntent(index, t, amount, nonce);
        IMarketplace.PermitData memory noPermit;
        try market.fillWithSig(_orders[index], _signatures[index], intent, takerSignature, noPermit) returns (
            uint256 cost
        ) {
            if (!allowed) ++violations;
            else _book(_orders[index], orderHashes[index], takers[t], taken, cost);
            ghostNonceUsed[takers[t]][nonce] = true;
        } catch {
            if (allowed) ++unexpectedReverts;
        }
    }

    function _signIntent(uint256 index, uint256 t, uint256 amount, uint256 nonce)
        internal
        view
        returns (IMarketplace.FillIntent memory intent, bytes memory signature)
    {
        intent = IMarketplace.FillIntent({
            orderHash: orderHashes[index],
            taker: takers[t],
            amount: amount,
            maxCost: type(uint256).max,
            nonce: nonce,
            deadline: block.timestamp
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_takerKeys[t], market.hashFillIntent(intent));
        signature = abi.encodePacked(r, s, v);
    }

    /// @dev Acts one call in four so that most orders stay live long enough to be filled.
    function cancel(uint256 orderSeed) external {
        if (_orders.length == 0 || orderSeed % 4 != 0) return;
        orderSeed /= 4;
        uint256 index = orderSeed % _orders.length;
        vm.prank(_orders[index].maker);
        market.cancel(_orders[index]);
        ghostCancelled[orderHashes[index]] = true;
    }

    /// @dev Acts one call in four (a bump voids all of a maker's orders).
    function incrementCounter(uint256 makerSeed) external {
        if (makerSeed % 4 != 0) return;
        makerSeed /= 4;
        address maker = makers[makerSeed % MAKERS];
        vm.prank(maker);
        ghostCounter[maker] = market.incrementCounter();
    }

    function setFee(uint256 feeBps) external {
        feeBps = bound(feeBps, 0, 100);
        vm.prank(admin);
        market.setFeeBps(uint16(feeBps));
        ghostFeeBps = feeBps;
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 2 hours));
    }

    // ------------------------------------------------------------------ helpers

    function orderCount() external view returns (uint256) {
        return _orders.length;
    }

    function sellAmountOf(uint256 index) external view returns (uint256) {
        return _orders[index].sellAmount;
    }

    function makerCount() external pure returns (uint256) {
        return MAKERS;
    }

    function takerCount() external pure returns (uint256) {
        return TAKERS;
    }

    /// @dev Mostly a valid amount for the order (the rest, or part of it), sometimes zero or beyond.
    function _amount(IMarketplace.Order memory order, bytes32 orderHash, uint256 seed) internal view returns (uint256) {
        uint256 remaining = order.sellAmount - ghostFilled[orderHash];
        uint256 pick = seed % 8;
        if (pick == 0) return 0;
        if (pick == 1) return remaining + 1 + seed % 1e18;
        if (pick < 4 || !order.partialFill) return order.partialFill ? remaining : order.sellAmount;
        return remaining == 0 ? 1 : bound(seed >> 8, 1, remaining);
    }

    /// @dev The full rule set, from ghost state only.
    function _allowed(IMarketplace.Order memory order, bytes32 orderHash, address taker, uint256 amount)
        internal
        view
        returns (bool)
    {
        if (block.timestamp > order.expiry) return false;
        if (ghostCancelled[orderHash]) return false;
        if (order.counter != ghostCounter[order.maker]) return false;
        if (order.taker != address(0) && order.taker != taker) return false;
        if (amount == 0) return false;
        if (!order.partialFill && amount != order.sellAmount) return false;
        if (ghostFilled[orderHash] >= order.sellAmount) return false; // nothing left
        if (ghostFeeBps > order.maxFeeBps) return false; // the fee rose above what the maker signed
        return true;
    }

    /// @dev What a fill of `amount` takes: what is left if it asks for more.
    function _taken(IMarketplace.Order memory order, bytes32 orderHash, uint256 amount)
        internal
        view
        returns (uint256)
    {
        uint256 remaining = order.sellAmount - ghostFilled[orderHash];
        return amount < remaining ? amount : remaining;
    }

    /// @dev The order's total price now, computed apart from the contract: the start, the end, or the
    /// linear interpolation between them (rounded up).
    function _priceNow(IMarketplace.Order memory order) internal view returns (uint256) {
        if (order.decayEnd == 0) return order.price;
        uint256 t = block.timestamp;
        uint256 bpsTimesDuration;
        uint256 duration = order.decayEnd - order.decayStart;
        if (t >= order.decayEnd) return (order.price * order.endPriceBps + 9_999) / 10_000;
        if (t <= order.decayStart) return (order.price * order.startPriceBps + 9_999) / 10_000;
        bpsTimesDuration =
            uint256(order.startPriceBps) * (order.decayEnd - t) + uint256(order.endPriceBps) * (t - order.decayStart);
        uint256 denominator = 10_000 * duration;
        return (order.price * bpsTimesDuration + denominator - 1) / denominator;
    }

    function _book(IMarketplace.Order memory order, bytes32 orderHash, address taker, uint256 amount, uint256 cost)
        internal
    {
        uint256 expectedCost = (_priceNow(order) * amount + order.sellAmount - 1) / order.sellAmount;
        if (cost != expectedCost) ++violations;
        uint256 fee = cost * ghostFeeBps / 10_000;
        ghostFilled[orderHash] += amount;
        ghostTranche[order.maker] -= amount;
        ghostTranche[taker] += amount;
        ghostUsd[taker] -= cost;
        ghostUsd[order.maker] += cost - fee;
        ghostUsd[treasury] += fee;
        ++fills;
    }
}

contract MarketplaceInvariantTest is Test {
    MarketplaceHandler internal handler;
    Marketplace internal market;
    TestStablecoin internal usd;
    TrancheToken internal tranche;
    address internal treasury = makeAddr("treasury");
    address[] internal accounts;

    function setUp() public {
        vm.warp(1_700_000_000);
        address admin = makeAddr("admin");
        usd = new TestStablecoin(address(this));
        ComplianceRegistry registry = new ComplianceRegistry(address(this));
        tranche = TrancheToken(Clones.clone(address(new TrancheToken())));
        tranche.initialize("Senior", "SNR", address(this), IComplianceRegistry(address(registry)), 0);
        market = new Marketplace(admin, makeAddr("guardian"), treasury, 25);
        handler = new MarketplaceHandler(market, usd, tranche, admin, treasury);

        for (uint256 i; i < handler.makerCount(); ++i) {
            address maker = handler.makers(i);
            accounts.push(maker);
            registry.allowlist(maker, type(uint64).max);
            tranche.mint(maker, 200_000e18);
            vm.prank(maker);
            tranche.approve(address(market), type(uint256).max);
        }
        for (uint256 i; i < handler.takerCount(); ++i) {
            address taker = handler.takers(i);
            accounts.push(taker);
            registry.allowlist(taker, type(uint64).max);
            usd.mint(taker, 1e15);
            vm.prank(taker);
            usd.approve(address(market), type(uint256).max);
        }
        accounts.push(treasury);
        handler.syncBalances(accounts);

        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = MarketplaceHandler.createOrder.selector;
        selectors[1] = MarketplaceHandler.fill.selector;
        selectors[2] = MarketplaceHandler.fillWithSig.selector;
        selectors[3] = MarketplaceHandler.cancel.selector;
        selectors[4] = MarketplaceHandler.incrementCounter.selector;
        selectors[5] = MarketplaceHandler.setFee.selector;
        selectors[6] = MarketplaceHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @dev No order is ever filled beyond its amount, and the contract's record matches the successful fills.
    function invariant_filledNeverExceedsOrder() public view {
        for (uint256 i; i < handler.orderCount(); ++i) {
            bytes32 orderHash = handler.orderHashes(i);
            assertLe(market.filled(orderHash), handler.sellAmountOf(i), "filled <= sellAmount");
            assertEq(market.filled(orderHash), handler.ghostFilled(orderHash), "filled == ghost");
        }
    }

    /// @dev Both legs or neither: every balance equals the ghost ledger of successful fills.
    function invariant_fillsMoveBothLegsOrNeither() public view {
        for (uint256 i; i < accounts.length; ++i) {
            assertEq(usd.balanceOf(accounts[i]), handler.ghostUsd(accounts[i]), "pay token ledger");
            assertEq(tranche.balanceOf(accounts[i]), handler.ghostTranche(accounts[i]), "tranche ledger");
        }
        assertEq(usd.balanceOf(address(market)), 0, "never holds pay tokens");
        assertEq(tranche.balanceOf(address(market)), 0, "never holds tranche tokens");
    }

    /// @dev No fill after cancel, expiry, counter bump, beyond the amount, by the wrong taker or with a
    /// replayed nonce; and every allowed fill went through.
    function invariant_onlyAllowedFillsSucceed() public view {
        assertEq(handler.violations(), 0, "forbidden fill succeeded");
        assertEq(handler.unexpectedReverts(), 0, "allowed fill reverted");
    }
}
