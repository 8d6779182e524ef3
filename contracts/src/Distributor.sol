// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IDistributor} from "./interfaces/IDistributor.sol";

/// @title Distributor
/// @notice Cumulative Merkle distributor of one portfolio's pay token (Morpho URD pattern), deployed as a
/// minimal clone per portfolio by the factory.
/// @dev Storage is laid out for the claim path: the pay token, the pause flag and `_rootUnclaimed` (what the
/// current root still allows to be paid, `rootTotal - totalClaimed`) share one slot, so a claim reads three
/// slots (config, root, claimed[account]) and writes two (claimed[account], config). Keeping the difference
/// rather than `totalClaimed` beside `rootTotal` avoids a fourth cold slot per claim.
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

    modifier whenNotPaused() {
        if (paused) revert DistributorPaused();
        _;
    }

    constructor() {
        _disableInitializers();
    }

    /// @inheritdoc IDistributor
    function initialize(
        address portfolio_,
        address payToken_,
        address admin,
        address guardian,
        address rootProposer,
        uint256 timelockDelay_
    ) external initializer {
        if (portfolio_ == address(0) || payToken_ == address(0) || admin == address(0)) {
            revert DistributorZeroAddress();
        }
        __AccessControl_init();
        portfolio = portfolio_;
        payToken = payToken_;
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

    /// @inheritdoc IDistributor
    function setTimelockDelay(uint256 newTimelockDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        timelockDelay = newTimelockDelay;
        emit TimelockDelaySet(newTimelockDelay);
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
        uint256 unclaimed = _rootUnclaimed;
        uint256[] memory amounts = new uint256[](count);
        // Checks and effects first (the root-total counter is written once, before any transfer, so a
        // re-entrant claim from a transfer sees it up to date).
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
            if (amount > unclaimed) _revertRootTotalExceeded(unclaimed, amount);
            claimed[account] = cumulativeAmount;
            unchecked {
                unclaimed -= amount;
                total += amount; // <= the root's unclaimed amount
            }
            amounts[i] = amount;
        }
        _rootUnclaimed = uint88(unclaimed);
        IERC20 token = IERC20(payToken);
        for (uint256 i; i < count; ++i) {
            uint256 amount = amounts[i];
            if (amount == 0) continue;
            address account = accounts[i];
            token.safeTransfer(account, amount);
            emit Claimed(account, amount, cumulativeAmounts[i]);
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

    // ------------------------------------------------------------------ internal

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
