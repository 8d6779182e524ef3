// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IDistributor} from "./interfaces/IDistributor.sol";
import {IPortfolio} from "./interfaces/IPortfolio.sol";
import {IPortfolioFactory} from "./interfaces/IPortfolioFactory.sol";
import {ITrancheToken} from "./interfaces/ITrancheToken.sol";
import {CreateParams} from "./types/PortfolioTypes.sol";

/// @title PortfolioFactory
/// @notice Deploys and initializes a Portfolio with its tranche tokens and Distributor as deterministic
/// minimal clones; only CREATOR_ROLE may create.
contract PortfolioFactory is IPortfolioFactory, AccessControl {
    /// @inheritdoc IPortfolioFactory
    bytes32 public constant CREATOR_ROLE = keccak256("CREATOR_ROLE");

    /// @dev Child index of the Distributor in `_childSalt` (tranche tokens use their tranche id).
    uint256 private constant DISTRIBUTOR_CHILD = type(uint256).max;

    /// @inheritdoc IPortfolioFactory
    address public immutable portfolioImplementation;
    /// @inheritdoc IPortfolioFactory
    address public immutable trancheTokenImplementation;
    /// @inheritdoc IPortfolioFactory
    address public immutable distributorImplementation;

    /// @inheritdoc IPortfolioFactory
    mapping(address portfolio => bool) public isPortfolio;

    constructor(
        address portfolioImplementation_,
        address trancheTokenImplementation_,
        address distributorImplementation_,
        address admin,
        address creator
    ) {
        if (
            portfolioImplementation_ == address(0) || trancheTokenImplementation_ == address(0)
                || distributorImplementation_ == address(0) || admin == address(0) || creator == address(0)
        ) revert FactoryZeroAddress();
        portfolioImplementation = portfolioImplementation_;
        trancheTokenImplementation = trancheTokenImplementation_;
        distributorImplementation = distributorImplementation_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(CREATOR_ROLE, creator);
    }

    /// @inheritdoc IPortfolioFactory
    function createPortfolio(CreateParams calldata params)
        external
        onlyRole(CREATOR_ROLE)
        returns (address portfolio)
    {
        bytes32 salt = creationSalt(params, msg.sender);
        portfolio = Clones.cloneDeterministic(portfolioImplementation, salt);
        address distributor = Clones.cloneDeterministic(distributorImplementation, _childSalt(salt, DISTRIBUTOR_CHILD));

        uint256 count = params.tranches.length;
        ITrancheToken[] memory tokens = new ITrancheToken[](count);
        address[] memory tranches = new address[](count);
        for (uint256 i; i < count; ++i) {
            tokens[i] = ITrancheToken(Clones.cloneDeterministic(trancheTokenImplementation, _childSalt(salt, i)));
            tokens[i].initialize(
                params.tranches[i].name,
                params.tranches[i].symbol,
                portfolio,
                IComplianceRegistry(params.registry),
                i
            );
            tranches[i] = address(tokens[i]);
        }
        IDistributor(distributor).initialize(
            portfolio,
            params.payToken,
            params.registry,
            params.admin,
            params.guardian,
            params.rootProposer,
            params.timelockDelay
        );
        IPortfolio(portfolio).initialize(params, tokens, IDistributor(distributor));

        isPortfolio[portfolio] = true;
        emit PortfolioCreated(portfolio, distributor, tranches, params.issuer);
    }

    /// @inheritdoc IPortfolioFactory
    function predictAddresses(CreateParams calldata params, address creator)
        external
        view
        returns (address portfolio, address distributor, address[] memory tranches)
    {
        bytes32 salt = creationSalt(params, creator);
        portfolio = Clones.predictDeterministicAddress(portfolioImplementation, salt);
        distributor = Clones.predictDeterministicAddress(distributorImplementation, _childSalt(salt, DISTRIBUTOR_CHILD));
        uint256 count = params.tranches.length;
        tranches = new address[](count);
        for (uint256 i; i < count; ++i) {
            tranches[i] = Clones.predictDeterministicAddress(trancheTokenImplementation, _childSalt(salt, i));
        }
    }

    /// @inheritdoc IPortfolioFactory
    function creationSalt(CreateParams calldata params, address creator) public pure returns (bytes32) {
        return keccak256(abi.encode(creator, keccak256(abi.encode(params))));
    }

    /// @dev The CREATE2 salt of child `index` (a tranche id, or DISTRIBUTOR_CHILD) of the portfolio of `salt`.
    function _childSalt(bytes32 salt, uint256 index) private pure returns (bytes32) {
        return keccak256(abi.encode(salt, index));
    }
}
