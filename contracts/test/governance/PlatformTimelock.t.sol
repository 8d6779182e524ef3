// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {PlatformTimelock} from "../../src/governance/PlatformTimelock.sol";
import {Test} from "../utils/Test.sol";

contract PlatformTimelockTest is Test {
    uint256 internal constant DELAY = 2 days;
    PlatformTimelock internal timelock;
    ComplianceRegistry internal registry;
    address internal admin = makeAddr("admin");
    address internal guardian = makeAddr("guardian");
    address internal stranger = makeAddr("stranger");
    address internal officer = makeAddr("officer");

    function setUp() public {
        vm.warp(1_700_000_000);
        address[] memory cancellers = new address[](1);
        cancellers[0] = guardian;
        timelock = new PlatformTimelock(DELAY, admin, cancellers);
        // the registry administered by the timelock alone, as deployStack leaves it
        registry = new ComplianceRegistry(address(this));
        registry.grantRole(registry.DEFAULT_ADMIN_ROLE(), address(timelock));
        registry.renounceRole(registry.DEFAULT_ADMIN_ROLE(), address(this));
    }

    function _grantCall() internal view returns (bytes memory) {
        return abi.encodeCall(registry.grantRole, (registry.COMPLIANCE_ROLE(), officer));
    }

    function test_constructor_rolesAndNoAdminKey() public view {
        assertTrue(timelock.hasRole(timelock.PROPOSER_ROLE(), admin));
        assertTrue(timelock.hasRole(timelock.EXECUTOR_ROLE(), admin));
        assertTrue(timelock.hasRole(timelock.CANCELLER_ROLE(), admin));
        assertTrue(timelock.hasRole(timelock.CANCELLER_ROLE(), guardian));
        assertFalse(timelock.hasRole(timelock.PROPOSER_ROLE(), guardian));
        assertFalse(timelock.hasRole(timelock.EXECUTOR_ROLE(), guardian));
        // self-administered: nobody but the timelock itself administers its roles
        assertTrue(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), address(timelock)));
        assertFalse(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), admin));
        assertFalse(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), address(this)));
        assertEq(timelock.getMinDelay(), DELAY);
        assertEq(timelock.MIN_DELAY_FLOOR(), DELAY);
    }

    function test_constructor_rejectsZeroDelayOrAddress() public {
        address[] memory none = new address[](0);
        vm.expectRevert(PlatformTimelock.TimelockInvalidSetup.selector);
        new PlatformTimelock(0, admin, none);
        vm.expectRevert(PlatformTimelock.TimelockInvalidSetup.selector);
        new PlatformTimelock(DELAY, address(0), none);
        address[] memory zero = new address[](1);
        vm.expectRevert(PlatformTimelock.TimelockInvalidSetup.selector);
        new PlatformTimelock(DELAY, admin, zero);
    }

    function test_adminKeyCannotActDirectly() public {
        bytes32 role = registry.DEFAULT_ADMIN_ROLE();
        bytes32 compliance = registry.COMPLIANCE_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role)
        );
        vm.prank(admin);
        registry.grantRole(compliance, officer);
    }

    function test_scheduledCall_runsOnlyAfterTheDelay() public {
        bytes memory data = _grantCall();
        vm.prank(admin);
        timelock.schedule(address(registry), 0, data, bytes32(0), bytes32(0), DELAY);
        bytes32 id = timelock.hashOperation(address(registry), 0, data, bytes32(0), bytes32(0));

        vm.warp(block.timestamp + DELAY - 1);
        vm.expectRevert();
        vm.prank(admin);
        timelock.execute(address(registry), 0, data, bytes32(0), bytes32(0));

        vm.warp(block.timestamp + 1);
        vm.expectRevert();
        vm.prank(stranger);
        timelock.execute(address(registry), 0, data, bytes32(0), bytes32(0));

        vm.prank(admin);
        timelock.execute(address(registry), 0, data, bytes32(0), bytes32(0));
        assertTrue(registry.hasRole(registry.COMPLIANCE_ROLE(), officer));
        assertTrue(timelock.isOperationDone(id));
    }

    function test_scheduleBelowMinDelay_reverts() public {
        bytes memory data = _grantCall();
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockInsufficientDelay.selector, 1, DELAY));
        vm.prank(admin);
        timelock.schedule(address(registry), 0, data, bytes32(0), bytes32(0), 1);
    }

    function test_guardianCancels_butCannotSchedule() public {
        bytes memory data = _grantCall();
        bytes32 proposer = timelock.PROPOSER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, proposer)
        );
        vm.prank(guardian);
        timelock.schedule(address(registry), 0, data, bytes32(0), bytes32(0), DELAY);

        vm.prank(admin);
        timelock.schedule(address(registry), 0, data, bytes32(0), bytes32(0), DELAY);
        bytes32 id = timelock.hashOperation(address(registry), 0, data, bytes32(0), bytes32(0));
        vm.prank(guardian);
        timelock.cancel(id);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert();
        vm.prank(admin);
        timelock.execute(address(registry), 0, data, bytes32(0), bytes32(0));
    }

    function test_updateDelay_onlyThroughItself_andNeverBelowTheFloor() public {
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnauthorizedCaller.selector, admin));
        vm.prank(admin);
        timelock.updateDelay(DELAY * 2);

        bytes memory lower = abi.encodeCall(timelock.updateDelay, (DELAY - 1));
        vm.prank(admin);
        timelock.schedule(address(timelock), 0, lower, bytes32(0), bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(); // TimelockDelayBelowFloor, wrapped by the timelock's call
        vm.prank(admin);
        timelock.execute(address(timelock), 0, lower, bytes32(0), bytes32(0));

        bytes memory higher = abi.encodeCall(timelock.updateDelay, (DELAY * 2));
        vm.prank(admin);
        timelock.schedule(address(timelock), 0, higher, bytes32(0), bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        vm.prank(admin);
        timelock.execute(address(timelock), 0, higher, bytes32(0), bytes32(0));
        assertEq(timelock.getMinDelay(), DELAY * 2);
    }

    function test_updateDelay_belowFloor_revertsWithFloor() public {
        vm.expectRevert(abi.encodeWithSelector(PlatformTimelock.TimelockDelayBelowFloor.selector, 1, DELAY));
        vm.prank(address(timelock));
        timelock.updateDelay(1);
    }
}
