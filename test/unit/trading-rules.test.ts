import { describe, expect, it } from 'vitest';
import { BaseError } from '../../core/platform/errors/index.ts';
import { assertCanBuy, assertFunds, type OfferingState } from '../../core/trading/rules.ts';

/** The purchase rules on plain snapshots: no anvil, no Postgres. */
const buyer = '0x00000000000000000000000000000000000000b1';
const open: OfferingState = {
  blockNumber: 10n,
  timestamp: 1_000n,
  payToken: '0x00000000000000000000000000000000000000c0',
  scale: 1n,
  offeringStart: 900n,
  offeringEnd: 2_000n,
  offeringClosed: false,
  remaining: 500n,
  allowed: true,
  expiry: 5_000n,
  frozen: false,
};

const codeOf = (run: () => void) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BaseError);
    const e = error as BaseError;
    return { code: e.code, status: e.statusCode, details: e.details as Record<string, unknown> };
  }
  return undefined;
};

describe('assertCanBuy()', () => {
  it('lets an allowlisted buyer buy up to what remains while the offering is open', () => {
    expect(codeOf(() => assertCanBuy(open, buyer, 500n))).toBeUndefined();
    expect(codeOf(() => assertCanBuy({ ...open, timestamp: 900n }, buyer, 1n))).toBeUndefined();
    expect(codeOf(() => assertCanBuy({ ...open, timestamp: 2_000n }, buyer, 1n))).toBeUndefined();
  });

  it('refuses before the window, after it and once closed: 409 OFFERING_NOT_OPEN', () => {
    for (const state of [
      { ...open, timestamp: 899n },
      { ...open, timestamp: 2_001n },
      { ...open, offeringClosed: true },
    ]) {
      const e = codeOf(() => assertCanBuy(state, buyer, 1n));
      expect(e).toMatchObject({ code: 'CONFLICT', status: 409, details: { reason: 'OFFERING_NOT_OPEN' } });
    }
  });

  it('refuses a buyer the registry does not allow, saying whether it is frozen: 403 NOT_ALLOWLISTED', () => {
    expect(codeOf(() => assertCanBuy({ ...open, allowed: false }, buyer, 1n))).toMatchObject({
      code: 'NOT_ALLOWLISTED',
      status: 403,
      details: { frozen: false, expiry: '5000' },
    });
    expect(codeOf(() => assertCanBuy({ ...open, allowed: false, frozen: true }, buyer, 1n))).toMatchObject({
      code: 'NOT_ALLOWLISTED',
      details: { frozen: true },
    });
  });

  it('refuses more than remains, and anything once sold out: 409 SOLD_OUT', () => {
    expect(codeOf(() => assertCanBuy(open, buyer, 501n))).toMatchObject({
      code: 'SOLD_OUT',
      details: { remaining: '500' },
    });
    expect(codeOf(() => assertCanBuy({ ...open, remaining: 0n }, buyer, 1n))).toMatchObject({
      code: 'SOLD_OUT',
      details: { remaining: '0' },
    });
  });
});

describe('assertFunds()', () => {
  it('accepts a balance and an allowance that cover the cost, or a permit whose nonce is still the token’s', () => {
    expect(
      codeOf(() => assertFunds({ balance: 10n, allowance: 10n, tokenNonce: 0n }, { cost: 10n })),
    ).toBeUndefined();
    expect(
      codeOf(() =>
        assertFunds({ balance: 10n, allowance: 0n, tokenNonce: 3n }, { cost: 10n, permitNonce: 3n }),
      ),
    ).toBeUndefined();
  });

  it('names what is short: balance, allowance without a permit, a permit whose nonce was used', () => {
    const reason = (
      funds: { balance: bigint; allowance: bigint; tokenNonce: bigint },
      permitNonce?: bigint,
    ) => codeOf(() => assertFunds(funds, { cost: 10n, permitNonce }))?.details?.reason;
    expect(reason({ balance: 9n, allowance: 10n, tokenNonce: 0n })).toBe('INSUFFICIENT_BALANCE');
    expect(reason({ balance: 10n, allowance: 9n, tokenNonce: 0n })).toBe('INSUFFICIENT_ALLOWANCE');
    expect(reason({ balance: 10n, allowance: 9n, tokenNonce: 4n }, 3n)).toBe('PERMIT_NONCE_USED');
  });
});
