// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";

contract BaseSanityTest is Test {
    function test_bound_staysInRange() public pure {
        assertEq(bound(5, 10, 20), 16);
        assertEq(bound(25, 10, 20), 14);
        assertEq(bound(type(uint256).max, 0, 9), 9);
    }

    function testFuzz_bound_isInRange(uint256 x, uint256 a, uint256 b) public pure {
        (uint256 lo, uint256 hi) = a < b ? (a, b) : (b, a);
        uint256 r = bound(x, lo, hi);
        assertGe(r, lo);
        assertLe(r, hi);
    }

    function test_vectorsAreReadable() public view {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/waterfall.json"));
        assertEq(vm.parseJsonString(json, ".waterfall[0].id"), "interest-first-one-recovery");
    }

    function test_assertEq_failsOnMismatch() public {
        vm.expectRevert(bytes("x: 1 != 2"));
        this.externalAssert(1, 2);
    }

    function externalAssert(uint256 a, uint256 b) external pure {
        assertEq(a, b, "x");
    }
}
