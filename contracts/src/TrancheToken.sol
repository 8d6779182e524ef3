// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20PermitUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20PermitUpgradeable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {ITrancheToken} from "./interfaces/ITrancheToken.sol";

/// @title TrancheToken
/// @notice Compliance-gated, pausable ERC-20 with permit for one tranche of a Portfolio.
contract TrancheToken is ITrancheToken, ERC20PermitUpgradeable {
    /// @dev Registry and pause flag share one slot: a transfer reads both with a single SLOAD.
    IComplianceRegistry private _registry;
    bool private _paused;
    /// @dev Portfolio and tranche id share the next slot; only mint and setPaused read it.
    address private _portfolio;
    uint96 private _trancheId;

    constructor() {
        _disableInitializers();
    }

    /// @inheritdoc ITrancheToken
    function initialize(
        string calldata name_,
        string calldata symbol_,
        address portfolio_,
        IComplianceRegistry registry_,
        uint256 trancheId_
    ) external initializer {
        if (portfolio_ == address(0) || address(registry_) == address(0)) revert TrancheTokenZeroAddress();
        __ERC20_init(name_, symbol_);
        __ERC20Permit_init(name_);
        _registry = registry_;
        _portfolio = portfolio_;
        _trancheId = SafeCast.toUint96(trancheId_);
    }

    /// @inheritdoc ITrancheToken
    function mint(address to, uint256 amount) external {
        _checkPortfolio();
        _mint(to, amount);
    }

    /// @inheritdoc ITrancheToken
    function setPaused(bool paused_) external {
        _checkPortfolio();
        _paused = paused_;
        emit TrancheTokenPauseSet(paused_);
    }

    /// @inheritdoc ITrancheToken
    function paused() external view returns (bool) {
        return _paused;
    }

    /// @inheritdoc ITrancheToken
    function portfolio() external view returns (address) {
        return _portfolio;
    }

    /// @inheritdoc ITrancheToken
    function registry() external view returns (IComplianceRegistry) {
        return _registry;
    }

    /// @inheritdoc ITrancheToken
    function trancheId() external view returns (uint256) {
        return _trancheId;
    }

    /// @dev Every mint and transfer: not paused, receiver allowed, and for transfers the sender allowed.
    /// There is no burn, so `to` is never the zero address here (ERC20 rejects it before `_update`).
    function _update(address from, address to, uint256 value) internal override {
        if (_paused) revert TrancheTokenPaused();
        IComplianceRegistry registry_ = _registry;
        if (from != address(0) && !registry_.isAllowed(from)) revert TrancheTokenNotAllowed(from);
        if (!registry_.isAllowed(to)) revert TrancheTokenNotAllowed(to);
        super._update(from, to, value);
    }

    function _checkPortfolio() private view {
        if (msg.sender != _portfolio) revert TrancheTokenOnlyPortfolio(msg.sender);
    }
}
