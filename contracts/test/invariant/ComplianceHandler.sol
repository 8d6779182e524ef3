// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ComplianceRegistry} from "../../src/ComplianceRegistry.sol";
import {Portfolio} from "../../src/Portfolio.sol";
import {TrancheToken} from "../../src/TrancheToken.sol";
import {TestStablecoin} from "../../src/test/TestStablecoin.sol";
import {Test} from "../utils/Test.sol";

/// @notice Buys, transfers, allowlists, revokes, freezes, unfreezes and lets time pass (so allowlistings
/// expire) over a fixed set of actors. Purchases and transfers are attempted whatever the parties' status, so
/// the compliance checks themselves are exercised; every success is recorded with the parties' status read
/// just before it, and every rejected transfer between two allowed parties is counted.
contract ComplianceHandler is Test {
    struct Move {
        bool isMint;
        bool fromAllowed;
        bool toAllowed;
    }

    Portfolio internal immutable _portfolio;
    ComplianceRegistry internal immutable _registry;
    TestStablecoin internal immutable _usd;
    address internal immutable _admin;
    TrancheToken[] internal _tokens;
    address[] internal _actors;

    Move[] internal _moves;
    uint256 public ghostAllowedTransfersRejected;
    uint256 public ghostRejectedMoves;
    /// @dev Whether the actor was disallowed at the last sync, and its balances at the moment it became so.
    mapping(address actor => bool) public ghostDisallowed;
    mapping(address actor => mapping(uint256 trancheId => uint256)) public ghostFrozenBalance;

    constructor(
        Portfolio portfolio,
        ComplianceRegistry registry,
        TestStablecoin usd,
        address admin,
        address[] memory actorSet
    ) {
        _portfolio = portfolio;
        _registry = registry;
        _usd = usd;
        _admin = admin;
        _actors = actorSet;
        for (uint256 i; i < portfolio.trancheCount(); ++i) {
            _tokens.push(TrancheToken(portfolio.trancheToken(i)));
        }
        _sync();
    }

    // ------------------------------------------------------------------ actions

    function buy(uint256 actorSeed, uint256 trancheSeed, uint256 units) external {
        address buyer = _actor(actorSeed);
        uint256 trancheId = bound(trancheSeed, 0, _tokens.length - 1);
        (,, uint256 sold,) = _portfolio.trancheState(trancheId);
        uint256 remaining = _portfolio.trancheTerms(trancheId).face - sold;
        if (remaining == 0) return;
        units = bound(units, 1, remaining < 50_000e6 ? remaining : 50_000e6);
        uint256 amount = units * _portfolio.terms().scale;
        uint256 cost = _portfolio.quote(trancheId, amount);

        vm.prank(_admin);
        _usd.mint(buyer, cost);
        vm.prank(buyer);
        _usd.approve(address(_portfolio), cost);
        bool toAllowed = _registry.isAllowed(buyer);
        vm.prank(buyer);
        try _portfolio.buy(trancheId, amount, cost) {
            _moves.push(Move({isMint: true, fromAllowed: true, toAllowed: toAllowed}));
        } catch {
            ++ghostRejectedMoves;
        }
        _sync();
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 trancheSeed, uint256 amount) external {
        address from = _actor(fromSeed);
        address to = _actor(toSeed);
        TrancheToken token = _tokens[bound(trancheSeed, 0, _tokens.length - 1)];
        uint256 balance = token.balanceOf(from);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        bool fromAllowed = _registry.isAllowed(from);
        bool toAllowed = _registry.isAllowed(to);
        vm.prank(from);
        try token.transfer(to, amount) {
            _moves.push(Move({isMint: false, fromAllowed: fromAllowed, toAllowed: toAllowed}));
        } catch {
            ++ghostRejectedMoves;
            if (fromAllowed && toAllowed) ++ghostAllowedTransfersRejected;
        }
        _sync();
    }

    function allowlist(uint256 actorSeed, uint256 validFor) external {
        address account = _actor(actorSeed);
        uint64 expiry = uint64(block.timestamp + bound(validFor, 0, 120 days));
        vm.prank(_admin);
        _registry.allowlist(account, expiry);
        _sync();
    }

    function revoke(uint256 actorSeed) external {
        address account = _actor(actorSeed);
        (uint64 expiry,) = _registry.investor(account);
        if (expiry == 0) return;
        vm.prank(_admin);
        _registry.revoke(account);
        _sync();
    }

    function freeze(uint256 actorSeed) external {
        address account = _actor(actorSeed);
        (, bool frozen) = _registry.investor(account);
        if (frozen) return;
        vm.prank(_admin);
        _registry.freeze(account);
        _sync();
    }

    function unfreeze(uint256 actorSeed) external {
        address account = _actor(actorSeed);
        (, bool frozen) = _registry.investor(account);
        if (!frozen) return;
        vm.prank(_admin);
        _registry.unfreeze(account);
        _sync();
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 30 days));
        _sync();
    }

    // ------------------------------------------------------------------ views for the invariants

    function moveCount() external view returns (uint256) {
        return _moves.length;
    }

    function moveAt(uint256 i) external view returns (Move memory) {
        return _moves[i];
    }

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function tokens() external view returns (TrancheToken[] memory) {
        return _tokens;
    }

    // ------------------------------------------------------------------ internal

    function _actor(uint256 seed) internal view returns (address) {
        return _actors[bound(seed, 0, _actors.length - 1)];
    }

    /// @dev Records the balances of every actor at the moment it becomes disallowed (revoked, frozen or
    /// expired). Runs after every action, so an expiry caused by `warp` is caught before the next move.
    function _sync() internal {
        for (uint256 a; a < _actors.length; ++a) {
            address actor = _actors[a];
            bool allowed = _registry.isAllowed(actor);
            if (!allowed && !ghostDisallowed[actor]) {
                ghostDisallowed[actor] = true;
                for (uint256 t; t < _tokens.length; ++t) {
                    ghostFrozenBalance[actor][t] = _tokens[t].balanceOf(actor);
                }
            } else if (allowed) {
                ghostDisallowed[actor] = false;
            }
        }
    }
}
