import fc from 'fast-check';
import { decodeEventLog, encodeAbiParameters, encodeEventTopics, getAddress, type Hex, toHex } from 'viem';
import { describe, expect, it } from 'vitest';
import { complianceRegistryAbi, portfolioAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { arrayLiteral } from '../../core/chain-index/store.ts';
import { decodeFollowedLog, followedSelectors, TRANSFER_SELECTOR } from '../../worker/indexer/events.ts';

const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((bytes) => getAddress(toHex(bytes)));
const uint256 = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n });

function transferLog(from: Hex, to: Hex, value: bigint) {
  const topics = encodeEventTopics({
    abi: trancheTokenAbi,
    eventName: 'Transfer',
    args: { from, to },
  }) as Hex[];
  return { topics, data: encodeAbiParameters([{ type: 'uint256' }], [value]) };
}

describe('decodeFollowedLog()', () => {
  it('reads a tranche Transfer exactly as viem decodeEventLog does', () => {
    fc.assert(
      fc.property(address, address, uint256, (from, to, value) => {
        const log = transferLog(from, to, value);
        const viem = decodeEventLog({ abi: trancheTokenAbi, topics: log.topics as [Hex], data: log.data });
        expect(decodeFollowedLog('tranche', log)).toEqual({ type: 'Transfer', ...viem.args });
      }),
      { numRuns: 200 },
    );
  });

  it('ignores a Transfer from a contract that is not a tranche token, and unknown selectors', () => {
    const log = transferLog(getAddress(`0x${'11'.repeat(20)}`), getAddress(`0x${'22'.repeat(20)}`), 5n);
    expect(log.topics[0]).toBe(TRANSFER_SELECTOR);
    expect(decodeFollowedLog('portfolio', log)).toBeNull();
    expect(decodeFollowedLog('tranche', { topics: [`0x${'ab'.repeat(32)}`], data: '0x' })).toBeNull();
  });

  it('decodes registry events with the generated ABI', () => {
    const account = getAddress(`0x${'33'.repeat(20)}`);
    const topics = encodeEventTopics({
      abi: complianceRegistryAbi,
      eventName: 'InvestorAllowlisted',
      args: { account },
    }) as Hex[];
    const data = encodeAbiParameters([{ type: 'uint64' }], [1_900_000_000n]);
    expect(decodeFollowedLog('registry', { topics, data })).toEqual({
      type: 'InvestorAllowlisted',
      account,
      expiry: 1_900_000_000n,
    });
    expect(followedSelectors).toContain(topics[0]);
  });
});

describe('decodeFollowedLog() on the spec-v2 Portfolio events', () => {
  const encode = (eventName: string, args: Record<string, unknown>, data: Hex) => ({
    topics: encodeEventTopics({ abi: portfolioAbi, eventName, args } as never) as Hex[],
    data,
  });

  it('decodes PortfolioResolved with its write-off arrays and ResolutionProposed without indexed args', () => {
    const resolved = encode(
      'PortfolioResolved',
      { recoveryId: 3n },
      encodeAbiParameters(
        [{ type: 'uint256[]' }, { type: 'uint256[]' }],
        [
          [5n, 7n, 0n],
          [1n, 2n, 0n],
        ],
      ),
    );
    expect(decodeFollowedLog('portfolio', resolved)).toEqual({
      type: 'PortfolioResolved',
      recoveryId: 3n,
      principalWrittenOff: [5n, 7n, 0n],
      interestWrittenOff: [1n, 2n, 0n],
    });
    const proposed = encode('ResolutionProposed', {}, encodeAbiParameters([{ type: 'uint256' }], [1_900n]));
    expect(decodeFollowedLog('portfolio', proposed)).toEqual({
      type: 'ResolutionProposed',
      executableAt: 1_900n,
    });
    // a Portfolio event is only followed on portfolios
    expect(decodeFollowedLog('distributor', proposed)).toBeNull();
  });

  it('follows all five selectors', () => {
    for (const eventName of [
      'RecoveryTriggerAndReserve',
      'ReserveFunded',
      'ResolutionProposed',
      'ResolutionVetoed',
      'PortfolioResolved',
    ]) {
      const [topic0] = encodeEventTopics({ abi: portfolioAbi, eventName } as never) as Hex[];
      expect(followedSelectors, eventName).toContain(topic0);
    }
  });
});

describe('arrayLiteral()', () => {
  it('leaves hex and decimals bare and quotes everything else', () => {
    expect(arrayLiteral(['0xAb', '12', 3, null])).toBe('{0xAb,12,3,NULL}');
    expect(arrayLiteral(['a"b\\c', 'NULL', '', 'x y'])).toBe('{"a\\"b\\\\c","NULL","","x y"}');
  });
});
