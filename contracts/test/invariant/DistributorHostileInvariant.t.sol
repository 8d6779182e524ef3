// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {Distributor} from "../../src/Distributor.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";

import {StandardMerkle} from "../utils/StandardMerkle.sol";
import {Test} from "../utils/Test.sol";

/// @notice A hostile handler: it plays the admin, the root proposer, the guardian and the compliance
/// officer with random bounded actions (timelock proposals below and above the bounds, acceptances early
/// and late, cancellations, role grants and revocations to a rogue key, roots with over-large totals or
/// over-declared leaves, revocations, pause and unpause, freezes), plus holders and relayers claiming.
/// Every call is tried: the ghost state follows what actually happened (token balances), and a call that
/// succeeded although the rules forbid it counts as a violation.
contract DistributorHostileHandler is Test {
    uint256 internal constant HOLDERS = 5;

    Distributor public distributor;
    TestStablecoin public usd;
    ComplianceRegistry public registry;
    address public portfolio;
    address public admin;
    /// @dev Keys that may hold ROOT_PROPOSER_ROLE or GUARDIAN_ROLE: the real ones and a rogue key the
    /// admin grants roles to.
    address[] public keys;
    address[] public holders;

    // Ghost state.
    uint256 public ghostFunded;
    uint256 public ghostPaid;
    mapping(address account => uint256) public ghostPaidTo;
    uint256[] internal _acceptedTable;
    bytes32[] internal _acceptedTree;
    uint256[] internal _pendingTable;
    bytes32[] internal _pendingTree;
    /// @dev When the pending root was proposed and the delay in force then.
    uint256 public pendingProposedAt;
    uint256 public pendingDelayAtProposal;
    /// @dev When the pending timelock change was proposed and the delay in force then.
    uint256 public delayProposedAt;
    uint256 public delayInForceAtDelayProposal;
    uint256 public lowestDelaySeen = type(uint256).max;

    uint256 public violations;
    uint256 public accepted;
    uint256 public delayChanges;
    uint256 public refusedNotAllowed;

    constructor(
        Distributor distributor_,
        TestStablecoin usd_,
        ComplianceRegistry registry_,
        address portfolio_,
        address admin_,
        address proposer_,
        address guardian_
    ) {
        distributor = distributor_;
        usd = usd_;
        registry = registry_;
        portfolio = portfolio_;
        admin = admin_;
        keys.push(proposer_);
        keys.push(guardian_);
        keys.push(admin_);
        keys.push(makeAddr("rogue"));
        for (uint256 i; i < HOLDERS; ++i) {
            holders.push(address(uint160(uint256(keccak256(abi.encode("hostile holder", i))))));
            _acceptedTable.push(0);
        }
    }

    // ------------------------------------------------------------------ money in

    function fund(uint256 amount) external {
        amount = bound(amount, 0, 1e15);
        usd.mint(portfolio, amount);
        vm.prank(portfolio);
        distributor.fund(amount);
        ghostFunded += amount;
    }

    // ------------------------------------------------------------------ the admin

    /// @dev Any delay from 0 to past the ceiling; only one inside the bounds may be taken.
    function adminProposeDelay(uint256 delay) external {
        delay = bound(delay, 0, distributor.MAX_TIMELOCK_DELAY() + 1 days);
        uint256 inForce = distributor.timelockDelay();
        vm.prank(admin);
        try distributor.proposeTimelockDelay(delay) {
            if (delay < distributor.MIN_TIMELOCK_DELAY() || delay > distributor.MAX_TIMELOCK_DELAY()) ++violations;
            delayProposedAt = block.timestamp;
            delayInForceAtDelayProposal = inForce;
        } catch {}
    }

    /// @dev Anyone accepts the pending change, early or not.
    function acceptDelay(address caller) external {
        (, uint256 validAt) = distributor.pendingTimelockDelay();
        vm.prank(caller);
        try distributor.acceptTimelockDelay() {
            if (validAt == 0 || block.timestamp < delayProposedAt + delayInForceAtDelayProposal) ++violations;
            ++delayChanges;
        } catch {}
        _noteDelay();
    }

    function cancelDelay(uint256 keySeed) external {
        vm.prank(_key(keySeed, 1));
        try distributor.cancelTimelockDelay() {} catch {}
    }

    /// @dev The admin grants or revokes ROOT_PROPOSER_ROLE or GUARDIAN_ROLE to or from any key (itself
    /// and the rogue key included).
    function adminSetRole(uint256 roleSeed, uint256 keySeed, bool grant) external {
        bytes32 role = roleSeed % 2 == 0 ? distributor.ROOT_PROPOSER_ROLE() : distributor.GUARDIAN_ROLE();
        address key = keys[keySeed % keys.length];
        vm.prank(admin);
        if (grant) distributor.grantRole(role, key);
        else distributor.revokeRole(role, key);
    }

    // ------------------------------------------------------------------ proposers

    /// @dev Any key proposes a table = the accepted one + increments; `overLarge` asks for more than was
    /// funded, `overDeclare` adds to one leaf beyond the declared total.
    function propose(uint256 seed, uint256 keySeed, uint256 spendFraction, bool overLarge, bool overDeclare)
        external
    {
        address key = _key(keySeed, 0);
        (uint256[] memory table, uint256 total) = _nextTable(seed, spendFraction);
        if (overLarge) total = distributor.totalFunded() + 1 + seed % 1e12;
        if (overDeclare) table[seed % HOLDERS] += 1 + seed % 1e12;
        bytes32[] memory tree = StandardMerkle.build(holders, table);
        bool mayPropose = distributor.hasRole(distributor.ROOT_PROPOSER_ROLE(), key);
        uint256 inForce = distributor.timelockDelay();
        vm.prank(key);
        try distributor.proposeRoot(tree[0], total, keccak256(abi.encode(tree)), seed) {
            if (!mayPropose || total > distributor.totalFunded()) ++violations;
            if (distributor.pendingRoot().validAt != block.timestamp + inForce) ++violations;
            _pendingTable = table;
            _pendingTree = tree;
            pendingProposedAt = block.timestamp;
            pendingDelayAtProposal = inForce;
        } catch {}
    }

    /// @dev The accepted table plus random increments spending `spendFraction`% of the unspent funds.
    function _nextTable(uint256 seed, uint256 spendFraction) internal view returns (uint256[] memory table, uint256 total) {
        uint256 base = distributor.rootTotal();
        uint256 spend = bound(spendFraction, 0, 100) * (distributor.totalFunded() - base) / 100;
        table = new uint256[](HOLDERS);
        total = base;
        for (uint256 i; i < HOLDERS; ++i) {
            uint256 increment = uint256(keccak256(abi.encode(seed, i))) % (spend / HOLDERS + 1);
            table[i] = _acceptedTable[i] + increment;
            total += increment;
        }
    }

    // ------------------------------------------------------------------ guardians

    function revoke(uint256 keySeed) external {
        address key = _key(keySeed, 1);
        bool mayRevoke = distributor.hasRole(distributor.GUARDIAN_ROLE(), key);
        vm.prank(key);
        try distributor.revokePendingRoot() {
            if (!mayRevoke) ++violations;
        } catch {}
    }

    function setPaused(uint256 keySeed, bool pause) external {
        address key = _key(keySeed, 1);
        vm.prank(key);
        if (pause) {
            try distributor.pause() {} catch {}
        } else {
            try distributor.unpause() {} catch {}
        }
    }

    // ------------------------------------------------------------------ acceptance

    /// @dev Anyone accepts the pending root, whenever: it must never work before the delay that was in
    /// force when the root was proposed has passed, nor while paused.
    function accept(address caller, bool warpToValidAt) external {
        uint256 validAt = distributor.pendingRoot().validAt;
        if (warpToValidAt && validAt > block.timestamp) vm.warp(validAt);
        bool wasPaused = distributor.paused();
        vm.prank(caller);
        try distributor.acceptRoot() {
            if (block.timestamp < pendingProposedAt + pendingDelayAtProposal || wasPaused) ++violations;
            _acceptedTable = _pendingTable;
            _acceptedTree = _pendingTree;
            ++accepted;
        } catch {}
    }

    // ------------------------------------------------------------------ compliance officer

    function setFrozen(uint256 holderSeed, bool frozen) external {
        address holder = holders[holderSeed % HOLDERS];
        if (frozen) {
            try registry.freeze(holder) {} catch {}
        } else {
            try registry.unfreeze(holder) {} catch {}
        }
    }

    // ------------------------------------------------------------------ holders and relayers

    function claim(uint256 holderSeed, address caller) external {
        if (_acceptedTree.length == 0) return;
        uint256 i = holderSeed % HOLDERS;
        address holder = holders[i];
        bytes32[] memory proof = StandardMerkle.proofOf(_acceptedTree, holder, _acceptedTable[i]);
        bool allowed = registry.isAllowed(holder);
        uint256 before = usd.balanceOf(holder);
        uint256 callerBefore = usd.balanceOf(caller);
        vm.prank(caller);
        try distributor.claim(holder, _acceptedTable[i], proof) {
            if (!allowed) ++violations;
        } catch {
            if (!allowed) ++refusedNotAllowed;
        }
        if (caller != holder && usd.balanceOf(caller) != callerBefore) ++violations;
        _record(holder, before);
    }

    address[] internal _batch;
    uint256[] internal _batchBefore;
    bool[] internal _batchAllowed;

    function claimMany(uint256 mask, address caller) external {
        if (_acceptedTree.length == 0) return;
        delete _batch;
        delete _batchBefore;
        delete _batchAllowed;
        for (uint256 i; i < HOLDERS; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            _batch.push(holders[i]);
            _batchBefore.push(usd.balanceOf(holders[i]));
            _batchAllowed.push(registry.isAllowed(holders[i]));
        }
        (uint256[] memory cumulatives, bytes32[][] memory proofs) = _batchLeaves(mask);
        vm.prank(caller);
        try distributor.claimMany(_batch, cumulatives, proofs) returns (uint256 total) {
            uint256 sum;
            for (uint256 j; j < _batch.length; ++j) {
                uint256 paid = usd.balanceOf(_batch[j]) - _batchBefore[j];
                if (!_batchAllowed[j] && paid != 0) ++violations;
                sum += paid;
            }
            if (sum != total) ++violations;
        } catch {}
        for (uint256 j; j < _batch.length; ++j) {
            _record(_batch[j], _batchBefore[j]);
        }
    }

    function _batchLeaves(uint256 mask) internal view returns (uint256[] memory cumulatives, bytes32[][] memory proofs) {
        cumulatives = new uint256[](_batch.length);
        proofs = new bytes32[][](_batch.length);
        uint256 k;
        for (uint256 i; i < HOLDERS; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            cumulatives[k] = _acceptedTable[i];
            proofs[k] = StandardMerkle.proofOf(_acceptedTree, holders[i], _acceptedTable[i]);
            ++k;
        }
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 3 days));
    }

    // ------------------------------------------------------------------ views

    function holderCount() external pure returns (uint256) {
        return HOLDERS;
    }

    function acceptedCumulative(uint256 i) external view returns (uint256) {
        return _acceptedTable[i];
    }

    /// @dev Mostly the key whose role the action needs (`natural`: 0 the proposer, 1 the guardian), else
    /// any key (the admin, the rogue key), so that both the role checks and the actions get exercised.
    function _key(uint256 seed, uint256 natural) internal view returns (address) {
        return seed % 4 != 0 ? keys[natural] : keys[(seed >> 2) % keys.length];
    }

    function _record(address holder, uint256 before) internal {
        uint256 paid = usd.balanceOf(holder) - before;
        ghostPaid += paid;
        ghostPaidTo[holder] += paid;
    }

    function _noteDelay() internal {
        uint256 delay = distributor.timelockDelay();
        if (delay < lowestDelaySeen) lowestDelaySeen = delay;
    }
}

/// forge-config: default.invariant.depth = 200
contract DistributorHostileInvariantTest is Test {
    DistributorHostileHandler internal handler;
    Distributor internal distributor;
    TestStablecoin internal usd;
    uint256 internal constant FLOOR = 1 hours;

    function setUp() public {
        vm.warp(1_700_000_000);
        address portfolio = makeAddr("portfolio");
        address admin = makeAddr("admin");
        address proposer = makeAddr("proposer");
        address guardian = makeAddr("guardian");
        usd = new TestStablecoin(address(this));
        ComplianceRegistry registry = new ComplianceRegistry(address(this));
        distributor = Distributor(Clones.clone(address(new Distributor(FLOOR))));
        distributor.initialize(portfolio, address(usd), address(registry), admin, guardian, proposer, 1 days);
        handler = new DistributorHostileHandler(distributor, usd, registry, portfolio, admin, proposer, guardian);
        usd.grantRole(usd.MINTER_ROLE(), address(handler));
        registry.grantRole(registry.GUARDIAN_ROLE(), address(handler));
        for (uint256 i; i < handler.holderCount(); ++i) {
            registry.allowlist(handler.holders(i), type(uint64).max);
        }
        vm.prank(portfolio);
        usd.approve(address(distributor), type(uint256).max);

        bytes4[] memory selectors = new bytes4[](14);
        selectors[0] = DistributorHostileHandler.fund.selector;
        selectors[1] = DistributorHostileHandler.adminProposeDelay.selector;
        selectors[2] = DistributorHostileHandler.acceptDelay.selector;
        selectors[3] = DistributorHostileHandler.cancelDelay.selector;
        selectors[4] = DistributorHostileHandler.adminSetRole.selector;
        selectors[5] = DistributorHostileHandler.propose.selector;
        selectors[6] = DistributorHostileHandler.revoke.selector;
        selectors[7] = DistributorHostileHandler.setPaused.selector;
        selectors[8] = DistributorHostileHandler.accept.selector;
        selectors[9] = DistributorHostileHandler.setFrozen.selector;
        selectors[10] = DistributorHostileHandler.claim.selector;
        selectors[11] = DistributorHostileHandler.claimMany.selector;
        selectors[12] = DistributorHostileHandler.warp.selector;
        selectors[13] = DistributorHostileHandler.propose.selector; // proposals twice as often
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @dev Σ paid <= Σ funded, and what is not paid is still held.
    function invariant_hostile_paidWithinFunded() public view {
        assertEq(distributor.totalFunded(), handler.ghostFunded(), "funded ghost");
        assertLe(handler.ghostPaid(), distributor.totalFunded(), "paid <= funded");
        assertEq(usd.balanceOf(address(distributor)), distributor.totalFunded() - handler.ghostPaid(), "held");
    }

    /// @dev Σ claimed <= root total <= total funded.
    function invariant_hostile_claimedWithinRootTotal() public view {
        assertEq(distributor.totalClaimed(), handler.ghostPaid(), "totalClaimed == sum paid");
        assertLe(distributor.totalClaimed(), distributor.rootTotal(), "claimed <= root total");
        assertLe(distributor.rootTotal(), distributor.totalFunded(), "root total <= funded");
    }

    /// @dev Each holder's claimed <= its cumulative in the accepted root, and equals what it received.
    function invariant_hostile_holderWithinLeaf() public view {
        for (uint256 i; i < handler.holderCount(); ++i) {
            address holder = handler.holders(i);
            uint256 claimed = distributor.claimed(holder);
            assertLe(claimed, handler.acceptedCumulative(i), "claimed <= accepted cumulative");
            assertEq(claimed, handler.ghostPaidTo(holder), "claimed == paid to holder");
            assertEq(usd.balanceOf(holder), claimed, "holder balance == claimed");
        }
    }

    /// @dev The delay in force never leaves [floor, ceiling], whatever the admin asked for.
    function invariant_hostile_delayWithinBounds() public view {
        assertEq(distributor.MIN_TIMELOCK_DELAY(), FLOOR);
        assertGe(distributor.timelockDelay(), FLOOR, "delay >= floor");
        assertLe(distributor.timelockDelay(), distributor.MAX_TIMELOCK_DELAY(), "delay <= ceiling");
        assertGe(handler.lowestDelaySeen() == type(uint256).max ? FLOOR : handler.lowestDelaySeen(), FLOOR);
    }

    /// @dev No root accepted before the delay in force at its proposal, no delay change before the old
    /// delay, no frozen holder paid, no unauthorised proposal or revocation.
    function invariant_hostile_noForbiddenCallSucceeded() public view {
        assertEq(handler.violations(), 0, "violations");
    }
}


