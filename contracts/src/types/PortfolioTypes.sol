// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../libraries/WaterfallLib.sol";

/// @notice Terms of one tranche at creation. Tranches are listed in seniority order (index 0 most senior);
/// the last one is the residual tranche (its `couponBps` must be 0).
/// @param name ERC-20 name of the tranche token (also its ERC-2612 domain name).
/// @param symbol ERC-20 symbol of the tranche token.
/// @param face Face value in pay-token base units; the offering caps minted supply at `face * scale`.
/// @param couponBps Yearly simple-interest coupon on outstanding principal (debt tranches only; at most 10 000).
/// @param priceBps Offering price as basis points of par (10_000 = par).
struct TrancheConfig {
    string name;
    string symbol;
    uint256 face;
    uint16 couponBps;
    uint16 priceBps;
}

/// @notice The cash reserve of spec v2: `targetBps` of the senior tranche's outstanding principal (at most
/// 10 000; 0 = no reserve, and `Portfolio.fundReserve` then reverts). The reserve itself is funded by the issuer
/// treasury (`Portfolio.fundReserve`), before the offering closes and at any time after.
struct ReserveTerms {
    uint16 targetBps;
}

/// @notice One business plan point: the issuer expects `cumulative` collections (pay-token base units) by
/// `atSeconds` seconds after the offering closed.
struct BusinessPlanPoint {
    uint64 atSeconds;
    uint192 cumulative;
}

/// @notice The subordination trigger of spec v2: breached while collections so far, times 10 000, are below
/// `collectionRatioBps` times the business plan's cumulative at the current clock. `collectionRatioBps == 0`
/// with an empty plan: no trigger. At most `WaterfallLib.MAX_PLAN_POINTS` points, strictly increasing
/// `atSeconds`, non-decreasing `cumulative` (`WaterfallLib.checkTerms`).
struct TriggerTerms {
    uint16 collectionRatioBps;
    BusinessPlanPoint[] businessPlan;
}

/// @notice Everything `PortfolioFactory.createPortfolio` needs to deploy and initialize one portfolio.
/// @param admin DEFAULT_ADMIN_ROLE of the Portfolio and of its Distributor.
/// @param issuer ISSUER_ROLE (documents, early close of the offering).
/// @param issuerTreasury Receives the offering proceeds.
/// @param servicer The only account whose money recoveries move (its own `depositRecovery` call or its signed
/// `DepositIntent`) and the receiver of the servicer fee; fixed for the portfolio's life.
/// @param guardian GUARDIAN_ROLE of the Portfolio (pause) and of the Distributor (revoke root, pause).
/// @param protocolTreasury Receives the protocol fee (reserve / insurance fund).
/// @param payToken The stablecoin (ERC-20 with ERC-2612 permit, at most 18 decimals).
/// @param registry The compliance registry (IComplianceRegistry).
/// @param rootProposer ROOT_PROPOSER_ROLE of the Distributor (no role on the Portfolio).
/// @param timelockDelay Seconds between a proposed and an accepted Distributor root.
/// @param servicerFeeBps Servicer fee on every recovery; `servicerFeeBps + protocolFeeBps <= 10_000`.
/// @param protocolFeeBps Protocol fee on every recovery.
/// @param mode Waterfall mode (0 = interestFirst, 1 = sequential).
/// @param offeringStart First second (inclusive) purchases are accepted.
/// @param offeringEnd Last second (inclusive) purchases are accepted.
/// @param documentRoot Merkle root of the portfolio's documents (version 1).
/// @param loanTapeHash Hash of the loan tape (version 1).
/// @param tranches Tranche terms in seniority order; the last is the residual tranche.
/// @param sweepRecipient The only destination of `Portfolio.sweepUndistributed`; non-zero, fixed for the
/// portfolio's life.
/// @param reserve The cash reserve's target (spec v2); `{0}`: no reserve.
/// @param trigger The collection-ratio trigger over the business plan (spec v2); `{0, []}`: no trigger.
/// @param resolutionDelay Seconds between the servicer's `proposeResolution` and the earliest final recovery,
/// during which the guardian may veto; at least the Distributor's `timelockDelay` at creation.
/// @param salt Chosen by the creator: with the creator and the hash of all the parameters (this one included)
/// it makes the CREATE2 salt of the clones, so the same terms can be listed twice (another salt) and an
/// address always stands for one creator and one set of parameters.
struct CreateParams {
    address admin;
    address issuer;
    address issuerTreasury;
    address servicer;
    address guardian;
    address protocolTreasury;
    address payToken;
    address registry;
    address rootProposer;
    uint256 timelockDelay;
    uint16 servicerFeeBps;
    uint16 protocolFeeBps;
    WaterfallLib.Mode mode;
    uint64 offeringStart;
    uint64 offeringEnd;
    bytes32 documentRoot;
    bytes32 loanTapeHash;
    TrancheConfig[] tranches;
    address sweepRecipient;
    ReserveTerms reserve;
    TriggerTerms trigger;
    uint32 resolutionDelay;
    bytes32 salt;
}
