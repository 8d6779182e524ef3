// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CreateParams} from "../types/PortfolioTypes.sol";

/// @title IPortfolioFactory
/// @notice Deploys a Portfolio, its tranche tokens and its Distributor as minimal clones of fixed
/// implementations and initializes them, all in one transaction.
/// @dev Warning: creation is permissionless. A portfolio created here is only as trustworthy as its
/// parameters (admin, servicer, registry, pay token): indexers and the API must only list portfolios whose
/// creation they initiated or whose parameters they checked.
interface IPortfolioFactory {
    /// @notice A portfolio was created; `tranches` are its tranche tokens in seniority order.
    event PortfolioCreated(address indexed portfolio, address distributor, address[] tranches, address issuer);

    /// @notice An implementation address given to the constructor is zero.
    error FactoryZeroAddress();

    /// @notice Deploys and initializes a Portfolio, one TrancheToken per entry of `params.tranches` (with
    /// `name`, `symbol`, tranche id = index) and a Distributor (portfolio, payToken, admin, guardian,
    /// rootProposer, timelockDelay from `params`).
    /// @return portfolio The new Portfolio.
    function createPortfolio(CreateParams calldata params) external returns (address portfolio);

    /// @notice The Portfolio implementation cloned for every portfolio.
    function portfolioImplementation() external view returns (address);

    /// @notice The TrancheToken implementation cloned for every tranche.
    function trancheTokenImplementation() external view returns (address);

    /// @notice The Distributor implementation cloned for every portfolio.
    function distributorImplementation() external view returns (address);

    /// @notice Whether `portfolio` was created by this factory.
    function isPortfolio(address portfolio) external view returns (bool);
}
