// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @notice In-test Merkle trees with the exact layout of OpenZeppelin's StandardMerkleTree
/// (npm package openzeppelin merkle-tree): leaves = keccak256(bytes.concat(keccak256(abi.encode(account, amount)))),
/// sorted ascending, stored at the end of a 2n-1 array in reverse order; node i = commutative hash of
/// nodes 2i+1 and 2i+2; root = node 0. Proofs list siblings from the leaf up.
library StandardMerkle {
    function leaf(address account, uint256 amount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
    }

    /// @notice Builds the tree of (accounts[i], amounts[i]); returns the node array (root at index 0).
    function build(address[] memory accounts, uint256[] memory amounts) internal pure returns (bytes32[] memory tree) {
        uint256 n = accounts.length;
        require(n > 0 && amounts.length == n, "StandardMerkle: bad input");
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            leaves[i] = leaf(accounts[i], amounts[i]);
        }
        _sort(leaves);
        tree = new bytes32[](2 * n - 1);
        for (uint256 i; i < n; ++i) {
            tree[tree.length - 1 - i] = leaves[i];
        }
        for (uint256 i = tree.length - n; i > 0; --i) {
            tree[i - 1] = Hashes.commutativeKeccak256(tree[2 * i - 1], tree[2 * i]);
        }
    }

    /// @notice The proof of the leaf `leafHash` (which must be in `tree`).
    function proof(bytes32[] memory tree, bytes32 leafHash) internal pure returns (bytes32[] memory path) {
        uint256 index = type(uint256).max;
        for (uint256 i = tree.length; i > 0; --i) {
            if (tree[i - 1] == leafHash) {
                index = i - 1;
                break;
            }
        }
        require(index != type(uint256).max, "StandardMerkle: leaf not in tree");
        uint256 depth;
        for (uint256 j = index; j > 0; j = (j - 1) / 2) {
            ++depth;
        }
        path = new bytes32[](depth);
        uint256 k;
        for (uint256 j = index; j > 0; j = (j - 1) / 2) {
            path[k++] = tree[j % 2 == 1 ? j + 1 : j - 1];
        }
    }

    function proofOf(bytes32[] memory tree, address account, uint256 amount) internal pure returns (bytes32[] memory) {
        return proof(tree, leaf(account, amount));
    }

    /// @notice A proof of `depth` pseudo-random siblings for `leafHash` and the root it leads to: a valid
    /// path in a (mostly unknown) tree of 2^depth leaves, used to measure gas at realistic depths.
    function randomPath(bytes32 leafHash, uint256 depth, uint256 seed)
        internal
        pure
        returns (bytes32[] memory path, bytes32 root)
    {
        path = new bytes32[](depth);
        root = leafHash;
        for (uint256 i; i < depth; ++i) {
            path[i] = keccak256(abi.encode(seed, i));
            root = Hashes.commutativeKeccak256(root, path[i]);
        }
    }

    function _sort(bytes32[] memory a) private pure {
        for (uint256 i = 1; i < a.length; ++i) {
            bytes32 key = a[i];
            uint256 j = i;
            while (j > 0 && uint256(a[j - 1]) > uint256(key)) {
                a[j] = a[j - 1];
                --j;
            }
            a[j] = key;
        }
    }
}
