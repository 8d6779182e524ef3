// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";

/// @title ComplianceRegistry
/// @notice Investor allowlist with expiry and freeze, one packed storage slot per investor.
contract ComplianceRegistry is IComplianceRegistry, AccessControl {
    /// @dev One slot per investor so `isAllowed` is a single SLOAD.
    struct Investor {
        uint64 expiry;
        bool frozen;
    }

    /// @inheritdoc IComplianceRegistry
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @inheritdoc IComplianceRegistry
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    mapping(address account => Investor) private _investors;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, COMPLIANCE_ROLE and GUARDIAN_ROLE; it may grant them to
    /// other keys and renounce its own.
    constructor(address admin) {
        if (admin == address(0)) revert ComplianceZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COMPLIANCE_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, admin);
    }

    /// @inheritdoc IComplianceRegistry
    function isAllowed(address account) external view returns (bool) {
        Investor memory record = _investors[account];
        return record.expiry >= block.timestamp && !record.frozen;
    }

    /// @inheritdoc IComplianceRegistry
    function investor(address account) external view returns (uint64 expiry, bool frozen) {
        Investor memory record = _investors[account];
        return (record.expiry, record.frozen);
    }

    /// @inheritdoc IComplianceRegistry
    function allowlist(address account, uint64 expiry) external onlyRole(COMPLIANCE_ROLE) {
        _checkExpiry(expiry);
        _allowlist(account, expiry);
    }

    /// @inheritdoc IComplianceRegistry
    function allowlistMany(address[] calldata accounts, uint64 expiry) external onlyRole(COMPLIANCE_ROLE) {
        _checkExpiry(expiry);
        for (uint256 i; i < accounts.length; ++i) {
            _allowlist(accounts[i], expiry);
        }
    }

    /// @inheritdoc IComplianceRegistry
    function revoke(address account) external onlyRole(COMPLIANCE_ROLE) {
        Investor storage record = _investors[account];
        if (record.expiry == 0) revert ComplianceNotAllowlisted(account);
        record.expiry = 0;
        emit InvestorRevoked(account);
    }

    /// @inheritdoc IComplianceRegistry
    function freeze(address account) external onlyRole(GUARDIAN_ROLE) {
        if (account == address(0)) revert ComplianceZeroAddress();
        Investor storage record = _investors[account];
        if (record.frozen) revert ComplianceAlreadyFrozen(account);
        record.frozen = true;
        emit InvestorFrozen(account);
    }

    /// @inheritdoc IComplianceRegistry
    function unfreeze(address account) external onlyRole(GUARDIAN_ROLE) {
        Investor storage record = _investors[account];
        if (!record.frozen) revert ComplianceNotFrozen(account);
        record.frozen = false;
        emit InvestorUnfrozen(account);
    }

    function _checkExpiry(uint64 expiry) private view {
        if (expiry < block.timestamp) revert ComplianceExpiryInPast(expiry);
    }

    function _allowlist(address account, uint64 expiry) private {
        if (account == address(0)) revert ComplianceZeroAddress();
        _investors[account].expiry = expiry;
        emit InvestorAllowlisted(account, expiry);
    }
}
