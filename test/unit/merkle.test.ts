import { randomBytes } from 'node:crypto';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import fc from 'fast-check';
import { getAddress } from 'viem';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  buildDistributionTree,
  checksumAddresses,
  type DistributionEntry,
  type DistributionTree,
  type DistributionTreeDump,
  distributionTreeFromParts,
  distributionTreeParts,
  hashLeaf,
  loadDistributionTree,
  loadDistributionTreeJson,
  MAX_LEAVES,
  sortByHash,
  transferListOf,
  verifyDistributionProof,
} from '../../core/distributions/tree/merkle.ts';
import { DomainInputError } from '../../core/domain/errors.ts';

const MAX_UINT256 = (1n << 256n) - 1n;
const encoding = ['address', 'uint256'];

const randomAccount = () => `0x${randomBytes(20).toString('hex')}`;
const randomAmount = () => BigInt(`0x${randomBytes(1 + Math.floor(Math.random() * 32)).toString('hex')}`);

/** Accounts checksummed (as the worker gives them) and, every third one, lowercase. */
function randomEntries(n: number, amount: () => bigint = randomAmount): DistributionEntry[] {
  return Array.from({ length: n }, (_, k) => ({
    account: k % 3 === 2 ? randomAccount() : getAddress(randomAccount()),
    amount: amount(),
  }));
}

/** The oracle: the package itself, given the same account strings and the amounts as decimal strings. */
function packageTree(entries: readonly DistributionEntry[]) {
  return StandardMerkleTree.of(
    entries.map((e) => [e.account, e.amount.toString()]),
    encoding,
  );
}

const dumpText = (tree: DistributionTree) => Buffer.concat([...tree.dumpChunks()]).toString('latin1');

/** Root, proofs (all, or every `step`-th), dump object and dump bytes agree with the package. */
function expectSameAsPackage(entries: readonly DistributionEntry[], step = 1) {
  const ours = buildDistributionTree(entries);
  const theirs = packageTree(entries);
  expect(ours.root).toBe(theirs.root);
  expect(ours.length).toBe(entries.length);
  expect(ours.nodes.length).toBe(32 * (2 * entries.length - 1));
  for (let i = 0; i < entries.length; i += step) {
    expect(ours.proof(i)).toEqual(theirs.getProof(i));
    expect(ours.leafHash(i)).toBe(theirs.leafHash([entries[i].account, entries[i].amount.toString()]));
  }
  expect(ours.dump()).toEqual(theirs.dump());
  expect(dumpText(ours)).toBe(JSON.stringify(theirs.dump()));
  return { ours, theirs };
}

describe('buildDistributionTree()', () => {
  for (const n of [1, 2, 3, 4, 5, 7, 8, 100]) {
    it(`matches StandardMerkleTree.of on ${n} random leaves (root, every proof, dump)`, () => {
      expectSameAsPackage(randomEntries(n));
    });
  }

  it('matches StandardMerkleTree.of on 1000 random leaves (root, sampled proofs, dump)', () => {
    expectSameAsPackage(randomEntries(1000), 7);
  });

  it('matches StandardMerkleTree.of on 4097 leaves (radix sort path, batch slices)', () => {
    expectSameAsPackage(randomEntries(4097), 97);
  });

  it('matches StandardMerkleTree.of on random sizes and amounts up to 2^256 - 1 (property)', () => {
    const entry = fc.record({
      account: fc
        .uint8Array({ minLength: 20, maxLength: 20 })
        .map((b) => `0x${Buffer.from(b).toString('hex')}`),
      amount: fc.bigInt({ min: 0n, max: MAX_UINT256 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { minLength: 1, maxLength: 300, selector: (e) => e.account }),
        (entries) => {
          const ours = buildDistributionTree(entries);
          const theirs = packageTree(entries);
          expect(ours.root).toBe(theirs.root);
          const i = entries.length - 1;
          expect(ours.proof(i)).toEqual(theirs.getProof(i));
          expect(ours.dump()).toEqual(theirs.dump());
        },
      ),
      { numRuns: 25 },
    );
  });

  it('matches the package when every amount is equal, zero, or 2^256 - 1', () => {
    expectSameAsPackage(randomEntries(33, () => 1_000_000n));
    expectSameAsPackage(randomEntries(17, () => 0n));
    expectSameAsPackage(randomEntries(9, () => MAX_UINT256));
  });

  it('writes every amount exactly as the package does around the number-formatting boundaries', () => {
    const amounts = [
      0n,
      9n,
      10n,
      99_999_999n,
      100_000_000n,
      100_000_001n,
      2n ** 32n,
      2n ** 53n - 1n,
      2n ** 53n,
    ];
    amounts.push(2n ** 53n + 1n, 10n ** 18n, 2n ** 64n, MAX_UINT256 - 1n, MAX_UINT256);
    for (let d = 1n; d <= 17n; d++)
      amounts.push(10n ** d - 1n, 10n ** d, 10n ** d + 7n, 5n * 10n ** (d - 1n));
    expectSameAsPackage(amounts.map((amount) => ({ account: randomAccount(), amount })));
  });

  it('rejects more than MAX_LEAVES entries before allocating anything', () => {
    expect(() => buildDistributionTree(new Array(MAX_LEAVES + 1))).toThrow(/at most/);
  });

  it('matches the package for consecutive small addresses (shared prefixes)', () => {
    const entries = Array.from({ length: 300 }, (_, i) => ({
      account: `0x${i.toString(16).padStart(40, '0')}`,
      amount: BigInt(i % 3),
    }));
    const { ours } = expectSameAsPackage(entries, 13);
    expect(ours.leafIndexOf(`0x${(299).toString(16).padStart(40, '0')}`)).toBe(299);
  });

  it('writeDump() (reused buffers, copied by the caller) writes the same bytes as dumpChunks() and the package', () => {
    const entries = randomEntries(20_000);
    const tree = buildDistributionTree(entries);
    const copies: Buffer[] = [];
    tree.writeDump((chunk) => copies.push(Buffer.from(chunk)));
    const written = Buffer.concat(copies).toString('latin1');
    expect(written).toBe(dumpText(tree));
    expect(written).toBe(JSON.stringify(packageTree(entries).dump()));
  });

  it('proofs from our dump verify with the package and its load() accepts our dump', () => {
    const entries = randomEntries(64);
    const ours = buildDistributionTree(entries);
    const loaded = StandardMerkleTree.load(JSON.parse(dumpText(ours)));
    expect(loaded.root).toBe(ours.root);
    for (const [i, e] of entries.entries()) {
      const value = [getAddress(e.account), e.amount.toString()];
      expect(StandardMerkleTree.verify(ours.root, encoding, value, ours.proof(i))).toBe(true);
      expect(loaded.getProof(value)).toEqual(ours.proof(i));
    }
  });

  it('writes each account as given (letter case kept, as the package does) and decimal amounts into the dump', () => {
    const account = randomAccount();
    const upper = account.toUpperCase().replace('0X', '0x');
    const tree = buildDistributionTree([{ account: upper, amount: 10n ** 30n }]);
    expect(tree.dump().values).toEqual([{ value: [upper, (10n ** 30n).toString()], treeIndex: 0 }]);
    expect(dumpText(tree)).toBe(
      JSON.stringify(StandardMerkleTree.of([[upper, (10n ** 30n).toString()]], encoding).dump()),
    );
    expect(tree.account(0)).toBe(getAddress(account));
    const checksummed = buildDistributionTree([{ account: getAddress(account), amount: 1n }]);
    expect(checksummed.dump().values[0].value[0]).toBe(getAddress(account));
    expect(checksummed.root).toBe(buildDistributionTree([{ account, amount: 1n }]).root);
    expect(tree.amount(0)).toBe(10n ** 30n);
    expect(tree.proof(0)).toEqual([]);
    expect(tree.root).toBe(tree.leafHash(0));
  });

  it('finds leaves by account in any letter case and proves them by account', () => {
    const entries = randomEntries(50);
    const tree = buildDistributionTree(entries);
    for (const [i, e] of entries.entries()) {
      expect(tree.leafIndexOf(getAddress(e.account))).toBe(i);
      expect(tree.leafIndexOf(e.account.toLowerCase())).toBe(i);
      expect(tree.proof(getAddress(e.account))).toEqual(tree.proof(i));
    }
    expect(tree.leafIndexOf(randomAccount())).toBe(-1);
    expect(tree.leafIndexOf('not an address')).toBe(-1);
    expect(() => tree.proof(randomAccount())).toThrow(DomainInputError);
    expect(() => tree.proof(50)).toThrow(DomainInputError);
    expect(() => tree.proof(-1)).toThrow(DomainInputError);
  });

  it('rejects a duplicate account, naming both entries, whatever the letter case', () => {
    const account = randomAccount();
    const entries = [
      { account, amount: 1n },
      { account: randomAccount(), amount: 2n },
      { account: getAddress(account), amount: 3n },
    ];
    expect(() => buildDistributionTree(entries)).toThrow(
      /entries\[2\]\.account: duplicate of entries\[0\]\.account/,
    );
  });

  it('rejects empty input, bad accounts and out-of-range amounts', () => {
    const account = randomAccount();
    expect(() => buildDistributionTree([])).toThrow(DomainInputError);
    expect(() => buildDistributionTree([{ account: account.slice(0, 41), amount: 1n }])).toThrow(
      /entries\[0\]\.account/,
    );
    expect(() => buildDistributionTree([{ account: `${account.slice(0, 41)}g`, amount: 1n }])).toThrow(
      /entries\[0\]\.account/,
    );
    expect(() => buildDistributionTree([{ account, amount: -1n }])).toThrow(/entries\[0\]\.amount/);
    expect(() => buildDistributionTree([{ account, amount: MAX_UINT256 + 1n }])).toThrow(
      /entries\[0\]\.amount/,
    );
    expect(() => buildDistributionTree([{ account, amount: 1 as unknown as bigint }])).toThrow(
      /entries\[0\]\.amount/,
    );
  });
});

describe('hashLeaf() and verifyDistributionProof()', () => {
  it('hashLeaf() equals the package leaf hash', () => {
    const entries = randomEntries(20);
    entries.push({ account: randomAccount(), amount: MAX_UINT256 }, { account: randomAccount(), amount: 0n });
    const theirs = packageTree(entries);
    for (const e of entries) {
      expect(hashLeaf(e.account, e.amount)).toBe(
        theirs.leafHash([getAddress(e.account), e.amount.toString()]),
      );
    }
  });

  it('verifyDistributionProof() accepts every real proof and rejects a wrong amount, account or sibling', () => {
    const entries = randomEntries(37);
    const tree = buildDistributionTree(entries);
    for (const [i, e] of entries.entries()) {
      const proof = tree.proof(i);
      expect(verifyDistributionProof({ root: tree.root, account: e.account, amount: e.amount, proof })).toBe(
        true,
      );
      expect(
        verifyDistributionProof({ root: tree.root, account: e.account, amount: e.amount + 1n, proof }),
      ).toBe(false);
      expect(
        verifyDistributionProof({ root: tree.root, account: randomAccount(), amount: e.amount, proof }),
      ).toBe(false);
      const bent = [...proof];
      bent[0] = `0x${'ab'.repeat(32)}`;
      expect(
        verifyDistributionProof({ root: tree.root, account: e.account, amount: e.amount, proof: bent }),
      ).toBe(false);
    }
  });
});

describe('loadDistributionTree()', () => {
  const fresh = () => {
    const entries = randomEntries(12);
    const tree = buildDistributionTree(entries);
    return { entries, tree, dump: JSON.parse(dumpText(tree)) as DistributionTreeDump };
  };

  it('round-trips our dump: same root, proofs and dump', () => {
    const { tree, dump } = fresh();
    const loaded = loadDistributionTree(dump);
    expect(loaded.root).toBe(tree.root);
    expect(loaded.dump()).toEqual(dump);
    for (let i = 0; i < tree.length; i++) expect(loaded.proof(i)).toEqual(tree.proof(i));
  });

  it("loads the package's own dumps, unsorted and with lowercase addresses too", () => {
    const entries = randomEntries(21);
    const values = entries.map((e) => [e.account.toLowerCase(), e.amount.toString()]);
    for (const sortLeaves of [true, false]) {
      const theirs = StandardMerkleTree.of(values, encoding, { sortLeaves });
      const loaded = loadDistributionTree(JSON.parse(JSON.stringify(theirs.dump())));
      expect(loaded.root).toBe(theirs.root);
      for (let i = 0; i < entries.length; i++) expect(loaded.proof(i)).toEqual(theirs.getProof(i));
      expect(loaded.account(3)).toBe(getAddress(entries[3].account));
      expect(loaded.dump()).toEqual(theirs.dump());
    }
  });

  it('rejects a changed internal node, leaf, amount or account', () => {
    let { dump } = fresh();
    dump.tree[1] = `0x${'00'.repeat(32)}`;
    expect(() => loadDistributionTree(dump)).toThrow(/tree\[1\]: is not the hash of its children/);

    ({ dump } = fresh());
    const leaf = dump.values[5].treeIndex;
    dump.tree[leaf] = `0x${'11'.repeat(32)}`;
    expect(() => loadDistributionTree(dump)).toThrow(/values\[5\]: leaf hash does not match/);

    ({ dump } = fresh());
    dump.values[4].value[1] = (BigInt(dump.values[4].value[1]) + 1n).toString();
    expect(() => loadDistributionTree(dump)).toThrow(/values\[4\]: leaf hash does not match/);

    ({ dump } = fresh());
    dump.values[2].value[0] = getAddress(randomAccount());
    expect(() => loadDistributionTree(dump)).toThrow(/values\[2\]: leaf hash does not match/);
  });

  it('rejects swapped, repeated or non-leaf tree indices', () => {
    let { dump } = fresh();
    [dump.values[0].treeIndex, dump.values[1].treeIndex] = [
      dump.values[1].treeIndex,
      dump.values[0].treeIndex,
    ];
    expect(() => loadDistributionTree(dump)).toThrow(/leaf hash does not match/);

    ({ dump } = fresh());
    dump.values[3].treeIndex = dump.values[0].treeIndex;
    expect(() => loadDistributionTree(dump)).toThrow(/values\[3\]\.treeIndex: leaf \d+ is used twice/);

    ({ dump } = fresh());
    dump.values[0].treeIndex = 0;
    expect(() => loadDistributionTree(dump)).toThrow(/values\[0\]\.treeIndex/);
  });

  it('rejects a wrong format, encoding, tree length, hex spelling or amount spelling', () => {
    const cases: [string, (d: Record<string, unknown> & DistributionTreeDump) => void, RegExp][] = [
      ['format', (d) => Object.assign(d, { format: 'simple-v1' }), /format/],
      ['encoding', (d) => Object.assign(d, { leafEncoding: ['address', 'uint128'] }), /leafEncoding/],
      ['length', (d) => d.tree.pop(), /tree: must be an array/],
      [
        'uppercase node',
        (d) => (d.tree[0] = d.tree[0].toUpperCase().replace('0X', '0x') as `0x${string}`),
        /tree\[0\]/,
      ],
      ['hex amount', (d) => (d.values[0].value[1] = '0x10'), /values\[0\]\.value\[1\]/],
      [
        'huge amount',
        (d) => (d.values[0].value[1] = (MAX_UINT256 + 1n).toString()),
        /values\[0\]\.value\[1\]/,
      ],
      ['bad address', (d) => (d.values[1].value[0] = '0x1234'), /values\[1\]\.value\[0\]/],
      ['no values', (d) => (d.values = []), /values/],
    ];
    for (const [, tamper, error] of cases) {
      const { dump } = fresh();
      tamper(dump as Record<string, unknown> & DistributionTreeDump);
      expect(() => loadDistributionTree(dump)).toThrow(error);
    }
    expect(() => loadDistributionTree(null)).toThrow(DomainInputError);
  });

  it('rejects a dump with the same account twice', () => {
    const account = randomAccount();
    const theirs = StandardMerkleTree.of(
      [
        [account, '1'],
        [getAddress(account), '2'],
      ],
      encoding,
    );
    expect(() => loadDistributionTree(theirs.dump())).toThrow(/duplicate/);
  });
});

describe('loadDistributionTreeJson()', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('reads our dump bytes without JSON.parse and gives back the same tree', () => {
    const entries = randomEntries(40);
    entries.push({ account: randomAccount(), amount: MAX_UINT256 }, { account: randomAccount(), amount: 0n });
    const tree = buildDistributionTree(entries);
    const bytes = Buffer.concat([...tree.dumpChunks()]);
    const parse = vi.spyOn(JSON, 'parse');
    const loaded = loadDistributionTreeJson(bytes);
    expect(parse).not.toHaveBeenCalled();
    expect(loaded.root).toBe(tree.root);
    expect(loaded.dump()).toEqual(tree.dump());
    for (let i = 0; i < entries.length; i++) {
      expect(loaded.proof(i)).toEqual(tree.proof(i));
      expect(loaded.amount(i)).toBe(entries[i].amount);
    }
  });

  it('reads a one-leaf dump (the root is the leaf, no internal nodes)', () => {
    const entries = randomEntries(1);
    const theirs = packageTree(entries);
    const loaded = loadDistributionTreeJson(JSON.stringify(theirs.dump()));
    expect(loaded.root).toBe(theirs.root);
    expect(loaded.proof(0)).toEqual([]);
  });

  it("reads the package's JSON, compact or indented, and agrees with the package", () => {
    const entries = randomEntries(25);
    const theirs = packageTree(entries);
    for (const text of [JSON.stringify(theirs.dump()), JSON.stringify(theirs.dump(), null, 2)]) {
      const parse = vi.spyOn(JSON, 'parse');
      const loaded = loadDistributionTreeJson(text);
      expect(parse).not.toHaveBeenCalled();
      parse.mockRestore();
      expect(loaded.root).toBe(theirs.root);
      for (let i = 0; i < entries.length; i++) expect(loaded.proof(i)).toEqual(theirs.getProof(i));
    }
  });

  it('falls back to JSON.parse for another key order or escaped characters, with the same result', () => {
    const tree = buildDistributionTree(randomEntries(9));
    const dump = tree.dump();
    const reordered = JSON.stringify({
      values: dump.values,
      tree: dump.tree,
      leafEncoding: dump.leafEncoding,
      format: dump.format,
    });
    const escaped = JSON.stringify(dump).replace('"0x', '"\\u0030x');
    for (const text of [reordered, escaped]) {
      const parse = vi.spyOn(JSON, 'parse');
      expect(loadDistributionTreeJson(text).root).toBe(tree.root);
      expect(parse).toHaveBeenCalledTimes(1);
      parse.mockRestore();
    }
  });

  it('rejects changed bytes, bad fields and malformed JSON with the same errors as loadDistributionTree()', () => {
    const tree = buildDistributionTree(randomEntries(9));
    const text = dumpText(tree);
    const node = tree.dump().tree[2];
    const flipped = `${node.slice(0, 10)}${node[10] === '0' ? '1' : '0'}${node.slice(11)}`;
    expect(() => loadDistributionTreeJson(text.replace(node, flipped))).toThrow(
      /tree\[2\]: is not the hash of its children/,
    );
    expect(() =>
      loadDistributionTreeJson(text.replace(node, node.toUpperCase().replace('0X', '0x'))),
    ).toThrow(/tree\[2\]: must be 0x/);
    const firstIndex = `"treeIndex":${tree.treeIndices[0]}`;
    expect(() => loadDistributionTreeJson(text.replace(firstIndex, '"treeIndex":0'))).toThrow(
      /values\[0\]\.treeIndex/,
    );
    expect(() => loadDistributionTreeJson(text.slice(0, -1))).toThrow(/is not valid JSON/);
    expect(() => loadDistributionTreeJson(`${text} x`)).toThrow(DomainInputError);
  });
});

describe('distributionTreeParts() / distributionTreeFromParts()', () => {
  it('moves a built or a loaded tree across a transfer (structured clone) unchanged', () => {
    const entries = randomEntries(300, () => (Math.random() < 0.1 ? 2n ** 80n + randomAmount() : 5n));
    const built = buildDistributionTree(entries);
    const dump = dumpText(built);
    const proof = built.proof(7);
    const loaded = loadDistributionTreeJson(Buffer.from(dump, 'latin1'));
    // (a transfer detaches the tree's own buffers: the expected values are taken before)
    for (const tree of [loaded, built]) {
      const parts = distributionTreeParts(tree);
      const moved = distributionTreeFromParts(structuredClone(parts, { transfer: transferListOf(parts) }));
      expect(moved.root).toBe(built.root);
      expect(dumpText(moved)).toBe(dump);
      for (const [k, e] of entries.entries()) {
        expect(moved.leafIndexOf(e.account.toLowerCase())).toBe(k);
        expect(moved.amount(k)).toBe(e.amount);
      }
      expect(moved.proof(entries[7].account)).toEqual(proof);
      expect(moved.leafIndexOf(randomAccount())).toBe(-1);
    }
  });
});

describe('sortByHash()', () => {
  it('orders hashes that share their first 4 bytes by the remaining bytes, like the package', () => {
    const n = 1000;
    const hashes = new Uint8Array(32 * n);
    for (let k = 0; k < n; k++) {
      const hash = randomBytes(32);
      // Only 8 distinct 4-byte prefixes: long runs of ties, some reaching the last byte.
      hash.writeUInt32BE(0x01020304 * (k % 8), 0);
      if (k % 5 === 0) hash.fill(7, 4, 31);
      hashes.set(hash, 32 * k);
    }
    const hexOf = (k: number) => Buffer.from(hashes.subarray(32 * k, 32 * k + 32)).toString('hex');
    const expected = Array.from({ length: n }, (_, k) => k).sort((a, b) => (hexOf(a) < hexOf(b) ? -1 : 1));
    expect(Array.from(sortByHash(hashes, 0, n))).toEqual(expected);
  });
});

describe('checksumAddresses()', () => {
  it("equals viem's getAddress for every account, in order, across batches, whatever the input case", () => {
    const accounts = Array.from({ length: 8192 + 300 }, (_, k) => {
      const a = randomAccount();
      return k % 3 === 0 ? a.toUpperCase().replace('0X', '0x') : k % 3 === 1 ? getAddress(a) : a;
    });
    accounts.push('0x0000000000000000000000000000000000000000', '0xffffffffffffffffffffffffffffffffffffffff');
    expect(checksumAddresses(accounts)).toEqual(accounts.map((a) => getAddress(a)));
    expect(checksumAddresses([])).toEqual([]);
  });

  it('names the first entry that is not an address', () => {
    expect(() => checksumAddresses([randomAccount(), '0x1234'])).toThrow(/accounts\[1\]/);
    expect(() => checksumAddresses([`${randomAccount().slice(0, 41)}g`])).toThrow(DomainInputError);
  });
});
