// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {Distributor} from "../../src/Distributor.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";

import {StandardMerkle} from "../utils/StandardMerkle.sol";
import {Test} from "../utils/Test.sol";

/// @notice Drives a Distributor the way the worker and the holders do: funds it, proposes roots built from
/// its own ghost cumulative table (each account's cumulative only grows, total <= funded), revokes or
/// accepts them after the timelock, and claims (single, relayed, batched), plus claims that must fail.
/// Some roots are over-declared (a buggy proposer): their leaves sum to more than their declared total, and
/// the claims that would take the total claimed past it must revert.
/// Bounded inputs; returns early when a call is impossible.
contract DistributorHandler is Test {
    uint256 internal constant ACTORS = 6;

    Distributor public distributor;
    TestStablecoin public usd;
    address public portfolio;
    address public proposer;
    address public guardian;
    address[] public actors;

    // Ghost state.
    uint256 public ghostFunded;
    uint256 public ghostPaid;
    mapping(address account => uint256) public ghostPaidTo;
    mapping(address account => uint256) public ghostAcceptedCumulative;
    mapping(address account => uint256) public ghostMaxAcceptedCumulative;
    uint256[] internal _acceptedTable;
    bytes32[] internal _acceptedTree;
    uint256[] internal _pendingTable;
    bytes32[] internal _pendingTree;
    bool public hasPending;
    uint256 public nextDistributionId = 1;
    /// @dev Calls that succeeded although they must not have (overclaim, stale leaf, early accept).
    uint256 public violations;
    uint256 public claims;
    /// @dev Claims refused because they would have exceeded the root's total (over-declared roots).
    uint256 public refusedOverTotal;

    constructor(Distributor distributor_, TestStablecoin usd_, address portfolio_, address proposer_, address guardian_) {
        distributor = distributor_;
        usd = usd_;
        portfolio = portfolio_;
        proposer = proposer_;
        guardian = guardian_;
        for (uint256 i; i < ACTORS; ++i) {
            actors.push(address(uint160(uint256(keccak256(abi.encode("distributor actor", i))))));
            _acceptedTable.push(0);
        }
    }

    // ------------------------------------------------------------------ actions

    function fund(uint256 amount) external {
        amount = bound(amount, 0, 1e15);
        usd.mint(portfolio, amount);
        vm.prank(portfolio);
        distributor.fund(amount);
        ghostFunded += amount;
    }

    /// @dev A new table = the accepted table + random increments, declaring at most what is funded. With
    /// `overDeclare` odd, one leaf gets up to `excess` more than the declared total accounts for.
    function propose(uint256 seed, uint256 spendFraction, uint256 overDeclare, uint256 excess) external {
        uint256 base = distributor.rootTotal();
        uint256 budget = distributor.totalFunded() - base;
        if (budget == 0) return;
        uint256 spend = bound(spendFraction, 1, 100) * budget / 100;
        address[] memory accounts = actors;
        uint256[] memory table = new uint256[](ACTORS);
        uint256 spent;
        for (uint256 i; i < ACTORS; ++i) {
            uint256 increment = spend == 0 ? 0 : uint256(keccak256(abi.encode(seed, i))) % (spend / ACTORS + 1);
            table[i] = _acceptedTable[i] + increment;
            spent += increment;
        }
        if (overDeclare % 2 == 1) table[seed % ACTORS] += bound(excess, 1, 1e15);
        bytes32[] memory tree = StandardMerkle.build(accounts, table);
        vm.prank(proposer);
        distributor.proposeRoot(tree[0], base + spent, keccak256(abi.encode(tree)), nextDistributionId++);
        _pendingTable = table;
        _pendingTree = tree;
        hasPending = true;
    }

    function revoke() external {
        if (!hasPending) return;
        vm.prank(guardian);
        distributor.revokePendingRoot();
        hasPending = false;
    }

    function accept(bool tryEarly) external {
        if (!hasPending) return;
        uint256 validAt = distributor.pendingRoot().validAt;
        if (tryEarly && block.timestamp < validAt) {
            try distributor.acceptRoot() {
                ++violations;
            } catch {}
            return;
        }
        if (block.timestamp < validAt) vm.warp(validAt);
        distributor.acceptRoot();
        _acceptedTable = _pendingTable;
        _acceptedTree = _pendingTree;
        hasPending = false;
        for (uint256 i; i < ACTORS; ++i) {
            address account = actors[i];
            ghostAcceptedCumulative[account] = _acceptedTable[i];
            if (_acceptedTable[i] > ghostMaxAcceptedCumulative[account]) {
                ghostMaxAcceptedCumulative[account] = _acceptedTable[i];
            }
        }
    }

    /// @dev Anyone (`caller`) claims for an actor; pays only the actor.
    function claim(uint256 actorSeed, address caller) external {
        if (_acceptedTree.length == 0) return;
        uint256 i = actorSeed % ACTORS;
        address account = actors[i];
        uint256 cumulative = _acceptedTable[i];
        if (cumulative <= distributor.claimed(account)) return;
        bytes32[] memory proof = StandardMerkle.proofOf(_acceptedTree, account, cumulative);
        uint256 callerBalance = usd.balanceOf(caller);
        if (cumulative - distributor.claimed(account) > _left()) {
            vm.prank(caller);
            try distributor.claim(account, cumulative, proof) {
                ++violations;
            } catch {
                ++refusedOverTotal;
            }
            return;
        }
        vm.prank(caller);
        uint256 paid = distributor.claim(account, cumulative, proof);
        if (caller != account && usd.balanceOf(caller) != callerBalance) ++violations;
        _record(account, paid);
    }

    function claimMany(uint256 mask) external {
        if (_acceptedTree.length == 0) return;
        uint256 count;
        for (uint256 i; i < ACTORS; ++i) {
            if ((mask >> i) & 1 == 1) ++count;
        }
        if (count == 0) return;
        address[] memory accounts = new address[](count);
        uint256[] memory cumulatives = new uint256[](count);
        bytes32[][] memory proofs = new bytes32[][](count);
        uint256 k;
        for (uint256 i; i < ACTORS; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            accounts[k] = actors[i];
            cumulatives[k] = _acceptedTable[i];
            proofs[k] = StandardMerkle.proofOf(_acceptedTree, actors[i], _acceptedTable[i]);
            ++k;
        }
        uint256[] memory before = new uint256[](count);
        uint256 wanted;
        for (uint256 j; j < count; ++j) {
            before[j] = distributor.claimed(accounts[j]);
            if (cumulatives[j] > before[j]) wanted += cumulatives[j] - before[j];
        }
        if (wanted > _left()) {
            try distributor.claimMany(accounts, cumulatives, proofs) {
                ++violations;
            } catch {
                ++refusedOverTotal;
            }
            return;
        }
        uint256 total = distributor.claimMany(accounts, cumulatives, proofs);
        uint256 sum;
        for (uint256 j; j < count; ++j) {
            uint256 paid = cumulatives[j] > before[j] ? cumulatives[j] - before[j] : 0;
            _record(accounts[j], paid);
            sum += paid;
        }
        if (sum != total) ++violations;
    }

    /// @dev Claims that must revert: more than the leaf, or a leaf that is not in the current root.
    function claimInvalid(uint256 actorSeed, uint256 extra) external {
        if (_acceptedTree.length == 0) return;
        uint256 i = actorSeed % ACTORS;
        address account = actors[i];
        uint256 cumulative = _acceptedTable[i];
        bytes32[] memory proof = StandardMerkle.proofOf(_acceptedTree, account, cumulative);
        uint256 inflated = cumulative + bound(extra, 1, 1e18);
        try distributor.claim(account, inflated, proof) {
            ++violations;
        } catch {}
        if (hasPending && _pendingTable[i] > distributor.claimed(account)) {
            bytes32[] memory pendingProof = StandardMerkle.proofOf(_pendingTree, account, _pendingTable[i]);
            if (_pendingTable[i] != cumulative) {
                try distributor.claim(account, _pendingTable[i], pendingProof) {
                    ++violations;
                } catch {}
            }
        }
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 2 days));
    }

    // ------------------------------------------------------------------ views for the invariants

    function actorCount() external pure returns (uint256) {
        return ACTORS;
    }

    /// @dev What the current root still allows to be paid, from the ghost: rootTotal - everything paid.
    function _left() internal view returns (uint256) {
        return distributor.rootTotal() - ghostPaid;
    }

    function _record(address account, uint256 paid) internal {
        ghostPaid += paid;
        ghostPaidTo[account] += paid;
        if (paid > 0) ++claims;
    }
}

contract DistributorInvariantTest is Test {
    DistributorHandler internal handler;
    Distributor internal distributor;
    TestStablecoin internal usd;

    function setUp() public {
        vm.warp(1_700_000_000);
        address portfolio = makeAddr("portfolio");
        address proposer = makeAddr("proposer");
        address guardian = makeAddr("guardian");
        usd = new TestStablecoin(address(this));
        ComplianceRegistry registry = new ComplianceRegistry(address(this));
        distributor = Distributor(Clones.clone(address(new Distributor(1 hours))));
        distributor.initialize(portfolio, address(usd), address(registry), address(this), guardian, proposer, 1 hours);
        handler = new DistributorHandler(distributor, usd, portfolio, proposer, guardian);
        for (uint256 i; i < handler.actorCount(); ++i) {
            registry.allowlist(handler.actors(i), type(uint64).max);
        }
        usd.grantRole(usd.MINTER_ROLE(), address(handler));
        vm.prank(portfolio);
        usd.approve(address(distributor), type(uint256).max);

        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = DistributorHandler.fund.selector;
        selectors[1] = DistributorHandler.propose.selector;
        selectors[2] = DistributorHandler.revoke.selector;
        selectors[3] = DistributorHandler.accept.selector;
        selectors[4] = DistributorHandler.claim.selector;
        selectors[5] = DistributorHandler.claimMany.selector;
        selectors[6] = DistributorHandler.claimInvalid.selector;
        selectors[7] = DistributorHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @dev Never pays more than was funded; what is not paid is still held.
    function invariant_neverPaysMoreThanFunded() public view {
        assertLe(handler.ghostPaid(), distributor.totalFunded(), "paid <= funded");
        assertEq(distributor.totalFunded(), handler.ghostFunded(), "funded ghost");
        assertEq(usd.balanceOf(address(distributor)), distributor.totalFunded() - handler.ghostPaid(), "held");
        assertLe(distributor.rootTotal(), distributor.totalFunded(), "root total <= funded");
    }

    /// @dev Σ claimed <= rootTotal <= totalFunded at every step, over-declared roots included.
    function invariant_claimedWithinRootTotal() public view {
        assertEq(distributor.totalClaimed(), handler.ghostPaid(), "totalClaimed == sum of payments");
        assertLe(handler.ghostPaid(), distributor.rootTotal(), "claimed <= root total");
        assertLe(distributor.rootTotal(), distributor.totalFunded(), "root total <= funded");
    }

    /// @dev Never pays an account more than a leaf's cumulative amount; pays only the account.
    function invariant_neverPaysMoreThanLeaf() public view {
        for (uint256 i; i < handler.actorCount(); ++i) {
            address account = handler.actors(i);
            uint256 claimed = distributor.claimed(account);
            assertLe(claimed, handler.ghostMaxAcceptedCumulative(account), "claimed <= accepted cumulative");
            assertEq(claimed, handler.ghostPaidTo(account), "claimed == paid to account");
            assertEq(usd.balanceOf(account), claimed, "account balance == claimed");
        }
    }

    function invariant_noForbiddenCallSucceeded() public view {
        assertEq(handler.violations(), 0, "violations");
    }
}
