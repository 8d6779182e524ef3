// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";

/// @notice Minimal test base: the cheatcode handle, assertions that revert with a readable
/// message, `bound` for fuzz inputs, address helpers and the invariant-target getters forge reads.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    bool public IS_TEST = true;

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    address[] private _excludedContracts;
    address[] private _targetedSenders;
    address[] private _excludedSenders;
    FuzzSelector[] private _targetedSelectors;

    // ---------------------------------------------------------------- invariant targets

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function excludeContract(address target) internal {
        _excludedContracts.push(target);
    }

    function targetSender(address sender) internal {
        _targetedSenders.push(sender);
    }

    function excludeSender(address sender) internal {
        _excludedSenders.push(sender);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludedContracts;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetedSenders;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    // ---------------------------------------------------------------- helpers

    function makeAddr(string memory name) internal returns (address account) {
        account = vm.addr(uint256(keccak256(bytes(name))));
        vm.label(account, name);
    }

    function makeAddrAndKey(string memory name) internal returns (address account, uint256 privateKey) {
        privateKey = uint256(keccak256(bytes(name)));
        account = vm.addr(privateKey);
        vm.label(account, name);
    }

    /// @dev Maps `x` into [min, max] without discarding fuzz runs (same contract as forge-std).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256 result) {
        require(min <= max, "bound: max is less than min");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        if (size == 0) return x; // full range
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        if (x > max) {
            uint256 diff = x - max;
            uint256 rem = diff % size;
            if (rem == 0) return max;
            return min + rem - 1;
        }
        uint256 diff2 = min - x;
        uint256 rem2 = diff2 % size;
        if (rem2 == 0) return min;
        return max - rem2 + 1;
    }

    // ---------------------------------------------------------------- assertions

    function fail(string memory reason) internal pure {
        revert(reason);
    }

    function assertTrue(bool condition) internal pure {
        if (!condition) revert("assertion failed: expected true");
    }

    function assertTrue(bool condition, string memory err) internal pure {
        if (!condition) revert(err);
    }

    function assertFalse(bool condition) internal pure {
        if (condition) revert("assertion failed: expected false");
    }

    function assertFalse(bool condition, string memory err) internal pure {
        if (condition) revert(err);
    }

    function assertEq(uint256 left, uint256 right) internal pure {
        assertEq(left, right, "assertEq(uint256)");
    }

    function assertEq(uint256 left, uint256 right, string memory err) internal pure {
        if (left != right) {
            revert(string.concat(err, ": ", vm.toString(left), " != ", vm.toString(right)));
        }
    }

    function assertEq(int256 left, int256 right) internal pure {
        if (left != right) revert(string.concat("assertEq(int256): ", vm.toString(left), " != ", vm.toString(right)));
    }

    function assertEq(address left, address right) internal pure {
        assertEq(left, right, "assertEq(address)");
    }

    function assertEq(address left, address right, string memory err) internal pure {
        if (left != right) revert(string.concat(err, ": ", vm.toString(left), " != ", vm.toString(right)));
    }

    function assertEq(bytes32 left, bytes32 right) internal pure {
        assertEq(left, right, "assertEq(bytes32)");
    }

    function assertEq(bytes32 left, bytes32 right, string memory err) internal pure {
        if (left != right) revert(string.concat(err, ": ", vm.toString(left), " != ", vm.toString(right)));
    }

    function assertEq(bool left, bool right) internal pure {
        if (left != right) revert("assertEq(bool) failed");
    }

    function assertEq(bool left, bool right, string memory err) internal pure {
        if (left != right) revert(err);
    }

    function assertEq(string memory left, string memory right) internal pure {
        if (keccak256(bytes(left)) != keccak256(bytes(right))) {
            revert(string.concat("assertEq(string): '", left, "' != '", right, "'"));
        }
    }

    function assertEq(bytes memory left, bytes memory right) internal pure {
        if (keccak256(left) != keccak256(right)) revert("assertEq(bytes) failed");
    }

    function assertNotEq(uint256 left, uint256 right) internal pure {
        if (left == right) revert(string.concat("assertNotEq(uint256): both ", vm.toString(left)));
    }

    function assertNotEq(address left, address right) internal pure {
        if (left == right) revert(string.concat("assertNotEq(address): both ", vm.toString(left)));
    }

    function assertNotEq(bytes32 left, bytes32 right) internal pure {
        if (left == right) revert("assertNotEq(bytes32) failed");
    }

    function assertGt(uint256 left, uint256 right) internal pure {
        if (left <= right) revert(string.concat("assertGt: ", vm.toString(left), " <= ", vm.toString(right)));
    }

    function assertGe(uint256 left, uint256 right) internal pure {
        assertGe(left, right, "assertGe");
    }

    function assertGe(uint256 left, uint256 right, string memory err) internal pure {
        if (left < right) revert(string.concat(err, ": ", vm.toString(left), " < ", vm.toString(right)));
    }

    function assertLt(uint256 left, uint256 right) internal pure {
        if (left >= right) revert(string.concat("assertLt: ", vm.toString(left), " >= ", vm.toString(right)));
    }

    function assertLe(uint256 left, uint256 right) internal pure {
        assertLe(left, right, "assertLe");
    }

    function assertLe(uint256 left, uint256 right, string memory err) internal pure {
        if (left > right) revert(string.concat(err, ": ", vm.toString(left), " > ", vm.toString(right)));
    }

    function assertApproxEqAbs(uint256 left, uint256 right, uint256 maxDelta) internal pure {
        uint256 delta = left > right ? left - right : right - left;
        if (delta > maxDelta) {
            revert(string.concat("assertApproxEqAbs: ", vm.toString(left), " vs ", vm.toString(right)));
        }
    }
}
