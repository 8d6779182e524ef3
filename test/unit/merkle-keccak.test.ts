import { randomBytes } from 'node:crypto';
import { getAddress, keccak256 } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  CHECKSUM_STRIDE,
  createKeccakEngine,
  HEX_NODE_STRIDE,
  KECCAK_LAYOUT,
} from '../../core/distributions/tree/keccak.ts';

const HEAP = KECCAK_LAYOUT.heap;
const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}`;

describe('createKeccakEngine()', () => {
  // More than one 4096-item slice, so the slicing is exercised too.
  const n = 5000;

  it('hash64() and hash32() equal keccak256 of each input', () => {
    const engine = createKeccakEngine(HEAP + 96 * n);
    const memory = engine.bytes();
    const input = randomBytes(64 * n);
    memory.set(input, HEAP);
    const out = HEAP + 64 * n;
    engine.hash64(HEAP, out, n);
    for (let k = 0; k < n; k += 7) {
      expect(hex(memory.subarray(out + 32 * k, out + 32 * k + 32))).toBe(
        keccak256(input.subarray(64 * k, 64 * k + 64)),
      );
    }
    engine.hash32(HEAP, out, n);
    for (let k = 0; k < n; k += 7) {
      expect(hex(memory.subarray(out + 32 * k, out + 32 * k + 32))).toBe(
        keccak256(input.subarray(32 * k, 32 * k + 32)),
      );
    }
  });

  it('leaves() writes keccak256(keccak256(encoding)) in place', () => {
    const engine = createKeccakEngine(HEAP + 64 * n);
    const memory = engine.bytes();
    const input = randomBytes(64 * n);
    memory.set(input, HEAP);
    engine.leaves(HEAP, n);
    for (let k = 0; k < n; k += 7) {
      const expected = keccak256(keccak256(input.subarray(64 * k, 64 * k + 64), 'bytes'));
      expect(hex(memory.subarray(HEAP + 32 * k, HEAP + 32 * k + 32))).toBe(expected);
    }
  });

  it('nodes() hashes sorted children and, in verify mode, reports the first wrong node', () => {
    const leaves = 9;
    const total = 2 * leaves - 1;
    const engine = createKeccakEngine(HEAP + 32 * total);
    const memory = engine.bytes();
    memory.set(randomBytes(32 * leaves), HEAP + 32 * (leaves - 1));
    expect(engine.nodes(HEAP, 0, leaves - 2, 0)).toBe(-1);
    const node = (i: number) => memory.slice(HEAP + 32 * i, HEAP + 32 * i + 32);
    for (let i = 0; i < leaves - 1; i++) {
      const [a, b] = [node(2 * i + 1), node(2 * i + 2)].sort((x, y) => Buffer.compare(x, y));
      expect(hex(node(i))).toBe(keccak256(new Uint8Array([...a, ...b])));
    }
    expect(engine.nodes(HEAP, 0, leaves - 2, 1)).toBe(-1);
    memory[HEAP + 32 * 3] ^= 1;
    expect(engine.nodes(HEAP, 0, leaves - 2, 1)).toBe(3);
  });

  it('checksums() equals viem getAddress and hexNodes() writes JSON items', () => {
    const engine = createKeccakEngine(HEAP + 200 * n);
    const memory = engine.bytes();
    const addresses = randomBytes(20 * n);
    memory.set(addresses, HEAP);
    const out = HEAP + 20 * n;
    engine.checksums(HEAP, n, out);
    const text = Buffer.from(memory.subarray(out, out + CHECKSUM_STRIDE * n)).toString('latin1');
    for (let k = 0; k < n; k += 3) {
      expect(text.slice(CHECKSUM_STRIDE * k, CHECKSUM_STRIDE * (k + 1))).toBe(
        getAddress(hex(addresses.subarray(20 * k, 20 * k + 20))),
      );
    }
    const nodes = randomBytes(32 * 3);
    memory.set(nodes, HEAP);
    engine.hexNodes(HEAP, 3, out);
    const items = Buffer.from(memory.subarray(out, out + 3 * HEX_NODE_STRIDE)).toString('latin1');
    expect(items).toBe([0, 1, 2].map((k) => `"${hex(nodes.subarray(32 * k, 32 * k + 32))}",`).join(''));
  });

  it('ensureCapacity() grows the memory and bytes() returns a live view', () => {
    const engine = createKeccakEngine(HEAP);
    const before = engine.bytes().byteLength;
    engine.ensureCapacity(before + 1);
    expect(engine.bytes().byteLength).toBeGreaterThan(before);
  });
});
