// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {SealedBidAuction} from "../../src/SealedBidAuction.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {IComplianceRegistry} from "../../src/interfaces/IComplianceRegistry.sol";
import {IAuctionMinter, ISealedBidAuction} from "../../src/interfaces/ISealedBidAuction.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";
import {Test} from "./Test.sol";

/// @notice Stands in for the Portfolio: the real TrancheToken's portfolio, it mints only for its auction.
/// `mode` makes it revert (as a paused or broken minter would) or burn all its gas. Test-only.
contract MockAuctionMinter is IAuctionMinter {
    enum Mode {
        Normal,
        Revert,
        BurnGas
    }

    error NotAuction(address caller);
    error MinterBroken();

    TrancheToken public token;
    address public auction;
    Mode public mode;

    function setUp(TrancheToken token_, address auction_) external {
        token = token_;
        auction = auction_;
    }

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function setPaused(bool paused_) external {
        token.setPaused(paused_);
    }

    function mintAuctioned(address to, uint256 amount) external {
        if (msg.sender != auction) revert NotAuction(msg.sender);
        if (mode == Mode.Revert) revert MinterBroken();
        if (mode == Mode.BurnGas) {
            uint256 spin;
            while (true) {
                spin = uint256(keccak256(abi.encode(spin)));
            }
        }
        token.mint(to, amount);
    }
}

/// @notice Real registry, stablecoin (6 decimals, permit) and TrancheToken clone, a mock minter as the
/// token's portfolio, and one SealedBidAuction clone; helpers to commit, reveal and move through the phases.
abstract contract AuctionFixture is Test {
    uint256 internal constant SCALE = 1e12;
    uint256 internal constant BPS = 10_000;
    uint64 internal constant START = 1_700_000_000;
    uint64 internal constant BID_END = START + 3 days;
    uint64 internal constant REVEAL_END = BID_END + 2 days;
    uint32 internal constant ANTI_SNIPING = 10 minutes;
    uint64 internal constant MAX_BID_END = BID_END + 1 hours;
    uint16 internal constant MIN_PRICE = 5_000;
    uint16 internal constant RESERVE_PRICE = 8_000;
    bytes32 internal constant RESERVE_SALT = keccak256("reserve salt");
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    ComplianceRegistry internal registry;
    TestStablecoin internal usd;
    TrancheToken internal token;
    MockAuctionMinter internal minter;
    SealedBidAuction internal implementation;
    SealedBidAuction internal auction;

    address internal admin = makeAddr("admin");
    address internal issuerTreasury = makeAddr("issuerTreasury");
    address internal relayer = makeAddr("relayer");
    address internal outsider = makeAddr("outsider");
    address internal alice;
    uint256 internal aliceKey;
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal dave = makeAddr("dave");

    function _setUpAuctionStack() internal {
        vm.warp(START);
        (alice, aliceKey) = makeAddrAndKey("alice");
        registry = new ComplianceRegistry(admin);
        usd = new TestStablecoin(admin);
        minter = new MockAuctionMinter();
        token = TrancheToken(Clones.clone(address(new TrancheToken())));
        token.initialize("NPL Senior", "NPL-A", address(minter), IComplianceRegistry(address(registry)), 0);
        implementation = new SealedBidAuction();
        _allow(alice);
        _allow(bob);
        _allow(carol);
        _allow(dave);
    }

    /// @dev 1 000 000 token units (one unit = 1e12 base units = one pay base unit of face) of supply, bids of at
    /// least 100 units at 50 % of par or more, a 1 000-base-unit penalty, a reserve at 80 %.
    function _defaultParams() internal view returns (ISealedBidAuction.InitParams memory params) {
        params = ISealedBidAuction.InitParams({
            payToken: address(usd),
            token: address(token),
            minter: address(minter),
            registry: address(registry),
            issuerTreasury: issuerTreasury,
            supply: 1_000_000 * SCALE,
            minAmount: 100 * SCALE,
            minPriceBps: MIN_PRICE,
            penalty: 1_000,
            bidEnd: BID_END,
            revealEnd: REVEAL_END,
            antiSnipingSeconds: ANTI_SNIPING,
            maxBidEnd: MAX_BID_END,
            reserveCommitment: bytes32(0)
        });
    }

    /// @dev Clones and initializes an auction with `params`; a `reserveCommitment` of 1 stands for "the
    /// default reserve (RESERVE_PRICE, RESERVE_SALT) bound to the new clone".
    function _deploy(ISealedBidAuction.InitParams memory params) internal {
        auction = SealedBidAuction(Clones.clone(address(implementation)));
        if (params.reserveCommitment == bytes32(uint256(1))) {
            params.reserveCommitment = keccak256(abi.encode(address(auction), uint256(RESERVE_PRICE), RESERVE_SALT));
        }
        auction.initialize(params);
        minter.setUp(token, address(auction));
    }

    /// @dev Clones an auction, then initializes it with a reserve at `reservePriceBps` (salt RESERVE_SALT)
    /// bound to the clone's address.
    function _deployReserve(ISealedBidAuction.InitParams memory params, uint256 reservePriceBps) internal {
        auction = SealedBidAuction(Clones.clone(address(implementation)));
        params.reserveCommitment = keccak256(abi.encode(address(auction), reservePriceBps, RESERVE_SALT));
        auction.initialize(params);
        minter.setUp(token, address(auction));
    }

    function _allow(address account) internal {
        vm.prank(admin);
        registry.allowlist(account, type(uint64).max);
    }

    function _salt(address bidder) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", bidder));
    }

    function _commitment(address bidder, uint256 amount, uint256 priceBps) internal view returns (bytes32) {
        return keccak256(abi.encode(address(auction), bidder, amount, priceBps, _salt(bidder)));
    }

    function _cost(uint256 amount, uint256 priceBps) internal pure returns (uint256) {
        uint256 units = amount / SCALE;
        return (units * priceBps + BPS - 1) / BPS;
    }

    /// @dev Mints `deposit` to `bidder`, approves it and commits the bid (salt `_salt(bidder)`).
    function _commit(address bidder, uint256 amount, uint256 priceBps, uint256 deposit) internal {
        vm.prank(admin);
        usd.mint(bidder, deposit);
        vm.startPrank(bidder);
        usd.approve(address(auction), deposit);
        auction.commit(_commitment(bidder, amount, priceBps), deposit);
        vm.stopPrank();
    }

    /// @dev Commits with a deposit of exactly the bid's cost (at least the minimum deposit).
    function _commitExact(address bidder, uint256 amount, uint256 priceBps) internal returns (uint256 deposit) {
        deposit = _cost(amount, priceBps);
        (ISealedBidAuction.InitParams memory params,) = auction.terms();
        if (deposit < params.penalty) deposit = params.penalty;
        _commit(bidder, amount, priceBps, deposit);
    }

    function _reveal(address bidder, uint256 amount, uint256 priceBps) internal {
        auction.reveal(bidder, amount, priceBps, _salt(bidder));
    }

    function _toReveal() internal {
        (ISealedBidAuction.InitParams memory params,) = auction.terms();
        vm.warp(params.bidEnd + 1);
    }

    function _toSettle() internal {
        (ISealedBidAuction.InitParams memory params,) = auction.terms();
        vm.warp(params.revealEnd + 1);
    }

    function _revealDefaultReserve() internal {
        auction.revealReserve(RESERVE_PRICE, RESERVE_SALT);
    }

    function _digest(ISealedBidAuction.BidIntent memory intent) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("NPL Sealed-Bid Auction"), keccak256("1"), block.chainid, address(auction)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                auction.BID_INTENT_TYPEHASH(), intent.bidder, intent.commitment, intent.deposit, intent.deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _permit(address owner, uint256 key, uint256 value)
        internal
        view
        returns (ISealedBidAuction.PermitData memory p)
    {
        p.value = value;
        p.deadline = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(auction), value, usd.nonces(owner), p.deadline));
        (p.v, p.r, p.s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
    }
}
