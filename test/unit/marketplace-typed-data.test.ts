import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  type Address,
  concat,
  encodeAbiParameters,
  getAddress,
  type Hex,
  keccak256,
  toBytes,
  verifyTypedData,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import {
  decayError,
  type FillIntent,
  fillCost,
  fillIntentTypedData,
  fillIntentTypes,
  hashFillIntent,
  hashOrder,
  NO_DECAY,
  type Order,
  orderTypedData,
  orderTypes,
  priceAt,
  signFillIntent,
  signOrder,
} from '../../core/chain/contracts/marketplace.ts';

const maker = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const taker = privateKeyToAccount('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a');
const marketplace = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3');
const chainId = 31337;

const order: Order = {
  maker: maker.address,
  taker: '0x0000000000000000000000000000000000000000',
  tranche: getAddress('0xa16e02e87b7454126e5e10d957a927a7f5b5d2be'),
  payToken: getAddress('0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0'),
  sellAmount: 10n ** 21n,
  price: 950_000_000n,
  expiry: 1_900_000_000n,
  salt: 42n,
  counter: 0n,
  partialFill: true,
  maxFeeBps: 50,
  ...NO_DECAY,
};

/** The type string of a struct without nested types, as EIP-712 `encodeType` builds it. */
const encodeType = (name: string, fields: readonly { name: string; type: string }[]) =>
  `${name}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;

/** The concatenated string literal of `constant NAME = keccak256("..." "...")` in Marketplace.sol. */
function solidityTypeString(constant: string): string {
  const source = readFileSync(new URL('../../contracts/src/Marketplace.sol', import.meta.url), 'utf8');
  const match = source.match(new RegExp(`${constant} = keccak256\\(([^;]*)\\);`));
  if (!match) throw new Error(`${constant} not found in Marketplace.sol`);
  return [...match[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
}

/** EIP-712 digest computed by hand (abi.encode of the domain and the struct), independent of viem's typed data. */
function manualOrderDigest(o: Order, domain: { chainId: number; verifyingContract: Address }): Hex {
  const domainSeparator = keccak256(
    encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint256' },
        { type: 'address' },
      ],
      [
        keccak256(
          toBytes('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
        ),
        keccak256(toBytes('NPL Marketplace')),
        keccak256(toBytes('1')),
        BigInt(domain.chainId),
        domain.verifyingContract,
      ],
    ),
  );
  const structHash = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, ...orderTypes.Order.map((field) => ({ type: field.type as string }))] as {
        type: string;
      }[],
      [
        keccak256(toBytes(solidityTypeString('ORDER_TYPEHASH'))),
        o.maker,
        o.taker,
        o.tranche,
        o.payToken,
        o.sellAmount,
        o.price,
        o.expiry,
        o.salt,
        o.counter,
        o.partialFill,
        o.maxFeeBps,
        o.startPriceBps,
        o.endPriceBps,
        o.decayStart,
        o.decayEnd,
      ],
    ),
  );
  return keccak256(concat(['0x1901', domainSeparator, structHash]));
}

describe('orderTypedData()', () => {
  it('uses the same Order and FillIntent type strings as Marketplace.sol', () => {
    expect(encodeType('Order', orderTypes.Order)).toBe(solidityTypeString('ORDER_TYPEHASH'));
    expect(encodeType('FillIntent', fillIntentTypes.FillIntent)).toBe(
      solidityTypeString('FILL_INTENT_TYPEHASH'),
    );
  });

  it('hashOrder() is the EIP-712 digest over the "NPL Marketplace" v1 domain', () => {
    expect(hashOrder({ marketplace, chainId, order })).toBe(
      manualOrderDigest(order, { chainId, verifyingContract: marketplace }),
    );
    const typed = orderTypedData({ marketplace, chainId, order });
    expect(typed.domain).toEqual({
      name: 'NPL Marketplace',
      version: '1',
      chainId,
      verifyingContract: marketplace,
    });
  });

  it('hashOrder() binds the chain, the marketplace and every field', () => {
    const base = hashOrder({ marketplace, chainId, order });
    expect(hashOrder({ marketplace, chainId: 1, order })).not.toBe(base);
    expect(
      hashOrder({ marketplace: getAddress('0xe7f1725e7734ce288f8367e1bb143e90bb3f0512'), chainId, order }),
    ).not.toBe(base);
    const variants: Partial<Order>[] = [
      { taker: taker.address },
      { sellAmount: order.sellAmount + 1n },
      { price: order.price - 1n },
      { expiry: order.expiry + 1n },
      { salt: 43n },
      { counter: 1n },
      { partialFill: false },
      { maxFeeBps: 51 },
    ];
    const hashes = variants.map((change) =>
      hashOrder({ marketplace, chainId, order: { ...order, ...change } }),
    );
    expect(new Set([base, ...hashes]).size).toBe(variants.length + 1);
  });

  it('a maker signature verifies for our domain only', async () => {
    const signature = await signOrder(maker, { marketplace, chainId, order });
    expect(
      await verifyTypedData({
        address: maker.address,
        signature,
        ...orderTypedData({ marketplace, chainId, order }),
      }),
    ).toBe(true);
    expect(
      await verifyTypedData({
        address: maker.address,
        signature,
        ...orderTypedData({ marketplace, chainId: 8453, order }),
      }),
    ).toBe(false);
    expect(
      await verifyTypedData({
        address: taker.address,
        signature,
        ...orderTypedData({ marketplace, chainId, order }),
      }),
    ).toBe(false);
  });
});

describe('fillIntentTypedData()', () => {
  it('a taker signature over the intent verifies and hashFillIntent() is its digest', async () => {
    const intent: FillIntent = {
      orderHash: hashOrder({ marketplace, chainId, order }),
      taker: taker.address,
      amount: 10n ** 20n,
      maxCost: 95_000_000n,
      nonce: 7n,
      deadline: 1_900_000_000n,
    };
    const signature = await signFillIntent(taker, { marketplace, chainId, intent });
    const typed = fillIntentTypedData({ marketplace, chainId, intent });
    expect(await verifyTypedData({ address: taker.address, signature, ...typed })).toBe(true);
    expect(hashFillIntent({ marketplace, chainId, intent })).not.toBe(
      hashFillIntent({ marketplace, chainId, intent: { ...intent, nonce: 8n } }),
    );
  });
});

describe('fillCost()', () => {
  it('rounds up in favour of the maker: ceil(price * amount / sellAmount)', () => {
    expect(fillCost({ price: 10n, sellAmount: 3n, ...NO_DECAY }, 1n)).toBe(4n);
    expect(fillCost({ price: 9n, sellAmount: 3n, ...NO_DECAY }, 1n)).toBe(3n);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 2n ** 128n }),
        fc.bigInt({ min: 0n, max: 2n ** 128n }),
        fc.bigInt({ min: 0n, max: 2n ** 128n }),
        (sellAmount, price, rawAmount) => {
          const amount = rawAmount % (sellAmount + 1n);
          const cost = fillCost({ price, sellAmount, ...NO_DECAY }, amount);
          return (
            cost * sellAmount >= price * amount && (cost === 0n || (cost - 1n) * sellAmount < price * amount)
          );
        },
      ),
    );
  });
});

/** The fixture order (price 950) decaying from 110% to 80% between t = 1000 and t = 5000. */
const dutch: Order = {
  ...order,
  startPriceBps: 11_000,
  endPriceBps: 8_000,
  decayStart: 1000n,
  decayEnd: 5000n,
};

describe('priceAt() (Marketplace.priceAt)', () => {
  it('is the price without decay at any time', () => {
    expect(priceAt(order, 0n)).toBe(order.price);
    expect(priceAt({ ...order, startPriceBps: 5, decayStart: 9n }, 10n ** 30n)).toBe(order.price);
  });

  it('is the start price until decayStart, the end price from decayEnd, linear between, rounded up', () => {
    expect(priceAt(dutch, 0n)).toBe(1_045_000_000n);
    expect(priceAt(dutch, 1000n)).toBe(1_045_000_000n);
    expect(priceAt(dutch, 2000n)).toBe(973_750_000n); // 102.5%
    expect(priceAt(dutch, 3000n)).toBe(902_500_000n); // 95%
    expect(priceAt(dutch, 5000n)).toBe(760_000_000n);
    expect(priceAt(dutch, 10n ** 20n)).toBe(760_000_000n);
    const tiny = {
      ...dutch,
      price: 10n,
      startPriceBps: 10_000,
      endPriceBps: 0,
      decayStart: 0n,
      decayEnd: 3n,
    };
    expect([0n, 1n, 2n, 3n].map((t) => priceAt(tiny, t))).toEqual([10n, 7n, 4n, 0n]);
  });

  it('steps at once when the decay starts and ends in the same second', () => {
    const step = { ...dutch, decayStart: 3000n, decayEnd: 3000n };
    expect(priceAt(step, 2999n)).toBe(1_045_000_000n);
    expect(priceAt(step, 3000n)).toBe(760_000_000n);
  });

  it('names the revert of an invalid decay and throws on it', () => {
    expect(decayError(dutch)).toBeNull();
    expect(decayError({ ...dutch, endPriceBps: 11_001 })).toBe('OrderDecayPriceRises');
    expect(decayError({ ...dutch, decayEnd: 999n })).toBe('OrderDecayEndsBeforeStart');
    expect(decayError({ ...dutch, endPriceBps: 11_001, decayEnd: 0n })).toBeNull(); // no decay
    expect(() => priceAt({ ...dutch, decayEnd: 999n }, 0n)).toThrow(RangeError);
  });

  it('never rises, stays between the end and the start price and is the ceiling of the exact fraction', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 128n }),
        fc.integer({ min: 0, max: 65_535 }),
        fc.integer({ min: 0, max: 65_535 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 2n }),
        fc.bigInt({ min: 1n, max: 2n ** 40n }),
        fc.bigInt({ min: 0n, max: 2n ** 64n }),
        fc.bigInt({ min: 0n, max: 2n ** 41n }),
        (price, a, b, decayStart, duration, t1, dt) => {
          const o = {
            ...dutch,
            price,
            startPriceBps: Math.max(a, b),
            endPriceBps: Math.min(a, b),
            decayStart,
            decayEnd: decayStart + duration > 2n ** 64n - 1n ? 2n ** 64n - 1n : decayStart + duration,
          };
          const p1 = priceAt(o, t1);
          const p2 = priceAt(o, t1 + dt);
          const start = (price * BigInt(o.startPriceBps) + 9_999n) / 10_000n;
          const end = (price * BigInt(o.endPriceBps) + 9_999n) / 10_000n;
          const t = t1 < o.decayStart ? o.decayStart : t1 > o.decayEnd ? o.decayEnd : t1;
          const span = o.decayEnd - o.decayStart;
          const exact =
            price * (BigInt(o.startPriceBps) * (o.decayEnd - t) + BigInt(o.endPriceBps) * (t - o.decayStart));
          const denominator = 10_000n * span;
          return (
            p2 <= p1 &&
            p1 <= start &&
            p2 >= end &&
            p1 * denominator >= exact &&
            (p1 === 0n || (p1 - 1n) * denominator < exact)
          );
        },
      ),
    );
  });

  it('fillCost() of a Dutch order is the cost at the time it is given, and needs one', () => {
    expect(fillCost(dutch, 10n ** 20n, 3000n)).toBe(90_250_000n);
    expect(() => fillCost(dutch, 10n ** 20n)).toThrow(RangeError);
  });

  it('hashOrder() signs the decay fields', () => {
    expect(hashOrder({ marketplace, chainId, order: dutch })).toBe(
      manualOrderDigest(dutch, { chainId, verifyingContract: marketplace }),
    );
    expect(hashOrder({ marketplace, chainId, order: dutch })).not.toBe(
      hashOrder({ marketplace, chainId, order: { ...dutch, decayEnd: 5001n } }),
    );
  });
});
