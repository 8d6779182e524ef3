// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IComplianceRegistry
/// @notice Investor allowlist with an expiry per investor and a freeze flag. Tranche transfers, offering
/// purchases and marketplace fills ask `isAllowed` for every party (one storage read per party).
/// @dev Roles: DEFAULT_ADMIN_ROLE manages roles, COMPLIANCE_ROLE allowlists and revokes, GUARDIAN_ROLE
/// freezes and unfreezes.
/// @dev Warning: COMPLIANCE_ROLE and GUARDIAN_ROLE can block any holder's tranche tokens in place (revoke or
/// freeze make every transfer to or from the account revert); they cannot move or burn tokens.
interface IComplianceRegistry {
    /// @notice An account was allowlisted (or its expiry changed) until `expiry` (unix seconds, inclusive).
    event InvestorAllowlisted(address indexed account, uint64 expiry);

    /// @notice An account's allowlisting was removed (its expiry set to 0). A freeze flag is kept.
    event InvestorRevoked(address indexed account);

    /// @notice An account was frozen: it is not allowed regardless of its expiry.
    event InvestorFrozen(address indexed account);

    /// @notice An account's freeze was lifted.
    event InvestorUnfrozen(address indexed account);

    /// @notice The account is the zero address.
    error ComplianceZeroAddress();

    /// @notice The expiry lies in the past (before the current block timestamp).
    error ComplianceExpiryInPast(uint64 expiry);

    /// @notice The account is not allowlisted (revoke of an account that has no expiry).
    error ComplianceNotAllowlisted(address account);

    /// @notice The account is already frozen.
    error ComplianceAlreadyFrozen(address account);

    /// @notice The account is not frozen.
    error ComplianceNotFrozen(address account);

    /// @notice Role allowed to allowlist and revoke investors.
    function COMPLIANCE_ROLE() external view returns (bytes32);

    /// @notice Role allowed to freeze and unfreeze investors.
    function GUARDIAN_ROLE() external view returns (bytes32);

    /// @notice True iff `account` is allowlisted, its expiry is >= block.timestamp and it is not frozen.
    function isAllowed(address account) external view returns (bool);

    /// @notice The stored record of `account`: allowlist expiry (0 = not allowlisted) and freeze flag.
    function investor(address account) external view returns (uint64 expiry, bool frozen);

    /// @notice Allowlists `account` until `expiry` (inclusive); also used to extend or shorten an expiry.
    /// @dev Only COMPLIANCE_ROLE. Does not lift a freeze.
    function allowlist(address account, uint64 expiry) external;

    /// @notice Allowlists every account in `accounts` until `expiry`.
    /// @dev Only COMPLIANCE_ROLE. Reverts as a whole if one account is the zero address.
    function allowlistMany(address[] calldata accounts, uint64 expiry) external;

    /// @notice Removes `account` from the allowlist. Tokens it holds stay where they are but cannot move
    /// until it is allowlisted again.
    /// @dev Only COMPLIANCE_ROLE.
    function revoke(address account) external;

    /// @notice Freezes `account`: it is not allowed until unfrozen, whatever its expiry.
    /// @dev Only GUARDIAN_ROLE. May freeze an account that is not (yet) allowlisted.
    function freeze(address account) external;

    /// @notice Lifts the freeze of `account`.
    /// @dev Only GUARDIAN_ROLE.
    function unfreeze(address account) external;
}
