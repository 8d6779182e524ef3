import { createHash, randomBytes } from 'node:crypto';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import fc from 'fast-check';
import { concat, encodeAbiParameters, type Hex, keccak256 } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  buildDocumentTree,
  EMPTY_DOCUMENT_ROOT,
  normalizeSha256,
  verifyDocumentProof,
} from '../../core/catalog/documents/tree.ts';
import { DomainInputError } from '../../core/domain/errors.ts';

const sha256Of = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const randomSha256s = (n: number) => Array.from({ length: n }, () => sha256Of(randomBytes(16)));

/** OpenZeppelin `MerkleProof.processProof` written out: leaf = keccak(keccak(abi.encode(bytes32))), sorted pairs. */
function solidityProcessProof(sha256: Hex, proof: readonly Hex[]): Hex {
  let node = keccak256(keccak256(encodeAbiParameters([{ type: 'bytes32' }], [sha256])));
  for (const sibling of proof) {
    node =
      BigInt(node) < BigInt(sibling)
        ? keccak256(concat([node, sibling]))
        : keccak256(concat([sibling, node]));
  }
  return node;
}

function shuffle<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('buildDocumentTree()', () => {
  it('has the root of StandardMerkleTree.of over the 0x-prefixed hashes with leaf encoding bytes32', () => {
    const hashes = randomSha256s(7);
    const oracle = StandardMerkleTree.of(
      hashes.map((h) => [`0x${h}`]),
      ['bytes32'],
    );
    expect(buildDocumentTree(hashes).root).toBe(oracle.root);
  });

  it('gives proofs that StandardMerkleTree.verify and the Solidity MerkleProof algorithm accept', () => {
    for (const n of [1, 2, 3, 5, 8, 13]) {
      const hashes = randomSha256s(n);
      const tree = buildDocumentTree(hashes);
      for (const h of hashes) {
        const proof = tree.proof(h);
        expect(StandardMerkleTree.verify(tree.root, ['bytes32'], [`0x${h}`], proof)).toBe(true);
        expect(solidityProcessProof(`0x${h}`, proof)).toBe(tree.root);
        expect(verifyDocumentProof(tree.root, h, proof)).toBe(true);
      }
    }
  });

  it('has the same root, leaves and dump whatever the input order and letter case', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), (n) => {
        const hashes = randomSha256s(n);
        const a = buildDocumentTree(hashes);
        const b = buildDocumentTree(shuffle(hashes).map((h) => `0x${h.toUpperCase()}`));
        expect(b.root).toBe(a.root);
        expect(b.sha256s).toEqual(a.sha256s);
        expect(JSON.stringify(b.dump())).toBe(JSON.stringify(a.dump()));
      }),
      { numRuns: 30 },
    );
  });

  it('changes the root when any document is added, removed or replaced', () => {
    const hashes = randomSha256s(4);
    const root = buildDocumentTree(hashes).root;
    expect(buildDocumentTree([...hashes, ...randomSha256s(1)]).root).not.toBe(root);
    expect(buildDocumentTree(hashes.slice(1)).root).not.toBe(root);
    expect(buildDocumentTree([...hashes.slice(1), ...randomSha256s(1)]).root).not.toBe(root);
  });

  it('dumps a tree that StandardMerkleTree.load accepts with the same root and proofs', () => {
    const hashes = randomSha256s(6);
    const tree = buildDocumentTree(hashes);
    const loaded = StandardMerkleTree.load(JSON.parse(JSON.stringify(tree.dump())));
    expect(loaded.root).toBe(tree.root);
    expect(tree.dump().leafEncoding).toEqual(['bytes32']);
    for (const h of hashes) expect(loaded.getProof([`0x${h}`])).toEqual(tree.proof(h));
  });

  it('proves a single document with an empty proof (the root is its leaf hash)', () => {
    const [h] = randomSha256s(1);
    const tree = buildDocumentTree([h]);
    expect(tree.proof(h)).toEqual([]);
    expect(tree.root).toBe(solidityProcessProof(`0x${h}`, []));
  });

  it('rejects a hash listed twice, in any letter case or prefix, naming both positions', () => {
    const [a, b] = randomSha256s(2);
    const error = (() => {
      try {
        buildDocumentTree([a, b, `0x${a.toUpperCase()}`]);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DomainInputError);
    expect((error as DomainInputError).field).toBe('sha256s[2]');
    expect((error as DomainInputError).message).toContain('sha256s[0]');
  });

  it('rejects malformed hashes with the offending index', () => {
    for (const bad of [
      '',
      'xyz',
      'ab'.repeat(31),
      'ab'.repeat(33),
      `0x${'g'.repeat(64)}`,
      `0X${'a'.repeat(64)}`,
    ]) {
      expect(() => buildDocumentTree([sha256Of('ok'), bad])).toThrow(DomainInputError);
      try {
        buildDocumentTree([sha256Of('ok'), bad]);
      } catch (e) {
        expect((e as DomainInputError).field).toBe('sha256s[1]');
      }
    }
  });

  it('has the zero root and no proofs for an empty data room', () => {
    const tree = buildDocumentTree([]);
    expect(tree.root).toBe(EMPTY_DOCUMENT_ROOT);
    expect(tree.length).toBe(0);
    expect(tree.dump()).toEqual({ format: 'standard-v1', leafEncoding: ['bytes32'], tree: [], values: [] });
    expect(() => tree.proof(sha256Of('x'))).toThrow(DomainInputError);
  });

  it('refuses a proof for a document that is not in the tree', () => {
    const tree = buildDocumentTree(randomSha256s(3));
    const outsider = sha256Of('not in the data room');
    expect(tree.has(outsider)).toBe(false);
    expect(() => tree.proof(outsider)).toThrow(/not in the tree/);
  });
});

describe('verifyDocumentProof()', () => {
  const hashes = randomSha256s(5);
  const tree = buildDocumentTree(hashes);
  const proof = tree.proof(hashes[2]);

  it('rejects a proof for another document, a tampered proof and another root', () => {
    expect(verifyDocumentProof(tree.root, hashes[3], proof)).toBe(false);
    const tampered = [...proof];
    tampered[0] = `0x${(BigInt(tampered[0]) ^ 1n).toString(16).padStart(64, '0')}`;
    expect(verifyDocumentProof(tree.root, hashes[2], tampered)).toBe(false);
    expect(verifyDocumentProof(buildDocumentTree(randomSha256s(5)).root, hashes[2], proof)).toBe(false);
    expect(verifyDocumentProof(tree.root, hashes[2], proof.slice(1))).toBe(false);
  });

  it('answers false, not a throw, for malformed input', () => {
    expect(verifyDocumentProof('0x1234', hashes[2], proof)).toBe(false);
    expect(verifyDocumentProof(tree.root, 'nope', proof)).toBe(false);
    expect(verifyDocumentProof(tree.root, hashes[2], ['0xzz'])).toBe(false);
  });

  it('accepts the root and hash in any letter case', () => {
    expect(
      verifyDocumentProof(tree.root.toUpperCase().replace('0X', '0x'), hashes[2].toUpperCase(), proof),
    ).toBe(true);
  });
});

describe('normalizeSha256()', () => {
  it('lowercases and prefixes 64 hex digits', () => {
    expect(normalizeSha256('AB'.repeat(32))).toBe(`0x${'ab'.repeat(32)}`);
    expect(normalizeSha256(`0x${'Cd'.repeat(32)}`)).toBe(`0x${'cd'.repeat(32)}`);
  });
});
