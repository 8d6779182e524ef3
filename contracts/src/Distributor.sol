// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IDistributor} from "./interfaces/IDistributor.sol";

/// @title Distributor
/// @notice Cumulative Merkle distributor of one portfolio's pay token (Morpho URD pattern), deployed as a
/// minimal clone per portfolio by the factory.
/// @dev Storage is laid out for the claim path: the pay token, the pause flag and `_rootUnclaimed` (what the
/// current root still allows to be paid, `rootTotal - totalClaimed`) share one slot, so a claim reads three
/// slots (config, root, claimed[account]) and writes two (claimed[account], config). Keeping the difference
/// rather than `totalClaimed` beside `rootTotal` avoids a fourth cold slot per claim. The compliance check
/// adds the `registry` slot and one call into the registry (one cold account and slot per claim, one cold
/// slot per holder in `claimMany`, where the registry is read once per batch).
/// @dev `MIN_TIMELOCK_DELAY` is an immutable of the implementation: clones delegate to its code, so every
/// Distributor of a factory has the same floor, fixed at deployment, that no admin can lower.
/// @dev Warning: fee-on-transfer or rebasing pay tokens are not supported (`fund` credits `amount`).
contract Distributor is IDistributor, Initializable, AccessControlUpgradeable {
    using SafeERC20 for IERC20;

    /// @inheritdoc IDistributor
    bytes32 public constant ROOT_PROPOSER_ROLE = keccak256("ROOT_PROPOSER_ROLE");

    /// @inheritdoc IDistributor
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @inheritdoc IDistributor
    uint256 public constant MAX_ROOT_UNCLAIMED = type(uint88).max;

    /// @inheritdoc IDistributor
    uint256 public constant MAX_TIMELOCK_DELAY = 30 days;

    /// @inheritdoc IDistributor
    uint256 public immutable MIN_TIMELOCK_DELAY;

    /// @inheritdoc IDistributor
    address public payToken;

    /// @inheritdoc IDistributor
    bool public paused;

    /// @dev `rootTotal - totalClaimed`: what the current root still allows to be paid, in total. A claim
    /// reverts rather than take it below zero. Packed beside `payToken` and `paused` (11 bytes); bounded by
    /// `MAX_ROOT_UNCLAIMED` where it is set (`proposeRoot`, `acceptRoot`).
    uint88 internal _rootUnclaimed;

    /// @inheritdoc IDistributor
    bytes32 public root;

    /// @inheritdoc IDistributor
    mapping(address account => uint256) public claimed;

    /// @inheritdoc IDistributor
    uint256 public totalFunded;

    /// @inheritdoc IDistributor
    uint256 public rootTotal;

    /// @inheritdoc IDistributor
    bytes32 public treeHash;

    /// @inheritdoc IDistributor
    uint256 public distributionId;

    /// @inheritdoc IDistributor
    address public portfolio;

    /// @inheritdoc IDistributor
    uint256 public timelockDelay;

    PendingRoot internal _pendingRoot;

    /// @inheritdoc IDistributor
    address public registry;

    /// @dev The proposed timelock and when it may be accepted (`validAt == 0`: none pending).
    uint256 internal _pendingDelay;
    uint256 internal _pendingDelayValidAt;

    modifier whenNotPaused() {
        if (paused) revert DistributorPaused();
        _;
    }

    /// @param minTimelockDelay The floor of every clone's root timelock (seconds), at most
    /// `MAX_TIMELOCK_DELAY`: e.g. 1 day on public chains, seconds on local ones.
    constructor(uint256 minTimelockDelay) {
        if (minTimelockDelay > MAX_TIMELOCK_DELAY) {
            revert DistributorTimelockDelayOutOfRange(minTimelockDelay, 0, MAX_TIMELOCK_DELAY);
        }
        MIN_TIMELOCK_DELAY = minTimelockDelay;
        _disableInitializers();
    }

    /// @inheritdoc IDistributor
    function initialize(
        address portfolio_,
        address payToken_,
        address registry_,
        address admin,
        address guardian,
        address rootProposer,
        uint256 timelockDelay_
    ) external initializer {
        if (
            portfolio_ == address(0) || payToken_ == address(0) || registry_ == address(0) || admin == address(0)
        ) {
            revert DistributorZeroAddress();
        }
        _checkDelay(timelockDelay_);
        __AccessControl_init();
        portfolio = portfolio_;
        payToken = payToken_;
        registry = registry_;
        timelockDelay = timelockDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
        _grantRole(ROOT_PROPOSER_ROLE, rootProposer);
        emit TimelockDelaySet(timelockDelay_);
    }

    // ------------------------------------------------------------------ funding and roots

    /// @inheritdoc IDistributor
    function fund(uint256 amount) external {
        if (msg.sender != portfolio) revert DistributorNotPortfolio(msg.sender);
        uint256 newTotalFunded = totalFunded + amount;
        totalFunded = newTotalFunded;
        IERC20(payToken).safeTransferFrom(msg.sender, address(this), amount);
        emit Funded(amount, newTotalFunded);
    }

    /// @inheritdoc IDistributor
    function proposeRoot(bytes32 newRoot, uint256 total, bytes32 newTreeHash, uint256 newDistributionId)
        external
        onlyRole(ROOT_PROPOSER_ROLE)
    {
        if (newRoot == bytes32(0)) revert DistributorRootZero();
        uint256 funded = totalFunded;
        if (total > funded) revert DistributorRootExceedsFunded(total, funded);
        uint256 currentTotal = rootTotal;
        if (total < currentTotal) revert DistributorRootTotalDecreased(total, currentTotal);
        // total >= rootTotal >= totalClaimed; claims before acceptance only lower the unclaimed amount.
        uint256 unclaimed = total - (currentTotal - _rootUnclaimed);
        if (unclaimed > MAX_ROOT_UNCLAIMED) revert DistributorRootUnclaimedTooLarge(unclaimed, MAX_ROOT_UNCLAIMED);

        uint256 validAt = block.timestamp + timelockDelay;
        _pendingRoot = PendingRoot({
            root: newRoot, total: total, treeHash: newTreeHash, distributionId: newDistributionId, validAt: validAt
        });
        emit RootProposed(newRoot, total, newTreeHash, newDistributionId, validAt);
    }

    /// @inheritdoc IDistributor
    function revokePendingRoot() external onlyRole(GUARDIAN_ROLE) {
        bytes32 pending = _pendingRoot.root;
        uint256 pendingDistributionId = _pendingRoot.distributionId;
        if (_pendingRoot.validAt == 0) revert DistributorNoPendingRoot();
        delete _pendingRoot;
        emit RootRevoked(pending, pendingDistributionId);
    }

    /// @inheritdoc IDistributor
    function acceptRoot() external whenNotPaused {
        PendingRoot memory pending = _pendingRoot;
        if (pending.validAt == 0) revert DistributorNoPendingRoot();
        if (block.timestamp < pending.validAt) revert DistributorTimelockPending(pending.validAt);
        uint256 funded = totalFunded;
        if (pending.total > funded) revert DistributorRootExceedsFunded(pending.total, funded);
        // proposeRoot required pending.total >= rootTotal (unchanged since: only acceptRoot sets it) and
        // rootTotal >= totalClaimed always holds, so this cannot underflow: a new root never commits less
        // than was already paid.
        uint256 unclaimed = pending.total - totalClaimed();
        if (unclaimed > MAX_ROOT_UNCLAIMED) revert DistributorRootUnclaimedTooLarge(unclaimed, MAX_ROOT_UNCLAIMED);

        root = pending.root;
        _rootUnclaimed = uint88(unclaimed);
        rootTotal = pending.total;
        treeHash = pending.treeHash;
        distributionId = pending.distributionId;
        delete _pendingRoot;
        emit RootAccepted(pending.root, pending.total, pending.treeHash, pending.distributionId);
    }

    // ------------------------------------------------------------------ timelock changes

    /// @inheritdoc IDistributor
    function proposeTimelockDelay(uint256 newTimelockDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkDelay(newTimelockDelay);
        uint256 validAt = block.timestamp + timelockDelay;
        _pendingDelay = newTimelockDelay;
        _pendingDelayValidAt = validAt;
        emit TimelockDelayProposed(newTimelockDelay, validAt);
    }

    /// @inheritdoc IDistributor
    function acceptTimelockDelay() external {
        uint256 validAt = _pendingDelayValidAt;
        if (validAt == 0) revert DistributorNoPendingTimelockDelay();
        if (block.timestamp < validAt) revert DistributorTimelockDelayPending(validAt);
        uint256 newTimelockDelay = _pendingDelay;
        delete _pendingDelay;
        delete _pendingDelayValidAt;
        timelockDelay = newTimelockDelay;
        emit TimelockDelaySet(newTimelockDelay);
    }

    /// @inheritdoc IDistributor
    function cancelTimelockDelay() external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && !hasRole(GUARDIAN_ROLE, msg.sender)) {
            revert DistributorNotAdminOrGuardian(msg.sender);
        }
        if (_pendingDelayValidAt == 0) revert DistributorNoPendingTimelockDelay();
        uint256 cancelled = _pendingDelay;
        delete _pendingDelay;
        delete _pendingDelayValidAt;
        emit TimelockDelayCancelled(cancelled, msg.sender);
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IDistributor
    function recoverToken(address token, address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == payToken) revert DistributorPayTokenNotRecoverable(token);
        if (to == address(0)) revert DistributorZeroAddress();
        IERC20(token).safeTransfer(to, amount);
        emit TokenRecovered(token, to, amount);
    }

    // ------------------------------------------------------------------ claims

    /// @inheritdoc IDistributor
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        whenNotPaused
        returns (uint256 amount)
    {
        uint256 alreadyClaimed = claimed[account];
        if (cumulativeAmount <= alreadyClaimed) {
            revert DistributorNothingToClaim(account, cumulativeAmount, alreadyClaimed);
        }
        if (_processProof(proof, _leaf(account, cumulativeAmount)) != root) {
            revert DistributorProofInvalid(account, cumulativeAmount);
        }
        if (!_isAllowed(registry, account)) revert DistributorAccountNotAllowed(account);
        unchecked {
            amount = cumulativeAmount - alreadyClaimed;
        }
        uint256 unclaimed = _rootUnclaimed;
        if (amount > unclaimed) _revertRootTotalExceeded(unclaimed, amount);
        claimed[account] = cumulativeAmount;
        unchecked {
            _rootUnclaimed = uint88(unclaimed - amount);
        }
        IERC20(payToken).safeTransfer(account, amount);
        emit Claimed(account, amount, cumulativeAmount);
    }

    /// @inheritdoc IDistributor
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        whenNotPaused
        returns (uint256 total)
    {
        uint256 count = accounts.length;
        if (cumulativeAmounts.length != count || proofs.length != count) revert DistributorLengthMismatch();
        bytes32 currentRoot = root;
        address compliance = registry;
        uint256 unclaimed = _rootUnclaimed;
        // amounts[i]: what entry i is paid (0: nothing, or skipped).
        uint256[] memory amounts = new uint256[](count);
        // Checks and effects first (the root-total counter is written once, before any transfer, so a
        // re-entrant claim from a transfer sees it up to date). The registry call is a staticcall.
        for (uint256 i; i < count; ++i) {
            address account = accounts[i];
            uint256 cumulativeAmount = cumulativeAmounts[i];
            uint256 alreadyClaimed = claimed[account];
            if (cumulativeAmount <= alreadyClaimed) continue;
            if (_processProof(proofs[i], _leaf(account, cumulativeAmount)) != currentRoot) {
                revert DistributorProofInvalid(account, cumulativeAmount);
            }
            uint256 amount;
            unchecked {
                amount = cumulativeAmount - alreadyClaimed;
            }
            if (!_isAllowed(compliance, account)) {
                emit ClaimSkipped(account, amount, cumulativeAmount, SkipReason.NotAllowed);
                continue;
            }
            if (amount > unclaimed) _revertRootTotalExceeded(unclaimed, amount);
            claimed[account] = cumulativeAmount;
            unchecked {
                unclaimed -= amount;
                total += amount; // <= the root's unclaimed amount
            }
            amounts[i] = amount;
        }
        _rootUnclaimed = uint88(unclaimed);
        uint256 rolledBack = _pay(accounts, cumulativeAmounts, amounts);
        if (rolledBack != 0) {
            _restoreUnclaimed(rolledBack);
            unchecked {
                total -= rolledBack; // rolledBack <= total
            }
        }
    }

    // ------------------------------------------------------------------ guardian

    /// @inheritdoc IDistributor
    function pause() external onlyRole(GUARDIAN_ROLE) {
        if (paused) revert DistributorPauseUnchanged(true);
        paused = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IDistributor
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        if (!paused) revert DistributorPauseUnchanged(false);
        paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IDistributor
    function pendingRoot() external view returns (PendingRoot memory) {
        return _pendingRoot;
    }

    /// @inheritdoc IDistributor
    function totalClaimed() public view returns (uint256) {
        return rootTotal - _rootUnclaimed;
    }

    /// @inheritdoc IDistributor
    function pendingTimelockDelay() external view returns (uint256, uint256) {
        return (_pendingDelay, _pendingDelayValidAt);
    }

    // ------------------------------------------------------------------ internal

    /// @dev `IComplianceRegistry(compliance).isAllowed(account)` as a bare staticcall in scratch space (no
    /// free-memory or ABI-decoding overhead, once per holder in `claimMany`). Fails closed: a registry that
    /// reverts, has no code or answers anything but a 32-byte `true` allows nobody.
    function _isAllowed(address compliance, address account) internal view returns (bool allowed) {
        bytes4 selector = IComplianceRegistry.isAllowed.selector;
        assembly ("memory-safe") {
            mstore(0x00, selector)
            mstore(0x04, account)
            let ok := staticcall(gas(), compliance, 0x00, 0x24, 0x00, 0x20)
            allowed := and(and(ok, gt(returndatasize(), 0x1f)), eq(mload(0x00), 1))
        }
    }

    /// @dev A root timelock must lie in [MIN_TIMELOCK_DELAY, MAX_TIMELOCK_DELAY].
    function _checkDelay(uint256 delay) internal view {
        if (delay < MIN_TIMELOCK_DELAY || delay > MAX_TIMELOCK_DELAY) {
            revert DistributorTimelockDelayOutOfRange(delay, MIN_TIMELOCK_DELAY, MAX_TIMELOCK_DELAY);
        }
    }

    /// @dev The transfers of `claimMany` (after its effects): pays each `amounts[i] > 0` to `accounts[i]`, and
    /// rolls back the claim of an account whose transfer fails. Returns the sum rolled back, which the caller
    /// gives back to the root's unclaimed counter.
    function _pay(address[] calldata accounts, uint256[] calldata cumulativeAmounts, uint256[] memory amounts)
        internal
        returns (uint256 rolledBack)
    {
        IERC20 token = IERC20(payToken);
        uint256 count = accounts.length;
        for (uint256 i; i < count; ++i) {
            uint256 amount = amounts[i];
            if (amount == 0) continue;
            address account = accounts[i];
            if (token.trySafeTransfer(account, amount)) {
                emit Claimed(account, amount, cumulativeAmounts[i]);
            } else {
                // A transfer refused for this account (a blacklist): undo its effects, keep the batch.
                // Relative to its claimed total as it is now, which a transfer re-entering `claim` under a
                // newer root may have raised (paying only the difference above ours): taking off exactly
                // what was not paid leaves it owed that amount, never more.
                claimed[account] -= amount;
                unchecked {
                    rolledBack += amount; // <= the batch's total
                }
                emit ClaimSkipped(account, amount, cumulativeAmounts[i], SkipReason.TransferFailed);
            }
        }
    }

    /// @dev Gives `rolledBack` (claims of `claimMany` whose transfer failed) back to the root's unclaimed
    /// counter, relative to the counter as it is now (a transfer may have re-entered and moved it). Checked:
    /// the amount was counted in it before, so it fits unless a re-entrant `acceptRoot` raised the counter
    /// to the bound, and then the batch reverts rather than truncate.
    function _restoreUnclaimed(uint256 rolledBack) internal {
        uint256 restored = _rootUnclaimed + rolledBack;
        if (restored > MAX_ROOT_UNCLAIMED) revert DistributorRootUnclaimedTooLarge(restored, MAX_ROOT_UNCLAIMED);
        _rootUnclaimed = uint88(restored);
    }

    /// @dev A claim of `amount` with only `unclaimed` left under the current root's total.
    function _revertRootTotalExceeded(uint256 unclaimed, uint256 amount) internal view {
        uint256 total = rootTotal;
        revert DistributorRootTotalExceeded(total - unclaimed + amount, total);
    }

    /// @dev The StandardMerkleTree leaf: the 64-byte encoding is hashed twice, so a leaf can never be
    /// confused with an internal node (never verify a 64-byte leaf unhashed).
    function _leaf(address account, uint256 cumulativeAmount) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, cumulativeAmount)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev Same result as OpenZeppelin `MerkleProof.processProofCalldata` (sorted-pair keccak256, i.e.
    /// `Hashes.commutativeKeccak256`; equivalence is fuzzed in the tests) in a tight loop over calldata:
    /// about 4k gas less per depth-20 proof, which matters once per holder in `claimMany`.
    function _processProof(bytes32[] calldata proof, bytes32 leaf) internal pure returns (bytes32 computed) {
        assembly ("memory-safe") {
            computed := leaf
            for {
                let p := proof.offset
                let end := add(p, shl(5, proof.length))
            } lt(p, end) { p := add(p, 0x20) } {
                let sibling := calldataload(p)
                // The smaller of the two goes first: computed lands at 0x20 iff computed > sibling.
                let slot := shl(5, gt(computed, sibling))
                mstore(slot, computed)
                mstore(xor(slot, 0x20), sibling)
                computed := keccak256(0x00, 0x40)
            }
        }
    }
}
