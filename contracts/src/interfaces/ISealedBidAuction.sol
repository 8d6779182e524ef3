// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAuctionMinter
/// @notice What a SealedBidAuction calls to deliver a winner's tranche tokens: the Portfolio (later) or, in
/// tests, a mock that owns a TrancheToken. The auction holds no tranche tokens itself.
interface IAuctionMinter {
    /// @notice Mints `amount` tranche-token base units to `to`. Must revert when it cannot deliver (token
    /// paused, `to` not allowed by compliance): the auction then refunds that winner in full.
    /// @dev The minter must accept calls only from the auctions it trusts.
    function mintAuctioned(address to, uint256 amount) external;
}

/// @title ISealedBidAuction
/// @notice Sealed-bid, uniform-price primary sale of one tranche. Phases: bidding (commitments with a
/// deposit), revealing (bids opened), settling (the issuer's reserve opened, the clearing price found in bounded
/// steps), then settled or failed; claims (pull, anyone may call for any bidder) move tokens and refunds.
/// @dev Units: `amount` and `supply` are tranche-token base units (18 decimals), whole multiples of
/// `scale = 10 ** (18 - payDecimals)` (one pay unit of face); prices are basis points of par; a bid of `amount`
/// at `priceBps` costs `ceil(amount / scale * priceBps / 10_000)` pay-token base units, as `Portfolio.quote`.
/// Commitment of a bid: `keccak256(abi.encode(auction, bidder, amount, priceBps, salt))`; of the reserve:
/// `keccak256(abi.encode(auction, reservePriceBps, salt))` (`reserveCommitment == 0`: no reserve).
/// Policies: one commitment per bidder (a second one is refused, never replaced); bids are revealed by anyone
/// holding the preimage (so a relayer can reveal), and a reveal that does not match, is out of terms or is not
/// covered by the deposit reverts (the bid stays unrevealed). Clearing price: the highest revealed price at
/// which the demand at or above it covers the supply, or the lowest revealed price when all revealed demand
/// falls short (everyone revealed is then filled in full). Bids above it are filled in full, bids at it pro
/// rata, every winner pays the clearing price. Failure (every deposit refunded in full, no penalty): no bid
/// revealed, the reserve not revealed within `RESERVE_REVEAL_SECONDS` after the reveal window, or the clearing
/// price below the reserve. A failed auction sells nothing: the tranche can then be offered at a fixed price.
interface ISealedBidAuction {
    /// @notice Where the auction is; see `phase()`.
    enum Phase {
        Bidding,
        Revealing,
        Settling,
        Settled,
        Failed
    }

    /// @notice Everything `initialize` needs. Times are unix seconds, windows inclusive of their end.
    /// @param payToken Deposits and payments (ERC-20 with ERC-2612 permit, at most 18 decimals).
    /// @param token The tranche token sold (for reads; tokens are delivered by `minter`).
    /// @param minter Delivers a winner's tokens (`IAuctionMinter.mintAuctioned`).
    /// @param registry Compliance registry: a bidder must be allowed to commit and to receive tokens.
    /// @param issuerTreasury Receives the proceeds and the penalties (`withdrawProceeds`).
    /// @param supply Tranche-token base units for sale (a non-zero multiple of `scale`, below 2^128 units).
    /// @param minAmount Smallest bid amount (a non-zero multiple of `scale`, at most `supply`): with
    /// `minPriceBps` and `penalty` it sets the smallest deposit, which bounds how many bids a griefer can afford.
    /// @param minPriceBps Lowest price a bid may reveal (non-zero).
    /// @param penalty Pay-token base units an unrevealed commitment forfeits to the issuer; every deposit covers it.
    /// @param bidEnd Last second of bidding (bidding opens at initialization).
    /// @param revealEnd Last second of the reveal window (after `bidEnd`); it moves with `bidEnd`.
    /// @param antiSnipingSeconds A commitment less than this before `bidEnd` moves `bidEnd` to this long after
    /// it (0: no extension).
    /// @param maxBidEnd The latest `bidEnd` any extension may reach (at least `bidEnd`).
    /// @param reserveCommitment The issuer's hidden reserve price (0: no reserve).
    struct InitParams {
        address payToken;
        address token;
        address minter;
        address registry;
        address issuerTreasury;
        uint256 supply;
        uint256 minAmount;
        uint16 minPriceBps;
        uint256 penalty;
        uint64 bidEnd;
        uint64 revealEnd;
        uint32 antiSnipingSeconds;
        uint64 maxBidEnd;
        bytes32 reserveCommitment;
    }

    /// @notice A bidder's signed commitment, relayed by anyone through `commitWithSig` (EIP-712 on the
    /// auction's domain, name "NPL Sealed-Bid Auction", version "1"). Single use by construction: one
    /// commitment per bidder.
    struct BidIntent {
        address bidder;
        bytes32 commitment;
        uint256 deposit;
        uint256 deadline;
    }

    /// @notice An ERC-2612 permit of the pay token from the bidder to this auction; `deadline == 0` skips it.
    struct PermitData {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice One bidder's bid. `amount` and `priceBps` are 0 until revealed.
    struct BidView {
        bytes32 commitment;
        uint256 deposit;
        uint256 amount;
        uint16 priceBps;
        bool revealed;
        bool claimed;
    }

    /// @notice The outcome. Before settlement only `reserveRevealed` / `reservePriceBps` may be set.
    /// @param clearingPriceBps The uniform price every winner pays (0 unless settled).
    /// @param allocated Tranche-token base units won (at most `supply`); a winner refused at claim (compliance,
    /// pause) is refunded and its part stays unsold, so what is minted is `sold`.
    /// @param sold Tranche-token base units minted to winners by claims so far.
    /// @param proceeds Pay units owed to or paid to the issuer treasury so far (payments and penalties).
    /// @param settledAt When the auction settled or failed (0 before).
    struct Outcome {
        Phase phase;
        uint64 settledAt;
        bool reserveRevealed;
        uint16 reservePriceBps;
        uint16 clearingPriceBps;
        uint256 allocated;
        uint256 sold;
        uint256 proceeds;
        uint256 proceedsWithdrawn;
    }

    // ------------------------------------------------------------------ events

    /// @notice The auction was initialized with these terms.
    event AuctionInitialized(address indexed token, uint256 supply, uint64 bidEnd, uint64 revealEnd);

    /// @notice `bidder` committed `commitment` with `deposit` pay units.
    event BidCommitted(address indexed bidder, bytes32 commitment, uint256 deposit);

    /// @notice A late commitment extended bidding to `bidEnd` and revealing to `revealEnd`.
    event BiddingExtended(uint64 bidEnd, uint64 revealEnd);

    /// @notice `bidder`'s bid was revealed: `amount` token base units at `priceBps`.
    event BidRevealed(address indexed bidder, uint256 amount, uint16 priceBps);

    /// @notice The issuer's reserve price was revealed.
    event ReserveRevealed(uint16 reservePriceBps);

    /// @notice The clearing walk advanced without finishing (call `settle` again).
    event SettlementProgress(uint256 nextPriceBound);

    /// @notice The auction cleared at `clearingPriceBps`, allocating `allocated` token base units.
    event AuctionSettled(uint16 clearingPriceBps, uint256 allocated);

    /// @notice The auction failed: every deposit is refunded in full.
    event AuctionFailed();

    /// @notice `bidder`'s bid was closed: `amount` tokens delivered for `cost`, `refund` returned, `penalty`
    /// forfeited to the issuer.
    event BidClaimed(address indexed bidder, uint256 amount, uint256 cost, uint256 refund, uint256 penalty);

    /// @notice A winner's allocation could not be delivered (not allowed by compliance, token paused, minter
    /// reverted): it was refunded in full and `amount` stays unsold. Taken by the winner's own claim, or by
    /// anyone's from `DELIVERY_GRACE_SECONDS` after settlement.
    event AllocationRefused(address indexed bidder, uint256 amount);

    /// @notice `amount` of proceeds went to the issuer treasury.
    event ProceedsWithdrawn(address indexed to, uint256 amount);

    // ------------------------------------------------------------------ errors

    /// @notice A required address in the parameters is zero.
    error AuctionZeroAddress();

    /// @notice The parameters are not valid (supply, minimum amount, minimum price, windows, penalty).
    error AuctionParamsInvalid();

    /// @notice The pay token has more than 18 decimals.
    error AuctionPayTokenDecimalsInvalid(uint8 decimals);

    /// @notice Bidding closed at `bidEnd`.
    error AuctionBiddingClosed(uint256 bidEnd);

    /// @notice The commitment is zero.
    error AuctionCommitmentZero();

    /// @notice `bidder` already committed: a second commitment is refused (never replaces the first).
    error AuctionAlreadyCommitted(address bidder);

    /// @notice The deposit is below `required` (at commitment: the smallest deposit; at reveal: the bid's cost).
    error AuctionDepositTooLow(uint256 deposit, uint256 required);

    /// @notice `bidder` is not allowed by the compliance registry.
    error AuctionBidderNotAllowed(address bidder);

    /// @notice The bid intent expired at `deadline`.
    error AuctionIntentExpired(uint256 deadline);

    /// @notice The signature is not `bidder`'s (EOA or ERC-1271) over the intent.
    error AuctionIntentSignatureInvalid(address bidder);

    /// @notice Reveals are accepted only after `bidEnd` and up to `revealEnd` (inclusive).
    error AuctionNotRevealing(uint256 bidEnd, uint256 revealEnd);

    /// @notice `bidder` has no commitment.
    error AuctionNoCommitment(address bidder);

    /// @notice `bidder`'s bid is already revealed.
    error AuctionAlreadyRevealed(address bidder);

    /// @notice The revealed values do not hash to the commitment (another amount, price or salt).
    error AuctionRevealMismatch(address bidder);

    /// @notice The revealed bid is out of terms: amount below the minimum, above the supply or not a multiple of
    /// `scale`, or price below the minimum or above 65 535.
    error AuctionBidInvalid(uint256 amount, uint256 priceBps);

    /// @notice There is no reserve commitment, or it was already revealed.
    error AuctionNoReserveToReveal();

    /// @notice The reserve preimage does not match the reserve commitment.
    error AuctionReserveMismatch();

    /// @notice The reserve may be revealed only after `revealEnd`, up to `deadline` (`revealEnd +
    /// RESERVE_REVEAL_SECONDS`, inclusive).
    error AuctionReserveNotRevealable(uint256 revealEnd, uint256 deadline);

    /// @notice The reveal window is not over: settlement starts after `revealEnd`.
    error AuctionRevealNotOver(uint256 revealEnd);

    /// @notice The reserve is not revealed yet; settlement without it fails only after `deadline`.
    error AuctionReserveNotRevealed(uint256 deadline);

    /// @notice The auction is already settled or failed.
    error AuctionAlreadySettled();

    /// @notice `maxSteps` is zero.
    error AuctionStepsZero();

    /// @notice Claims start once the auction is settled or failed.
    error AuctionNotSettled();

    /// @notice `bidder`'s bid was already claimed.
    error AuctionAlreadyClaimed(address bidder);

    /// @notice `bidder`'s tokens cannot be delivered now, and before `refundableFrom` only `bidder` itself may
    /// take the full refund instead (anyone may retry the claim, or take the refund for it from then).
    error AuctionDeliveryDeferred(address bidder, uint256 refundableFrom);

    /// @notice There are no proceeds to withdraw.
    error AuctionNothingToWithdraw();

    /// @notice The minter ran out of the gas the claim gave it: retry with more gas.
    error AuctionClaimOutOfGas();

    // ------------------------------------------------------------------ functions

    /// @notice Initializes a clone once. Deploy the clone and call this in the same transaction (the factory
    /// does): the implementation itself cannot be initialized.
    function initialize(InitParams calldata params) external;

    /// @notice Commits `commitment` for the caller with `deposit` pay units (pulled; approve first).
    function commit(bytes32 commitment, uint256 deposit) external;

    /// @notice Commits a bidder's signed intent (gasless for the bidder), after an optional ERC-2612 permit.
    function commitWithSig(BidIntent calldata intent, bytes calldata signature, PermitData calldata permit)
        external;

    /// @notice Reveals `bidder`'s bid. Anyone holding the preimage may call it.
    function reveal(address bidder, uint256 amount, uint256 priceBps, bytes32 salt) external;

    /// @notice Reveals the issuer's reserve price (anyone holding the preimage), after the reveal window and
    /// within `RESERVE_REVEAL_SECONDS` of its end; once that passed without it, `settle` fails the auction.
    function revealReserve(uint256 reservePriceBps, bytes32 salt) external;

    /// @notice Advances settlement by at most `maxSteps` steps (each reads one price level or one empty
    /// 256-level bitmap word: at most distinct revealed prices + 256 steps in all). Anyone may call it.
    /// @return done True once the auction is settled or failed.
    function settle(uint256 maxSteps) external returns (bool done);

    /// @notice Closes `bidder`'s bid: tokens (winners) and the rest of the deposit go to `bidder` only.
    /// Anyone may call it once the auction is settled or failed (see `AuctionDeliveryDeferred`).
    function claim(address bidder) external returns (uint256 amount, uint256 cost, uint256 refund);

    /// @notice Sends the proceeds owed so far to the issuer treasury. Anyone may call it.
    function withdrawProceeds() external returns (uint256 amount);

    /// @notice The current phase (time-based until settled or failed).
    function phase() external view returns (Phase);

    /// @notice The terms (`bidEnd` / `revealEnd` after any extension) and the pay-unit scale.
    function terms() external view returns (InitParams memory params, uint256 scale);

    /// @notice `bidder`'s bid.
    function bidOf(address bidder) external view returns (BidView memory);

    /// @notice The outcome so far.
    function outcome() external view returns (Outcome memory);

    /// @notice How `bidder`'s bid closes (before its claim; compliance at claim time may still refuse the
    /// tokens): tokens won, their cost, the refund and the penalty. All zero before settlement.
    function allocationOf(address bidder)
        external
        view
        returns (uint256 amount, uint256 cost, uint256 refund, uint256 penalty);

    /// @notice Number of commitments and of revealed bids.
    function counts() external view returns (uint256 commitments, uint256 reveals);

    /// @notice Revealed demand at `priceBps`, in token base units.
    function demandAt(uint256 priceBps) external view returns (uint256);

    /// @notice The commitment of a bid on this auction.
    function bidCommitment(address bidder, uint256 amount, uint256 priceBps, bytes32 salt)
        external
        view
        returns (bytes32);

    /// @notice The commitment of a reserve price on this auction.
    function reserveCommitmentOf(uint256 reservePriceBps, bytes32 salt) external view returns (bytes32);

    /// @notice The EIP-712 type hash of `BidIntent`.
    function BID_INTENT_TYPEHASH() external view returns (bytes32);

    /// @notice Seconds after `revealEnd` during which the reserve can be revealed (after them, without the
    /// reserve, settlement fails).
    function RESERVE_REVEAL_SECONDS() external view returns (uint256);

    /// @notice Seconds after settlement during which an undeliverable allocation is refunded only on the
    /// winner's own claim.
    function DELIVERY_GRACE_SECONDS() external view returns (uint256);
}
