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
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IDistributor} from "./interfaces/IDistributor.sol";
import {IPortfolio} from "./interfaces/IPortfolio.sol";
import {ITrancheToken} from "./interfaces/ITrancheToken.sol";
import {WaterfallLib} from "./libraries/WaterfallLib.sol";
import {BusinessPlanPoint, CreateParams, TrancheConfig} from "./types/PortfolioTypes.sol";

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
    bytes32 public constant FINAL_DEPOSIT_INTENT_TYPEHASH =
        keccak256("FinalDepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)");
    /// @inheritdoc IPortfolio
    bytes32 public constant RESOLUTION_INTENT_TYPEHASH = keccak256("ResolutionIntent(uint256 nonce,uint256 deadline)");
    /// @inheritdoc IPortfolio
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @inheritdoc IPortfolio
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @dev Portfolio-wide terms and offering state. Packed so that a recovery reads every flag it needs (fees,
    /// mode, closed, resolved, the v2 terms' presence) from one slot and the clocks from the next.
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
        uint16 reserveTargetBps;
        uint16 collectionRatioBps;
        uint8 planLength;
        bool resolved;
        uint64 offeringStart;
        uint64 offeringEnd;
        uint64 lastRecoveryAt;
        uint64 closedAt;
        uint256 scale;
        address sweepRecipient;
    }

    /// @dev Recovery counters, one slot (written by every recovery): the count, the number of business plan
    /// points at or before the last recovery's clock (the clock only grows, so the scan resumes there), and the
    /// gross collections so far.
    struct Recoveries {
        uint64 count;
        uint8 planCursor;
        uint184 collected;
    }

    /// @dev The cash reserve: its balance and everything the issuer treasury funded.
    struct ReserveState {
        uint128 balance;
        uint128 funded;
    }

    /// @dev The resolution delay fixed at creation and the pending proposal (0: none).
    struct Resolution {
        uint32 delay;
        uint64 executableAt;
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

    Recoveries internal _recoveries;
    uint256 internal _undistributed;
    ReserveState internal _reserve;
    Resolution internal _resolution;
    /// @dev The business plan: `_config.planLength` points (at most WaterfallLib.MAX_PLAN_POINTS), one slot
    /// each; a mapping, so a recovery reads a point without a length check.
    mapping(uint256 index => BusinessPlanPoint) internal _plan;

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
        _storeRiskTerms(params, distributor);

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
        _config.closedAt = uint64(block.timestamp);
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
        return _depositRecovery(amount, reportHash, false);
    }

    /// @inheritdoc IPortfolio
    function depositRecoveryWithSig(DepositIntent calldata intent, bytes calldata signature)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 recoveryId)
    {
        _useDepositIntent(DEPOSIT_INTENT_TYPEHASH, intent, signature);
        return _depositRecovery(intent.amount, intent.reportHash, false);
    }

    /// @inheritdoc IPortfolio
    function depositFinalRecovery(uint256 amount, bytes32 reportHash)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 recoveryId)
    {
        if (msg.sender != _config.servicer) revert RecoveryCallerNotServicer(msg.sender);
        return _depositRecovery(amount, reportHash, true);
    }

    /// @inheritdoc IPortfolio
    function depositFinalRecoveryWithSig(DepositIntent calldata intent, bytes calldata signature)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 recoveryId)
    {
        _useDepositIntent(FINAL_DEPOSIT_INTENT_TYPEHASH, intent, signature);
        return _depositRecovery(intent.amount, intent.reportHash, true);
    }

    /// @inheritdoc IPortfolio
    function fundReserve(uint256 amount) external whenNotPaused nonReentrant {
        Config storage config = _config;
        address treasury = config.issuerTreasury;
        if (msg.sender != treasury) revert ReserveCallerNotIssuerTreasury(msg.sender);
        if (config.resolved) revert PortfolioAlreadyResolved();
        if (config.reserveTargetBps == 0) revert ReserveNotConfigured();
        if (amount == 0) revert ReserveAmountZero();
        ReserveState storage reserve_ = _reserve;
        uint256 balance = reserve_.balance + amount;
        reserve_.balance = SafeCast.toUint128(balance);
        reserve_.funded = SafeCast.toUint128(reserve_.funded + amount);
        config.payToken.safeTransferFrom(treasury, address(this), amount);
        emit ReserveFunded(treasury, amount, balance);
    }

    /// @inheritdoc IPortfolio
    function proposeResolution() external whenNotPaused {
        if (msg.sender != _config.servicer) revert RecoveryCallerNotServicer(msg.sender);
        _proposeResolution();
    }

    /// @inheritdoc IPortfolio
    function proposeResolutionWithSig(uint256 nonce, uint256 deadline, bytes calldata signature)
        external
        whenNotPaused
    {
        _useServicerIntent(keccak256(abi.encode(RESOLUTION_INTENT_TYPEHASH, nonce, deadline)), nonce, deadline, signature);
        _proposeResolution();
    }

    /// @inheritdoc IPortfolio
    function vetoResolution() external onlyRole(GUARDIAN_ROLE) {
        if (_config.resolved) revert PortfolioAlreadyResolved();
        uint256 pending = _resolution.executableAt;
        if (pending == 0) revert ResolutionNotProposed();
        _resolution.executableAt = 0;
        emit ResolutionVetoed(msg.sender, pending);
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
        // a resolved portfolio's tokens never transfer again
        if (!_config.resolved) _setTokensPaused(false);
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
        return _recoveries.count;
    }

    /// @inheritdoc IPortfolio
    function riskTerms()
        external
        view
        returns (
            uint256 reserveTargetBps,
            uint256 collectionRatioBps,
            BusinessPlanPoint[] memory businessPlan,
            uint256 resolutionDelay
        )
    {
        uint256 points = _config.planLength;
        businessPlan = new BusinessPlanPoint[](points);
        for (uint256 i; i < points; ++i) {
            businessPlan[i] = _plan[i];
        }
        return (_config.reserveTargetBps, _config.collectionRatioBps, businessPlan, _resolution.delay);
    }

    /// @inheritdoc IPortfolio
    function reserve() external view returns (uint256 balance, uint256 funded) {
        return (_reserve.balance, _reserve.funded);
    }

    /// @inheritdoc IPortfolio
    function collected() external view returns (uint256) {
        return _recoveries.collected;
    }

    /// @inheritdoc IPortfolio
    function resolution() external view returns (uint256 executableAt, bool resolved) {
        return (_resolution.executableAt, _config.resolved);
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

    /// @dev Checks the servicer's EIP-712 signature of `intent` under `typeHash` (DepositIntent or
    /// FinalDepositIntent) and spends its nonce.
    function _useDepositIntent(bytes32 typeHash, DepositIntent calldata intent, bytes calldata signature) internal {
        _useServicerIntent(
            keccak256(abi.encode(typeHash, intent.amount, intent.reportHash, intent.nonce, intent.deadline)),
            intent.nonce,
            intent.deadline,
            signature
        );
    }

    /// @dev Checks the servicer's EIP-712 signature of the struct hash `structHash` (whose `nonce` and `deadline`
    /// the caller passes alongside) and spends the nonce in the servicer's intent-nonce space.
    function _useServicerIntent(bytes32 structHash, uint256 nonce, uint256 deadline, bytes calldata signature)
        internal
    {
        if (block.timestamp > deadline) revert IntentExpired(deadline);
        address servicer = _config.servicer;
        if (nonceUsed[servicer][nonce]) revert IntentNonceUsed(servicer, nonce);
        if (!SignatureChecker.isValidSignatureNow(servicer, _hashTypedDataV4(structHash), signature)) {
            revert IntentSignatureInvalid(servicer);
        }
        nonceUsed[servicer][nonce] = true;
    }

    /// @dev Opens the resolution delay (the caller checked the servicer's consent).
    function _proposeResolution() internal {
        Config storage config = _config;
        if (!config.offeringClosed) revert RecoveryBeforeClose();
        if (config.resolved) revert PortfolioAlreadyResolved();
        Resolution storage resolution_ = _resolution;
        uint256 pending = resolution_.executableAt;
        if (pending != 0) revert ResolutionAlreadyProposed(pending);
        uint256 executableAt = block.timestamp + resolution_.delay;
        resolution_.executableAt = uint64(executableAt);
        emit ResolutionProposed(executableAt);
    }

    /// @dev Pulls `amount` from the servicer (whose consent the caller checked) and runs it through the
    /// waterfall; `isFinal`: the resolving recovery (an executable, unvetoed proposal; `amount` may be 0).
    function _depositRecovery(uint256 amount, bytes32 reportHash, bool isFinal) internal returns (uint256 recoveryId) {
        Config storage config = _config;
        if (!config.offeringClosed) revert RecoveryBeforeClose();
        if (config.resolved) revert PortfolioAlreadyResolved();
        if (isFinal) {
            uint256 executableAt = _resolution.executableAt;
            if (executableAt == 0) revert ResolutionNotProposed();
            if (block.timestamp < executableAt) revert ResolutionNotExecutable(executableAt);
            config.resolved = true;
        } else if (amount == 0) {
            revert RecoveryAmountZero();
        }
        if (reportHash != bytes32(0)) {
            if (reportDeposited[reportHash]) revert RecoveryReportAlreadyDeposited(reportHash);
            reportDeposited[reportHash] = true;
        }

        WaterfallLib.Result memory result;
        uint256 toDistributor;
        uint256 planned;
        (result, toDistributor, recoveryId, planned) = _runWaterfall(amount, isFinal);
        if (result.undistributed != 0) _undistributed += result.undistributed;

        IERC20 payToken = config.payToken;
        if (amount != 0) payToken.safeTransferFrom(config.servicer, address(this), amount);
        if (result.servicerFee != 0) payToken.safeTransfer(config.servicer, result.servicerFee);
        if (result.protocolFee != 0) payToken.safeTransfer(config.protocolTreasury, result.protocolFee);
        if (toDistributor != 0) {
            IDistributor distributor = config.distributor;
            payToken.forceApprove(address(distributor), toDistributor);
            distributor.fund(toDistributor);
        }
        _emitRecovery(recoveryId, amount, result, reportHash);
        if (isFinal || config.reserveTargetBps != 0 || config.collectionRatioBps != 0) {
            _emitTriggerAndReserve(recoveryId, result, planned);
        }
        if (isFinal) {
            _setTokensPaused(true);
            emit PortfolioResolved(recoveryId, result.principalWrittenOff, result.interestWrittenOff);
        }
    }

    /// @dev Runs `amount` through the spec-v2 waterfall on the stored tranche, reserve and trigger state, writes
    /// the new state back, counts the recovery and restarts interest accrual; returns the result, the sum of the
    /// tranche totals, the recovery's id and the business plan's cumulative at the clock.
    function _runWaterfall(uint256 amount, bool isFinal)
        internal
        returns (WaterfallLib.Result memory result, uint256 toDistributor, uint256 recoveryId, uint256 planned)
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
        Recoveries memory recoveries = _recoveries;
        WaterfallLib.Recovery memory recovery = WaterfallLib.Recovery({
            amount: amount,
            elapsedSeconds: block.timestamp - config.lastRecoveryAt,
            clock: block.timestamp - config.closedAt,
            collected: recoveries.collected + amount,
            isFinal: isFinal
        });
        WaterfallLib.Trigger memory trigger;
        trigger.collectionRatioBps = config.collectionRatioBps;
        if (trigger.collectionRatioBps != 0) {
            (trigger.businessPlan, planned, recoveries.planCursor) =
                _planUpTo(config.planLength, recoveries.planCursor, recovery.clock);
        }
        WaterfallLib.Reserve memory reserveState;
        uint256 targetBps = config.reserveTargetBps;
        if (targetBps != 0) {
            reserveState.targetBps = targetBps;
            reserveState.balance = _reserve.balance;
        }
        result = WaterfallLib.runV2(
            state, config.mode, config.servicerFeeBps, config.protocolFeeBps, reserveState, trigger, recovery
        );
        config.lastRecoveryAt = uint64(block.timestamp);
        if (targetBps != 0) _reserve.balance = SafeCast.toUint128(reserveState.balance);
        recoveryId = recoveries.count + 1;
        _recoveries = Recoveries({
            count: uint64(recoveryId),
            planCursor: recoveries.planCursor,
            collected: SafeCast.toUint184(recovery.collected)
        });

        for (uint256 i; i < count; ++i) {
            Tranche storage tranche = _tranches[i];
            uint256 trancheTotal = WaterfallLib.total(result, i);
            tranche.outstanding = state[i].outstanding;
            tranche.arrears = state[i].arrears;
            tranche.paid += trancheTotal;
            toDistributor += trancheTotal;
        }
    }

    /// @dev The business plan as `runV2` needs it at `clock`: only its last point at or before `clock` (none
    /// before the first point), found from `cursor` (the points at or before the previous recovery's clock,
    /// which never exceeds this one); returns that plan, its cumulative and the new cursor.
    function _planUpTo(uint256 length, uint8 cursor, uint256 clock)
        internal
        view
        returns (WaterfallLib.PlanPoint[] memory plan, uint256 planned, uint8 newCursor)
    {
        uint256 at = cursor;
        BusinessPlanPoint memory last;
        bool advanced;
        while (at < length) {
            BusinessPlanPoint memory next = _plan[at];
            if (next.atSeconds > clock) break;
            last = next;
            advanced = true;
            ++at;
        }
        if (at == 0) return (plan, 0, 0);
        if (!advanced) last = _plan[at - 1];
        plan = new WaterfallLib.PlanPoint[](1);
        plan[0] = WaterfallLib.PlanPoint({atSeconds: last.atSeconds, cumulative: last.cumulative});
        return (plan, last.cumulative, uint8(at));
    }

    /// @dev Stores the spec-v2 terms (`WaterfallLib.checkTerms`) and the resolution delay, at least the
    /// Distributor's root timelock.
    function _storeRiskTerms(CreateParams calldata params, IDistributor distributor) internal {
        uint256 delay = params.resolutionDelay;
        uint256 distributorDelay = distributor.timelockDelay();
        if (delay < distributorDelay) revert PortfolioResolutionDelayTooShort(delay, distributorDelay);
        _resolution.delay = params.resolutionDelay;

        BusinessPlanPoint[] calldata points = params.trigger.businessPlan;
        uint256 length = points.length;
        WaterfallLib.PlanPoint[] memory plan = new WaterfallLib.PlanPoint[](length);
        for (uint256 i; i < length; ++i) {
            plan[i] = WaterfallLib.PlanPoint({atSeconds: points[i].atSeconds, cumulative: points[i].cumulative});
        }
        WaterfallLib.checkTerms(params.reserve.targetBps, params.trigger.collectionRatioBps, plan);
        for (uint256 i; i < length; ++i) {
            _plan[i] = points[i];
        }
        Config storage config = _config;
        config.reserveTargetBps = params.reserve.targetBps;
        config.collectionRatioBps = params.trigger.collectionRatioBps;
        config.planLength = uint8(length);
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

    function _emitTriggerAndReserve(uint256 recoveryId, WaterfallLib.Result memory result, uint256 planned)
        internal
    {
        WaterfallLib.ReserveFlow memory flow = result.reserve;
        emit RecoveryTriggerAndReserve(
            recoveryId,
            result.triggerBreached,
            _recoveries.collected,
            planned,
            flow.released,
            flow.drawn,
            flow.replenished,
            flow.balanceAfter
        );
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
