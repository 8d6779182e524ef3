// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDistributor
/// @notice Cumulative Merkle distributor (Morpho URD pattern) paying one portfolio's pay token to the
/// holders of all its tranches. Each accepted root commits to one `cumulativeAmount` per account: the total
/// ever owed to it. A claim pays `cumulativeAmount - claimed[account]` to the account, so roots only have to
/// grow and a missed distribution is caught up by the next one.
/// @dev Leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount)))): the OpenZeppelin
/// StandardMerkleTree leaf of ["address","uint256"]; internal nodes hash the sorted pair.
/// Roots go through a timelock: `proposeRoot` -> (timelockDelay) -> `acceptRoot`; the guardian can revoke a
/// pending root and pause claims. The timelock can never go below `MIN_TIMELOCK_DELAY`, fixed when the
/// implementation is deployed (every clone shares it), and a change of it waits out the delay in force
/// (`proposeTimelockDelay` -> (timelockDelay) -> `acceptTimelockDelay`), so holders always see a shorter
/// delay coming at least one full current delay ahead.
/// @dev Compliance policy: only accounts the portfolio's ComplianceRegistry allows (`isAllowed`: allowlisted,
/// not expired, not frozen) are paid. The payouts of a frozen, revoked or expired holder stay in the
/// Distributor, owed to that holder under every later root (cumulative amounts), and are claimable the moment
/// the registry allows the holder again: `claim` reverts with `DistributorAccountNotAllowed`, `claimMany`
/// skips the holder (`ClaimSkipped`, reason `NotAllowed`) instead of reverting the batch. Likewise a pay-token
/// transfer that fails for one holder in `claimMany` (a token blacklist, a paused token) rolls that holder's
/// claim back (`ClaimSkipped`, reason `TransferFailed`): it stays claimable, and the batch pays the others.
/// Nobody, the admin included, can redirect a holder's payout: the pay token only ever leaves to the leaf's
/// account (and `recoverToken` cannot move the pay token).
interface IDistributor {
    /// @notice Why `claimMany` did not pay an entry (see `ClaimSkipped`).
    enum SkipReason {
        /// The portfolio's ComplianceRegistry does not allow the account (frozen, revoked or expired).
        NotAllowed,
        /// The pay-token transfer to the account reverted or returned false; the claim was rolled back.
        TransferFailed
    }

    /// @notice The pending (proposed, not yet accepted) root. `validAt == 0` means no root is pending.
    struct PendingRoot {
        bytes32 root;
        uint256 total;
        bytes32 treeHash;
        uint256 distributionId;
        uint256 validAt;
    }

    // ------------------------------------------------------------------ events

    /// @notice The portfolio funded the distributor with `amount`; `totalFunded` is the running total.
    event Funded(uint256 amount, uint256 totalFunded);

    /// @notice A root was proposed; it may be accepted from `validAt` on. Replaces any pending root.
    event RootProposed(
        bytes32 indexed root, uint256 total, bytes32 treeHash, uint256 indexed distributionId, uint256 validAt
    );

    /// @notice The guardian revoked the pending root, which had been proposed for `distributionId` (the id
    /// `RootProposed` carried), so an indexer can tell which distribution will not be paid by this root.
    event RootRevoked(bytes32 indexed root, uint256 indexed distributionId);

    /// @notice The pending root became the current root.
    event RootAccepted(bytes32 indexed root, uint256 total, bytes32 treeHash, uint256 indexed distributionId);

    /// @notice `amount` was paid to `account`, whose claimed total is now `cumulative`.
    event Claimed(address indexed account, uint256 amount, uint256 cumulative);

    /// @notice The root timelock in force is now `timelockDelay` (at initialization, and when a proposed
    /// change is accepted); roots proposed from now on wait that long.
    event TimelockDelaySet(uint256 timelockDelay);

    /// @notice The admin proposed to change the root timelock to `timelockDelay`; it can be accepted from
    /// `validAt` on (the proposal time plus the delay in force). Replaces any pending proposal.
    event TimelockDelayProposed(uint256 timelockDelay, uint256 validAt);

    /// @notice `by` (the admin or the guardian) cancelled the pending timelock change to `timelockDelay`.
    event TimelockDelayCancelled(uint256 timelockDelay, address by);

    /// @notice `claimMany` did not pay `account` the `amount` (= `cumulativeAmount - claimed[account]`) its
    /// leaf allows, for `reason`; nothing changed for the account, which can claim it later.
    event ClaimSkipped(address indexed account, uint256 amount, uint256 cumulativeAmount, SkipReason reason);

    /// @notice The admin sent `amount` of `token` (not the pay token) that was held here by mistake to `to`.
    event TokenRecovered(address indexed token, address indexed to, uint256 amount);

    /// @notice The guardian paused claims and root acceptance (same signature as OpenZeppelin Pausable).
    event Paused(address account);

    /// @notice The guardian resumed claims and root acceptance (same signature as OpenZeppelin Pausable).
    event Unpaused(address account);

    // ------------------------------------------------------------------ errors

    /// @notice `caller` is not the portfolio this distributor belongs to.
    error DistributorNotPortfolio(address caller);

    /// @notice A required address (portfolio, pay token, admin) is zero.
    error DistributorZeroAddress();

    /// @notice Proposed roots must not be zero.
    error DistributorRootZero();

    /// @notice The root's `total` is larger than what was funded so far.
    error DistributorRootExceedsFunded(uint256 total, uint256 totalFunded);

    /// @notice The root's `total` is smaller than the current root's total (cumulative amounts only grow).
    error DistributorRootTotalDecreased(uint256 total, uint256 currentTotal);

    /// @notice Paying this claim would take the total claimed (all accounts, all roots) to `claimedTotal`,
    /// above the current root's declared cumulative `rootTotal`: the tree's leaves sum to more than the
    /// root declared (a proposer bug), and the claims that come last are refused.
    error DistributorRootTotalExceeded(uint256 claimedTotal, uint256 rootTotal);

    /// @notice The root would leave `unclaimed` (its total minus the total claimed so far) to be paid, more
    /// than `max` (`MAX_ROOT_UNCLAIMED`, the packed counter's bound); propose a smaller step.
    error DistributorRootUnclaimedTooLarge(uint256 unclaimed, uint256 max);

    /// @notice There is no pending root to accept or revoke.
    error DistributorNoPendingRoot();

    /// @notice The pending root's timelock has not passed yet.
    error DistributorTimelockPending(uint256 validAt);

    /// @notice The proof does not show (`account`, `cumulativeAmount`) in the current root.
    error DistributorProofInvalid(address account, uint256 cumulativeAmount);

    /// @notice `account` already claimed `claimed` >= `cumulativeAmount`.
    error DistributorNothingToClaim(address account, uint256 cumulativeAmount, uint256 claimed);

    /// @notice `claimMany` arrays have different lengths.
    error DistributorLengthMismatch();

    /// @notice Claims and root acceptance are paused.
    error DistributorPaused();

    /// @notice `pause` while paused or `unpause` while not paused.
    error DistributorPauseUnchanged(bool paused);

    /// @notice A timelock of `delay` seconds is outside [`min`, `max`] (`MIN_TIMELOCK_DELAY`,
    /// `MAX_TIMELOCK_DELAY`); also the implementation's constructor when `min > max`.
    error DistributorTimelockDelayOutOfRange(uint256 delay, uint256 min, uint256 max);

    /// @notice There is no pending timelock change to accept or cancel.
    error DistributorNoPendingTimelockDelay();

    /// @notice The pending timelock change may be accepted from `validAt` on.
    error DistributorTimelockDelayPending(uint256 validAt);

    /// @notice The portfolio's ComplianceRegistry does not allow `account` (frozen, revoked or expired): its
    /// payout stays here until it is allowed again.
    error DistributorAccountNotAllowed(address account);

    /// @notice `recoverToken` cannot move the pay token (holders' money).
    error DistributorPayTokenNotRecoverable(address token);

    /// @notice The caller holds neither DEFAULT_ADMIN_ROLE nor GUARDIAN_ROLE.
    error DistributorNotAdminOrGuardian(address caller);

    // ------------------------------------------------------------------ setup

    /// @notice Initializes a minimal clone once (the implementation itself cannot be initialized).
    /// Reverts with `DistributorTimelockDelayOutOfRange` unless
    /// `MIN_TIMELOCK_DELAY <= timelockDelay <= MAX_TIMELOCK_DELAY`, and with `DistributorZeroAddress` for a zero
    /// portfolio, pay token, registry or admin.
    /// @param portfolio The only address allowed to `fund`.
    /// @param payToken The ERC-20 paid out (the portfolio's stablecoin).
    /// @param registry The portfolio's ComplianceRegistry: only accounts it allows are paid.
    /// @param admin Gets DEFAULT_ADMIN_ROLE (manages roles, proposes timelock changes, recovers stray tokens;
    /// in production a TimelockController).
    /// @param guardian Gets GUARDIAN_ROLE (revoke pending roots, pause, cancel timelock changes).
    /// @param rootProposer Gets ROOT_PROPOSER_ROLE (the worker key).
    /// @param timelockDelay Seconds between `proposeRoot` and the earliest `acceptRoot`.
    function initialize(
        address portfolio,
        address payToken,
        address registry,
        address admin,
        address guardian,
        address rootProposer,
        uint256 timelockDelay
    ) external;

    // ------------------------------------------------------------------ funding and roots

    /// @notice Pulls `amount` of the pay token from the portfolio (safeTransferFrom) and adds it to
    /// `totalFunded`. Works while paused (money in). A zero amount only emits `Funded`.
    /// @dev Only callable by the portfolio, which must have approved this contract for `amount`.
    function fund(uint256 amount) external;

    /// @notice Proposes `root` with `total` = the sum of all cumulative amounts in the tree; it can be
    /// accepted after `timelockDelay`. Replaces any pending root. ROOT_PROPOSER_ROLE only.
    /// @dev Warning: the root proposer (the worker key) is trusted to build correct trees, in particular to
    /// never lower an account's cumulative amount. The contract bounds the damage: `total <= totalFunded`,
    /// totals never decrease, the guardian can revoke during the timelock, and the distributor can never
    /// pay more than its balance.
    /// @param root The Merkle root (OpenZeppelin StandardMerkleTree of ["address","uint256"]).
    /// Reverts with `DistributorRootUnclaimedTooLarge` if `total - totalClaimed > MAX_ROOT_UNCLAIMED`.
    /// @param total Sum of the cumulative amounts in the tree; <= totalFunded and >= the current total.
    /// Claims never pay more than `total` in all (`totalClaimed <= rootTotal`), whatever the leaves say.
    /// @param treeHash Hash of the off-chain tree dump, for auditors to fetch and check.
    /// @param distributionId The worker's distribution id, echoed in events.
    function proposeRoot(bytes32 root, uint256 total, bytes32 treeHash, uint256 distributionId) external;

    /// @notice Deletes the pending root. GUARDIAN_ROLE only.
    function revokePendingRoot() external;

    /// @notice Makes the pending root current once its timelock passed; anyone may call it.
    /// Re-checks `total <= totalFunded` and the `MAX_ROOT_UNCLAIMED` bound. A root's total is never below
    /// `totalClaimed` (proposeRoot requires it >= the current `rootTotal`, which bounds `totalClaimed`).
    function acceptRoot() external;

    /// @notice Proposes `timelockDelay` as the root timelock; it can be accepted once the delay in force has
    /// passed (`validAt = now + timelockDelay()`), so a shorter delay is announced a full current delay ahead.
    /// Replaces any pending proposal (its wait starts again). DEFAULT_ADMIN_ROLE only.
    /// Reverts with `DistributorTimelockDelayOutOfRange` outside [`MIN_TIMELOCK_DELAY`, `MAX_TIMELOCK_DELAY`].
    function proposeTimelockDelay(uint256 timelockDelay) external;

    /// @notice Makes the pending timelock change the delay in force once its `validAt` passed; anyone may call
    /// it. Roots proposed earlier keep the `validAt` they were proposed with.
    function acceptTimelockDelay() external;

    /// @notice Cancels the pending timelock change. DEFAULT_ADMIN_ROLE or GUARDIAN_ROLE.
    function cancelTimelockDelay() external;

    // ------------------------------------------------------------------ admin

    /// @notice Sends `amount` of `token` held here by mistake to `to`. Never the pay token
    /// (`DistributorPayTokenNotRecoverable`). DEFAULT_ADMIN_ROLE only (in production a TimelockController, so
    /// the recovery waits its delay).
    function recoverToken(address token, address to, uint256 amount) external;

    // ------------------------------------------------------------------ claims

    /// @notice Pays `cumulativeAmount - claimed[account]` to `account`. Anyone may call it (relayed claims):
    /// the funds only ever go to `account`. Reverts with `DistributorRootTotalExceeded` if paying it would
    /// take `totalClaimed` above `rootTotal`, and with `DistributorAccountNotAllowed` if the portfolio's
    /// ComplianceRegistry does not allow `account` (the payout stays claimable for when it is allowed again).
    /// A failing pay-token transfer reverts the claim.
    /// @return amount The amount paid.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        returns (uint256 amount);

    /// @notice Batched push of claims. Entries with nothing left to claim are skipped (no revert, no event),
    /// so a batch survives holders claiming for themselves in between. An account the ComplianceRegistry does
    /// not allow is skipped with `ClaimSkipped(NotAllowed)`; an account whose pay-token transfer fails (reverts
    /// or returns false) has its claim rolled back (`claimed` and `totalClaimed` as before) with
    /// `ClaimSkipped(TransferFailed)`; both stay claimable. An invalid proof reverts the batch, and so does an
    /// entry that would take `totalClaimed` above `rootTotal` (`DistributorRootTotalExceeded`: the whole batch,
    /// as the root is broken and the guardian should step in).
    /// @return total The sum paid in this batch (skipped and rolled-back entries excluded).
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        returns (uint256 total);

    // ------------------------------------------------------------------ guardian

    /// @notice Pauses claims and root acceptance. GUARDIAN_ROLE only.
    function pause() external;

    /// @notice Resumes claims and root acceptance. GUARDIAN_ROLE only.
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice Role allowed to propose roots (the worker key).
    function ROOT_PROPOSER_ROLE() external view returns (bytes32);

    /// @notice Role allowed to revoke pending roots and pause.
    function GUARDIAN_ROLE() external view returns (bytes32);

    /// @notice Bound on a root's unclaimed amount (`rootTotal - totalClaimed`): type(uint88).max, about
    /// 3.09e26 base units (3.09e20 of a 6-decimal token, 3.09e8 of an 18-decimal one).
    function MAX_ROOT_UNCLAIMED() external view returns (uint256);

    /// @notice The portfolio this distributor pays for (the only funder).
    function portfolio() external view returns (address);

    /// @notice The pay token.
    function payToken() external view returns (address);

    /// @notice Whether claims and root acceptance are paused.
    function paused() external view returns (bool);

    /// @notice Seconds between proposal and earliest acceptance of a root.
    function timelockDelay() external view returns (uint256);

    /// @notice Floor of `timelockDelay`, fixed when the implementation was deployed (shared by every clone).
    function MIN_TIMELOCK_DELAY() external view returns (uint256);

    /// @notice Ceiling of `timelockDelay` (30 days), so the admin cannot stall roots indefinitely.
    function MAX_TIMELOCK_DELAY() external view returns (uint256);

    /// @notice The pending timelock change (`validAt == 0`: none).
    function pendingTimelockDelay() external view returns (uint256 timelockDelay, uint256 validAt);

    /// @notice The portfolio's ComplianceRegistry, asked `isAllowed(account)` before every payment.
    function registry() external view returns (address);

    /// @notice Sum of everything the portfolio funded.
    function totalFunded() external view returns (uint256);

    /// @notice The current (accepted) root; zero before the first acceptance.
    function root() external view returns (bytes32);

    /// @notice Sum of cumulative amounts committed by the current root.
    function rootTotal() external view returns (uint256);

    /// @notice Off-chain tree dump hash of the current root.
    function treeHash() external view returns (bytes32);

    /// @notice Distribution id of the current root.
    function distributionId() external view returns (uint256);

    /// @notice The pending root (all zero when none).
    function pendingRoot() external view returns (PendingRoot memory);

    /// @notice Total paid by all claims so far (all accounts, all roots); never above `rootTotal`.
    function totalClaimed() external view returns (uint256);

    /// @notice Cumulative amount already paid to `account`.
    function claimed(address account) external view returns (uint256);
}
