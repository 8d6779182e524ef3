// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IMarketplace} from "./interfaces/IMarketplace.sol";

/// @title Marketplace
/// @notice Signed sell orders for tranche tokens, filled as atomic DvP between maker and taker.
/// @dev `orderHash` is the EIP-712 digest of the order (domain-bound: another chain or another marketplace
/// gives another hash), used both as the signed message and as the key of `filled` / `cancelled`.
/// @dev The maker's signature is checked on the first fill only: once an order has a non-zero filled
/// amount, a valid signature was already verified for that exact hash. A contract maker (ERC-1271) that
/// wants to withdraw an order cancels it.
/// @dev Checks-effects-interactions: the filled amount and the intent nonce are written before any token
/// call, so a reentrant token cannot fill beyond the order's amount or replay an intent.
/// @dev Dutch orders (IMarketplace.Order): a fill pays the price at `block.timestamp` (`priceAt`), falling
/// linearly between `decayStart` and `decayEnd`; every rounding is up (toward the maker). The taker's
/// `maxCost` bounds the cost as for any order. `decayEnd == 0` keeps the plain `price` at one extra
/// calldata read.
/// @dev Warning: the admin sets the fee (at most MAX_FEE_BPS) and the treasury; the guardian can pause fills.
/// A fee change never applies to an order signed with a lower `maxFeeBps`: its fills revert until the fee
/// is back within it.
/// Neither can move user tokens: allowances given to this contract are only spent by fills signed by their
/// owner (the maker's order signature, the taker's own call or signed intent).
contract Marketplace is IMarketplace, AccessControl, EIP712 {
    using SafeERC20 for IERC20;

    /// @inheritdoc IMarketplace
    uint16 public constant MAX_FEE_BPS = 100;

    /// @inheritdoc IMarketplace
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @inheritdoc IMarketplace
    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(address maker,address taker,address tranche,address payToken,uint256 sellAmount,uint256 price,"
        "uint256 expiry,uint256 salt,uint256 counter,bool partialFill,uint16 maxFeeBps,uint16 startPriceBps,"
        "uint16 endPriceBps,uint64 decayStart,uint64 decayEnd)"
    );

    /// @inheritdoc IMarketplace
    uint256 public constant DIRECT_FILL_NONCE = type(uint256).max;

    /// @inheritdoc IMarketplace
    bytes32 public constant FILL_INTENT_TYPEHASH = keccak256(
        "FillIntent(bytes32 orderHash,address taker,uint256 amount,uint256 maxCost,uint256 nonce,uint256 deadline)"
    );

    /// @inheritdoc IMarketplace
    bytes32 public constant NONCE_INVALIDATION_TYPEHASH =
        keccak256("NonceInvalidation(address account,uint256 nonce,uint256 deadline)");

    /// @dev Everything a fill reads about the marketplace, in one slot.
    struct Config {
        address treasury;
        uint16 feeBps;
        bool paused;
    }

    /// @dev Filled amount and cancel flag of one order, in one slot.
    struct OrderStatus {
        uint248 filled;
        bool cancelled;
    }

    Config internal _config;

    mapping(bytes32 orderHash => OrderStatus) internal _status;

    /// @inheritdoc IMarketplace
    mapping(address maker => uint256) public counter;

    /// @dev Fill-intent nonces as a bitmap: bit `nonce & 0xff` of word `nonce >> 8`. A taker counting its
    /// nonces up from any start pays a zero-to-nonzero write once per 256 intents (5k instead of 22.1k after);
    /// random nonces cost what one bool per nonce did.
    mapping(address account => mapping(uint256 wordIndex => uint256 bits)) internal _nonceBitmap;

    /// @param admin DEFAULT_ADMIN_ROLE (fee, treasury, roles).
    /// @param guardian GUARDIAN_ROLE (pause).
    /// @param treasury_ Receiver of the protocol fee.
    /// @param feeBps_ Protocol fee, at most MAX_FEE_BPS.
    constructor(address admin, address guardian, address treasury_, uint16 feeBps_)
        EIP712("NPL Marketplace", "1")
    {
        if (admin == address(0) || treasury_ == address(0)) revert MarketplaceZeroAddress();
        if (feeBps_ > MAX_FEE_BPS) revert MarketplaceFeeTooHigh(feeBps_, MAX_FEE_BPS);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
        _config = Config({treasury: treasury_, feeBps: feeBps_, paused: false});
        emit TreasurySet(treasury_);
        emit FeeSet(feeBps_);
    }

    // ------------------------------------------------------------------ trading

    /// @inheritdoc IMarketplace
    function fill(Order calldata order, bytes calldata makerSignature, uint256 amount)
        external
        returns (uint256 cost)
    {
        bytes32 orderHash = _hashOrder(order);
        return _fill(order, makerSignature, orderHash, msg.sender, amount, type(uint256).max, DIRECT_FILL_NONCE);
    }

    /// @inheritdoc IMarketplace
    function fillWithSig(
        Order calldata order,
        bytes calldata makerSignature,
        FillIntent calldata intent,
        bytes calldata takerSignature,
        PermitData calldata permit
    ) external returns (uint256 cost) {
        bytes32 orderHash = _hashOrder(order);
        address taker = _useIntent(intent, orderHash, takerSignature);
        if (permit.deadline != 0) {
            // A front-run permit (the same signature already submitted) must not block the fill: if the
            // allowance is then too low, the transferFrom in `_fill` reverts anyway.
            try IERC20Permit(order.payToken).permit(
                taker, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
            ) {} catch {}
        }
        return _fill(order, makerSignature, orderHash, taker, intent.amount, intent.maxCost, intent.nonce);
    }

    /// @inheritdoc IMarketplace
    function cancel(Order calldata order) external {
        bytes32 orderHash = _hashOrder(order);
        if (msg.sender != order.maker) revert OrderCallerNotMaker(orderHash, msg.sender);
        _status[orderHash].cancelled = true;
        emit OrderCancelled(orderHash, msg.sender);
    }

    /// @inheritdoc IMarketplace
    function invalidateNonce(uint256 nonce) external {
        _invalidateNonce(msg.sender, nonce);
    }

    /// @inheritdoc IMarketplace
    function invalidateNonceWithSig(address account, uint256 nonce, uint256 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert IntentExpired(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(NONCE_INVALIDATION_TYPEHASH, account, nonce, deadline)));
        if (!_isValidSignature(account, digest, signature)) revert IntentSignatureInvalid(account);
        _invalidateNonce(account, nonce);
    }

    /// @inheritdoc IMarketplace
    function incrementCounter() external returns (uint256 newCounter) {
        newCounter = ++counter[msg.sender];
        emit CounterIncremented(msg.sender, newCounter);
    }

    // ------------------------------------------------------------------ admin and guardian

    /// @inheritdoc IMarketplace
    function setFeeBps(uint16 feeBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (feeBps_ > MAX_FEE_BPS) revert MarketplaceFeeTooHigh(feeBps_, MAX_FEE_BPS);
        _config.feeBps = feeBps_;
        emit FeeSet(feeBps_);
    }

    /// @inheritdoc IMarketplace
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert MarketplaceZeroAddress();
        _config.treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @inheritdoc IMarketplace
    function pause() external onlyRole(GUARDIAN_ROLE) {
        if (_config.paused) revert MarketplacePauseUnchanged(true);
        _config.paused = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IMarketplace
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        if (!_config.paused) revert MarketplacePauseUnchanged(false);
        _config.paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMarketplace
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IMarketplace
    function hashOrder(Order calldata order) external view returns (bytes32) {
        return _hashOrder(order);
    }

    /// @inheritdoc IMarketplace
    function hashFillIntent(FillIntent calldata intent) external view returns (bytes32) {
        return _hashFillIntent(intent);
    }

    /// @inheritdoc IMarketplace
    function nonceUsed(address account, uint256 nonce) external view returns (bool) {
        (, uint256 word, uint256 bit) = _nonceWord(account, nonce);
        return word & bit != 0;
    }

    /// @inheritdoc IMarketplace
    function nonceBitmap(address account, uint256 wordIndex) external view returns (uint256) {
        return _nonceBitmap[account][wordIndex];
    }

    /// @inheritdoc IMarketplace
    function filled(bytes32 orderHash) external view returns (uint256) {
        return _status[orderHash].filled;
    }

    /// @inheritdoc IMarketplace
    function cancelled(bytes32 orderHash) external view returns (bool) {
        return _status[orderHash].cancelled;
    }

    /// @inheritdoc IMarketplace
    function priceAt(Order calldata order, uint256 timestamp) external pure returns (uint256) {
        return _priceAt(order, timestamp);
    }

    /// @inheritdoc IMarketplace
    function quote(Order calldata order, uint256 amount) external view returns (uint256 cost, uint256 fee) {
        cost = _cost(order, amount);
        fee = cost * _config.feeBps / 10_000;
    }

    /// @inheritdoc IMarketplace
    function feeBps() external view returns (uint16) {
        return _config.feeBps;
    }

    /// @inheritdoc IMarketplace
    function treasury() external view returns (address) {
        return _config.treasury;
    }

    /// @inheritdoc IMarketplace
    function paused() external view returns (bool) {
        return _config.paused;
    }

    // ------------------------------------------------------------------ internal

    /// @dev Validates the order and the fill, then moves both legs of `min(amount, remaining)`. `maxCost` is
    /// the taker's bound on the cost of what is taken (unbounded for a direct `fill`, whose caller sees the
    /// order's price at its block); `nonce` is the fill intent's (DIRECT_FILL_NONCE for a direct `fill`), for
    /// the event. Every check reads a local or calldata: the config, the maker's counter and the order's status are one
    /// SLOAD each, and the status is written back whole (its cancel flag is known to be clear).
    function _fill(
        Order calldata order,
        bytes calldata makerSignature,
        bytes32 orderHash,
        address taker,
        uint256 amount,
        uint256 maxCost,
        uint256 nonce
    ) internal returns (uint256 cost) {
        uint256 config;
        assembly ("memory-safe") {
            config := sload(_config.slot)
        }
        // Config layout: treasury (bits 0-159), feeBps (160-175), paused (176-183)
        if ((config >> 176) & 0xff != 0) revert MarketplacePaused();
        uint256 feeBps_ = (config >> 160) & 0xffff;
        uint256 taken = _take(order, makerSignature, orderHash, taker, amount, feeBps_);
        cost = _cost(order, taken);
        if (cost > maxCost) revert IntentCostExceedsMax(cost, maxCost);
        _settle(order, orderHash, taker, taken, cost, cost * feeBps_ / 10_000, address(uint160(config)), nonce);
    }

    /// @dev Moves both legs of a fill whose filled amount is already recorded, then emits OrderFilled.
    function _settle(
        Order calldata order,
        bytes32 orderHash,
        address taker,
        uint256 taken,
        uint256 cost,
        uint256 fee,
        address treasury_,
        uint256 nonce
    ) internal {
        address maker = order.maker;
        IERC20 payToken = IERC20(order.payToken);
        payToken.safeTransferFrom(taker, maker, cost - fee);
        if (fee != 0) payToken.safeTransferFrom(taker, treasury_, fee);
        address trancheToken = order.tranche;
        IERC20(trancheToken).safeTransferFrom(maker, taker, taken);
        emit OrderFilled(orderHash, maker, taker, trancheToken, taken, cost, fee, nonce);
    }

    /// @dev Every order-level check of a fill of up to `amount` by `taker` at the current fee `feeBps_`, then
    /// records the order's new filled amount (before any token call); returns the amount taken,
    /// `min(amount, remaining)`. A fill when nothing remains reverts with OrderOverfilled(orderHash, amount,
    /// 0). An all-or-nothing order takes exactly its `sellAmount` (any other `amount` reverts with
    /// OrderPartialFillNotAllowed), so it is never cut: its remaining amount is `sellAmount` or zero.
    function _take(
        Order calldata order,
        bytes calldata makerSignature,
        bytes32 orderHash,
        address taker,
        uint256 amount,
        uint256 feeBps_
    ) internal returns (uint256 taken) {
        if (block.timestamp > order.expiry) revert OrderExpired(orderHash, order.expiry);
        {
            address orderTaker = order.taker;
            if (orderTaker != address(0) && orderTaker != taker) revert OrderTakerMismatch(orderHash, orderTaker);
        }
        address maker = order.maker;
        {
            uint256 currentCounter = counter[maker];
            if (order.counter != currentCounter) revert OrderCounterStale(orderHash, order.counter, currentCounter);
        }
        (uint256 status, bytes32 statusSlot) = _loadStatus(orderHash);
        if (status >> 248 != 0) revert OrderWasCancelled(orderHash);
        {
            uint256 maxFeeBps = order.maxFeeBps;
            if (feeBps_ > maxFeeBps) revert OrderFeeAboveMax(orderHash, feeBps_, maxFeeBps);
        }
        if (amount == 0) revert OrderAmountZero(orderHash);
        {
            uint256 sellAmount = order.sellAmount;
            if (!order.partialFill && amount != sellAmount) {
                revert OrderPartialFillNotAllowed(orderHash, amount, sellAmount);
            }
            // filled <= sellAmount for every order hash (sellAmount is part of the hash, and a fill never takes
            // more than what remains), so the subtraction cannot underflow.
            uint256 remaining;
            unchecked {
                remaining = sellAmount - status;
            }
            if (remaining == 0) revert OrderOverfilled(orderHash, amount, 0);
            // a fill of more than what is left takes what is left: a 1-wei fill landing first cannot make a
            // fill of the whole remainder revert
            taken = amount < remaining ? amount : remaining;
        }
        if (status == 0 && !_isValidSignature(maker, orderHash, makerSignature)) {
            revert OrderSignatureInvalid(orderHash, maker);
        }
        // the cancel flag (bit 248) is clear: the whole slot is the filled amount (status + taken <= sellAmount)
        uint256 packed = SafeCast.toUint248(status + taken);
        assembly ("memory-safe") {
            sstore(statusSlot, packed)
        }
    }

    /// @dev The raw status word of `orderHash` (OrderStatus layout: filled in bits 0-247, cancelled in bit
    /// 248) and its slot, so a fill writes it back without a second SLOAD.
    function _loadStatus(bytes32 orderHash) internal view returns (uint256 status, bytes32 statusSlot) {
        assembly ("memory-safe") {
            mstore(0x00, orderHash)
            mstore(0x20, _status.slot)
            statusSlot := keccak256(0x00, 0x40)
            status := sload(statusSlot)
        }
    }

    /// @dev ceil(priceAt(order, block.timestamp) * amount / sellAmount): rounding favours the maker, so
    /// splitting an order into many partial fills never costs the taker less than the whole order at the
    /// same second.
    function _cost(Order calldata order, uint256 amount) internal view returns (uint256) {
        return Math.mulDiv(_priceAt(order, block.timestamp), amount, order.sellAmount, Math.Rounding.Ceil);
    }

    /// @dev See IMarketplace.priceAt. A non-decaying order (`decayEnd == 0`) costs one calldata read and a
    /// branch over the plain `price`; the decay fields are only read (and validated) for a Dutch order.
    /// The interpolation numerator is below 2^16 * 2^65 and the denominator below 2^14 * 2^64: no overflow,
    /// and the single mulDiv rounds once (up). A result above 2^256 - 1 (a start above 100% of a huge
    /// `price`) reverts in mulDiv.
    function _priceAt(Order calldata order, uint256 t) internal pure returns (uint256) {
        uint256 decayEnd;
        assembly ("memory-safe") {
            // the raw word of `decayEnd` (field 15), unvalidated: dirty bits only give a hash the maker never
            // signed (see _hashOrder), and a non-zero word takes the checked path below
            decayEnd := calldataload(add(order, 0x1c0))
        }
        if (decayEnd == 0) return order.price;
        decayEnd = order.decayEnd;
        uint256 startBps = order.startPriceBps;
        uint256 endBps = order.endPriceBps;
        uint256 decayStart = order.decayStart;
        if (endBps > startBps) revert OrderDecayPriceRises(startBps, endBps);
        if (decayEnd < decayStart) revert OrderDecayEndsBeforeStart(decayStart, decayEnd);
        if (t >= decayEnd) return Math.mulDiv(order.price, endBps, 10_000, Math.Rounding.Ceil);
        if (t <= decayStart) return Math.mulDiv(order.price, startBps, 10_000, Math.Rounding.Ceil);
        // decayStart < t < decayEnd
        uint256 duration = decayEnd - decayStart;
        return Math.mulDiv(
            order.price,
            startBps * (decayEnd - t) + endBps * (t - decayStart),
            10_000 * duration,
            Math.Rounding.Ceil
        );
    }

    /// @dev ECDSA first, ERC-1271 only if that fails: unlike `SignatureChecker.isValidSignatureNowCalldata`,
    /// which reads the signer's code size first, an EOA signer costs no cold account access (2,600 gas).
    function _isValidSignature(address signer, bytes32 hash, bytes calldata signature) internal view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(signer, hash, signature);
    }

    /// @dev keccak256(abi.encode(ORDER_TYPEHASH, order)) without re-encoding: `Order` is fifteen static words,
    /// so its calldata is already its ABI encoding. Dirty address or bool bits would only give a hash the
    /// maker never signed, and every field the fill uses is validated when read.
    function _hashOrder(Order calldata order) internal view returns (bytes32) {
        bytes32 typehash = ORDER_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), order, 0x1e0)
            structHash := keccak256(ptr, 0x200)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @dev Checks the taker's fill intent for `orderHash` (deadline, order, nonce neither reserved nor used,
    /// signature) and spends its nonce; returns the taker.
    function _useIntent(FillIntent calldata intent, bytes32 orderHash, bytes calldata takerSignature)
        internal
        returns (address taker)
    {
        if (block.timestamp > intent.deadline) revert IntentExpired(intent.deadline);
        if (intent.orderHash != orderHash) revert IntentOrderMismatch(intent.orderHash, orderHash);
        taker = intent.taker;
        uint256 nonce = intent.nonce;
        if (nonce == DIRECT_FILL_NONCE) revert IntentNonceReserved(taker, nonce);
        (uint256 wordIndex, uint256 word, uint256 bit) = _nonceWord(taker, nonce);
        if (word & bit != 0) revert IntentNonceUsed(taker, nonce);
        if (!_isValidSignature(taker, _hashFillIntent(intent), takerSignature)) {
            revert IntentSignatureInvalid(taker);
        }
        _nonceBitmap[taker][wordIndex] = word | bit;
    }

    function _invalidateNonce(address account, uint256 nonce) internal {
        (uint256 wordIndex, uint256 word, uint256 bit) = _nonceWord(account, nonce);
        if (word & bit != 0) revert IntentNonceUsed(account, nonce);
        _nonceBitmap[account][wordIndex] = word | bit;
        emit IntentNonceInvalidated(account, nonce);
    }

    /// @dev The bitmap word holding `nonce` of `account`, its index and the nonce's bit in it.
    function _nonceWord(address account, uint256 nonce)
        internal
        view
        returns (uint256 wordIndex, uint256 word, uint256 bit)
    {
        wordIndex = nonce >> 8;
        word = _nonceBitmap[account][wordIndex];
        bit = 1 << (nonce & 0xff);
    }

    function _hashFillIntent(FillIntent calldata intent) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(FILL_INTENT_TYPEHASH, intent)));
    }
}
