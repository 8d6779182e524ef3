// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title PlatformTimelock
/// @notice The platform's admin: an OpenZeppelin TimelockController that holds DEFAULT_ADMIN_ROLE of the
/// ComplianceRegistry, the Marketplace, the PortfolioFactory and every Portfolio and Distributor. Every
/// admin action is scheduled in public (`CallScheduled`) and runs no earlier than `getMinDelay()` later,
/// so a holder who disagrees has that long to leave.
/// @dev Differences from the plain TimelockController: it administers itself only (no admin key: roles
/// and the delay change only through its own scheduled operations); one `admin` key (a multisig in
/// production) proposes and executes; extra cancellers (the guardian) may cancel a scheduled operation
/// but never propose or execute one; the delay can never be set below `MIN_DELAY_FLOOR`, the delay
/// it was deployed with, and a change of the delay is itself an operation that waits out the current delay.
contract PlatformTimelock is TimelockController {
    /// @notice The smallest delay this timelock accepts, fixed at deployment (its initial `getMinDelay()`).
    uint256 public immutable MIN_DELAY_FLOOR;

    /// @notice A constructor argument was the zero address, or the floor delay was zero.
    error TimelockInvalidSetup();

    /// @notice `updateDelay` asked for a delay below `MIN_DELAY_FLOOR`.
    /// @param newDelay The delay asked for.
    /// @param floor The floor fixed at deployment.
    error TimelockDelayBelowFloor(uint256 newDelay, uint256 floor);

    /// @param minDelay Initial minimum delay (seconds), also the floor `updateDelay` can never go below; > 0.
    /// @param admin The only proposer and executor (and a canceller).
    /// @param cancellers Additional CANCELLER_ROLE holders (the guardian): they can cancel, not schedule or execute.
    constructor(uint256 minDelay, address admin, address[] memory cancellers)
        TimelockController(minDelay, _single(admin), _single(admin), address(0))
    {
        if (minDelay == 0 || admin == address(0)) revert TimelockInvalidSetup();
        for (uint256 i; i < cancellers.length; ++i) {
            if (cancellers[i] == address(0)) revert TimelockInvalidSetup();
            _grantRole(CANCELLER_ROLE, cancellers[i]);
        }
        MIN_DELAY_FLOOR = minDelay;
    }

    /// @notice Changes the minimum delay; callable only by the timelock itself (a scheduled operation that
    /// waited out the current delay), and never below `MIN_DELAY_FLOOR`.
    /// @param newDelay The new minimum delay in seconds.
    function updateDelay(uint256 newDelay) public override {
        if (newDelay < MIN_DELAY_FLOOR) revert TimelockDelayBelowFloor(newDelay, MIN_DELAY_FLOOR);
        super.updateDelay(newDelay);
    }

    function _single(address account) private pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = account;
    }
}
