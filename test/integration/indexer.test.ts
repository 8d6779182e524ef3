import { type Address, encodeFunctionData, type Hex, parseUnits, zeroAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  buy,
  buyWithSig,
  type CreatePortfolioReturnType,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
  type PurchaseIntent,
  type PurchaseResult,
  type RecoveryDistributed,
  readPermitDomain,
  signPermit,
  signPurchaseIntent,
} from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import {
  cancelOrder,
  DIRECT_FILL_NONCE,
  fillCost,
  fillOrder,
  incrementOrderCounter,
  NO_DECAY,
  type Order,
  type OrderFill,
  signOrder,
} from '../../core/chain/contracts/marketplace.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import {
  complianceRegistryAbi,
  distributorAbi,
  testStablecoinAbi,
  trancheTokenAbi,
} from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { arrayLiteral } from '../../core/chain-index/store.ts';
import { balancesAt, createIndexer, type Indexer, IndexerError } from '../../worker/indexer/index.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const USD = (units: number) => parseUnits(String(units), 6);
/** Tranche-token base units for `usd` whole units of face (18 decimals vs the 6 of the pay token). */
const tokensOf = (usd: number) => USD(usd) * 10n ** 12n;

let tdb: TestDatabase;
let anvil: AnvilInstance;
let platform: ChainClients;
let relayer: ChainClients;
let servicer: ChainClients;
let investors: ChainClients[];
let stack: DeployedStack;
let created: CreatePortfolioReturnType;
let payToken: Address;
let testClient: ReturnType<typeof createAnvilTestClient>;
let expiry: bigint;
const purchases: PurchaseResult[] = [];
let recovery: RecoveryDistributed;
let fill: OrderFill;
let cancelledOrderHash: Hex;
/** Blocks at which tokens moved, for the balancesAt checks. */
const movedAt: bigint[] = [];

const tranches = [
  { name: 'Senior', symbol: 'SNR', face: USD(1_000_000), couponBps: 800 },
  { name: 'Mezzanine', symbol: 'MEZ', face: USD(400_000), couponBps: 1_200, priceBps: 9_000 },
  { name: 'Residual', symbol: 'RES', face: USD(200_000), couponBps: 0, priceBps: 5_000 },
];

const holders = () => investors.map((c) => c.account.address);

function newIndexer(confirmations = 2): Indexer {
  return createIndexer({ db: tdb, publicClient: platform.publicClient, stack, confirmations, blockRange: 7 });
}

async function transferTokens(from: ChainClients, tranche: Address, to: Address, amount: bigint) {
  const { txHash, receipt } = await sendAndWait(
    from,
    { contract: 'TrancheToken', functionName: 'transfer', abi: trancheTokenAbi },
    () =>
      from.walletClient.writeContract({
        address: tranche,
        abi: trancheTokenAbi,
        functionName: 'transfer',
        args: [to, amount],
      }),
  );
  movedAt.push(receipt.blockNumber);
  return { txHash, blockNumber: receipt.blockNumber };
}

async function balanceOf(token: Address, account: Address, blockNumber?: bigint): Promise<bigint> {
  return platform.publicClient.readContract({
    address: token,
    abi: trancheTokenAbi,
    functionName: 'balanceOf',
    args: [account],
    blockNumber,
  });
}

async function totalSupply(token: Address, blockNumber?: bigint): Promise<bigint> {
  return platform.publicClient.readContract({
    address: token,
    abi: trancheTokenAbi,
    functionName: 'totalSupply',
    blockNumber,
  });
}

/** Every holding row of the chain: `tranche:account` -> balance. */
async function indexedHoldings(): Promise<Map<string, bigint>> {
  const rows = await tdb.prisma.tokenHolding.findMany({ where: { chainId: stack.chainId } });
  return new Map(rows.map((r) => [`${r.tranche}:${r.account}`, BigInt(r.balance.toFixed())]));
}

/** Asserts that the indexed holdings are exactly the chain's balances, and sum to totalSupply. */
async function expectHoldingsMatchChain(): Promise<void> {
  const indexed = await indexedHoldings();
  for (const tranche of created.tranches) {
    let sum = 0n;
    for (const account of holders()) {
      const onChain = await balanceOf(tranche, account);
      expect(indexed.get(`${tranche}:${account}`) ?? 0n, `${tranche} ${account}`).toBe(onChain);
      sum += onChain;
    }
    expect(sum).toBe(await totalSupply(tranche));
    const indexedSum = [...indexed]
      .filter(([key]) => key.startsWith(`${tranche}:`))
      .reduce((total, [, balance]) => total + balance, 0n);
    expect(indexedSum).toBe(sum);
  }
}

/** A stable dump of every indexer table (to compare two syncs). */
async function dumpTables(): Promise<Record<string, unknown[]>> {
  const tables = [
    'token_transfer',
    'token_holding',
    'purchase_event',
    'offering_closed_event',
    'recovery_event',
    'recovery_event_tranche',
    'documents_anchored_event',
    'distributor_funded_event',
    'distributor_root_event',
    'claim_event',
    'order_filled_event',
    'order_cancelled_event',
    'counter_incremented_event',
    'allowlist_event',
    'indexed_contract',
  ];
  const dump: Record<string, unknown[]> = {};
  for (const table of tables) {
    const { rows } = await tdb.pool.query(`SELECT * FROM ${table}`);
    dump[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  const investor = await tdb.pool.query(
    'SELECT address, allowlisted_until, frozen FROM investor ORDER BY address',
  );
  dump.investor = investor.rows;
  return dump;
}

beforeAll(async () => {
  [tdb, anvil] = await Promise.all([createTestDatabase(), startAnvil()]);
  const [a0, a1, a2, a3, a4, a5, a6] = anvil.accounts;
  platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
  relayer = withAccount(platform, a1.privateKey);
  servicer = withAccount(platform, a2.privateKey);
  investors = [a3, a4, a5].map((a) => withAccount(platform, a.privateKey));
  testClient = createAnvilTestClient(anvil.rpcUrl);
  stack = await deployStack(platform, { timelockDelay: 5 });
  payToken = stack.testStablecoin as Address;
  const now = (await platform.publicClient.getBlock()).timestamp;
  expiry = now + 365n * 86_400n;
  created = await createPortfolio(platform, {
    factory: stack.portfolioFactory,
    payToken,
    registry: stack.complianceRegistry,
    servicer: a2.address,
    servicerFeeBps: 100,
    protocolFeeBps: 50,
    offeringEnd: now + 86_400n,
    tranches,
  });
  await allowlistInvestors(platform, { registry: stack.complianceRegistry, accounts: holders(), expiry });
  for (const to of [...holders(), a2.address]) {
    await mintTestStablecoin(platform, { token: payToken, to, amount: USD(2_000_000) });
  }
  // a6: allowlisted, then frozen (registry state for the investor table)
  await allowlistInvestors(platform, { registry: stack.complianceRegistry, accounts: [a6.address], expiry });
  await sendAndWait(platform, { contract: 'ComplianceRegistry', functionName: 'freeze' }, () =>
    platform.walletClient.writeContract({
      address: stack.complianceRegistry,
      abi: complianceRegistryAbi,
      functionName: 'freeze',
      args: [a6.address],
    }),
  );

  const [i3, i4, i5] = investors;
  const direct = async (who: ChainClients, trancheId: number, usd: number) => {
    const result = await buy(who, {
      portfolio: created.portfolio,
      trancheId,
      amount: tokensOf(usd),
      maxCost: USD(usd),
      approve: true,
    });
    purchases.push(result);
    movedAt.push(result.blockNumber);
  };
  await direct(i3, 0, 300_000);
  await direct(i4, 0, 200_000);
  await direct(i4, 1, 100_000);
  await direct(i5, 2, 50_000);

  // a signed purchase relayed by another key (buyWithSig with a permit)
  const buyer = privateKeyToAccount(a5.privateKey);
  const intent: PurchaseIntent = {
    buyer: buyer.address,
    trancheId: 1n,
    amount: tokensOf(40_000),
    maxCost: USD(36_000),
    nonce: 777n,
    deadline: now + 3_600n,
  };
  const signature = await signPurchaseIntent(buyer, {
    portfolio: created.portfolio,
    chainId: anvil.chainId,
    intent,
  });
  const domain = await readPermitDomain(platform.publicClient, { token: payToken, owner: buyer.address });
  const permit = await signPermit(buyer, {
    token: payToken,
    chainId: anvil.chainId,
    name: domain.name,
    version: domain.version,
    owner: buyer.address,
    spender: created.portfolio,
    value: intent.maxCost,
    nonce: domain.nonce,
    deadline: intent.deadline,
  });
  const relayed = await buyWithSig(relayer, { portfolio: created.portfolio, intent, signature, permit });
  purchases.push(relayed);
  movedAt.push(relayed.blockNumber);

  // peer-to-peer transfers
  await transferTokens(i3, created.tranches[0], i5.account.address, tokensOf(25_000));
  await transferTokens(i4, created.tranches[1], i3.account.address, tokensOf(10_000));

  await closeOffering(platform, { portfolio: created.portfolio });
  await testClient.increaseTime({ seconds: 30 * 86_400 });
  recovery = await depositRecovery(servicer, {
    portfolio: created.portfolio,
    amount: USD(120_000),
    approve: true,
  });

  // the platform (root proposer and guardian here) proposes a root for distribution 41, then revokes it
  await sendAndWait(platform, { contract: 'Distributor', functionName: 'proposeRoot' }, () =>
    platform.walletClient.writeContract({
      address: created.distributor,
      abi: distributorAbi,
      functionName: 'proposeRoot',
      args: [`0x${'ab'.repeat(32)}`, 0n, `0x${'cd'.repeat(32)}`, 41n],
    }),
  );
  await sendAndWait(platform, { contract: 'Distributor', functionName: 'revokePendingRoot' }, () =>
    platform.walletClient.writeContract({
      address: created.distributor,
      abi: distributorAbi,
      functionName: 'revokePendingRoot',
    }),
  );

  // the marketplace: i4 sells senior tokens to i3; another order cancelled; i5 bumps its counter
  const marketplace = stack.marketplace as Address;
  const makerAccount = privateKeyToAccount(a4.privateKey);
  const order: Order = {
    maker: a4.address,
    taker: zeroAddress,
    tranche: created.tranches[0],
    payToken,
    sellAmount: tokensOf(20_000),
    price: USD(19_000),
    expiry: now + 10n * 86_400n + 30n * 86_400n,
    salt: 1n,
    counter: 0n,
    partialFill: true,
    maxFeeBps: 100,
    ...NO_DECAY,
  };
  const orderSignature = await signOrder(makerAccount, { marketplace, chainId: anvil.chainId, order });
  await sendAndWait(i4, { contract: 'TrancheToken', functionName: 'approve' }, () =>
    i4.walletClient.writeContract({
      address: created.tranches[0],
      abi: trancheTokenAbi,
      functionName: 'approve',
      args: [marketplace, order.sellAmount],
    }),
  );
  await sendAndWait(i3, { contract: 'TestStablecoin', functionName: 'approve' }, () =>
    i3.walletClient.writeContract({
      address: payToken,
      abi: testStablecoinAbi,
      functionName: 'approve',
      args: [marketplace, order.price],
    }),
  );
  fill = await fillOrder(i3, {
    marketplace,
    order,
    signature: orderSignature,
    amount: tokensOf(5_000),
  });
  expect(fill.cost).toBe(fillCost(order, tokensOf(5_000)));
  movedAt.push(fill.blockNumber);
  const cancelled = { ...order, salt: 2n };
  await cancelOrder(i4, { marketplace, order: cancelled });
  const { hashOrder } = await import('../../core/chain/contracts/marketplace.ts');
  cancelledOrderHash = hashOrder({ marketplace, chainId: anvil.chainId, order: cancelled });
  await incrementOrderCounter(i5, { marketplace });
}, 120_000);

afterAll(async () => {
  await anvil?.stop();
  await tdb?.drop();
});

describe('createIndexer().syncOnce()', () => {
  it('indexes the stack: holdings equal balanceOf for every holder and sum to totalSupply', async () => {
    const indexer = newIndexer();
    const result = await indexer.syncOnce();
    const head = await platform.publicClient.getBlockNumber();

    expect(result.toBlock).toBe(head);
    expect(result.fromBlock).toBe(BigInt(stack.startBlock));
    expect(indexer.head()).toBe(head);
    expect(indexer.status()).toMatchObject({ indexedBlock: head, finalizedBlock: head - 2n, lag: 0n });
    await expectHoldingsMatchChain();

    const contracts = await tdb.prisma.indexedContract.findMany({
      orderBy: [{ kind: 'asc' }, { trancheIndex: 'asc' }],
    });
    expect(contracts.map((c) => [c.kind, c.address, c.trancheIndex])).toEqual([
      ['distributor', created.distributor, null],
      ['portfolio', created.portfolio, null],
      ...created.tranches.map((t, i) => ['tranche', t, i]),
    ]);
  });

  it('records the purchases, the offering close and the recovery with its per-tranche amounts', async () => {
    const rows = await tdb.prisma.purchaseEvent.findMany({ orderBy: [{ blockNumber: 'asc' }] });
    expect(
      rows.map((r) => ({
        txHash: r.txHash,
        blockNumber: r.blockNumber,
        portfolio: r.portfolio,
        trancheId: BigInt(r.trancheId),
        buyer: r.buyer,
        amount: BigInt(r.amount.toFixed()),
        cost: BigInt(r.cost.toFixed()),
        nonce: BigInt(r.nonce.toFixed()),
      })),
    ).toEqual(
      purchases.map((p) => ({
        txHash: p.txHash,
        blockNumber: p.blockNumber,
        portfolio: created.portfolio,
        trancheId: p.trancheId,
        buyer: p.buyer,
        amount: p.amount,
        cost: p.cost,
        nonce: p.nonce,
      })),
    );
    expect(rows.at(-1)?.nonce.toFixed()).toBe('777');

    const closed = await tdb.prisma.offeringClosedEvent.findMany();
    expect(closed).toHaveLength(1);
    expect(closed[0].sold).toEqual(['500000000000', '140000000000', '50000000000']);

    const [event] = await tdb.prisma.recoveryEvent.findMany();
    expect(event).toMatchObject({
      txHash: recovery.txHash,
      blockNumber: recovery.blockNumber,
      portfolio: created.portfolio,
      snapshotBlock: recovery.snapshotBlock,
      reportHash: recovery.reportHash,
    });
    expect(event.amount.toFixed()).toBe(recovery.amount.toString());
    expect(event.servicerFee.toFixed()).toBe(recovery.servicerFee.toString());
    expect(event.undistributed.toFixed()).toBe(recovery.undistributed.toString());
    const perTranche = await tdb.prisma.recoveryEventTranche.findMany({ orderBy: { trancheIndex: 'asc' } });
    expect(
      perTranche.map((t) => [
        t.trancheIndex,
        t.interest.toFixed(),
        t.principal.toFixed(),
        t.residual.toFixed(),
        t.total.toFixed(),
      ]),
    ).toEqual(
      recovery.interest.map((interest, i) => [
        i,
        interest.toString(),
        recovery.principal[i].toString(),
        recovery.residual[i].toString(),
        (interest + recovery.principal[i] + recovery.residual[i]).toString(),
      ]),
    );
    const funded = await tdb.prisma.distributorFundedEvent.findMany();
    expect(funded.map((f) => [f.distributor, f.amount.toFixed()])).toEqual([
      [created.distributor, perTranche.reduce((s, t) => s + BigInt(t.total.toFixed()), 0n).toString()],
    ]);
    expect(await tdb.prisma.documentsAnchoredEvent.count({ where: { portfolio: created.portfolio } })).toBe(
      1,
    );
  });

  it('records the revoked root with the distribution id its RootRevoked carries', async () => {
    const rows = await tdb.prisma.distributorRootEvent.findMany({
      where: { distributor: created.distributor },
      orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
    });
    expect(rows.map((r) => [r.kind, r.root, r.distributionId?.toFixed() ?? null])).toEqual([
      ['proposed', `0x${'ab'.repeat(32)}`, '41'],
      ['revoked', `0x${'ab'.repeat(32)}`, '41'],
    ]);
  });

  it('records the fill, the cancel and the counter bump of the marketplace', async () => {
    const fills = await tdb.prisma.orderFilledEvent.findMany();
    expect(fills).toHaveLength(1);
    expect(fills[0]).toMatchObject({
      txHash: fill.txHash,
      orderHash: fill.orderHash,
      maker: fill.maker,
      taker: fill.taker,
      tranche: created.tranches[0],
    });
    expect(fills[0].amount.toFixed()).toBe(fill.amount.toString());
    expect(fills[0].cost.toFixed()).toBe(fill.cost.toString());
    // a direct Marketplace.fill: the event carries DIRECT_FILL_NONCE
    expect(fill.nonce).toBe(DIRECT_FILL_NONCE);
    expect(fills[0].nonce?.toFixed()).toBe(DIRECT_FILL_NONCE.toString());
    const cancels = await tdb.prisma.orderCancelledEvent.findMany();
    expect(cancels.map((c) => [c.orderHash, c.maker])).toEqual([
      [cancelledOrderHash, investors[1].account.address],
    ]);
    const counters = await tdb.prisma.counterIncrementedEvent.findMany();
    expect(counters.map((c) => [c.maker, c.newCounter.toFixed()])).toEqual([
      [investors[2].account.address, '1'],
    ]);
  });

  it('writes the allowlist state of the registry into the investor table', async () => {
    const frozenAccount = anvil.accounts[6].address;
    const rows = await tdb.prisma.investor.findMany({ orderBy: { address: 'asc' } });
    expect(rows.map((r) => r.address).sort()).toEqual([...holders(), frozenAccount].sort());
    for (const row of rows) {
      expect(row.allowlistedUntil?.getTime()).toBe(Number(expiry) * 1000);
      const [onChainExpiry, onChainFrozen] = await platform.publicClient.readContract({
        address: stack.complianceRegistry,
        abi: complianceRegistryAbi,
        functionName: 'investor',
        args: [row.address as Address],
      });
      expect(onChainExpiry).toBe(expiry);
      expect(row.frozen, row.address).toBe(onChainFrozen);
    }
    expect(rows.find((r) => r.address === frozenAccount)?.frozen).toBe(true);
  });

  it('changes nothing when the same range is synced again', async () => {
    const before = await dumpTables();
    const again = await newIndexer().syncOnce();
    expect(again.logs).toBe(0);
    expect(again.fromBlock).toBeNull();

    // rewind the cursor: every log is decoded and written a second time
    await tdb.pool.query(
      "UPDATE indexer_cursor SET indexed_block = $1, indexed_hash = '' WHERE chain_id = $2",
      [stack.startBlock - 1, stack.chainId],
    );
    const replay = await newIndexer().syncOnce();
    expect(replay.logs).toBeGreaterThan(20);
    expect(await dumpTables()).toEqual(before);
    await expectHoldingsMatchChain();
  });
});

describe('a PortfolioCreated from another contract', () => {
  it('is ignored: only the stack factory’s portfolios are followed', async () => {
    await newIndexer().syncOnce();
    const before = await tdb.prisma.indexedContract.findMany({ orderBy: { address: 'asc' } });
    expect(before.map((c) => c.address)).toContain(created.portfolio);
    // anyone can deploy a look-alike factory (with itself as creator) and create a portfolio there
    const rogue = await deployStack(relayer, { timelockDelay: 5, withTestStablecoin: false });
    const now = (await platform.publicClient.getBlock()).timestamp;
    const fake = await createPortfolio(relayer, {
      factory: rogue.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: relayer.account.address,
      offeringEnd: now + 86_400n,
      tranches,
    });
    expect(fake.portfolio).not.toBe(created.portfolio);
    const result = await newIndexer().syncOnce();
    expect(result.toBlock).toBe(await platform.publicClient.getBlockNumber());
    const after = await tdb.prisma.indexedContract.findMany({ orderBy: { address: 'asc' } });
    expect(after).toEqual(before);
    const followed = new Set(after.map((c) => c.address.toLowerCase()));
    for (const address of [fake.portfolio, fake.distributor, ...fake.tranches]) {
      expect(followed.has(address.toLowerCase())).toBe(false);
    }
  });
});

describe('confirmations', () => {
  it('tracks the blocks within the confirmation depth as unfinalized and prunes them once final', async () => {
    const [i3, i4] = investors;
    await transferTokens(i3, created.tranches[0], i4.account.address, tokensOf(1_000));
    await transferTokens(i4, created.tranches[0], i3.account.address, tokensOf(500));
    const indexer = newIndexer(3);
    const result = await indexer.syncOnce();
    const head = await platform.publicClient.getBlockNumber();
    expect(result.finalizedBlock).toBe(head - 3n);

    const window = await tdb.prisma.indexerBlock.findMany({ orderBy: { number: 'asc' } });
    const numbers = window.map((b) => b.number);
    // the two transfer blocks (the last is the head) are above the finalized block; one anchor at or below it
    expect(numbers.filter((n) => n > head - 3n)).toEqual(expect.arrayContaining([head - 1n, head]));
    expect(numbers.every((n) => n <= head)).toBe(true);
    expect(numbers.filter((n) => n <= head - 3n)).toHaveLength(1);
    for (const block of window) {
      expect(block.hash).toBe((await platform.publicClient.getBlock({ blockNumber: block.number })).hash);
    }

    await testClient.mine({ blocks: 5 });
    const later = await indexer.syncOnce();
    expect(later.finalizedBlock).toBe(head + 5n - 3n);
    const pruned = await tdb.prisma.indexerBlock.findMany({ orderBy: { number: 'asc' } });
    expect(pruned.filter((b) => b.number <= later.finalizedBlock)).toHaveLength(1);
    expect(pruned.at(-1)?.number).toBe(head + 5n);
    await expectHoldingsMatchChain();
  });
});

describe('reorgs', () => {
  it('evm_revert to a snapshot and different transactions: the orphaned transfers are gone', async () => {
    const [i3, i4, i5] = investors;
    const indexer = newIndexer(4);
    await indexer.syncOnce();
    const snapshot = await testClient.snapshot();
    const orphan = await transferTokens(i3, created.tranches[0], i5.account.address, tokensOf(7_000));
    const orphan2 = await transferTokens(i5, created.tranches[2], i4.account.address, tokensOf(1_000));
    await indexer.syncOnce();
    expect(
      await tdb.prisma.tokenTransfer.count({ where: { txHash: { in: [orphan.txHash, orphan2.txHash] } } }),
    ).toBe(2);
    await expectHoldingsMatchChain();

    await testClient.revert({ id: snapshot });
    const replacement = await transferTokens(i4, created.tranches[0], i3.account.address, tokensOf(3_000));
    expect(replacement.blockNumber).toBe(orphan.blockNumber);
    const result = await indexer.syncOnce();

    expect(result.reorg).toMatchObject({ forkBlock: orphan.blockNumber - 1n, transfersRemoved: 2 });
    expect(
      await tdb.prisma.tokenTransfer.count({ where: { txHash: { in: [orphan.txHash, orphan2.txHash] } } }),
    ).toBe(0);
    expect(await tdb.prisma.tokenTransfer.count({ where: { txHash: replacement.txHash } })).toBe(1);
    expect(indexer.status().reorgs).toBeGreaterThanOrEqual(1);
    await expectHoldingsMatchChain();
  });

  it('evm_revert to a shorter chain: rolls back to the fork point and waits for new blocks', async () => {
    const [i3, i5] = [investors[0], investors[2]];
    const indexer = newIndexer(4);
    await indexer.syncOnce();
    const snapshot = await testClient.snapshot();
    const orphan = await transferTokens(i3, created.tranches[1], i5.account.address, tokensOf(2_000));
    await testClient.mine({ blocks: 2 });
    await indexer.syncOnce();
    await testClient.revert({ id: snapshot });

    const result = await indexer.syncOnce();
    expect(result.reorg?.forkBlock).toBe(orphan.blockNumber - 1n);
    expect(await tdb.prisma.tokenTransfer.count({ where: { txHash: orphan.txHash } })).toBe(0);
    await expectHoldingsMatchChain();
  });

  it('anvil_reorg replaces the last blocks: orphaned transfers go, the re-mined ones come in', async () => {
    const [i3, i4, i5] = investors;
    const indexer = newIndexer(5);
    const orphan = await transferTokens(i4, created.tranches[0], i5.account.address, tokensOf(4_000));
    await testClient.mine({ blocks: 1 });
    await indexer.syncOnce();
    expect(await tdb.prisma.tokenTransfer.count({ where: { txHash: orphan.txHash } })).toBe(1);

    // two blocks deep; the new branch carries a different transfer signed by i3
    const data = encodeFunctionData({
      abi: trancheTokenAbi,
      functionName: 'transfer',
      args: [i4.account.address, tokensOf(1_500)],
    });
    await testClient.request({
      method: 'anvil_reorg' as never,
      params: [2, [[{ from: i3.account.address, to: created.tranches[0], data }, 0]]] as never,
    });
    const result = await indexer.syncOnce();

    expect(result.reorg?.forkBlock).toBe(orphan.blockNumber - 1n);
    expect(await tdb.prisma.tokenTransfer.count({ where: { txHash: orphan.txHash } })).toBe(0);
    const newBranch = await tdb.prisma.tokenTransfer.findMany({ where: { blockNumber: orphan.blockNumber } });
    expect(newBranch.map((t) => [t.from, t.to, t.value.toFixed()])).toEqual([
      [i3.account.address, i4.account.address, tokensOf(1_500).toString()],
    ]);
    await expectHoldingsMatchChain();
  });
});

describe('balancesAt()', () => {
  it('equals balanceOf and totalSupply at several blocks', async () => {
    const head = await platform.publicClient.getBlockNumber();
    const blocks = [...new Set([...movedAt.filter((b) => b <= head), head, recovery.snapshotBlock])].sort(
      (a, b) => (a < b ? -1 : 1),
    );
    expect(blocks.length).toBeGreaterThan(6);
    for (const blockNumber of blocks) {
      for (const tranche of created.tranches) {
        const snapshot = await balancesAt(tdb.prisma, { tranche, blockNumber });
        const expected = [];
        for (const account of holders()) {
          const balance = await balanceOf(tranche, account, blockNumber);
          if (balance > 0n) expected.push({ account, balance });
        }
        expected.sort((a, b) => (a.account < b.account ? -1 : 1));
        expect(snapshot.balances, `${tranche} at ${blockNumber}`).toEqual(expected);
        expect(snapshot.totalSupply).toBe(await totalSupply(tranche, blockNumber));
      }
    }
  });

  it('refuses a block the indexer has not reached and a token it does not follow', async () => {
    const indexed = (await tdb.prisma.indexerCursor.findFirstOrThrow()).indexedBlock;
    await expect(
      balancesAt(tdb.prisma, { tranche: created.tranches[0], blockNumber: indexed + 1n }),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
    await expect(balancesAt(tdb.prisma, { tranche: payToken, blockNumber: 1n })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('start() / stop()', () => {
  it('follows new blocks while running', async () => {
    const indexer = createIndexer({
      db: tdb,
      publicClient: platform.publicClient,
      stack,
      confirmations: 1,
      pollIntervalMs: 25,
    });
    indexer.start();
    try {
      const moved = await transferTokens(
        investors[0],
        created.tranches[1],
        investors[1].account.address,
        tokensOf(1),
      );
      const deadline = Date.now() + 10_000;
      while ((indexer.head() ?? 0n) < moved.blockNumber && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(indexer.status()).toMatchObject({ running: true, lastError: null });
      expect(await tdb.prisma.tokenTransfer.count({ where: { txHash: moved.txHash } })).toBe(1);
    } finally {
      await indexer.stop();
    }
    expect(indexer.status().running).toBe(false);
    await expectHoldingsMatchChain();
  });
});

describe('GET /v1/investors/:address/holdings', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: tdb });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers the indexed balances of the address, checksummed, amounts as decimal strings', async () => {
    const account = investors[1].account.address;
    const res = await t.app.inject({ method: 'GET', url: `/v1/investors/${account.toLowerCase()}/holdings` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.address).toBe(account);
    const expected = [];
    for (const [i, tranche] of created.tranches.entries()) {
      const balance = await balanceOf(tranche, account);
      if (balance > 0n) expected.push({ tranche, trancheIndex: i, balance: balance.toString() });
    }
    expect(expected.length).toBeGreaterThan(1);
    expect(
      body.items.map((h: { tranche: string; trancheIndex: number; balance: string }) => ({
        tranche: h.tranche,
        trancheIndex: h.trancheIndex,
        balance: h.balance,
      })),
    ).toEqual(expected);
    expect(body.items[0]).toMatchObject({ chainId: stack.chainId, portfolio: created.portfolio });
    const cursor = await tdb.prisma.indexerCursor.findFirstOrThrow();
    expect(body.chains).toEqual([
      {
        chainId: stack.chainId,
        indexedBlock: cursor.indexedBlock.toString(),
        finalizedBlock: cursor.finalizedBlock.toString(),
      },
    ]);
  });

  it('answers an empty list for an address without tokens and 400 for a malformed one', async () => {
    const empty = await t.app.inject({
      method: 'GET',
      url: `/v1/investors/${anvil.accounts[8].address}/holdings`,
    });
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toEqual({ address: anvil.accounts[8].address, items: [], chains: [] });
    const bad = await t.app.inject({ method: 'GET', url: '/v1/investors/0x1234/holdings' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');
  });
});

describe('arrayLiteral() through Postgres', () => {
  it('round-trips awkward strings and nulls as a text[] parameter', async () => {
    const values = ['0xab', '12', null, 'a"b\\c', '["1","2"]', 'NULL', 'with space', '', '{x}', 'é,ü'];
    const { rows } = await tdb.pool.query('SELECT $1::text[] AS a', [arrayLiteral(values)]);
    expect(rows[0].a).toEqual(values);
  });
});

describe('a reorg below the unfinalized window', () => {
  it('stops with a non-retryable error and deletes nothing', async () => {
    const indexer = newIndexer(0);
    const orphan = await transferTokens(
      investors[0],
      created.tranches[0],
      investors[1].account.address,
      tokensOf(1),
    );
    await indexer.syncOnce();
    await testClient.request({ method: 'anvil_reorg' as never, params: [1, []] as never });

    const error = await indexer.syncOnce().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IndexerError);
    expect(error).toMatchObject({ retryable: false });
    expect(indexer.status().lastError).toMatch(/below the unfinalized window/);
    expect(await tdb.prisma.tokenTransfer.count({ where: { txHash: orphan.txHash } })).toBe(1);
  });
});
