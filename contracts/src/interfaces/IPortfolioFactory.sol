// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CreateParams} from "../types/PortfolioTypes.sol";

/// @title IPortfolioFactory
/// @notice Deploys a Portfolio, its tranche tokens and its Distributor as deterministic minimal clones of
/// fixed implementations and initializes them, all in one transaction. Only CREATOR_ROLE may create;
/// DEFAULT_ADMIN_ROLE (a TimelockController in production) grants and revokes it.
/// @dev Every clone's CREATE2 salt derives from `creationSalt(params, creator)`, which binds the creator and
/// every parameter (`params.salt` included): an address stands for exactly one creator and one set of terms,
/// so a signature made for one portfolio can never run against another deployed at the same address (e.g.
/// after a reorg replaced the creating transaction), and the addresses are known before the transaction
/// (`predictAddresses`).
interface IPortfolioFactory {
    /// @notice A portfolio was created; `tranches` are its tranche tokens in seniority order.
    event PortfolioCreated(address indexed portfolio, address distributor, address[] tranches, address issuer);

    /// @notice An implementation, the admin or the creator given to the constructor is zero.
    error FactoryZeroAddress();

    /// @notice Deploys and initializes a Portfolio, one TrancheToken per entry of `params.tranches` (with
    /// `name`, `symbol`, tranche id = index) and a Distributor (portfolio, payToken, admin, guardian,
    /// rootProposer, timelockDelay from `params`), at the addresses `predictAddresses(params, msg.sender)`.
    /// CREATOR_ROLE only (else AccessControlUnauthorizedAccount). The same parameters (salt included) by the
    /// same creator a second time revert (the addresses are taken): list the same terms again with another
    /// `params.salt`.
    /// @return portfolio The new Portfolio.
    function createPortfolio(CreateParams calldata params) external returns (address portfolio);

    /// @notice The addresses `createPortfolio(params)` called by `creator` deploys to: the Portfolio, its
    /// Distributor and its tranche tokens in seniority order.
    function predictAddresses(CreateParams calldata params, address creator)
        external
        view
        returns (address portfolio, address distributor, address[] memory tranches);

    /// @notice `keccak256(abi.encode(creator, keccak256(abi.encode(params))))`: the Portfolio's CREATE2 salt;
    /// the Distributor's and each tranche token's derive from it (`keccak256(abi.encode(salt, index))`, index
    /// the tranche id, or `type(uint256).max` for the Distributor).
    function creationSalt(CreateParams calldata params, address creator) external pure returns (bytes32);

    /// @notice Role allowed to call `createPortfolio`.
    function CREATOR_ROLE() external view returns (bytes32);

    /// @notice The Portfolio implementation cloned for every portfolio.
    function portfolioImplementation() external view returns (address);

    /// @notice The TrancheToken implementation cloned for every tranche.
    function trancheTokenImplementation() external view returns (address);

    /// @notice The Distributor implementation cloned for every portfolio.
    function distributorImplementation() external view returns (address);

    /// @notice Whether `portfolio` was created by this factory.
    function isPortfolio(address portfolio) external view returns (bool);
}
