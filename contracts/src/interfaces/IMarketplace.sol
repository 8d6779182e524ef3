// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMarketplace
/// @notice Secondary market for tranche tokens with EIP-712 signed sell orders (domain "NPL Marketplace",
/// version "1"). A fill is an atomic delivery-versus-payment straight between maker and taker: tranche
/// tokens go maker -> taker, the pay token goes taker -> maker minus the protocol fee, which goes to the
/// treasury. The marketplace never holds tokens; makers approve it for their tranche tokens, takers for the
/// pay token (or sign an ERC-2612 permit relayed with `fillWithSig`).
/// @dev Compliance is enforced by the tranche token on transfer (both parties): a fill with a party that is not
/// allowlisted (or frozen, or expired) reverts with the token's `TrancheTokenNotAllowed(account)`, bubbled up
/// unchanged. The marketplace does not repeat the registry check up front: it would add ~3.5k gas to every
/// fill (CONTRACTS.md made it conditional on the 110k fill target, which a first fill exceeds already).
/// @dev Warning: the order's `tranche` and `payToken` are whatever the maker signed; the marketplace does not
/// check that a tranche belongs to a listed portfolio. Takers (and the API's order book) must check it.
interface IMarketplace {
    /// @notice A sell order: `maker` sells `sellAmount` tranche-token base units for `price` pay-token base
    /// units in total. `taker == address(0)` lets anyone fill; `partialFill` allows fills of less than the
    /// remaining amount. Valid while `block.timestamp <= expiry`, not cancelled and `counter` equals the
    /// maker's current counter. `maxFeeBps` is the highest protocol fee the maker accepts: the fee is taken
    /// out of the maker's proceeds, so a fill while `feeBps() > maxFeeBps` reverts with OrderFeeAboveMax
    /// (the admin cannot raise the fee under an order already signed).
    /// @notice Dutch auction (optional, UniswapX's Dutch-order shape): with `decayEnd != 0` the order's total
    /// price falls linearly from `price * startPriceBps / 10000` at `decayStart` to `price * endPriceBps /
    /// 10000` at `decayEnd` (unix seconds); before `decayStart` it is the start price, from `decayEnd` on the
    /// end price. `decayEnd == 0` means no decay: the price is `price` and the other three decay fields are
    /// ignored (sign them as zero). A decaying order with `endPriceBps > startPriceBps`
    /// (OrderDecayPriceRises) or `decayEnd < decayStart` (OrderDecayEndsBeforeStart) cannot be filled.
    /// `decayStart == decayEnd` is a step from the start price to the end price at that second. See
    /// `priceAt` for the exact integer math.
    struct Order {
        address maker;
        address taker;
        address tranche;
        address payToken;
        uint256 sellAmount;
        uint256 price;
        uint256 expiry;
        uint256 salt;
        uint256 counter;
        bool partialFill;
        uint16 maxFeeBps;
        uint16 startPriceBps;
        uint16 endPriceBps;
        uint64 decayStart;
        uint64 decayEnd;
    }

    /// @notice A taker's signed instruction to fill up to `amount` of the order `orderHash` (what is left if
    /// less) for at most `maxCost`,
    /// relayed by anyone before `deadline`. Nonces are unordered (any unused nonce is valid once).
    struct FillIntent {
        bytes32 orderHash;
        address taker;
        uint256 amount;
        uint256 maxCost;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice An ERC-2612 permit of the pay token from the taker to this contract. `deadline == 0` means
    /// "no permit" (the taker approved beforehand).
    struct PermitData {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // ------------------------------------------------------------------ events

    /// @notice `amount` tranche tokens of `orderHash` went from `maker` to `taker` for `cost` pay-token units,
    /// of which `fee` went to the treasury. `nonce` is the nonce of the taker's fill intent that authorised
    /// the fill (`fillWithSig`), or `DIRECT_FILL_NONCE` for the taker's own `fill` (no intent may use it).
    event OrderFilled(
        bytes32 indexed orderHash,
        address indexed maker,
        address indexed taker,
        address tranche,
        uint256 amount,
        uint256 cost,
        uint256 fee,
        uint256 nonce
    );

    /// @notice The maker cancelled the order.
    event OrderCancelled(bytes32 indexed orderHash, address indexed maker);

    /// @notice `account` cancelled its fill-intent nonce `nonce` (its own call or its signed
    /// `NonceInvalidation`): no `fillWithSig` with that nonce can run any more.
    event IntentNonceInvalidated(address indexed account, uint256 nonce);

    /// @notice The maker bumped its counter: every order signed with a lower counter is void.
    event CounterIncremented(address indexed maker, uint256 newCounter);

    /// @notice The admin set the protocol fee.
    event FeeSet(uint256 feeBps);

    /// @notice The admin set the fee treasury.
    event TreasurySet(address treasury);

    /// @notice The guardian paused fills (same signature as OpenZeppelin Pausable).
    event Paused(address account);

    /// @notice The guardian resumed fills (same signature as OpenZeppelin Pausable).
    event Unpaused(address account);

    // ------------------------------------------------------------------ errors

    /// @notice The order expired at `expiry`.
    error OrderExpired(bytes32 orderHash, uint256 expiry);

    /// @notice The maker cancelled the order. (Named `OrderWasCancelled` because `OrderCancelled` is the event.)
    error OrderWasCancelled(bytes32 orderHash);

    /// @notice The order was signed with `counter` but the maker's counter is now `currentCounter`.
    error OrderCounterStale(bytes32 orderHash, uint256 counter, uint256 currentCounter);

    /// @notice Nothing is left of the order to fill (`remaining` is zero): a fill of more than what is left
    /// takes what is left, only a fill of a fully filled order reverts.
    error OrderOverfilled(bytes32 orderHash, uint256 amount, uint256 remaining);

    /// @notice The order must be filled in one go for its whole `sellAmount`.
    error OrderPartialFillNotAllowed(bytes32 orderHash, uint256 amount, uint256 sellAmount);

    /// @notice A fill of zero tokens.
    error OrderAmountZero(bytes32 orderHash);

    /// @notice The protocol fee is now `feeBps`, above the `maxFeeBps` the maker signed in the order.
    /// @param orderHash The order.
    /// @param feeBps The current protocol fee.
    /// @param maxFeeBps The highest fee the order accepts.
    error OrderFeeAboveMax(bytes32 orderHash, uint256 feeBps, uint256 maxFeeBps);

    /// @notice The maker's signature does not match the order.
    error OrderSignatureInvalid(bytes32 orderHash, address maker);

    /// @notice The order is reserved for `taker`.
    error OrderTakerMismatch(bytes32 orderHash, address taker);

    /// @notice Only the maker may cancel its order.
    error OrderCallerNotMaker(bytes32 orderHash, address caller);

    /// @notice The fill intent (or the nonce invalidation) expired at `deadline`.
    error IntentExpired(uint256 deadline);

    /// @notice The taker already used (or cancelled) `nonce`.
    error IntentNonceUsed(address taker, uint256 nonce);

    /// @notice `nonce` is `DIRECT_FILL_NONCE`, the value `OrderFilled` carries for a direct `fill`: a fill
    /// intent signed with it would emit an `OrderFilled` indistinguishable from a direct fill.
    /// @param taker The intent's taker.
    /// @param nonce The reserved nonce (`type(uint256).max`).
    error IntentNonceReserved(address taker, uint256 nonce);

    /// @notice The taker's signature (EOA or ERC-1271) does not match the intent (or the nonce invalidation).
    error IntentSignatureInvalid(address taker);

    /// @notice The intent names another order than the one given.
    error IntentOrderMismatch(bytes32 intentOrderHash, bytes32 orderHash);

    /// @notice The fill costs `cost`, more than the intent's `maxCost`.
    error IntentCostExceedsMax(uint256 cost, uint256 maxCost);

    /// @notice A Dutch order whose end price is above its start price (a decay must not rise).
    error OrderDecayPriceRises(uint256 startPriceBps, uint256 endPriceBps);

    /// @notice A Dutch order whose decay ends before it starts.
    error OrderDecayEndsBeforeStart(uint256 decayStart, uint256 decayEnd);

    /// @notice Fills are paused.
    error MarketplacePaused();

    /// @notice `pause` while paused or `unpause` while not paused.
    error MarketplacePauseUnchanged(bool paused);

    /// @notice The fee exceeds `MAX_FEE_BPS`.
    error MarketplaceFeeTooHigh(uint256 feeBps, uint256 maxFeeBps);

    /// @notice A required address is zero.
    error MarketplaceZeroAddress();

    // ------------------------------------------------------------------ trading

    /// @notice Fills up to `amount` of `order` with msg.sender as taker: takes `taken = min(amount, remaining)`
    /// (a fill of more than what is left takes what is left, so a front-running fill of 1 wei cannot make a
    /// fill of the whole remainder revert), pays `cost = ceil(priceAt(order, block.timestamp) * taken /
    /// sellAmount)` (the order's `price` unless it decays; fee =
    /// floor(cost * feeBps / 10000) to the treasury, the rest to the maker) and receives `taken` tranche
    /// tokens from the maker; `OrderFilled` reports `taken` and the nonce `DIRECT_FILL_NONCE`. Reverts with
    /// OrderOverfilled when nothing is left, OrderFeeAboveMax when the current fee exceeds `order.maxFeeBps`.
    /// An all-or-nothing order (`partialFill == false`) is never cut: `amount` must equal its `sellAmount`
    /// (else OrderPartialFillNotAllowed) and it fills whole once, any later fill reverts with OrderOverfilled.
    /// @return cost The pay-token amount the taker paid (fee included).
    function fill(Order calldata order, bytes calldata makerSignature, uint256 amount) external returns (uint256 cost);

    /// @notice Relayed fill: like `fill`, with the taker authorizing through a signed `FillIntent` and
    /// optionally an ERC-2612 permit of the pay token. It takes `min(intent.amount, remaining)`, and the cost
    /// of what is taken must not exceed `intent.maxCost` (else IntentCostExceedsMax). The permit is tried and
    /// its failure ignored (a front-run permit already set the allowance); the fill then fails only if the
    /// allowance is too low. `OrderFilled` carries `intent.nonce`; an intent with nonce `DIRECT_FILL_NONCE`
    /// reverts with IntentNonceReserved, a used or cancelled nonce with IntentNonceUsed.
    /// @return cost The pay-token amount the taker paid (fee included).
    function fillWithSig(
        Order calldata order,
        bytes calldata makerSignature,
        FillIntent calldata intent,
        bytes calldata takerSignature,
        PermitData calldata permit
    ) external returns (uint256 cost);

    /// @notice Cancels `order` for good. Only its maker.
    function cancel(Order calldata order) external;

    /// @notice Cancels msg.sender's fill-intent nonce `nonce`: a signed intent with it can no longer be relayed.
    /// Available while paused. Reverts with IntentNonceUsed if the nonce is already used or cancelled.
    function invalidateNonce(uint256 nonce) external;

    /// @notice Same as `invalidateNonce` for `account`, relayed by anyone with `account`'s EIP-712 signature
    /// (EOA or ERC-1271) of `NonceInvalidation(account, nonce, deadline)` on this marketplace's domain.
    /// Reverts with IntentExpired after `deadline`, IntentNonceUsed if already used, IntentSignatureInvalid.
    function invalidateNonceWithSig(address account, uint256 nonce, uint256 deadline, bytes calldata signature)
        external;

    /// @notice Voids every order of msg.sender signed with the current counter.
    /// @return newCounter The counter new orders must carry.
    function incrementCounter() external returns (uint256 newCounter);

    // ------------------------------------------------------------------ admin and guardian

    /// @notice Admin sets the protocol fee (<= MAX_FEE_BPS), applied to later fills of orders whose
    /// `maxFeeBps` is at least the new fee; fills of the others revert with OrderFeeAboveMax.
    function setFeeBps(uint16 feeBps) external;

    /// @notice Admin sets the fee treasury.
    function setTreasury(address treasury) external;

    /// @notice Guardian pauses fills (cancel and incrementCounter stay available).
    function pause() external;

    /// @notice Guardian resumes fills.
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice The maximum protocol fee (100 bps = 1%).
    function MAX_FEE_BPS() external view returns (uint16);

    /// @notice Role allowed to pause.
    function GUARDIAN_ROLE() external view returns (bytes32);

    /// @notice EIP-712 type hash of `Order`.
    function ORDER_TYPEHASH() external view returns (bytes32);

    /// @notice EIP-712 type hash of `FillIntent`.
    function FILL_INTENT_TYPEHASH() external view returns (bytes32);

    /// @notice EIP-712 type hash of `NonceInvalidation(address account,uint256 nonce,uint256 deadline)`.
    function NONCE_INVALIDATION_TYPEHASH() external view returns (bytes32);

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice The EIP-712 digest the maker signs for `order`; also the order's id (`orderHash`).
    function hashOrder(Order calldata order) external view returns (bytes32);

    /// @notice The EIP-712 digest the taker signs for `intent`.
    function hashFillIntent(FillIntent calldata intent) external view returns (bytes32);

    /// @notice Tranche-token amount of `orderHash` filled so far.
    function filled(bytes32 orderHash) external view returns (uint256);

    /// @notice Whether `orderHash` was cancelled.
    function cancelled(bytes32 orderHash) external view returns (bool);

    /// @notice The counter new orders of `maker` must carry.
    function counter(address maker) external view returns (uint256);

    /// @notice Whether `taker` already used `nonce` in a fill intent or cancelled it.
    function nonceUsed(address taker, uint256 nonce) external view returns (bool);

    /// @notice Word `wordIndex` of `account`'s nonce bitmap: bit `i` is set when nonce `wordIndex * 256 + i`
    /// was used or cancelled. Nonces counted up from any start share words (a fresh word costs a
    /// zero-to-nonzero write once per 256 intents); any unused nonce stays valid in any order.
    function nonceBitmap(address account, uint256 wordIndex) external view returns (uint256);

    /// @notice The nonce `OrderFilled` carries for a direct `fill` (`type(uint256).max`); reserved: no fill
    /// intent may use it.
    function DIRECT_FILL_NONCE() external view returns (uint256);

    /// @notice The order's total price (pay-token base units for its whole `sellAmount`) at unix time
    /// `timestamp`: `price` without decay (`decayEnd == 0`); for a Dutch order
    /// `ceil(price * bps / 10000)` with `bps = startPriceBps` until `decayStart`, `endPriceBps` from `decayEnd`
    /// on, and in between `ceil(price * (startPriceBps * (decayEnd - t) + endPriceBps * (t - decayStart)) /
    /// (10000 * (decayEnd - decayStart)))` computed exactly (one 512-bit mulDiv). Every rounding is up,
    /// toward the maker, as the cost of a fill is. Reverts OrderDecayPriceRises / OrderDecayEndsBeforeStart
    /// for an invalid decay.
    function priceAt(Order calldata order, uint256 timestamp) external pure returns (uint256);

    /// @notice Cost and fee of filling `amount` of `order` at the current fee and price (`block.timestamp`;
    /// whether or not the fee is within the order's `maxFeeBps`).
    function quote(Order calldata order, uint256 amount) external view returns (uint256 cost, uint256 fee);

    /// @notice The protocol fee in basis points.
    function feeBps() external view returns (uint16);

    /// @notice Receiver of the protocol fee.
    function treasury() external view returns (address);

    /// @notice Whether fills are paused.
    function paused() external view returns (bool);
}
