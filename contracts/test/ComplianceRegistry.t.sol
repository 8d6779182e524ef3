// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ComplianceRegistry} from "../src/ComplianceRegistry.sol";
import {IComplianceRegistry} from "../src/interfaces/IComplianceRegistry.sol";
import {Test} from "./utils/Test.sol";

contract ComplianceRegistryTest is Test {
    ComplianceRegistry internal registry;
    address internal admin = makeAddr("admin");
    address internal officer = makeAddr("officer");
    address internal guardian = makeAddr("guardian");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function setUp() public {
        vm.warp(1_700_000_000);
        registry = new ComplianceRegistry(admin);
        vm.startPrank(admin);
        registry.grantRole(registry.COMPLIANCE_ROLE(), officer);
        registry.grantRole(registry.GUARDIAN_ROLE(), guardian);
        vm.stopPrank();
    }

    function test_constructor_grantsAllRolesToAdmin() public view {
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(registry.hasRole(registry.COMPLIANCE_ROLE(), admin));
        assertTrue(registry.hasRole(registry.GUARDIAN_ROLE(), admin));
    }

    function test_constructor_revertsIfAdminIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceZeroAddress.selector));
        new ComplianceRegistry(address(0));
    }

    function test_allowlist_allowsUntilExpiryInclusive() public {
        uint64 expiry = uint64(block.timestamp + 100);
        vm.expectEmit(address(registry));
        emit IComplianceRegistry.InvestorAllowlisted(alice, expiry);
        vm.prank(officer);
        registry.allowlist(alice, expiry);

        (uint64 storedExpiry, bool frozen) = registry.investor(alice);
        assertEq(storedExpiry, expiry);
        assertFalse(frozen);
        assertTrue(registry.isAllowed(alice));
        vm.warp(expiry);
        assertTrue(registry.isAllowed(alice));
        vm.warp(uint256(expiry) + 1);
        assertFalse(registry.isAllowed(alice));
    }

    function test_isAllowed_falseForUnknownAccount() public view {
        assertFalse(registry.isAllowed(bob));
    }

    function test_allowlist_revertsIfCallerLacksRole() public {
        bytes32 role = registry.COMPLIANCE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, role)
        );
        vm.prank(guardian);
        registry.allowlist(alice, uint64(block.timestamp + 1));
    }

    function test_allowlist_revertsIfExpiryInPast() public {
        uint64 expiry = uint64(block.timestamp - 1);
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceExpiryInPast.selector, expiry));
        vm.prank(officer);
        registry.allowlist(alice, expiry);
    }

    function test_allowlist_revertsIfAccountIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceZeroAddress.selector));
        vm.prank(officer);
        registry.allowlist(address(0), uint64(block.timestamp + 1));
    }

    function test_allowlistMany_allowsEveryAccount() public {
        address[] memory accounts = new address[](2);
        accounts[0] = alice;
        accounts[1] = bob;
        vm.prank(officer);
        registry.allowlistMany(accounts, uint64(block.timestamp + 1));
        assertTrue(registry.isAllowed(alice));
        assertTrue(registry.isAllowed(bob));
    }

    function test_allowlistMany_revertsAsAWholeOnZeroAccount() public {
        address[] memory accounts = new address[](2);
        accounts[0] = alice;
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceZeroAddress.selector));
        vm.prank(officer);
        registry.allowlistMany(accounts, uint64(block.timestamp + 1));
        assertFalse(registry.isAllowed(alice));
    }

    function test_revoke_disallowsAndKeepsFreeze() public {
        vm.prank(officer);
        registry.allowlist(alice, uint64(block.timestamp + 100));
        vm.prank(guardian);
        registry.freeze(alice);

        vm.expectEmit(address(registry));
        emit IComplianceRegistry.InvestorRevoked(alice);
        vm.prank(officer);
        registry.revoke(alice);

        (uint64 expiry, bool frozen) = registry.investor(alice);
        assertEq(expiry, 0);
        assertTrue(frozen);
        assertFalse(registry.isAllowed(alice));
    }

    function test_revoke_revertsIfNotAllowlisted() public {
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceNotAllowlisted.selector, bob));
        vm.prank(officer);
        registry.revoke(bob);
    }

    function test_freeze_blocksAnAllowlistedAccountUntilUnfrozen() public {
        vm.prank(officer);
        registry.allowlist(alice, uint64(block.timestamp + 100));

        vm.expectEmit(address(registry));
        emit IComplianceRegistry.InvestorFrozen(alice);
        vm.prank(guardian);
        registry.freeze(alice);
        assertFalse(registry.isAllowed(alice));

        vm.expectEmit(address(registry));
        emit IComplianceRegistry.InvestorUnfrozen(alice);
        vm.prank(guardian);
        registry.unfreeze(alice);
        assertTrue(registry.isAllowed(alice));
    }

    function test_allowlist_doesNotLiftAFreeze() public {
        vm.prank(guardian);
        registry.freeze(alice);
        vm.prank(officer);
        registry.allowlist(alice, uint64(block.timestamp + 100));
        assertFalse(registry.isAllowed(alice));
    }

    function test_freeze_revertsIfCallerLacksRole() public {
        bytes32 role = registry.GUARDIAN_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, officer, role)
        );
        vm.prank(officer);
        registry.freeze(alice);
    }

    function test_freeze_revertsIfAlreadyFrozen() public {
        vm.prank(guardian);
        registry.freeze(alice);
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceAlreadyFrozen.selector, alice));
        vm.prank(guardian);
        registry.freeze(alice);
    }

    function test_freeze_revertsIfAccountIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceZeroAddress.selector));
        vm.prank(guardian);
        registry.freeze(address(0));
    }

    function test_unfreeze_revertsIfNotFrozen() public {
        vm.expectRevert(abi.encodeWithSelector(IComplianceRegistry.ComplianceNotFrozen.selector, alice));
        vm.prank(guardian);
        registry.unfreeze(alice);
    }

    function testFuzz_isAllowed_matchesRecord(uint64 expiry, bool frozen, uint64 now_) public {
        now_ = uint64(bound(now_, 1, type(uint64).max));
        vm.warp(1);
        expiry = uint64(bound(expiry, 1, type(uint64).max));
        vm.prank(officer);
        registry.allowlist(alice, expiry);
        if (frozen) {
            vm.prank(guardian);
            registry.freeze(alice);
        }
        vm.warp(now_);
        assertEq(registry.isAllowed(alice), expiry >= now_ && !frozen);
    }
}
