import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { assertPublishedOnChain } from '../../core/domain/published-portfolio.ts';
import { ConflictError, ServiceUnavailableError } from '../../core/platform/errors/index.ts';

describe('assertPublishedOnChain()', () => {
  const row = {
    id: 'p1',
    status: 'published',
    chainId: 31337,
    portfolioAddress: '0x00000000000000000000000000000000000000ab',
  };

  it('returns the checksummed address of a published portfolio on the served chain', () => {
    expect(assertPublishedOnChain(row, 31337)).toBe(getAddress(row.portfolioAddress));
  });

  it('answers 409 NOT_PUBLISHED for a draft or a row without a contract, with the caller’s message', () => {
    for (const r of [
      { ...row, status: 'draft' },
      { ...row, portfolioAddress: null },
    ]) {
      expect(() => assertPublishedOnChain(r, 31337, 'not on sale')).toThrow(ConflictError);
      try {
        assertPublishedOnChain(r, 31337, 'not on sale');
      } catch (error) {
        expect(error).toMatchObject({
          message: 'not on sale',
          details: { reason: 'NOT_PUBLISHED', portfolioId: 'p1' },
        });
      }
    }
  });

  it('answers 503 for a portfolio on another chain', () => {
    expect(() => assertPublishedOnChain(row, 1)).toThrow(ServiceUnavailableError);
  });
});
