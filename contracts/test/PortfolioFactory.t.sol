// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Errors} from "@openzeppelin/contracts/utils/Errors.sol";
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
        PortfolioFactory f = new PortfolioFactory(p, t, d, admin, issuer);
        assertEq(f.portfolioImplementation(), p);
        assertEq(f.trancheTokenImplementation(), t);
        assertEq(f.distributorImplementation(), d);
        assertTrue(f.hasRole(f.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(f.hasRole(f.CREATOR_ROLE(), issuer));
        assertFalse(f.hasRole(f.CREATOR_ROLE(), admin));
        assertEq(f.CREATOR_ROLE(), keccak256("CREATOR_ROLE"));
    }

    function test_constructor_revertsOnZeroImplementation() public {
        address p = address(new Portfolio());
        address t = address(new TrancheToken());
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(p, t, address(0), admin, issuer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(p, address(0), p, admin, issuer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(address(0), t, p, admin, issuer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(p, t, p, address(0), issuer);
        vm.expectRevert(abi.encodeWithSelector(IPortfolioFactory.FactoryZeroAddress.selector));
        new PortfolioFactory(p, t, p, admin, address(0));
    }

    function test_createPortfolio_deploysAndInitializesEverything() public {
        CreateParams memory params = _defaultParams();
        (address predicted, address predictedDistributor, address[] memory predictedTranches) =
            factory.predictAddresses(params, address(this));
        vm.recordLogs();
        address created = factory.createPortfolio(params);
        assertEq(created, predicted);

        (address emittedPortfolio, address emittedDistributor, address[] memory emittedTranches, address emittedIssuer)
        = _portfolioCreatedEvent(vm.getRecordedLogs());
        assertEq(emittedPortfolio, created);
        assertEq(emittedIssuer, issuer);
        assertTrue(factory.isPortfolio(created));
        assertFalse(factory.isPortfolio(address(registry)));

        Portfolio p = Portfolio(created);
        IPortfolio.Terms memory t = p.terms();
        assertEq(t.distributor, emittedDistributor);
        assertEq(emittedDistributor, predictedDistributor);
        assertEq(emittedTranches.length, params.tranches.length);
        for (uint256 i; i < emittedTranches.length; ++i) {
            assertEq(emittedTranches[i], predictedTranches[i]);
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

    /// Attack (finding 6): a stranger (or the issuer, the admin, the operator key) creates a portfolio with an
    /// allow-all registry; before the fix it read isPortfolio == true. Only CREATOR_ROLE creates now.
    function test_createPortfolio_revertsForAnyoneWithoutTheCreatorRole() public {
        CreateParams memory params = _defaultParams();
        params.salt = keccak256("stranger");
        bytes32 role = factory.CREATOR_ROLE();
        address[4] memory callers = [outsider, issuer, admin, rootProposer];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, callers[i], role)
            );
            vm.prank(callers[i]);
            factory.createPortfolio(params);
            (address predicted,,) = factory.predictAddresses(params, callers[i]);
            assertEq(predicted.code.length, 0);
            assertFalse(factory.isPortfolio(predicted));
        }
    }

    function test_createPortfolio_creatorRoleIsGrantedAndRevokedByTheAdmin() public {
        CreateParams memory params = _defaultParams();
        params.salt = keccak256("new creator");
        bytes32 role = factory.CREATOR_ROLE();
        vm.prank(admin);
        factory.grantRole(role, outsider);
        vm.prank(outsider);
        address created = factory.createPortfolio(params);
        assertTrue(factory.isPortfolio(created));
        vm.prank(admin);
        factory.revokeRole(role, outsider);
        params.salt = keccak256("new creator, again");
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, outsider, role));
        vm.prank(outsider);
        factory.createPortfolio(params);
    }

    function test_createPortfolio_sameParamsTwiceRevertAnotherSaltListsThemAgain() public {
        CreateParams memory params = _defaultParams();
        params.salt = keccak256("listing 1");
        address first = factory.createPortfolio(params);
        vm.expectRevert(abi.encodeWithSelector(Errors.FailedDeployment.selector));
        factory.createPortfolio(params);
        params.salt = keccak256("listing 2");
        address second = factory.createPortfolio(params);
        assertNotEq(first, second);
        assertTrue(factory.isPortfolio(second));
    }

    /// Every parameter and the creator are bound into the address: changing any one (here: the servicer,
    /// a fee, a tranche's name, the salt, the creator) predicts another portfolio, distributor and tokens.
    function test_predictAddresses_bindsEveryParameterAndTheCreator() public view {
        CreateParams memory params = _defaultParams();
        (address base, address baseDistributor, address[] memory baseTranches) =
            factory.predictAddresses(params, address(this));
        CreateParams[4] memory variants;
        for (uint256 i; i < 4; ++i) {
            variants[i] = _defaultParams();
        }
        variants[0].servicer = outsider;
        variants[1].servicerFeeBps = params.servicerFeeBps + 1;
        variants[2].tranches[1].name = "NPL Mezzanine 2";
        variants[3].salt = keccak256("another salt");
        for (uint256 i; i < 4; ++i) {
            (address p, address d, address[] memory t) = factory.predictAddresses(variants[i], address(this));
            assertNotEq(p, base);
            assertNotEq(d, baseDistributor);
            assertNotEq(t[0], baseTranches[0]);
        }
        (address byOther,,) = factory.predictAddresses(params, outsider);
        assertNotEq(byOther, base);
        assertEq(factory.creationSalt(params, address(this)), keccak256(abi.encode(address(this), keccak256(abi.encode(params)))));
    }

    /// Attack (finding 6, reorg): the servicer signs a deposit intent for portfolio A; a reorg drops A's
    /// creation and the creator (or an attacker who got CREATOR_ROLE) creates other terms. With
    /// non-deterministic clones the new portfolio could land at A's address and take the intent; with
    /// the salt binding terms and creator it lands elsewhere and A's address holds no contract.
    function test_createPortfolio_afterAReorgOtherTermsNeverLandAtTheSameAddress() public {
        CreateParams memory params = _defaultParams();
        uint256 beforeCreation = vm.snapshotState();
        address a = factory.createPortfolio(params);
        assertGt(a.code.length, 0);

        vm.revertToState(beforeCreation); // the reorg
        assertEq(a.code.length, 0);
        CreateParams memory other = _defaultParams();
        other.servicerFeeBps = 5_000;
        other.sweepRecipient = outsider;
        address b = factory.createPortfolio(other);
        assertNotEq(b, a);
        assertEq(a.code.length, 0);

        // another creator with the very same terms lands elsewhere too
        bytes32 role = factory.CREATOR_ROLE();
        vm.prank(admin);
        factory.grantRole(role, outsider);
        vm.prank(outsider);
        address c = factory.createPortfolio(params);
        assertNotEq(c, a);
        assertEq(a.code.length, 0);
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
