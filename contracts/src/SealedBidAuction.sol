// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IAuctionMinter, ISealedBidAuction} from "./interfaces/ISealedBidAuction.sol";

/// @title SealedBidAuction
/// @notice Sealed-bid, uniform-price primary sale of one tranche (one clone per auctioned tranche).
/// @dev Design (see ISealedBidAuction for the rules):
/// - Tokens: the auction holds none; a winner's claim calls `IAuctionMinter.mintAuctioned` (the Portfolio
///   later), so nothing is minted for bids that lose, are refused or never claim, and the Portfolio is untouched.
/// - Clearing in bounded steps: a reveal adds its amount to the demand of its price level (a 65 536-level
///   bitmap, one bit per level with demand, and the level's total). `settle(maxSteps)` walks the set levels
///   from the top, keeping a cursor, until the demand at or above a level covers the supply. Its cost depends
///   on the number of distinct prices (at most 256 bitmap words + one step per level), never on a sort of bids.
/// - Pro rata without a pass over bids: each reveal records `prefix`, the demand revealed at its price before
///   it. At the marginal level, with demand `D` and `F` units to fill, a bid of `a` units gets
///   `floor((prefix + a) * F / D) - floor(prefix * F / D)`: the sum telescopes to exactly `F`, each bid gets its
///   exact share rounded down or up by less than one unit (never above `a`), and the rounding remainder falls
///   on the bids, in reveal order, at which the cumulative share crosses a whole unit. Every unit is accounted.
/// - Claims are pulled (`claim(bidder)`, anyone may call, tokens and refund only to the bidder): settlement
///   then costs the same for 10 or 10 000 bids, and one winner whose delivery fails (compliance revoked, token
///   paused, pay-token blacklist) cannot block anyone else. Policy: a winner whose tokens cannot be delivered
///   at claim is refunded in full and its allocation stays unsold (`AllocationRefused`); during the first
///   `DELIVERY_GRACE_SECONDS` after settlement only the winner's own claim takes that refund (a stranger's
///   claim reverts), so nobody can use a temporary pause or block to cancel someone else's allocation.
/// - Griefing: one commitment per bidder (a second is refused), committing needs compliance approval and a
///   deposit of at least `max(penalty, cost(minAmount, minPriceBps))`; a commitment binds the bidder (and the
///   auction), so a copied commitment or a front-run reveal helps no one.
/// - Initialization: the implementation's initializers are disabled; a clone must be deployed and initialized
///   in one transaction (the factory does), so nobody can initialize it first.
contract SealedBidAuction is ISealedBidAuction, Initializable, EIP712Upgradeable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = 10_000;
    /// @dev Prices are uint16 basis points: the bitmap has 65 536 levels in 256 words.
    uint256 internal constant PRICE_LEVELS = 65_536;

    /// @inheritdoc ISealedBidAuction
    bytes32 public constant BID_INTENT_TYPEHASH =
        keccak256("BidIntent(address bidder,bytes32 commitment,uint256 deposit,uint256 deadline)");
    /// @inheritdoc ISealedBidAuction
    uint256 public constant RESERVE_REVEAL_SECONDS = 1 days;
    /// @inheritdoc ISealedBidAuction
    uint256 public constant DELIVERY_GRACE_SECONDS = 7 days;

    /// @dev Terms, packed: commit reads slots 0-2 and 6, reveal 0, 1, 5 and 7.
    struct Config {
        IERC20 payToken;
        uint64 bidEnd;
        uint32 antiSnipingSeconds;
        IAuctionMinter minter;
        uint64 revealEnd;
        uint16 minPriceBps;
        IComplianceRegistry registry;
        uint64 maxBidEnd;
        address token;
        address issuerTreasury;
        uint128 supplyUnits;
        uint128 minUnits;
        uint128 penalty;
        uint128 minDeposit;
        uint256 scale;
        bytes32 reserveCommitment;
    }

    enum Status {
        Open,
        Settled,
        Failed
    }

    /// @dev The settlement state in one slot. `cursor`: price levels strictly below it are still to walk.
    struct State {
        Status status;
        bool walking;
        bool reserveRevealed;
        uint16 reservePriceBps;
        uint16 clearingPriceBps;
        uint16 lowestPriceBps;
        uint24 cursor;
        uint128 demandAbove;
    }

    /// @dev The marginal level: its revealed demand and the units it fills (units of face).
    struct Marginal {
        uint128 demand;
        uint128 filled;
    }

    /// @dev One bid; amounts in units of face (token base units / scale).
    struct Bid {
        bytes32 commitment;
        uint128 deposit;
        uint16 priceBps;
        bool revealed;
        bool claimed;
        uint128 units;
        uint128 prefix;
    }

    Config internal _config;
    State internal _state;
    Marginal internal _marginal;
    uint128 internal _allocatedUnits;
    uint128 internal _soldUnits;
    uint128 internal _proceeds;
    uint128 internal _withdrawn;
    uint64 internal _commitments;
    uint64 internal _reveals;
    /// @dev When the auction settled or failed (0 before).
    uint64 internal _settledAt;

    mapping(address bidder => Bid) internal _bids;
    /// @dev Revealed demand per price level (units of face).
    mapping(uint256 priceBps => uint256) internal _demand;
    /// @dev Bit `p % 256` of word `p / 256` is set when level `p` has revealed demand.
    mapping(uint256 word => uint256) internal _levels;

    constructor() {
        _disableInitializers();
    }

    // ------------------------------------------------------------------ setup

    /// @inheritdoc ISealedBidAuction
    function initialize(InitParams calldata params) external initializer {
        if (
            params.payToken == address(0) || params.token == address(0) || params.minter == address(0)
                || params.registry == address(0) || params.issuerTreasury == address(0)
        ) revert AuctionZeroAddress();
        uint8 payDecimals = IERC20Metadata(params.payToken).decimals();
        if (payDecimals > 18) revert AuctionPayTokenDecimalsInvalid(payDecimals);
        uint256 scale = 10 ** (18 - payDecimals);
        uint256 supplyUnits = params.supply / scale;
        uint256 minUnits = params.minAmount / scale;
        if (
            supplyUnits == 0 || params.supply % scale != 0 || supplyUnits > type(uint128).max || minUnits == 0
                || params.minAmount % scale != 0 || minUnits > supplyUnits || params.minPriceBps == 0
                || params.penalty > type(uint128).max || params.bidEnd <= block.timestamp
                || params.revealEnd <= params.bidEnd || params.maxBidEnd < params.bidEnd
        ) revert AuctionParamsInvalid();

        __EIP712_init("NPL Sealed-Bid Auction", "1");
        Config storage config = _config;
        config.payToken = IERC20(params.payToken);
        config.bidEnd = params.bidEnd;
        config.antiSnipingSeconds = params.antiSnipingSeconds;
        config.minter = IAuctionMinter(params.minter);
        config.revealEnd = params.revealEnd;
        config.minPriceBps = params.minPriceBps;
        config.registry = IComplianceRegistry(params.registry);
        config.maxBidEnd = params.maxBidEnd;
        config.token = params.token;
        config.issuerTreasury = params.issuerTreasury;
        config.supplyUnits = uint128(supplyUnits);
        config.minUnits = uint128(minUnits);
        config.penalty = uint128(params.penalty);
        config.minDeposit = SafeCast.toUint128(Math.max(params.penalty, _cost(params.minPriceBps, minUnits)));
        config.scale = scale;
        config.reserveCommitment = params.reserveCommitment;
        _state.cursor = uint24(PRICE_LEVELS);
        emit AuctionInitialized(params.token, params.supply, params.bidEnd, params.revealEnd);
    }

    // ------------------------------------------------------------------ bidding

    /// @inheritdoc ISealedBidAuction
    function commit(bytes32 commitment, uint256 deposit) external nonReentrant {
        _commit(msg.sender, commitment, deposit);
    }

    /// @inheritdoc ISealedBidAuction
    function commitWithSig(BidIntent calldata intent, bytes calldata signature, PermitData calldata permit)
        external
        nonReentrant
    {
        if (block.timestamp > intent.deadline) revert AuctionIntentExpired(intent.deadline);
        bytes32 structHash = keccak256(
            abi.encode(BID_INTENT_TYPEHASH, intent.bidder, intent.commitment, intent.deposit, intent.deadline)
        );
        bytes32 digest = _hashTypedDataV4(structHash);
        if (!SignatureChecker.isValidSignatureNow(intent.bidder, digest, signature)) {
            revert AuctionIntentSignatureInvalid(intent.bidder);
        }
        if (permit.deadline != 0) {
            // A front-run permit must not block the commitment: if the allowance is then too low, the
            // transferFrom in _commit reverts anyway.
            try IERC20Permit(address(_config.payToken)).permit(
                intent.bidder, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
            ) {} catch {}
        }
        _commit(intent.bidder, intent.commitment, intent.deposit);
    }

    /// @dev Records `bidder`'s only commitment and pulls its deposit; a commitment within `antiSnipingSeconds`
    /// of the end moves the end to `antiSnipingSeconds` after it (never past `maxBidEnd`), and the reveal window
    /// with it (its length is kept).
    function _commit(address bidder, bytes32 commitment, uint256 deposit) internal {
        Config storage config = _config;
        uint256 bidEnd = config.bidEnd;
        if (block.timestamp > bidEnd) revert AuctionBiddingClosed(bidEnd);
        if (commitment == bytes32(0)) revert AuctionCommitmentZero();
        Bid storage bid = _bids[bidder];
        if (bid.commitment != bytes32(0)) revert AuctionAlreadyCommitted(bidder);
        uint256 minDeposit = config.minDeposit;
        if (deposit < minDeposit) revert AuctionDepositTooLow(deposit, minDeposit);
        if (!config.registry.isAllowed(bidder)) revert AuctionBidderNotAllowed(bidder);

        bid.commitment = commitment;
        bid.deposit = SafeCast.toUint128(deposit);
        ++_commitments;

        uint256 extendedEnd = Math.min(block.timestamp + config.antiSnipingSeconds, config.maxBidEnd);
        if (extendedEnd > bidEnd) {
            uint64 revealEnd = uint64(config.revealEnd + (extendedEnd - bidEnd));
            config.bidEnd = uint64(extendedEnd);
            config.revealEnd = revealEnd;
            emit BiddingExtended(uint64(extendedEnd), revealEnd);
        }
        config.payToken.safeTransferFrom(bidder, address(this), deposit);
        emit BidCommitted(bidder, commitment, deposit);
    }

    // ------------------------------------------------------------------ revealing

    /// @inheritdoc ISealedBidAuction
    function reveal(address bidder, uint256 amount, uint256 priceBps, bytes32 salt) external {
        Config storage config = _config;
        uint256 bidEnd = config.bidEnd;
        uint256 revealEnd = config.revealEnd;
        if (block.timestamp <= bidEnd || block.timestamp > revealEnd) revert AuctionNotRevealing(bidEnd, revealEnd);
        Bid storage bid = _bids[bidder];
        bytes32 commitment = bid.commitment;
        if (commitment == bytes32(0)) revert AuctionNoCommitment(bidder);
        if (bid.revealed) revert AuctionAlreadyRevealed(bidder);
        if (keccak256(abi.encode(address(this), bidder, amount, priceBps, salt)) != commitment) {
            revert AuctionRevealMismatch(bidder);
        }
        uint256 scale = config.scale;
        uint256 units = amount / scale;
        if (
            amount % scale != 0 || units < config.minUnits || units > config.supplyUnits
                || priceBps < config.minPriceBps || priceBps >= PRICE_LEVELS
        ) revert AuctionBidInvalid(amount, priceBps);
        uint256 cost = _cost(priceBps, units);
        uint256 deposit = bid.deposit;
        if (deposit < cost) revert AuctionDepositTooLow(deposit, cost);

        uint256 levelDemand = _demand[priceBps];
        if (levelDemand == 0) _levels[priceBps >> 8] |= 1 << (priceBps & 255);
        // every revealed amount is at most the supply (< 2^128) and there are fewer than 2^64 bids
        _demand[priceBps] = levelDemand + units;
        bid.revealed = true;
        bid.priceBps = uint16(priceBps);
        bid.units = uint128(units);
        bid.prefix = SafeCast.toUint128(levelDemand);
        ++_reveals;
        emit BidRevealed(bidder, amount, uint16(priceBps));
    }

    // ------------------------------------------------------------------ settlement

    /// @inheritdoc ISealedBidAuction
    function revealReserve(uint256 reservePriceBps, bytes32 salt) external {
        Config storage config = _config;
        State storage state = _state;
        bytes32 reserveCommitment = config.reserveCommitment;
        if (reserveCommitment == bytes32(0) || state.reserveRevealed) revert AuctionNoReserveToReveal();
        uint256 revealEnd = config.revealEnd;
        uint256 deadline = revealEnd + RESERVE_REVEAL_SECONDS;
        if (block.timestamp <= revealEnd || block.timestamp > deadline) {
            revert AuctionReserveNotRevealable(revealEnd, deadline);
        }
        if (
            reservePriceBps >= PRICE_LEVELS
                || keccak256(abi.encode(address(this), reservePriceBps, salt)) != reserveCommitment
        ) revert AuctionReserveMismatch();
        state.reserveRevealed = true;
        state.reservePriceBps = uint16(reservePriceBps);
        emit ReserveRevealed(uint16(reservePriceBps));
    }

    /// @inheritdoc ISealedBidAuction
    function settle(uint256 maxSteps) external returns (bool done) {
        if (maxSteps == 0) revert AuctionStepsZero();
        State memory state = _state;
        if (state.status != Status.Open) revert AuctionAlreadySettled();
        if (!state.walking && _start(state)) return true;
        uint256 supplyUnits = _config.supplyUnits;
        uint256 cursor = state.cursor;
        uint256 above = state.demandAbove;
        uint256 steps;
        while (steps < maxSteps) {
            ++steps;
            if (cursor == 0) break;
            uint256 top = cursor - 1;
            uint256 base = top & ~uint256(255);
            uint256 bits = _levels[top >> 8] & (type(uint256).max >> (255 - (top & 255)));
            if (bits == 0) {
                cursor = base;
                continue;
            }
            uint256 level = base | Math.log2(bits);
            uint256 levelDemand = _demand[level];
            if (above + levelDemand >= supplyUnits) {
                // the highest level at which the demand at or above it covers the supply
                _state = state;
                return _clear(level, above, levelDemand, supplyUnits - above);
            }
            above += levelDemand;
            state.lowestPriceBps = uint16(level);
            cursor = level;
        }
        if (cursor == 0) {
            // every level walked and the demand falls short: the lowest revealed price, everyone filled
            uint256 lowest = state.lowestPriceBps;
            uint256 lowestDemand = _demand[lowest];
            _state = state;
            return _clear(lowest, above - lowestDemand, lowestDemand, lowestDemand);
        }
        state.cursor = uint24(cursor);
        state.demandAbove = uint128(above);
        _state = state;
        emit SettlementProgress(cursor);
        return false;
    }

    /// @dev The first settle call: after the reveal window, with the reserve revealed (or none). Fails (returns
    /// true) without the reserve once its deadline passed, or without any revealed bid; else starts the walk.
    function _start(State memory state) internal returns (bool failed) {
        Config storage config = _config;
        uint256 revealEnd = config.revealEnd;
        if (block.timestamp <= revealEnd) revert AuctionRevealNotOver(revealEnd);
        if (config.reserveCommitment != bytes32(0) && !state.reserveRevealed) {
            uint256 deadline = revealEnd + RESERVE_REVEAL_SECONDS;
            if (block.timestamp <= deadline) revert AuctionReserveNotRevealed(deadline);
            return _fail();
        }
        if (_reveals == 0) return _fail();
        state.walking = true;
        return false;
    }

    /// @dev Ends the walk at `level` (demand strictly above it `above`, at it `levelDemand`, of which `filled`
    /// units are sold); fails instead when `level` is below the revealed reserve.
    function _clear(uint256 level, uint256 above, uint256 levelDemand, uint256 filled) internal returns (bool) {
        State storage state = _state;
        if (state.reserveRevealed && level < state.reservePriceBps) return _fail();
        state.status = Status.Settled;
        _settledAt = uint64(block.timestamp);
        state.clearingPriceBps = uint16(level);
        state.demandAbove = uint128(above);
        _marginal = Marginal({demand: uint128(levelDemand), filled: uint128(filled)});
        uint256 allocated = above + filled;
        _allocatedUnits = uint128(allocated);
        emit AuctionSettled(uint16(level), allocated * _config.scale);
        return true;
    }

    function _fail() internal returns (bool) {
        _state.status = Status.Failed;
        _settledAt = uint64(block.timestamp);
        emit AuctionFailed();
        return true;
    }

    // ------------------------------------------------------------------ claims

    /// @inheritdoc ISealedBidAuction
    function claim(address bidder) external nonReentrant returns (uint256 amount, uint256 cost, uint256 refund) {
        if (_state.status == Status.Open) revert AuctionNotSettled();
        Bid storage bid = _bids[bidder];
        if (bid.commitment == bytes32(0)) revert AuctionNoCommitment(bidder);
        if (bid.claimed) revert AuctionAlreadyClaimed(bidder);
        bid.claimed = true;
        Config storage config = _config;

        uint256 units;
        uint256 penalty;
        (units, cost, refund, penalty) = _allocation(bid);
        if (units != 0) {
            amount = units * config.scale;
            if (_deliver(config, bidder, amount)) {
                _soldUnits += uint128(units);
            } else {
                // a stranger's claim must not turn a winner's temporary block (a pause) into a refund
                uint256 refundableFrom = _settledAt + DELIVERY_GRACE_SECONDS;
                if (msg.sender != bidder && block.timestamp < refundableFrom) {
                    revert AuctionDeliveryDeferred(bidder, refundableFrom);
                }
                emit AllocationRefused(bidder, amount);
                (amount, cost, refund) = (0, 0, bid.deposit);
            }
        }
        if (cost + penalty != 0) _proceeds += uint128(cost + penalty);
        if (refund != 0) config.payToken.safeTransfer(bidder, refund);
        emit BidClaimed(bidder, amount, cost, refund, penalty);
    }

    /// @dev Mints `amount` to `bidder` unless compliance refuses it or the minter reverts. A minter that runs
    /// out of gas reverts the claim instead, so nobody can force a refund by under-funding the call.
    function _deliver(Config storage config, address bidder, uint256 amount) internal returns (bool) {
        if (!config.registry.isAllowed(bidder)) return false;
        uint256 gasBefore = gasleft();
        try config.minter.mintAuctioned(bidder, amount) {
            return true;
        } catch {
            if (gasleft() <= gasBefore / 63) revert AuctionClaimOutOfGas();
            return false;
        }
    }

    /// @inheritdoc ISealedBidAuction
    function withdrawProceeds() external nonReentrant returns (uint256 amount) {
        amount = _proceeds - _withdrawn;
        if (amount == 0) revert AuctionNothingToWithdraw();
        _withdrawn += uint128(amount);
        address treasury = _config.issuerTreasury;
        _config.payToken.safeTransfer(treasury, amount);
        emit ProceedsWithdrawn(treasury, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ISealedBidAuction
    function phase() public view returns (Phase) {
        Status status = _state.status;
        if (status == Status.Settled) return Phase.Settled;
        if (status == Status.Failed) return Phase.Failed;
        if (block.timestamp <= _config.bidEnd) return Phase.Bidding;
        if (block.timestamp <= _config.revealEnd) return Phase.Revealing;
        return Phase.Settling;
    }

    /// @inheritdoc ISealedBidAuction
    function terms() external view returns (InitParams memory params, uint256 scale) {
        Config storage config = _config;
        scale = config.scale;
        params = InitParams({
            payToken: address(config.payToken),
            token: config.token,
            minter: address(config.minter),
            registry: address(config.registry),
            issuerTreasury: config.issuerTreasury,
            supply: uint256(config.supplyUnits) * scale,
            minAmount: uint256(config.minUnits) * scale,
            minPriceBps: config.minPriceBps,
            penalty: config.penalty,
            bidEnd: config.bidEnd,
            revealEnd: config.revealEnd,
            antiSnipingSeconds: config.antiSnipingSeconds,
            maxBidEnd: config.maxBidEnd,
            reserveCommitment: config.reserveCommitment
        });
    }

    /// @inheritdoc ISealedBidAuction
    function bidOf(address bidder) external view returns (BidView memory) {
        Bid storage bid = _bids[bidder];
        return BidView({
            commitment: bid.commitment,
            deposit: bid.deposit,
            amount: uint256(bid.units) * _config.scale,
            priceBps: bid.priceBps,
            revealed: bid.revealed,
            claimed: bid.claimed
        });
    }

    /// @inheritdoc ISealedBidAuction
    function outcome() external view returns (Outcome memory) {
        State storage state = _state;
        uint256 scale = _config.scale;
        return Outcome({
            phase: phase(),
            settledAt: _settledAt,
            reserveRevealed: state.reserveRevealed,
            reservePriceBps: state.reservePriceBps,
            clearingPriceBps: state.clearingPriceBps,
            allocated: uint256(_allocatedUnits) * scale,
            sold: uint256(_soldUnits) * scale,
            proceeds: _proceeds,
            proceedsWithdrawn: _withdrawn
        });
    }

    /// @inheritdoc ISealedBidAuction
    function allocationOf(address bidder)
        external
        view
        returns (uint256 amount, uint256 cost, uint256 refund, uint256 penalty)
    {
        Bid storage bid = _bids[bidder];
        if (_state.status == Status.Open || bid.commitment == bytes32(0)) return (0, 0, 0, 0);
        uint256 units;
        (units, cost, refund, penalty) = _allocation(bid);
        amount = units * _config.scale;
    }

    /// @inheritdoc ISealedBidAuction
    function counts() external view returns (uint256 commitments, uint256 reveals) {
        return (_commitments, _reveals);
    }

    /// @inheritdoc ISealedBidAuction
    function demandAt(uint256 priceBps) external view returns (uint256) {
        return _demand[priceBps] * _config.scale;
    }

    /// @inheritdoc ISealedBidAuction
    function bidCommitment(address bidder, uint256 amount, uint256 priceBps, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(address(this), bidder, amount, priceBps, salt));
    }

    /// @inheritdoc ISealedBidAuction
    function reserveCommitmentOf(uint256 reservePriceBps, bytes32 salt) external view returns (bytes32) {
        return keccak256(abi.encode(address(this), reservePriceBps, salt));
    }

    // ------------------------------------------------------------------ internal

    /// @dev How `bid` closes once the auction is settled or failed: units won, their cost, refund, penalty.
    /// Failed: full refund. Unrevealed: the penalty (every deposit covers it) and the rest back. Revealed: full
    /// fill above the clearing price, the cumulative pro-rata share at it, nothing below; the cost is the
    /// clearing price (rounded up per winner as `Portfolio.quote`), at most the bid's own cost, so at most the
    /// deposit.
    function _allocation(Bid storage bid)
        internal
        view
        returns (uint256 units, uint256 cost, uint256 refund, uint256 penalty)
    {
        uint256 deposit = bid.deposit;
        if (_state.status == Status.Failed) return (0, 0, deposit, 0);
        if (!bid.revealed) {
            penalty = _config.penalty;
            return (0, 0, deposit - penalty, penalty);
        }
        uint256 price = bid.priceBps;
        uint256 clearing = _state.clearingPriceBps;
        if (price > clearing) {
            units = bid.units;
        } else if (price == clearing) {
            Marginal memory marginal = _marginal;
            uint256 prefix = bid.prefix;
            units = Math.mulDiv(prefix + bid.units, marginal.filled, marginal.demand)
                - Math.mulDiv(prefix, marginal.filled, marginal.demand);
        }
        cost = _cost(clearing, units);
        refund = deposit - cost;
    }

    function _cost(uint256 priceBps, uint256 units) internal pure returns (uint256) {
        return Math.mulDiv(units, priceBps, BPS, Math.Rounding.Ceil);
    }
}
