// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {Distributor} from "../../src/Distributor.sol";
import {Portfolio} from "../../src/Portfolio.sol";
import {PortfolioFactory} from "../../src/PortfolioFactory.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {IPortfolio} from "../../src/interfaces/IPortfolio.sol";
import {WaterfallLib} from "../../src/libraries/WaterfallLib.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";
import {
    BusinessPlanPoint,
    CreateParams,
    ReserveTerms,
    TrancheConfig,
    TriggerTerms
} from "../../src/types/PortfolioTypes.sol";
import {Test} from "./Test.sol";

/// @notice Deploys the real stack (registry, stablecoin, implementations, factory with the real
/// Distributor) and one 3-tranche portfolio; shared by the Portfolio, factory and invariant tests.
abstract contract PortfolioFixture is Test {
    uint256 internal constant SCALE = 1e12; // 18 - 6 decimals
    uint64 internal constant START = 1_700_000_000;
    uint64 internal constant END = START + 30 days;
    /// @dev The Distributor implementation's timelock floor (a public chain's).
    uint256 internal constant MIN_TIMELOCK_DELAY = 1 days;

    ComplianceRegistry internal registry;
    TestStablecoin internal usd;
    PortfolioFactory internal factory;
    Portfolio internal portfolio;
    Distributor internal distributor;
    TrancheToken[] internal tokens;
    /// @dev Deployments by `_deploy` so far: the CREATE2 salt of a params struct with a zero salt.
    uint256 internal _deploys;

    address internal admin = makeAddr("admin");
    address internal issuer = makeAddr("issuer");
    address internal issuerTreasury = makeAddr("issuerTreasury");
    address internal servicer = makeAddr("servicer");
    address internal guardian = makeAddr("guardian");
    address internal protocolTreasury = makeAddr("protocolTreasury");
    address internal rootProposer = makeAddr("rootProposer");
    address internal sweepRecipient = makeAddr("sweepRecipient");
    address internal alice;
    uint256 internal aliceKey;
    address internal bob = makeAddr("bob");
    address internal outsider = makeAddr("outsider");

    function _setUpStack() internal {
        vm.warp(START);
        (alice, aliceKey) = makeAddrAndKey("alice");
        registry = new ComplianceRegistry(admin);
        usd = new TestStablecoin(admin);
        // this test contract is the factory's creator (it deploys every portfolio of the fixture)
        factory = new PortfolioFactory(
            address(new Portfolio()),
            address(new TrancheToken()),
            address(new Distributor(MIN_TIMELOCK_DELAY)),
            admin,
            address(this)
        );
        _allow(alice);
        _allow(bob);
    }

    function _allow(address account) internal {
        vm.prank(admin);
        registry.allowlist(account, type(uint64).max);
    }

    function _defaultParams() internal view returns (CreateParams memory params) {
        TrancheConfig[] memory tranches = new TrancheConfig[](3);
        tranches[0] = TrancheConfig("NPL Senior", "NPL-A", 600_000e6, 800, 10_000);
        tranches[1] = TrancheConfig("NPL Mezzanine", "NPL-B", 250_000e6, 1_200, 9_500);
        tranches[2] = TrancheConfig("NPL Residual", "NPL-C", 150_000e6, 0, 9_000);
        params = CreateParams({
            admin: admin,
            issuer: issuer,
            issuerTreasury: issuerTreasury,
            servicer: servicer,
            guardian: guardian,
            protocolTreasury: protocolTreasury,
            payToken: address(usd),
            registry: address(registry),
            rootProposer: rootProposer,
            timelockDelay: 1 days,
            servicerFeeBps: 1_000,
            protocolFeeBps: 100,
            mode: WaterfallLib.Mode.InterestFirst,
            offeringStart: START,
            offeringEnd: END,
            documentRoot: keccak256("documents v1"),
            loanTapeHash: keccak256("loan tape v1"),
            tranches: tranches,
            sweepRecipient: sweepRecipient,
            reserve: ReserveTerms(0),
            trigger: TriggerTerms(0, new BusinessPlanPoint[](0)),
            resolutionDelay: 1 days,
            salt: bytes32(0)
        });
    }

    /// @dev Creates `params`; a zero `params.salt` is replaced by one unique to this deployment (so the same
    /// terms can be deployed again), a non-zero one is kept.
    function _deploy(CreateParams memory params) internal {
        if (params.salt == bytes32(0)) params.salt = bytes32(++_deploys);
        portfolio = Portfolio(factory.createPortfolio(params));
        IPortfolio.Terms memory t = portfolio.terms();
        distributor = Distributor(t.distributor);
        delete tokens;
        for (uint256 i; i < portfolio.trancheCount(); ++i) {
            tokens.push(TrancheToken(portfolio.trancheToken(i)));
        }
    }

    /// @dev Mints the cost to `buyer`, approves it and buys `units` pay units of face of `trancheId`.
    function _buy(address buyer, uint256 trancheId, uint256 units) internal returns (uint256 cost) {
        cost = portfolio.quote(trancheId, units * SCALE);
        vm.prank(admin);
        usd.mint(buyer, cost);
        vm.startPrank(buyer);
        usd.approve(address(portfolio), cost);
        portfolio.buy(trancheId, units * SCALE, cost);
        vm.stopPrank();
    }

    function _close() internal {
        vm.prank(issuer);
        portfolio.closeOffering();
    }

    function _deposit(uint256 amount) internal returns (uint256 recoveryId) {
        vm.prank(admin);
        usd.mint(servicer, amount);
        vm.startPrank(servicer);
        usd.approve(address(portfolio), amount);
        // one report per deposit: the Portfolio refuses a report hash it already took
        recoveryId = portfolio.depositRecovery(amount, keccak256(abi.encode("report", amount, portfolio.recoveryCount())));
        vm.stopPrank();
    }
}
