/**
 * `getLogsInRanges` (core/chain/logs.ts) against a node that refuses large answers: every
 * block is read exactly once, in order, the range halves on "too many results" and grows back, and
 * other errors are not swallowed. The node is a stand-in `request` function (a unit test of the
 * range logic; the real RPC path runs in test/integration/distribution-acceptance.test.ts).
 */
import type { AbiEvent, PublicClient } from 'viem';
import { describe, expect, it } from 'vitest';
import { trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { getLogsInRanges, isTooManyResults } from '../../core/chain/logs.ts';

const transfer = (trancheTokenAbi as readonly AbiEvent[]).find(
  (e) => e.type === 'event' && e.name === 'Transfer',
) as AbiEvent;

/** A node with one log per block, refusing ranges of more than `limit` blocks. */
function node(limit: bigint, failAt?: bigint) {
  const ranges: [bigint, bigint][] = [];
  const client = {
    request: async ({ params }: { params: [{ fromBlock: string; toBlock: string }] }) => {
      const from = BigInt(params[0].fromBlock);
      const to = BigInt(params[0].toBlock);
      if (failAt !== undefined && from <= failAt && failAt <= to) throw new Error('connection reset');
      if (to - from + 1n > limit) throw new Error('query returned more than 10000 results');
      ranges.push([from, to]);
      const logs = [];
      for (let b = from; b <= to; b++) {
        logs.push({ blockNumber: `0x${b.toString(16)}`, logIndex: '0x0', transactionIndex: '0x0' });
      }
      return logs;
    },
  } as unknown as PublicClient;
  return { client, ranges };
}

describe('getLogsInRanges', () => {
  it('reads every block once, in order, halving on "too many results"', async () => {
    const { client, ranges } = node(7n);
    const logs = await getLogsInRanges(client, {
      address: '0x0000000000000000000000000000000000000001',
      events: [transfer],
      fromBlock: 5n,
      toBlock: 104n,
      range: 32n,
    });
    expect(logs.map((l) => l.blockNumber)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(5 + i)));
    expect(logs.every((l) => l.logIndex === 0)).toBe(true);
    expect(ranges.every(([from, to]) => to - from + 1n <= 7n)).toBe(true);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBe(ranges[i - 1][1] + 1n);
  });

  it('stops after the range that satisfies `stop`', async () => {
    const { client, ranges } = node(1_000n);
    const logs = await getLogsInRanges(client, {
      address: '0x0000000000000000000000000000000000000001',
      events: [transfer],
      fromBlock: 0n,
      toBlock: 10_000n,
      range: 100n,
      stop: (chunk) => chunk.some((l) => l.blockNumber === 250n),
    });
    expect(ranges).toHaveLength(3);
    expect(logs).toHaveLength(300);
  });

  it('passes other errors on', async () => {
    const { client } = node(1_000n, 42n);
    await expect(
      getLogsInRanges(client, {
        address: '0x0000000000000000000000000000000000000001',
        events: [transfer],
        fromBlock: 0n,
        toBlock: 100n,
      }),
    ).rejects.toThrow('connection reset');
  });
});

describe('isTooManyResults (shared by the verifier and the indexer)', () => {
  it("knows the providers' words, the -32005 code, an oversized body, and looks through causes and details", () => {
    expect(isTooManyResults(new Error('query returned more than 10000 results'))).toBe(true);
    expect(isTooManyResults(Object.assign(new Error('limit'), { code: -32005 }))).toBe(true);
    expect(isTooManyResults(Object.assign(new Error('body'), { name: 'ResponseBodyTooLargeError' }))).toBe(
      true,
    );
    expect(isTooManyResults(new Error('RPC failed', { cause: new Error('block range is too large') }))).toBe(
      true,
    );
    expect(
      isTooManyResults(
        Object.assign(new Error('RPC Request failed.'), { details: 'log response size exceeded' }),
      ),
    ).toBe(true);
    expect(isTooManyResults(new Error('connection reset'))).toBe(false);
    expect(isTooManyResults('too many')).toBe(false);
  });
});
