// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISealedBidAuction} from "../../src/interfaces/ISealedBidAuction.sol";
import {AuctionFixture} from "../utils/AuctionFixture.sol";

/// @dev forge's `lastCallGas` cheatcode (not in our Vm subset; declared here so the shared Vm stays as is).
interface VmGas {
    struct Gas {
        uint64 gasLimit;
        uint64 gasTotalUsed;
        uint64 gasMemoryUsed;
        int64 gasRefunded;
        uint64 gasRemaining;
    }

    function lastCallGas() external view returns (Gas memory gas);
}

/// @notice Gas of the sealed-bid auction, in the gas suite's setting (`FOUNDRY_PROFILE=gas`: every call isolated
/// as its own transaction, so a figure is whole-transaction gas). Deliberately writes no snapshot (the committed
/// snapshots/gas.json is untouched): each figure is logged (`-vv`) and held under a ceiling so a regression
/// fails. Run: `FOUNDRY_PROFILE=gas node scripts/foundry.mjs forge test --match-path
/// contracts/test/gas/SealedBidAuctionGas.t.sol -vv`.
contract SealedBidAuctionGasTest is AuctionFixture {
    event log_named_uint(string key, uint256 val);

    VmGas internal constant vmGas = VmGas(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant BIDS = 100;

    address[] internal bidders;

    function setUp() public {
        _setUpAuctionStack();
        ISealedBidAuction.InitParams memory params = _defaultParams();
        params.reserveCommitment = bytes32(uint256(1));
        _deploy(params);
    }

    function _gas(string memory key, uint256 ceiling) internal returns (uint256 used) {
        used = vmGas.lastCallGas().gasTotalUsed;
        emit log_named_uint(key, used);
        assertLe(used, ceiling, key);
    }

    function _bidders(uint256 count) internal {
        for (uint256 i; i < count; ++i) {
            address bidder = makeAddr(string.concat("gas bidder ", vm.toString(i)));
            _allow(bidder);
            bidders.push(bidder);
        }
    }

    /// @dev The first commitment also writes the counters and the auction's pay-token balance from zero.
    function test_gas_auction_commit() public {
        _commitExact(alice, 10_000 * SCALE, 9_000);
        vm.prank(admin);
        usd.mint(bob, 10_000);
        vm.prank(bob);
        usd.approve(address(auction), 10_000);
        bytes32 commitment = _commitment(bob, 10_000 * SCALE, 9_000);
        vm.prank(bob);
        auction.commit(commitment, 10_000);
        _gas("auction_commit", 120_000);
    }

    function test_gas_auction_commitWithSig_with_permit() public {
        vm.prank(admin);
        usd.mint(alice, 10_000);
        ISealedBidAuction.BidIntent memory intent = ISealedBidAuction.BidIntent({
            bidder: alice,
            commitment: _commitment(alice, 10_000 * SCALE, 9_000),
            deposit: 10_000,
            deadline: block.timestamp + 1 hours
        });
        bytes memory signature = _sign(aliceKey, _digest(intent));
        ISealedBidAuction.PermitData memory permit = _permit(alice, aliceKey, 10_000);
        vm.prank(relayer);
        auction.commitWithSig(intent, signature, permit);
        _gas("auction_commitWithSig_with_permit_first", 200_000);
    }

    function test_gas_auction_reveal() public {
        _commitExact(alice, 10_000 * SCALE, 9_000);
        _commitExact(bob, 10_000 * SCALE, 9_000);
        _toReveal();
        vm.prank(relayer);
        _reveal(alice, 10_000 * SCALE, 9_000);
        _gas("auction_reveal_new_price_level", 120_000);
        vm.prank(relayer);
        _reveal(bob, 10_000 * SCALE, 9_000);
        _gas("auction_reveal_existing_price_level", 100_000);
    }

    /// @dev 100 bids at 100 distinct prices spread over the whole range (many bitmap words), oversubscribed:
    /// settle in one call, then the same in 10-step batches; and the claims of a full winner, a marginal winner
    /// and a loser.
    function test_gas_auction_settle_and_claim_100_bids() public {
        _bidders(BIDS);
        for (uint256 i; i < BIDS; ++i) {
            // 20 000 units each, prices 5 000 + 600 i: the top ~50 cover the 1M supply
            _commitExact(bidders[i], 20_000 * SCALE, 5_000 + 600 * i);
        }
        _toReveal();
        for (uint256 i; i < BIDS; ++i) {
            _reveal(bidders[i], 20_000 * SCALE, 5_000 + 600 * i);
        }
        _toSettle();
        _revealDefaultReserve();
        uint256 snapshot = vm.snapshotState();
        auction.settle(1_000);
        uint256 used = _gas("auction_settle_100_bids_one_call", 1_500_000);
        emit log_named_uint("auction_settle_per_bid_one_call", used / BIDS);
        assertEq(uint256(auction.phase()), uint256(ISealedBidAuction.Phase.Settled));

        vm.revertToState(snapshot);
        uint256 total;
        uint256 calls;
        bool done;
        while (!done) {
            done = auction.settle(10);
            total += vmGas.lastCallGas().gasTotalUsed;
            ++calls;
        }
        emit log_named_uint("auction_settle_100_bids_10_step_batches_calls", calls);
        emit log_named_uint("auction_settle_100_bids_10_step_batches_total", total);

        uint16 clearing = auction.outcome().clearingPriceBps;
        address winner = bidders[BIDS - 1];
        address marginal = bidders[(clearing - 5_000) / 600];
        address loser = bidders[0];
        // the first claim of a winner also writes the token's supply and the sold / proceeds counters from zero
        auction.claim(winner);
        _gas("auction_claim_first_winner", 200_000);
        auction.claim(marginal);
        _gas("auction_claim_marginal_winner", 150_000);
        auction.claim(loser);
        _gas("auction_claim_loser", 80_000);
        auction.withdrawProceeds();
        _gas("auction_withdrawProceeds", 80_000);
    }
}
