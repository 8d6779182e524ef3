// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Marketplace} from "../src/Marketplace.sol";
import {IMarketplace} from "../src/interfaces/IMarketplace.sol";
import {ITrancheToken} from "../src/interfaces/ITrancheToken.sol";

import {MarketplaceFixture} from "./utils/MarketplaceFixture.sol";

/// @notice A smart-contract maker (ERC-1271) whose owner key signs for it.
contract ContractWallet is IERC1271 {
    address internal immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function approve(IERC20 token, address spender, uint256 amount) external {
        require(msg.sender == owner, "not owner");
        token.approve(spender, amount);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer,,) = ECDSA.tryRecover(hash, signature);
        return signer == owner ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}

contract MarketplaceTest is MarketplaceFixture {
    event OrderFilled(
        bytes32 indexed orderHash,
        address indexed maker,
        address indexed taker,
        address tranche,
        uint256 amount,
        uint256 cost,
        uint256 fee,
        uint256 nonce
    );
    event OrderCancelled(bytes32 indexed orderHash, address indexed maker);
    event CounterIncremented(address indexed maker, uint256 newCounter);
    event FeeSet(uint256 feeBps);
    event TreasurySet(address treasury);
    event Paused(address account);
    event Unpaused(address account);

    // ------------------------------------------------------------------ constructor and views

    function test_constructor_setsConfiguration() public view {
        assertEq(market.feeBps(), FEE_BPS);
        assertEq(market.treasury(), treasury);
        assertFalse(market.paused());
        assertTrue(market.hasRole(market.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(market.hasRole(market.GUARDIAN_ROLE(), guardian));
        assertEq(market.MAX_FEE_BPS(), 100);
    }

    function test_constructor_revertsIfZeroAddressOrFeeTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceZeroAddress.selector));
        new Marketplace(admin, guardian, address(0), FEE_BPS);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceFeeTooHigh.selector, 101, 100));
        new Marketplace(admin, guardian, treasury, 101);
    }

    function test_hashOrder_isTheEip712DigestOfTheOrder() public view {
        IMarketplace.Order memory order = _order();
        order.startPriceBps = 10_500; // a Dutch order: every field is hashed
        order.endPriceBps = 9_000;
        order.decayStart = 1_700_000_100;
        order.decayEnd = 1_700_003_700;
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("NPL Marketplace"),
                keccak256("1"),
                block.chainid,
                address(market)
            )
        );
        assertEq(market.DOMAIN_SEPARATOR(), domain);
        bytes32 typehash = keccak256(
            "Order(address maker,address taker,address tranche,address payToken,uint256 sellAmount,uint256 price,uint256 expiry,uint256 salt,uint256 counter,bool partialFill,uint16 maxFeeBps,uint16 startPriceBps,uint16 endPriceBps,uint64 decayStart,uint64 decayEnd)"
        );
        assertEq(market.ORDER_TYPEHASH(), typehash);
        // abi.encode of static values is their words one after the other: two halves (stack depth)
        bytes memory head = abi.encode(
            typehash, order.maker, order.taker, order.tranche, order.payToken, order.sellAmount, order.price, order.expiry
        );
        bytes memory tail = abi.encode(
            order.salt,
            order.counter,
            order.partialFill,
            order.maxFeeBps,
            order.startPriceBps,
            order.endPriceBps,
            order.decayStart,
            order.decayEnd
        );
        bytes32 structHash = keccak256(abi.encodePacked(head, tail));
        assertEq(market.hashOrder(order), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    function test_hashFillIntent_isTheEip712DigestOfTheIntent() public view {
        IMarketplace.FillIntent memory intent = _intent(_order(), 5e18, 9);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "FillIntent(bytes32 orderHash,address taker,uint256 amount,uint256 maxCost,uint256 nonce,uint256 deadline)"
                ),
                intent.orderHash,
                intent.taker,
                intent.amount,
                intent.maxCost,
                intent.nonce,
                intent.deadline
            )
        );
        assertEq(
            market.hashFillIntent(intent),
            keccak256(abi.encodePacked("\x19\x01", market.DOMAIN_SEPARATOR(), structHash))
        );
    }

    function test_quote_roundsCostUpAndFeeDown() public view {
        IMarketplace.Order memory order = _order();
        order.price = 1000;
        order.sellAmount = 3;
        (uint256 cost, uint256 fee) = market.quote(order, 1);
        assertEq(cost, 334, "ceil(1000 / 3)");
        assertEq(fee, 1, "floor(334 * 50 / 10000)");
    }

    // ------------------------------------------------------------------ fill

    function test_fill_movesBothLegsAndPaysFee() public {
        IMarketplace.Order memory order = _order();
        bytes32 orderHash = market.hashOrder(order);
        uint256 fee = 990e6 * uint256(FEE_BPS) / 10_000;
        bytes memory makerSig = _signOrder(order);
        vm.expectEmit(address(market));
        emit OrderFilled(orderHash, maker, taker, address(tranche), 1000e18, 990e6, fee, market.DIRECT_FILL_NONCE());
        vm.prank(taker);
        uint256 cost = market.fill(order, makerSig, 1000e18);
        assertEq(cost, 990e6);
        assertEq(tranche.balanceOf(taker), 1000e18);
        assertEq(tranche.balanceOf(maker), 999_000e18);
        assertEq(usd.balanceOf(maker), 990e6 - fee);
        assertEq(usd.balanceOf(treasury), fee);
        assertEq(usd.balanceOf(taker), 10_000_000e6 - 990e6);
        assertEq(market.filled(orderHash), 1000e18);
        assertEq(tranche.balanceOf(address(market)), 0, "marketplace never holds tranche tokens");
        assertEq(usd.balanceOf(address(market)), 0, "marketplace never holds pay tokens");
    }

    function test_fill_partialFillsAccumulateAndRoundUp() public {
        IMarketplace.Order memory order = _order();
        order.price = 1000e6 + 1; // not divisible: every partial fill rounds up
        bytes memory signature = _signOrder(order);
        vm.startPrank(taker);
        uint256 first = market.fill(order, signature, 300e18);
        uint256 second = market.fill(order, signature, 700e18);
        vm.stopPrank();
        assertEq(first, _ceilDiv(300e18 * (1000e6 + 1), 1000e18));
        assertEq(second, _ceilDiv(700e18 * (1000e6 + 1), 1000e18));
        assertGe(first + second, order.price, "split fills never cost less than the whole order");
        assertEq(market.filled(market.hashOrder(order)), 1000e18);
        assertEq(tranche.balanceOf(taker), 1000e18);
    }

    function test_fill_checksMakerSignatureOnFirstFillOnly() public {
        IMarketplace.Order memory order = _order();
        vm.startPrank(taker);
        market.fill(order, _signOrder(order), 100e18);
        // The hash was proven signed by the first fill; later partial fills need no signature.
        market.fill(order, "", 100e18);
        vm.stopPrank();
        assertEq(tranche.balanceOf(taker), 200e18);
    }

    function test_fill_reservedOrderByItsTaker() public {
        IMarketplace.Order memory order = _order();
        order.taker = taker;
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 10e18);
        assertEq(tranche.balanceOf(taker), 10e18);
    }

    function test_fill_withoutFeeSkipsTreasury() public {
        vm.prank(admin);
        market.setFeeBps(0);
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 1000e18);
        assertEq(usd.balanceOf(maker), 990e6);
        assertEq(usd.balanceOf(treasury), 0);
    }

    function test_fill_contractMakerWithErc1271() public {
        ContractWallet wallet = new ContractWallet(maker);
        _allow(address(wallet));
        tranche.mint(address(wallet), 100e18);
        vm.prank(maker);
        wallet.approve(IERC20(address(tranche)), address(market), type(uint256).max);
        IMarketplace.Order memory order = _order();
        order.maker = address(wallet);
        order.sellAmount = 100e18;
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 100e18);
        assertEq(tranche.balanceOf(taker), 100e18);
        assertGt(usd.balanceOf(address(wallet)), 0);
    }

    function test_fill_revertsIfContractMakerRejectsSignature() public {
        ContractWallet wallet = new ContractWallet(maker);
        _allow(address(wallet));
        IMarketplace.Order memory order = _order();
        order.maker = address(wallet);
        bytes memory signature = _sign(takerKey, market.hashOrder(order)); // not the wallet owner's key
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderSignatureInvalid.selector, market.hashOrder(order), address(wallet))
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfExpired() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.warp(order.expiry + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderExpired.selector, market.hashOrder(order), order.expiry)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_validAtExpirySecond() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.warp(order.expiry);
        vm.prank(taker);
        market.fill(order, signature, 1e18);
        assertEq(tranche.balanceOf(taker), 1e18);
    }

    function test_fill_revertsIfCancelled() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(maker);
        market.cancel(order);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderWasCancelled.selector, market.hashOrder(order)));
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfCounterStale() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(maker);
        market.incrementCounter();
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderCounterStale.selector, market.hashOrder(order), 0, 1)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_moreThanRemainingTakesTheRemainder() public {
        IMarketplace.Order memory order = _order();
        bytes32 orderHash = market.hashOrder(order);
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        market.fill(order, signature, 600e18);
        (uint256 quoted,) = market.quote(order, 400e18);
        vm.expectEmit(address(market));
        emit OrderFilled(
            orderHash, maker, taker, address(tranche), 400e18, quoted, quoted * FEE_BPS / 10_000, market.DIRECT_FILL_NONCE()
        );
        vm.prank(taker);
        uint256 cost = market.fill(order, signature, 401e18);
        assertEq(cost, quoted, "priced on what was taken");
        assertEq(market.filled(orderHash), 1000e18);
        assertEq(tranche.balanceOf(taker), 1000e18);
    }

    function test_fill_revertsIfNothingRemains() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        market.fill(order, signature, 1000e18);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderOverfilled.selector, market.hashOrder(order), 1e18, 0)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    /// @dev Issue 11 finding 5: a stranger front-runs a taker's fill of the whole order with a 1-wei fill.
    /// The taker's relayed fill then takes what is left (within its maxCost) instead of reverting.
    function test_fillWithSig_oneWeiFrontRunDoesNotBlockTheWholeFill() public {
        IMarketplace.Order memory order = _order();
        bytes32 orderHash = market.hashOrder(order);
        bytes memory makerSig = _signOrder(order);
        IMarketplace.FillIntent memory intent = _intent(order, order.sellAmount, 7);
        intent.maxCost = order.price;
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));

        address attacker = makeAddr("attacker");
        _allow(attacker);
        usd.mint(attacker, 1e6);
        vm.startPrank(attacker);
        usd.approve(address(market), type(uint256).max);
        market.fill(order, makerSig, 1);
        vm.stopPrank();

        uint256 remaining = order.sellAmount - 1;
        (uint256 quoted,) = market.quote(order, remaining);
        vm.expectEmit(address(market));
        emit OrderFilled(orderHash, maker, taker, address(tranche), remaining, quoted, quoted * FEE_BPS / 10_000, 7);
        vm.prank(relayer);
        uint256 cost = market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(cost, quoted);
        assertLe(cost, intent.maxCost);
        assertEq(tranche.balanceOf(taker), remaining);
        assertEq(market.filled(orderHash), order.sellAmount);
    }

    function test_fillWithSig_capsTheRemainderAtMaxCost() public {
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 600e18);
        // the intent asks for everything but bounds the cost below what the remaining 400 cost
        IMarketplace.FillIntent memory intent = _intent(order, 1000e18, 8);
        intent.maxCost = 396e6 - 1;
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentCostExceedsMax.selector, 396e6, 396e6 - 1));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fill_revertsIfPartialFillNotAllowed() public {
        IMarketplace.Order memory order = _order();
        order.partialFill = false;
        bytes memory signature = _signOrder(order);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.OrderPartialFillNotAllowed.selector, market.hashOrder(order), 999e18, 1000e18
            )
        );
        vm.prank(taker);
        market.fill(order, signature, 999e18);
        vm.prank(taker);
        market.fill(order, signature, 1000e18);
        // A whole-order fill of an already filled all-or-nothing order is an overfill.
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderOverfilled.selector, market.hashOrder(order), 1000e18, 0)
        );
        vm.prank(taker);
        market.fill(order, signature, 1000e18);
    }

    function test_fill_revertsIfAmountZero() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderAmountZero.selector, market.hashOrder(order)));
        vm.prank(taker);
        market.fill(order, signature, 0);
    }

    function test_fill_revertsIfSignedByAnotherKey() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _sign(takerKey, market.hashOrder(order));
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderSignatureInvalid.selector, market.hashOrder(order), maker)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfSignedForAnotherChain() public {
        IMarketplace.Order memory order = _order();
        uint256 chainId = block.chainid;
        vm.chainId(chainId + 1);
        bytes memory signature = _signOrder(order);
        vm.chainId(chainId);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderSignatureInvalid.selector, market.hashOrder(order), maker)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfSignedForAnotherMarketplace() public {
        Marketplace other = new Marketplace(admin, guardian, treasury, FEE_BPS);
        IMarketplace.Order memory order = _order();
        bytes memory signature = _sign(makerKey, other.hashOrder(order));
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderSignatureInvalid.selector, market.hashOrder(order), maker)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfTamperedOrder() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        order.price = 1; // taker tries to pay less
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderSignatureInvalid.selector, market.hashOrder(order), maker)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfTakerMismatch() public {
        IMarketplace.Order memory order = _order();
        order.taker = makeAddr("someoneElse");
        bytes memory signature = _signOrder(order);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderTakerMismatch.selector, market.hashOrder(order), order.taker)
        );
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfTakerNotAllowed() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        registry.freeze(taker);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, taker));
        vm.prank(taker);
        market.fill(order, signature, 1e18);
        assertEq(market.filled(market.hashOrder(order)), 0, "nothing recorded");
        assertEq(usd.balanceOf(maker), 0, "payment leg rolled back");
    }

    function test_fill_revertsIfMakerNotAllowed() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        registry.revoke(maker);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, maker));
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfTranchePaused() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        tranche.setPaused(true);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenPaused.selector));
        vm.prank(taker);
        market.fill(order, signature, 1e18);
        assertEq(usd.balanceOf(maker), 0, "payment leg rolled back with the token leg");
    }

    function test_fill_revertsIfPaused() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(guardian);
        market.pause();
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePaused.selector));
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_fill_revertsIfTakerAllowanceTooLow() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        usd.approve(address(market), 1);
        uint256 makerShare = 990e6 - 990e6 * uint256(FEE_BPS) / 10_000;
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 1, makerShare
            )
        );
        vm.prank(taker);
        market.fill(order, signature, 1000e18);
    }

    function test_fill_revertsIfFilledAmountOverflowsStorage() public {
        IMarketplace.Order memory order = _order();
        order.sellAmount = uint256(type(uint248).max) + 1;
        order.price = 0;
        tranche.mint(maker, uint256(type(uint248).max) + 1 - tranche.totalSupply());
        bytes memory signature = _signOrder(order);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 248, order.sellAmount));
        vm.prank(taker);
        market.fill(order, signature, order.sellAmount);
    }

    // ------------------------------------------------------------------ fillWithSig

    function test_fillWithSig_relayedWithPermit() public {
        vm.prank(taker);
        usd.approve(address(market), 0);
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 500e18, 42);
        intent.maxCost = 495e6;
        IMarketplace.PermitData memory permit = _permit(takerKey, address(market), 495e6);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.prank(relayer);
        uint256 cost = market.fillWithSig(order, makerSig, intent, takerSig, permit);
        assertEq(cost, 495e6);
        assertEq(tranche.balanceOf(taker), 500e18);
        assertEq(usd.balanceOf(relayer), 0);
        assertTrue(market.nonceUsed(taker, 42));
        assertEq(usd.allowance(taker, address(market)), 0, "permit spent exactly");
    }

    function test_fillWithSig_frontRunPermitStillSucceeds() public {
        vm.prank(taker);
        usd.approve(address(market), 0);
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 1000e18, 1);
        IMarketplace.PermitData memory permit = _permit(takerKey, address(market), 990e6);
        // Someone submits the permit from the mempool first: its nonce is consumed, the allowance is set.
        vm.prank(makeAddr("griefer"));
        usd.permit(taker, address(market), permit.value, permit.deadline, permit.v, permit.r, permit.s);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.prank(relayer);
        market.fillWithSig(order, makerSig, intent, takerSig, permit);
        assertEq(tranche.balanceOf(taker), 1000e18);
    }

    function test_fillWithSig_withoutPermitUsesExistingAllowance() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.prank(relayer);
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(tranche.balanceOf(taker), 10e18);
    }

    function test_fillWithSig_invalidPermitAndNoAllowanceReverts() public {
        vm.prank(taker);
        usd.approve(address(market), 0);
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        IMarketplace.PermitData memory permit = _permit(makerKey, address(market), 990e6); // wrong signer
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.expectRevert();
        market.fillWithSig(order, makerSig, intent, takerSig, permit);
        assertFalse(market.nonceUsed(taker, 1), "nonce not burnt by a failed fill");
    }

    function test_fillWithSig_revertsIfIntentExpired() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.warp(intent.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentExpired.selector, intent.deadline));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fillWithSig_revertsIfNonceReplayed() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 7);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceUsed.selector, taker, 7));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(tranche.balanceOf(taker), 10e18);
    }

    // ------------------------------------------------------------------ nonce invalidation

    function _signInvalidation(uint256 key, address account, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(abi.encode(market.NONCE_INVALIDATION_TYPEHASH(), account, nonce, deadline));
        return _sign(key, keccak256(abi.encodePacked("\x19\x01", market.DOMAIN_SEPARATOR(), structHash)));
    }

    /// Attack: the taker signed a fill intent and changed its mind; without invalidation a relayer holding the
    /// signature could still fill for it until the deadline. Its signed invalidation, relayed first, kills it.
    function test_invalidateNonceWithSig_killsASignedFillIntentBeforeItIsRelayed() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 21);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(takerKey, taker, 21, deadline);

        vm.expectEmit(address(market));
        emit IMarketplace.IntentNonceInvalidated(taker, 21);
        vm.prank(relayer);
        market.invalidateNonceWithSig(taker, 21, deadline, cancelSig);
        assertTrue(market.nonceUsed(taker, 21));

        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceUsed.selector, taker, 21));
        vm.prank(relayer);
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(tranche.balanceOf(taker), 0);
    }

    function test_invalidateNonce_ownCallKillsTheFillIntentEvenWhenPaused() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 22);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.prank(guardian);
        market.pause();
        vm.expectEmit(address(market));
        emit IMarketplace.IntentNonceInvalidated(taker, 22);
        vm.prank(taker);
        market.invalidateNonce(22);
        vm.prank(guardian);
        market.unpause();
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceUsed.selector, taker, 22));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_invalidateNonce_revertsIfNonceAlreadyUsed() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 23);
        market.fillWithSig(order, _signOrder(order), intent, _sign(takerKey, market.hashFillIntent(intent)), _noPermit());
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceUsed.selector, taker, 23));
        vm.prank(taker);
        market.invalidateNonce(23);
    }

    function test_invalidateNonceWithSig_revertsIfNonceAlreadyInvalidated() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(takerKey, taker, 24, deadline);
        market.invalidateNonceWithSig(taker, 24, deadline, cancelSig);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceUsed.selector, taker, 24));
        market.invalidateNonceWithSig(taker, 24, deadline, cancelSig);
    }

    function test_invalidateNonceWithSig_revertsAfterDeadline() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(takerKey, taker, 25, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentExpired.selector, deadline));
        market.invalidateNonceWithSig(taker, 25, deadline, cancelSig);
        assertFalse(market.nonceUsed(taker, 25));
    }

    function test_invalidateNonceWithSig_revertsForAStrangersSignature() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(makerKey, taker, 26, deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentSignatureInvalid.selector, taker));
        market.invalidateNonceWithSig(taker, 26, deadline, cancelSig);
        assertFalse(market.nonceUsed(taker, 26));
    }

    function test_invalidateNonceWithSig_acceptsAnErc1271Account() public {
        ContractWallet wallet = new ContractWallet(taker);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(takerKey, address(wallet), 27, deadline);
        market.invalidateNonceWithSig(address(wallet), 27, deadline, cancelSig);
        assertTrue(market.nonceUsed(address(wallet), 27));
    }

    function test_fillWithSig_noncesAreUnordered() public {
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        uint256[3] memory nonces = [uint256(99), 3, 50];
        for (uint256 i; i < 3; ++i) {
            IMarketplace.FillIntent memory intent = _intent(order, 1e18, nonces[i]);
            market.fillWithSig(order, makerSig, intent, _sign(takerKey, market.hashFillIntent(intent)), _noPermit());
        }
        assertEq(tranche.balanceOf(taker), 3e18);
    }

    function test_fillWithSig_revertsIfSignedByAnotherKey() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(makerKey, market.hashFillIntent(intent));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentSignatureInvalid.selector, taker));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fillWithSig_revertsIfSignedForAnotherChain() public {
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        uint256 chainId = block.chainid;
        vm.chainId(chainId + 1);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.chainId(chainId);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentSignatureInvalid.selector, taker));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fillWithSig_revertsIfSignedForAnotherMarketplace() public {
        Marketplace other = new Marketplace(admin, guardian, treasury, FEE_BPS);
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        bytes memory takerSig = _sign(takerKey, other.hashFillIntent(intent));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentSignatureInvalid.selector, taker));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fillWithSig_revertsIfIntentForAnotherOrder() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.Order memory other = _order();
        other.salt = 2;
        IMarketplace.FillIntent memory intent = _intent(other, 10e18, 1);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.IntentOrderMismatch.selector, market.hashOrder(other), market.hashOrder(order)
            )
        );
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fillWithSig_revertsIfCostExceedsMax() public {
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        intent.maxCost = 9.9e6 - 1;
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentCostExceedsMax.selector, 9.9e6, 9.9e6 - 1));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    function test_fillWithSig_appliesOrderChecks() public {
        IMarketplace.Order memory order = _order();
        order.taker = makeAddr("reserved");
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderTakerMismatch.selector, market.hashOrder(order), order.taker)
        );
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    // ------------------------------------------------------------------ cancel and counter

    function test_cancel_marksOrderCancelled() public {
        IMarketplace.Order memory order = _order();
        bytes32 orderHash = market.hashOrder(order);
        vm.expectEmit(address(market));
        emit OrderCancelled(orderHash, maker);
        vm.prank(maker);
        market.cancel(order);
        assertTrue(market.cancelled(orderHash));
    }

    function test_cancel_keepsFilledAmountOfPartiallyFilledOrder() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        market.fill(order, signature, 250e18);
        vm.prank(maker);
        market.cancel(order);
        assertEq(market.filled(market.hashOrder(order)), 250e18);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderWasCancelled.selector, market.hashOrder(order)));
        vm.prank(taker);
        market.fill(order, signature, 1e18);
    }

    function test_cancel_revertsIfNotMaker() public {
        IMarketplace.Order memory order = _order();
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderCallerNotMaker.selector, market.hashOrder(order), taker)
        );
        vm.prank(taker);
        market.cancel(order);
    }

    function test_incrementCounter_voidsOlderOrdersOnly() public {
        vm.expectEmit(address(market));
        emit CounterIncremented(maker, 1);
        vm.prank(maker);
        assertEq(market.incrementCounter(), 1);
        assertEq(market.counter(maker), 1);
        IMarketplace.Order memory order = _order();
        order.counter = 1;
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 1e18);
        assertEq(tranche.balanceOf(taker), 1e18);
        assertEq(market.counter(taker), 0, "counters are per maker");
    }

    // ------------------------------------------------------------------ fee bound (issue 11 finding 8)

    /// @dev Issue 11 finding 8: the maker signs an order at the current fee (50 bps, maxFeeBps 50), then the
    /// admin raises the fee. The fill must revert instead of paying the maker less than it signed for.
    function test_fill_revertsIfAdminRaisesFeeAboveSignedMax() public {
        IMarketplace.Order memory order = _order();
        order.maxFeeBps = FEE_BPS;
        bytes32 orderHash = market.hashOrder(order);
        bytes memory makerSig = _signOrder(order);
        vm.prank(admin);
        market.setFeeBps(FEE_BPS + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderFeeAboveMax.selector, orderHash, FEE_BPS + 1, FEE_BPS)
        );
        vm.prank(taker);
        market.fill(order, makerSig, 100e18);
        assertEq(tranche.balanceOf(taker), 0);
        assertEq(market.filled(orderHash), 0);
    }

    /// @dev The raise lands between two partial fills: the second reverts; once the fee is back at (or
    /// below) the order's bound, fills go through again at the current fee.
    function test_fill_feeBoundHoldsAcrossPartialFillsAndAtOrBelowMax() public {
        IMarketplace.Order memory order = _order();
        order.maxFeeBps = FEE_BPS;
        bytes32 orderHash = market.hashOrder(order);
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 100e18);

        vm.prank(admin);
        market.setFeeBps(100);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderFeeAboveMax.selector, orderHash, 100, FEE_BPS));
        vm.prank(taker);
        market.fill(order, makerSig, 100e18);

        vm.prank(admin);
        market.setFeeBps(FEE_BPS); // at the bound
        uint256 treasuryBefore = usd.balanceOf(treasury);
        vm.prank(taker);
        uint256 cost = market.fill(order, makerSig, 100e18);
        assertEq(usd.balanceOf(treasury) - treasuryBefore, cost * FEE_BPS / 10_000);

        vm.prank(admin);
        market.setFeeBps(10); // below the bound: the lower fee applies
        treasuryBefore = usd.balanceOf(treasury);
        uint256 makerBefore = usd.balanceOf(maker);
        vm.prank(taker);
        cost = market.fill(order, makerSig, 100e18);
        assertEq(usd.balanceOf(treasury) - treasuryBefore, cost * 10 / 10_000);
        assertEq(usd.balanceOf(maker) - makerBefore, cost - cost * 10 / 10_000);
        assertEq(market.filled(orderHash), 300e18);
    }

    function test_fillWithSig_revertsIfFeeAboveSignedMax() public {
        IMarketplace.Order memory order = _order();
        order.maxFeeBps = 0; // a maker that accepts no fee at all
        bytes32 orderHash = market.hashOrder(order);
        IMarketplace.FillIntent memory intent = _intent(order, 1e18, 31);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        bytes memory makerSig = _signOrder(order);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderFeeAboveMax.selector, orderHash, FEE_BPS, 0));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertFalse(market.nonceUsed(taker, 31), "the reverted fill spends no nonce");
        vm.prank(admin);
        market.setFeeBps(0);
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(usd.balanceOf(treasury), 0);
    }

    /// @dev The maker's maxFeeBps is signed: raising it in the order changes its hash, and the maker's
    /// signature no longer matches.
    function test_fill_revertsIfMaxFeeBpsTamperedUp() public {
        IMarketplace.Order memory order = _order();
        order.maxFeeBps = FEE_BPS;
        bytes memory makerSig = _signOrder(order);
        vm.prank(admin);
        market.setFeeBps(100);
        order.maxFeeBps = 100;
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.OrderSignatureInvalid.selector, market.hashOrder(order), maker)
        );
        vm.prank(taker);
        market.fill(order, makerSig, 1e18);
    }

    function testFuzz_fill_revertsIffFeeAboveMax(uint16 feeBps, uint16 maxFeeBps) public {
        feeBps = uint16(bound(feeBps, 0, 100));
        IMarketplace.Order memory order = _order();
        order.maxFeeBps = maxFeeBps;
        bytes memory makerSig = _signOrder(order);
        vm.prank(admin);
        market.setFeeBps(feeBps);
        if (feeBps > maxFeeBps) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IMarketplace.OrderFeeAboveMax.selector, market.hashOrder(order), feeBps, maxFeeBps
                )
            );
        }
        vm.prank(taker);
        market.fill(order, makerSig, 1e18);
    }

    // ------------------------------------------------------------------ fill-intent nonces (issue 11 finding 9)

    function test_fillWithSig_revertsIfNonceIsTheDirectFillNonce() public {
        IMarketplace.Order memory order = _order();
        uint256 reserved = market.DIRECT_FILL_NONCE();
        assertEq(reserved, type(uint256).max);
        IMarketplace.FillIntent memory intent = _intent(order, 1e18, reserved);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        bytes memory makerSig = _signOrder(order);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceReserved.selector, taker, reserved));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }

    /// @dev Neighbouring nonces share a bitmap word; using one never spends another, across a word edge too.
    function test_nonceBitmap_neighboursShareAWordIndependently() public {
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        uint256[4] memory nonces = [uint256(0), 255, 256, 3];
        bytes32 orderHash = market.hashOrder(order);
        for (uint256 i; i < nonces.length; ++i) {
            IMarketplace.FillIntent memory intent = _intent(order, 1e18, nonces[i]);
            bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
            vm.expectEmit(address(market));
            emit OrderFilled(
                orderHash, maker, taker, address(tranche), 1e18, 0.99e6, uint256(0.99e6) * FEE_BPS / 10_000, nonces[i]
            );
            market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        }
        assertEq(market.nonceBitmap(taker, 0), (1 << 0) | (1 << 255) | (1 << 3));
        assertEq(market.nonceBitmap(taker, 1), 1);
        assertTrue(market.nonceUsed(taker, 255));
        assertTrue(market.nonceUsed(taker, 256));
        assertFalse(market.nonceUsed(taker, 1));
        assertFalse(market.nonceUsed(taker, 257));
        // an invalidation sets the bit of its nonce only
        vm.prank(taker);
        market.invalidateNonce(1);
        assertEq(market.nonceBitmap(taker, 0), (1 << 0) | (1 << 1) | (1 << 255) | (1 << 3));
        IMarketplace.FillIntent memory replay = _intent(order, 1e18, 256);
        bytes memory replaySig = _sign(takerKey, market.hashFillIntent(replay));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentNonceUsed.selector, taker, 256));
        market.fillWithSig(order, makerSig, replay, replaySig, _noPermit());
    }

    function testFuzz_nonceUsed_exactlyTheUsedNonces(uint256 used, uint256 other) public {
        vm.assume(used != other);
        vm.prank(taker);
        market.invalidateNonce(used);
        assertTrue(market.nonceUsed(taker, used));
        assertFalse(market.nonceUsed(taker, other));
        assertFalse(market.nonceUsed(maker, used));
    }

    // ------------------------------------------------------------------ admin and guardian

    function test_setFeeBps_appliesToLaterFills() public {
        vm.expectEmit(address(market));
        emit FeeSet(100);
        vm.prank(admin);
        market.setFeeBps(100);
        assertEq(market.feeBps(), 100);
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 1000e18);
        assertEq(usd.balanceOf(treasury), 9.9e6);
    }

    function test_setFeeBps_revertsIfTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceFeeTooHigh.selector, 101, 100));
        vm.prank(admin);
        market.setFeeBps(101);
    }

    function test_setFeeBps_revertsIfNotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, market.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(guardian);
        market.setFeeBps(1);
    }

    function test_setTreasury_redirectsFees() public {
        address newTreasury = makeAddr("newTreasury");
        vm.expectEmit(address(market));
        emit TreasurySet(newTreasury);
        vm.prank(admin);
        market.setTreasury(newTreasury);
        IMarketplace.Order memory order = _order();
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 1000e18);
        assertEq(usd.balanceOf(newTreasury), 990e6 * uint256(FEE_BPS) / 10_000);
        assertEq(usd.balanceOf(treasury), 0);
    }

    function test_setTreasury_revertsIfZero() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceZeroAddress.selector));
        vm.prank(admin);
        market.setTreasury(address(0));
    }

    function test_pause_blocksFillsUntilUnpaused() public {
        vm.expectEmit(address(market));
        emit Paused(guardian);
        vm.prank(guardian);
        market.pause();
        assertTrue(market.paused());
        // Makers can still withdraw while paused.
        vm.prank(maker);
        market.incrementCounter();
        vm.expectEmit(address(market));
        emit Unpaused(guardian);
        vm.prank(guardian);
        market.unpause();
        IMarketplace.Order memory order = _order();
        order.counter = 1;
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        market.fill(order, makerSig, 1e18);
        assertEq(tranche.balanceOf(taker), 1e18);
    }

    function test_pause_revertsIfUnchanged() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePauseUnchanged.selector, false));
        vm.prank(guardian);
        market.unpause();
        vm.prank(guardian);
        market.pause();
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePauseUnchanged.selector, true));
        vm.prank(guardian);
        market.pause();
    }

    function test_pause_revertsIfNotGuardian() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, admin, market.GUARDIAN_ROLE()
            )
        );
        vm.prank(admin);
        market.pause();
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev A sequence of partial fills: each costs ceil(price * amount / sellAmount), the fee is the floor of
    /// feeBps of it, the maker gets the rest, and nothing is ever filled beyond sellAmount.
    function testFuzz_fill_partialFillsNeverExceedOrderAndRoundUp(
        uint256 sellAmount,
        uint256 price,
        uint16 feeBps,
        uint256[6] memory parts
    ) public {
        sellAmount = bound(sellAmount, 1, 1_000_000e18);
        price = bound(price, 0, 1_000_000e6);
        feeBps = uint16(bound(feeBps, 0, 100));
        vm.prank(admin);
        market.setFeeBps(feeBps);
        IMarketplace.Order memory order = _order();
        order.sellAmount = sellAmount;
        order.price = price;
        bytes memory signature = _signOrder(order);
        bytes32 orderHash = market.hashOrder(order);

        uint256 filledSoFar;
        uint256 paid;
        uint256 fees;
        for (uint256 i; i < parts.length; ++i) {
            uint256 remaining = sellAmount - filledSoFar;
            // Mostly within what is left, sometimes beyond it (then the fill takes what is left).
            uint256 amount = bound(parts[i], 1, remaining * 2);
            vm.prank(taker);
            uint256 cost = market.fill(order, signature, amount);
            if (amount > remaining) amount = remaining;
            // cost is the smallest integer with cost * sellAmount >= price * amount
            assertGe(cost * sellAmount, price * amount, "cost rounds up");
            if (cost > 0) assertLt((cost - 1) * sellAmount, price * amount);
            assertLe(cost, price);
            filledSoFar += amount;
            paid += cost;
            fees += cost * feeBps / 10_000;
            if (filledSoFar == sellAmount) break;
        }
        assertEq(market.filled(orderHash), filledSoFar);
        assertLe(filledSoFar, sellAmount);
        assertEq(tranche.balanceOf(taker), filledSoFar);
        assertEq(usd.balanceOf(treasury), fees);
        assertEq(usd.balanceOf(maker), paid - fees);
        assertEq(usd.balanceOf(taker), 10_000_000e6 - paid);
        if (filledSoFar == sellAmount) {
            assertGe(paid, price, "filling everything costs at least the price");
            vm.expectRevert(abi.encodeWithSelector(IMarketplace.OrderOverfilled.selector, orderHash, 1, 0));
            vm.prank(taker);
            market.fill(order, signature, 1);
        }
    }

    /// @dev A relayed fill of any amount after any earlier fill never takes more than what remains, nor costs
    /// more than the intent's maxCost: it takes min(amount, remaining), priced as a fill of that amount.
    function testFuzz_fillWithSig_neverExceedsRemainingNorMaxCost(
        uint256 sellAmount,
        uint256 price,
        uint256 first,
        uint256 amount,
        uint256 maxCost
    ) public {
        IMarketplace.Order memory order = _order();
        order.sellAmount = bound(sellAmount, 2, 1_000_000e18);
        order.price = bound(price, 0, 1_000_000e6);
        bytes memory makerSig = _signOrder(order);
        first = bound(first, 1, order.sellAmount - 1);
        vm.prank(taker);
        market.fill(order, makerSig, first);

        IMarketplace.FillIntent memory intent = _intent(order, bound(amount, 1, type(uint128).max), 3);
        intent.maxCost = bound(maxCost, 0, order.price);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        uint256 taken = Math.min(intent.amount, order.sellAmount - first);
        (uint256 expectedCost,) = market.quote(order, taken);
        if (expectedCost > intent.maxCost) {
            vm.expectRevert(
                abi.encodeWithSelector(IMarketplace.IntentCostExceedsMax.selector, expectedCost, intent.maxCost)
            );
            market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
            assertEq(market.filled(intent.orderHash), first);
            return;
        }
        uint256 cost = market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
        assertEq(cost, expectedCost);
        assertLe(cost, intent.maxCost, "never above maxCost");
        assertEq(tranche.balanceOf(taker), first + taken);
        assertLe(market.filled(intent.orderHash), order.sellAmount, "never beyond the order");
        assertEq(market.filled(intent.orderHash), first + taken);
    }

    /// @dev fee = floor(cost * feeBps / 10000) and maker + treasury receive exactly the cost.
    function testFuzz_fill_feeIsFloorOfCost(uint256 amount, uint256 price, uint16 feeBps) public {
        IMarketplace.Order memory order = _order();
        amount = bound(amount, 1, order.sellAmount);
        order.price = bound(price, 0, 1_000_000e6);
        feeBps = uint16(bound(feeBps, 0, 100));
        vm.prank(admin);
        market.setFeeBps(feeBps);
        (uint256 quotedCost, uint256 quotedFee) = market.quote(order, amount);
        bytes memory makerSig = _signOrder(order);
        vm.prank(taker);
        uint256 cost = market.fill(order, makerSig, amount);
        assertEq(cost, quotedCost);
        assertEq(quotedFee, cost * feeBps / 10_000);
        assertEq(usd.balanceOf(treasury), quotedFee);
        assertEq(usd.balanceOf(maker) + usd.balanceOf(treasury), cost);
    }

    /// @dev An intent signed by any key other than the taker's is rejected.
    function testFuzz_fillWithSig_rejectsForeignSigner(uint256 otherKey) public {
        otherKey = bound(otherKey, 1, 1e70);
        vm.assume(otherKey != takerKey);
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 10e18, 1);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(otherKey, market.hashFillIntent(intent));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.IntentSignatureInvalid.selector, taker));
        market.fillWithSig(order, makerSig, intent, takerSig, _noPermit());
    }
}

/// @notice Gas of fills (reported, not snapshotted: the lead owns Gas.t.sol). With
/// `forge test --isolate --match-contract MarketplaceGasTest -vvvv` the top-level `Marketplace::fill` frame is
/// the whole transaction (21k base + calldata + execution).
contract MarketplaceGasTest is MarketplaceFixture {
    event log_named_uint(string key, uint256 val);

    function setUp() public override {
        super.setUp();
        // Steady state of a live market: maker already holds pay tokens, taker already holds tranche
        // tokens, the treasury already collected fees.
        usd.mint(maker, 1e6);
        usd.mint(treasury, 1e6);
        tranche.mint(taker, 1e18);
    }

    function test_gas_fillWholeOrder() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        uint256 before = gasleft();
        market.fill(order, signature, 1000e18);
        emit log_named_uint("fill whole order, first fill (exec gas)", before - gasleft());
        assertEq(tranche.balanceOf(taker), 1001e18);
    }

    function test_gas_fillSecondPartial() public {
        IMarketplace.Order memory order = _order();
        bytes memory signature = _signOrder(order);
        vm.prank(taker);
        market.fill(order, signature, 400e18);
        vm.prank(taker);
        uint256 before = gasleft();
        market.fill(order, signature, 600e18);
        emit log_named_uint("fill, second partial fill (exec gas)", before - gasleft());
        assertEq(tranche.balanceOf(taker), 1001e18);
    }

    function test_gas_fillFreshParties() public {
        // Worst case: the taker's first tranche tokens and the maker's first pay tokens (two more cold
        // zero-to-non-zero balance writes).
        (address freshTaker, uint256 freshKey) = makeAddrAndKey("freshTaker");
        _allow(freshTaker);
        usd.mint(freshTaker, 1000e6);
        vm.prank(freshTaker);
        usd.approve(address(market), type(uint256).max);
        (address freshMaker, uint256 freshMakerKey) = makeAddrAndKey("freshMaker");
        _allow(freshMaker);
        tranche.mint(freshMaker, 1000e18);
        vm.prank(freshMaker);
        tranche.approve(address(market), type(uint256).max);
        IMarketplace.Order memory order = _order();
        order.maker = freshMaker;
        bytes memory signature = _sign(freshMakerKey, market.hashOrder(order));
        vm.prank(freshTaker);
        uint256 before = gasleft();
        market.fill(order, signature, 1000e18);
        emit log_named_uint("fill whole order, fresh maker and taker (exec gas)", before - gasleft());
        assertEq(tranche.balanceOf(freshTaker), 1000e18);
        freshKey;
    }

    function test_gas_fillWithSigAndPermit() public {
        vm.prank(taker);
        usd.approve(address(market), 0);
        IMarketplace.Order memory order = _order();
        IMarketplace.FillIntent memory intent = _intent(order, 1000e18, 1);
        IMarketplace.PermitData memory permit = _permit(takerKey, address(market), 990e6);
        bytes memory makerSig = _signOrder(order);
        bytes memory takerSig = _sign(takerKey, market.hashFillIntent(intent));
        vm.prank(relayer);
        uint256 before = gasleft();
        market.fillWithSig(order, makerSig, intent, takerSig, permit);
        emit log_named_uint("fillWithSig with permit (exec gas)", before - gasleft());
        assertEq(tranche.balanceOf(taker), 1001e18);
    }
}
