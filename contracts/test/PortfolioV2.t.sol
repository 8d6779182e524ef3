// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IPortfolio} from "../src/interfaces/IPortfolio.sol";
import {ITrancheToken} from "../src/interfaces/ITrancheToken.sol";
import {WaterfallLib} from "../src/libraries/WaterfallLib.sol";
import {
    BusinessPlanPoint,
    CreateParams,
    ReserveTerms,
    TrancheConfig,
    TriggerTerms
} from "../src/types/PortfolioTypes.sol";
import {PortfolioFixture} from "./utils/PortfolioFixture.sol";
import {Vm} from "./utils/Vm.sol";
import {WaterfallVectors} from "./utils/WaterfallVectors.sol";

/// @notice Spec v2 through the Portfolio with real tokens: the normative v2 vectors end to end, the terms
/// checked at creation, reserve funding, resolution (proposal, veto, delay, final recovery) and the attacks
/// on each.
contract PortfolioV2Test is PortfolioFixture, WaterfallVectors {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function setUp() public {
        _setUpStack();
        _deploy(_v2Params());
    }

    /// @dev The fixture's 3 tranches with a 400 bps reserve and a 4-point plan at 90 %.
    function _v2Params() internal view returns (CreateParams memory params) {
        params = _defaultParams();
        params.reserve = ReserveTerms(400);
        BusinessPlanPoint[] memory plan = new BusinessPlanPoint[](4);
        for (uint256 i; i < 4; ++i) {
            plan[i] = BusinessPlanPoint(uint64((i + 1) * 91 days), uint192((i + 1) * 150_000e6));
        }
        params.trigger = TriggerTerms(9_000, plan);
    }

    function _fundReserve(uint256 amount) internal {
        vm.prank(admin);
        usd.mint(issuerTreasury, amount);
        vm.startPrank(issuerTreasury);
        usd.approve(address(portfolio), amount);
        portfolio.fundReserve(amount);
        vm.stopPrank();
    }

    function _sellOutAndClose() internal {
        _buy(alice, 0, 600_000e6);
        _buy(alice, 1, 250_000e6);
        _buy(bob, 2, 150_000e6);
        _close();
    }

    function _finalDeposit(uint256 amount) internal returns (uint256 recoveryId) {
        vm.prank(admin);
        usd.mint(servicer, amount);
        vm.startPrank(servicer);
        usd.approve(address(portfolio), amount);
        recoveryId = portfolio.depositFinalRecovery(amount, keccak256(abi.encode("final", amount)));
        vm.stopPrank();
    }

    function _proposeAndWait() internal {
        vm.prank(servicer);
        portfolio.proposeResolution();
        vm.warp(block.timestamp + 1 days);
    }

    // ================================================================== creation

    function test_initialize_storesTheRiskTerms() public view {
        (uint256 targetBps, uint256 ratioBps, BusinessPlanPoint[] memory plan, uint256 delay) = portfolio.riskTerms();
        assertEq(targetBps, 400);
        assertEq(ratioBps, 9_000);
        assertEq(plan.length, 4);
        assertEq(plan[3].atSeconds, 4 * 91 days);
        assertEq(plan[3].cumulative, 600_000e6);
        assertEq(delay, 1 days);
        (uint256 executableAt, bool resolved) = portfolio.resolution();
        assertEq(executableAt, 0);
        assertFalse(resolved);
    }

    function test_initialize_revertsIfResolutionDelayBelowTheDistributorTimelock() public {
        CreateParams memory params = _v2Params();
        params.timelockDelay = 2 days;
        params.resolutionDelay = 2 days - 1;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioResolutionDelayTooShort.selector, 2 days - 1, 2 days));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnReserveTargetAboveTheWhole() public {
        CreateParams memory params = _v2Params();
        params.reserve = ReserveTerms(10_001);
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallReserveTargetTooHigh.selector, 10_001));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnAnUnsortedPlan() public {
        CreateParams memory params = _v2Params();
        params.trigger.businessPlan[2].atSeconds = params.trigger.businessPlan[1].atSeconds;
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallBusinessPlanUnsorted.selector, 2));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnADecreasingPlan() public {
        CreateParams memory params = _v2Params();
        params.trigger.businessPlan[3].cumulative = 1;
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallBusinessPlanDecreasing.selector, 3));
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnTooManyPlanPoints() public {
        CreateParams memory params = _v2Params();
        uint256 n = WaterfallLib.MAX_PLAN_POINTS + 1;
        params.trigger.businessPlan = new BusinessPlanPoint[](n);
        for (uint256 i; i < n; ++i) {
            params.trigger.businessPlan[i] = BusinessPlanPoint(uint64(i + 1), uint192(i));
        }
        vm.expectRevert(
            abi.encodeWithSelector(WaterfallLib.WaterfallBusinessPlanTooLong.selector, n, WaterfallLib.MAX_PLAN_POINTS)
        );
        factory.createPortfolio(params);
    }

    function test_initialize_revertsOnATriggerWithoutPlan() public {
        CreateParams memory params = _v2Params();
        params.trigger.businessPlan = new BusinessPlanPoint[](0);
        vm.expectRevert(abi.encodeWithSelector(WaterfallLib.WaterfallTriggerWithoutPlan.selector));
        factory.createPortfolio(params);
    }

    function test_initialize_acceptsTheMaximumPlan() public {
        CreateParams memory params = _v2Params();
        uint256 n = WaterfallLib.MAX_PLAN_POINTS;
        params.trigger.businessPlan = new BusinessPlanPoint[](n);
        for (uint256 i; i < n; ++i) {
            params.trigger.businessPlan[i] = BusinessPlanPoint(uint64((i + 1) * 1 days), uint192(i * 1e6));
        }
        _deploy(params);
        (,, BusinessPlanPoint[] memory plan,) = portfolio.riskTerms();
        assertEq(plan.length, n);
    }

    // ================================================================== the v2 vectors end to end

    /// @dev Every case of spec/vectors/waterfall-v2.json (the v1 cases included) is rebuilt as a portfolio
    /// bought out at face, its reserve funded by the issuer treasury before the close, fed the case's
    /// recoveries after the case's elapsed seconds (a final one after a proposal and the resolution delay):
    /// fees, tranche totals and states, undistributed, trigger, reserve movements and write-offs as the case
    /// says, from balances, views and events.
    function test_v2Vectors_endToEnd() public {
        string memory json = _vectorsV2();
        uint256 cases = _caseCount(json);
        assertGt(cases, 6);
        for (uint256 c; c < cases; ++c) {
            _deployV2Case(json, c);
            uint256 recoveries = _recoveryCountOf(json, c);
            for (uint256 k; k < recoveries; ++k) {
                _runV2Recovery(json, c, k);
            }
        }
    }

    function _deployV2Case(string memory json, uint256 c) internal {
        WaterfallLib.Tranche[] memory vectorTranches = _vectorTranches(json, c);
        (uint256 servicerBps, uint256 protocolBps) = _vectorFees(json, c);
        WaterfallLib.Reserve memory reserve_ = _vectorReserve(json, c);
        WaterfallLib.Trigger memory trigger = _vectorTrigger(json, c);
        CreateParams memory params = _defaultParams();
        params.servicerFeeBps = uint16(servicerBps);
        params.protocolFeeBps = uint16(protocolBps);
        params.mode = _vectorMode(json, c);
        params.offeringStart = uint64(block.timestamp);
        params.offeringEnd = uint64(block.timestamp + 1 days);
        params.tranches = new TrancheConfig[](vectorTranches.length);
        for (uint256 i; i < vectorTranches.length; ++i) {
            params.tranches[i] =
                TrancheConfig("T", "T", vectorTranches[i].outstanding, uint16(vectorTranches[i].couponBps), 10_000);
        }
        params.reserve = ReserveTerms(uint16(reserve_.targetBps));
        params.trigger.collectionRatioBps = uint16(trigger.collectionRatioBps);
        params.trigger.businessPlan = new BusinessPlanPoint[](trigger.businessPlan.length);
        for (uint256 i; i < trigger.businessPlan.length; ++i) {
            params.trigger.businessPlan[i] = BusinessPlanPoint(
                uint64(trigger.businessPlan[i].atSeconds), uint192(trigger.businessPlan[i].cumulative)
            );
        }
        _deploy(params);
        for (uint256 i; i < vectorTranches.length; ++i) {
            if (vectorTranches[i].outstanding != 0) _buy(i % 2 == 0 ? alice : bob, i, vectorTranches[i].outstanding);
        }
        if (reserve_.balance != 0) _fundReserve(reserve_.balance);
        _close();
    }

    function _runV2Recovery(string memory json, uint256 c, uint256 k) internal {
        (uint256 amount, bool isFinal) = _waitForV2Recovery(json, c, k);
        uint256 servicerBefore = usd.balanceOf(servicer);
        uint256 protocolBefore = usd.balanceOf(protocolTreasury);
        uint256 fundedBefore = distributor.totalFunded();
        uint256[] memory paidBefore = new uint256[](portfolio.trancheCount());
        for (uint256 i; i < paidBefore.length; ++i) {
            (,,, paidBefore[i]) = portfolio.trancheState(i);
        }

        vm.recordLogs();
        if (isFinal) _finalDeposit(amount);
        else _deposit(amount);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        string memory where = string.concat(_caseId(json, c), " recovery ", vm.toString(k));
        assertEq(usd.balanceOf(servicer) - servicerBefore, _expected(json, c, k, ".servicerFee"), where);
        assertEq(usd.balanceOf(protocolTreasury) - protocolBefore, _expected(json, c, k, ".protocolFee"), where);
        assertEq(distributor.totalFunded() - fundedBefore, _checkVectorTranches(json, c, k, paidBefore, where), where);
        assertEq(portfolio.undistributed(), _expected(json, c, k, ".undistributed"), where);
        (uint256 reserveBalance,) = portfolio.reserve();
        assertEq(reserveBalance, _expected(json, c, k, ".reserve.balanceAfter"), where);
        _checkRiskEvent(json, c, k, logs, where);
        if (isFinal) _checkResolution(json, c, k, logs, where);
    }

    /// @dev Moves time to recovery `k` of case `c`; for a final one, proposes the resolution so that it becomes
    /// executable exactly then.
    function _waitForV2Recovery(string memory json, uint256 c, uint256 k)
        internal
        returns (uint256 amount, bool isFinal)
    {
        uint256 elapsed;
        (amount, elapsed) = _vectorRecovery(json, c, k);
        isFinal = _vectorFinal(json, c, k);
        if (isFinal) {
            require(elapsed >= 1 days, "a final vector recovery comes at least the resolution delay later");
            vm.warp(block.timestamp + elapsed - 1 days);
            vm.prank(servicer);
            portfolio.proposeResolution();
            vm.warp(block.timestamp + 1 days);
        } else {
            vm.warp(block.timestamp + elapsed);
        }
    }

    function _checkVectorTranches(
        string memory json,
        uint256 c,
        uint256 k,
        uint256[] memory paidBefore,
        string memory where
    ) internal view returns (uint256 trancheSum) {
        for (uint256 i; i < paidBefore.length; ++i) {
            (uint256 outstanding, uint256 arrears,, uint256 paid) = portfolio.trancheState(i);
            string memory at = string.concat(where, " tranche ", vm.toString(i));
            assertEq(paid - paidBefore[i], _expectedTranche(json, c, k, i, ".total"), at);
            assertEq(outstanding, _expectedTranche(json, c, k, i, ".outstandingAfter"), at);
            assertEq(arrears, _expectedTranche(json, c, k, i, ".interestArrearsAfter"), at);
            trancheSum += paid - paidBefore[i];
        }
    }

    /// @dev The RecoveryTriggerAndReserve event: present exactly for a portfolio with v2 terms or a final
    /// recovery, with the case's trigger state and reserve movements.
    function _checkRiskEvent(string memory json, uint256 c, uint256 k, Vm.Log[] memory logs, string memory where)
        internal
        view
    {
        (uint256 targetBps, uint256 ratioBps,,) = portfolio.riskTerms();
        bool expectEvent = targetBps != 0 || ratioBps != 0 || _vectorFinal(json, c, k);
        bool found;
        for (uint256 l; l < logs.length; ++l) {
            if (logs[l].emitter != address(portfolio)) continue;
            if (logs[l].topics[0] != IPortfolio.RecoveryTriggerAndReserve.selector) continue;
            found = true;
            assertEq(uint256(logs[l].topics[1]), portfolio.recoveryCount(), where);
            // (triggerBreached, collected, planned, released, drawn, replenished, reserveBalance)
            uint256[7] memory e = abi.decode(logs[l].data, (uint256[7]));
            assertEq(e[0] == 1, _expectedBreached(json, c, k), string.concat(where, " triggerBreached"));
            assertEq(e[1], portfolio.collected(), where);
            assertEq(e[3], _expected(json, c, k, ".reserve.released"), string.concat(where, " released"));
            assertEq(e[4], _expected(json, c, k, ".reserve.drawn"), string.concat(where, " drawn"));
            assertEq(e[5], _expected(json, c, k, ".reserve.replenished"), string.concat(where, " replenished"));
            assertEq(e[6], _expected(json, c, k, ".reserve.balanceAfter"), where);
        }
        assertEq(found, expectEvent, string.concat(where, " RecoveryTriggerAndReserve emitted"));
        if (!expectEvent) {
            // a v1 portfolio: the case must read as no trigger, no reserve movement
            assertFalse(_expectedBreached(json, c, k), where);
            assertEq(_expected(json, c, k, ".reserve.released"), 0, where);
        }
    }

    function _checkResolution(string memory json, uint256 c, uint256 k, Vm.Log[] memory logs, string memory where)
        internal
        view
    {
        bool found;
        for (uint256 l; l < logs.length; ++l) {
            if (logs[l].emitter != address(portfolio) || logs[l].topics[0] != IPortfolio.PortfolioResolved.selector) {
                continue;
            }
            found = true;
            (uint256[] memory principalOff, uint256[] memory interestOff) =
                abi.decode(logs[l].data, (uint256[], uint256[]));
            for (uint256 i; i < principalOff.length; ++i) {
                assertEq(principalOff[i], _expectedTranche(json, c, k, i, ".principalWrittenOff"), where);
                assertEq(interestOff[i], _expectedTranche(json, c, k, i, ".interestWrittenOff"), where);
            }
        }
        assertTrue(found, string.concat(where, " PortfolioResolved emitted"));
        (, bool resolved) = portfolio.resolution();
        assertTrue(resolved, where);
    }

    // ================================================================== reserve

    function test_fundReserve_pullsFromTheIssuerTreasuryBeforeAndAfterClose() public {
        vm.prank(admin);
        usd.mint(issuerTreasury, 10_000e6);
        vm.startPrank(issuerTreasury);
        usd.approve(address(portfolio), 10_000e6);
        vm.expectEmit(address(portfolio));
        emit IPortfolio.ReserveFunded(issuerTreasury, 10_000e6, 10_000e6);
        portfolio.fundReserve(10_000e6);
        vm.stopPrank();
        _sellOutAndClose();
        _fundReserve(14_000e6);
        (uint256 balance, uint256 funded) = portfolio.reserve();
        assertEq(balance, 24_000e6);
        assertEq(funded, 24_000e6);
        assertEq(usd.balanceOf(address(portfolio)), 24_000e6);
        assertEq(portfolio.undistributed(), 0);
    }

    /// @dev Attack: a stranger (or the admin, the issuer, the servicer) cannot fund the reserve out of the
    /// issuer treasury's approval to the Portfolio.
    function test_fundReserve_nobodyButTheIssuerTreasuryPullsItsWallet() public {
        vm.prank(admin);
        usd.mint(issuerTreasury, 10_000e6);
        vm.prank(issuerTreasury);
        usd.approve(address(portfolio), 10_000e6);
        address[4] memory others = [outsider, admin, issuer, servicer];
        for (uint256 i; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IPortfolio.ReserveCallerNotIssuerTreasury.selector, others[i]));
            vm.prank(others[i]);
            portfolio.fundReserve(10_000e6);
        }
        assertEq(usd.balanceOf(issuerTreasury), 10_000e6);
    }

    function test_fundReserve_revertsWithoutAReserveTarget() public {
        CreateParams memory params = _v2Params();
        params.reserve = ReserveTerms(0);
        _deploy(params);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ReserveNotConfigured.selector));
        vm.prank(issuerTreasury);
        portfolio.fundReserve(1);
    }

    function test_fundReserve_revertsOnZeroAndWhenPaused() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ReserveAmountZero.selector));
        vm.prank(issuerTreasury);
        portfolio.fundReserve(0);
        vm.prank(guardian);
        portfolio.pause();
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(issuerTreasury);
        portfolio.fundReserve(1);
    }

    /// @dev Attack: the reserve's cash is not undistributed money; the admin's sweep never takes it.
    function test_sweepUndistributed_neverTouchesTheReserve() public {
        _fundReserve(24_000e6);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioNothingToSweep.selector));
        vm.prank(admin);
        portfolio.sweepUndistributed();

        // a residual tranche without holders leaves something undistributed beside the reserve
        _buy(alice, 0, 600_000e6);
        _close();
        vm.warp(block.timestamp + 30 days);
        _deposit(700_000e6);
        uint256 held = portfolio.undistributed();
        (uint256 reserveBalance,) = portfolio.reserve();
        assertGt(held, 0);
        assertEq(usd.balanceOf(address(portfolio)), held + reserveBalance);
        vm.prank(admin);
        portfolio.sweepUndistributed();
        assertEq(usd.balanceOf(sweepRecipient), held);
        (uint256 after_,) = portfolio.reserve();
        assertEq(after_, reserveBalance);
        assertEq(usd.balanceOf(address(portfolio)), reserveBalance);
    }

    function test_depositRecovery_drawsTheReserveForSeniorInterest() public {
        _fundReserve(24_000e6);
        _sellOutAndClose();
        vm.warp(block.timestamp + 91 days);
        // 8 % on 600k for 91 days = 11,967.12 USDC of senior interest; 1,000 USDC gross covers little of it
        _deposit(1_000e6);
        (uint256 balance,) = portfolio.reserve();
        (, uint256 seniorArrears,,) = portfolio.trancheState(0);
        assertEq(seniorArrears, 0, "the reserve paid what the recovery could not");
        assertLt(balance, 24_000e6);
        assertEq(usd.balanceOf(address(portfolio)), balance);
    }

    // ================================================================== resolution

    function test_proposeResolution_emitsExecutableAt() public {
        _sellOutAndClose();
        vm.expectEmit(address(portfolio));
        emit IPortfolio.ResolutionProposed(block.timestamp + 1 days);
        vm.prank(servicer);
        portfolio.proposeResolution();
        (uint256 executableAt,) = portfolio.resolution();
        assertEq(executableAt, block.timestamp + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ResolutionAlreadyProposed.selector, executableAt));
        vm.prank(servicer);
        portfolio.proposeResolution();
    }

    function test_proposeResolution_onlyTheServicerAfterClose() public {
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryBeforeClose.selector));
        vm.prank(servicer);
        portfolio.proposeResolution();
        _sellOutAndClose();
        address[4] memory others = [outsider, admin, issuer, guardian];
        for (uint256 i; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, others[i]));
            vm.prank(others[i]);
            portfolio.proposeResolution();
        }
    }

    function _signResolution(uint256 signerKey, uint256 nonce, uint256 deadline) internal view returns (bytes memory) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash = keccak256(abi.encode(portfolio.RESOLUTION_INTENT_TYPEHASH(), nonce, deadline));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    /// @dev Attack: the relayer (or anyone) cannot propose a resolution in the servicer's name: only the servicer's
    /// signature of this portfolio's ResolutionIntent counts, once, before its deadline; a cancelled nonce is void.
    function test_proposeResolutionWithSig_onlyTheServicersConsentOnce() public {
        uint256 deadline = block.timestamp + 1 days;
        bytes memory signature = _signResolution(uint256(keccak256("servicer")), 11, deadline);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryBeforeClose.selector));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(11, deadline, signature);
        _sellOutAndClose();

        // a stranger's signature, or the servicer's over another nonce or deadline, is no consent
        bytes memory stranger = _signResolution(uint256(keccak256("stranger")), 11, deadline);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(11, deadline, stranger);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(12, deadline, signature);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(11, deadline + 1, signature);

        // past its deadline
        uint256 start = block.timestamp;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentExpired.selector, deadline));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(11, deadline, signature);
        vm.warp(start);

        // a cancelled nonce
        vm.prank(servicer);
        portfolio.invalidateNonce(13);
        bytes memory cancelled = _signResolution(uint256(keccak256("servicer")), 13, deadline);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, servicer, 13));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(13, deadline, cancelled);

        vm.expectEmit(address(portfolio));
        emit IPortfolio.ResolutionProposed(block.timestamp + 1 days);
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(11, deadline, signature);
        assertTrue(portfolio.nonceUsed(servicer, 11));

        // replayed after a veto: the nonce is spent
        vm.prank(guardian);
        portfolio.vetoResolution();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentNonceUsed.selector, servicer, 11));
        vm.prank(outsider);
        portfolio.proposeResolutionWithSig(11, deadline, signature);
        (uint256 executableAt,) = portfolio.resolution();
        assertEq(executableAt, 0);
    }

    /// @dev Attack: the final recovery one second before the delay ends fails.
    function test_depositFinalRecovery_revertsBeforeTheDelay() public {
        _sellOutAndClose();
        vm.prank(servicer);
        portfolio.proposeResolution();
        vm.warp(block.timestamp + 1 days - 1);
        vm.prank(servicer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ResolutionNotExecutable.selector, block.timestamp + 1));
        portfolio.depositFinalRecovery(0, bytes32(0));
    }

    function test_depositFinalRecovery_revertsWithoutAProposal() public {
        _sellOutAndClose();
        vm.prank(servicer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ResolutionNotProposed.selector));
        portfolio.depositFinalRecovery(0, bytes32(0));
    }

    /// @dev Attack: after the guardian's veto the proposal is gone, even once its time has come.
    function test_depositFinalRecovery_revertsAfterAVeto() public {
        _sellOutAndClose();
        vm.prank(servicer);
        portfolio.proposeResolution();
        vm.expectEmit(address(portfolio));
        emit IPortfolio.ResolutionVetoed(guardian, block.timestamp + 1 days);
        vm.prank(guardian);
        portfolio.vetoResolution();
        vm.warp(block.timestamp + 2 days);
        vm.prank(servicer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ResolutionNotProposed.selector));
        portfolio.depositFinalRecovery(0, bytes32(0));
        // a new proposal waits out the whole delay again
        vm.prank(servicer);
        portfolio.proposeResolution();
        vm.prank(servicer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ResolutionNotExecutable.selector, block.timestamp + 1 days));
        portfolio.depositFinalRecovery(0, bytes32(0));
    }

    function test_vetoResolution_onlyTheGuardianAndNotOfNothing() public {
        _sellOutAndClose();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ResolutionNotProposed.selector));
        vm.prank(guardian);
        portfolio.vetoResolution();
        vm.prank(servicer);
        portfolio.proposeResolution();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, outsider, portfolio.GUARDIAN_ROLE()
            )
        );
        vm.prank(outsider);
        portfolio.vetoResolution();
    }

    /// @dev Attack: the final recovery needs the servicer's own call or its FinalDepositIntent.
    function test_depositFinalRecovery_onlyTheServicer() public {
        _sellOutAndClose();
        _proposeAndWait();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, outsider));
        vm.prank(outsider);
        portfolio.depositFinalRecovery(0, bytes32(0));
    }

    function _signDeposit(bytes32 typeHash, IPortfolio.DepositIntent memory intent) internal view returns (bytes memory) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash =
            keccak256(abi.encode(typeHash, intent.amount, intent.reportHash, intent.nonce, intent.deadline));
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(uint256(keccak256("servicer")), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    /// @dev Attack: the servicer's signed ordinary deposit cannot be relayed as its final recovery (the intent
    /// binds `final` through its type), and the signed final one resolves.
    function test_depositFinalRecoveryWithSig_bindsFinal() public {
        _sellOutAndClose();
        _proposeAndWait();
        IPortfolio.DepositIntent memory intent = IPortfolio.DepositIntent({
            amount: 0, reportHash: keccak256("final report"), nonce: 7, deadline: block.timestamp + 1 hours
        });
        bytes memory ordinary = _signDeposit(portfolio.DEPOSIT_INTENT_TYPEHASH(), intent);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        vm.prank(outsider);
        portfolio.depositFinalRecoveryWithSig(intent, ordinary);

        bytes memory finalSig = _signDeposit(portfolio.FINAL_DEPOSIT_INTENT_TYPEHASH(), intent);
        // nor the reverse: a signed final recovery is no ordinary one
        intent.amount = 0;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.IntentSignatureInvalid.selector, servicer));
        vm.prank(outsider);
        portfolio.depositRecoveryWithSig(intent, finalSig);

        vm.prank(outsider);
        portfolio.depositFinalRecoveryWithSig(intent, finalSig);
        (, bool resolved) = portfolio.resolution();
        assertTrue(resolved);
        assertTrue(portfolio.nonceUsed(servicer, 7));
    }

    function test_depositFinalRecovery_releasesTheReserveWritesOffAndResolves() public {
        _fundReserve(24_000e6);
        _sellOutAndClose();
        vm.warp(block.timestamp + 91 days);
        _deposit(100_000e6);
        _proposeAndWait();
        uint256 fundedBefore = distributor.totalFunded();
        (uint256 reserveBefore,) = portfolio.reserve();
        assertGt(reserveBefore, 0);
        uint256 id = _finalDeposit(0);
        assertEq(id, 2);
        (uint256 reserveAfter,) = portfolio.reserve();
        assertEq(reserveAfter, 0);
        assertEq(distributor.totalFunded() - fundedBefore, reserveBefore, "the whole reserve went to the holders");
        assertEq(usd.balanceOf(address(portfolio)), portfolio.undistributed());
        for (uint256 i; i < 2; ++i) {
            (uint256 outstanding, uint256 arrears,,) = portfolio.trancheState(i);
            assertEq(outstanding + arrears, 0, "the debt is written off");
        }
        assertTrue(tokens[0].paused());
    }

    function _resolve() internal {
        _fundReserve(24_000e6);
        _sellOutAndClose();
        vm.warp(block.timestamp + 91 days);
        _deposit(100_000e6);
        _proposeAndWait();
        _finalDeposit(5_000e6);
    }

    /// @dev Attack: nothing moves after resolution: no recovery (ordinary or final), no reserve funding, no
    /// proposal or veto, no tranche transfer, even after the guardian's pause and unpause.
    function test_afterResolution_nothingMoves() public {
        _resolve();
        vm.prank(admin);
        usd.mint(servicer, 1e6);
        vm.startPrank(servicer);
        usd.approve(address(portfolio), 1e6);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioAlreadyResolved.selector));
        portfolio.depositRecovery(1e6, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioAlreadyResolved.selector));
        portfolio.depositFinalRecovery(0, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioAlreadyResolved.selector));
        portfolio.proposeResolution();
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioAlreadyResolved.selector));
        vm.prank(guardian);
        portfolio.vetoResolution();
        vm.prank(admin);
        usd.mint(issuerTreasury, 1e6);
        vm.startPrank(issuerTreasury);
        usd.approve(address(portfolio), 1e6);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioAlreadyResolved.selector));
        portfolio.fundReserve(1e6);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenPaused.selector));
        vm.prank(alice);
        tokens[0].transfer(bob, 1e18);
        vm.startPrank(guardian);
        portfolio.pause();
        portfolio.unpause();
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenPaused.selector));
        vm.prank(alice);
        tokens[0].transfer(bob, 1e18);
    }

    /// @dev Attack: the guardian can pause, veto and unpause, but none of its calls moves money.
    function test_guardian_cannotMoveMoney() public {
        _fundReserve(24_000e6);
        _sellOutAndClose();
        uint256 held = usd.balanceOf(address(portfolio));
        vm.startPrank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, guardian));
        portfolio.depositRecovery(1, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.RecoveryCallerNotServicer.selector, guardian));
        portfolio.depositFinalRecovery(0, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.ReserveCallerNotIssuerTreasury.selector, guardian));
        portfolio.fundReserve(1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, portfolio.DEFAULT_ADMIN_ROLE()
            )
        );
        portfolio.sweepUndistributed();
        portfolio.pause();
        portfolio.unpause();
        vm.stopPrank();
        assertEq(usd.balanceOf(address(portfolio)), held);
    }

    // ================================================================== v1 portfolios

    /// @dev A portfolio without reserve and trigger emits no RecoveryTriggerAndReserve and can still resolve.
    function test_v1Portfolio_resolvesWithoutReserve() public {
        _deploy(_defaultParams());
        _sellOutAndClose();
        vm.warp(block.timestamp + 30 days);
        vm.recordLogs();
        _deposit(10_000e6);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 l; l < logs.length; ++l) {
            assertNotEq(logs[l].topics[0], IPortfolio.RecoveryTriggerAndReserve.selector);
        }
        _proposeAndWait();
        _finalDeposit(0);
        (uint256 outstanding,,,) = portfolio.trancheState(0);
        assertEq(outstanding, 0);
    }

    // ================================================================== fuzz

    /// @dev Conservation with real tokens over a random sequence ending in resolution: everything that came in
    /// (recoveries and reserve funding) went out as fees and tranche totals, or is still held as reserve plus
    /// undistributed; the reserve never exceeds what was funded plus what was replenished.
    function testFuzz_conservationWithReserveThroughResolution(uint256[6] memory amounts, uint256[6] memory gaps)
        public
    {
        _fundReserve(24_000e6);
        _sellOutAndClose();
        uint256 inflow = 24_000e6;
        uint256 replenished;
        for (uint256 k; k < 6; ++k) {
            vm.warp(block.timestamp + bound(gaps[k], 0, 200 days));
            uint256 amount = bound(amounts[k], 1, 400_000e6);
            vm.recordLogs();
            _deposit(amount);
            replenished += _replenishedIn(vm.getRecordedLogs());
            inflow += amount;
            (uint256 balance, uint256 funded) = portfolio.reserve();
            assertLe(balance, funded + replenished);
        }
        _proposeAndWait();
        _finalDeposit(0);
        (uint256 finalBalance,) = portfolio.reserve();
        assertEq(finalBalance, 0);
        uint256 outflow = usd.balanceOf(servicer) + usd.balanceOf(protocolTreasury) + distributor.totalFunded();
        assertEq(inflow, outflow + usd.balanceOf(address(portfolio)));
        assertEq(usd.balanceOf(address(portfolio)), portfolio.undistributed());
    }

    function _replenishedIn(Vm.Log[] memory logs) internal view returns (uint256 replenished) {
        for (uint256 l; l < logs.length; ++l) {
            if (logs[l].emitter != address(portfolio)) continue;
            if (logs[l].topics[0] != IPortfolio.RecoveryTriggerAndReserve.selector) continue;
            replenished = abi.decode(logs[l].data, (uint256[7]))[5];
        }
    }
}
