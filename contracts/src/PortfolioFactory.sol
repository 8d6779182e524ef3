// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IDistributor} from "./interfaces/IDistributor.sol";
import {IPortfolio} from "./interfaces/IPortfolio.sol";
import {IPortfolioFactory} from "./interfaces/IPortfolioFactory.sol";
import {ITrancheToken} from "./interfaces/ITrancheToken.sol";
import {CreateParams} from "./types/PortfolioTypes.sol";

/// @title PortfolioFactory
/// @notice Deploys and initializes a Portfolio with its tranche tokens and Distributor as minimal clones.
contract PortfolioFactory is IPortfolioFactory {
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
        address distributorImplementation_
    ) {
        if (
            portfolioImplementation_ == address(0) || trancheTokenImplementation_ == address(0)
                || distributorImplementation_ == address(0)
        ) revert FactoryZeroAddress();
        portfolioImplementation = portfolioImplementation_;
        trancheTokenImplementation = trancheTokenImplementation_;
        distributorImplementation = distributorImplementation_;
    }

    /// @inheritdoc IPortfolioFactory
    function createPortfolio(CreateParams calldata params) external returns (address portfolio) {
        portfolio = Clones.clone(portfolioImplementation);
        address distributor = Clones.clone(distributorImplementation);

        uint256 count = params.tranches.length;
        ITrancheToken[] memory tokens = new ITrancheToken[](count);
        address[] memory tranches = new address[](count);
        for (uint256 i; i < count; ++i) {
            tokens[i] = ITrancheToken(Clones.clone(trancheTokenImplementation));
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
}
