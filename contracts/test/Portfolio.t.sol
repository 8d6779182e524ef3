// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IDistributor} from "../src/interfaces/IDistributor.sol";
import {IPortfolio} from "../src/interfaces/IPortfolio.sol";
import {ITrancheToken} from "../src/interfaces/ITrancheToken.sol";
import {WaterfallLib} from "../src/libraries/WaterfallLib.sol";
import {CreateParams, TrancheConfig} from "../src/types/PortfolioTypes.sol";
import {PortfolioFixture} from "./utils/PortfolioFixture.sol";
import {WaterfallVectors} from "./utils/WaterfallVectors.sol";

/// @dev A pay token with too many decimals.
contract NineteenDecimalsToken is ERC20("Nineteen", "N19") {
    function decimals() public pure override returns (uint8) {
        return 19;
    }
}

/// @dev An ERC-1271 smart account owned by one key.
contract SmartAccount is IERC1271 {
    address internal immutable _owner;

    constructor(address owner_) {
        _owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        return ECDSA.recover(hash, signature) == _owner ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }

    function approve(ERC20 token, address spender, uint256 amount) external {
        require(msg.sender == _owner, "owner only");
        token.approve(spender, amount);
    }
}

contract PortfolioTest is PortfolioFixture, WaterfallVectors {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function setUp() public {
        _setUpStack();
        _deploy(_defaultParams());
    }

    // ================================================================== initialize

    function test_initialize_setsTermsRolesAndTranches() public view {
        IPortfolio.Terms memory t = portfolio.terms();
        assertEq(t.issuerTreasury, issuerTreasury);
        assertEq(t.servicer, servicer);
        assertEq(t.protocolTreasury, protocolTreasury);
        assertEq(t.payToken, address(usd));
        assertEq(t.registry, address(registry));
        assertEq(t.distributor, address(distributor));
        assertEq(uint256(t.servicerFeeBps), 1_000);
        assertEq(uint256(t.protocolFeeBps), 100);
        assertEq(uint256(t.mode), uint256(WaterfallLib.Mode.InterestFirst));
        assertEq(uint256(t.offeringStart), START);
        assertEq(uint256(t.offeringEnd), END);
        assertFalse(t.offeringClosed);
        assertEq(uint256(t.lastRecoveryAt), 0);
        assertEq(t.scale, SCALE);

        assertTrue(portfolio.hasRole(portfolio.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(portfolio.hasRole(portfolio.ISSUER_ROLE(), issuer));
        assertTrue(portfolio.hasRole(portfolio.GUARDIAN_ROLE(), guardian));
        // the operator key (root proposer) has no role on the Portfolio
        assertFalse(portfolio.hasRole(portfolio.DEFAULT_ADMIN_ROLE(), rootProposer));
        assertFalse(portfolio.hasRole(portfolio.ISSUER_ROLE(), rootProposer));
        assertFalse(portfolio.hasRole(portfolio.GUARDIAN_ROLE(), rootProposer));
        assertEq(portfolio.sweepRecipient(), sweepRecipient);

        assertEq(portfolio.trancheCount(), 3);
        CreateParams memory params = _defaultParams();
        for (uint256 i; i < 3; ++i) {
            IPortfolio.TrancheTerms memory terms = portfolio.trancheTerms(i);
            assertEq(terms.token, address(tokens[i]));
            assertEq(terms.face, params.tranches[i].face);
            assertEq(uint256(terms.couponBps), params.tranches[i].couponBps);
            assertEq(uint256(terms.priceBps), params.tranches[i].priceBps);
            assertEq(tokens[i].portfolio(), address(portfolio));
            assertEq(tokens[i].trancheId(), i);
        }
        (uint256 version, bytes32 root, bytes32 tapeHash) = portfolio.documents();
        assertEq(version, 1);
        assertEq(root, params.documentRoot);
        assertEq(tapeHash, params.loanTapeHash);
    }

    function test_initialize_usesTheNplPortfolioDomain() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = portfolio.eip712Domain();
        assertEq(name, "NPL Portfolio");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(portfolio));
        assertEq(
            portfolio.PURCHASE_INTENT_TYPEHASH(),
            keccak256(
                "PurchaseIntent(address buyer,uint256 trancheId,uint256 amount,uint256 maxCost,uint256 nonce,uint256 deadline)"
            )
        );
    }

    function test_initialize_revertsOnSecondCall() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        portfolio.initialize(_defaultParams(), new ITrancheToken[](3), distributor);
    }

    function test_initialize_revertsIfAnAddressIsZero() public {
        CreateParams memory params = _defaultParams();
        params.servicer = address(0);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioZeroAddress.selector));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsIfSweepRecipientIsZero() public {
        CreateParams memory params = _defaultParams();
        params.sweepRecipient = address(0);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioZeroAddress.selector));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsWithoutTranches() public {
        CreateParams memory params = _defaultParams();
        params.tranches = new TrancheConfig[](0);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheCountInvalid.selector, 0));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsWithTooManyTranches() public {
        CreateParams memory params = _defaultParams();
        params.tranches = new TrancheConfig[](9);
        for (uint256 i; i < 9; ++i) {
            params.tranches[i] = TrancheConfig("T", "T", 1e6, 0, 10_000);
        }
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheCountInvalid.selector, 9));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnZeroFace() public {
        CreateParams memory params = _defaultParams();
        params.tranches[1].face = 0;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheInvalid.selector, 1));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnZeroPrice() public {
        CreateParams memory params = _defaultParams();
        params.tranches[0].priceBps = 0;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheInvalid.selector, 0));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnResidualCoupon() public {
        CreateParams memory params = _defaultParams();
        params.tranches[2].couponBps = 1;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheInvalid.selector, 2));
        factory.createPortfolio(params);
    }

    /// @dev Found by the differential fuzz (test/integration/waterfall-harness-diff.test.ts): a coupon above
    /// 100% was accepted on-chain, while the TypeScript waterfall (and so the distribution verifier) rejects it.
    function test_initialize_revertsOnCouponAboveTheWhole() public {
        CreateParams memory params = _defaultParams();
        params.tranches[0].couponBps = 10_001;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheInvalid.selector, 0));
        factory.createPortfolio(params);
        params.tranches[0].couponBps = 10_000;
        factory.createPortfolio(params);
    }

    function test_initialize_revertsIfFeesExceedTheWhole() public {
        CreateParams memory params = _defaultParams();
        params.servicerFeeBps = 9_000;
        params.protocolFeeBps = 1_001;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioFeesTooHigh.selector, 9_000, 1_001));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsIfPayTokenHasMoreThan18Decimals() public {
        CreateParams memory params = _defaultParams();
        params.payToken = address(new NineteenDecimalsToken());
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioPayTokenDecimalsInvalid.selector, 19));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsIfWindowEndsBeforeStart() public {
        CreateParams memory params = _defaultParams();
        params.offeringEnd = params.offeringStart - 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IPortfolio.PortfolioOfferingWindowInvalid.selector, params.offeringStart, params.offeringEnd
            )
        );
        factory.createPortfolio(params);
    }

    // ================================================================== buy

    function test_buy_paysTreasuryAndMintsToBuyer() public {
        uint256 amount = 1_000 * 1e6 * SCALE; // 1,000 whole tokens
        vm.prank(admin);
        usd.mint(alice, 2_000e6);
        vm.prank(alice);
        usd.approve(address(portfolio), 2_000e6);

        vm.expectEmit(address(portfolio));
        emit IPortfolio.Purchased(1, alice, amount, 950e6, portfolio.DIRECT_PURCHASE_NONCE());
        vm.prank(alice);
        uint256 cost = portfolio.buy(1, amount, 950e6);

        assertEq(cost, 950e6); // 95 % of par
        assertEq(usd.balanceOf(issuerTreasury), 950e6);
        assertEq(usd.balanceOf(alice), 1_050e6);
        assertEq(tokens[1].balanceOf(alice), amount);
        (,, uint256 sold,) = portfolio.trancheState(1);
        assertEq(sold, 1_000e6);
    }

    function test_buy_roundsCostUp() public {
        vm.prank(admin);
        usd.mint(alice, 1);
        vm.startPrank(alice);
        usd.approve(address(portfolio), 1);
        uint256 cost = portfolio.buy(1, SCALE, 1); // 1 pay unit of face at 95 % -> ceil(0.95) = 1
        vm.stopPrank();
        assertEq(cost, 1);
    }

    function test_buy_revertsIfTrancheUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheUnknown.selector, 3));
        vm.prank(alice);
        portfolio.buy(3, SCALE, 1);
    }

    function test_buy_revertsIfAmountZero() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingAmountInvalid.selector, 0));
        vm.prank(alice);
        portfolio.buy(0, 0, 0);
    }

    function test_buy_revertsIfAmountNotAMultipleOfScale() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingAmountInvalid.selector, SCALE + 1));
        vm.prank(alice);
        portfolio.buy(0, SCALE + 1, type(uint256).max);
    }

    function test_buy_revertsIfSoldOut() public {
        _buy(alice, 2, 150_000e6);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingSoldOut.selector, 2));
        vm.prank(bob);
        portfolio.buy(2, SCALE, type(uint256).max);
    }

    function test_buy_revertsIfCapExceeded() public {
        _buy(alice, 2, 149_000e6);
        uint256 remaining = 1_000e6 * SCALE;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingCapExceeded.selector, 2, remaining));
        vm.prank(bob);
        portfolio.buy(2, remaining + SCALE, type(uint256).max);
    }

    function test_buy_revertsBeforeStart() public {
        vm.warp(START - 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingNotOpen.selector, START, END));
        vm.prank(alice);
        portfolio.buy(0, SCALE, 1);
    }

    function test_buy_revertsAfterEnd() public {
        vm.warp(END + 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingNotOpen.selector, START, END));
        vm.prank(alice);
        portfolio.buy(0, SCALE, 1);
    }

    function test_buy_acceptsTheLastSecondOfTheWindow() public {
        vm.warp(END);
        _buy(alice, 0, 1);
        assertEq(tokens[0].balanceOf(alice), SCALE);
    }

    function test_buy_revertsAfterClose() public {
        _close();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingAlreadyClosed.selector));
        vm.prank(alice);
        portfolio.buy(0, SCALE, 1);
    }

    function test_buy_revertsIfBuyerNotAllowed() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingBuyerNotAllowed.selector, outsider));
        vm.prank(outsider);
        portfolio.buy(0, SCALE, 1);
    }

    function test_buy_revertsIfCostAboveMax() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingCostAboveMax.selector, 10e6, 10e6 - 1));
        vm.prank(alice);
        portfolio.buy(0, 10e6 * SCALE, 10e6 - 1);
    }

    function test_buy_revertsWithoutAllowance() public {
        vm.prank(admin);
        usd.mint(alice, 10e6);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(portfolio), 0, 10e6)
        );
        vm.prank(alice);
        portfolio.buy(0, 10e6 * SCALE, 10e6);
    }

    function test_buy_revertsWhenPaused() public {
        vm.prank(guardian);
        portfolio.pause();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(alice);
        portfolio.buy(0, SCALE, 1);
    }

    function testFuzz_buy_costIsCeilingOfPrice(uint16 priceBps, uint256 units) public {
        priceBps = uint16(bound(priceBps, 1, 20_000));
        units = bound(units, 1, 600_000e6);
        CreateParams memory params = _defaultParams();
        params.tranches[0].priceBps = priceBps;
        _deploy(params);

        uint256 quoted = portfolio.quote(0, units * SCALE);
        uint256 cost = _buy(alice, 0, units);
        assertEq(cost, quoted);
        assertEq(usd.balanceOf(issuerTreasury), cost);
        // ceil: the smallest integer with cost * 10_000 >= units * priceBps
        assertGe(cost * 10_000, units * priceBps);
        assertLt((cost - 1) * 10_000, units * priceBps);
        assertEq(tokens[0].balanceOf(alice), units * SCALE);
    }

    function testFuzz_buy_neverMintsBeyondFace(uint256[5] memory purchases) public {
        CreateParams memory params = _defaultParams();
        params.tranches[0].face = 1_000e6;
        _deploy(params);
        uint256 sold;
        for (uint256 i; i < purchases.length; ++i) {
            uint256 units = bound(purchases[i], 1, 600e6);
            uint256 remaining = 1_000e6 - sold;
            if (remaining == 0) {
                vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingSoldOut.selector, 0));
                vm.prank(alice);
                portfolio.buy(0, units * SCALE, type(uint256).max);
            } else if (units > remaining) {
                vm.expectRevert(
                    abi.encodeWithSelector(IPortfolio.OfferingCapExceeded.selector, 0, remaining * SCALE)
                );
                vm.prank(alice);
                portfolio.buy(0, units * SCALE, type(uint256).max);
            } else {
                _buy(alice, 0, units);
                sold += units;
            }
            assertLe(tokens[0].totalSupply(), 1_000e6 * SCALE);
            assertEq(tokens[0].totalSupply(), sold * SCALE);
        }
    }

    // ================================================================== buyWithSig

    function _intent(uint256 nonce) internal view returns (IPortfolio.PurchaseIntent memory) {
        return IPortfolio.PurchaseIntent({
            buyer: alice,
            trancheId: 0,
            amount: 100e6 * SCALE,
            maxCost: 100e6,
            nonce: nonce,
            deadline: block.timestamp + 1 hours
        });
    }

    function _signIntent(uint256 key, IPortfolio.PurchaseIntent memory intent) internal view returns (bytes memory) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash = keccak256(
            abi.encode(
                portfolio.PURCHASE_INTENT_TYPEHASH(),
                intent.buyer,
                intent.trancheId,
                intent.amount,
                intent.maxCost,
                intent.nonce,
                intent.deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    function _permit(uint256 key, address owner, uint256 value) internal view returns (IPortfolio.PermitData memory p) {
        p.value = value;
        p.deadline = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(portfolio), value, usd.nonces(owner), p.deadline));
        (p.v, p.r, p.s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
    }

    function _noPermit() internal pure returns (IPortfolio.PermitData memory p) {}

    function test_buyWithSig_buysForTheSignerWithPermit() public {
        vm.prank(admin);
        usd.mint(alice, 100e6);
        IPortfolio.PurchaseIntent memory intent = _intent(42);
        bytes memory sig = _signIntent(aliceKey, intent);
        IPortfolio.PermitData memory permit = _permit(aliceKey, alice, 100e6);

        vm.expectEmit(address(portfolio));
        emit IPortfolio.Purchased(0, alice, intent.amount, 100e6, 42);
        vm.prank(outsider); // any relayer
        uint256 cost = portfolio.buyWithSig(intent, sig, permit);

        assertEq(cost, 100e6);
        assertEq(tokens[0].balanceOf(alice), intent.amount);
        assertEq(usd.balanceOf(issuerTreasury), 100e6);
        assertTrue(portfolio.nonceUsed(alice, 42));
        assertFalse(portfolio.nonceUsed(alice, 43));
    }

    function test_buyWithSig_noncesAreUnordered() public {
        vm.prank(admin);
        usd.mint(alice, 200e6);
        vm.prank(alice);
        usd.approve(address(portfolio), 200e6);
        IPortfolio.PurchaseIntent memory late = _intent(7);
        IPortfolio.PurchaseIntent memory early = _intent(3);
        portfolio.buyWithSig(late, _signIntent(aliceKey, late), _noPermit());
        portfolio.buyWithSig(early, _signIntent(aliceKey, early), _noPermit());
        assertEq(tokens[0].balanceOf(alice), 200e6 * SCALE);
    }

    function test_buyWithSig_revertsForWrongSigner() public {
        IPortfolio.PurchaseIntent memory intent = _intent(1);
        (, uint256 otherKey) = makeAddrAndKey("mallory");
        bytes memory sig = _signIntent(otherKey, intent);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, alice));
        portfolio.buyWithSig(intent, sig, _noPermit());
    }

    function test_buyWithSig_revertsIfIntentAltered() public {
        IPortfolio.PurchaseIntent memory intent = _intent(1);
        bytes memory sig = _signIntent(aliceKey, intent);
        intent.maxCost += 1;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, alice));
        portfolio.buyWithSig(intent, sig, _noPermit());
    }

    function test_buyWithSig_revertsOnReplayedNonce() public {
        vm.prank(admin);
        usd.mint(alice, 200e6);
        vm.prank(alice);
        usd.approve(address(portfolio), 200e6);
        IPortfolio.PurchaseIntent memory intent = _intent(5);
        bytes memory sig = _signIntent(aliceKey, intent);
        portfolio.buyWithSig(intent, sig, _noPermit());

        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, alice, 5));
        portfolio.buyWithSig(intent, sig, _noPermit());
        assertEq(tokens[0].balanceOf(alice), 100e6 * SCALE);
    }

    function test_buyWithSig_revertsAfterDeadline() public {
        IPortfolio.PurchaseIntent memory intent = _intent(1);
        bytes memory sig = _signIntent(aliceKey, intent);
        vm.warp(intent.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentExpired.selector, intent.deadline));
        portfolio.buyWithSig(intent, sig, _noPermit());
    }

    // ------------------------------------------------------------------ nonce invalidation

    function _signInvalidation(uint256 key, address account, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("NonceInvalidation(address account,uint256 nonce,uint256 deadline)"), account, nonce, deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    function _fundAlice() internal {
        vm.prank(admin);
        usd.mint(alice, 100e6);
        vm.prank(alice);
        usd.approve(address(portfolio), 100e6);
    }

    /// Attack: alice signed an intent and changed her mind; without invalidation any relayer holding the
    /// signature could still buy for her until the deadline. Her signed invalidation, relayed first, kills it.
    function test_invalidateNonceWithSig_killsASignedIntentBeforeItIsRelayed() public {
        _fundAlice();
        IPortfolio.PurchaseIntent memory intent = _intent(11);
        bytes memory sig = _signIntent(aliceKey, intent);
        bytes memory cancelSig = _signInvalidation(aliceKey, alice, 11, block.timestamp + 1 hours);

        vm.expectEmit(address(portfolio));
        emit IPortfolio.IntentNonceInvalidated(alice, 11);
        vm.prank(outsider); // any relayer
        portfolio.invalidateNonceWithSig(alice, 11, block.timestamp + 1 hours, cancelSig);
        assertTrue(portfolio.nonceUsed(alice, 11));

        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, alice, 11));
        vm.prank(outsider);
        portfolio.buyWithSig(intent, sig, _noPermit());
        assertEq(tokens[0].balanceOf(alice), 0);
        assertEq(usd.balanceOf(alice), 100e6);
        // another nonce is untouched
        IPortfolio.PurchaseIntent memory other = _intent(12);
        portfolio.buyWithSig(other, _signIntent(aliceKey, other), _noPermit());
        assertEq(tokens[0].balanceOf(alice), other.amount);
    }

    function test_invalidateNonce_ownCallKillsTheIntentEvenWhenPaused() public {
        _fundAlice();
        IPortfolio.PurchaseIntent memory intent = _intent(13);
        bytes memory sig = _signIntent(aliceKey, intent);
        vm.prank(guardian);
        portfolio.pause();
        vm.expectEmit(address(portfolio));
        emit IPortfolio.IntentNonceInvalidated(alice, 13);
        vm.prank(alice);
        portfolio.invalidateNonce(13);
        vm.prank(guardian);
        portfolio.unpause();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, alice, 13));
        portfolio.buyWithSig(intent, sig, _noPermit());
    }

    function test_invalidateNonce_revertsIfNonceAlreadyUsed() public {
        _fundAlice();
        IPortfolio.PurchaseIntent memory intent = _intent(14);
        portfolio.buyWithSig(intent, _signIntent(aliceKey, intent), _noPermit());
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, alice, 14));
        vm.prank(alice);
        portfolio.invalidateNonce(14);
    }

    function test_invalidateNonceWithSig_revertsIfNonceAlreadyInvalidated() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(aliceKey, alice, 15, deadline);
        portfolio.invalidateNonceWithSig(alice, 15, deadline, cancelSig);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, alice, 15));
        portfolio.invalidateNonceWithSig(alice, 15, deadline, cancelSig);
    }

    function test_invalidateNonceWithSig_revertsAfterDeadline() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(aliceKey, alice, 16, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentExpired.selector, deadline));
        portfolio.invalidateNonceWithSig(alice, 16, deadline, cancelSig);
        assertFalse(portfolio.nonceUsed(alice, 16));
    }

    function test_invalidateNonceWithSig_revertsForAStrangersSignature() public {
        uint256 deadline = block.timestamp + 1 hours;
        (, uint256 otherKey) = makeAddrAndKey("mallory");
        bytes memory cancelSig = _signInvalidation(otherKey, alice, 17, deadline);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, alice));
        portfolio.invalidateNonceWithSig(alice, 17, deadline, cancelSig);
        assertFalse(portfolio.nonceUsed(alice, 17));
    }

    function test_invalidateNonceWithSig_acceptsAnErc1271Account() public {
        SmartAccount account = new SmartAccount(alice);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory cancelSig = _signInvalidation(aliceKey, address(account), 18, deadline);
        portfolio.invalidateNonceWithSig(address(account), 18, deadline, cancelSig);
        assertTrue(portfolio.nonceUsed(address(account), 18));
    }

    function test_buyWithSig_succeedsWhenPermitWasFrontRun() public {
        vm.prank(admin);
        usd.mint(alice, 100e6);
        IPortfolio.PurchaseIntent memory intent = _intent(9);
        bytes memory sig = _signIntent(aliceKey, intent);
        IPortfolio.PermitData memory permit = _permit(aliceKey, alice, 100e6);

        // a front-runner submits the permit first: the permit inside buyWithSig now fails (nonce used)
        vm.prank(outsider);
        usd.permit(alice, address(portfolio), permit.value, permit.deadline, permit.v, permit.r, permit.s);

        portfolio.buyWithSig(intent, sig, permit);
        assertEq(tokens[0].balanceOf(alice), intent.amount);
        assertEq(usd.allowance(alice, address(portfolio)), 0);
    }

    function test_buyWithSig_revertsIfAllowanceInsufficient() public {
        vm.prank(admin);
        usd.mint(alice, 100e6);
        IPortfolio.PurchaseIntent memory intent = _intent(9);
        bytes memory sig = _signIntent(aliceKey, intent);
        IPortfolio.PermitData memory permit = _permit(aliceKey, alice, 50e6); // too small

        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(portfolio), 50e6, 100e6
            )
        );
        portfolio.buyWithSig(intent, sig, permit);
        assertFalse(portfolio.nonceUsed(alice, 9));
    }

    function test_buyWithSig_revertsIfPermitInvalidAndNoAllowance() public {
        vm.prank(admin);
        usd.mint(alice, 100e6);
        IPortfolio.PurchaseIntent memory intent = _intent(9);
        IPortfolio.PermitData memory permit = _permit(aliceKey, alice, 100e6);
        permit.s = bytes32(uint256(permit.s) ^ 1); // broken permit: ignored, then the pull fails
        bytes memory sig = _signIntent(aliceKey, intent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(portfolio), 0, 100e6)
        );
        portfolio.buyWithSig(intent, sig, permit);
    }

    function test_buyWithSig_acceptsErc1271SmartAccounts() public {
        SmartAccount account = new SmartAccount(alice);
        _allow(address(account));
        vm.prank(admin);
        usd.mint(address(account), 100e6);
        vm.prank(alice);
        account.approve(usd, address(portfolio), 100e6);

        IPortfolio.PurchaseIntent memory intent = _intent(1);
        intent.buyer = address(account);
        portfolio.buyWithSig(intent, _signIntent(aliceKey, intent), _noPermit());
        assertEq(tokens[0].balanceOf(address(account)), intent.amount);
    }

    function test_buyWithSig_revertsWhenPaused() public {
        vm.prank(guardian);
        portfolio.pause();
        IPortfolio.PurchaseIntent memory intent = _intent(1);
        bytes memory sig = _signIntent(aliceKey, intent);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        portfolio.buyWithSig(intent, sig, _noPermit());
    }

    function test_buyWithSig_revertsForTheDirectPurchaseNonce() public {
        // An intent with the direct-buy sentinel as nonce would emit a Purchased that looks like a direct buy.
        vm.prank(admin);
        usd.mint(alice, 100e6);
        vm.prank(alice);
        usd.approve(address(portfolio), 100e6);
        uint256 sentinel = portfolio.DIRECT_PURCHASE_NONCE();
        assertEq(sentinel, type(uint256).max);
        IPortfolio.PurchaseIntent memory intent = _intent(sentinel);
        bytes memory sig = _signIntent(aliceKey, intent);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceReserved.selector, alice, sentinel));
        portfolio.buyWithSig(intent, sig, _noPermit());
        assertEq(tokens[0].balanceOf(alice), 0);
    }

    // ================================================================== closeOffering and quote

    function test_closeOffering_byIssuerFixesOutstandingAtSoldFace() public {
        _buy(alice, 0, 400_000e6);
        _buy(bob, 2, 10_000e6);
        uint256[] memory sold = new uint256[](3);
        sold[0] = 400_000e6;
        sold[2] = 10_000e6;
        vm.expectEmit(address(portfolio));
        emit IPortfolio.OfferingClosed(block.timestamp, sold);
        _close();

        IPortfolio.Terms memory t = portfolio.terms();
        assertTrue(t.offeringClosed);
        assertEq(uint256(t.lastRecoveryAt), block.timestamp);
        for (uint256 i; i < 3; ++i) {
            (uint256 outstanding, uint256 arrears, uint256 soldFace, uint256 paid) = portfolio.trancheState(i);
            assertEq(outstanding, sold[i]);
            assertEq(soldFace, sold[i]);
            assertEq(arrears + paid, 0);
        }
    }

    function test_closeOffering_byAnyoneAfterTheEnd() public {
        vm.warp(END + 1);
        vm.prank(outsider);
        portfolio.closeOffering();
        assertTrue(portfolio.terms().offeringClosed);
    }

    function test_closeOffering_revertsForNonIssuerBeforeTheEnd() public {
        vm.warp(END);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingStillOpen.selector, END));
        vm.prank(outsider);
        portfolio.closeOffering();
    }

    function test_closeOffering_revertsWhenPausedEvenAfterTheEnd() public {
        vm.warp(END + 1);
        vm.prank(guardian);
        portfolio.pause();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(outsider);
        portfolio.closeOffering();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(issuer);
        portfolio.closeOffering();

        vm.prank(guardian);
        portfolio.unpause();
        vm.prank(outsider);
        portfolio.closeOffering();
        assertTrue(portfolio.terms().offeringClosed);
        assertEq(uint256(portfolio.terms().lastRecoveryAt), block.timestamp);
    }

    function test_closeOffering_revertsIfAlreadyClosed() public {
        _close();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingAlreadyClosed.selector));
        vm.prank(issuer);
        portfolio.closeOffering();
    }

    function test_quote_matchesPriceAndRejectsPartialUnits() public {
        assertEq(portfolio.quote(2, 3 * SCALE), 3); // ceil(3 * 0.9) = 3
        assertEq(portfolio.quote(2, 10 * SCALE), 9);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.OfferingAmountInvalid.selector, SCALE - 1));
        portfolio.quote(2, SCALE - 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheUnknown.selector, 9));
        portfolio.quote(9, SCALE);
    }

    // ================================================================== depositRecovery

    function _sellOutAndClose() internal {
        _buy(alice, 0, 600_000e6);
        _buy(bob, 1, 250_000e6);
        _buy(alice, 2, 100_000e6);
        _buy(bob, 2, 50_000e6);
        _close();
    }

    function test_depositRecovery_paysFeesAndFundsDistributor() public {
        _sellOutAndClose();
        vm.warp(block.timestamp + 7_884_000); // a quarter: A accrues 12,000, B 7,500
        vm.roll(block.number + 10);

        uint256[] memory interest = new uint256[](3);
        uint256[] memory principal = new uint256[](3);
        uint256[] memory residual = new uint256[](3);
        interest[0] = 12_000e6;
        interest[1] = 7_500e6;
        principal[0] = 100_000e6 - 10_000e6 - 1_000e6 - 19_500e6;
        bytes32 reportHash = keccak256("servicer report Q1");
        vm.prank(admin);
        usd.mint(servicer, 100_000e6);
        vm.prank(servicer);
        usd.approve(address(portfolio), 100_000e6);
        vm.expectEmit(address(portfolio));
        emit IPortfolio.RecoveryDistributed(
            1,
            100_000e6,
            10_000e6,
            1_000e6,
            interest,
            principal,
            residual,
            0,
            block.number - 1,
            reportHash
        );
        vm.prank(servicer);
        uint256 id = portfolio.depositRecovery(100_000e6, reportHash);

        assertEq(id, 1);
        assertEq(portfolio.recoveryCount(), 1);
        assertEq(usd.balanceOf(servicer), 10_000e6);
        assertEq(usd.balanceOf(protocolTreasury), 1_000e6);
        assertEq(usd.balanceOf(address(distributor)), 89_000e6);
        assertEq(distributor.totalFunded(), 89_000e6);
        assertEq(usd.balanceOf(address(portfolio)), 0);
        (uint256 outstanding,,, uint256 paid) = portfolio.trancheState(0);
        assertEq(outstanding, 600_000e6 - principal[0]);
        assertEq(paid, interest[0] + principal[0]);
        assertEq(uint256(portfolio.terms().lastRecoveryAt), block.timestamp);
    }

    /// @dev The servicer approved the Portfolio once (unlimited, as a servicer wallet would) and holds cash.
    function _servicerApprovedWithCash(uint256 amount) internal {
        vm.prank(admin);
        usd.mint(servicer, amount);
        vm.prank(servicer);
        usd.approve(address(portfolio), type(uint256).max);
    }

    /// Attack (finding 2): the servicer approved the Portfolio; the platform's operator key (root proposer),
    /// the admin, the issuer or a stranger calls depositRecovery to pull the servicer's wallet into the
    /// waterfall with a report the servicer never made. Before the fix the operator key held SERVICER_ROLE
    /// and the deposit went through; now only the servicer's own call or its signed intent moves its money.
    function test_depositRecovery_nobodyButTheServicerPullsItsWallet() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        address[4] memory callers = [rootProposer, admin, issuer, outsider];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, callers[i]));
            vm.prank(callers[i]);
            portfolio.depositRecovery(100_000e6, keccak256("a report the servicer never made"));
        }
        assertEq(usd.balanceOf(servicer), 100_000e6);
        assertEq(portfolio.recoveryCount(), 0);
        assertFalse(portfolio.reportDeposited(keccak256("a report the servicer never made")));
    }

    /// Attack: the admin grants itself every role it can; still no deposit right exists to grant.
    function test_depositRecovery_noRoleTheAdminCanGrantMovesTheServicersMoney() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        vm.startPrank(admin);
        portfolio.grantRole(portfolio.ISSUER_ROLE(), admin);
        portfolio.grantRole(portfolio.GUARDIAN_ROLE(), admin);
        portfolio.grantRole(keccak256("SERVICER_ROLE"), admin);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, admin));
        portfolio.depositRecovery(1e6, keccak256("report"));
        vm.stopPrank();
        assertEq(usd.balanceOf(servicer), 100_000e6);
    }

    function test_depositRecovery_revertsOnAReportHashAlreadyDeposited() public {
        _sellOutAndClose();
        bytes32 reportHash = keccak256("servicer report Q1");
        vm.prank(admin);
        usd.mint(servicer, 200_000e6);
        vm.prank(servicer);
        usd.approve(address(portfolio), 200_000e6);
        assertFalse(portfolio.reportDeposited(reportHash));
        vm.prank(servicer);
        portfolio.depositRecovery(100_000e6, reportHash);
        assertTrue(portfolio.reportDeposited(reportHash));

        // the same report again: refused, nothing moves
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryReportAlreadyDeposited.selector, reportHash));
        vm.prank(servicer);
        portfolio.depositRecovery(1e6, reportHash);
        assertEq(portfolio.recoveryCount(), 1);
        assertEq(usd.balanceOf(servicer), 100_000e6 + 10_000e6);

        // another report is a new recovery; zero means "no report" and is not tracked
        vm.prank(servicer);
        portfolio.depositRecovery(1e6, keccak256("servicer report Q2"));
        vm.prank(servicer);
        portfolio.depositRecovery(1e6, bytes32(0));
        vm.prank(servicer);
        portfolio.depositRecovery(1e6, bytes32(0));
        assertEq(portfolio.recoveryCount(), 4);
        assertFalse(portfolio.reportDeposited(bytes32(0)));
    }

    function test_depositRecovery_revertsWithoutTheServicersAllowance() public {
        _sellOutAndClose();
        vm.prank(admin);
        usd.mint(servicer, 100_000e6);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(portfolio), 0, 1_000e6)
        );
        vm.prank(servicer);
        portfolio.depositRecovery(1_000e6, bytes32(0));
    }

    function test_depositRecovery_accruesFromThePreviousRecovery() public {
        _sellOutAndClose();
        vm.warp(block.timestamp + 100 days);
        _deposit(1e6);
        (, uint256 arrearsBefore,,) = portfolio.trancheState(1);
        vm.warp(block.timestamp + 365 days);
        _deposit(1); // fees floor to 0; 1 unit goes to tranche 0's arrears
        (, uint256 arrearsAfter,,) = portfolio.trancheState(1);
        assertEq(arrearsAfter - arrearsBefore, 250_000e6 * 1_200 / 10_000); // exactly one year of coupon
    }

    function test_depositRecovery_keepsResidualShareWithoutResidualHolders() public {
        _buy(alice, 0, 1_000e6);
        _close();
        _deposit(10_000e6);
        // fees 1,000 + 10; A principal 1,000; the rest has no residual holder
        assertEq(portfolio.undistributed(), 10_000e6 - 1_000e6 - 100e6 - 1_000e6);
        assertEq(usd.balanceOf(address(portfolio)), portfolio.undistributed());
        assertEq(distributor.totalFunded(), 1_000e6);
    }

    function test_depositRecovery_revertsBeforeClose() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryBeforeClose.selector));
        vm.prank(servicer);
        portfolio.depositRecovery(1, bytes32(0));
    }

    function test_depositRecovery_revertsIfAmountZero() public {
        _close();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryAmountZero.selector));
        vm.prank(servicer);
        portfolio.depositRecovery(0, bytes32(0));
    }

    function test_depositRecovery_revertsIfCallerIsNotServicer() public {
        _close();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, issuer));
        vm.prank(issuer);
        portfolio.depositRecovery(1, bytes32(0));
    }

    // ------------------------------------------------------------------ depositRecoveryWithSig

    /// @dev The fixture's servicer is `makeAddr("servicer")`, whose key is keccak256("servicer").
    function _servicerKey() internal pure returns (uint256) {
        return uint256(keccak256("servicer"));
    }

    function _depositIntent(uint256 amount, bytes32 reportHash, uint256 nonce)
        internal
        view
        returns (IPortfolio.DepositIntent memory)
    {
        return IPortfolio.DepositIntent({
            amount: amount, reportHash: reportHash, nonce: nonce, deadline: block.timestamp + 1 hours
        });
    }

    function _signDeposit(uint256 key, IPortfolio.DepositIntent memory intent) internal view returns (bytes memory) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("DepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)"),
                intent.amount,
                intent.reportHash,
                intent.nonce,
                intent.deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    function test_depositRecoveryWithSig_anyRelayerDepositsWhatTheServicerSigned() public {
        assertEq(
            portfolio.DEPOSIT_INTENT_TYPEHASH(),
            keccak256("DepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)")
        );
        _sellOutAndClose();
        vm.warp(block.timestamp + 7_884_000);
        _servicerApprovedWithCash(100_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(100_000e6, keccak256("report Q1"), 5);
        bytes memory sig = _signDeposit(_servicerKey(), intent);

        vm.prank(rootProposer); // the platform relayer, or anyone
        uint256 id = portfolio.depositRecoveryWithSig(intent, sig);

        assertEq(id, 1);
        assertTrue(portfolio.nonceUsed(servicer, 5));
        assertTrue(portfolio.reportDeposited(keccak256("report Q1")));
        assertEq(usd.balanceOf(servicer), 10_000e6); // its fee came back
        assertEq(distributor.totalFunded(), 89_000e6);
    }

    /// Attack: a relayer replays the servicer's signed intent (same nonce) with another report, or the same
    /// one again; a second deposit never happens.
    function test_depositRecoveryWithSig_revertsOnAReplayedIntent() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(200_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(50_000e6, keccak256("report Q1"), 5);
        bytes memory sig = _signDeposit(_servicerKey(), intent);
        portfolio.depositRecoveryWithSig(intent, sig);

        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, servicer, 5));
        portfolio.depositRecoveryWithSig(intent, sig);
        // the same nonce signed again for another report is spent too
        IPortfolio.DepositIntent memory other = _depositIntent(50_000e6, keccak256("report Q2"), 5);
        bytes memory otherSig = _signDeposit(_servicerKey(), other);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, servicer, 5));
        portfolio.depositRecoveryWithSig(other, otherSig);
        assertEq(portfolio.recoveryCount(), 1);
    }

    function test_depositRecoveryWithSig_revertsAfterTheDeadline() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 1);
        bytes memory sig = _signDeposit(_servicerKey(), intent);
        vm.warp(intent.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentExpired.selector, intent.deadline));
        portfolio.depositRecoveryWithSig(intent, sig);
        assertFalse(portfolio.nonceUsed(servicer, 1));
        assertEq(usd.balanceOf(servicer), 100_000e6);
    }

    /// Attack: a relayer takes the servicer's signature for 1,000 and report R and submits it with
    /// another amount, another report, nonce or deadline; none of them verifies.
    function test_depositRecoveryWithSig_revertsForAnyAlteredField() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        IPortfolio.DepositIntent memory signed = _depositIntent(1_000e6, keccak256("report R"), 9);
        bytes memory sig = _signDeposit(_servicerKey(), signed);
        IPortfolio.DepositIntent[4] memory altered;
        for (uint256 i; i < 4; ++i) {
            altered[i] = signed;
        }
        altered[0] = _depositIntent(100_000e6, signed.reportHash, signed.nonce);
        altered[1] = _depositIntent(signed.amount, keccak256("report S"), signed.nonce);
        altered[2] = _depositIntent(signed.amount, signed.reportHash, 10);
        altered[3] = _depositIntent(signed.amount, signed.reportHash, signed.nonce);
        altered[3].deadline = signed.deadline + 1;
        for (uint256 i; i < 4; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
            vm.prank(rootProposer);
            portfolio.depositRecoveryWithSig(altered[i], sig);
        }
        assertEq(usd.balanceOf(servicer), 100_000e6);
        // the genuine one still goes through
        portfolio.depositRecoveryWithSig(signed, sig);
        assertEq(portfolio.recoveryCount(), 1);
    }

    /// Attack: the operator signs an intent with its own key (or any key but the servicer's).
    function test_depositRecoveryWithSig_revertsForAnotherSigner() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 1);
        bytes memory sig = _signDeposit(uint256(keccak256("rootProposer")), intent);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        vm.prank(rootProposer);
        portfolio.depositRecoveryWithSig(intent, sig);
    }

    /// Attack: an intent signed for this portfolio is relayed to another portfolio of the same servicer.
    function test_depositRecoveryWithSig_isBoundToItsPortfolio() public {
        _sellOutAndClose();
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 1);
        bytes memory sig = _signDeposit(_servicerKey(), intent);
        _deploy(_defaultParams()); // same terms, same servicer, another address
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        portfolio.depositRecoveryWithSig(intent, sig);
    }

    function test_depositRecoveryWithSig_servicerCancelsASignedIntent() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(100_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 77);
        bytes memory sig = _signDeposit(_servicerKey(), intent);
        vm.prank(servicer);
        portfolio.invalidateNonce(77);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, servicer, 77));
        portfolio.depositRecoveryWithSig(intent, sig);
        // and by signature, relayed by anyone
        IPortfolio.DepositIntent memory next = _depositIntent(1_000e6, keccak256("report"), 78);
        bytes memory nextSig = _signDeposit(_servicerKey(), next);
        bytes memory cancel = _signInvalidation(_servicerKey(), servicer, 78, block.timestamp + 1 hours);
        portfolio.invalidateNonceWithSig(servicer, 78, block.timestamp + 1 hours, cancel);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, servicer, 78));
        portfolio.depositRecoveryWithSig(next, nextSig);
        assertEq(usd.balanceOf(servicer), 100_000e6);
    }

    function test_depositRecoveryWithSig_acceptsAnErc1271Servicer() public {
        SmartAccount account = new SmartAccount(alice);
        CreateParams memory params = _defaultParams();
        params.servicer = address(account);
        _deploy(params);
        _sellOutAndClose();
        vm.prank(admin);
        usd.mint(address(account), 1_000e6);
        vm.prank(alice);
        account.approve(usd, address(portfolio), 1_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 1);
        portfolio.depositRecoveryWithSig(intent, _signDeposit(aliceKey, intent));
        assertEq(portfolio.recoveryCount(), 1);
        assertTrue(portfolio.nonceUsed(address(account), 1));
    }

    function test_depositRecoveryWithSig_revertsWhenPaused() public {
        _sellOutAndClose();
        _servicerApprovedWithCash(1_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 1);
        bytes memory sig = _signDeposit(_servicerKey(), intent);
        vm.prank(guardian);
        portfolio.pause();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        portfolio.depositRecoveryWithSig(intent, sig);
    }

    /// @dev A failed deposit (here: before the close) does not spend the nonce: the intent stays usable.
    function test_depositRecoveryWithSig_aRevertedDepositKeepsTheNonce() public {
        _servicerApprovedWithCash(1_000e6);
        IPortfolio.DepositIntent memory intent = _depositIntent(1_000e6, keccak256("report"), 1);
        bytes memory sig = _signDeposit(_servicerKey(), intent);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryBeforeClose.selector));
        portfolio.depositRecoveryWithSig(intent, sig);
        assertFalse(portfolio.nonceUsed(servicer, 1));
        _sellOutAndClose();
        portfolio.depositRecoveryWithSig(intent, sig);
        assertEq(portfolio.recoveryCount(), 1);
    }

    function test_depositRecovery_revertsWhenPaused() public {
        _close();
        vm.prank(guardian);
        portfolio.pause();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(servicer);
        portfolio.depositRecovery(1, bytes32(0));
    }

    /// @dev End to end with real tokens: every vector case is rebuilt as a portfolio whose tranches are
    /// bought out at their face, closed, and fed the case's recoveries after the case's elapsed seconds.
    function test_depositRecovery_paysTheVectorTotalsEndToEnd() public {
        string memory json = _vectors();
        uint256 cases = _caseCount(json);
        assertGt(cases, 0);
        for (uint256 c; c < cases; ++c) {
            _deployVectorCase(json, c);
            uint256 recoveries = _recoveryCountOf(json, c);
            for (uint256 k; k < recoveries; ++k) {
                _runVectorRecovery(json, c, k);
            }
        }
    }

    function _deployVectorCase(string memory json, uint256 c) internal {
        WaterfallLib.Tranche[] memory vectorTranches = _vectorTranches(json, c);
        (uint256 servicerBps, uint256 protocolBps) = _vectorFees(json, c);
        CreateParams memory params = _defaultParams();
        params.servicerFeeBps = uint16(servicerBps);
        params.protocolFeeBps = uint16(protocolBps);
        params.mode = _vectorMode(json, c);
        params.offeringStart = uint64(block.timestamp);
        params.offeringEnd = uint64(block.timestamp + 1 days);
        params.tranches = new TrancheConfig[](vectorTranches.length);
        for (uint256 i; i < vectorTranches.length; ++i) {
            params.tranches[i] =
                TrancheConfig("T", "T", vectorTranches[i].outstanding, uint16(vectorTranches[i].couponBps), 10_000);
        }
        _deploy(params);
        for (uint256 i; i < vectorTranches.length; ++i) {
            _buy(i % 2 == 0 ? alice : bob, i, vectorTranches[i].outstanding);
        }
        _close();
    }

    function _runVectorRecovery(string memory json, uint256 c, uint256 k) internal {
        (uint256 amount, uint256 elapsed) = _vectorRecovery(json, c, k);
        vm.warp(block.timestamp + elapsed);
        uint256 servicerBefore = usd.balanceOf(servicer);
        uint256 protocolBefore = usd.balanceOf(protocolTreasury);
        uint256 fundedBefore = distributor.totalFunded();
        uint256[] memory paidBefore = new uint256[](portfolio.trancheCount());
        for (uint256 i; i < paidBefore.length; ++i) {
            (,,, paidBefore[i]) = portfolio.trancheState(i);
        }

        _deposit(amount);

        string memory where = string.concat(_caseId(json, c), " recovery ", vm.toString(k));
        assertEq(usd.balanceOf(servicer) - servicerBefore, _expected(json, c, k, ".servicerFee"), where);
        assertEq(usd.balanceOf(protocolTreasury) - protocolBefore, _expected(json, c, k, ".protocolFee"), where);
        uint256 trancheSum = _checkVectorTranches(json, c, k, paidBefore, where);
        assertEq(distributor.totalFunded() - fundedBefore, trancheSum, where);
        assertEq(portfolio.undistributed(), _expected(json, c, k, ".undistributed"), where);
    }

    function _checkVectorTranches(
        string memory json,
        uint256 c,
        uint256 k,
        uint256[] memory paidBefore,
        string memory where
    ) internal view returns (uint256 trancheSum) {
        for (uint256 i; i < paidBefore.length; ++i) {
            (uint256 outstanding, uint256 arrears,, uint256 paid) = portfolio.trancheState(i);
            string memory at = string.concat(where, " tranche ", vm.toString(i));
            assertEq(paid - paidBefore[i], _expectedTranche(json, c, k, i, ".total"), at);
            assertEq(outstanding, _expectedTranche(json, c, k, i, ".outstandingAfter"), at);
            assertEq(arrears, _expectedTranche(json, c, k, i, ".interestArrearsAfter"), at);
            trancheSum += paid - paidBefore[i];
        }
    }

    // ================================================================== sweep, documents, pause, views

    function test_sweepUndistributed_sendsEverythingToTarget() public {
        _buy(alice, 0, 1_000e6);
        _close();
        _deposit(10_000e6);
        uint256 held = portfolio.undistributed();
        vm.expectEmit(address(portfolio));
        emit IPortfolio.UndistributedSwept(sweepRecipient, held);
        vm.prank(admin);
        portfolio.sweepUndistributed();
        assertEq(portfolio.undistributed(), 0);
        assertEq(usd.balanceOf(sweepRecipient), held);
    }

    function test_sweepUndistributed_revertsWhenPaused() public {
        _buy(alice, 0, 1_000e6);
        _close();
        _deposit(10_000e6);
        uint256 held = portfolio.undistributed();
        assertGt(held, 0);
        vm.prank(guardian);
        portfolio.pause();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(admin);
        portfolio.sweepUndistributed();
        assertEq(portfolio.undistributed(), held);

        vm.prank(guardian);
        portfolio.unpause();
        vm.prank(admin);
        portfolio.sweepUndistributed();
        assertEq(portfolio.undistributed(), 0);
    }

    function test_pause_doesNotPauseDistributorClaims() public {
        // Holders' claims on money already distributed do not depend on the portfolio's pause; the
        // Distributor has its own guardian pause.
        _buy(alice, 0, 600_000e6);
        _close();
        vm.warp(block.timestamp + 30 days);
        _deposit(10_000e6);
        uint256 owed = usd.balanceOf(address(distributor));
        assertGt(owed, 0);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(alice, owed))));
        vm.prank(rootProposer);
        distributor.proposeRoot(leaf, owed, keccak256("tree"), 1); // one-leaf tree: root = leaf
        vm.warp(block.timestamp + 1 days);
        distributor.acceptRoot();

        vm.prank(guardian);
        portfolio.pause();
        assertFalse(distributor.paused());
        distributor.claim(alice, owed, new bytes32[](0));
        assertEq(distributor.claimed(alice), owed);
        assertEq(usd.balanceOf(alice), owed);
    }

    function test_sweepUndistributed_revertsIfNothingHeld() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioNothingToSweep.selector));
        vm.prank(admin);
        portfolio.sweepUndistributed();
    }

    /// Attack (finding 2): the admin sweeps the undistributed residual share to an address of its choice.
    /// Before the fix `sweepUndistributed(to)` took any `to`; now the destination is fixed at creation and
    /// no function of the Portfolio takes a destination (the old selector does not exist any more).
    function test_sweepUndistributed_cannotGoAnywhereButTheFixedRecipient() public {
        _buy(alice, 0, 1_000e6);
        _close();
        _deposit(10_000e6);
        uint256 held = portfolio.undistributed();
        address attacker = makeAddr("attacker");
        vm.prank(admin);
        (bool ok,) = address(portfolio).call(abi.encodeWithSignature("sweepUndistributed(address)", attacker));
        assertFalse(ok, "a sweep to a destination of the caller's choice went through");
        assertEq(usd.balanceOf(attacker), 0);
        vm.prank(admin);
        portfolio.sweepUndistributed();
        assertEq(usd.balanceOf(attacker), 0);
        assertEq(usd.balanceOf(sweepRecipient), held);
    }

    function test_sweepUndistributed_revertsIfCallerIsNotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, bytes32(0))
        );
        vm.prank(issuer);
        portfolio.sweepUndistributed();
    }

    function test_updateDocuments_anchorsANewVersion() public {
        vm.expectEmit(address(portfolio));
        emit IPortfolio.DocumentsAnchored(2, keccak256("docs v2"), keccak256("tape v2"));
        vm.prank(issuer);
        uint256 version = portfolio.updateDocuments(keccak256("docs v2"), keccak256("tape v2"));
        assertEq(version, 2);
        (uint256 stored, bytes32 root, bytes32 tape) = portfolio.documents();
        assertEq(stored, 2);
        assertEq(root, keccak256("docs v2"));
        assertEq(tape, keccak256("tape v2"));
    }

    function test_updateDocuments_revertsIfCallerIsNotIssuer() public {
        bytes32 role = portfolio.ISSUER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        portfolio.updateDocuments(bytes32(0), bytes32(0));
    }

    function test_pause_pausesEveryTrancheTokenUntilUnpaused() public {
        _buy(alice, 0, 10e6);
        vm.prank(guardian);
        portfolio.pause();
        assertTrue(portfolio.paused());
        for (uint256 i; i < tokens.length; ++i) {
            assertTrue(tokens[i].paused());
        }
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenPaused.selector));
        vm.prank(alice);
        tokens[0].transfer(bob, 1);

        vm.prank(guardian);
        portfolio.unpause();
        assertFalse(portfolio.paused());
        vm.prank(alice);
        tokens[0].transfer(bob, 1);
        assertEq(tokens[0].balanceOf(bob), 1);
    }

    function test_pause_revertsIfCallerIsNotGuardian() public {
        bytes32 role = portfolio.GUARDIAN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        portfolio.pause();
    }

    function test_unpause_revertsIfCallerIsNotGuardian() public {
        vm.prank(guardian);
        portfolio.pause();
        bytes32 role = portfolio.GUARDIAN_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        portfolio.unpause();
    }

    function test_trancheViews_revertForUnknownTranche() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheUnknown.selector, 3));
        portfolio.trancheToken(3);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheUnknown.selector, 3));
        portfolio.trancheState(3);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheUnknown.selector, 3));
        portfolio.trancheTerms(3);
    }

    function test_distributor_isFundedOnlyByItsPortfolio() public {
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNotPortfolio.selector, servicer));
        vm.prank(servicer);
        distributor.fund(1);
    }
}
