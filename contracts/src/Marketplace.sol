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
/// @dev Warning: the admin sets the fee (at most MAX_FEE_BPS) and the treasury; the guardian can pause fills.
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
        "uint256 expiry,uint256 salt,uint256 counter,bool partialFill)"
    );

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

    /// @inheritdoc IMarketplace
    mapping(address taker => mapping(uint256 nonce => bool)) public nonceUsed;

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
        return _fill(order, makerSignature, _hashOrder(order), msg.sender, amount, type(uint256).max);
    }

    /// @inheritdoc IMarketplace
    function fillWithSig(
        Order calldata order,
        bytes calldata makerSignature,
        FillIntent calldata intent,
        bytes calldata takerSignature,
        PermitData calldata permit
    ) external returns (uint256 cost) {
        if (block.timestamp > intent.deadline) revert IntentExpired(intent.deadline);
        bytes32 orderHash = _hashOrder(order);
        if (intent.orderHash != orderHash) revert IntentOrderMismatch(intent.orderHash, orderHash);
        address taker = intent.taker;
        if (nonceUsed[taker][intent.nonce]) revert IntentNonceUsed(taker, intent.nonce);
        if (!_isValidSignature(taker, _hashFillIntent(intent), takerSignature)) {
            revert IntentSignatureInvalid(taker);
        }
        nonceUsed[taker][intent.nonce] = true;
        if (permit.deadline != 0) {
            // A front-run permit (the same signature already submitted) must not block the fill: if the
            // allowance is then too low, the transferFrom in `_fill` reverts anyway.
            try IERC20Permit(order.payToken).permit(
                taker, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
            ) {} catch {}
        }
        return _fill(order, makerSignature, orderHash, taker, intent.amount, intent.maxCost);
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
    function filled(bytes32 orderHash) external view returns (uint256) {
        return _status[orderHash].filled;
    }

    /// @inheritdoc IMarketplace
    function cancelled(bytes32 orderHash) external view returns (bool) {
        return _status[orderHash].cancelled;
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
    /// order's price).
    function _fill(
        Order calldata order,
        bytes calldata makerSignature,
        bytes32 orderHash,
        address taker,
        uint256 amount,
        uint256 maxCost
    ) internal returns (uint256) {
        Config memory config = _config;
        if (config.paused) revert MarketplacePaused();
        (uint256 taken, uint256 newFilled) = _validate(order, makerSignature, orderHash, taker, amount);
        return _settle(order, orderHash, taker, taken, maxCost, newFilled, config);
    }

    /// @dev Prices the fill, checks compliance, records the filled amount, then moves both legs.
    function _settle(
        Order calldata order,
        bytes32 orderHash,
        address taker,
        uint256 amount,
        uint256 maxCost,
        uint256 newFilled,
        Config memory config
    ) internal returns (uint256 cost) {
        cost = _cost(order, amount);
        if (cost > maxCost) revert IntentCostExceedsMax(cost, maxCost);
        uint256 fee = cost * config.feeBps / 10_000;
        address maker = order.maker;

        _status[orderHash].filled = SafeCast.toUint248(newFilled);

        IERC20 payToken = IERC20(order.payToken);
        payToken.safeTransferFrom(taker, maker, cost - fee);
        if (fee != 0) payToken.safeTransferFrom(taker, config.treasury, fee);
        IERC20(order.tranche).safeTransferFrom(maker, taker, amount);

        emit OrderFilled(orderHash, maker, taker, order.tranche, amount, cost, fee);
    }

    /// @dev Every order-level check of a fill of up to `amount` by `taker`; returns the amount taken,
    /// `min(amount, remaining)`, and the order's filled amount after the fill. A fill when nothing remains
    /// reverts with OrderOverfilled(orderHash, amount, 0). An all-or-nothing order takes exactly its
    /// `sellAmount` (any other `amount` reverts with OrderPartialFillNotAllowed), so it is never cut: its
    /// remaining amount is `sellAmount` or zero.
    function _validate(
        Order calldata order,
        bytes calldata makerSignature,
        bytes32 orderHash,
        address taker,
        uint256 amount
    ) internal view returns (uint256 taken, uint256 newFilled) {
        if (block.timestamp > order.expiry) revert OrderExpired(orderHash, order.expiry);
        if (order.taker != address(0) && order.taker != taker) revert OrderTakerMismatch(orderHash, order.taker);
        uint256 currentCounter = counter[order.maker];
        if (order.counter != currentCounter) revert OrderCounterStale(orderHash, order.counter, currentCounter);
        OrderStatus memory status = _status[orderHash];
        if (status.cancelled) revert OrderWasCancelled(orderHash);
        if (amount == 0) revert OrderAmountZero(orderHash);
        uint256 sellAmount = order.sellAmount;
        if (!order.partialFill && amount != sellAmount) {
            revert OrderPartialFillNotAllowed(orderHash, amount, sellAmount);
        }
        uint256 alreadyFilled = status.filled;
        uint256 remaining;
        // filled <= sellAmount for every order hash (sellAmount is part of the hash, and a fill never takes
        // more than what remains), so the subtraction cannot underflow.
        unchecked {
            remaining = sellAmount - alreadyFilled;
        }
        if (remaining == 0) revert OrderOverfilled(orderHash, amount, 0);
        // a fill of more than what is left takes what is left: a 1-wei fill landing first cannot make a
        // fill of the whole remainder revert
        taken = amount < remaining ? amount : remaining;
        if (alreadyFilled == 0 && !_isValidSignature(order.maker, orderHash, makerSignature)) {
            revert OrderSignatureInvalid(orderHash, order.maker);
        }
        unchecked {
            newFilled = alreadyFilled + taken;
        }
    }

    /// @dev ceil(price * amount / sellAmount): rounding favours the maker, so splitting an order into many
    /// partial fills never costs the taker less than the whole order.
    function _cost(Order calldata order, uint256 amount) internal pure returns (uint256) {
        return Math.mulDiv(order.price, amount, order.sellAmount, Math.Rounding.Ceil);
    }

    /// @dev ECDSA first, ERC-1271 only if that fails: unlike `SignatureChecker.isValidSignatureNowCalldata`,
    /// which reads the signer's code size first, an EOA signer costs no cold account access (2,600 gas).
    function _isValidSignature(address signer, bytes32 hash, bytes calldata signature) internal view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(signer, hash, signature);
    }

    /// @dev keccak256(abi.encode(ORDER_TYPEHASH, order)) without re-encoding: `Order` is ten static words,
    /// so its calldata is already its ABI encoding. Dirty address or bool bits would only give a hash the
    /// maker never signed, and every field the fill uses is validated when read.
    function _hashOrder(Order calldata order) internal view returns (bytes32) {
        bytes32 typehash = ORDER_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), order, 0x140)
            structHash := keccak256(ptr, 0x160)
        }
        return _hashTypedDataV4(structHash);
    }

    function _invalidateNonce(address account, uint256 nonce) internal {
        if (nonceUsed[account][nonce]) revert IntentNonceUsed(account, nonce);
        nonceUsed[account][nonce] = true;
        emit IntentNonceInvalidated(account, nonce);
    }

    function _hashFillIntent(FillIntent calldata intent) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(FILL_INTENT_TYPEHASH, intent)));
    }
}
