// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IComplianceRegistry} from "./IComplianceRegistry.sol";

/// @title ITrancheToken
/// @notice ERC-20 (18 decimals) + ERC-2612 permit for one tranche of one portfolio. One whole token is one
/// unit of face value in the portfolio's pay token. Minted only by its Portfolio on purchase; every mint and
/// transfer requires the receiver (and, for transfers, the sender) to be allowed by the compliance registry,
/// and nothing moves while the token is paused.
/// @dev Deployed as a minimal clone by the PortfolioFactory and initialized once.
/// @dev Warning: the compliance registry's roles can block a holder's tokens in place (revoke or freeze); the
/// Portfolio's guardian can pause every transfer.
interface ITrancheToken is IERC20 {
    /// @notice The token was paused or unpaused by its Portfolio.
    event TrancheTokenPauseSet(bool paused);

    /// @notice `account` (receiver, or sender of a transfer) is not allowed by the compliance registry.
    error TrancheTokenNotAllowed(address account);

    /// @notice Transfers and mints are paused.
    error TrancheTokenPaused();

    /// @notice Only the token's Portfolio may call this function.
    error TrancheTokenOnlyPortfolio(address caller);

    /// @notice A zero address was given to `initialize`.
    error TrancheTokenZeroAddress();

    /// @notice Initializes a clone once.
    /// @param name_ ERC-20 name (also the ERC-2612 domain name, version "1").
    /// @param symbol_ ERC-20 symbol.
    /// @param portfolio_ The Portfolio that mints and pauses this token.
    /// @param registry_ The compliance registry checked on every mint and transfer.
    /// @param trancheId_ Index of the tranche in its Portfolio (0 = most senior).
    function initialize(
        string calldata name_,
        string calldata symbol_,
        address portfolio_,
        IComplianceRegistry registry_,
        uint256 trancheId_
    ) external;

    /// @notice Mints `amount` base units to `to`. Only the Portfolio; `to` must be allowed.
    function mint(address to, uint256 amount) external;

    /// @notice Pauses or unpauses every mint and transfer. Only the Portfolio.
    function setPaused(bool paused_) external;

    /// @notice Whether mints and transfers are paused.
    function paused() external view returns (bool);

    /// @notice The Portfolio that owns this token.
    function portfolio() external view returns (address);

    /// @notice The compliance registry checked on every mint and transfer.
    function registry() external view returns (IComplianceRegistry);

    /// @notice Index of this tranche in its Portfolio (0 = most senior).
    function trancheId() external view returns (uint256);
}
