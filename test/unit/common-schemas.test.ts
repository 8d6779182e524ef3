import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uintStringSchema } from '../../server/schemas/common.ts';

describe('uintStringSchema', () => {
  it('accepts decimal strings from 0 to 2^256 - 1', () => {
    expect(uintStringSchema.safeParse('0').success).toBe(true);
    expect(uintStringSchema.safeParse((2n ** 256n - 1n).toString()).success).toBe(true);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), (v) => {
        expect(uintStringSchema.parse(v.toString())).toBe(v.toString());
      }),
    );
  });

  it('rejects 2^256 and above as not fitting in uint256', () => {
    const result = uintStringSchema.safeParse((2n ** 256n).toString());
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual(['must fit in uint256']);
  });

  it('rejects non-integers with a validation issue instead of throwing', () => {
    for (const input of ['1.5', '-1', '1e3', '0x10', ' 1', '01', '', 'abc', '1_000']) {
      const result = uintStringSchema.safeParse(input);
      expect(result.success, input).toBe(false);
      expect(
        result.error?.issues.map((i) => i.message),
        input,
      ).toEqual(['must be a non-negative integer as a decimal string']);
    }
  });
});
