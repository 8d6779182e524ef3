// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Distributor} from "../src/Distributor.sol";
import {Portfolio} from "../src/Portfolio.sol";
import {PortfolioFactory} from "../src/PortfolioFactory.sol";
import {TrancheToken} from "../src/TrancheToken.sol";
import {IComplianceRegistry} from "../src/interfaces/IComplianceRegistry.sol";
import {IPortfolio} from "../src/interfaces/IPortfolio.sol";
import {IPortfolioFactory} from "../src/interfaces/IPortfolioFactory.sol";
import {ITrancheToken} from "../src/interfaces/ITrancheToken.sol";
import {CreateParams} from "../src/types/PortfolioTypes.sol";
import {Vm} from "./utils/Vm.sol";
import {PortfolioFixture} from "./utils/PortfolioFixture.sol";

contract PortfolioFactoryTest is PortfolioFixture {
    function setUp() public {
        _setUpStack();
    }

    function test_constructor_storesImplementations() public {
        address p = address(new Portfolio());
        address t = address(new TrancheToken());
        address d = address(new Distributor(MIN_TIMELOCK_DELAY));
        PortfolioFactory f = new PortfolioFactory(p, t, d);
        assertEq(f.portfolioImplementation(), p);
        assertEq(f.trancheTokenImplementation(), t);
        assertEq(f.distributorImplementation(), d);
    }

    function test_constructor_revertsOnZeroImplementation() public {
        address p = address(new Portfolio());
        address t = address(new TrancheToken());
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(p, t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(p, address(0), p);
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(address(0), t, p);
    }

    function test_createPortfolio_deploysAndInitializesEverything() public {
        CreateParams memory params = _defaultParams();
        vm.recordLogs();
        vm.prank(issuer);
        address created = factory.createPortfolio(params);

        (address emittedPortfolio, address emittedDistributor, address[] memory emittedTranches, address emittedIssuer)
        = _portfolioCreatedEvent(vm.getRecordedLogs());
        assertEq(emittedPortfolio, created);
        assertEq(emittedIssuer, issuer);
        assertTrue(factory.isPortfolio(created));
        assertFalse(factory.isPortfolio(address(registry)));

        Portfolio p = Portfolio(created);
        IPortfolio.Terms memory t = p.terms();
        assertEq(t.distributor, emittedDistributor);
        assertEq(emittedTranches.length, params.tranches.length);
        for (uint256 i; i < emittedTranches.length; ++i) {
            TrancheToken token = TrancheToken(emittedTranches[i]);
            assertEq(p.trancheToken(i), address(token));
            assertEq(token.name(), params.tranches[i].name);
            assertEq(token.symbol(), params.tranches[i].symbol);
            assertEq(token.portfolio(), created);
            assertEq(address(token.registry()), address(registry));
            assertEq(token.trancheId(), i);
            assertEq(token.totalSupply(), 0);
        }

        Distributor d = Distributor(emittedDistributor);
        assertEq(d.portfolio(), created);
        assertEq(d.payToken(), address(usd));
        assertEq(d.timelockDelay(), params.timelockDelay);
        assertEq(d.registry(), address(registry));
        assertTrue(d.hasRole(d.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(d.hasRole(d.GUARDIAN_ROLE(), guardian));
        assertTrue(d.hasRole(d.ROOT_PROPOSER_ROLE(), rootProposer));
    }

    function test_createPortfolio_clonesCannotBeReinitialized() public {
        _deploy(_defaultParams());
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        tokens[0].initialize("X", "X", outsider, IComplianceRegistry(address(registry)), 0);
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        distributor.initialize(outsider, address(usd), outsider, outsider, outsider, outsider, 1 days);
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        portfolio.initialize(_defaultParams(), new ITrancheToken[](3), distributor);
    }

    function test_implementations_cannotBeInitialized() public {
        Portfolio p = Portfolio(factory.portfolioImplementation());
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        p.initialize(_defaultParams(), new ITrancheToken[](3), distributor);
    }

    function test_createPortfolio_deploysIndependentPortfolios() public {
        _deploy(_defaultParams());
        Portfolio first = portfolio;
        address firstToken = address(tokens[0]);
        _deploy(_defaultParams());
        assertNotEq(address(first), address(portfolio));
        assertNotEq(firstToken, address(tokens[0]));
        assertTrue(factory.isPortfolio(address(first)));
        assertTrue(factory.isPortfolio(address(portfolio)));
        // buying in one leaves the other untouched
        _buy(alice, 0, 1e6);
        assertEq(TrancheToken(firstToken).totalSupply(), 0);
        assertEq(tokens[0].totalSupply(), 1e6 * SCALE);
    }

    function test_createPortfolio_revertsAsAWholeOnInvalidParams() public {
        CreateParams memory params = _defaultParams();
        params.tranches[0].face = 0;
        vm.expectRevert(abi.encodeWithSelector(IPortfolio.PortfolioTrancheInvalid.selector, 0));
        factory.createPortfolio(params);
    }

    function _portfolioCreatedEvent(Vm.Log[] memory logs)
        internal
        view
        returns (address portfolio_, address distributor_, address[] memory tranches, address issuer_)
    {
        bytes32 topic = IPortfolioFactory.PortfolioCreated.selector;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(factory) && logs[i].topics[0] == topic) {
                portfolio_ = address(uint160(uint256(logs[i].topics[1])));
                (distributor_, tranches, issuer_) = abi.decode(logs[i].data, (address, address[], address));
                return (portfolio_, distributor_, tranches, issuer_);
            }
        }
        revert("PortfolioCreated not emitted");
    }
}
