// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {WaterfallLib} from "../src/libraries/WaterfallLib.sol";
import {Test} from "./utils/Test.sol";

/// @notice Reads the normative vectors (../shared/vectors/waterfall.json) and the waterfall's properties.
contract WaterfallLibTest is Test {
    string internal json;

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/../shared/vectors/waterfall.json"));
    }

    // ------------------------------------------------------------------ vectors

    function test_run_reproducesEveryVectorCase() public view {
        uint256 cases;
        while (vm.keyExistsJson(json, _caseKey(cases, ""))) {
            _checkCase(cases);
            ++cases;
        }
        assertGt(cases, 0);
    }

    function _checkCase(uint256 c) internal view {
        string memory id = vm.parseJsonString(json, _caseKey(c, ".id"));
        WaterfallLib.Tranche[] memory tranches = _vectorTranches(json, c);
        WaterfallLib.Mode mode = _vectorMode(json, c);
        uint256 servicerBps = vm.parseJsonUint(json, _caseKey(c, ".fees.servicerBps"));
        uint256 protocolBps = vm.parseJsonUint(json, _caseKey(c, ".fees.protocolBps"));

        for (uint256 k; vm.keyExistsJson(json, _indexKey(c, ".recoveries", k, "")); ++k) {
            uint256 amount = _uintString(_indexKey(c, ".recoveries", k, ".amount"));
            uint256 elapsed = vm.parseJsonUint(json, _indexKey(c, ".recoveries", k, ".elapsedSeconds"));
            WaterfallLib.Result memory r =
                WaterfallLib.run(tranches, mode, servicerBps, protocolBps, amount, elapsed);

            string memory where = string.concat(id, " recovery ", vm.toString(k));
            assertEq(r.servicerFee, _uintString(_indexKey(c, ".expected", k, ".servicerFee")), where);
            assertEq(r.protocolFee, _uintString(_indexKey(c, ".expected", k, ".protocolFee")), where);
            assertEq(r.undistributed, _uintString(_indexKey(c, ".expected", k, ".undistributed")), where);
            for (uint256 i; i < tranches.length; ++i) {
                string memory t = string.concat(_indexKey(c, ".expected", k, ".tranches["), vm.toString(i), "]");
                string memory at = string.concat(where, " tranche ", vm.toString(i));
                assertEq(r.interest[i], _uintString(string.concat(t, ".interest")), string.concat(at, " interest"));
                assertEq(r.principal[i], _uintString(string.concat(t, ".principal")), string.concat(at, " principal"));
                assertEq(r.residual[i], _uintString(string.concat(t, ".residual")), string.concat(at, " residual"));
                assertEq(WaterfallLib.total(r, i), _uintString(string.concat(t, ".total")), string.concat(at, " total"));
                assertEq(
                    tranches[i].outstanding,
                    _uintString(string.concat(t, ".outstandingAfter")),
                    string.concat(at, " outstandingAfter")
                );
                assertEq(
                    tranches[i].arrears,
                    _uintString(string.concat(t, ".interestArrearsAfter")),
                    string.concat(at, " interestArrearsAfter")
                );
            }
        }
    }

    // ------------------------------------------------------------------ unit

    function test_run_keepsResidualShareUndistributedWithoutResidualHolders() public pure {
        WaterfallLib.Tranche[] memory tranches = new WaterfallLib.Tranche[](2);
        tranches[0] = WaterfallLib.Tranche({outstanding: 100, arrears: 0, couponBps: 0});
        tranches[1] = WaterfallLib.Tranche({outstanding: 0, arrears: 0, couponBps: 0});
        WaterfallLib.Result memory r = WaterfallLib.run(tranches, WaterfallLib.Mode.InterestFirst, 0, 0, 150, 0);
        assertEq(r.principal[0], 100);
        assertEq(r.residual[1], 0);
        assertEq(r.undistributed, 50);
    }

    function test_run_sequentialPaysSeniorPrincipalBeforeJuniorInterest() public pure {
        WaterfallLib.Tranche[] memory a = _twoDebtTranches();
        WaterfallLib.Tranche[] memory b = _twoDebtTranches();
        WaterfallLib.Result memory seq = WaterfallLib.run(a, WaterfallLib.Mode.Sequential, 0, 0, 1_050, 0);
        WaterfallLib.Result memory intFirst = WaterfallLib.run(b, WaterfallLib.Mode.InterestFirst, 0, 0, 1_050, 0);
        // sequential: A arrears 10 + A principal 1000, then B arrears 40 of 50
        assertEq(seq.interest[0], 10);
        assertEq(seq.principal[0], 1_000);
        assertEq(seq.interest[1], 40);
        assertEq(seq.principal[1], 0);
        // interest first: both arrears (10 + 50), then A principal 990
        assertEq(intFirst.interest[0], 10);
        assertEq(intFirst.interest[1], 50);
        assertEq(intFirst.principal[0], 990);
    }

    function test_run_accruesNoInterestOnResidualOrZeroCoupon() public pure {
        WaterfallLib.Tranche[] memory tranches = new WaterfallLib.Tranche[](2);
        tranches[0] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 0, couponBps: 0});
        tranches[1] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 0, couponBps: 5_000});
        WaterfallLib.run(tranches, WaterfallLib.Mode.InterestFirst, 0, 0, 0, 365 days);
        assertEq(tranches[0].arrears, 0);
        assertEq(tranches[1].arrears, 0);
    }

    function _twoDebtTranches() internal pure returns (WaterfallLib.Tranche[] memory tranches) {
        tranches = new WaterfallLib.Tranche[](3);
        tranches[0] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 10, couponBps: 800});
        tranches[1] = WaterfallLib.Tranche({outstanding: 1_000, arrears: 50, couponBps: 800});
        tranches[2] = WaterfallLib.Tranche({outstanding: 1, arrears: 0, couponBps: 0});
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_run_conservesAmount(
        uint256 seed,
        uint8 count,
        bool sequential,
        uint256 servicerBps,
        uint256 protocolBps,
        uint256 amount,
        uint256 elapsed
    ) public pure {
        WaterfallLib.Tranche[] memory tranches = _randomTranches(seed, count);
        servicerBps = bound(servicerBps, 0, 10_000);
        protocolBps = bound(protocolBps, 0, 10_000 - servicerBps);
        amount = bound(amount, 0, 1e30);
        elapsed = bound(elapsed, 0, 50 * 365 days);
        WaterfallLib.Result memory r = WaterfallLib.run(
            tranches, sequential ? WaterfallLib.Mode.Sequential : WaterfallLib.Mode.InterestFirst,
            servicerBps, protocolBps, amount, elapsed
        );
        uint256 sum = r.servicerFee + r.protocolFee + r.undistributed;
        for (uint256 i; i < tranches.length; ++i) {
            sum += WaterfallLib.total(r, i);
        }
        assertEq(sum, amount);
        assertEq(r.servicerFee, amount * servicerBps / 10_000);
        assertEq(r.protocolFee, amount * protocolBps / 10_000);
    }

    function testFuzz_run_respectsSeniority(
        uint256 seed,
        uint8 count,
        bool sequential,
        uint256 amount,
        uint256 elapsed
    ) public pure {
        WaterfallLib.Tranche[] memory tranches = _randomTranches(seed, count);
        WaterfallLib.Tranche[] memory before = _copy(tranches);
        amount = bound(amount, 0, 1e28);
        elapsed = bound(elapsed, 0, 5 * 365 days);
        WaterfallLib.Mode mode = sequential ? WaterfallLib.Mode.Sequential : WaterfallLib.Mode.InterestFirst;
        WaterfallLib.Result memory r = WaterfallLib.run(tranches, mode, 100, 50, amount, elapsed);
        assertSeniority(tranches, before, r, mode, elapsed);
    }

    /// @dev Shared with the invariant suite's reasoning: junior tranches receive principal or residual only
    /// once every more senior tranche has neither arrears nor principal left; interest in sequential mode
    /// likewise; in interestFirst mode junior interest only once senior arrears are cleared.
    function assertSeniority(
        WaterfallLib.Tranche[] memory afterState,
        WaterfallLib.Tranche[] memory beforeState,
        WaterfallLib.Result memory r,
        WaterfallLib.Mode mode,
        uint256 elapsed
    ) internal pure {
        uint256 last = afterState.length - 1;
        for (uint256 j; j <= last; ++j) {
            // never pay more than what was owed
            if (j < last) {
                uint256 accrued = beforeState[j].outstanding * beforeState[j].couponBps * elapsed / (10_000 * 365 days);
                assertEq(r.interest[j] + afterState[j].arrears, beforeState[j].arrears + accrued, "arrears");
                assertEq(r.principal[j] + afterState[j].outstanding, beforeState[j].outstanding, "principal");
                assertEq(r.residual[j], 0, "debt tranche got residual");
            } else {
                assertEq(r.interest[j] + r.principal[j], 0, "residual tranche got interest or principal");
                assertEq(afterState[j].outstanding, beforeState[j].outstanding, "residual outstanding changed");
            }
            bool juniorPrincipalOrResidual = r.principal[j] + r.residual[j] + r.undistributed * (j == last ? 1 : 0) > 0;
            for (uint256 i; i < j && i < last; ++i) {
                if (juniorPrincipalOrResidual) {
                    assertEq(afterState[i].arrears, 0, "junior paid while senior arrears remain");
                    assertEq(afterState[i].outstanding, 0, "junior paid while senior principal remains");
                }
                if (r.interest[j] > 0) {
                    assertEq(afterState[i].arrears, 0, "junior interest while senior arrears remain");
                    if (mode == WaterfallLib.Mode.Sequential) {
                        assertEq(afterState[i].outstanding, 0, "sequential: junior interest before senior principal");
                    }
                }
            }
            if (mode == WaterfallLib.Mode.InterestFirst && r.principal[j] > 0) {
                for (uint256 i; i < last; ++i) {
                    assertEq(afterState[i].arrears, 0, "interestFirst: principal before all arrears");
                }
            }
        }
    }

    function _randomTranches(uint256 seed, uint8 count) internal pure returns (WaterfallLib.Tranche[] memory t) {
        uint256 n = bound(count, 1, 6);
        t = new WaterfallLib.Tranche[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            t[i].outstanding = (r % 4 == 0) ? 0 : bound(r >> 8, 1, 1e24);
            if (i < n - 1) {
                t[i].arrears = (r % 3 == 0) ? 0 : bound(r >> 100, 0, 1e22);
                t[i].couponBps = bound(r >> 200, 0, 3_000);
            }
        }
    }

    function _copy(WaterfallLib.Tranche[] memory t) internal pure returns (WaterfallLib.Tranche[] memory c) {
        c = new WaterfallLib.Tranche[](t.length);
        for (uint256 i; i < t.length; ++i) {
            c[i] = WaterfallLib.Tranche(t[i].outstanding, t[i].arrears, t[i].couponBps);
        }
    }

    // ------------------------------------------------------------------ json helpers

    function _vectorTranches(string memory j, uint256 c) internal view returns (WaterfallLib.Tranche[] memory t) {
        uint256 n;
        while (vm.keyExistsJson(j, _indexKey(c, ".tranches", n, ""))) ++n;
        t = new WaterfallLib.Tranche[](n);
        for (uint256 i; i < n; ++i) {
            bool residual = vm.keyExistsJson(j, _indexKey(c, ".tranches", i, ".residual"))
                && vm.parseJsonBool(j, _indexKey(c, ".tranches", i, ".residual"));
            assertEq(residual, i == n - 1, "only the last tranche is the residual tranche");
            t[i].outstanding = _uintStringOf(j, _indexKey(c, ".tranches", i, ".face"));
            t[i].couponBps = vm.parseJsonUint(j, _indexKey(c, ".tranches", i, ".couponBps"));
        }
    }

    function _vectorMode(string memory j, uint256 c) internal pure returns (WaterfallLib.Mode) {
        bytes32 mode = keccak256(bytes(vm.parseJsonString(j, _caseKey(c, ".mode"))));
        if (mode == keccak256("sequential")) return WaterfallLib.Mode.Sequential;
        require(mode == keccak256("interestFirst"), "unknown mode");
        return WaterfallLib.Mode.InterestFirst;
    }

    function _uintString(string memory key) internal view returns (uint256) {
        return _uintStringOf(json, key);
    }

    function _uintStringOf(string memory j, string memory key) internal pure returns (uint256) {
        return vm.parseUint(vm.parseJsonString(j, key));
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
