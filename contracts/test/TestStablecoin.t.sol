// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TestStablecoin} from "../src/test/TestStablecoin.sol";
import {Test} from "./utils/Test.sol";

contract TestStablecoinTest is Test {
    TestStablecoin internal usd;
    address internal admin = makeAddr("admin");
    address internal alice = makeAddr("alice");

    function setUp() public {
        usd = new TestStablecoin(admin);
    }

    function test_metadata_isTestUsdWithSixDecimals() public view {
        assertEq(usd.name(), "Test USD");
        assertEq(usd.symbol(), "tUSD");
        assertEq(uint256(usd.decimals()), 6);
        assertTrue(usd.hasRole(usd.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(usd.hasRole(usd.MINTER_ROLE(), admin));
    }

    function test_mint_creditsReceiver() public {
        vm.prank(admin);
        usd.mint(alice, 123e6);
        assertEq(usd.balanceOf(alice), 123e6);
        assertEq(usd.totalSupply(), 123e6);
    }

    function test_mint_revertsIfCallerLacksMinterRole() public {
        bytes32 role = usd.MINTER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        vm.prank(alice);
        usd.mint(alice, 1);
    }

    function test_permit_setsAllowanceFromSignature() public {
        (address owner, uint256 key) = makeAddrAndKey("owner");
        uint256 deadline = block.timestamp + 1;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                alice,
                5e6,
                usd.nonces(owner),
                deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        usd.permit(owner, alice, 5e6, deadline, v, r, s);
        assertEq(usd.allowance(owner, alice), 5e6);
    }
}
