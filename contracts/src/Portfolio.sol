// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {PausableUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/PausableUpgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IDistributor} from "./interfaces/IDistributor.sol";
import {IPortfolio} from "./interfaces/IPortfolio.sol";
import {ITrancheToken} from "./interfaces/ITrancheToken.sol";
import {WaterfallLib} from "./libraries/WaterfallLib.sol";
import {CreateParams, TrancheConfig} from "./types/PortfolioTypes.sol";

/// @title Portfolio
/// @notice One listed NPL portfolio: primary offering of its tranche tokens and the waterfall of recoveries.
/// @dev Deployed as a minimal clone by the PortfolioFactory and initialized once.
contract Portfolio is
    IPortfolio,
    AccessControlUpgradeable,
    PausableUpgradeable,
    EIP712Upgradeable,
    ReentrancyGuardTransient
{
    using SafeERC20 for IERC20;

    /// @dev Storage of one tranche.
    struct Tranche {
        ITrancheToken token;
        uint16 couponBps;
        uint16 priceBps;
        uint256 face;
        uint256 sold;
        uint256 outstanding;
        uint256 arrears;
        uint256 paid;
    }

    /// @dev Upper bound on tranches, which bounds the gas of a recovery.
    uint256 internal constant MAX_TRANCHES = 8;
    uint256 internal constant BPS = 10_000;

    /// @inheritdoc IPortfolio
    uint256 public constant DIRECT_PURCHASE_NONCE = type(uint256).max;
    /// @inheritdoc IPortfolio
    bytes32 public constant PURCHASE_INTENT_TYPEHASH = keccak256(
        "PurchaseIntent(address buyer,uint256 trancheId,uint256 amount,uint256 maxCost,uint256 nonce,uint256 deadline)"
    );
    /// @inheritdoc IPortfolio
    bytes32 public constant NONCE_INVALIDATION_TYPEHASH =
        keccak256("NonceInvalidation(address account,uint256 nonce,uint256 deadline)");
    /// @inheritdoc IPortfolio
    bytes32 public constant DEPOSIT_INTENT_TYPEHASH =
        keccak256("DepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)");
    /// @inheritdoc IPortfolio
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @inheritdoc IPortfolio
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @dev Portfolio-wide terms and offering state.
    struct Config {
        IERC20 payToken;
        IComplianceRegistry registry;
        IDistributor distributor;
        address issuerTreasury;
        address servicer;
        address protocolTreasury;
        uint16 servicerFeeBps;
        uint16 protocolFeeBps;
        WaterfallLib.Mode mode;
        bool offeringClosed;
        uint64 offeringStart;
        uint64 offeringEnd;
        uint64 lastRecoveryAt;
        uint256 scale;
        address sweepRecipient;
    }

    /// @dev The anchored documents; `version` counts from 1.
    struct Documents {
        uint256 version;
        bytes32 root;
        bytes32 loanTapeHash;
    }

    Config internal _config;
    Tranche[] internal _tranches;

    Documents internal _documents;

    uint256 internal _recoveryCount;
    uint256 internal _undistributed;

    /// @inheritdoc IPortfolio
    mapping(address buyer => mapping(uint256 nonce => bool)) public nonceUsed;

    /// @inheritdoc IPortfolio
    mapping(bytes32 reportHash => bool) public reportDeposited;

    constructor() {
        _disableInitializers();
    }

    // ------------------------------------------------------------------ setup

    /// @inheritdoc IPortfolio
    function initialize(CreateParams calldata params, ITrancheToken[] calldata tokens, IDistributor distributor)
        external
        initializer
    {
        uint8 payDecimals = _checkParams(params, tokens.length, address(distributor));

        __EIP712_init("NPL Portfolio", "1");
        __Pausable_init();
        _grantRole(DEFAULT_ADMIN_ROLE, params.admin);
        _grantRole(ISSUER_ROLE, params.issuer);
        // no deposit role: only the servicer's own call or its signed DepositIntent moves its money
        _grantRole(GUARDIAN_ROLE, params.guardian);

        Config storage config = _config;
        config.payToken = IERC20(params.payToken);
        config.registry = IComplianceRegistry(params.registry);
        config.distributor = distributor;
        config.issuerTreasury = params.issuerTreasury;
        config.servicer = params.servicer;
        config.protocolTreasury = params.protocolTreasury;
        config.servicerFeeBps = params.servicerFeeBps;
        config.protocolFeeBps = params.protocolFeeBps;
        config.mode = params.mode;
        config.offeringStart = params.offeringStart;
        config.offeringEnd = params.offeringEnd;
        config.scale = 10 ** (18 - payDecimals);
        config.sweepRecipient = params.sweepRecipient;

        uint256 count = params.tranches.length;
        for (uint256 i; i < count; ++i) {
            TrancheConfig calldata tranche = params.tranches[i];
            if (
                tranche.face == 0 || tranche.face > type(uint128).max || tranche.priceBps == 0 || tranche.couponBps > BPS
                    || (i == count - 1 && tranche.couponBps != 0) || address(tokens[i]) == address(0)
            ) revert PortfolioTrancheInvalid(i);
            _tranches.push(
                Tranche({
                    token: tokens[i],
                    couponBps: tranche.couponBps,
                    priceBps: tranche.priceBps,
                    face: tranche.face,
                    sold: 0,
                    outstanding: 0,
                    arrears: 0,
                    paid: 0
                })
            );
        }
        _anchorDocuments(params.documentRoot, params.loanTapeHash);
    }

    // ------------------------------------------------------------------ offering

    /// @inheritdoc IPortfolio
    function buy(uint256 trancheId, uint256 amount, uint256 maxCost)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 cost)
    {
        return _purchase(msg.sender, trancheId, amount, maxCost, DIRECT_PURCHASE_NONCE);
    }

    /// @inheritdoc IPortfolio
    function buyWithSig(PurchaseIntent calldata intent, bytes calldata signature, PermitData calldata permit)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 cost)
    {
        if (block.timestamp > intent.deadline) revert IntentExpired(intent.deadline);
        if (intent.nonce == DIRECT_PURCHASE_NONCE) revert IntentNonceReserved(intent.buyer, intent.nonce);
        if (nonceUsed[intent.buyer][intent.nonce]) revert IntentNonceUsed(intent.buyer, intent.nonce);
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    PURCHASE_INTENT_TYPEHASH,
                    intent.buyer,
                    intent.trancheId,
                    intent.amount,
                    intent.maxCost,
                    intent.nonce,
                    intent.deadline
                )
            )
        );
        if (!SignatureChecker.isValidSignatureNow(intent.buyer, digest, signature)) {
            revert IntentSignatureInvalid(intent.buyer);
        }
        nonceUsed[intent.buyer][intent.nonce] = true;

        if (permit.deadline != 0) {
            // A front-run permit (same signature already used) must not block the purchase: if the allowance
            // is then too low, the transferFrom below reverts anyway.
            try IERC20Permit(address(_config.payToken)).permit(
                intent.buyer, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
            ) {} catch {}
        }
        return _purchase(intent.buyer, intent.trancheId, intent.amount, intent.maxCost, intent.nonce);
    }

    /// @inheritdoc IPortfolio
    function invalidateNonce(uint256 nonce) external {
        _invalidateNonce(msg.sender, nonce);
    }

    /// @inheritdoc IPortfolio
    function invalidateNonceWithSig(address account, uint256 nonce, uint256 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert IntentExpired(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(NONCE_INVALIDATION_TYPEHASH, account, nonce, deadline)));
        if (!SignatureChecker.isValidSignatureNow(account, digest, signature)) revert IntentSignatureInvalid(account);
        _invalidateNonce(account, nonce);
    }

    /// @inheritdoc IPortfolio
    function closeOffering() external whenNotPaused {
        if (_config.offeringClosed) revert OfferingAlreadyClosed();
        if (block.timestamp <= _config.offeringEnd && !hasRole(ISSUER_ROLE, msg.sender)) {
            revert OfferingStillOpen(_config.offeringEnd);
        }
        _config.offeringClosed = true;
        _config.lastRecoveryAt = uint64(block.timestamp);
        uint256 count = _tranches.length;
        uint256[] memory sold = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            Tranche storage tranche = _tranches[i];
            sold[i] = tranche.sold;
            tranche.outstanding = sold[i];
        }
        emit OfferingClosed(block.timestamp, sold);
    }

    /// @inheritdoc IPortfolio
    function quote(uint256 trancheId, uint256 amount) external view returns (uint256 cost) {
        Tranche storage tranche = _tranche(trancheId);
        return _cost(tranche.priceBps, _units(amount));
    }

    // ------------------------------------------------------------------ recoveries

    /// @inheritdoc IPortfolio
    function depositRecovery(uint256 amount, bytes32 reportHash)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 recoveryId)
    {
        if (msg.sender != _config.servicer) revert RecoveryCallerNotServicer(msg.sender);
        return _depositRecovery(amount, reportHash);
    }

    /// @inheritdoc IPortfolio
    function depositRecoveryWithSig(DepositIntent calldata intent, bytes calldata signature)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 recoveryId)
    {
        if (block.timestamp > intent.deadline) revert IntentExpired(intent.deadline);
        address servicer = _config.servicer;
        if (nonceUsed[servicer][intent.nonce]) revert IntentNonceUsed(servicer, intent.nonce);
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(DEPOSIT_INTENT_TYPEHASH, intent.amount, intent.reportHash, intent.nonce, intent.deadline)
            )
        );
        if (!SignatureChecker.isValidSignatureNow(servicer, digest, signature)) {
            revert IntentSignatureInvalid(servicer);
        }
        nonceUsed[servicer][intent.nonce] = true;
        return _depositRecovery(intent.amount, intent.reportHash);
    }

    /// @inheritdoc IPortfolio
    function sweepUndistributed() external onlyRole(DEFAULT_ADMIN_ROLE) whenNotPaused nonReentrant {
        uint256 amount = _undistributed;
        if (amount == 0) revert PortfolioNothingToSweep();
        _undistributed = 0;
        address to = _config.sweepRecipient;
        _config.payToken.safeTransfer(to, amount);
        emit UndistributedSwept(to, amount);
    }

    // ------------------------------------------------------------------ documents and pause

    /// @inheritdoc IPortfolio
    function updateDocuments(bytes32 documentRoot, bytes32 loanTapeHash)
        external
        onlyRole(ISSUER_ROLE)
        returns (uint256 version)
    {
        return _anchorDocuments(documentRoot, loanTapeHash);
    }

    /// @inheritdoc IPortfolio
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
        _setTokensPaused(true);
    }

    /// @inheritdoc IPortfolio
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _unpause();
        _setTokensPaused(false);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IPortfolio
    function terms() external view returns (Terms memory) {
        return Terms({
            issuerTreasury: _config.issuerTreasury,
            servicer: _config.servicer,
            protocolTreasury: _config.protocolTreasury,
            payToken: address(_config.payToken),
            registry: address(_config.registry),
            distributor: address(_config.distributor),
            servicerFeeBps: _config.servicerFeeBps,
            protocolFeeBps: _config.protocolFeeBps,
            mode: _config.mode,
            offeringStart: _config.offeringStart,
            offeringEnd: _config.offeringEnd,
            offeringClosed: _config.offeringClosed,
            lastRecoveryAt: _config.lastRecoveryAt,
            scale: _config.scale
        });
    }

    /// @inheritdoc IPortfolio
    function trancheCount() external view returns (uint256) {
        return _tranches.length;
    }

    /// @inheritdoc IPortfolio
    function trancheToken(uint256 trancheId) external view returns (address) {
        return address(_tranche(trancheId).token);
    }

    /// @inheritdoc IPortfolio
    function trancheTerms(uint256 trancheId) external view returns (TrancheTerms memory) {
        Tranche storage tranche = _tranche(trancheId);
        return TrancheTerms({
            token: address(tranche.token),
            face: tranche.face,
            couponBps: tranche.couponBps,
            priceBps: tranche.priceBps
        });
    }

    /// @inheritdoc IPortfolio
    function trancheState(uint256 trancheId)
        external
        view
        returns (uint256 outstanding, uint256 arrears, uint256 sold, uint256 paidToDate)
    {
        Tranche storage tranche = _tranche(trancheId);
        return (tranche.outstanding, tranche.arrears, tranche.sold, tranche.paid);
    }

    /// @inheritdoc IPortfolio
    function documents() external view returns (uint256 version, bytes32 documentRoot, bytes32 loanTapeHash) {
        return (_documents.version, _documents.root, _documents.loanTapeHash);
    }

    /// @inheritdoc IPortfolio
    function recoveryCount() external view returns (uint256) {
        return _recoveryCount;
    }

    /// @inheritdoc IPortfolio
    function undistributed() external view returns (uint256) {
        return _undistributed;
    }

    /// @inheritdoc IPortfolio
    function sweepRecipient() external view returns (address) {
        return _config.sweepRecipient;
    }

    // ------------------------------------------------------------------ internal

    /// @dev Pulls `amount` from the servicer (whose consent the caller checked) and runs it through the waterfall.
    function _depositRecovery(uint256 amount, bytes32 reportHash) internal returns (uint256 recoveryId) {
        if (!_config.offeringClosed) revert RecoveryBeforeClose();
        if (amount == 0) revert RecoveryAmountZero();
        if (reportHash != bytes32(0)) {
            if (reportDeposited[reportHash]) revert RecoveryReportAlreadyDeposited(reportHash);
            reportDeposited[reportHash] = true;
        }

        (WaterfallLib.Result memory result, uint256 toDistributor) = _runWaterfall(amount);
        _undistributed += result.undistributed;
        recoveryId = ++_recoveryCount;

        Config storage config = _config;
        IERC20 payToken = config.payToken;
        payToken.safeTransferFrom(config.servicer, address(this), amount);
        if (result.servicerFee != 0) payToken.safeTransfer(config.servicer, result.servicerFee);
        if (result.protocolFee != 0) payToken.safeTransfer(config.protocolTreasury, result.protocolFee);
        if (toDistributor != 0) {
            IDistributor distributor = config.distributor;
            payToken.forceApprove(address(distributor), toDistributor);
            distributor.fund(toDistributor);
        }
        _emitRecovery(recoveryId, amount, result, reportHash);
    }

    /// @dev Runs `amount` through the waterfall on the stored tranche state, writes the new state back and
    /// restarts interest accrual; returns the result and the sum of the tranche totals.
    function _runWaterfall(uint256 amount)
        internal
        returns (WaterfallLib.Result memory result, uint256 toDistributor)
    {
        uint256 count = _tranches.length;
        WaterfallLib.Tranche[] memory state = new WaterfallLib.Tranche[](count);
        for (uint256 i; i < count; ++i) {
            Tranche storage tranche = _tranches[i];
            state[i] = WaterfallLib.Tranche({
                outstanding: tranche.outstanding,
                arrears: tranche.arrears,
                couponBps: tranche.couponBps
            });
        }
        Config storage config = _config;
        result = WaterfallLib.run(
            state,
            config.mode,
            config.servicerFeeBps,
            config.protocolFeeBps,
            amount,
            block.timestamp - config.lastRecoveryAt
        );
        config.lastRecoveryAt = uint64(block.timestamp);

        for (uint256 i; i < count; ++i) {
            Tranche storage tranche = _tranches[i];
            uint256 trancheTotal = WaterfallLib.total(result, i);
            tranche.outstanding = state[i].outstanding;
            tranche.arrears = state[i].arrears;
            tranche.paid += trancheTotal;
            toDistributor += trancheTotal;
        }
    }

    /// @dev Validates the portfolio-wide parameters; returns the pay token's decimals.
    function _checkParams(CreateParams calldata params, uint256 tokenCount, address distributor)
        internal
        view
        returns (uint8 payDecimals)
    {
        if (
            params.admin == address(0) || params.issuer == address(0) || params.issuerTreasury == address(0)
                || params.servicer == address(0) || params.guardian == address(0)
                || params.protocolTreasury == address(0) || params.payToken == address(0)
                || params.registry == address(0) || params.sweepRecipient == address(0) || distributor == address(0)
        ) revert PortfolioZeroAddress();
        uint256 count = params.tranches.length;
        if (count == 0 || count > MAX_TRANCHES || tokenCount != count) revert PortfolioTrancheCountInvalid(count);
        if (uint256(params.servicerFeeBps) + params.protocolFeeBps > BPS) {
            revert PortfolioFeesTooHigh(params.servicerFeeBps, params.protocolFeeBps);
        }
        if (params.offeringEnd < params.offeringStart) {
            revert PortfolioOfferingWindowInvalid(params.offeringStart, params.offeringEnd);
        }
        payDecimals = IERC20Metadata(params.payToken).decimals();
        if (payDecimals > 18) revert PortfolioPayTokenDecimalsInvalid(payDecimals);
    }

    /// @dev Marks `account`'s intent nonce used; a used (or already cancelled) nonce reverts.
    function _invalidateNonce(address account, uint256 nonce) internal {
        if (nonceUsed[account][nonce]) revert IntentNonceUsed(account, nonce);
        nonceUsed[account][nonce] = true;
        emit IntentNonceInvalidated(account, nonce);
    }

    function _purchase(address buyer, uint256 trancheId, uint256 amount, uint256 maxCost, uint256 nonce)
        internal
        returns (uint256 cost)
    {
        Tranche storage tranche = _tranche(trancheId);
        if (_config.offeringClosed) revert OfferingAlreadyClosed();
        if (block.timestamp < _config.offeringStart || block.timestamp > _config.offeringEnd) {
            revert OfferingNotOpen(_config.offeringStart, _config.offeringEnd);
        }
        uint256 units = _units(amount);
        uint256 remaining = tranche.face - tranche.sold;
        if (remaining == 0) revert OfferingSoldOut(trancheId);
        if (units > remaining) revert OfferingCapExceeded(trancheId, remaining * _config.scale);
        if (!_config.registry.isAllowed(buyer)) revert OfferingBuyerNotAllowed(buyer);
        cost = _cost(tranche.priceBps, units);
        if (cost > maxCost) revert OfferingCostAboveMax(cost, maxCost);

        tranche.sold += units;
        _config.payToken.safeTransferFrom(buyer, _config.issuerTreasury, cost);
        tranche.token.mint(buyer, amount);
        emit Purchased(trancheId, buyer, amount, cost, nonce);
    }

    function _tranche(uint256 trancheId) internal view returns (Tranche storage) {
        if (trancheId >= _tranches.length) revert PortfolioTrancheUnknown(trancheId);
        return _tranches[trancheId];
    }

    /// @dev Pay units of face in `amount` token base units; reverts unless a non-zero multiple of `scale`.
    function _units(uint256 amount) internal view returns (uint256) {
        uint256 scale = _config.scale;
        if (amount == 0 || amount % scale != 0) revert OfferingAmountInvalid(amount);
        return amount / scale;
    }

    function _cost(uint256 priceBps, uint256 units) internal pure returns (uint256) {
        return Math.mulDiv(units, priceBps, BPS, Math.Rounding.Ceil);
    }

    function _anchorDocuments(bytes32 documentRoot, bytes32 loanTapeHash) internal returns (uint256 version) {
        version = ++_documents.version;
        _documents.root = documentRoot;
        _documents.loanTapeHash = loanTapeHash;
        emit DocumentsAnchored(version, documentRoot, loanTapeHash);
    }

    function _setTokensPaused(bool paused_) internal {
        uint256 count = _tranches.length;
        for (uint256 i; i < count; ++i) {
            _tranches[i].token.setPaused(paused_);
        }
    }

    function _emitRecovery(uint256 recoveryId, uint256 amount, WaterfallLib.Result memory result, bytes32 reportHash)
        internal
    {
        emit RecoveryDistributed(
            recoveryId,
            amount,
            result.servicerFee,
            result.protocolFee,
            result.interest,
            result.principal,
            result.residual,
            result.undistributed,
            block.number - 1,
            reportHash
        );
    }
}
