/**
 * The distribution Merkle tree (ARCHITECTURE.md "The distribution job", step 3): exactly
 * `@openzeppelin/merkle-tree`'s `StandardMerkleTree.of(values, ['address', 'uint256'])` -- same
 * leaves, same sorted leaf order, same array layout, same root, same proofs and a dump its
 * `StandardMerkleTree.load` accepts -- built over one flat buffer with a batch WebAssembly keccak
 * (merkle-keccak.ts) instead of a million hex strings and JS hashes.
 *
 * Layout (the package's `core.makeMerkleTree`): `n` leaves, `2n - 1` nodes of 32 bytes in
 * `nodes`; leaf hash = keccak256(keccak256(abi.encode(address, uint256))); leaves sorted by hash
 * ascending and placed from the end (`tree[2n - 2 - i] = sortedLeaves[i]`); internal node `i` =
 * keccak256 of its children `2i + 1`, `2i + 2` sorted as big-endian numbers. Values keep the input
 * order; `values[k].treeIndex` is where entry `k`'s leaf sits. Like the package, the dump writes
 * every value as it was given: an account keeps its letter case (the worker gives the EIP-55
 * checksummed addresses stored with the holders, so the dump carries those, and the builder spends
 * no keccak on checksums: only the tree's own 3N - 1 hashes).
 *
 * Pure: no I/O. Dumps are produced as byte chunks for the caller to write.
 */
import { DomainInputError } from '../../domain/errors.ts';
import {
  CHECKSUM_STRIDE,
  createKeccakEngine,
  HEX_NODE_STRIDE,
  KECCAK_LAYOUT,
  type KeccakEngine,
} from './keccak.ts';

export type Hex = `0x${string}`;

/**
 * One holder of a distribution: the account (0x + 40 hex digits in any letter case, written into
 * the dump as given) and its cumulative amount (base units).
 */
export type DistributionEntry = { account: string; amount: bigint };

/** `StandardMerkleTree.dump()` for leaf encoding `['address', 'uint256']`, amounts as decimal strings. */
export type DistributionTreeDump = {
  format: 'standard-v1';
  leafEncoding: ['address', 'uint256'];
  tree: Hex[];
  values: { value: [Hex, string]; treeIndex: number }[];
};

export type DistributionTree = {
  /** Root as 0x-prefixed lowercase hex (what `proposeRoot` takes). */
  readonly root: Hex;
  /** Number of leaves (entries). */
  readonly length: number;
  /** All `2 * length - 1` nodes, 32 bytes each, in the package's array order. Do not mutate. */
  readonly nodes: Uint8Array;
  /** `treeIndices[k]`: position in `nodes` of entry `k`'s leaf. Do not mutate. */
  readonly treeIndices: Uint32Array;
  /** Entry `k`'s account, EIP-55 checksummed. */
  account(index: number): Hex;
  /** Entry `k`'s cumulative amount. */
  amount(index: number): bigint;
  /** Entry index of `account` (any letter case), or -1 when it is not in the tree. */
  leafIndexOf(account: string): number;
  /** Entry `k`'s leaf hash. */
  leafHash(index: number): Hex;
  /** Proof of entry `index` (or of `account`): sibling hashes from the leaf up, as the package's `getProof`. */
  proof(indexOrAccount: number | string): Hex[];
  /** The package's dump object (the whole tree as JS strings: fine for small trees, big for 1M). */
  dump(): DistributionTreeDump;
  /** `JSON.stringify(dump())` as ASCII byte chunks (each a fresh copy), without building the object. */
  dumpChunks(): Generator<Uint8Array, void, undefined>;
  /**
   * Calls `write` with the bytes of `dumpChunks()`, in order, in reused buffers: a chunk is valid
   * only until `write` returns (write it out or copy it); nothing is allocated per chunk.
   */
  writeDump(write: (chunk: Uint8Array) => void): void;
};

/**
 * A built tree as plain typed arrays (and the few amounts above 2^53 - 1), for moving it between
 * threads without copying or rebuilding anything: `distributionTreeParts` in the thread that built or
 * loaded it, `postMessage(parts, transferListOf(parts))`, `distributionTreeFromParts` on the other side
 * (constant time: no hash, no parse, no index build).
 */
export type DistributionTreeParts = {
  nodes: Uint8Array;
  treeIndices: Uint32Array;
  /** 20 bytes per entry. */
  accounts: Uint8Array;
  /** The 40 hex digits of every account as given (their letter case), ASCII. */
  accountText: Uint8Array;
  /** Amounts as numbers, -1 where `bigAmounts` holds the entry's amount. */
  smallAmounts: Float64Array;
  bigAmounts: [index: number, amount: bigint][];
  /** The account index's hash table. */
  slots: Int32Array;
};

export const DISTRIBUTION_LEAF_ENCODING = ['address', 'uint256'] as const;

const HEAP = KECCAK_LAYOUT.heap;
const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/**
 * Most leaves a tree may have: the build needs 128 bytes per leaf of 32-bit WebAssembly memory
 * (at most 4 GiB), so 2^24 leaves (2 GiB) leaves a wide margin.
 */
export const MAX_LEAVES = 2 ** 24;
/** Nodes or values converted per dump chunk. */
const DUMP_BATCH = 8192;

/** Builds the tree of `entries` (at least one, no account twice, amounts in [0, 2^256)). */
export function buildDistributionTree(entries: readonly DistributionEntry[]): DistributionTree {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new DomainInputError({ field: 'entries', message: 'must be a non-empty array' });
  }
  if (entries.length > MAX_LEAVES) {
    throw new DomainInputError({ field: 'entries', message: `must have at most ${MAX_LEAVES} entries` });
  }
  const n = entries.length;
  const treeLength = 2 * n - 1;
  // One area of 64n bytes at HEAP: first the n encodings of 64 bytes, hashed in place into n leaves
  // of 32 bytes (leaf k at node position k), then the tree itself (node i at HEAP + 32i): the
  // sorted leaves move to positions n-1..2n-2 and the internal nodes are hashed into 0..n-2.
  const tree = HEAP;
  const engine = createKeccakEngine(tree + 64 * n);
  const memory = engine.bytes();
  const accounts = new Uint8Array(20 * n);
  const accountText = new Array<string>(n);
  const amounts: (bigint | undefined)[] = [];
  const smallAmounts = new Float64Array(n);
  readEntries(entries, memory, tree, accounts, accountText, amounts, smallAmounts);
  const index = indexAccounts(accounts, n, 'entries');
  engine.leaves(tree, n);
  const order = sortByHash(memory, tree, n);
  const treeIndices = placeLeaves(memory, tree, order);
  engine.nodes(tree, 0, n - 2, 0);
  const nodes = new Uint8Array(memory.buffer, tree, 32 * treeLength);
  return createTree(nodes, treeIndices, accounts, accountText, amounts, smallAmounts, index);
}

/**
 * Checks every entry and writes its ABI encoding at `memory[base + 64k]` (which must be zero):
 * the account's bytes into `accounts`, its text as given into `accountText`, the amount into
 * `smallAmounts` when below 2^53 (else -1 there and the bigint into `amounts`).
 */
function readEntries(
  entries: readonly DistributionEntry[],
  memory: Uint8Array,
  base: number,
  accounts: Uint8Array,
  accountText: string[],
  amounts: (bigint | undefined)[],
  smallAmounts: Float64Array,
): void {
  const n = entries.length;
  const view = new DataView(memory.buffer);
  const words = new Uint32Array(memory.buffer);
  const accountWords = new Uint32Array(accounts.buffer);
  for (let k = 0; k < n; k++) {
    const entry = entries[k];
    if (typeof entry !== 'object' || entry === null) {
      throw new DomainInputError({ field: `entries[${k}]`, message: 'must be { account, amount }' });
    }
    const account = entry.account;
    if (!parseAddress(account, accounts, 20 * k)) {
      throw new DomainInputError({
        field: `entries[${k}].account`,
        message: 'must be a 0x-prefixed 20-byte hex address',
      });
    }
    accountText[k] = account;
    const encoding = (base >>> 2) + 16 * k;
    for (let w = 0; w < 5; w++) words[encoding + 3 + w] = accountWords[5 * k + w];
    const amount = entry.amount;
    if (typeof amount !== 'bigint') throw badAmount(k);
    // Number() is exact below 2^53; anything else (negative, large) takes the bigint checks.
    const small = Number(amount);
    if (small >= 0 && small < 9_007_199_254_740_992) {
      writeSmallUint256(view, base + 64 * k + 32, small);
      smallAmounts[k] = small;
    } else {
      if (amount < 0n || amount > MAX_UINT256) throw badAmount(k);
      writeUint256(view, base + 64 * k + 32, amount);
      smallAmounts[k] = -1;
      amounts[k] = amount;
    }
  }
}

const badAmount = (k: number) =>
  new DomainInputError({ field: `entries[${k}].amount`, message: 'must be a bigint in [0, 2^256)' });

/**
 * Moves the `n` leaves at node positions 0..n-1 of the tree at `memory[base..]` to positions
 * 2n-2..n-1 in `order` (the package's `tree[2n - 2 - i] = sortedLeaves[i]`); returns each entry's
 * position. In place: only position n-1 is both read and written, and it is written last (i = n-1),
 * after it was read.
 */
function placeLeaves(memory: Uint8Array, base: number, order: Uint32Array): Uint32Array {
  const n = order.length;
  const words = new Uint32Array(memory.buffer);
  const treeIndices = new Uint32Array(n);
  const first = base >>> 2;
  for (let i = 0; i < n; i++) {
    const valueIndex = order[i];
    const position = 2 * n - 2 - i;
    treeIndices[valueIndex] = position;
    const from = first + 8 * valueIndex;
    const to = first + 8 * position;
    for (let w = 0; w < 8; w++) words[to + w] = words[from + w];
  }
  return treeIndices;
}

/**
 * Loads a `StandardMerkleTree` dump object (ours or the package's, e.g. from `JSON.parse`) after
 * checking all of it: the format, the leaf encoding, every value (address, uint256 decimal string,
 * a distinct leaf `treeIndex`), every leaf hash against its value and every internal node against
 * its children. Rejects duplicate accounts, which a distribution never has. Throws a
 * `DomainInputError` naming the offending field (for hashes: the deepest wrong node).
 */
export function loadDistributionTree(dump: unknown): DistributionTree {
  const fail = (field: string, message: string): never => {
    throw new DomainInputError({ field, message });
  };
  if (typeof dump !== 'object' || dump === null) return fail('', 'must be a StandardMerkleTree dump object');
  const data = dump as Record<string, unknown>;
  if (data.format !== 'standard-v1') fail('format', "must be 'standard-v1'");
  const encoding = data.leafEncoding;
  if (
    !Array.isArray(encoding) ||
    encoding.length !== 2 ||
    encoding[0] !== 'address' ||
    encoding[1] !== 'uint256'
  ) {
    fail('leafEncoding', "must be ['address', 'uint256']");
  }
  const tree = data.tree;
  const values = data.values;
  if (!Array.isArray(values) || values.length === 0) return fail('values', 'must be a non-empty array');
  if (values.length > MAX_LEAVES) fail('values', `must have at most ${MAX_LEAVES} entries`);
  const n = values.length;
  const treeLength = 2 * n - 1;
  if (!Array.isArray(tree) || tree.length !== treeLength) {
    return fail('tree', `must be an array of 2 * values.length - 1 = ${treeLength} hashes`);
  }
  const parsed = allocateParsedDump(n);
  for (let i = 0; i < treeLength; i++) {
    if (!parseNode(tree[i], parsed.nodes, 32 * i)) fail(`tree[${i}]`, 'must be 0x + 64 lowercase hex digits');
  }
  const taken = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const item = values[k] as { value?: unknown; treeIndex?: unknown } | null;
    const value = item?.value;
    if (!Array.isArray(value) || value.length !== 2) fail(`values[${k}].value`, 'must be [address, amount]');
    const [account, amountText] = value as unknown[];
    if (!parseAccount(account, parsed.accounts, parsed.accountText, k)) {
      fail(`values[${k}].value[0]`, 'must be a 0x-prefixed 20-byte hex address');
    }
    const amount = parseAmount(amountText);
    if (amount === undefined) return fail(`values[${k}].value[1]`, 'must be a decimal string in [0, 2^256)');
    if (amount <= MAX_SAFE) parsed.smallAmounts[k] = Number(amount);
    else parsed.amounts[k] = amount;
    const position = item?.treeIndex;
    if (!isLeafPosition(position, n)) {
      fail(`values[${k}].treeIndex`, `must be a leaf position in [${n - 1}, ${treeLength - 1}]`);
    }
    const p = position as number;
    if (taken[p - (n - 1)] === 1) fail(`values[${k}].treeIndex`, `leaf ${p} is used twice`);
    taken[p - (n - 1)] = 1;
    parsed.treeIndices[k] = p;
  }
  return verifyParsedDump(parsed);
}

/**
 * `loadDistributionTree(JSON.parse(json))` without `JSON.parse`: reads the dump's JSON bytes
 * directly into flat buffers (about 5x faster and far less memory for 1M leaves), then checks
 * every hash the same way. Anything the fast reader does not expect (escapes, other keys, another
 * key order, an invalid field) goes through `JSON.parse` + `loadDistributionTree`, so the result
 * and the errors are the same; malformed JSON is a `DomainInputError` too.
 */
export function loadDistributionTreeJson(json: Uint8Array | string): DistributionTree {
  const bytes = typeof json === 'string' ? encoder.encode(json) : json;
  const parsed = readDumpBytes(bytes);
  if (parsed !== undefined) return verifyParsedDump(parsed);
  let dump: unknown;
  try {
    dump = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new DomainInputError({ field: '', message: 'is not valid JSON' }, { cause: error });
  }
  return loadDistributionTree(dump);
}

type ParsedDump = {
  n: number;
  /** `2n - 1` nodes, 32 bytes each. */
  nodes: Uint8Array;
  accounts: Uint8Array;
  /** The 40 hex digits of every account as the dump wrote them (their letter case kept). */
  accountText: Uint8Array;
  /** Amounts above 2^53 - 1 (the others are in `smallAmounts`). */
  amounts: (bigint | undefined)[];
  /** Amounts as numbers, -1 where `amounts` holds a bigint. */
  smallAmounts: Float64Array;
  treeIndices: Uint32Array;
};

function allocateParsedDump(n: number): ParsedDump {
  return {
    n,
    nodes: new Uint8Array(32 * (2 * n - 1)),
    accounts: new Uint8Array(20 * n),
    accountText: new Uint8Array(40 * n),
    amounts: new Array<bigint | undefined>(n),
    smallAmounts: new Float64Array(n).fill(-1),
    treeIndices: new Uint32Array(n),
  };
}

function isLeafPosition(position: unknown, n: number): boolean {
  return (
    typeof position === 'number' && Number.isInteger(position) && position >= n - 1 && position <= 2 * n - 2
  );
}

/** Recomputes every leaf from its value and every internal node from its children. */
function verifyParsedDump(parsed: ParsedDump): DistributionTree {
  const { n, nodes, accounts, accountText, amounts, smallAmounts, treeIndices } = parsed;
  const fail = (field: string, message: string): never => {
    throw new DomainInputError({ field, message });
  };
  const leafArea = HEAP;
  const treeArea = leafArea + 64 * n;
  const engine = createKeccakEngine(treeArea + nodes.length);
  const memory = engine.bytes();
  memory.set(nodes, treeArea);
  const memoryView = new DataView(memory.buffer);
  const words = new Uint32Array(memory.buffer);
  const accountWords = new Uint32Array(accounts.buffer);
  for (let k = 0; k < n; k++) {
    const encoding = (leafArea >>> 2) + 16 * k;
    for (let w = 0; w < 5; w++) words[encoding + 3 + w] = accountWords[5 * k + w];
    const small = smallAmounts[k];
    if (small >= 0) writeSmallUint256(memoryView, leafArea + 64 * k + 32, small);
    else writeUint256(memoryView, leafArea + 64 * k + 32, amounts[k]!);
  }
  const index = indexAccounts(accounts, n, 'values', (k) => `values[${k}].value[0]`);
  engine.leaves(leafArea, n);
  for (let k = 0; k < n; k++) {
    const leaf = (leafArea >>> 2) + 8 * k;
    const node = (treeArea >>> 2) + 8 * treeIndices[k];
    for (let w = 0; w < 8; w++) {
      if (words[leaf + w] !== words[node + w]) {
        fail(`values[${k}]`, `leaf hash does not match tree[${treeIndices[k]}]`);
      }
    }
  }
  const bad = engine.nodes(treeArea, 0, n - 2, 1);
  if (bad !== -1) fail(`tree[${bad}]`, 'is not the hash of its children');
  return createTree(nodes, treeIndices, accounts, accountText, amounts, smallAmounts, index);
}

/**
 * Reads `{"format":"standard-v1","leafEncoding":["address","uint256"],"tree":[...],"values":[...]}`
 * (any JSON whitespace, the package's key order) straight from bytes; undefined on anything else.
 * The cursor `p` is a local threaded through small module-level helpers (a captured, mutated
 * variable would cost a context access per byte).
 */
function readDumpBytes(bytes: Uint8Array): ParsedDump | undefined {
  let p = 0;
  p = sequence(bytes, p, DUMP_HEAD);
  if (p < 0) return undefined;

  // Tree nodes into a buffer that doubles as needed.
  let nodes = new Uint8Array(32 * 1024);
  let treeLength = 0;
  for (;;) {
    p = skipWs(bytes, p);
    if (bytes[p] !== 0x22 || bytes[p + 1] !== 0x30 || bytes[p + 2] !== 0x78 || bytes[p + 67] !== 0x22) {
      return undefined;
    }
    if (32 * (treeLength + 1) > nodes.length) {
      const grown = new Uint8Array(2 * nodes.length);
      grown.set(nodes);
      nodes = grown;
    }
    if (!decodeHex(bytes, p + 3, nodes, 32 * treeLength, 32, LOWER_HEX_VALUE)) return undefined;
    treeLength++;
    p = skipWs(bytes, p + 68);
    const next = bytes[p++];
    if (next === 0x2c) continue;
    if (next === 0x5d) break;
    return undefined;
  }
  if (treeLength % 2 === 0 || treeLength > 2 * MAX_LEAVES - 1) return undefined;
  const n = (treeLength + 1) / 2;
  const parsed = allocateParsedDump(n);
  parsed.nodes.set(nodes.subarray(0, 32 * treeLength));
  nodes = new Uint8Array(0);

  p = sequence(bytes, p, DUMP_VALUES);
  if (p < 0) return undefined;
  const taken = new Uint8Array(n);
  for (let k = 0; ; k++) {
    if (k >= n) return undefined;
    p = sequence(bytes, p, VALUE_HEAD);
    if (p < 0) return undefined;
    // "0x<40 hex>"
    p = skipWs(bytes, p);
    if (bytes[p] !== 0x22 || bytes[p + 1] !== 0x30 || bytes[p + 2] !== 0x78 || bytes[p + 43] !== 0x22) {
      return undefined;
    }
    if (!decodeHex(bytes, p + 3, parsed.accounts, 20 * k, 20, HEX_VALUE)) return undefined;
    parsed.accountText.set(bytes.subarray(p + 3, p + 43), 40 * k);
    p = punctuation(bytes, punctuation(bytes, p + 44, 0x2c), 0x22);
    if (p < 0) return undefined;
    // "<1 to 78 digits>"
    const start = p;
    let small = 0;
    for (let d = bytes[p] - 48; d >= 0 && d <= 9; d = bytes[++p] - 48) small = small * 10 + d;
    const digits = p - start;
    if (digits < 1 || digits > 78 || bytes[p++] !== 0x22) return undefined;
    if (digits > 15) {
      const amount = BigInt(String.fromCharCode(...bytes.subarray(start, start + digits)));
      if (amount > MAX_UINT256) return undefined;
      parsed.amounts[k] = amount;
    } else {
      parsed.smallAmounts[k] = small;
    }
    p = sequence(bytes, p, VALUE_MIDDLE_TOKENS);
    if (p < 0) return undefined;
    // treeIndex: a JSON integer without sign, fraction or exponent
    p = skipWs(bytes, p);
    const first = p;
    let position = 0;
    for (let d = bytes[p] - 48; d >= 0 && d <= 9 && p - first < 10; d = bytes[++p] - 48)
      position = position * 10 + d;
    if (p === first || (bytes[first] === 0x30 && p - first > 1)) return undefined;
    if (!isLeafPosition(position, n) || taken[position - (n - 1)] === 1) return undefined;
    taken[position - (n - 1)] = 1;
    parsed.treeIndices[k] = position;
    p = punctuation(bytes, p, 0x7d);
    if (p < 0) return undefined;
    p = skipWs(bytes, p);
    const next = bytes[p++];
    if (next === 0x2c) continue;
    if (next === 0x5d && k === n - 1) break;
    return undefined;
  }
  p = punctuation(bytes, p, 0x7d);
  if (p < 0) return undefined;
  return skipWs(bytes, p) === bytes.length ? parsed : undefined;
}

function skipWs(bytes: Uint8Array, p: number): number {
  for (let c = bytes[p]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = bytes[++p]);
  return p;
}

/** Skips whitespace and one `char`: the position after it, or -1. */
function punctuation(bytes: Uint8Array, p: number, char: number): number {
  if (p < 0) return -1;
  p = skipWs(bytes, p);
  return bytes[p] === char ? p + 1 : -1;
}

/** Skips whitespace and the exact ASCII `text` (a JSON string with its quotes, or punctuation). */
function literal(text: string): (bytes: Uint8Array, p: number) => number {
  const expected = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return (bytes, p) => {
    if (p < 0) return -1;
    p = skipWs(bytes, p);
    for (let j = 0; j < expected.length; j++) if (bytes[p + j] !== expected[j]) return -1;
    return p + expected.length;
  };
}

/** Runs `parts` in order from `p`: the position after the last, or -1. */
function sequence(
  bytes: Uint8Array,
  p: number,
  parts: readonly ((bytes: Uint8Array, p: number) => number)[],
): number {
  for (let j = 0; j < parts.length && p >= 0; j++) p = parts[j](bytes, p);
  return p;
}

const tokens = (...texts: string[]) => texts.map(literal);
const DUMP_HEAD = tokens('{', '"format"', ':', '"standard-v1"', ',', '"leafEncoding"', ':', '[', '"address"');
DUMP_HEAD.push(...tokens(',', '"uint256"', ']', ',', '"tree"', ':', '['));
const DUMP_VALUES = tokens(',', '"values"', ':', '[');
const VALUE_HEAD = tokens('{', '"value"', ':', '[');
const VALUE_MIDDLE_TOKENS = tokens(']', ',', '"treeIndex"', ':');

/** `count` bytes from `2 * count` hex digits at `bytes[from..]`; false on a non-digit. */
function decodeHex(
  bytes: Uint8Array,
  from: number,
  out: Uint8Array,
  offset: number,
  count: number,
  table: Int8Array,
): boolean {
  for (let j = 0; j < count; j++, from += 2) {
    const hi = table[bytes[from]];
    const lo = table[bytes[from + 1]];
    if ((hi | lo) < 0) return false;
    out[offset + j] = (hi << 4) | lo;
  }
  return true;
}

/**
 * EIP-55 checksummed forms of `accounts` (0x + 40 hex digits, any letter case), in order: viem's
 * `getAddress` for a whole list (~25 us each in JS) with the batch WebAssembly keccak, DUMP_BATCH
 * at a time. Throws a `DomainInputError` naming the first entry that is not an address.
 */
export function checksumAddresses(accounts: readonly string[]): Hex[] {
  const engine = utilEngine();
  const out = new Array<Hex>(accounts.length);
  for (let from = 0; from < accounts.length; from += DUMP_BATCH) {
    const count = Math.min(DUMP_BATCH, accounts.length - from);
    const memory = engine.bytes();
    for (let j = 0; j < count; j++) {
      if (!parseAddress(accounts[from + j], memory, HEAP + 20 * j)) {
        throw new DomainInputError({
          field: `accounts[${from + j}]`,
          message: 'must be a 0x-prefixed 20-byte hex address',
        });
      }
    }
    const dst = HEAP + 20 * DUMP_BATCH;
    engine.checksums(HEAP, count, dst);
    const text = ascii(engine.bytes(), dst, dst + CHECKSUM_STRIDE * count);
    for (let j = 0; j < count; j++)
      out[from + j] = text.slice(CHECKSUM_STRIDE * j, CHECKSUM_STRIDE * (j + 1)) as Hex;
  }
  return out;
}

/** The StandardMerkleTree leaf of `(account, amount)`: keccak256(keccak256(abi.encode(address, uint256))). */
export function hashLeaf(account: string, amount: bigint): Hex {
  const engine = utilEngine();
  const memory = engine.bytes();
  memory.fill(0, HEAP, HEAP + 64);
  if (!parseAddress(account, memory, HEAP + 12)) {
    throw new DomainInputError({ field: 'account', message: 'must be a 0x-prefixed 20-byte hex address' });
  }
  if (typeof amount !== 'bigint' || amount < 0n || amount > MAX_UINT256) {
    throw new DomainInputError({ field: 'amount', message: 'must be a bigint in [0, 2^256)' });
  }
  writeUint256(new DataView(memory.buffer), HEAP + 32, amount);
  engine.leaves(HEAP, 1);
  return hexOfNodes(engine, memory, HEAP, 1)[0];
}

/** True when `proof` leads from the leaf of `(account, amount)` to `root` (the package's `verify`). */
export function verifyDistributionProof(parameters: {
  root: string;
  account: string;
  amount: bigint;
  proof: readonly string[];
}): boolean {
  const { root, account, amount, proof } = parameters;
  const engine = utilEngine();
  const memory = engine.bytes();
  const leaf = hashLeaf(account, amount);
  const current = HEAP;
  const pair = HEAP + 64;
  parseNode(leaf, memory, current);
  for (const sibling of proof) {
    if (!parseNode(typeof sibling === 'string' ? sibling.toLowerCase() : sibling, memory, current + 32))
      return false;
    const swap = compareBytes(memory, current, current + 32) > 0;
    memory.copyWithin(pair + (swap ? 32 : 0), current, current + 32);
    memory.copyWithin(pair + (swap ? 0 : 32), current + 32, current + 64);
    engine.hash64(pair, current, 1);
  }
  return hexOfNodes(engine, memory, current, 1)[0] === (typeof root === 'string' ? root.toLowerCase() : root);
}

// ---------------------------------------------------------------------------------------------

/**
 * The accounts as the dump writes them: the input strings (`0x` + 40 digits) of a built tree, or
 * the 40 digits of each value as ASCII (40 bytes per account) of a loaded dump.
 */
type AccountText = readonly string[] | Uint8Array;

type TreeInternals = {
  nodes: Uint8Array;
  treeIndices: Uint32Array;
  accounts: Uint8Array;
  accountText: AccountText;
  amounts: readonly (bigint | undefined)[];
  smallAmounts: Float64Array;
  index: AccountIndex;
};

const internals = new WeakMap<DistributionTree, TreeInternals>();

/** `a` alone in its own ArrayBuffer (transferable without taking anything else along), else a copy. */
function own<A extends Uint8Array | Uint32Array | Int32Array | Float64Array>(a: A): A {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer
    ? a
    : (a.slice() as A);
}

/**
 * The parts of a tree this module built or loaded (see `DistributionTreeParts`). The arrays are the
 * tree's own where they can be (a tree built by `buildDistributionTree` has its nodes in WebAssembly
 * memory: those are copied): transferring them leaves this tree unusable.
 */
export function distributionTreeParts(tree: DistributionTree): DistributionTreeParts {
  const t = internals.get(tree);
  if (t === undefined) throw new TypeError('not a tree of core/domain/merkle.ts');
  const n = t.treeIndices.length;
  let accountText: Uint8Array;
  if (Array.isArray(t.accountText)) {
    const strings = t.accountText as readonly string[];
    accountText = new Uint8Array(40 * n);
    for (let k = 0; k < n; k++) {
      const account = strings[k];
      for (let b = 0; b < 40; b++) accountText[40 * k + b] = account.charCodeAt(2 + b);
    }
  } else {
    accountText = own(t.accountText as Uint8Array);
  }
  const bigAmounts: [number, bigint][] = [];
  for (let k = 0; k < n; k++) if (t.smallAmounts[k] < 0) bigAmounts.push([k, t.amounts[k]!]);
  return {
    nodes: own(t.nodes),
    treeIndices: own(t.treeIndices),
    accounts: own(t.accounts),
    accountText,
    smallAmounts: own(t.smallAmounts),
    bigAmounts,
    slots: own(t.index.slots),
  };
}

/** The buffers of `parts`, for `postMessage`'s transfer list. */
export function transferListOf(parts: DistributionTreeParts): ArrayBuffer[] {
  const { nodes, treeIndices, accounts, accountText, smallAmounts, slots } = parts;
  return [nodes, treeIndices, accounts, accountText, smallAmounts, slots].map((a) => a.buffer as ArrayBuffer);
}

/** The tree whose parts these are, in constant time (the parts are trusted: they come from a tree). */
export function distributionTreeFromParts(parts: DistributionTreeParts): DistributionTree {
  const n = parts.treeIndices.length;
  const amounts = new Array<bigint | undefined>(n);
  for (const [k, amount] of parts.bigAmounts) amounts[k] = amount;
  const index = accountIndexOf(parts.accounts, n, parts.slots);
  return createTree(
    parts.nodes,
    parts.treeIndices,
    parts.accounts,
    parts.accountText,
    amounts,
    parts.smallAmounts,
    index,
  );
}

function createTree(
  nodes: Uint8Array,
  treeIndices: Uint32Array,
  accounts: Uint8Array,
  accountText: AccountText,
  amounts: readonly (bigint | undefined)[],
  smallAmounts: Float64Array,
  index: AccountIndex,
): DistributionTree {
  const n = treeIndices.length;
  const engine = utilEngine();
  const nodeWords = new Uint32Array(nodes.buffer, nodes.byteOffset, nodes.length >>> 2);
  const amountAt = (k: number): bigint => (smallAmounts[k] >= 0 ? BigInt(smallAmounts[k]) : amounts[k]!);
  const root = hexOfNodeBytes(nodes, [0])[0];
  const checkIndex = (k: number) => {
    if (!Number.isInteger(k) || k < 0 || k >= n) {
      throw new DomainInputError({ field: 'index', message: `must be an entry index in [0, ${n - 1}]` });
    }
  };
  const lookup = (account: string) => {
    const scratch = engine.bytes();
    if (!parseAddress(account, scratch, HEAP)) return -1;
    return index.find(scratch, HEAP);
  };
  const checksummed = (from: number, count: number): string => {
    const memory = engine.bytes();
    const dst = HEAP + 20 * DUMP_BATCH;
    memory.set(accounts.subarray(20 * from, 20 * (from + count)), HEAP);
    engine.checksums(HEAP, count, dst);
    return ascii(memory, dst, dst + CHECKSUM_STRIDE * count);
  };

  /** The tree's nodes as JSON items; `fresh`: each chunk a copy, else a view valid until the next. */
  function* treeChunks(fresh: boolean): Generator<Uint8Array, void, undefined> {
    const total = nodes.length / 32;
    for (let from = 0; from < total; from += DUMP_BATCH) {
      const count = Math.min(DUMP_BATCH, total - from);
      const memory = engine.bytes();
      const dst = HEAP + 32 * DUMP_BATCH;
      memory.set(nodes.subarray(32 * from, 32 * (from + count)), HEAP);
      engine.hexNodes(HEAP, count, dst);
      // The last node has no trailing comma.
      const end = dst + HEX_NODE_STRIDE * count - (from + count === total ? 1 : 0);
      yield fresh ? memory.slice(dst, end) : memory.subarray(dst, end);
    }
  }

  let scratch: Uint8Array | undefined;

  /** Values `from..from+count-1` as JSON items, written byte by byte (no per-value strings). */
  function valueChunk(from: number, count: number, fresh: boolean): Uint8Array {
    const size = count * MAX_VALUE_ITEM_BYTES;
    if (!fresh) scratch ??= new Uint8Array(DUMP_BATCH * MAX_VALUE_ITEM_BYTES);
    const out = fresh ? new Uint8Array(size) : scratch!;
    const strings = Array.isArray(accountText) ? (accountText as readonly string[]) : undefined;
    const bytes = accountText as Uint8Array;
    let at = 0;
    for (let j = 0; j < count; j++) {
      const k = from + j;
      if (k !== 0) out[at++] = 0x2c; // ,
      for (let b = 0; b < VALUE_OPEN.length; b++) out[at++] = VALUE_OPEN[b];
      if (strings !== undefined) {
        const account = strings[k];
        for (let b = 2; b < 42; b++) out[at++] = account.charCodeAt(b);
      } else {
        for (let b = 40 * k, end = b + 40; b < end; b++) out[at++] = bytes[b];
      }
      for (let b = 0; b < VALUE_MIDDLE.length; b++) out[at++] = VALUE_MIDDLE[b];
      const small = smallAmounts[k];
      at = small >= 0 ? writeDigits(out, at, small) : writeAscii(out, at, amounts[k]!.toString());
      for (let b = 0; b < VALUE_INDEX.length; b++) out[at++] = VALUE_INDEX[b];
      at = writeDigits(out, at, treeIndices[k]);
      out[at++] = 0x7d; // }
    }
    return out.subarray(0, at);
  }

  function* chunks(fresh: boolean): Generator<Uint8Array, void, undefined> {
    yield encoder.encode('{"format":"standard-v1","leafEncoding":["address","uint256"],"tree":[');
    yield* treeChunks(fresh);
    yield encoder.encode('],"values":[');
    for (let from = 0; from < n; from += DUMP_BATCH) {
      yield valueChunk(from, Math.min(DUMP_BATCH, n - from), fresh);
    }
    yield encoder.encode(']}');
  }

  const tree: DistributionTree = {
    root,
    length: n,
    nodes,
    treeIndices,
    account(k) {
      checkIndex(k);
      return checksummed(k, 1) as Hex;
    },
    amount(k) {
      checkIndex(k);
      return amountAt(k);
    },
    leafIndexOf: lookup,
    leafHash(k) {
      checkIndex(k);
      return hexOfNodeBytes(nodes, [treeIndices[k]])[0];
    },
    proof(indexOrAccount) {
      let k: number;
      if (typeof indexOrAccount === 'string') {
        k = lookup(indexOrAccount);
        if (k === -1) throw new DomainInputError({ field: 'account', message: 'is not in the tree' });
      } else {
        checkIndex(indexOrAccount);
        k = indexOrAccount;
      }
      // Copy the siblings, leaf to root, straight into the engine and hex them in one call.
      const words = utilWords();
      const source = nodeWords;
      let count = 0;
      for (let i = treeIndices[k]; i > 0; i = (i - 1) >> 1, count++) {
        const from = 8 * (i % 2 === 1 ? i + 1 : i - 1);
        const to = (HEAP >>> 2) + 8 * count;
        for (let w = 0; w < 8; w++) words[to + w] = source[from + w];
      }
      return count === 0 ? [] : hexOfNodes(engine, engine.bytes(), HEAP, count);
    },
    dump() {
      const hashes: Hex[] = [];
      for (let from = 0; from < nodes.length / 32; from += DUMP_BATCH) {
        const count = Math.min(DUMP_BATCH, nodes.length / 32 - from);
        const memory = engine.bytes();
        memory.set(nodes.subarray(32 * from, 32 * (from + count)), HEAP);
        for (const hash of hexOfNodes(engine, memory, HEAP, count)) hashes.push(hash);
      }
      const values: DistributionTreeDump['values'] = [];
      for (let from = 0; from < n; from += DUMP_BATCH) {
        const count = Math.min(DUMP_BATCH, n - from);
        const digits = Array.isArray(accountText)
          ? undefined
          : decoder.decode((accountText as Uint8Array).subarray(40 * from, 40 * (from + count)));
        for (let j = 0; j < count; j++) {
          const address = (
            digits === undefined
              ? (accountText as readonly string[])[from + j]
              : `0x${digits.slice(40 * j, 40 * (j + 1))}`
          ) as Hex;
          values.push({ value: [address, amountAt(from + j).toString()], treeIndex: treeIndices[from + j] });
        }
      }
      return { format: 'standard-v1', leafEncoding: ['address', 'uint256'], tree: hashes, values };
    },
    dumpChunks: () => chunks(true),
    writeDump(write) {
      for (const chunk of chunks(false)) write(chunk);
    },
  };
  internals.set(tree, { nodes, treeIndices, accounts, accountText, amounts, smallAmounts, index });
  return tree;
}

const encoder = new TextEncoder();
const VALUE_OPEN = encoder.encode('{"value":["0x');
const VALUE_MIDDLE = encoder.encode('","');
const VALUE_INDEX = encoder.encode('"],"treeIndex":');
/** `,` + the pieces above + 40 address digits + 78 amount digits + 10 index digits + `}`. */
const MAX_VALUE_ITEM_BYTES = 1 + 13 + 40 + 3 + 78 + 15 + 10 + 1;

/** ASCII of 00..99: digits `2i`, `2i + 1` spell `i`. */
const DIGIT_PAIRS = Uint8Array.from(
  { length: 200 },
  (_, j) => 48 + (j % 2 === 0 ? (j / 20) | 0 : (j >> 1) % 10),
);

/** Decimal digits of a safe non-negative integer at `out[at..]`; returns the new end. */
function writeDigits(out: Uint8Array, at: number, value: number): number {
  if (value >= 100_000_000) {
    // High part, then the low 8 digits zero-padded; integer maths on each half.
    const high = Math.floor(value / 100_000_000);
    at = writeDigits(out, at, high);
    writePairs(out, at + 8, value - high * 100_000_000, 4);
    return at + 8;
  }
  const digits =
    value < 10_000
      ? value < 100
        ? value < 10
          ? 1
          : 2
        : value < 1000
          ? 3
          : 4
      : value < 1_000_000
        ? value < 100_000
          ? 5
          : 6
        : value < 10_000_000
          ? 7
          : 8;
  const end = at + digits;
  if (digits % 2 === 1) {
    const rest = (value / 10) | 0;
    out[end - 1] = 48 + value - 10 * rest;
    writePairs(out, end - 1, rest, digits >> 1);
  } else {
    writePairs(out, end, value, digits >> 1);
  }
  return end;
}

/** The last `2 * pairs` decimal digits of `value` (< 10^8), zero-padded, ending before `out[end]`. */
function writePairs(out: Uint8Array, end: number, value: number, pairs: number): void {
  let v = value;
  for (let j = end - 2; pairs > 0; pairs--, j -= 2) {
    const next = (v / 100) | 0;
    const pair = 2 * (v - 100 * next);
    out[j] = DIGIT_PAIRS[pair];
    out[j + 1] = DIGIT_PAIRS[pair + 1];
    v = next;
  }
}

function writeAscii(out: Uint8Array, at: number, text: string): number {
  for (let j = 0; j < text.length; j++) out[at++] = text.charCodeAt(j);
  return at;
}
const decoder = new TextDecoder();

function ascii(memory: Uint8Array, from: number, to: number): string {
  return decoder.decode(memory.subarray(from, to));
}

let util: KeccakEngine | undefined;
let utilView: Uint32Array | undefined;

/** 32-bit view of the shared engine's memory (which never grows, so the view stays valid). */
function utilWords(): Uint32Array {
  const buffer = utilEngine().memory.buffer;
  if (utilView?.buffer !== buffer) utilView = new Uint32Array(buffer);
  return utilView;
}

/** A shared small engine for proofs, checksums and dump chunks (fixed size: never grows). */
function utilEngine(): KeccakEngine {
  util ??= createKeccakEngine(HEAP + (32 + HEX_NODE_STRIDE) * DUMP_BATCH);
  return util;
}

/** Lowercase hex of `count` 32-byte nodes already in engine memory at `src`. */
function hexOfNodes(engine: KeccakEngine, memory: Uint8Array, src: number, count: number): Hex[] {
  const dst = HEAP + 32 * DUMP_BATCH;
  engine.hexNodes(src, count, dst);
  const text = ascii(memory, dst, dst + HEX_NODE_STRIDE * count);
  const out = new Array<Hex>(count);
  for (let j = 0; j < count; j++)
    out[j] = text.slice(HEX_NODE_STRIDE * j + 1, HEX_NODE_STRIDE * j + 67) as Hex;
  return out;
}

/** Lowercase hex of the nodes at `positions` of a flat `nodes` buffer (at most DUMP_BATCH). */
function hexOfNodeBytes(nodes: Uint8Array, positions: readonly number[]): Hex[] {
  const engine = utilEngine();
  const memory = engine.bytes();
  for (let j = 0; j < positions.length; j++) {
    const p = 32 * positions[j];
    memory.set(nodes.subarray(p, p + 32), HEAP + 32 * j);
  }
  return hexOfNodes(engine, memory, HEAP, positions.length);
}

// ---------------------------------------------------------------------------------------------
// Parsing and encoding.

/** Hex digit value by UTF-16 code unit (any case), -1 for anything else. */
const HEX_VALUE = new Int8Array(65_536).fill(-1);
/** The same for lowercase digits only (tree nodes, as the package writes them). */
const LOWER_HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX_VALUE[48 + c] = LOWER_HEX_VALUE[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX_VALUE[97 + c] = LOWER_HEX_VALUE[97 + c] = 10 + c;
  HEX_VALUE[65 + c] = 10 + c;
}

/** `0x` + 40 hex digits (any case, as viem's non-strict `isAddress`) into `out[offset..+20)`. */
function parseAddress(value: unknown, out: Uint8Array, offset: number): boolean {
  if (
    typeof value !== 'string' ||
    value.length !== 42 ||
    value.charCodeAt(0) !== 48 ||
    value.charCodeAt(1) !== 120
  ) {
    return false;
  }
  for (let j = 0; j < 20; j++) {
    const hi = HEX_VALUE[value.charCodeAt(2 + 2 * j)];
    const lo = HEX_VALUE[value.charCodeAt(3 + 2 * j)];
    if ((hi | lo) < 0) return false;
    out[offset + j] = (hi << 4) | lo;
  }
  return true;
}

/**
 * `parseAddress` of entry `k` into `out[20k..+20)`, keeping its 40 hex digits as given (their
 * letter case) in `text[40k..+40)`: the dump writes them back unchanged, as the package does.
 */
function parseAccount(value: unknown, out: Uint8Array, text: Uint8Array, k: number): boolean {
  if (
    typeof value !== 'string' ||
    value.length !== 42 ||
    value.charCodeAt(0) !== 48 ||
    value.charCodeAt(1) !== 120
  ) {
    return false;
  }
  for (let j = 0, t = 40 * k; j < 20; j++, t += 2) {
    const a = value.charCodeAt(2 + 2 * j);
    const b = value.charCodeAt(3 + 2 * j);
    const hi = HEX_VALUE[a];
    const lo = HEX_VALUE[b];
    if ((hi | lo) < 0) return false;
    out[20 * k + j] = (hi << 4) | lo;
    text[t] = a;
    text[t + 1] = b;
  }
  return true;
}

/** `0x` + 64 lowercase hex digits (the package always writes lowercase) into `out[offset..+32)`. */
function parseNode(value: unknown, out: Uint8Array, offset: number): boolean {
  if (
    typeof value !== 'string' ||
    value.length !== 66 ||
    value.charCodeAt(0) !== 48 ||
    value.charCodeAt(1) !== 120
  ) {
    return false;
  }
  for (let j = 0; j < 32; j++) {
    const a = value.charCodeAt(2 + 2 * j);
    const b = value.charCodeAt(3 + 2 * j);
    if ((a >= 65 && a <= 70) || (b >= 65 && b <= 70)) return false;
    const hi = HEX_VALUE[a];
    const lo = HEX_VALUE[b];
    if ((hi | lo) < 0) return false;
    out[offset + j] = (hi << 4) | lo;
  }
  return true;
}

const DECIMAL = /^[0-9]{1,78}$/;

function parseAmount(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value >= 0n && value <= MAX_UINT256 ? value : undefined;
  if (typeof value !== 'string' || !DECIMAL.test(value)) return undefined;
  const amount = BigInt(value);
  return amount <= MAX_UINT256 ? amount : undefined;
}

/**
 * `amount` as 32 big-endian bytes at `offset` (which must be zero); returns it as a number when it
 * is a safe integer, else -1 (the dump writer then formats the bigint).
 */
function writeUint256(view: DataView, offset: number, amount: bigint): number {
  if (amount <= MAX_SAFE) {
    const v = Number(amount);
    writeSmallUint256(view, offset, v);
    return v;
  }
  let v = amount;
  for (let j = offset + 28; v > 0n; j -= 4) {
    view.setUint32(j, Number(v & 0xffffffffn));
    v >>= 32n;
  }
  return -1;
}

/** A safe non-negative integer as the last 8 of 32 big-endian bytes at `offset`. */
function writeSmallUint256(view: DataView, offset: number, value: number): void {
  view.setUint32(offset + 24, Math.floor(value / 4_294_967_296));
  view.setUint32(offset + 28, value >>> 0);
}

function compareBytes(memory: Uint8Array, a: number, b: number): number {
  for (let j = 0; j < 32; j++) {
    const d = memory[a + j] - memory[b + j];
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Entry indices ordered by leaf hash ascending (the package's `sortLeaves`): a stable two-pass
 * radix sort on the first 4 bytes, then runs with equal prefixes by all 32 bytes. Exported for
 * tests: the `n` hashes are 32 bytes each at `memory[base + 32k]`.
 */
export function sortByHash(memory: Uint8Array, base: number, n: number): Uint32Array {
  const keys = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const p = base + 32 * k;
    keys[k] = ((memory[p] << 24) | (memory[p + 1] << 16) | (memory[p + 2] << 8) | memory[p + 3]) >>> 0;
  }
  let order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  const full = (a: number, b: number) => compareBytes(memory, base + 32 * a, base + 32 * b);
  if (n < 256) return order.sort(full);
  // Three stable passes of 11, 11 and 10 bits (2048 buckets stay in the L1 cache); the keys travel
  // with the indices so every pass reads sequentially.
  let sortedKeys = keys.slice();
  let scratch = new Uint32Array(n);
  let scratchKeys = new Uint32Array(n);
  const counts = new Uint32Array(2049);
  for (const shift of [0, 11, 22]) {
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[((sortedKeys[k] >>> shift) & 0x7ff) + 1]++;
    for (let b = 1; b <= 2048; b++) counts[b] += counts[b - 1];
    for (let k = 0; k < n; k++) {
      const key = sortedKeys[k];
      const to = counts[(key >>> shift) & 0x7ff]++;
      scratch[to] = order[k];
      scratchKeys[to] = key;
    }
    [order, scratch] = [scratch, order];
    [sortedKeys, scratchKeys] = [scratchKeys, sortedKeys];
  }
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && sortedKeys[j] === sortedKeys[i]) j++;
    if (j - i > 1) order.set(Array.from(order.subarray(i, j)).sort(full), i);
    i = j;
  }
  return order;
}

type AccountIndex = {
  find(bytes: Uint8Array, offset: number): number;
  /** The open-addressing table (entry index + 1 per slot, 0 = empty; a power-of-two length). */
  readonly slots: Int32Array;
};

/**
 * Open-addressing hash table over the 20-byte accounts (no per-account strings or Map entries),
 * hashed and compared as five 32-bit words; throws on the first account seen twice.
 */
function indexAccounts(
  accounts: Uint8Array,
  n: number,
  field: string,
  fieldOf: (k: number) => string = (k) => `${field}[${k}].account`,
): AccountIndex {
  let bits = 4;
  while (1 << bits < 2 * n) bits++;
  const mask = (1 << bits) - 1;
  const slots = new Int32Array(1 << bits);
  const words = new Uint32Array(accounts.buffer, accounts.byteOffset, 5 * n);
  for (let k = 0; k < n; k++) {
    const w = 5 * k;
    let s = hashWords(words[w], words[w + 1], words[w + 2], words[w + 3], words[w + 4]) & mask;
    for (let slot = slots[s]; slot !== 0; s = (s + 1) & mask, slot = slots[s]) {
      const v = 5 * (slot - 1);
      if (
        words[v] === words[w] &&
        words[v + 1] === words[w + 1] &&
        words[v + 2] === words[w + 2] &&
        words[v + 3] === words[w + 3] &&
        words[v + 4] === words[w + 4]
      ) {
        throw new DomainInputError({ field: fieldOf(k), message: `duplicate of ${fieldOf(slot - 1)}` });
      }
    }
    slots[s] = k + 1;
  }
  return accountIndexOf(accounts, n, slots);
}

/** The lookup over a table `indexAccounts` built for these `accounts`. */
function accountIndexOf(accounts: Uint8Array, n: number, slots: Int32Array): AccountIndex {
  const mask = slots.length - 1;
  const words = new Uint32Array(accounts.buffer, accounts.byteOffset, 5 * n);
  const find = (bytes: Uint8Array, offset: number) => {
    const key = new Uint32Array(5);
    new Uint8Array(key.buffer).set(bytes.subarray(offset, offset + 20));
    const [a, b, c, d, e] = key;
    for (let s = hashWords(a, b, c, d, e) & mask; ; s = (s + 1) & mask) {
      const slot = slots[s];
      if (slot === 0) return -1;
      const v = 5 * (slot - 1);
      if (
        words[v] === a &&
        words[v + 1] === b &&
        words[v + 2] === c &&
        words[v + 3] === d &&
        words[v + 4] === e
      )
        return slot - 1;
    }
  };
  return { find, slots };
}

function hashWords(a: number, b: number, c: number, d: number, e: number): number {
  let h = Math.imul(a ^ 0x811c9dc5, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ e, 0x85ebca6b);
  return h ^ (h >>> 16);
}
