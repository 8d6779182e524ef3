/**
 * The document Merkle tree of a portfolio's data room (ARCHITECTURE.md: "document Merkle root
 * anchored" at publish): exactly `@openzeppelin/merkle-tree`'s
 * `StandardMerkleTree.of(values, ['bytes32'])` where each value is one document's SHA-256 as a
 * 0x-prefixed 32-byte hex string. The root is what `Portfolio.documents()` returns on-chain, and a
 * proof verifies with OpenZeppelin's `MerkleProof.verify(proof, root, keccak256(bytes.concat(
 * keccak256(abi.encode(sha256)))))` and with `StandardMerkleTree.verify`.
 *
 * Deterministic: the hashes are normalised (lowercase, 0x-prefixed) and sorted before building,
 * so the same set of documents always gives the same root and the same dump, whatever the order
 * the caller lists them in. A hash listed twice is an input error (a data room holds each content
 * once). An empty data room has the zero root (`EMPTY_DOCUMENT_ROOT`) and no proofs.
 *
 * Pure: no I/O. Document counts are small, so the package itself builds the tree.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { DomainInputError } from '../../domain/errors.ts';

export type Hex = `0x${string}`;

export const DOCUMENT_LEAF_ENCODING = ['bytes32'] as const;

/** Root of a data room without documents: `bytes32(0)`. */
export const EMPTY_DOCUMENT_ROOT: Hex = `0x${'0'.repeat(64)}`;

/** `StandardMerkleTree.dump()` for leaf encoding `['bytes32']`. */
export type DocumentTreeDump = {
  format: 'standard-v1';
  leafEncoding: ['bytes32'];
  tree: Hex[];
  values: { value: [Hex]; treeIndex: number }[];
};

export type DocumentTree = {
  /** Root as 0x-prefixed lowercase hex (what the publish job anchors on-chain). */
  readonly root: Hex;
  /** Number of documents (leaves). */
  readonly length: number;
  /** The leaves, normalised (0x-prefixed lowercase) and sorted ascending. */
  readonly sha256s: readonly Hex[];
  /** Whether the tree holds this SHA-256 (with or without 0x, any letter case). */
  has(sha256Hex: string): boolean;
  /**
   * Proof of the document with this SHA-256 (with or without 0x, any letter case): sibling hashes
   * from the leaf up, as the package's `getProof`. Throws `DomainInputError` when not in the tree.
   */
  proof(sha256Hex: string): Hex[];
  /** The package's dump object (`StandardMerkleTree.load` accepts it); empty arrays for an empty tree. */
  dump(): DocumentTreeDump;
};

const SHA256_HEX = /^(?:0x)?[0-9a-fA-F]{64}$/;

/** `ab..` or `0xAB..` (64 hex digits) -> `0xab..`; throws `DomainInputError` otherwise. */
export function normalizeSha256(sha256Hex: string, field = 'sha256'): Hex {
  if (typeof sha256Hex !== 'string' || !SHA256_HEX.test(sha256Hex)) {
    throw new DomainInputError({
      field,
      message: 'expected a SHA-256 as 64 hex digits (optionally 0x-prefixed)',
    });
  }
  const digits = sha256Hex.length === 66 ? sha256Hex.slice(2) : sha256Hex;
  return `0x${digits.toLowerCase()}`;
}

/** Builds the document tree over the SHA-256 hashes of a portfolio's documents (see the module doc). */
export function buildDocumentTree(sha256Hexes: readonly string[]): DocumentTree {
  const leaves = sha256Hexes.map((h, i) => normalizeSha256(h, `sha256s[${i}]`));
  const firstIndex = new Map<Hex, number>();
  const duplicates: { field: string; message: string }[] = [];
  leaves.forEach((leaf, i) => {
    const first = firstIndex.get(leaf);
    if (first === undefined) firstIndex.set(leaf, i);
    else duplicates.push({ field: `sha256s[${i}]`, message: `duplicate of sha256s[${first}]` });
  });
  if (duplicates.length > 0) throw new DomainInputError(duplicates);

  const sorted = [...leaves].sort();
  if (sorted.length === 0) {
    return {
      root: EMPTY_DOCUMENT_ROOT,
      length: 0,
      sha256s: [],
      has: () => false,
      proof: (sha256Hex) => {
        throw notInTree(normalizeSha256(sha256Hex));
      },
      dump: () => ({ format: 'standard-v1', leafEncoding: ['bytes32'], tree: [], values: [] }),
    };
  }

  const tree = StandardMerkleTree.of(
    sorted.map((leaf) => [leaf] as [Hex]),
    [...DOCUMENT_LEAF_ENCODING],
  );
  // values keep our (sorted) input order, so value k is sorted[k]
  const indexOf = new Map<Hex, number>(sorted.map((leaf, k) => [leaf, k]));
  const lookup = (sha256Hex: string): number => {
    const leaf = normalizeSha256(sha256Hex);
    const k = indexOf.get(leaf);
    if (k === undefined) throw notInTree(leaf);
    return k;
  };

  return {
    root: tree.root as Hex,
    length: sorted.length,
    sha256s: sorted,
    has: (sha256Hex) => SHA256_HEX.test(sha256Hex) && indexOf.has(normalizeSha256(sha256Hex)),
    proof: (sha256Hex) => tree.getProof(lookup(sha256Hex)) as Hex[],
    dump: () => tree.dump() as unknown as DocumentTreeDump,
  };
}

/**
 * Whether `proof` proves the document with SHA-256 `sha256Hex` against `root` (the package's
 * `StandardMerkleTree.verify`, i.e. OpenZeppelin's `MerkleProof` semantics). False, not a throw,
 * for malformed input.
 */
export function verifyDocumentProof(root: string, sha256Hex: string, proof: readonly string[]): boolean {
  if (!/^0x[0-9a-fA-F]{64}$/.test(root) || !SHA256_HEX.test(sha256Hex)) return false;
  if (!proof.every((p) => /^0x[0-9a-fA-F]{64}$/.test(p))) return false;
  return StandardMerkleTree.verify(
    root.toLowerCase(),
    [...DOCUMENT_LEAF_ENCODING],
    [normalizeSha256(sha256Hex)],
    [...proof],
  );
}

function notInTree(leaf: Hex): DomainInputError {
  return new DomainInputError({ field: 'sha256', message: `document ${leaf} is not in the tree` });
}
