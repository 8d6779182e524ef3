// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title BatchTransfer
/// @notice Test utility (never deployed outside tests): moves the sender's tokens to many accounts in
/// one transaction, so a test can seed thousands of holders (test/helpers/holders.ts). The sender
/// approves this contract on `token` first; it only ever pulls from `msg.sender`.
contract BatchTransfer {
    using SafeERC20 for IERC20;

    error BatchTransferLengthMismatch();

    /// @notice `token.transferFrom(msg.sender, to[i], amounts[i])` for every i.
    function send(IERC20 token, address[] calldata to, uint256[] calldata amounts) external {
        uint256 count = to.length;
        if (amounts.length != count) revert BatchTransferLengthMismatch();
        for (uint256 i; i < count; ++i) {
            token.safeTransferFrom(msg.sender, to[i], amounts[i]);
        }
    }
}
