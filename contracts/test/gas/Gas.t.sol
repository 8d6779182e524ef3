// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IPortfolio} from "../../src/interfaces/IPortfolio.sol";
import {BusinessPlanPoint, CreateParams, ReserveTerms, TriggerTerms} from "../../src/types/PortfolioTypes.sol";
import {PortfolioFixture} from "../utils/PortfolioFixture.sol";
import {StandardMerkle} from "../utils/StandardMerkle.sol";

/// @notice The committed gas snapshot (snapshots/gas.json). Runs only under `FOUNDRY_PROFILE=gas`, which
/// isolates every call as its own transaction, so each number is whole-transaction gas (21k intrinsic +
/// calldata + execution), comparable with the anchors `npm run bench:gas` prints beside it. CI runs it with
/// FORGE_SNAPSHOT_CHECK=true: any change in gas fails until the snapshot is regenerated and committed.
contract GasTest is PortfolioFixture {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant DEPTH = 20; // a 1M-holder tree
    uint256 internal constant BATCH = 100;

    address internal carol = makeAddr("carol");
    address internal relayer = makeAddr("relayer");

    function setUp() public {
        _setUpStack();
        _deploy(_defaultParams());
        _allow(carol);
    }

    // ------------------------------------------------------------------ ERC-20 transfers

    /// @dev Baseline measured in the same run: a plain OpenZeppelin ERC-20 (the test stablecoin)
    /// transfer between two accounts that both already hold the token.
    function test_gas_baselineErc20Transfer() public {
        vm.startPrank(admin);
        usd.mint(alice, 10e6);
        usd.mint(bob, 10e6);
        vm.stopPrank();
        vm.prank(alice);
        usd.transfer(bob, 1e6);
        vm.snapshotGasLastCall("gas", "baseline_erc20_transfer");
    }

    function test_gas_trancheTransfer() public {
        _buy(alice, 0, 1000e6);
        _buy(bob, 0, 1000e6);
        vm.prank(alice);
        tokens[0].transfer(bob, 10e18);
        vm.snapshotGasLastCall("gas", "tranche_transfer");
        vm.prank(alice);
        tokens[0].transfer(carol, 10e18);
        vm.snapshotGasLastCall("gas", "tranche_transfer_new_holder");
    }

    // ------------------------------------------------------------------ primary purchase

    function test_gas_buyWithSig() public {
        uint256 amount = 1000e18;
        uint256 cost = portfolio.quote(0, amount);
        vm.prank(admin);
        usd.mint(alice, cost);
        IPortfolio.PurchaseIntent memory intent = IPortfolio.PurchaseIntent({
            buyer: alice,
            trancheId: 0,
            amount: amount,
            maxCost: cost,
            nonce: 1,
            deadline: block.timestamp + 1 hours
        });
        bytes memory signature = _signIntent(intent);
        IPortfolio.PermitData memory permit = _permit(cost);
        vm.prank(relayer);
        portfolio.buyWithSig(intent, signature, permit);
        vm.snapshotGasLastCall("gas", "buyWithSig_with_permit");
    }

    // ------------------------------------------------------------------ recoveries

    function test_gas_depositRecovery3Tranches() public {
        _buy(alice, 0, 600_000e6);
        _buy(alice, 1, 250_000e6);
        _buy(bob, 2, 150_000e6);
        _close();
        vm.warp(block.timestamp + 90 days);
        vm.prank(admin);
        usd.mint(servicer, 100_000e6);
        vm.prank(servicer);
        usd.approve(address(portfolio), 100_000e6);
        vm.prank(servicer);
        portfolio.depositRecovery(100_000e6, keccak256("report"));
        vm.snapshotGasLastCall("gas", "depositRecovery_3_tranches");
    }

    /// @dev Spec v2 beside the v1 figure above: the same 3 tranches and recovery, with a reserve (400 bps of the
    /// senior, funded by the issuer treasury) and a trigger over a 12-point business plan (monthly points),
    /// the recovery after 90 days (its plan scan passes 3 points).
    function test_gas_depositRecovery3Tranches12PointPlan() public {
        CreateParams memory params = _defaultParams();
        params.reserve = ReserveTerms(400);
        BusinessPlanPoint[] memory plan = new BusinessPlanPoint[](12);
        for (uint256 i; i < 12; ++i) {
            plan[i] = BusinessPlanPoint(uint64((i + 1) * 30 days), uint192((i + 1) * 40_000e6));
        }
        params.trigger = TriggerTerms(9_000, plan);
        _deploy(params);
        _buy(alice, 0, 600_000e6);
        _buy(alice, 1, 250_000e6);
        _buy(bob, 2, 150_000e6);
        vm.prank(admin);
        usd.mint(issuerTreasury, 24_000e6);
        vm.startPrank(issuerTreasury);
        usd.approve(address(portfolio), 24_000e6);
        portfolio.fundReserve(24_000e6);
        vm.stopPrank();
        _close();
        vm.warp(block.timestamp + 90 days);
        vm.prank(admin);
        usd.mint(servicer, 100_000e6);
        vm.prank(servicer);
        usd.approve(address(portfolio), 100_000e6);
        vm.prank(servicer);
        portfolio.depositRecovery(100_000e6, keccak256("report"));
        vm.snapshotGasLastCall("gas", "depositRecovery_3_tranches_12_point_plan");
    }

    /// @dev The path the API takes: the platform relayer sends the servicer's signed DepositIntent.
    function test_gas_depositRecoveryWithSig3Tranches() public {
        _buy(alice, 0, 600_000e6);
        _buy(alice, 1, 250_000e6);
        _buy(bob, 2, 150_000e6);
        _close();
        vm.warp(block.timestamp + 90 days);
        vm.prank(admin);
        usd.mint(servicer, 100_000e6);
        vm.prank(servicer);
        usd.approve(address(portfolio), 100_000e6);
        IPortfolio.DepositIntent memory intent = IPortfolio.DepositIntent({
            amount: 100_000e6, reportHash: keccak256("report"), nonce: 1, deadline: block.timestamp + 1 hours
        });
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash = keccak256(
            abi.encode(
                portfolio.DEPOSIT_INTENT_TYPEHASH(), intent.amount, intent.reportHash, intent.nonce, intent.deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(uint256(keccak256("servicer")), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        bytes memory signature = abi.encodePacked(r, s, v);
        vm.prank(relayer);
        portfolio.depositRecoveryWithSig(intent, signature);
        vm.snapshotGasLastCall("gas", "depositRecoveryWithSig_3_tranches");
    }

    // ------------------------------------------------------------------ claims

    function test_gas_claimDepth20() public {
        _fundDistributor();
        (bytes32[] memory proof1, bytes32 root1) = StandardMerkle.randomPath(StandardMerkle.leaf(carol, 1e6), DEPTH, 1);
        _setRoot(root1, 1e6, 1);
        vm.prank(relayer);
        distributor.claim(carol, 1e6, proof1);
        vm.snapshotGasLastCall("gas", "claim_depth20_first");

        (bytes32[] memory proof2, bytes32 root2) = StandardMerkle.randomPath(StandardMerkle.leaf(carol, 3e6), DEPTH, 2);
        _setRoot(root2, 3e6, 2);
        vm.prank(relayer);
        distributor.claim(carol, 3e6, proof2);
        vm.snapshotGasLastCall("gas", "claim_depth20_repeat");
    }

    function test_gas_claimMany100Depth20() public {
        _fundDistributor();
        address[] memory accounts = new address[](BATCH);
        uint256[] memory first = new uint256[](BATCH);
        uint256[] memory second = new uint256[](BATCH);
        for (uint256 i; i < BATCH; ++i) {
            accounts[i] = address(uint160(0xA11CE0000 + i));
            first[i] = 1e6 + i;
            second[i] = 2e6 + i;
        }
        vm.prank(admin);
        registry.allowlistMany(accounts, type(uint64).max); // the Distributor pays allowlisted holders only
        (bytes32 root1, bytes32[][] memory proofs1) = _depth20Batch(accounts, first, 11);
        _setRoot(root1, _sum(first), 1);
        vm.prank(relayer);
        distributor.claimMany(accounts, first, proofs1);
        vm.snapshotValue("gas", "claimMany100_depth20_first_per_holder", vm.snapshotGasLastCall("gas", "claimMany100_depth20_first") / BATCH);

        (bytes32 root2, bytes32[][] memory proofs2) = _depth20Batch(accounts, second, 12);
        _setRoot(root2, _sum(second), 2);
        vm.prank(relayer);
        distributor.claimMany(accounts, second, proofs2);
        vm.snapshotValue("gas", "claimMany100_depth20_repeat_per_holder", vm.snapshotGasLastCall("gas", "claimMany100_depth20_repeat") / BATCH);
        assertEq(usd.balanceOf(accounts[BATCH - 1]), second[BATCH - 1]);
    }

    // ------------------------------------------------------------------ secondary fill

    function test_gas_marketplaceFill() public {
        (address maker, uint256 makerKey) = makeAddrAndKey("maker");
        _allow(maker);
        Marketplace market = new Marketplace(admin, guardian, protocolTreasury, 50);
        _buy(maker, 0, 10_000e6);
        _buy(bob, 0, 1e6); // the taker already holds the tranche (a returning buyer)
        vm.prank(maker);
        tokens[0].approve(address(market), type(uint256).max);
        vm.prank(admin);
        usd.mint(bob, 10_000e6);
        vm.prank(bob);
        usd.approve(address(market), type(uint256).max);
        vm.startPrank(admin);
        usd.mint(maker, 1e6); // the maker already holds pay tokens
        usd.mint(protocolTreasury, 1e6); // and the treasury has collected fees before
        vm.stopPrank();
        IMarketplace.Order memory order = IMarketplace.Order({
            maker: maker,
            taker: address(0),
            tranche: address(tokens[0]),
            payToken: address(usd),
            sellAmount: 1000e18,
            price: 950e6,
            expiry: block.timestamp + 1 days,
            salt: 7,
            counter: 0,
            partialFill: true,
            maxFeeBps: 50, // the fee when it was signed: what the API defaults it to
            startPriceBps: 0,
            endPriceBps: 0,
            decayStart: 0,
            decayEnd: 0 // no decay
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(makerKey, market.hashOrder(order));
        vm.prank(bob);
        market.fill(order, abi.encodePacked(r, s, v), 400e18);
        vm.snapshotGasLastCall("gas", "marketplace_fill");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Buys every tranche whole, closes the offering and deposits a recovery large enough to fund
    /// every claim measured here.
    function _fundDistributor() internal {
        _buy(alice, 0, 600_000e6);
        _buy(alice, 1, 250_000e6);
        _buy(bob, 2, 150_000e6);
        _close();
        _deposit(2_000_000e6);
    }

    function _setRoot(bytes32 root, uint256 total, uint256 distributionId) internal {
        vm.prank(rootProposer);
        distributor.proposeRoot(root, total, keccak256(abi.encode(root)), distributionId);
        vm.warp(block.timestamp + 1 days);
        distributor.acceptRoot();
    }

    function _sum(uint256[] memory values) internal pure returns (uint256 total) {
        for (uint256 i; i < values.length; ++i) {
            total += values[i];
        }
    }

    /// @dev Proofs of depth 20 for a batch of leaves of one tree: each leaf climbs 13 pseudo-random
    /// levels, then the 100 subtree roots (padded to 128 with pseudo-random nodes) form the top 7 levels.
    function _depth20Batch(address[] memory accounts, uint256[] memory amounts, uint256 seed)
        internal
        pure
        returns (bytes32 root, bytes32[][] memory proofs)
    {
        uint256 width = 128;
        bytes32[] memory level = new bytes32[](width);
        bytes32[][] memory lower = new bytes32[][](accounts.length);
        for (uint256 i; i < width; ++i) {
            if (i < accounts.length) {
                (lower[i], level[i]) =
                    StandardMerkle.randomPath(StandardMerkle.leaf(accounts[i], amounts[i]), DEPTH - 7, seed * 1000 + i);
            } else {
                level[i] = keccak256(abi.encode("pad", seed, i));
            }
        }
        proofs = new bytes32[][](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            proofs[i] = new bytes32[](DEPTH);
            for (uint256 j; j < DEPTH - 7; ++j) {
                proofs[i][j] = lower[i][j];
            }
        }
        for (uint256 depth; depth < 7; ++depth) {
            for (uint256 i; i < accounts.length; ++i) {
                uint256 position = i >> depth;
                proofs[i][DEPTH - 7 + depth] = level[position ^ 1];
            }
            bytes32[] memory next = new bytes32[](level.length / 2);
            for (uint256 k; k < next.length; ++k) {
                next[k] = Hashes.commutativeKeccak256(level[2 * k], level[2 * k + 1]);
            }
            level = next;
        }
        root = level[0];
    }

    function _signIntent(IPortfolio.PurchaseIntent memory intent) internal view returns (bytes memory) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("NPL Portfolio"), keccak256("1"), block.chainid, address(portfolio))
        );
        bytes32 structHash = keccak256(
            abi.encode(
                portfolio.PURCHASE_INTENT_TYPEHASH(),
                intent.buyer,
                intent.trancheId,
                intent.amount,
                intent.maxCost,
                intent.nonce,
                intent.deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(aliceKey, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    function _permit(uint256 value) internal view returns (IPortfolio.PermitData memory p) {
        p.value = value;
        p.deadline = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, alice, address(portfolio), value, usd.nonces(alice), p.deadline));
        (p.v, p.r, p.s) = vm.sign(aliceKey, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
    }
}
