// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ComplianceRegistry} from "../src/ComplianceRegistry.sol";
import {IComplianceRegistry} from "../src/interfaces/IComplianceRegistry.sol";
import {ITrancheToken} from "../src/interfaces/ITrancheToken.sol";
import {TrancheToken} from "../src/TrancheToken.sol";
import {Test} from "./utils/Test.sol";

contract TrancheTokenTest is Test {
    ComplianceRegistry internal registry;
    TrancheToken internal implementation;
    TrancheToken internal token;
    address internal admin = makeAddr("admin");
    address internal portfolio = makeAddr("portfolio");
    address internal alice;
    uint256 internal aliceKey;
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");

    function setUp() public {
        vm.warp(1_700_000_000);
        (alice, aliceKey) = makeAddrAndKey("alice");
        registry = new ComplianceRegistry(admin);
        implementation = new TrancheToken();
        token = TrancheToken(Clones.clone(address(implementation)));
        token.initialize("Senior A", "NPL-A", portfolio, registry, 2);
        vm.startPrank(admin);
        registry.allowlist(alice, uint64(block.timestamp + 365 days));
        registry.allowlist(bob, uint64(block.timestamp + 365 days));
        vm.stopPrank();
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(portfolio);
        token.mint(to, amount);
    }

    function test_initialize_setsMetadataAndLinks() public view {
        assertEq(token.name(), "Senior A");
        assertEq(token.symbol(), "NPL-A");
        assertEq(uint256(token.decimals()), 18);
        assertEq(token.portfolio(), portfolio);
        assertEq(address(token.registry()), address(registry));
        assertEq(token.trancheId(), 2);
        assertFalse(token.paused());
    }

    function test_initialize_revertsOnSecondCall() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        token.initialize("X", "X", portfolio, registry, 0);
    }

    function test_initialize_revertsOnImplementation() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        implementation.initialize("X", "X", portfolio, registry, 0);
    }

    function test_initialize_revertsOnZeroAddress() public {
        TrancheToken fresh = TrancheToken(Clones.clone(address(implementation)));
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenZeroAddress.selector));
        fresh.initialize("X", "X", address(0), registry, 0);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenZeroAddress.selector));
        fresh.initialize("X", "X", portfolio, IComplianceRegistry(address(0)), 0);
    }

    function test_mint_creditsAllowedReceiver() public {
        _mint(alice, 5e18);
        assertEq(token.balanceOf(alice), 5e18);
        assertEq(token.totalSupply(), 5e18);
    }

    function test_mint_revertsIfCallerIsNotPortfolio() public {
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenOnlyPortfolio.selector, alice));
        vm.prank(alice);
        token.mint(alice, 1);
    }

    function test_mint_revertsIfReceiverNotAllowed() public {
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, carol));
        vm.prank(portfolio);
        token.mint(carol, 1);
    }

    function test_mint_revertsIfPaused() public {
        vm.prank(portfolio);
        token.setPaused(true);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenPaused.selector));
        vm.prank(portfolio);
        token.mint(alice, 1);
    }

    function test_transfer_movesBetweenAllowedHolders() public {
        _mint(alice, 5e18);
        vm.prank(alice);
        assertTrue(token.transfer(bob, 2e18));
        assertEq(token.balanceOf(alice), 3e18);
        assertEq(token.balanceOf(bob), 2e18);
    }

    function test_transfer_revertsIfReceiverNotAllowed() public {
        _mint(alice, 5e18);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, carol));
        vm.prank(alice);
        token.transfer(carol, 1);
    }

    function test_transfer_revertsIfSenderFrozen() public {
        _mint(alice, 5e18);
        vm.prank(admin);
        registry.freeze(alice);
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, alice));
        vm.prank(alice);
        token.transfer(bob, 1);
    }

    function test_transfer_revertsIfSenderAllowlistingExpired() public {
        _mint(alice, 5e18);
        vm.warp(block.timestamp + 366 days);
        vm.prank(admin);
        registry.allowlist(bob, uint64(block.timestamp + 1));
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, alice));
        vm.prank(alice);
        token.transfer(bob, 1);
    }

    function test_transfer_revertsIfPaused() public {
        _mint(alice, 5e18);
        vm.expectEmit(address(token));
        emit ITrancheToken.TrancheTokenPauseSet(true);
        vm.prank(portfolio);
        token.setPaused(true);
        assertTrue(token.paused());
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenPaused.selector));
        vm.prank(alice);
        token.transfer(bob, 1);

        vm.prank(portfolio);
        token.setPaused(false);
        vm.prank(alice);
        token.transfer(bob, 1);
        assertEq(token.balanceOf(bob), 1);
    }

    function test_setPaused_revertsIfCallerIsNotPortfolio() public {
        vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenOnlyPortfolio.selector, admin));
        vm.prank(admin);
        token.setPaused(true);
    }

    function test_transferFrom_checksBothPartiesNotTheSpender() public {
        _mint(alice, 5e18);
        vm.prank(alice);
        token.approve(carol, 2e18);
        vm.prank(carol); // carol is not allowlisted: only sender and receiver are checked
        token.transferFrom(alice, bob, 2e18);
        assertEq(token.balanceOf(bob), 2e18);
        assertEq(token.allowance(alice, carol), 0);
    }

    function test_transferFrom_revertsWithoutAllowance() public {
        _mint(alice, 5e18);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, carol, 0, uint256(1))
        );
        vm.prank(carol);
        token.transferFrom(alice, bob, 1);
    }

    function test_permit_setsAllowanceUnderTheTokenName() public {
        uint256 deadline = block.timestamp + 1;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                alice,
                bob,
                7,
                token.nonces(alice),
                deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(aliceKey, digest);
        token.permit(alice, bob, 7, deadline, v, r, s);
        assertEq(token.allowance(alice, bob), 7);
        (, string memory name, string memory version,,,,) = token.eip712Domain();
        assertEq(name, "Senior A");
        assertEq(version, "1");
    }

    function testFuzz_transfer_succeedsIffBothPartiesAllowed(bool fromAllowed, bool toAllowed, uint256 amount)
        public
    {
        amount = bound(amount, 1, 5e18);
        _mint(alice, 5e18);
        if (!fromAllowed) {
            vm.prank(admin);
            registry.revoke(alice);
        }
        if (!toAllowed) {
            vm.prank(admin);
            registry.freeze(bob);
        }
        if (!fromAllowed) {
            vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, alice));
        } else if (!toAllowed) {
            vm.expectRevert(abi.encodeWithSelector(ITrancheToken.TrancheTokenNotAllowed.selector, bob));
        }
        vm.prank(alice);
        token.transfer(bob, amount);
        assertEq(token.balanceOf(bob), fromAllowed && toAllowed ? amount : 0);
    }
}
