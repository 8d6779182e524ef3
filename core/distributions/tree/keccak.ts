/**
 * Batch keccak-256 for the Merkle distribution tree: a small WebAssembly module assembled here
 * from bytes (no toolchain, no file), with keccak-f[1600] unrolled over 64-bit locals. Every
 * export works on a whole batch in linear memory, so a million hashes cost a handful of calls
 * from JavaScript instead of a million (that per-call overhead is what makes `hash-wasm` 3-4x
 * slower here). Pure: no I/O; the memory is owned by whoever creates the engine.
 *
 * Every input is a single keccak block (< 136 bytes), so each hash is one permutation.
 */

/** Where the engine's fixed areas live in linear memory; batches start at `HEAP`. */
export const KECCAK_LAYOUT = {
  /** 24 round constants, 192 bytes. */
  roundConstants: 0,
  /** 32 bytes of scratch. */
  scratch: 256,
  /** 256 x 2 ASCII bytes: the two lowercase hex digits of each byte value. */
  hexTable: 512,
  /** First free byte for callers' batches. */
  heap: 1024,
} as const;

/** Bytes written by `hexNodes` per node: `"0x` + 64 hex digits + `",`. */
export const HEX_NODE_STRIDE = 69;
/** Bytes written by `checksums` per address: `0x` + 40 checksummed hex digits. */
export const CHECKSUM_STRIDE = 42;

export type KeccakEngine = {
  readonly memory: WasmMemory;
  /** Fresh view of the whole memory (the old one is detached after `ensureCapacity` grows it). */
  bytes(): Uint8Array;
  /** Grows the memory so that `[0, byteLength)` is addressable. */
  ensureCapacity(byteLength: number): void;
  /**
   * In place: reads `n` 64-byte ABI encodings at `ptr + 64k` and writes the double hash
   * `keccak256(keccak256(enc))` (the StandardMerkleTree leaf) at `ptr + 32k`.
   */
  leaves(ptr: number, n: number): void;
  /**
   * Internal nodes `last` down to `first` of a tree laid out at `tree` (node `i` at `tree + 32i`):
   * node `i` = keccak256(sorted(node 2i+1, node 2i+2)). With `verify` = 1 nothing is written and the
   * first node that differs from the recomputed hash is returned; -1 when all match (or `write` mode).
   */
  nodes(tree: number, first: number, last: number, verify: 0 | 1): number;
  /** `n` keccak256 of 64-byte inputs at `src + 64k` into `dst + 32k`. */
  hash64(src: number, dst: number, n: number): void;
  /** `n` keccak256 of 32-byte inputs at `src + 32k` into `dst + 32k`. */
  hash32(src: number, dst: number, n: number): void;
  /** `n` nodes at `src + 32k` as JSON array items `"0x…",` at `dst + 69k` (ASCII, lowercase). */
  hexNodes(src: number, n: number, dst: number): void;
  /** `n` 20-byte addresses at `src + 20k` as EIP-55 checksummed `0x…` at `dst + 42k` (ASCII). */
  checksums(src: number, n: number, dst: number): void;
};

const PAGE = 65_536;

/**
 * The few WebAssembly APIs used here (tsconfig has no DOM lib and @types/node 20 declares the
 * namespace without them).
 */
type WasmMemory = { readonly buffer: ArrayBuffer; grow(pages: number): number };
type WasmApi = {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Instance: new (module: object, imports: object) => { exports: unknown };
};
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;

/**
 * Items per call into WebAssembly. V8 first runs a module with its baseline compiler and swaps in
 * the optimised code (about 10x faster here) only between calls, so one giant call would run
 * unoptimised to the end; slices let the batch pick up the optimised code as soon as it is ready.
 */
const CHUNK = 4096;

function chunked(n: number, run: (start: number, count: number) => unknown): void {
  for (let start = 0; start < n; start += CHUNK) run(start, Math.min(CHUNK, n - start));
}

/** Creates an engine with its own memory of at least `byteLength` bytes. */
export function createKeccakEngine(byteLength: number = KECCAK_LAYOUT.heap): KeccakEngine {
  compiled ??= new wasm.Module(assembleModule());
  const pages = Math.max(1, Math.ceil(byteLength / PAGE));
  const memory = new wasm.Memory({ initial: pages });
  const instance = new wasm.Instance(compiled, { e: { m: memory } });
  const x = instance.exports as Record<string, (a?: number, b?: number, c?: number, d?: number) => number>;
  let view = new Uint8Array(memory.buffer);
  return {
    memory,
    bytes() {
      if (view.buffer !== memory.buffer || view.byteLength === 0) view = new Uint8Array(memory.buffer);
      return view;
    },
    ensureCapacity(n) {
      const have = memory.buffer.byteLength;
      if (n > have) memory.grow(Math.ceil((n - have) / PAGE));
    },
    leaves: (ptr, n) => chunked(n, (start, count) => x.leaves(ptr + 64 * start, ptr + 32 * start, count)),
    nodes(tree, first, last, verify) {
      // Downwards in slices: node i only needs nodes > i, which earlier slices have written.
      for (let hi = last; hi >= first; hi -= CHUNK) {
        const found = x.nodes(tree, Math.max(first, hi - CHUNK + 1), hi, verify);
        if (found !== -1) return found;
      }
      return -1;
    },
    hash64: (src, dst, n) =>
      chunked(n, (start, count) => x.hash64(src + 64 * start, dst + 32 * start, count)),
    hash32: (src, dst, n) =>
      chunked(n, (start, count) => x.hash32(src + 32 * start, dst + 32 * start, count)),
    hexNodes: (src, n, dst) =>
      chunked(n, (start, count) => x.hexNodes(src + 32 * start, count, dst + HEX_NODE_STRIDE * start)),
    checksums: (src, n, dst) =>
      chunked(n, (start, count) => x.checksums(src + 20 * start, count, dst + CHECKSUM_STRIDE * start)),
  };
}

// ---------------------------------------------------------------------------------------------
// The assembler. Every function has the signature (i32, i32, i32, i32) -> i32 and the same locals.

const ROTATION = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
];

const ROUND_CONSTANTS = [
  0x0000000000000001n,
  0x0000000000008082n,
  0x800000000000808an,
  0x8000000080008000n,
  0x000000000000808bn,
  0x0000000080000001n,
  0x8000000080008081n,
  0x8000000000008009n,
  0x000000000000008an,
  0x0000000000000088n,
  0x0000000080008009n,
  0x000000008000000an,
  0x000000008000808bn,
  0x800000000000008bn,
  0x8000000000008089n,
  0x8000000000008003n,
  0x8000000000008002n,
  0x8000000000000080n,
  0x000000000000800an,
  0x800000008000000an,
  0x8000000080008081n,
  0x8000000000008080n,
  0x0000000080000001n,
  0x8000000080008008n,
];

const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  select: 0x1b,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  i64Load: 0x29,
  i32Load8u: 0x2d,
  i32Load16u: 0x2f,
  i64Store: 0x37,
  i32Store8: 0x3a,
  i32Store16: 0x3b,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32GeS: 0x4e,
  i32GeU: 0x4f,
  i64Ne: 0x52,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i64And: 0x83,
  i64Xor: 0x85,
  i64ShrU: 0x88,
  i64Rotl: 0x89,
  i32WrapI64: 0xa7,
  void: 0x40,
} as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(value: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = Number(value & 0x7fn);
    value >>= 7n;
    const done = (value === 0n && (byte & 0x40) === 0) || (value === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

// Locals: params p0..p3 (0..3), i32 temps t0..t7 (4..11), i64 a0..a24, b0..b24, c0..c4, d0..d4.
const P = (i: number) => i;
const T = (i: number) => 4 + i;
const A = (i: number) => 12 + i;
const B = (i: number) => 37 + i;
const C = (i: number) => 62 + i;
const D = (i: number) => 67 + i;
const ROUND = T(7);

const get = (l: number) => [op.get, ...uleb(l)];
const set = (l: number) => [op.set, ...uleb(l)];
const tee = (l: number) => [op.tee, ...uleb(l)];
const i32 = (v: number) => [op.i32Const, ...sleb(BigInt(v))];
const i64 = (v: bigint) => [op.i64Const, ...sleb(BigInt.asIntN(64, v))];
const mem = (code: number, offset: number) => [code, 0, ...uleb(offset)];

/** The 24 rounds of keccak-f[1600] over the lane locals a0..a24. */
function permutation(): number[] {
  const code: number[] = [...i32(0), ...set(ROUND), op.loop, op.void];
  for (let x = 0; x < 5; x++) {
    code.push(...get(A(x)));
    for (let y = 1; y < 5; y++) code.push(...get(A(x + 5 * y)), op.i64Xor);
    code.push(...set(C(x)));
  }
  for (let x = 0; x < 5; x++) {
    code.push(
      ...get(C((x + 4) % 5)),
      ...get(C((x + 1) % 5)),
      ...i64(1n),
      op.i64Rotl,
      op.i64Xor,
      ...set(D(x)),
    );
  }
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      const rotation = ROTATION[x][y];
      code.push(...get(A(x + 5 * y)), ...get(D(x)), op.i64Xor);
      if (rotation !== 0) code.push(...i64(BigInt(rotation)), op.i64Rotl);
      code.push(...set(B(y + 5 * ((2 * x + 3 * y) % 5))));
    }
  }
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      const b1 = B(((x + 1) % 5) + 5 * y);
      const b2 = B(((x + 2) % 5) + 5 * y);
      code.push(...get(B(x + 5 * y)), ...get(b1), ...i64(-1n), op.i64Xor, ...get(b2), op.i64And, op.i64Xor);
      code.push(...set(A(x + 5 * y)));
    }
  }
  code.push(
    ...get(A(0)),
    ...get(ROUND),
    ...mem(op.i64Load, KECCAK_LAYOUT.roundConstants),
    op.i64Xor,
    ...set(A(0)),
  );
  code.push(...get(ROUND), ...i32(8), op.i32Add, ...tee(ROUND), ...i32(192), op.i32LtU, op.brIf, 0, op.end);
  return code;
}
const PERMUTATION = permutation();

/** Lanes `messageLanes..24` for a single-block message of `messageLanes` lanes: pad 0x01 ... 0x80. */
function pad(messageLanes: number): number[] {
  const code: number[] = [];
  for (let lane = messageLanes; lane < 25; lane++) {
    const value = lane === messageLanes ? 1n : lane === 16 ? 1n << 63n : 0n;
    code.push(...i64(value), ...set(A(lane)));
  }
  return code;
}

/** a0..a{count-1} = 64-bit little-endian words at local `ptr` + 8i (unaligned allowed). */
function load(ptr: number, count: number): number[] {
  const code: number[] = [];
  for (let i = 0; i < count; i++) code.push(...get(ptr), ...mem(op.i64Load, 8 * i), ...set(A(i)));
  return code;
}

/** Stores the 32-byte digest (a0..a3) at local `ptr`. */
function store(ptr: number): number[] {
  const code: number[] = [];
  for (let i = 0; i < 4; i++) code.push(...get(ptr), ...get(A(i)), ...mem(op.i64Store, 8 * i));
  return code;
}

/** `do { body; local += step... } while (--counter)`; `counter` is a local > 0 on entry. */
function countdown(counter: number, body: number[]): number[] {
  return [
    op.loop,
    op.void,
    ...body,
    ...get(counter),
    ...i32(1),
    op.i32Sub,
    ...tee(counter),
    op.brIf,
    0,
    op.end,
  ];
}

const advance = (local: number, step: number) => [...get(local), ...i32(step), op.i32Add, ...set(local)];

/** leaves(src, dst, n): 64-byte encodings -> 32-byte double hashes (`dst` may be `src`). */
function fnLeaves(): number[] {
  const [ptr, out, n] = [P(0), P(1), P(2)];
  return [
    ...countdown(n, [
      ...load(ptr, 8),
      ...pad(8),
      ...PERMUTATION,
      ...pad(4),
      ...PERMUTATION,
      ...store(out),
      ...advance(ptr, 64),
      ...advance(out, 32),
    ]),
    ...i32(-1),
  ];
}

/** hashN(src, dst, n) for single-block inputs of `lanes` 64-bit words. */
function fnHash(lanes: number): number[] {
  const [src, dst, n] = [P(0), P(1), P(2)];
  return [
    ...countdown(n, [
      ...load(src, lanes),
      ...pad(lanes),
      ...PERMUTATION,
      ...store(dst),
      ...advance(src, 8 * lanes),
      ...advance(dst, 32),
    ]),
    ...i32(-1),
  ];
}

/** nodes(tree, first, last, verify) -> first mismatching index or -1. */
function fnNodes(): number[] {
  const [tree, first, verify] = [P(0), P(1), P(3)];
  const [i, left, right, j, lt, lo, hi, x] = [P(2), T(0), T(1), T(2), T(3), T(4), T(5), T(6)];
  // x = left byte j, compared against right byte j.
  const compare = [
    ...i32(0),
    ...set(j),
    ...i32(0),
    ...set(lt),
    op.block,
    op.void,
    op.loop,
    op.void,
    ...get(left),
    ...get(j),
    op.i32Add,
    ...mem(op.i32Load8u, 0),
    ...tee(x),
    ...get(right),
    ...get(j),
    op.i32Add,
    ...mem(op.i32Load8u, 0),
    op.i32Ne,
    op.if,
    op.void,
    ...get(x),
    ...get(right),
    ...get(j),
    op.i32Add,
    ...mem(op.i32Load8u, 0),
    op.i32LtU,
    ...set(lt),
    op.br,
    2,
    op.end,
    ...get(j),
    ...i32(1),
    op.i32Add,
    ...tee(j),
    ...i32(32),
    op.i32LtU,
    op.brIf,
    0,
    op.end,
    op.end,
  ];
  const pick = (a: number, b: number, into: number) => [
    ...get(a),
    ...get(b),
    ...get(lt),
    op.select,
    ...set(into),
  ];
  const check: number[] = [];
  for (let k = 0; k < 4; k++) {
    check.push(...get(x), ...mem(op.i64Load, 8 * k), ...get(A(k)), op.i64Ne, op.if, op.void, ...get(i));
    check.push(op.return, op.end);
  }
  return [
    ...get(i),
    ...get(first),
    op.i32LtS,
    op.if,
    op.void,
    ...i32(-1),
    op.return,
    op.end,
    op.loop,
    op.void,
    // left = tree + (2i + 1) * 32, right = left + 32
    ...get(i),
    ...i32(64),
    op.i32Mul,
    ...get(tree),
    op.i32Add,
    ...i32(32),
    op.i32Add,
    ...tee(left),
    ...i32(32),
    op.i32Add,
    ...set(right),
    ...compare,
    ...pick(left, right, lo),
    ...pick(right, left, hi),
    ...load(lo, 4),
    // a4..a7 from hi
    ...[0, 1, 2, 3].flatMap((k) => [...get(hi), ...mem(op.i64Load, 8 * k), ...set(A(4 + k))]),
    ...pad(8),
    ...PERMUTATION,
    // x = tree + 32i
    ...get(i),
    ...i32(32),
    op.i32Mul,
    ...get(tree),
    op.i32Add,
    ...set(x),
    ...get(verify),
    op.if,
    op.void,
    ...check,
    op.else,
    ...store(x),
    op.end,
    ...get(i),
    ...i32(1),
    op.i32Sub,
    ...tee(i),
    ...get(first),
    op.i32GeS,
    op.brIf,
    0,
    op.end,
    ...i32(-1),
  ];
}

/**
 * Writes `count` bytes at local `src` as lowercase hex at local `dst` + `offset`, unrolled, one
 * 16-bit lookup per byte in the hex table (two ASCII digits per byte value).
 */
function hexBytes(src: number, dst: number, count: number, offset: number): number[] {
  const code: number[] = [];
  for (let j = 0; j < count; j++) {
    code.push(...get(dst), ...get(src), ...mem(op.i32Load8u, j), ...i32(1), op.i32Shl);
    code.push(...mem(op.i32Load16u, KECCAK_LAYOUT.hexTable), ...mem(op.i32Store16, offset + 2 * j));
  }
  return code;
}

const storeByte = (ptr: number, offset: number, value: number) => [
  ...get(ptr),
  ...i32(value),
  ...mem(op.i32Store8, offset),
];

/** hexNodes(src, n, dst): `"0x<64 hex>",` per node. */
function fnHexNodes(): number[] {
  const [src, n, dst] = [P(0), P(1), P(2)];
  return [
    ...countdown(n, [
      ...storeByte(dst, 0, 0x22),
      ...storeByte(dst, 1, 0x30),
      ...storeByte(dst, 2, 0x78),
      ...hexBytes(src, dst, 32, 3),
      ...storeByte(dst, 67, 0x22),
      ...storeByte(dst, 68, 0x2c),
      ...advance(src, 32),
      ...advance(dst, HEX_NODE_STRIDE),
    ]),
    ...i32(-1),
  ];
}

/**
 * checksums(src, n, dst): EIP-55 `0x<40 hex>` per 20-byte address: hex digit `j` is upper-cased
 * when it is a letter and bit (j even ? 7 : 3) of hash byte j/2 is set; unrolled, reading the hash
 * straight from the lane locals.
 */
function fnChecksums(): number[] {
  const [src, n, dst] = [P(0), P(1), P(2)];
  const [digits, char] = [T(0), T(2)];
  const upper: number[] = [];
  for (let j = 0; j < 40; j++) {
    const byte = j >> 1;
    const bit = 8 * (byte % 8) + (j % 2 === 0 ? 7 : 3);
    // digits[j] = char - (((char > '9') & hashBit) << 5)
    upper.push(...get(digits), ...get(digits), ...mem(op.i32Load8u, j), ...tee(char));
    upper.push(...get(char), ...i32(0x39), op.i32GtU);
    upper.push(...get(A(byte >> 3)), ...i64(BigInt(bit)), op.i64ShrU, op.i32WrapI64, op.i32And);
    upper.push(...i32(5), op.i32Shl, op.i32Sub, ...mem(op.i32Store8, j));
  }
  return [
    ...countdown(n, [
      ...storeByte(dst, 0, 0x30),
      ...storeByte(dst, 1, 0x78),
      ...hexBytes(src, dst, 20, 2),
      ...get(dst),
      ...i32(2),
      op.i32Add,
      ...set(digits),
      ...load(digits, 5),
      ...pad(5),
      ...PERMUTATION,
      ...upper,
      ...advance(src, 20),
      ...advance(dst, CHECKSUM_STRIDE),
    ]),
    ...i32(-1),
  ];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

function assembleModule(): Uint8Array<ArrayBuffer> {
  const functions: [string, number[]][] = [
    ['leaves', fnLeaves()],
    ['nodes', fnNodes()],
    ['hash64', fnHash(8)],
    ['hash32', fnHash(4)],
    ['hexNodes', fnHexNodes()],
    ['checksums', fnChecksums()],
  ];
  const I32 = 0x7f;
  const I64 = 0x7e;
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([[I32]])]]));
  const imports = section(2, vec([[...name('e'), ...name('m'), 0x02, 0x00, 0x01]]));
  const funcs = section(3, vec(functions.map(() => [0])));
  const exports = section(7, vec(functions.map(([n], i) => [...name(n), 0x00, ...uleb(i)])));
  const locals = vec([
    [8, I32],
    [60, I64],
  ]);
  const code = section(
    10,
    vec(
      functions.map(([, body]) => {
        const fn = [...locals, ...body, op.end];
        return [...uleb(fn.length), ...fn];
      }),
    ),
  );
  const constants: number[] = [];
  for (const rc of ROUND_CONSTANTS)
    for (let b = 0n; b < 64n; b += 8n) constants.push(Number((rc >> b) & 0xffn));
  const digits = '0123456789abcdef';
  const table: number[] = [];
  for (let b = 0; b < 256; b++) table.push(digits.charCodeAt(b >> 4), digits.charCodeAt(b & 15));
  const segment = (offset: number, bytes: number[]) => [
    0x00,
    ...i32(offset),
    op.end,
    ...uleb(bytes.length),
    ...bytes,
  ];
  const data = section(
    11,
    vec([segment(KECCAK_LAYOUT.roundConstants, constants), segment(KECCAK_LAYOUT.hexTable, table)]),
  );
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...type,
    ...imports,
    ...funcs,
    ...exports,
    ...code,
    ...data,
  ]);
}
