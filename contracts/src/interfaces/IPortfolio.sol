// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDistributor} from "./IDistributor.sol";
import {ITrancheToken} from "./ITrancheToken.sol";
import {WaterfallLib} from "../libraries/WaterfallLib.sol";
import {BusinessPlanPoint, CreateParams} from "../types/PortfolioTypes.sol";

/// @title IPortfolio
/// @notice One listed portfolio of non-performing loans: its tranche terms, fee setup, anchored documents,
/// primary offering (delivery versus payment) and the on-chain cash waterfall of every recovery.
/// @dev Units: amounts of tranche tokens are in token base units (18 decimals); everything else is in
/// pay-token base units. `scale = 10 ** (18 - payDecimals)` token base units are one pay unit of face.
/// Roles: DEFAULT_ADMIN_ROLE (roles, sweep of undistributed funds to the recipient fixed at creation; a
/// TimelockController in production), ISSUER_ROLE (documents, early close), GUARDIAN_ROLE (pause, which also
/// pauses every tranche token). Recoveries have no role: the servicer fixed at creation deposits by its own
/// call or by its EIP-712 `DepositIntent` relayed by anyone, so no other key, the admin included, can move
/// the servicer's money or deposit a report the servicer did not sign.
/// @dev Warning: the admin can grant any role; the guardian can freeze all tranche transfers by pausing; the
/// servicer decides the amount and timing of recoveries (the waterfall itself is not discretionary).
interface IPortfolio {
    /// @notice A buyer's signed purchase, relayed by anyone through `buyWithSig` (EIP-712 on the Portfolio's
    /// domain, name "NPL Portfolio", version "1").
    struct PurchaseIntent {
        address buyer;
        uint256 trancheId;
        uint256 amount;
        uint256 maxCost;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice The servicer's consent to one recovery, relayed by anyone through `depositRecoveryWithSig`
    /// (EIP-712 on the Portfolio's domain, name "NPL Portfolio", version "1"; the signer is the portfolio's
    /// servicer). `nonce` is single-use in the servicer's intent-nonce space (shared with `invalidateNonce`,
    /// so the servicer can cancel a signed intent); the intent is void after `deadline`.
    struct DepositIntent {
        uint256 amount;
        bytes32 reportHash;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice An ERC-2612 permit of the pay token from the buyer to this Portfolio; `deadline == 0` skips it.
    struct PermitData {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice Portfolio-wide terms and state.
    struct Terms {
        address issuerTreasury;
        address servicer;
        address protocolTreasury;
        address payToken;
        address registry;
        address distributor;
        uint16 servicerFeeBps;
        uint16 protocolFeeBps;
        WaterfallLib.Mode mode;
        uint64 offeringStart;
        uint64 offeringEnd;
        bool offeringClosed;
        uint64 lastRecoveryAt;
        uint256 scale;
    }

    /// @notice Static terms of one tranche.
    struct TrancheTerms {
        address token;
        uint256 face;
        uint16 couponBps;
        uint16 priceBps;
    }

    // ------------------------------------------------------------------ events

    /// @notice `buyer` bought `amount` tranche-token base units of `trancheId` for `cost` pay units.
    /// `nonce` is the intent's nonce for `buyWithSig`, and `DIRECT_PURCHASE_NONCE` for `buy`.
    event Purchased(uint256 indexed trancheId, address indexed buyer, uint256 amount, uint256 cost, uint256 nonce);

    /// @notice `account` cancelled its intent nonce `nonce` (its own call or its signed `NonceInvalidation`):
    /// no `buyWithSig` with that nonce can run any more.
    event IntentNonceInvalidated(address indexed account, uint256 nonce);

    /// @notice The offering closed; `sold[i]` (face, pay units) is tranche i's outstanding principal from now.
    event OfferingClosed(uint256 closedAt, uint256[] sold);

    /// @notice A recovery ran through the waterfall. Per-tranche arrays are in seniority order; the sum of the
    /// tranche totals went to the Distributor. Holders are paid pro rata to balances at `snapshotBlock`.
    event RecoveryDistributed(
        uint256 indexed recoveryId,
        uint256 amount,
        uint256 servicerFee,
        uint256 protocolFee,
        uint256[] interest,
        uint256[] principal,
        uint256[] residual,
        uint256 undistributed,
        uint256 snapshotBlock,
        bytes32 reportHash
    );

    /// @notice Spec-v2 state of recovery `recoveryId` (emitted right after its `RecoveryDistributed`) when the
    /// portfolio has a reserve target or a trigger, and for the final recovery: whether the trigger was
    /// breached (`collected * 10000 < collectionRatioBps * planned`), the collections so far (this recovery
    /// included), the business plan's cumulative at the clock (`planned`, 0 before its first point or without a
    /// trigger), and the reserve's movements: `released` and `drawn` left the reserve into the waterfall,
    /// `replenished` came back from it, `reserveBalance` is the reserve after the recovery. A recovery of a
    /// portfolio without reserve and trigger emits no such event: read it as not breached, no movements.
    /// Conservation: `amount + released + drawn == servicerFee + protocolFee + sum(tranche totals) + replenished +
    /// undistributed` (amounts of `RecoveryDistributed`).
    event RecoveryTriggerAndReserve(
        uint256 indexed recoveryId,
        bool triggerBreached,
        uint256 collected,
        uint256 planned,
        uint256 released,
        uint256 drawn,
        uint256 replenished,
        uint256 reserveBalance
    );

    /// @notice The issuer treasury `from` added `amount` to the cash reserve, now `balance`.
    event ReserveFunded(address indexed from, uint256 amount, uint256 balance);

    /// @notice The servicer proposed to resolve the portfolio: its final recovery can run from `executableAt`
    /// unless the guardian vetoes first.
    event ResolutionProposed(uint256 executableAt);

    /// @notice The guardian vetoed the pending resolution that was executable from `executableAt`.
    event ResolutionVetoed(address indexed guardian, uint256 executableAt);

    /// @notice Final recovery `recoveryId` resolved the portfolio: every debt tranche's remaining principal and
    /// interest arrears were written off (`principalWrittenOff[i]`, `interestWrittenOff[i]`, seniority order;
    /// 0 for the residual tranche), the whole reserve was released into that last waterfall, no recovery can
    /// follow and the tranche tokens no longer transfer. The distributions stay claimable.
    event PortfolioResolved(uint256 indexed recoveryId, uint256[] principalWrittenOff, uint256[] interestWrittenOff);

    /// @notice Version `version` of the document root and loan-tape hash was anchored (version 1 at creation).
    event DocumentsAnchored(uint256 indexed version, bytes32 documentRoot, bytes32 loanTapeHash);

    /// @notice The admin moved `amount` of undistributed funds (residual share without holders) to `to`, the
    /// sweep recipient fixed at creation.
    event UndistributedSwept(address indexed to, uint256 amount);

    // ------------------------------------------------------------------ errors

    /// @notice A required address in the creation parameters is zero.
    error PortfolioZeroAddress();

    /// @notice The number of tranches (or of tranche tokens) is not valid (1 to MAX_TRANCHES, one token each).
    error PortfolioTrancheCountInvalid(uint256 count);

    /// @notice Tranche `trancheId` has invalid terms (face 0 or above 2^128, price 0, or a residual coupon).
    error PortfolioTrancheInvalid(uint256 trancheId);

    /// @notice The two fees add up to more than 100 %.
    error PortfolioFeesTooHigh(uint256 servicerFeeBps, uint256 protocolFeeBps);

    /// @notice The pay token has more than 18 decimals.
    error PortfolioPayTokenDecimalsInvalid(uint8 decimals);

    /// @notice The offering window ends before it starts.
    error PortfolioOfferingWindowInvalid(uint64 start, uint64 end);

    /// @notice There is no tranche `trancheId`.
    error PortfolioTrancheUnknown(uint256 trancheId);

    /// @notice There is nothing undistributed to sweep.
    error PortfolioNothingToSweep();

    /// @notice Purchases are accepted only from `start` to `end` (inclusive).
    error OfferingNotOpen(uint256 start, uint256 end);

    /// @notice The offering is already closed.
    error OfferingAlreadyClosed();

    /// @notice Only the issuer may close the offering before its end.
    error OfferingStillOpen(uint256 end);

    /// @notice The amount is zero or not a whole number of pay units of face (a multiple of `scale`).
    error OfferingAmountInvalid(uint256 amount);

    /// @notice Tranche `trancheId` is sold out.
    error OfferingSoldOut(uint256 trancheId);

    /// @notice The amount exceeds what is left of tranche `trancheId`: `remaining` token base units.
    error OfferingCapExceeded(uint256 trancheId, uint256 remaining);

    /// @notice The cost is above the buyer's `maxCost`.
    error OfferingCostAboveMax(uint256 cost, uint256 maxCost);

    /// @notice The buyer is not allowed by the compliance registry.
    error OfferingBuyerNotAllowed(address buyer);

    /// @notice The purchase intent (or the nonce invalidation) expired at `deadline`.
    error IntentExpired(uint256 deadline);

    /// @notice The buyer already used (or cancelled) `nonce`.
    error IntentNonceUsed(address buyer, uint256 nonce);

    /// @notice `nonce` is `DIRECT_PURCHASE_NONCE`, the value `Purchased` carries for a direct `buy`: an intent
    /// signed with it would emit a `Purchased` indistinguishable from a direct buy, so no intent may use it.
    /// @param buyer The intent's buyer.
    /// @param nonce The reserved nonce (`type(uint256).max`).
    error IntentNonceReserved(address buyer, uint256 nonce);

    /// @notice The signature is not the buyer's (EOA or ERC-1271) over the intent (or the nonce invalidation).
    error IntentSignatureInvalid(address buyer);

    /// @notice `caller` is not the portfolio's servicer: only the servicer's own call deposits without a
    /// signed intent (anyone else relays the servicer's `DepositIntent` through `depositRecoveryWithSig`).
    /// @param caller The rejected caller.
    error RecoveryCallerNotServicer(address caller);

    /// @notice Recoveries are accepted only after the offering closed.
    error RecoveryBeforeClose();

    /// @notice A recovery of zero.
    error RecoveryAmountZero();

    /// @notice This portfolio already took a recovery with this (non-zero) report hash: one deposit per
    /// report, so a retried or replayed deposit of the same report never pays the waterfall twice.
    /// @param reportHash The report hash already deposited.
    error RecoveryReportAlreadyDeposited(bytes32 reportHash);

    /// @notice The resolution delay is shorter than the Distributor's root timelock at creation.
    /// @param resolutionDelay The requested delay (seconds).
    /// @param distributorDelay The Distributor's `timelockDelay`.
    error PortfolioResolutionDelayTooShort(uint256 resolutionDelay, uint256 distributorDelay);

    /// @notice The portfolio is resolved: no recovery, reserve funding or resolution step can follow.
    error PortfolioAlreadyResolved();

    /// @notice Only the issuer treasury fixed at creation funds the reserve, with its own call.
    /// @param caller The rejected caller.
    error ReserveCallerNotIssuerTreasury(address caller);

    /// @notice The portfolio has no reserve (target 0), so there is nothing to fund.
    error ReserveNotConfigured();

    /// @notice A reserve funding of zero.
    error ReserveAmountZero();

    /// @notice A resolution is already pending, executable from `executableAt`.
    error ResolutionAlreadyProposed(uint256 executableAt);

    /// @notice No resolution is pending (never proposed, vetoed, or a veto of nothing).
    error ResolutionNotProposed();

    /// @notice The pending resolution becomes executable only at `executableAt`.
    error ResolutionNotExecutable(uint256 executableAt);

    // ------------------------------------------------------------------ setup

    /// @notice Initializes a clone once; called by the PortfolioFactory in the deploying transaction, after
    /// it initialized `tokens` (with this portfolio) and `distributor`.
    function initialize(CreateParams calldata params, ITrancheToken[] calldata tokens, IDistributor distributor)
        external;

    // ------------------------------------------------------------------ offering

    /// @notice Buys `amount` tranche-token base units of `trancheId` for at most `maxCost` pay units: the
    /// cost moves from the caller to the issuer treasury and the tokens are minted to the caller.
    /// @dev Cost = ceil(amount / scale * priceBps / 10_000). The caller must be allowlisted and have
    /// approved the cost to this Portfolio.
    /// @return cost Pay units paid.
    function buy(uint256 trancheId, uint256 amount, uint256 maxCost) external returns (uint256 cost);

    /// @notice Same as `buy` for `intent.buyer`, relayed by anyone with the buyer's EIP-712 signature.
    /// The optional pay-token permit is tried first and ignored if it fails (e.g. already used by a
    /// front-runner); the purchase then fails only if the allowance is insufficient. An intent whose nonce is
    /// `DIRECT_PURCHASE_NONCE` reverts with IntentNonceReserved (that value marks direct buys in `Purchased`).
    /// @return cost Pay units paid.
    function buyWithSig(PurchaseIntent calldata intent, bytes calldata signature, PermitData calldata permit)
        external
        returns (uint256 cost);

    /// @notice Cancels msg.sender's intent nonce `nonce`: a signed intent with it (a purchase, or the
    /// servicer's deposit) can no longer be relayed. Available while paused. Reverts with IntentNonceUsed if the nonce is already used or cancelled.
    function invalidateNonce(uint256 nonce) external;

    /// @notice Same as `invalidateNonce` for `account`, relayed by anyone with `account`'s EIP-712 signature
    /// (EOA or ERC-1271) of `NonceInvalidation(account, nonce, deadline)` on this Portfolio's domain.
    /// Reverts with IntentExpired after `deadline`, IntentNonceUsed if already used, IntentSignatureInvalid.
    function invalidateNonceWithSig(address account, uint256 nonce, uint256 deadline, bytes calldata signature)
        external;

    /// @notice Closes the offering: each tranche's outstanding principal becomes its sold face, and interest
    /// starts accruing. The issuer may close at any time; anyone may close after `offeringEnd`.
    /// Reverts with EnforcedPause while the portfolio is paused: closing is final (it fixes every tranche's
    /// outstanding principal), so it waits until the guardian has investigated and unpaused; interest then
    /// accrues from the actual close.
    function closeOffering() external;

    /// @notice Cost in pay units of `amount` tranche-token base units of `trancheId`; reverts with
    /// OfferingAmountInvalid if `amount` is zero or not a multiple of `scale`.
    function quote(uint256 trancheId, uint256 amount) external view returns (uint256 cost);

    // ------------------------------------------------------------------ recoveries

    /// @notice Pulls `amount` from the servicer's wallet (it approves this Portfolio) and runs it through the
    /// waterfall with the seconds elapsed since the previous recovery (or since the close): the servicer fee
    /// goes to the servicer, the protocol fee to the protocol treasury, the tranche totals to the
    /// Distributor, and the residual share without residual holders stays here as undistributed.
    /// Only the servicer itself may call it (else RecoveryCallerNotServicer); anyone else relays the
    /// servicer's signed intent through `depositRecoveryWithSig`. Reverts with EnforcedPause while paused.
    /// @param reportHash Hash of the servicer's recovery report, echoed in the event. A non-zero hash is
    /// accepted once per portfolio (a repeat reverts with RecoveryReportAlreadyDeposited); zero means
    /// "no report" and is not tracked.
    /// @return recoveryId Sequence number of this recovery (from 1).
    function depositRecovery(uint256 amount, bytes32 reportHash) external returns (uint256 recoveryId);

    /// @notice Same as `depositRecovery(intent.amount, intent.reportHash)`, relayed by anyone with the
    /// servicer's EIP-712 signature (EOA or ERC-1271) of `intent`: the servicer's money moves only for the
    /// amount and report it signed. Reverts with IntentExpired after `intent.deadline`, IntentNonceUsed if the
    /// servicer already used or cancelled `intent.nonce`, IntentSignatureInvalid unless the servicer signed,
    /// and as `depositRecovery` otherwise; the nonce is spent only when the deposit succeeds.
    /// @return recoveryId Sequence number of this recovery (from 1).
    function depositRecoveryWithSig(DepositIntent calldata intent, bytes calldata signature)
        external
        returns (uint256 recoveryId);

    /// @notice Same as `depositRecovery` for the servicer's final recovery (`amount` may be 0): the last
    /// waterfall with `isFinal` (the whole reserve released into it, every debt tranche's remaining principal
    /// and arrears written off), then the portfolio is resolved: no more recoveries, the tranche tokens stop
    /// transferring for good, the distributions stay claimable. Only the servicer itself may call it, only
    /// from the `executableAt` of a proposal the guardian did not veto (ResolutionNotProposed,
    /// ResolutionNotExecutable). Emits RecoveryDistributed, RecoveryTriggerAndReserve and PortfolioResolved.
    /// @return recoveryId Sequence number of this recovery.
    function depositFinalRecovery(uint256 amount, bytes32 reportHash) external returns (uint256 recoveryId);

    /// @notice Same as `depositFinalRecovery(intent.amount, intent.reportHash)`, relayed by anyone with the
    /// servicer's EIP-712 signature of `FinalDepositIntent(amount, reportHash, nonce, deadline)`: a distinct
    /// type from `DepositIntent`, so a signed ordinary deposit can never be relayed as the final one (nor the
    /// reverse). Nonces, deadline and errors as `depositRecoveryWithSig`.
    /// @return recoveryId Sequence number of this recovery.
    function depositFinalRecoveryWithSig(DepositIntent calldata intent, bytes calldata signature)
        external
        returns (uint256 recoveryId);

    /// @notice Adds `amount` to the cash reserve, pulled from the caller, which must be the issuer treasury
    /// fixed at creation (ReserveCallerNotIssuerTreasury): no one else can move its money or fund in its
    /// name. Before the offering closes and at any time after, until resolution (PortfolioAlreadyResolved).
    /// Reverts with ReserveNotConfigured without a reserve target, ReserveAmountZero, EnforcedPause.
    /// The reserve's cash stays in this Portfolio, accounted apart from `undistributed`: only recoveries
    /// release, draw or replenish it (spec v2) and `sweepUndistributed` never touches it.
    function fundReserve(uint256 amount) external;

    /// @notice The servicer proposes to resolve the portfolio (its own call only, RecoveryCallerNotServicer;
    /// after the offering closed, RecoveryBeforeClose): its final recovery becomes possible `resolutionDelay`
    /// seconds from now unless the guardian vetoes. Reverts with ResolutionAlreadyProposed while one is pending,
    /// PortfolioAlreadyResolved, EnforcedPause.
    function proposeResolution() external;

    /// @notice Same as `proposeResolution()`, relayed by anyone with the servicer's EIP-712 signature of
    /// `ResolutionIntent(nonce, deadline)` on this Portfolio's domain: the platform can relay the servicer's
    /// proposal, never make one. Nonces (shared with the servicer's deposit intents and `invalidateNonce`),
    /// deadline and errors as `depositRecoveryWithSig`.
    function proposeResolutionWithSig(uint256 nonce, uint256 deadline, bytes calldata signature) external;

    /// @notice The guardian vetoes the pending resolution (GUARDIAN_ROLE only; ResolutionNotProposed when none
    /// is pending); the servicer may propose again later. Moves no money; available while paused.
    function vetoResolution() external;

    /// @notice Sends every undistributed unit to `sweepRecipient()`, fixed at creation. DEFAULT_ADMIN_ROLE
    /// only (a TimelockController in production, so a sweep waits out its delay). Reverts with EnforcedPause
    /// while the portfolio is paused: it moves money out of the portfolio, which waits while the guardian
    /// investigates. Reverts with PortfolioNothingToSweep when nothing is held.
    /// @dev Undistributed funds exist only while the residual tranche has no holders.
    function sweepUndistributed() external;

    // ------------------------------------------------------------------ documents and pause

    /// @notice Anchors a new version of the document root and loan-tape hash. ISSUER_ROLE only.
    /// @return version The new version number.
    function updateDocuments(bytes32 documentRoot, bytes32 loanTapeHash) external returns (uint256 version);

    /// @notice Pauses purchases, the offering's close, recoveries, the undistributed sweep and every tranche
    /// token. GUARDIAN_ROLE only. Nonce invalidations stay available (a holder can still cancel an intent).
    /// Distributor claims are not paused: holders' claims on money already distributed must not depend on
    /// the issuer's portfolio; the Distributor has its own guardian pause for an incident in the distributor.
    function pause() external;

    /// @notice Lifts the pause of the portfolio and of every tranche token (of a resolved portfolio the tokens
    /// stay paused for good). GUARDIAN_ROLE only.
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice Nonce value emitted by `buy` (direct purchases have no intent).
    function DIRECT_PURCHASE_NONCE() external view returns (uint256);

    /// @notice EIP-712 type hash of `PurchaseIntent`.
    function PURCHASE_INTENT_TYPEHASH() external view returns (bytes32);

    /// @notice EIP-712 type hash of `NonceInvalidation(address account,uint256 nonce,uint256 deadline)`.
    function NONCE_INVALIDATION_TYPEHASH() external view returns (bytes32);

    /// @notice EIP-712 type hash of
    /// `DepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)`.
    function DEPOSIT_INTENT_TYPEHASH() external view returns (bytes32);

    /// @notice EIP-712 type hash of
    /// `FinalDepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)`.
    function FINAL_DEPOSIT_INTENT_TYPEHASH() external view returns (bytes32);

    /// @notice EIP-712 type hash of `ResolutionIntent(uint256 nonce,uint256 deadline)`.
    function RESOLUTION_INTENT_TYPEHASH() external view returns (bytes32);

    /// @notice Role of the issuer.
    function ISSUER_ROLE() external view returns (bytes32);

    /// @notice Role of the guardian.
    function GUARDIAN_ROLE() external view returns (bytes32);

    /// @notice Portfolio-wide terms and state.
    function terms() external view returns (Terms memory);

    /// @notice Number of tranches (the last is the residual tranche).
    function trancheCount() external view returns (uint256);

    /// @notice Token of tranche `trancheId`.
    function trancheToken(uint256 trancheId) external view returns (address);

    /// @notice Static terms of tranche `trancheId`.
    function trancheTerms(uint256 trancheId) external view returns (TrancheTerms memory);

    /// @notice State of tranche `trancheId`: outstanding principal (after close; the residual tranche keeps
    /// its sold face), interest arrears, sold face (pay units) and everything paid to it so far.
    function trancheState(uint256 trancheId)
        external
        view
        returns (uint256 outstanding, uint256 arrears, uint256 sold, uint256 paidToDate);

    /// @notice Current document version, root and loan-tape hash.
    function documents() external view returns (uint256 version, bytes32 documentRoot, bytes32 loanTapeHash);

    /// @notice Whether `buyer` used `nonce` (in a `buyWithSig`, or as the servicer in a
    /// `depositRecoveryWithSig`) or cancelled it.
    function nonceUsed(address buyer, uint256 nonce) external view returns (bool);

    /// @notice Number of recoveries so far (the id of the last one).
    function recoveryCount() external view returns (uint256);

    /// @notice Whether a recovery with this non-zero report hash was deposited (always false for zero).
    function reportDeposited(bytes32 reportHash) external view returns (bool);

    /// @notice Pay units held here because the residual tranche had no holders.
    function undistributed() external view returns (uint256);

    /// @notice Spec-v2 terms fixed at creation: the reserve target, the trigger's collection ratio and business
    /// plan, and the resolution delay (seconds).
    function riskTerms()
        external
        view
        returns (
            uint256 reserveTargetBps,
            uint256 collectionRatioBps,
            BusinessPlanPoint[] memory businessPlan,
            uint256 resolutionDelay
        );

    /// @notice The cash reserve: its current `balance` and everything the issuer treasury `funded` so far.
    function reserve() external view returns (uint256 balance, uint256 funded);

    /// @notice Gross collections so far (every recovery's amount).
    function collected() external view returns (uint256);

    /// @notice The pending resolution's `executableAt` (0 when none is pending) and whether the portfolio is
    /// resolved.
    function resolution() external view returns (uint256 executableAt, bool resolved);

    /// @notice Where `sweepUndistributed` sends undistributed funds; fixed at creation.
    function sweepRecipient() external view returns (address);
}
