import { describe, expect, it } from 'vitest';
import { ResponseCache } from '../../server/plugins/listing-cache.ts';

/** A promise resolved from outside, to hold a computation in flight. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function clockedCache(ttlMs: number, maxEntries = 100) {
  let now = 0;
  const cache = new ResponseCache<string>(ttlMs, maxEntries, () => now);
  return { cache, advance: (ms: number) => (now += ms) };
}

describe('ResponseCache', () => {
  it('answers a stored body until the TTL has passed, then computes again', async () => {
    const { cache, advance } = clockedCache(1_000);
    let calls = 0;
    const compute = async () => `body ${++calls}`;
    expect(await cache.get('k', compute)).toBe('body 1');
    advance(999);
    expect(await cache.get('k', compute)).toBe('body 1');
    advance(1);
    expect(await cache.get('k', compute)).toBe('body 2');
  });

  it('keeps keys apart', async () => {
    const { cache } = clockedCache(1_000);
    expect(await cache.get('a', async () => 'A')).toBe('A');
    expect(await cache.get('b', async () => 'B')).toBe('B');
    expect(await cache.get('a', async () => 'A2')).toBe('A');
    expect(await cache.get('b', async () => 'B2')).toBe('B');
  });

  it('shares one computation between concurrent misses of a key', async () => {
    const { cache } = clockedCache(1_000);
    const gate = deferred<string>();
    let calls = 0;
    const compute = () => {
      calls++;
      return gate.promise;
    };
    const answers = Promise.all([cache.get('k', compute), cache.get('k', compute), cache.get('k', compute)]);
    gate.resolve('shared');
    expect(await answers).toEqual(['shared', 'shared', 'shared']);
    expect(calls).toBe(1);
  });

  it('forgets everything on invalidate()', async () => {
    const { cache } = clockedCache(1_000);
    await cache.get('a', async () => 'old');
    cache.invalidate();
    expect(cache.size).toBe(0);
    expect(await cache.get('a', async () => 'new')).toBe('new');
  });

  it('does not store, nor share, a computation that was in flight during invalidate()', async () => {
    const { cache } = clockedCache(1_000);
    const gate = deferred<string>();
    const racing = cache.get('k', () => gate.promise);
    cache.invalidate();
    // a caller after the write does not join the computation started before it
    const after = cache.get('k', async () => 'after the write');
    gate.resolve('before the write');
    expect(await racing).toBe('before the write');
    expect(await after).toBe('after the write');
    expect(await cache.get('k', async () => 'unused')).toBe('after the write');
  });

  it('does not store a failed computation', async () => {
    const { cache } = clockedCache(1_000);
    await expect(cache.get('k', async () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await cache.get('k', async () => 'recovered')).toBe('recovered');
  });

  it('holds at most maxEntries bodies, dropping the oldest', async () => {
    const { cache } = clockedCache(1_000, 2);
    await cache.get('a', async () => 'A');
    await cache.get('b', async () => 'B');
    await cache.get('c', async () => 'C');
    expect(cache.size).toBe(2);
    expect(await cache.get('a', async () => 'A2')).toBe('A2');
    expect(await cache.get('c', async () => 'C2')).toBe('C');
  });

  it('drops expired bodies at the next access, whatever its key', async () => {
    const { cache, advance } = clockedCache(1_000);
    for (const key of ['a', 'b', 'c']) await cache.get(key, async () => key.repeat(10));
    expect(cache.size).toBe(3);
    advance(500);
    await cache.get('d', async () => 'd');
    advance(500);
    // a, b and c expired; nobody asks for them again, yet they are gone; d is still fresh
    expect(await cache.get('e', async () => 'e')).toBe('e');
    expect(cache.size).toBe(2);
    expect(cache.bytes).toBe(2);
    expect(await cache.get('d', async () => 'd2')).toBe('d');
  });

  it('holds at most maxBytes of bodies, dropping the oldest, and never stores a larger one', async () => {
    const cache = new ResponseCache<string>(1_000, 100, () => 0, 10);
    await cache.get('a', async () => 'aaaa');
    await cache.get('b', async () => 'bbbb');
    await cache.get('c', async () => 'cccc');
    expect([cache.size, cache.bytes]).toEqual([2, 8]);
    expect(await cache.get('a', async () => 'A')).toBe('A');
    expect(await cache.get('huge', async () => 'x'.repeat(11))).toBe('x'.repeat(11));
    expect(await cache.get('huge', async () => 'again')).toBe('again');
    expect(cache.bytes).toBeLessThanOrEqual(10);
  });

  it('computes every time with a TTL of 0', async () => {
    const { cache } = clockedCache(0);
    let calls = 0;
    await cache.get('k', async () => String(++calls));
    expect(await cache.get('k', async () => String(++calls))).toBe('2');
    expect(cache.size).toBe(0);
  });
});
