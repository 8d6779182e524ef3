// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A 6-decimal pay token with a USDC-like blacklist: a transfer to or from a blocked account reverts
/// (`Mode.Revert`) or returns false without moving anything (`Mode.ReturnFalse`, as some older tokens do).
/// Test-only.
contract BlacklistToken is ERC20 {
    enum Mode {
        Revert,
        ReturnFalse
    }

    error Blacklisted(address account);

    Mode public mode;
    mapping(address account => bool) public blocked;

    constructor(Mode mode_) ERC20("Blacklist USD", "bUSD") {
        mode = mode_;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function transfer(address to, uint256 amount) public override returns (bool) {
        if (blocked[to] || blocked[msg.sender]) {
            if (mode == Mode.Revert) revert Blacklisted(blocked[to] ? to : msg.sender);
            return false;
        }
        return super.transfer(to, amount);
    }
}
