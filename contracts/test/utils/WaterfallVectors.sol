// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../../src/libraries/WaterfallLib.sol";
import {Test} from "./Test.sol";

/// @notice Reads the normative waterfall vectors (spec/vectors/waterfall.json, v1, and
/// spec/vectors/waterfall-v2.json, v2); the JSON stays the single source of every expected number. The v2
/// readers treat a missing `reserve`, `trigger` or `final` as none (a v1 case read as v2).
abstract contract WaterfallVectors is Test {
    function _vectors() internal view returns (string memory) {
        return vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/waterfall.json"));
    }

    function _vectorsV2() internal view returns (string memory) {
        return vm.readFile(string.concat(vm.projectRoot(), "/spec/vectors/waterfall-v2.json"));
    }

    /// @dev Reserve terms of case `c` as the starting reserve state ({targetBps, initial}); {0, 0} without one.
    function _vectorReserve(string memory json, uint256 c) internal view returns (WaterfallLib.Reserve memory reserve) {
        if (!vm.keyExistsJson(json, _caseKey(c, ".reserve"))) return reserve;
        reserve.targetBps = vm.parseJsonUint(json, _caseKey(c, ".reserve.targetBps"));
        reserve.balance = _uintAt(json, _caseKey(c, ".reserve.initial"));
    }

    /// @dev Trigger of case `c`; an empty one (ratio 0, no points) without one.
    function _vectorTrigger(string memory json, uint256 c) internal view returns (WaterfallLib.Trigger memory trigger) {
        if (!vm.keyExistsJson(json, _caseKey(c, ".trigger"))) return trigger;
        trigger.collectionRatioBps = vm.parseJsonUint(json, _caseKey(c, ".trigger.collectionRatioBps"));
        uint256 n;
        while (vm.keyExistsJson(json, _indexKey(c, ".trigger.businessPlan", n, ""))) ++n;
        trigger.businessPlan = new WaterfallLib.PlanPoint[](n);
        for (uint256 i; i < n; ++i) {
            trigger.businessPlan[i].atSeconds =
                vm.parseJsonUint(json, _indexKey(c, ".trigger.businessPlan", i, ".atSeconds"));
            trigger.businessPlan[i].cumulative = _uintAt(json, _indexKey(c, ".trigger.businessPlan", i, ".cumulative"));
        }
    }

    /// @dev `recoveries[k].final` of case `c` (false when absent).
    function _vectorFinal(string memory json, uint256 c, uint256 k) internal view returns (bool) {
        string memory key = _indexKey(c, ".recoveries", k, ".final");
        return vm.keyExistsJson(json, key) && vm.parseJsonBool(json, key);
    }

    /// @dev `expected[k].triggerBreached` of case `c`.
    function _expectedBreached(string memory json, uint256 c, uint256 k) internal pure returns (bool) {
        return vm.parseJsonBool(json, _indexKey(c, ".expected", k, ".triggerBreached"));
    }

    function _caseCount(string memory json) internal view returns (uint256 count) {
        while (vm.keyExistsJson(json, _caseKey(count, ""))) ++count;
    }

    function _recoveryCountOf(string memory json, uint256 c) internal view returns (uint256 count) {
        while (vm.keyExistsJson(json, _indexKey(c, ".recoveries", count, ""))) ++count;
    }

    function _caseId(string memory json, uint256 c) internal pure returns (string memory) {
        return vm.parseJsonString(json, _caseKey(c, ".id"));
    }

    /// @dev Initial tranche state of case `c`: outstanding = face, no arrears. Checks that exactly the last
    /// tranche is marked residual.
    function _vectorTranches(string memory json, uint256 c) internal view returns (WaterfallLib.Tranche[] memory t) {
        uint256 n;
        while (vm.keyExistsJson(json, _indexKey(c, ".tranches", n, ""))) ++n;
        t = new WaterfallLib.Tranche[](n);
        for (uint256 i; i < n; ++i) {
            bool residual = vm.keyExistsJson(json, _indexKey(c, ".tranches", i, ".residual"))
                && vm.parseJsonBool(json, _indexKey(c, ".tranches", i, ".residual"));
            assertEq(residual, i == n - 1, "only the last tranche is the residual tranche");
            t[i].outstanding = _uintAt(json, _indexKey(c, ".tranches", i, ".face"));
            t[i].couponBps = vm.parseJsonUint(json, _indexKey(c, ".tranches", i, ".couponBps"));
        }
    }

    function _vectorMode(string memory json, uint256 c) internal pure returns (WaterfallLib.Mode) {
        bytes32 mode = keccak256(bytes(vm.parseJsonString(json, _caseKey(c, ".mode"))));
        if (mode == keccak256("sequential")) return WaterfallLib.Mode.Sequential;
        require(mode == keccak256("interestFirst"), "unknown mode");
        return WaterfallLib.Mode.InterestFirst;
    }

    function _vectorFees(string memory json, uint256 c) internal pure returns (uint256 servicerBps, uint256 protocolBps) {
        servicerBps = vm.parseJsonUint(json, _caseKey(c, ".fees.servicerBps"));
        protocolBps = vm.parseJsonUint(json, _caseKey(c, ".fees.protocolBps"));
    }

    function _vectorRecovery(string memory json, uint256 c, uint256 k)
        internal
        pure
        returns (uint256 amount, uint256 elapsedSeconds)
    {
        amount = _uintAt(json, _indexKey(c, ".recoveries", k, ".amount"));
        elapsedSeconds = vm.parseJsonUint(json, _indexKey(c, ".recoveries", k, ".elapsedSeconds"));
    }

    /// @dev `field` of expected[k] (e.g. ".servicerFee").
    function _expected(string memory json, uint256 c, uint256 k, string memory field) internal pure returns (uint256) {
        return _uintAt(json, _indexKey(c, ".expected", k, field));
    }

    /// @dev `field` of expected[k].tranches[i] (e.g. ".total").
    function _expectedTranche(string memory json, uint256 c, uint256 k, uint256 i, string memory field)
        internal
        pure
        returns (uint256)
    {
        return _uintAt(json, string.concat(_indexKey(c, ".expected", k, ".tranches["), vm.toString(i), "]", field));
    }

    /// @dev Amounts are decimal strings in the vectors.
    function _uintAt(string memory json, string memory key) internal pure returns (uint256) {
        return vm.parseUint(vm.parseJsonString(json, key));
    }

    function _caseKey(uint256 c, string memory suffix) internal pure returns (string memory) {
        return string.concat(".waterfall[", vm.toString(c), "]", suffix);
    }

    function _indexKey(uint256 c, string memory field, uint256 k, string memory suffix)
        internal
        pure
        returns (string memory)
    {
        return string.concat(_caseKey(c, field), "[", vm.toString(k), "]", suffix);
    }
}
