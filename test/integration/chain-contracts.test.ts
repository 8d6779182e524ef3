/**
 * core/chain/contracts: the reads that compose several calls (the offering, order and fill
 * snapshots, funds, the portfolio layout, the current root) against a real stack on anvil, at the
 * block asked for, and their failures decoded under the label of the snapshot.
 */
import { type Address, keccak256, parseUnits, toBytes, zeroHash } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  approve,
  buy,
  type CreatePortfolioReturnType,
  createPortfolio,
  mintTestStablecoin,
} from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { readCurrentRoot } from '../../core/chain/contracts/distributor.ts';
import { readFillSnapshot, readOrderSnapshot } from '../../core/chain/contracts/marketplace.ts';
import { readOfferingSnapshot, readPortfolioLayout } from '../../core/chain/contracts/portfolio.ts';
import {
  readBalanceAndAllowance,
  readBalanceOf,
  readFunds,
  readTotalSupply,
} from '../../core/chain/contracts/tranche-token.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { ChainError } from '../../core/chain/errors.ts';
import { type AnvilInstance, startAnvil } from '../helpers/anvil.ts';

const USD = (units: number) => parseUnits(String(units), 6);
const SCALE = 10n ** 12n;

let anvil: AnvilInstance;
let platform: ChainClients;
let buyer: ChainClients;
let stack: DeployedStack;
let created: CreatePortfolioReturnType;
let payToken: Address;
let expiry: bigint;
/** The block before and the block of the buyer's purchase of 1 000 USD of the senior tranche. */
let beforeBuy: bigint;
let boughtAt: bigint;

beforeAll(async () => {
  anvil = await startAnvil();
  const [a0, , a2, a3] = anvil.accounts;
  platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
  buyer = withAccount(platform, a3.privateKey);
  stack = await deployStack(platform, { treasury: a0.address, timelockDelay: 5 });
  payToken = stack.testStablecoin as Address;
  const now = (await platform.publicClient.getBlock()).timestamp;
  created = await createPortfolio(platform, {
    factory: stack.portfolioFactory,
    payToken,
    registry: stack.complianceRegistry,
    servicer: a2.address,
    offeringEnd: now + 86_400n,
    documentRoot: keccak256(toBytes('documents')),
    tranches: [
      { name: 'Senior', symbol: 'SNR', face: USD(100_000), couponBps: 800 },
      { name: 'Residual', symbol: 'RES', face: USD(50_000), couponBps: 0, priceBps: 5_000 },
    ],
  });
  expiry = now + 365n * 86_400n;
  await allowlistInvestors(platform, { registry: stack.complianceRegistry, accounts: [a3.address], expiry });
  await mintTestStablecoin(platform, { token: payToken, to: a3.address, amount: USD(10_000) });
  await approve(buyer, { token: payToken, spender: created.portfolio, amount: USD(4_000) });
  beforeBuy = await platform.publicClient.getBlockNumber();
  ({ blockNumber: boughtAt } = await buy(buyer, {
    portfolio: created.portfolio,
    trancheId: 0,
    amount: USD(1_000) * SCALE,
    maxCost: USD(1_000),
  }));
});

afterAll(async () => {
  await anvil?.stop();
});

describe('readOfferingSnapshot()', () => {
  it('reads terms, tranche, state and the registry record at the block asked for', async () => {
    const parameters = {
      portfolio: created.portfolio,
      trancheIndex: 0,
      registry: stack.complianceRegistry,
      buyer: buyer.account.address,
    };
    const before = await readOfferingSnapshot(platform.publicClient, {
      ...parameters,
      blockNumber: beforeBuy,
    });
    const after = await readOfferingSnapshot(platform.publicClient, { ...parameters, blockNumber: boughtAt });
    expect(before.terms).toMatchObject({ payToken, registry: stack.complianceRegistry, scale: SCALE });
    expect(before.terms.mode).toBe('interestFirst');
    expect(before.tranche).toEqual({
      token: created.tranches[0],
      face: USD(100_000),
      couponBps: 800,
      priceBps: 10_000,
    });
    expect(before.state.sold).toBe(0n);
    expect(after.state.sold).toBe(USD(1_000));
    expect(after).toMatchObject({ allowed: true, investor: { expiry, frozen: false } });
    const stranger = await readOfferingSnapshot(platform.publicClient, {
      ...parameters,
      buyer: anvil.accounts[8].address,
    });
    expect(stranger).toMatchObject({ allowed: false, investor: { expiry: 0n, frozen: false } });
  });

  it('fails with the decoded revert under the snapshot label', async () => {
    const error = await readOfferingSnapshot(platform.publicClient, {
      portfolio: created.portfolio,
      trancheIndex: 7,
      registry: stack.complianceRegistry,
      buyer: buyer.account.address,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect(error).toMatchObject({
      kind: 'revert',
      errorName: 'PortfolioTrancheUnknown',
      contract: 'Portfolio',
      functionName: 'terms',
    });
  });
});

describe('tranche-token reads', () => {
  it('readFunds and readBalanceAndAllowance read one block; readTotalSupply the supply at a block', async () => {
    const owner = buyer.account.address;
    const spender = created.portfolio;
    const before = await readFunds(platform.publicClient, {
      token: payToken,
      owner,
      spender,
      blockNumber: beforeBuy,
    });
    const after = await readFunds(platform.publicClient, {
      token: payToken,
      owner,
      spender,
      blockNumber: boughtAt,
    });
    expect(before).toEqual({ balance: USD(10_000), allowance: USD(4_000), nonce: 0n });
    expect(after).toEqual({ balance: USD(9_000), allowance: USD(3_000), nonce: 0n });
    expect(
      await readBalanceAndAllowance(platform.publicClient, {
        token: payToken,
        owner,
        spender,
        blockNumber: boughtAt,
      }),
    ).toEqual({ balance: USD(9_000), allowance: USD(3_000) });
    const token = created.tranches[0];
    expect(await readTotalSupply(platform.publicClient, { token, blockNumber: beforeBuy })).toBe(0n);
    expect(await readTotalSupply(platform.publicClient, { token, blockNumber: boughtAt })).toBe(
      USD(1_000) * SCALE,
    );
  });
});

describe('readPortfolioLayout() and readCurrentRoot()', () => {
  it('lists every tranche token and its terms; a fresh Distributor has no root', async () => {
    const layout = await readPortfolioLayout(platform.publicClient, { portfolio: created.portfolio });
    expect(layout.tokens).toEqual(created.tranches);
    expect(layout.trancheTerms.map((t) => [t.face, t.couponBps, t.priceBps])).toEqual([
      [USD(100_000), 800, 10_000],
      [USD(50_000), 0, 5_000],
    ]);
    expect(layout.terms.distributor).toBe(created.distributor);
    expect(await readCurrentRoot(platform.publicClient, { distributor: created.distributor })).toEqual({
      root: zeroHash,
      distributionId: 0n,
    });
  });
});

describe('marketplace snapshots', () => {
  it('readOrderSnapshot and readFillSnapshot read the order, the maker and the taker', async () => {
    const marketplace = stack.marketplace as Address;
    const maker = buyer.account.address;
    const taker = platform.account.address;
    const orderHash = keccak256(toBytes('an order'));
    const order = await readOrderSnapshot(platform.publicClient, {
      marketplace,
      portfolio: created.portfolio,
      order: { maker, tranche: created.tranches[0] },
      orderHash,
    });
    expect(order).toMatchObject({
      counter: 0n,
      filled: 0n,
      cancelled: false,
      balance: USD(1_000) * SCALE,
      allowance: 0n,
    });
    expect(order.terms.payToken).toBe(payToken);
    const fill = await readFillSnapshot(platform.publicClient, {
      marketplace,
      portfolio: created.portfolio,
      order: { maker, payToken },
      orderHash,
      intent: { taker, nonce: 1n },
    });
    expect(fill).toMatchObject({
      filled: 0n,
      cancelled: false,
      counter: 0n,
      nonceUsed: false,
      allowance: 0n,
    });
    expect(fill.balance).toBe(
      await readBalanceOf(platform.publicClient, { token: payToken, account: taker }),
    );
  });
});
