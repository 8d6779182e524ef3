// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IComplianceRegistry} from "../../src/interfaces/IComplianceRegistry.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";

import {Test} from "./Test.sol";

/// @notice Real TrancheToken (clone, with this test contract as its portfolio so it can mint), real
/// ComplianceRegistry, TestStablecoin and a Marketplace; helpers to build and sign orders, intents, permits.
abstract contract MarketplaceFixture is Test {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    uint16 internal constant FEE_BPS = 50;

    TestStablecoin internal usd;
    ComplianceRegistry internal registry;
    TrancheToken internal tranche;
    Marketplace internal market;

    address internal admin = makeAddr("admin");
    address internal guardian = makeAddr("guardian");
    address internal treasury = makeAddr("treasury");
    address internal relayer = makeAddr("relayer");
    address internal maker;
    uint256 internal makerKey;
    address internal taker;
    uint256 internal takerKey;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        (maker, makerKey) = makeAddrAndKey("maker");
        (taker, takerKey) = makeAddrAndKey("taker");
        usd = new TestStablecoin(address(this));
        registry = new ComplianceRegistry(address(this));
        TrancheToken implementation = new TrancheToken();
        tranche = TrancheToken(Clones.clone(address(implementation)));
        tranche.initialize("Senior A", "SNR-A", address(this), IComplianceRegistry(address(registry)), 0);
        market = new Marketplace(admin, guardian, treasury, FEE_BPS);

        _allow(maker);
        _allow(taker);
        tranche.mint(maker, 1_000_000e18);
        usd.mint(taker, 10_000_000e6);
        vm.prank(maker);
        tranche.approve(address(market), type(uint256).max);
        vm.prank(taker);
        usd.approve(address(market), type(uint256).max);
    }

    function _allow(address account) internal {
        registry.allowlist(account, uint64(block.timestamp + 365 days));
    }

    /// @dev 1,000 tokens for 990 USD in total, partial fills allowed, open to anyone, valid one day.
    function _order() internal view returns (IMarketplace.Order memory) {
        return IMarketplace.Order({
            maker: maker,
            taker: address(0),
            tranche: address(tranche),
            payToken: address(usd),
            sellAmount: 1000e18,
            price: 990e6,
            expiry: block.timestamp + 1 days,
            salt: 1,
            counter: 0,
            partialFill: true,
            maxFeeBps: 100, // accepts any fee up to MAX_FEE_BPS
            startPriceBps: 0,
            endPriceBps: 0,
            decayStart: 0,
            decayEnd: 0 // no decay
        });
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signOrder(IMarketplace.Order memory order) internal view returns (bytes memory) {
        return _sign(makerKey, market.hashOrder(order));
    }

    function _intent(IMarketplace.Order memory order, uint256 amount, uint256 nonce)
        internal
        view
        returns (IMarketplace.FillIntent memory)
    {
        return IMarketplace.FillIntent({
            orderHash: market.hashOrder(order),
            taker: taker,
            amount: amount,
            maxCost: type(uint256).max,
            nonce: nonce,
            deadline: block.timestamp + 1 hours
        });
    }

    function _noPermit() internal pure returns (IMarketplace.PermitData memory permit) {}

    function _permit(uint256 ownerKey, address spender, uint256 value) internal view returns (IMarketplace.PermitData memory) {
        address owner = vm.addr(ownerKey);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                usd.DOMAIN_SEPARATOR(),
                keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, usd.nonces(owner), deadline))
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, digest);
        return IMarketplace.PermitData({value: value, deadline: deadline, v: v, r: r, s: s});
    }

    function _ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }
}
