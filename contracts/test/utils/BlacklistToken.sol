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

/// @notice A hostile pay token for the rollback's re-entrancy test: armed for `victim`, its next transfer to
/// the victim first makes the calls it was armed with (e.g. `acceptRoot` and a `claim` under the newer root,
/// whose own transfer goes through normally), then returns false without moving anything. Test-only.
contract ReenteringFalseToken is ERC20 {
    address public victim;
    address public target;
    bytes[] internal _calls;

    constructor() ERC20("Reentering USD", "rUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address victim_, address target_, bytes[] calldata calls) external {
        victim = victim_;
        target = target_;
        delete _calls;
        for (uint256 i; i < calls.length; ++i) {
            _calls.push(calls[i]);
        }
    }

    function transfer(address to, uint256 amount) public override returns (bool) {
        if (to == victim && victim != address(0)) {
            victim = address(0);
            for (uint256 i; i < _calls.length; ++i) {
                (bool ok, bytes memory data) = target.call(_calls[i]);
                if (!ok) {
                    assembly ("memory-safe") {
                        revert(add(data, 0x20), mload(data))
                    }
                }
            }
            return false;
        }
        return super.transfer(to, amount);
    }
}
