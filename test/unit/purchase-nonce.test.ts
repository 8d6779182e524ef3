import { maxUint256 } from 'viem';
import { describe, expect, it } from 'vitest';
import { DIRECT_PURCHASE_NONCE, randomNonce } from '../../core/trading/purchases.ts';

describe('randomNonce()', () => {
  it('never hands out the direct-purchase sentinel: a draw of type(uint256).max is drawn again', () => {
    expect(DIRECT_PURCHASE_NONCE).toBe(maxUint256);
    const draws = [
      new Uint8Array(32).fill(0xff),
      new Uint8Array(32).fill(0xff),
      new Uint8Array(32).fill(0x01),
    ];
    let calls = 0;
    const nonce = randomNonce((size) => {
      expect(size).toBe(32);
      const draw = draws[calls++];
      if (draw === undefined) throw new Error('drew more than three times');
      return draw;
    });
    expect(calls).toBe(3);
    expect(nonce).toBe(BigInt(`0x${'01'.repeat(32)}`));
  });

  it('keeps every other value, including the one just below the sentinel', () => {
    const below = new Uint8Array(32).fill(0xff);
    below[31] = 0xfe;
    expect(randomNonce(() => below)).toBe(maxUint256 - 1n);
    expect(randomNonce(() => new Uint8Array(32))).toBe(0n);
  });
});
