// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {ComplianceRegistry} from "../src/ComplianceRegistry.sol";
import {Distributor} from "../src/Distributor.sol";
import {IDistributor} from "../src/interfaces/IDistributor.sol";
import {TestStablecoin} from "../src/test/TestStablecoin.sol";

import {BlacklistToken, ReenteringFalseToken} from "./utils/BlacklistToken.sol";
import {StandardMerkle} from "./utils/StandardMerkle.sol";
import {Test} from "./utils/Test.sol";

/// @notice Shared setup: a Distributor clone (as the factory deploys it) over TestStablecoin, funded by a
/// stand-in portfolio address, with a real ComplianceRegistry that allowlists alice, bob and carol.
abstract contract DistributorTestBase is Test {
    uint256 internal constant DELAY = 1 days;
    /// @dev The implementation's floor in these tests (below DELAY, so a delay can be shortened to it).
    uint256 internal constant MIN_DELAY = 1 hours;

    Distributor internal implementation;
    Distributor internal distributor;
    TestStablecoin internal usd;
    ComplianceRegistry internal registry;

    address internal admin = makeAddr("admin");
    address internal guardian = makeAddr("guardian");
    address internal proposer = makeAddr("proposer");
    address internal portfolio = makeAddr("portfolio");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal relayer = makeAddr("relayer");

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        usd = new TestStablecoin(address(this));
        registry = new ComplianceRegistry(address(this));
        _allow(alice);
        _allow(bob);
        _allow(carol);
        implementation = new Distributor(MIN_DELAY);
        distributor = Distributor(Clones.clone(address(implementation)));
        distributor.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, DELAY);
        vm.prank(portfolio);
        usd.approve(address(distributor), type(uint256).max);
    }

    function _allow(address account) internal {
        registry.allowlist(account, type(uint64).max);
    }

    function _allowMany(address[] memory accounts_) internal {
        registry.allowlistMany(accounts_, type(uint64).max);
    }

    function _fund(uint256 amount) internal {
        usd.mint(portfolio, amount);
        vm.prank(portfolio);
        distributor.fund(amount);
    }

    /// @dev Proposes and accepts `root` (warping past the timelock).
    function _setRoot(bytes32 root, uint256 total, uint256 id) internal {
        vm.prank(proposer);
        distributor.proposeRoot(root, total, keccak256(abi.encode("tree", id)), id);
        vm.warp(block.timestamp + distributor.timelockDelay());
        distributor.acceptRoot();
    }

    function _sum(uint256[] memory xs) internal pure returns (uint256 s) {
        for (uint256 i; i < xs.length; ++i) {
            s += xs[i];
        }
    }

    function _three(address a, address b, address c) internal pure returns (address[] memory xs) {
        xs = new address[](3);
        (xs[0], xs[1], xs[2]) = (a, b, c);
    }

    function _three(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory xs) {
        xs = new uint256[](3);
        (xs[0], xs[1], xs[2]) = (a, b, c);
    }
}

contract DistributorTest is DistributorTestBase {
    event Funded(uint256 amount, uint256 totalFunded);
    event RootProposed(
        bytes32 indexed root, uint256 total, bytes32 treeHash, uint256 indexed distributionId, uint256 validAt
    );
    event RootRevoked(bytes32 indexed root, uint256 indexed distributionId);
    event RootAccepted(bytes32 indexed root, uint256 total, bytes32 treeHash, uint256 indexed distributionId);
    event Claimed(address indexed account, uint256 amount, uint256 cumulative);
    event TimelockDelaySet(uint256 timelockDelay);
    event TimelockDelayProposed(uint256 timelockDelay, uint256 validAt);
    event TimelockDelayCancelled(uint256 timelockDelay, address by);
    event ClaimSkipped(address indexed account, uint256 amount, uint256 cumulativeAmount, IDistributor.SkipReason reason);
    event TokenRecovered(address indexed token, address indexed to, uint256 amount);
    event Paused(address account);
    event Unpaused(address account);

    bytes32[] internal tree;
    address[] internal accounts;
    uint256[] internal amounts;

    function _useTree(address[] memory accounts_, uint256[] memory amounts_) internal returns (bytes32 root) {
        accounts = accounts_;
        amounts = amounts_;
        tree = StandardMerkle.build(accounts_, amounts_);
        root = tree[0];
    }

    function _proof(address account, uint256 amount) internal view returns (bytes32[] memory) {
        return StandardMerkle.proofOf(tree, account, amount);
    }

    /// @dev Funds and activates a tree paying alice 100, bob 250, carol 650.
    function _activateFirstTree() internal {
        bytes32 root = _useTree(_three(alice, bob, carol), _three(100e6, 250e6, 650e6));
        _fund(1000e6);
        _setRoot(root, 1000e6, 1);
    }

    // ------------------------------------------------------------------ initialize

    function test_initialize_setsConfigurationAndRoles() public view {
        assertEq(distributor.portfolio(), portfolio);
        assertEq(distributor.payToken(), address(usd));
        assertEq(distributor.timelockDelay(), DELAY);
        assertEq(distributor.registry(), address(registry));
        assertEq(distributor.MIN_TIMELOCK_DELAY(), MIN_DELAY);
        assertEq(implementation.MIN_TIMELOCK_DELAY(), MIN_DELAY, "the clone reads the implementation's floor");
        assertTrue(distributor.hasRole(distributor.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(distributor.hasRole(distributor.GUARDIAN_ROLE(), guardian));
        assertTrue(distributor.hasRole(distributor.ROOT_PROPOSER_ROLE(), proposer));
        assertFalse(distributor.paused());
        assertEq(distributor.root(), bytes32(0));
    }

    function test_initialize_revertsOnSecondCall() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        distributor.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, DELAY);
    }

    function test_initialize_revertsOnImplementation() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        implementation.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, DELAY);
    }

    function test_initialize_revertsIfZeroAddress() public {
        Distributor fresh = Distributor(Clones.clone(address(implementation)));
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorZeroAddress.selector));
        fresh.initialize(address(0), address(usd), address(registry), admin, guardian, proposer, DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorZeroAddress.selector));
        fresh.initialize(portfolio, address(0), address(registry), admin, guardian, proposer, DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorZeroAddress.selector));
        fresh.initialize(portfolio, address(usd), address(0), admin, guardian, proposer, DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorZeroAddress.selector));
        fresh.initialize(portfolio, address(usd), address(registry), address(0), guardian, proposer, DELAY);
    }

    /// @dev The floor is checked at initialization: no clone starts with a shorter (or a 30-day+) delay.
    function test_initialize_revertsIfDelayOutOfRange() public {
        uint256 max = implementation.MAX_TIMELOCK_DELAY();
        Distributor fresh = Distributor(Clones.clone(address(implementation)));
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorTimelockDelayOutOfRange.selector, MIN_DELAY - 1, MIN_DELAY, max)
        );
        fresh.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, MIN_DELAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorTimelockDelayOutOfRange.selector, max + 1, MIN_DELAY, max)
        );
        fresh.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, max + 1);
        fresh.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, MIN_DELAY);
        assertEq(fresh.timelockDelay(), MIN_DELAY);
    }

    function test_constructor_revertsIfFloorAboveMax() public {
        uint256 max = implementation.MAX_TIMELOCK_DELAY();
        assertEq(max, 30 days);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorTimelockDelayOutOfRange.selector, max + 1, 0, max)
        );
        new Distributor(max + 1);
        assertEq(new Distributor(max).MIN_TIMELOCK_DELAY(), max);
    }

    // ------------------------------------------------------------------ fund

    function test_fund_pullsFromPortfolioAndAddsToTotal() public {
        usd.mint(portfolio, 500e6);
        vm.expectEmit(address(distributor));
        emit Funded(300e6, 300e6);
        vm.prank(portfolio);
        distributor.fund(300e6);
        vm.prank(portfolio);
        distributor.fund(200e6);
        assertEq(distributor.totalFunded(), 500e6);
        assertEq(usd.balanceOf(address(distributor)), 500e6);
        assertEq(usd.balanceOf(portfolio), 0);
    }

    function test_fund_zeroAmountOnlyEmits() public {
        vm.expectEmit(address(distributor));
        emit Funded(0, 0);
        vm.prank(portfolio);
        distributor.fund(0);
        assertEq(distributor.totalFunded(), 0);
    }

    function test_fund_worksWhilePaused() public {
        vm.prank(guardian);
        distributor.pause();
        _fund(1e6);
        assertEq(distributor.totalFunded(), 1e6);
    }

    function test_fund_revertsIfNotPortfolio() public {
        usd.mint(alice, 1e6);
        vm.prank(alice);
        usd.approve(address(distributor), 1e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNotPortfolio.selector, alice));
        vm.prank(alice);
        distributor.fund(1e6);
    }

    // ------------------------------------------------------------------ proposeRoot

    function test_proposeRoot_storesPendingRootWithValidAt() public {
        _fund(100);
        bytes32 root = keccak256("root");
        vm.expectEmit(address(distributor));
        emit RootProposed(root, 100, bytes32("tree"), 7, block.timestamp + DELAY);
        vm.prank(proposer);
        distributor.proposeRoot(root, 100, bytes32("tree"), 7);
        IDistributor.PendingRoot memory pending = distributor.pendingRoot();
        assertEq(pending.root, root);
        assertEq(pending.total, 100);
        assertEq(pending.treeHash, bytes32("tree"));
        assertEq(pending.distributionId, 7);
        assertEq(pending.validAt, block.timestamp + DELAY);
        assertEq(distributor.root(), bytes32(0), "current root unchanged");
    }

    function test_proposeRoot_replacesPendingRoot() public {
        _fund(100);
        vm.startPrank(proposer);
        distributor.proposeRoot(keccak256("a"), 50, 0, 1);
        vm.warp(block.timestamp + 10);
        distributor.proposeRoot(keccak256("b"), 60, 0, 2);
        vm.stopPrank();
        assertEq(distributor.pendingRoot().root, keccak256("b"));
        assertEq(distributor.pendingRoot().validAt, block.timestamp + DELAY);
    }

    function test_proposeRoot_revertsIfNotProposer() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, distributor.ROOT_PROPOSER_ROLE()
            )
        );
        vm.prank(alice);
        distributor.proposeRoot(keccak256("root"), 0, 0, 1);
    }

    function test_proposeRoot_revertsIfRootZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorRootZero.selector));
        vm.prank(proposer);
        distributor.proposeRoot(bytes32(0), 0, 0, 1);
    }

    function test_proposeRoot_revertsIfTotalExceedsFunded() public {
        _fund(100);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorRootExceedsFunded.selector, 101, 100));
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), 101, 0, 1);
    }

    function test_proposeRoot_revertsIfTotalDecreases() public {
        _fund(100);
        _setRoot(keccak256("first"), 80, 1);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorRootTotalDecreased.selector, 79, 80));
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("second"), 79, 0, 2);
    }

    function test_proposeRoot_revertsIfUnclaimedTooLarge() public {
        uint256 max = distributor.MAX_ROOT_UNCLAIMED();
        assertEq(max, type(uint88).max);
        _fund(max + 1);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorRootUnclaimedTooLarge.selector, max + 1, max));
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), max + 1, 0, 1);
        // The largest step is accepted.
        _setRoot(keccak256("root"), max, 1);
        assertEq(distributor.rootTotal(), max);
    }

    // ------------------------------------------------------------------ revokePendingRoot

    function test_revokePendingRoot_deletesPendingRoot() public {
        _fund(100);
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("bad"), 100, 0, 7);
        // The event names the revoked root's distribution id (the one RootProposed carried).
        vm.expectEmit(address(distributor));
        emit RootRevoked(keccak256("bad"), 7);
        vm.prank(guardian);
        distributor.revokePendingRoot();
        assertEq(distributor.pendingRoot().validAt, 0);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingRoot.selector));
        distributor.acceptRoot();
    }

    function test_revokePendingRoot_revertsIfNoPendingRoot() public {
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingRoot.selector));
        vm.prank(guardian);
        distributor.revokePendingRoot();
    }

    function test_revokePendingRoot_revertsIfNotGuardian() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, proposer, distributor.GUARDIAN_ROLE()
            )
        );
        vm.prank(proposer);
        distributor.revokePendingRoot();
    }

    // ------------------------------------------------------------------ acceptRoot

    function test_acceptRoot_activatesAfterDelayByAnyone() public {
        _fund(100);
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), 90, bytes32("tree"), 3);
        vm.warp(block.timestamp + DELAY);
        vm.expectEmit(address(distributor));
        emit RootAccepted(keccak256("root"), 90, bytes32("tree"), 3);
        vm.prank(relayer);
        distributor.acceptRoot();
        assertEq(distributor.root(), keccak256("root"));
        assertEq(distributor.rootTotal(), 90);
        assertEq(distributor.treeHash(), bytes32("tree"));
        assertEq(distributor.distributionId(), 3);
        assertEq(distributor.pendingRoot().validAt, 0, "pending cleared");
    }

    function test_acceptRoot_revertsBeforeDelay() public {
        _fund(100);
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), 90, 0, 1);
        uint256 validAt = block.timestamp + DELAY;
        vm.warp(validAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorTimelockPending.selector, validAt));
        distributor.acceptRoot();
    }

    function test_acceptRoot_revertsIfNoPendingRoot() public {
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingRoot.selector));
        distributor.acceptRoot();
    }

    function test_acceptRoot_revertsWhilePaused() public {
        _fund(100);
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), 90, 0, 1);
        vm.warp(block.timestamp + DELAY);
        vm.prank(guardian);
        distributor.pause();
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorPaused.selector));
        distributor.acceptRoot();
    }

    // ------------------------------------------------------------------ timelock changes

    /// @dev A change of the delay waits out the delay in force; roots proposed in between keep theirs.
    function test_proposeTimelockDelay_waitsOutTheOldDelay() public {
        uint256 proposedAt = block.timestamp;
        vm.expectEmit(address(distributor));
        emit TimelockDelayProposed(MIN_DELAY, proposedAt + DELAY);
        vm.prank(admin);
        distributor.proposeTimelockDelay(MIN_DELAY);
        (uint256 pendingDelay, uint256 validAt) = distributor.pendingTimelockDelay();
        assertEq(pendingDelay, MIN_DELAY);
        assertEq(validAt, proposedAt + DELAY);
        assertEq(distributor.timelockDelay(), DELAY, "the old delay stays in force");

        // A root proposed while the change is pending waits the old delay.
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), 0, 0, 1);
        assertEq(distributor.pendingRoot().validAt, proposedAt + DELAY);

        vm.warp(validAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorTimelockDelayPending.selector, validAt));
        distributor.acceptTimelockDelay();

        vm.warp(validAt);
        vm.expectEmit(address(distributor));
        emit TimelockDelaySet(MIN_DELAY);
        vm.prank(relayer); // anyone
        distributor.acceptTimelockDelay();
        assertEq(distributor.timelockDelay(), MIN_DELAY);
        (pendingDelay, validAt) = distributor.pendingTimelockDelay();
        assertEq(pendingDelay, 0);
        assertEq(validAt, 0);
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root2"), 0, 0, 2);
        assertEq(distributor.pendingRoot().validAt, block.timestamp + MIN_DELAY);
    }

    /// @dev A longer delay waits out the old one too, and a new proposal restarts the wait.
    function test_proposeTimelockDelay_replacesPendingProposal() public {
        vm.prank(admin);
        distributor.proposeTimelockDelay(2 days);
        vm.warp(block.timestamp + DELAY - 1);
        vm.prank(admin);
        distributor.proposeTimelockDelay(3 days);
        (uint256 pendingDelay, uint256 validAt) = distributor.pendingTimelockDelay();
        assertEq(pendingDelay, 3 days);
        assertEq(validAt, block.timestamp + DELAY);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorTimelockDelayPending.selector, validAt));
        distributor.acceptTimelockDelay();
        vm.warp(validAt);
        distributor.acceptTimelockDelay();
        assertEq(distributor.timelockDelay(), 3 days);
    }

    function test_proposeTimelockDelay_revertsOutOfRange() public {
        uint256 max = distributor.MAX_TIMELOCK_DELAY();
        vm.startPrank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorTimelockDelayOutOfRange.selector, 0, MIN_DELAY, max)
        );
        distributor.proposeTimelockDelay(0);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorTimelockDelayOutOfRange.selector, MIN_DELAY - 1, MIN_DELAY, max)
        );
        distributor.proposeTimelockDelay(MIN_DELAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorTimelockDelayOutOfRange.selector, max + 1, MIN_DELAY, max)
        );
        distributor.proposeTimelockDelay(max + 1);
        distributor.proposeTimelockDelay(max);
        vm.stopPrank();
    }

    function test_proposeTimelockDelay_revertsIfNotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, distributor.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(guardian);
        distributor.proposeTimelockDelay(MIN_DELAY);
    }

    function test_acceptTimelockDelay_revertsIfNothingPending() public {
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingTimelockDelay.selector));
        distributor.acceptTimelockDelay();
    }

    function test_cancelTimelockDelay_byGuardianOrAdmin() public {
        vm.prank(admin);
        distributor.proposeTimelockDelay(MIN_DELAY);
        vm.expectEmit(address(distributor));
        emit TimelockDelayCancelled(MIN_DELAY, guardian);
        vm.prank(guardian);
        distributor.cancelTimelockDelay();
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingTimelockDelay.selector));
        distributor.acceptTimelockDelay();
        assertEq(distributor.timelockDelay(), DELAY);

        vm.prank(admin);
        distributor.proposeTimelockDelay(MIN_DELAY);
        vm.prank(admin);
        distributor.cancelTimelockDelay();
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingTimelockDelay.selector));
        vm.prank(admin);
        distributor.cancelTimelockDelay();
    }

    function test_cancelTimelockDelay_revertsForOthers() public {
        vm.prank(admin);
        distributor.proposeTimelockDelay(MIN_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNotAdminOrGuardian.selector, proposer));
        vm.prank(proposer);
        distributor.cancelTimelockDelay();
    }

    /// @dev Finding 1 of the review, the attack: the admin sets the delay to 0, grants itself
    /// ROOT_PROPOSER_ROLE, proposes a one-leaf root paying itself `totalFunded`, accepts and claims in the
    /// same second. Here the admin is even allowlisted (a colluding compliance officer). It now fails at
    /// every step that needed no delay: the delay cannot go below the floor, a change of it waits out the
    /// old delay, and the root waits the delay in force, during which the guardian revokes it.
    function test_attack_adminCannotEmptyTheDistributorInOneBlock() public {
        _activateFirstTree();
        _allow(admin);
        uint256 funded = distributor.totalFunded();
        uint256 start = block.timestamp;

        vm.startPrank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDistributor.DistributorTimelockDelayOutOfRange.selector, 0, MIN_DELAY, distributor.MAX_TIMELOCK_DELAY()
            )
        );
        distributor.proposeTimelockDelay(0);
        // The shortest it can ask for applies only after the current delay.
        distributor.proposeTimelockDelay(MIN_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorTimelockDelayPending.selector, start + DELAY));
        distributor.acceptTimelockDelay();
        distributor.grantRole(distributor.ROOT_PROPOSER_ROLE(), admin);
        bytes32 stealRoot = StandardMerkle.leaf(admin, funded); // a one-leaf tree: the root is the leaf
        distributor.proposeRoot(stealRoot, funded, 0, 666);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorTimelockPending.selector, start + DELAY));
        distributor.acceptRoot();
        bytes32[] memory noProof = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, admin, funded));
        distributor.claim(admin, funded, noProof);
        vm.stopPrank();

        // Holders (and the guardian) see RootProposed and TimelockDelayProposed; the guardian revokes both
        // within the delay.
        vm.warp(start + DELAY - 1);
        vm.startPrank(guardian);
        distributor.revokePendingRoot();
        distributor.cancelTimelockDelay();
        vm.stopPrank();

        vm.warp(start + DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNoPendingRoot.selector));
        distributor.acceptRoot();
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, admin, funded));
        vm.prank(admin);
        distributor.claim(admin, funded, noProof);
        assertEq(usd.balanceOf(admin), 0, "the admin took nothing");
        assertEq(distributor.timelockDelay(), DELAY);
        // The holders' root is intact.
        distributor.claim(carol, 650e6, _proof(carol, 650e6));
        assertEq(usd.balanceOf(carol), 650e6);
    }

    /// @dev Without the guardian, the root would wait out the full delay in force when it was proposed,
    /// even if the admin's shorter delay lands in between.
    function test_attack_shorterDelayDoesNotShortenAPendingRoot() public {
        _fund(100);
        vm.prank(admin);
        distributor.proposeTimelockDelay(MIN_DELAY);
        vm.warp(block.timestamp + DELAY - 1);
        vm.prank(proposer);
        distributor.proposeRoot(keccak256("root"), 100, 0, 1);
        uint256 rootValidAt = block.timestamp + DELAY;
        vm.warp(block.timestamp + 1);
        distributor.acceptTimelockDelay();
        assertEq(distributor.timelockDelay(), MIN_DELAY);
        vm.warp(block.timestamp + MIN_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorTimelockPending.selector, rootValidAt));
        distributor.acceptRoot();
        vm.warp(rootValidAt);
        distributor.acceptRoot();
    }

    // ------------------------------------------------------------------ claim

    function test_claim_paysCumulativeAmountToAccount() public {
        _activateFirstTree();
        vm.expectEmit(address(distributor));
        emit Claimed(bob, 250e6, 250e6);
        vm.prank(bob);
        uint256 paid = distributor.claim(bob, 250e6, _proof(bob, 250e6));
        assertEq(paid, 250e6);
        assertEq(usd.balanceOf(bob), 250e6);
        assertEq(distributor.claimed(bob), 250e6);
        assertEq(usd.balanceOf(address(distributor)), 750e6);
    }

    function test_claim_relayedByAnyonePaysOnlyTheAccount() public {
        _activateFirstTree();
        vm.prank(relayer);
        distributor.claim(alice, 100e6, _proof(alice, 100e6));
        assertEq(usd.balanceOf(alice), 100e6);
        assertEq(usd.balanceOf(relayer), 0);
    }

    function test_claim_paysOnlyTheDifferenceUnderANewRoot() public {
        _activateFirstTree();
        distributor.claim(alice, 100e6, _proof(alice, 100e6));

        // Second distribution: alice 100 -> 140, bob 250 -> 300, carol 650 -> 660 (cumulative).
        bytes32 root2 = _useTree(_three(alice, bob, carol), _three(140e6, 300e6, 660e6));
        _fund(100e6);
        _setRoot(root2, 1100e6, 2);

        uint256 paid = distributor.claim(alice, 140e6, _proof(alice, 140e6));
        assertEq(paid, 40e6);
        assertEq(usd.balanceOf(alice), 140e6);
        distributor.claim(bob, 300e6, _proof(bob, 300e6));
        assertEq(usd.balanceOf(bob), 300e6, "bob catches up on both distributions at once");
    }

    function test_claim_revertsIfNothingLeft() public {
        _activateFirstTree();
        bytes32[] memory proof = _proof(alice, 100e6);
        distributor.claim(alice, 100e6, proof);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorNothingToClaim.selector, alice, 100e6, 100e6)
        );
        distributor.claim(alice, 100e6, proof);
    }

    function test_claim_revertsIfProofInvalid() public {
        _activateFirstTree();
        bytes32[] memory proof = _proof(alice, 100e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, alice, 101e6));
        distributor.claim(alice, 101e6, proof);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, bob, 100e6));
        distributor.claim(bob, 100e6, proof);
    }

    function test_claim_revertsForProofOfPendingRoot() public {
        _activateFirstTree();
        bytes32 root2 = _useTree(_three(alice, bob, carol), _three(200e6, 250e6, 650e6));
        _fund(100e6);
        vm.prank(proposer);
        distributor.proposeRoot(root2, 1100e6, 0, 2);
        bytes32[] memory proof = _proof(alice, 200e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, alice, 200e6));
        distributor.claim(alice, 200e6, proof);
    }

    function test_claim_revertsBeforeAnyRoot() public {
        _fund(100);
        bytes32[] memory proof = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, alice, 100));
        distributor.claim(alice, 100, proof);
    }

    function test_claim_rejectsSingleHashedLeaf() public {
        // A tree whose leaves are keccak256(abi.encode(account, amount)) without the second hash must not verify.
        bytes32 single = keccak256(abi.encode(alice, uint256(100)));
        bytes32 sibling = StandardMerkle.leaf(bob, 200);
        _fund(300);
        _setRoot(Hashes.commutativeKeccak256(single, sibling), 300, 1);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = sibling;
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, alice, 100));
        distributor.claim(alice, 100, proof);
    }

    function test_claim_revertsWhilePaused() public {
        _activateFirstTree();
        vm.prank(guardian);
        distributor.pause();
        bytes32[] memory proof = _proof(alice, 100e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorPaused.selector));
        distributor.claim(alice, 100e6, proof);
    }

    function test_claim_verifiesOpenZeppelinMerkleTreeFixture() public {
        string memory json =
            vm.readFile(string.concat(vm.projectRoot(), "/contracts/test/fixtures/distributor-tree.json"));
        bytes32 root = abi.decode(vm.parseJson(json, ".root"), (bytes32));
        uint256 total = vm.parseJsonUint(json, ".total");
        address[] memory accts = abi.decode(vm.parseJson(json, ".accounts"), (address[]));
        string[] memory amountStrings = vm.parseJsonStringArray(json, ".amounts");
        uint256 n = accts.length;
        assertEq(amountStrings.length, n);
        assertGt(n, 1);
        uint256[] memory amts = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            amts[i] = vm.parseUint(amountStrings[i]);
        }
        _allowMany(accts);
        // Our in-test builder reproduces the package's root and proofs byte for byte.
        bytes32[] memory built = StandardMerkle.build(accts, amts);
        assertEq(built[0], root, "root matches @openzeppelin/merkle-tree");

        _fund(total);
        _setRoot(root, total, 1);
        for (uint256 i; i < n; ++i) {
            string memory key = string.concat(".entries[", vm.toString(i), "]");
            bytes32[] memory proof = abi.decode(vm.parseJson(json, string.concat(key, ".proof")), (bytes32[]));
            bytes32[] memory ours = StandardMerkle.proofOf(built, accts[i], amts[i]);
            assertEq(keccak256(abi.encode(proof)), keccak256(abi.encode(ours)), "proof matches the package");
            distributor.claim(accts[i], amts[i], proof);
            assertEq(usd.balanceOf(accts[i]), amts[i]);
        }
        assertEq(usd.balanceOf(address(distributor)), 0);
    }

    // ------------------------------------------------------------------ claimMany

    function test_claimMany_paysEveryAccount() public {
        _activateFirstTree();
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        vm.prank(relayer);
        uint256 total = distributor.claimMany(accounts, amounts, proofs);
        assertEq(total, 1000e6);
        assertEq(usd.balanceOf(alice), 100e6);
        assertEq(usd.balanceOf(bob), 250e6);
        assertEq(usd.balanceOf(carol), 650e6);
        assertEq(usd.balanceOf(address(distributor)), 0);
    }

    function test_claimMany_skipsAccountsWithNothingLeft() public {
        _activateFirstTree();
        distributor.claim(bob, 250e6, _proof(bob, 250e6));
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        vm.recordLogs();
        uint256 total = distributor.claimMany(accounts, amounts, proofs);
        assertEq(total, 750e6);
        assertEq(usd.balanceOf(bob), 250e6, "bob not paid twice");
        assertEq(usd.balanceOf(alice), 100e6);
        assertEq(usd.balanceOf(carol), 650e6);
        // Repeating the whole batch is a no-op, not a revert.
        assertEq(distributor.claimMany(accounts, amounts, proofs), 0);
    }

    function test_claimMany_revertsIfLengthsDiffer() public {
        _activateFirstTree();
        uint256[] memory two = new uint256[](2);
        bytes32[][] memory proofs = new bytes32[][](3);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorLengthMismatch.selector));
        distributor.claimMany(accounts, two, proofs);
        bytes32[][] memory twoProofs = new bytes32[][](2);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorLengthMismatch.selector));
        distributor.claimMany(accounts, amounts, twoProofs);
    }

    function test_claimMany_revertsIfAnyProofInvalid() public {
        _activateFirstTree();
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        uint256[] memory wrong = _three(100e6, 251e6, 650e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, bob, 251e6));
        distributor.claimMany(accounts, wrong, proofs);
        assertEq(usd.balanceOf(alice), 0, "batch reverted as a whole");
    }

    function test_claimMany_revertsWhilePaused() public {
        _activateFirstTree();
        vm.prank(guardian);
        distributor.pause();
        bytes32[][] memory proofs = new bytes32[][](3);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorPaused.selector));
        distributor.claimMany(accounts, amounts, proofs);
    }

    // ------------------------------------------------------------------ root total

    /// @dev The attack: the proposer's tree pays alice 100, bob 250, carol 650 (1000 in all) but declares a
    /// total of 600, and the distributor holds more than 1000 (funded for later distributions too). The
    /// leaves are not checked against the total on-chain; the total claimed is: carol's claim, which would
    /// take it to 1000, reverts, and nothing past 600 leaves the distributor.
    function test_claim_revertsIfRootTotalExceeded() public {
        bytes32 root = _useTree(_three(alice, bob, carol), _three(100e6, 250e6, 650e6));
        _fund(2000e6);
        _setRoot(root, 600e6, 1);
        distributor.claim(alice, 100e6, _proof(alice, 100e6));
        distributor.claim(bob, 250e6, _proof(bob, 250e6));
        assertEq(distributor.totalClaimed(), 350e6);
        bytes32[] memory proof = _proof(carol, 650e6);
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorRootTotalExceeded.selector, 1000e6, 600e6)
        );
        distributor.claim(carol, 650e6, proof);
        assertEq(usd.balanceOf(carol), 0);
        assertEq(usd.balanceOf(address(distributor)), 1650e6, "nothing past the root's total was paid");
        assertEq(distributor.totalClaimed(), 350e6);

        // A root whose total covers the leaves lets carol claim.
        _setRoot(root, 1000e6, 2);
        distributor.claim(carol, 650e6, proof);
        assertEq(usd.balanceOf(carol), 650e6);
        assertEq(distributor.totalClaimed(), 1000e6);
        assertEq(distributor.totalClaimed(), distributor.rootTotal());
    }

    /// @dev In a batch, the entry that would exceed the root's total reverts the whole batch.
    function test_claimMany_revertsIfRootTotalExceeded() public {
        bytes32 root = _useTree(_three(alice, bob, carol), _three(100e6, 250e6, 650e6));
        _fund(2000e6);
        _setRoot(root, 600e6, 1);
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        vm.expectRevert(
            abi.encodeWithSelector(IDistributor.DistributorRootTotalExceeded.selector, 1000e6, 600e6)
        );
        distributor.claimMany(accounts, amounts, proofs);
        assertEq(usd.balanceOf(alice), 0, "batch reverted as a whole");
        assertEq(distributor.totalClaimed(), 0);
        assertEq(distributor.claimed(alice), 0);
    }

    /// @dev totalClaimed sums claims and batches across roots; a new root keeps what was already paid.
    function test_totalClaimed_tracksClaimsAcrossRoots() public {
        assertEq(distributor.totalClaimed(), 0);
        _activateFirstTree();
        distributor.claim(alice, 100e6, _proof(alice, 100e6));
        assertEq(distributor.totalClaimed(), 100e6);

        bytes32 root2 = _useTree(_three(alice, bob, carol), _three(140e6, 300e6, 660e6));
        _fund(100e6);
        _setRoot(root2, 1100e6, 2);
        assertEq(distributor.totalClaimed(), 100e6, "accepting a root keeps the total claimed");
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        assertEq(distributor.claimMany(accounts, amounts, proofs), 1000e6);
        assertEq(distributor.totalClaimed(), 1100e6);
        assertEq(distributor.totalClaimed(), distributor.rootTotal());
    }

    // ------------------------------------------------------------------ compliance (finding 3)

    /// @dev Finding 3 of the review, the attack: a frozen holder (or one revoked, or whose allowlisting
    /// expired) claimed its payout as if nothing happened. Now `claim` refuses, whoever relays it, and the
    /// payout stays here, claimable in full once the registry allows the holder again.
    function test_attack_frozenRevokedOrExpiredHolderIsNotPaid() public {
        _activateFirstTree();
        bytes32[] memory carolProof = _proof(carol, 650e6);
        registry.freeze(carol);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorAccountNotAllowed.selector, carol));
        vm.prank(carol);
        distributor.claim(carol, 650e6, carolProof);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorAccountNotAllowed.selector, carol));
        vm.prank(relayer);
        distributor.claim(carol, 650e6, carolProof);

        bytes32[] memory bobProof = _proof(bob, 250e6);
        registry.revoke(bob);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorAccountNotAllowed.selector, bob));
        distributor.claim(bob, 250e6, bobProof);

        bytes32[] memory aliceProof = _proof(alice, 100e6);
        registry.allowlist(alice, uint64(block.timestamp + 10));
        vm.warp(block.timestamp + 11);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorAccountNotAllowed.selector, alice));
        distributor.claim(alice, 100e6, aliceProof);

        assertEq(usd.balanceOf(address(distributor)), 1000e6, "nothing left");
        assertEq(distributor.totalClaimed(), 0);

        // Allowed again: each claims everything it was owed.
        registry.unfreeze(carol);
        _allow(bob);
        _allow(alice);
        distributor.claim(carol, 650e6, carolProof);
        distributor.claim(bob, 250e6, bobProof);
        distributor.claim(alice, 100e6, aliceProof);
        assertEq(usd.balanceOf(carol), 650e6);
        assertEq(usd.balanceOf(bob), 250e6);
        assertEq(usd.balanceOf(alice), 100e6);
        assertEq(distributor.totalClaimed(), 1000e6);
    }

    /// @dev A frozen holder's payout carries into later roots (cumulative amounts): once unfrozen it
    /// claims all distributions at once.
    function test_claim_frozenPayoutCarriesIntoLaterRoots() public {
        _activateFirstTree();
        registry.freeze(alice);
        bytes32 root2 = _useTree(_three(alice, bob, carol), _three(140e6, 300e6, 660e6));
        _fund(100e6);
        _setRoot(root2, 1100e6, 2);
        bytes32[] memory proof = _proof(alice, 140e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorAccountNotAllowed.selector, alice));
        distributor.claim(alice, 140e6, proof);
        registry.unfreeze(alice);
        assertEq(distributor.claim(alice, 140e6, proof), 140e6);
    }

    /// @dev claimMany skips a holder the registry does not allow (event, no revert) and pays the others;
    /// the skipped payout is paid by a later batch once the holder is allowed again.
    function test_claimMany_skipsHoldersNotAllowed() public {
        _activateFirstTree();
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        registry.freeze(bob);
        vm.expectEmit(address(distributor));
        emit ClaimSkipped(bob, 250e6, 250e6, IDistributor.SkipReason.NotAllowed);
        vm.prank(relayer);
        uint256 total = distributor.claimMany(accounts, amounts, proofs);
        assertEq(total, 750e6);
        assertEq(usd.balanceOf(alice), 100e6);
        assertEq(usd.balanceOf(bob), 0);
        assertEq(usd.balanceOf(carol), 650e6);
        assertEq(distributor.claimed(bob), 0);
        assertEq(distributor.totalClaimed(), 750e6);
        assertEq(usd.balanceOf(address(distributor)), 250e6);

        registry.unfreeze(bob);
        vm.expectEmit(address(distributor));
        emit Claimed(bob, 250e6, 250e6);
        assertEq(distributor.claimMany(accounts, amounts, proofs), 250e6);
        assertEq(usd.balanceOf(bob), 250e6);
        assertEq(distributor.totalClaimed(), 1000e6);
    }

    /// @dev The compliance check fails closed: a registry without code (or that reverts) allows nobody.
    function test_claim_registryWithoutCodeAllowsNobody() public {
        Distributor fresh = Distributor(Clones.clone(address(implementation)));
        fresh.initialize(portfolio, address(usd), makeAddr("not a registry"), admin, guardian, proposer, DELAY);
        bytes32 root = _useTree(_three(alice, bob, carol), _three(100e6, 250e6, 650e6));
        usd.mint(portfolio, 1000e6);
        vm.startPrank(portfolio);
        usd.approve(address(fresh), 1000e6);
        fresh.fund(1000e6);
        vm.stopPrank();
        vm.prank(proposer);
        fresh.proposeRoot(root, 1000e6, 0, 1);
        vm.warp(block.timestamp + DELAY);
        fresh.acceptRoot();
        bytes32[] memory proof = _proof(alice, 100e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorAccountNotAllowed.selector, alice));
        fresh.claim(alice, 100e6, proof);
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        assertEq(fresh.claimMany(accounts, amounts, proofs), 0);
        assertEq(usd.balanceOf(address(fresh)), 1000e6);
    }

    /// @dev An invalid proof still reverts the batch, even for a holder that is not allowed.
    function test_claimMany_invalidProofRevertsEvenIfNotAllowed() public {
        _activateFirstTree();
        bytes32[][] memory proofs = new bytes32[][](3);
        for (uint256 i; i < 3; ++i) {
            proofs[i] = _proof(accounts[i], amounts[i]);
        }
        registry.freeze(bob);
        uint256[] memory wrong = _three(100e6, 251e6, 650e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, bob, 251e6));
        distributor.claimMany(accounts, wrong, proofs);
    }

    // ------------------------------------------------------------------ recoverToken (finding 9)

    function test_recoverToken_sendsAnotherTokenSentByMistake() public {
        _activateFirstTree();
        TestStablecoin other = new TestStablecoin(address(this));
        other.mint(address(distributor), 5e6);
        vm.expectEmit(address(distributor));
        emit TokenRecovered(address(other), alice, 5e6);
        vm.prank(admin);
        distributor.recoverToken(address(other), alice, 5e6);
        assertEq(other.balanceOf(alice), 5e6);
        assertEq(other.balanceOf(address(distributor)), 0);
        assertEq(usd.balanceOf(address(distributor)), 1000e6, "the pay token is untouched");
    }

    function test_recoverToken_revertsForThePayToken() public {
        _activateFirstTree();
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorPayTokenNotRecoverable.selector, address(usd)));
        vm.prank(admin);
        distributor.recoverToken(address(usd), admin, 1);
        assertEq(usd.balanceOf(address(distributor)), 1000e6);
    }

    function test_recoverToken_revertsForNonAdminAndZeroDestination() public {
        TestStablecoin other = new TestStablecoin(address(this));
        other.mint(address(distributor), 5e6);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, distributor.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(guardian);
        distributor.recoverToken(address(other), guardian, 5e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorZeroAddress.selector));
        vm.prank(admin);
        distributor.recoverToken(address(other), address(0), 5e6);
    }

    // ------------------------------------------------------------------ pause

    function test_pause_blocksClaimsUntilUnpaused() public {
        _activateFirstTree();
        vm.expectEmit(address(distributor));
        emit Paused(guardian);
        vm.prank(guardian);
        distributor.pause();
        assertTrue(distributor.paused());
        vm.expectEmit(address(distributor));
        emit Unpaused(guardian);
        vm.prank(guardian);
        distributor.unpause();
        distributor.claim(carol, 650e6, _proof(carol, 650e6));
        assertEq(usd.balanceOf(carol), 650e6);
    }

    function test_pause_revertsIfUnchanged() public {
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorPauseUnchanged.selector, false));
        vm.prank(guardian);
        distributor.unpause();
        vm.prank(guardian);
        distributor.pause();
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorPauseUnchanged.selector, true));
        vm.prank(guardian);
        distributor.pause();
    }

    function test_pause_revertsIfNotGuardian() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, admin, distributor.GUARDIAN_ROLE()
            )
        );
        vm.prank(admin);
        distributor.pause();
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Two successive distributions to a fuzzed set of holders: each claim pays exactly the cumulative
    /// difference, the distributor ends with exactly the unclaimed remainder.
    function testFuzz_claim_paysExactCumulativeDifference(uint256 seed, uint8 holderCount, uint8 claimer) public {
        uint256 n = bound(holderCount, 1, 24);
        address[] memory accts = new address[](n);
        uint256[] memory first = new uint256[](n);
        uint256[] memory second = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            accts[i] = address(uint160(uint256(keccak256(abi.encode(seed, "account", i)))));
            first[i] = uint256(keccak256(abi.encode(seed, "first", i))) % 1e15;
            second[i] = first[i] + uint256(keccak256(abi.encode(seed, "second", i))) % 1e15;
        }
        uint256 k = bound(claimer, 0, n - 1);
        vm.assume(first[k] > 0 && second[k] > first[k]);
        _allowMany(accts);

        bytes32[] memory t1 = StandardMerkle.build(accts, first);
        _fund(_sum(first));
        _setRoot(t1[0], _sum(first), 1);
        assertEq(distributor.claim(accts[k], first[k], StandardMerkle.proofOf(t1, accts[k], first[k])), first[k]);

        bytes32[] memory t2 = StandardMerkle.build(accts, second);
        _fund(_sum(second) - _sum(first));
        _setRoot(t2[0], _sum(second), 2);
        assertEq(
            distributor.claim(accts[k], second[k], StandardMerkle.proofOf(t2, accts[k], second[k])),
            second[k] - first[k]
        );
        assertEq(usd.balanceOf(accts[k]), second[k]);
        assertEq(usd.balanceOf(address(distributor)), _sum(second) - second[k]);

        // The old leaf no longer verifies against the new root.
        bytes32[] memory oldProof = StandardMerkle.proofOf(t1, accts[k], first[k]);
        vm.expectRevert();
        distributor.claim(accts[k], first[k] + 0, oldProof);
    }

    /// @dev Any cumulative amount other than the leaf's, or any other account, is rejected.
    function testFuzz_claim_rejectsAnyOtherAmountOrAccount(uint256 amount, uint256 wrongAmount, address wrongAccount)
        public
    {
        amount = bound(amount, 1, distributor.MAX_ROOT_UNCLAIMED() - 3);
        vm.assume(wrongAmount != amount && wrongAmount > 0);
        vm.assume(wrongAccount != alice);
        bytes32 root = _useTree(_three(alice, bob, carol), _three(amount, 1, 2));
        _fund(amount + 3);
        _setRoot(root, amount + 3, 1);
        bytes32[] memory proof = _proof(alice, amount);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, alice, wrongAmount));
        distributor.claim(alice, wrongAmount, proof);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorProofInvalid.selector, wrongAccount, amount));
        distributor.claim(wrongAccount, amount, proof);
        distributor.claim(alice, amount, proof);
        assertEq(usd.balanceOf(alice), amount);
    }

    /// @dev claimMany over a fuzzed tree and a fuzzed subset of pre-claimed holders pays each holder its
    /// leaf exactly once.
    function testFuzz_claimMany_paysEachHolderOnce(uint256 seed, uint8 holderCount, uint256 preClaimedMask) public {
        uint256 n = bound(holderCount, 1, 32);
        address[] memory accts = new address[](n);
        uint256[] memory amts = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            accts[i] = address(uint160(uint256(keccak256(abi.encode(seed, i)))));
            amts[i] = 1 + uint256(keccak256(abi.encode(seed, "amount", i))) % 1e12;
        }
        _allowMany(accts);
        bytes32[] memory t = StandardMerkle.build(accts, amts);
        _fund(_sum(amts));
        _setRoot(t[0], _sum(amts), 1);
        bytes32[][] memory proofs = new bytes32[][](n);
        uint256 expected;
        for (uint256 i; i < n; ++i) {
            proofs[i] = StandardMerkle.proofOf(t, accts[i], amts[i]);
            if ((preClaimedMask >> i) & 1 == 1) distributor.claim(accts[i], amts[i], proofs[i]);
            else expected += amts[i];
        }
        assertEq(distributor.claimMany(accts, amts, proofs), expected);
        for (uint256 i; i < n; ++i) {
            assertEq(usd.balanceOf(accts[i]), amts[i]);
            assertEq(distributor.claimed(accts[i]), amts[i]);
        }
        assertEq(usd.balanceOf(address(distributor)), 0);
    }
}

/// @notice Finding 3 with a pay token that blacklists a holder (USDC-like): a batch is not reverted by one
/// holder's refused transfer; that claim is rolled back and stays claimable.
contract DistributorBlacklistTest is DistributorTestBase {
    event Claimed(address indexed account, uint256 amount, uint256 cumulative);
    event ClaimSkipped(address indexed account, uint256 amount, uint256 cumulativeAmount, IDistributor.SkipReason reason);

    BlacklistToken internal token;
    Distributor internal d;
    bytes32[] internal tree;
    address[] internal accounts;
    uint256[] internal amounts;
    bytes32[][] internal proofs;

    function _setUpToken(BlacklistToken.Mode mode) internal {
        token = new BlacklistToken(mode);
        d = Distributor(Clones.clone(address(implementation)));
        d.initialize(portfolio, address(token), address(registry), admin, guardian, proposer, DELAY);
        token.mint(address(d), 1000e6);
        vm.prank(portfolio);
        token.approve(address(d), type(uint256).max);
        token.mint(portfolio, 1000e6);
        vm.prank(portfolio);
        d.fund(1000e6);
        accounts = _three(alice, bob, carol);
        amounts = _three(100e6, 250e6, 650e6);
        tree = StandardMerkle.build(accounts, amounts);
        vm.prank(proposer);
        d.proposeRoot(tree[0], 1000e6, 0, 1);
        vm.warp(block.timestamp + DELAY);
        d.acceptRoot();
        delete proofs;
        for (uint256 i; i < 3; ++i) {
            proofs.push(StandardMerkle.proofOf(tree, accounts[i], amounts[i]));
        }
    }

    function _batchSurvivesABlacklistedHolder(BlacklistToken.Mode mode) internal {
        _setUpToken(mode);
        token.setBlocked(bob, true);
        uint256 held = token.balanceOf(address(d));
        vm.expectEmit(address(d));
        emit Claimed(alice, 100e6, 100e6);
        vm.expectEmit(address(d));
        emit ClaimSkipped(bob, 250e6, 250e6, IDistributor.SkipReason.TransferFailed);
        vm.expectEmit(address(d));
        emit Claimed(carol, 650e6, 650e6);
        vm.prank(relayer);
        uint256 total = d.claimMany(accounts, amounts, proofs);
        assertEq(total, 750e6, "bob's amount is not counted as paid");
        assertEq(token.balanceOf(alice), 100e6);
        assertEq(token.balanceOf(carol), 650e6);
        assertEq(token.balanceOf(bob), 0);
        assertEq(d.claimed(bob), 0, "bob's claim rolled back");
        assertEq(d.totalClaimed(), 750e6, "the root's counter restored");
        assertEq(token.balanceOf(address(d)), held - 750e6);

        // A single claim for bob reverts while he is blacklisted (nothing changes), then pays once lifted.
        bytes32[] memory bobProof = proofs[1];
        vm.expectRevert();
        d.claim(bob, 250e6, bobProof);
        assertEq(d.claimed(bob), 0);
        token.setBlocked(bob, false);
        assertEq(d.claimMany(accounts, amounts, proofs), 250e6);
        assertEq(token.balanceOf(bob), 250e6);
        assertEq(d.totalClaimed(), 1000e6);
    }

    function test_claimMany_blacklistedHolderThatReverts() public {
        _batchSurvivesABlacklistedHolder(BlacklistToken.Mode.Revert);
    }

    function test_claimMany_blacklistedHolderThatReturnsFalse() public {
        _batchSurvivesABlacklistedHolder(BlacklistToken.Mode.ReturnFalse);
    }

    /// @dev Every transfer refused (the token paused, or the distributor itself blacklisted): the batch
    /// succeeds, pays nothing, and everything stays claimable.
    function test_claimMany_everyTransferRefusedPaysNothing() public {
        _setUpToken(BlacklistToken.Mode.Revert);
        token.setBlocked(address(d), true);
        assertEq(d.claimMany(accounts, amounts, proofs), 0);
        assertEq(d.totalClaimed(), 0);
        for (uint256 i; i < 3; ++i) {
            assertEq(d.claimed(accounts[i]), 0);
        }
        token.setBlocked(address(d), false);
        assertEq(d.claimMany(accounts, amounts, proofs), 1000e6);
    }
}

/// @notice The rollback of a refused transfer is relative: a pay token that re-enters during the refused
/// transfer (accepting a newer root and claiming under it, which pays the difference) cannot make the
/// rollback forget that claim and pay the holder twice.
contract DistributorReentrancyTest is DistributorTestBase {
    function test_claimMany_rollbackAfterReentrantClaimPaysNoMore() public {
        ReenteringFalseToken token = new ReenteringFalseToken();
        Distributor d = Distributor(Clones.clone(address(implementation)));
        d.initialize(portfolio, address(token), address(registry), admin, guardian, proposer, DELAY);
        token.mint(portfolio, 1000e6);
        vm.startPrank(portfolio);
        token.approve(address(d), type(uint256).max);
        d.fund(1000e6);
        vm.stopPrank();

        bytes32[] memory tree1 = StandardMerkle.build(_three(alice, bob, carol), _three(100e6, 1, 1));
        vm.prank(proposer);
        d.proposeRoot(tree1[0], 100e6 + 2, 0, 1);
        vm.warp(block.timestamp + DELAY);
        d.acceptRoot();
        // A newer root (alice 100 -> 150) pending and past its timelock.
        bytes32[] memory tree2 = StandardMerkle.build(_three(alice, bob, carol), _three(150e6, 1, 1));
        vm.prank(proposer);
        d.proposeRoot(tree2[0], 150e6 + 2, 0, 2);
        vm.warp(block.timestamp + DELAY);

        bytes32[] memory proof2 = StandardMerkle.proofOf(tree2, alice, 150e6);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(Distributor.acceptRoot, ());
        calls[1] = abi.encodeCall(Distributor.claim, (alice, 150e6, proof2));
        token.arm(alice, address(d), calls);

        address[] memory one = new address[](1);
        one[0] = alice;
        uint256[] memory cumulative = new uint256[](1);
        cumulative[0] = 100e6;
        bytes32[][] memory proofs = new bytes32[][](1);
        proofs[0] = StandardMerkle.proofOf(tree1, alice, 100e6);
        assertEq(d.claimMany(one, cumulative, proofs), 0, "the batch's own transfer was refused");

        // The re-entrant claim paid 50 (150 - 100 marked); the rollback takes off only the 100 not paid.
        assertEq(token.balanceOf(alice), 50e6);
        assertEq(d.claimed(alice), 50e6);
        assertEq(d.totalClaimed(), 50e6);
        assertEq(d.root(), tree2[0]);
        assertEq(d.claim(alice, 150e6, proof2), 100e6);
        assertEq(token.balanceOf(alice), 150e6, "exactly the leaf, never more");
        assertEq(d.totalClaimed(), 150e6);
        vm.expectRevert(abi.encodeWithSelector(IDistributor.DistributorNothingToClaim.selector, alice, 150e6, 150e6));
        d.claim(alice, 150e6, proof2);
    }
}

/// @notice Exposes the internal proof loop to compare it with OpenZeppelin's MerkleProof.
contract DistributorHarness is Distributor {
    constructor() Distributor(0) {}

    function processProof(bytes32[] calldata proof, bytes32 leaf) external pure returns (bytes32) {
        return _processProof(proof, leaf);
    }

    function leafOf(address account, uint256 amount) external pure returns (bytes32) {
        return _leaf(account, amount);
    }
}

contract DistributorProofTest is Test {
    DistributorHarness internal harness = new DistributorHarness();

    function testFuzz_processProof_matchesOpenZeppelin(bytes32 leaf, bytes32[] memory proof) public view {
        assertEq(harness.processProof(proof, leaf), MerkleProof.processProof(proof, leaf));
    }

    function testFuzz_processProof_equalSiblings(bytes32 leaf, uint8 depth) public view {
        bytes32[] memory proof = new bytes32[](bound(depth, 0, 8));
        bytes32 expected = leaf;
        for (uint256 i; i < proof.length; ++i) {
            proof[i] = expected; // sibling equal to the running hash: order does not matter
            expected = Hashes.commutativeKeccak256(expected, proof[i]);
        }
        assertEq(harness.processProof(proof, leaf), expected);
    }

    function testFuzz_leaf_isStandardMerkleTreeLeaf(address account, uint256 amount) public view {
        assertEq(harness.leafOf(account, amount), keccak256(bytes.concat(keccak256(abi.encode(account, amount)))));
    }
}

/// @notice Gas measurements of the claim paths (reported, not snapshotted: the lead owns Gas.t.sol).
/// Run with `forge test --isolate --match-contract DistributorGasTest -vv` to get whole-transaction numbers
/// from the gas report; the logged numbers are execution gas inside the call (no 21k base, no calldata).
contract DistributorGasTest is DistributorTestBase {
    event log_named_uint(string key, uint256 val);

    uint256 internal constant DEPTH = 20;

    function test_gas_claimDepth20_firstAndRepeat() public {
        _fund(10e6);
        bytes32 leaf1 = StandardMerkle.leaf(alice, 1e6);
        (bytes32[] memory proof1, bytes32 root1) = StandardMerkle.randomPath(leaf1, DEPTH, 1);
        _setRoot(root1, 1e6, 1);

        uint256 before = gasleft();
        distributor.claim(alice, 1e6, proof1);
        emit log_named_uint("claim depth 20, first-ever claim (exec gas)", before - gasleft());
        assertEq(usd.balanceOf(alice), 1e6);

        bytes32 leaf2 = StandardMerkle.leaf(alice, 3e6);
        (bytes32[] memory proof2, bytes32 root2) = StandardMerkle.randomPath(leaf2, DEPTH, 2);
        _setRoot(root2, 3e6, 2);
        before = gasleft();
        distributor.claim(alice, 3e6, proof2);
        emit log_named_uint("claim depth 20, repeat claim (exec gas)", before - gasleft());
        assertEq(usd.balanceOf(alice), 3e6);
    }

    function test_gas_claimMany100_firstAndRepeat() public {
        uint256 n = 100;
        address[] memory accts = new address[](n);
        uint256[] memory first = new uint256[](n);
        uint256[] memory second = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            accts[i] = address(uint160(0x10000 + i));
            first[i] = 1e6 + i;
            second[i] = 2e6 + i;
        }
        _allowMany(accts);
        _fund(_sum(second));
        bytes32[] memory t1 = StandardMerkle.build(accts, first);
        _setRoot(t1[0], _sum(first), 1);
        bytes32[][] memory proofs = new bytes32[][](n);
        for (uint256 i; i < n; ++i) {
            proofs[i] = StandardMerkle.proofOf(t1, accts[i], first[i]);
        }
        uint256 before = gasleft();
        distributor.claimMany(accts, first, proofs);
        emit log_named_uint("claimMany 100 (tree of 100), first-ever, per holder (exec gas)", (before - gasleft()) / n);

        bytes32[] memory t2 = StandardMerkle.build(accts, second);
        _setRoot(t2[0], _sum(second), 2);
        for (uint256 i; i < n; ++i) {
            proofs[i] = StandardMerkle.proofOf(t2, accts[i], second[i]);
        }
        before = gasleft();
        distributor.claimMany(accts, second, proofs);
        emit log_named_uint("claimMany 100 (tree of 100), repeat, per holder (exec gas)", (before - gasleft()) / n);
        assertEq(usd.balanceOf(accts[n - 1]), second[n - 1]);
    }

    /// @dev claimMany of 100 holders each with a depth-20 proof (a 1M-leaf tree): built as 100 leaves at
    /// the bottom of disjoint random subtrees that share the 13 top levels, computed here pairwise.
    function test_gas_claimMany100_depth20_repeat() public {
        uint256 n = 100;
        address[] memory accts = new address[](n);
        uint256[] memory amts = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            accts[i] = address(uint160(0x20000 + i));
            amts[i] = 1e6;
        }
        _allowMany(accts);
        // Warm every account (they already hold pay tokens and have claimed before).
        usd.mint(address(this), n);
        for (uint256 i; i < n; ++i) {
            usd.transfer(accts[i], 1);
            vm.store(address(distributor), _claimedSlot(accts[i]), bytes32(uint256(1)));
        }
        // 7-level subtree over the 100 leaves (depth 7), each leaf first climbs 13 random levels.
        bytes32[] memory bases = new bytes32[](n);
        bytes32[][] memory lower = new bytes32[][](n);
        for (uint256 i; i < n; ++i) {
            (lower[i], bases[i]) = StandardMerkle.randomPath(StandardMerkle.leaf(accts[i], amts[i]), 13, i);
        }
        (bytes32 root, bytes32[][] memory upper) = _pairTree(bases);
        bytes32[][] memory proofs = new bytes32[][](n);
        for (uint256 i; i < n; ++i) {
            proofs[i] = new bytes32[](lower[i].length + upper[i].length);
            for (uint256 j; j < lower[i].length; ++j) {
                proofs[i][j] = lower[i][j];
            }
            for (uint256 j; j < upper[i].length; ++j) {
                proofs[i][lower[i].length + j] = upper[i][j];
            }
        }
        _fund(n * 1e6);
        _setRoot(root, n * 1e6, 1);
        uint256 before = gasleft();
        distributor.claimMany(accts, amts, proofs);
        emit log_named_uint("claimMany 100 (depth 20), repeat, per holder (exec gas)", (before - gasleft()) / n);
        assertEq(usd.balanceOf(accts[0]), 1e6, "1 held before + (1e6 - 1 already claimed)");
        emit log_named_uint("proof length", proofs[0].length);
    }

    /// @dev Mapping slot of `claimed[account]`: storage slot 2 (after payToken+paused and root).
    function _claimedSlot(address account) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, uint256(2)));
    }

    /// @dev A pairwise tree over `nodes` (odd last node promoted); returns root and every node's path.
    function _pairTree(bytes32[] memory nodes) internal pure returns (bytes32 root, bytes32[][] memory paths) {
        uint256 n = nodes.length;
        paths = new bytes32[][](n);
        uint256[] memory position = new uint256[](n);
        uint256[] memory lengths = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            paths[i] = new bytes32[](8);
            position[i] = i;
        }
        bytes32[] memory level = nodes;
        while (level.length > 1) {
            bytes32[] memory next = new bytes32[]((level.length + 1) / 2);
            for (uint256 j; j < next.length; ++j) {
                next[j] = 2 * j + 1 < level.length
                    ? Hashes.commutativeKeccak256(level[2 * j], level[2 * j + 1])
                    : level[2 * j];
            }
            for (uint256 i; i < n; ++i) {
                uint256 p = position[i];
                uint256 sibling = p ^ 1;
                if (sibling < level.length) paths[i][lengths[i]++] = level[sibling];
                position[i] = p / 2;
            }
            level = next;
        }
        root = level[0];
        for (uint256 i; i < n; ++i) {
            bytes32[] memory path = paths[i];
            uint256 len = lengths[i];
            assembly {
                mstore(path, len)
            }
        }
    }
}
