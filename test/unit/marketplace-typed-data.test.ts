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
  type FillIntent,
  fillCost,
  fillIntentTypedData,
  fillIntentTypes,
  hashFillIntent,
  hashOrder,
  type Order,
  orderTypedData,
  orderTypes,
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
    expect(fillCost({ price: 10n, sellAmount: 3n }, 1n)).toBe(4n);
    expect(fillCost({ price: 9n, sellAmount: 3n }, 1n)).toBe(3n);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 2n ** 128n }),
        fc.bigInt({ min: 0n, max: 2n ** 128n }),
        fc.bigInt({ min: 0n, max: 2n ** 128n }),
        (sellAmount, price, rawAmount) => {
          const amount = rawAmount % (sellAmount + 1n);
          const cost = fillCost({ price, sellAmount }, amount);
          return (
            cost * sellAmount >= price * amount && (cost === 0n || (cost - 1n) * sellAmount < price * amount)
          );
        },
      ),
    );
  });
});
