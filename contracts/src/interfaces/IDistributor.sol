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
/// pending root and pause claims.
interface IDistributor {
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

    /// @notice The admin changed the root timelock.
    event TimelockDelaySet(uint256 timelockDelay);

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

    // ------------------------------------------------------------------ setup

    /// @notice Initializes a minimal clone once (the implementation itself cannot be initialized).
    /// @param portfolio The only address allowed to `fund`.
    /// @param payToken The ERC-20 paid out (the portfolio's stablecoin).
    /// @param admin Gets DEFAULT_ADMIN_ROLE (manages roles and the timelock delay).
    /// @param guardian Gets GUARDIAN_ROLE (revoke pending roots, pause).
    /// @param rootProposer Gets ROOT_PROPOSER_ROLE (the worker key).
    /// @param timelockDelay Seconds between `proposeRoot` and the earliest `acceptRoot`.
    function initialize(
        address portfolio,
        address payToken,
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

    /// @notice Admin sets the timelock for roots proposed from now on.
    /// @dev Warning: the admin can shorten the timelock, which shortens the guardian's reaction window.
    function setTimelockDelay(uint256 timelockDelay) external;

    // ------------------------------------------------------------------ claims

    /// @notice Pays `cumulativeAmount - claimed[account]` to `account`. Anyone may call it (relayed claims):
    /// the funds only ever go to `account`. Reverts with `DistributorRootTotalExceeded` if paying it would
    /// take `totalClaimed` above `rootTotal`.
    /// @return amount The amount paid.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        returns (uint256 amount);

    /// @notice Batched push of claims. Entries with nothing left to claim are skipped (no revert), so a
    /// batch survives holders claiming for themselves in between; an invalid proof reverts the batch, and so
    /// does an entry that would take `totalClaimed` above `rootTotal` (`DistributorRootTotalExceeded`: the
    /// whole batch, as the root is broken and the guardian should step in).
    /// @return total The sum paid in this batch.
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
