import {
  type Address,
  type Hex,
  keccak256,
  parseUnits,
  TransactionNotFoundError,
  toBytes,
  toHex,
} from 'viem';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintTestStablecoin } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients, withAccount } from '../../core/chain/clients.ts';
import { deployStack } from '../../core/chain/deploy.ts';
import { ChainError } from '../../core/chain/errors.ts';
import { testStablecoinAbi } from '../../core/chain/generated/index.ts';
import { bumpFee, bumpFees, classifyBroadcastError } from '../../core/chain/relayer/policy.ts';
import {
  type CreateRelayerOptions,
  createRelayer,
  DEFAULT_UNKNOWN_NONCE_BLOCKS,
  NONCE_FILL_KIND,
  type Relayer,
} from '../../core/chain/relayer/relayer.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { type LaggingRpc, startLaggingRpc } from '../helpers/lagging-rpc.ts';

const USD = (units: number) => parseUnits(String(units), 6);

let anvil: AnvilInstance;
let tdb: TestDatabase;
let platform: ChainClients;
let signer: ChainClients;
let token: Address;
let testClient: ReturnType<typeof createAnvilTestClient>;
const running: Relayer[] = [];
const monitorErrors: unknown[] = [];

beforeAll(async () => {
  [anvil, tdb] = await Promise.all([startAnvil(), createTestDatabase()]);
  const [a0, a1] = anvil.accounts;
  platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
  signer = withAccount(platform, a1.privateKey);
  testClient = createAnvilTestClient(anvil.rpcUrl);
  const stack = await deployStack(platform);
  token = stack.testStablecoin as Address;
  await mintTestStablecoin(platform, { token, to: signer.account.address, amount: USD(1_000_000) });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((relayer) => relayer.stop()));
  await testClient.setAutomine(true);
  await testClient.mine({ blocks: 1 });
});

afterAll(async () => {
  await tdb?.drop();
  await anvil?.stop();
});

function newRelayer(options: Partial<CreateRelayerOptions> = {}): Relayer {
  const relayer = createRelayer({
    clients: signer,
    prisma: tdb.prisma,
    pollIntervalMs: 50,
    onError: (error) => monitorErrors.push(error),
    ...options,
  });
  running.push(relayer);
  return relayer;
}

let recipientIndex = 0;
const nextRecipient = (): Address => toHex(0x1000 + ++recipientIndex, { size: 20 });

const transfer = (idempotencyKey: string, amount: bigint, to: Address = nextRecipient()) =>
  ({
    idempotencyKey,
    kind: 'transfer',
    to: token,
    abi: testStablecoinAbi,
    functionName: 'transfer',
    args: [to, amount],
    contract: 'TestStablecoin',
  }) as const;

const chainNonce = () =>
  signer.publicClient.getTransactionCount({ address: signer.account.address, blockTag: 'latest' });

async function storedNextNonce(): Promise<bigint | undefined> {
  const row = await tdb.prisma.relayNonce.findUnique({
    where: { chainId_address: { chainId: anvil.chainId, address: signer.account.address } },
  });
  return row?.nextNonce;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function nodeKnows(hash: string): Promise<boolean> {
  try {
    await signer.publicClient.getTransaction({ hash: hash as Hex });
    return true;
  } catch (error) {
    if (error instanceof TransactionNotFoundError) return false;
    throw error;
  }
}

describe('bumpFees()', () => {
  it('raises both EIP-1559 fees by at least 12.5%, and by at least 1 wei', () => {
    const bumped = bumpFees({ maxFeePerGas: 2_000_000_001n, maxPriorityFeePerGas: 8n });
    expect(bumped.maxFeePerGas * 1000n).toBeGreaterThanOrEqual(2_000_000_001n * 1125n);
    expect(bumped.maxPriorityFeePerGas).toBe(9n);
    expect(bumpFee(0n)).toBe(1n);
    expect(bumpFee(1n)).toBe(2n);
  });

  it('takes the current estimate when it is above the bumped fees', () => {
    const bumped = bumpFees(
      { maxFeePerGas: 100n, maxPriorityFeePerGas: 10n },
      { maxFeePerGas: 500n, maxPriorityFeePerGas: 11n },
    );
    expect(bumped).toEqual({ maxFeePerGas: 500n, maxPriorityFeePerGas: 12n });
  });

  it('never leaves the priority fee above the max fee', () => {
    const bumped = bumpFees(
      { maxFeePerGas: 10n, maxPriorityFeePerGas: 10n },
      { maxFeePerGas: 5n, maxPriorityFeePerGas: 50n },
    );
    expect(bumped.maxFeePerGas).toBeGreaterThanOrEqual(bumped.maxPriorityFeePerGas);
  });
});

describe('classifyBroadcastError()', () => {
  it('tells known, nonce-used, underpriced, permanent and retryable answers apart', () => {
    expect(classifyBroadcastError(new Error('transaction already imported'))).toBe('known');
    expect(classifyBroadcastError(new Error('nonce too low'))).toBe('nonceUsed');
    expect(classifyBroadcastError(new Error('replacement transaction underpriced'))).toBe('underpriced');
    expect(
      classifyBroadcastError(new Error('intrinsic gas too high -- tx.gas_limit > env.block.gas_limit')),
    ).toBe('permanent');
    expect(classifyBroadcastError(new Error('insufficient funds for gas * price + value'))).toBe('retry');
    expect(classifyBroadcastError(new Error('max fee per gas less than block base fee'))).toBe('retry');
    expect(classifyBroadcastError(new Error('something new'))).toBe('unknown');
  });
});

describe('createRelayer()', () => {
  it('gives 50 concurrent submits 50 consecutive nonces, all mined, no gap', async () => {
    const relayer = newRelayer();
    const start = BigInt(await chainNonce());
    const rows = await Promise.all(
      Array.from({ length: 50 }, (_, i) => relayer.submit(transfer(`concurrent-${i}`, USD(1)))),
    );
    const nonces = rows.map((row) => row.nonce).sort((a, b) => (a < b ? -1 : 1));
    expect(nonces).toEqual(Array.from({ length: 50 }, (_, i) => start + BigInt(i)));
    relayer.start();
    const settled = await Promise.all(rows.map((row) => relayer.waitFor(row.id, { timeoutMs: 15_000 })));
    expect(settled.map((row) => row.status)).toEqual(rows.map(() => 'mined'));
    expect(BigInt(await chainNonce())).toBe(start + 50n);
    expect(await storedNextNonce()).toBe(start + 50n);
    for (const row of settled.slice(0, 5)) {
      const mined = await signer.publicClient.getTransaction({ hash: row.txHash as Hex });
      expect(BigInt(mined.nonce)).toBe(row.nonce);
      expect(mined.blockNumber).toBe(row.blockNumber);
    }
  });

  it('sends one transaction for an idempotency key submitted 10 times concurrently', async () => {
    const relayer = newRelayer();
    const start = BigInt(await chainNonce());
    const intent = transfer('same-intent', USD(2));
    const rows = await Promise.all(Array.from({ length: 10 }, () => relayer.submit(intent)));
    expect(new Set(rows.map((row) => row.id)).size).toBe(1);
    expect(await tdb.prisma.relayTx.count({ where: { idempotencyKey: 'same-intent' } })).toBe(1);
    const mined = await relayer.waitFor('same-intent', { timeoutMs: 5_000 });
    expect(mined.status).toBe('mined');
    expect(mined.nonce).toBe(start);
    expect(BigInt(await chainNonce())).toBe(start + 1n);
    // Once mined, the same key still answers the same row (no second simulation or transaction).
    expect((await relayer.submit(intent)).id).toBe(mined.id);
    expect(BigInt(await chainNonce())).toBe(start + 1n);
  });

  it('refuses an idempotency key reused for another call (CONFLICT)', async () => {
    const relayer = newRelayer();
    await relayer.submit(transfer('reused-key', USD(3)));
    await expect(relayer.submit(transfer('reused-key', USD(4)))).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('throws a decoded ChainError for a reverting call and consumes no nonce', async () => {
    const relayer = newRelayer();
    const before = await storedNextNonce();
    const error = await relayer.submit(transfer('too-much', USD(10_000_000))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect(error).toMatchObject({ kind: 'revert', errorName: 'ERC20InsufficientBalance' });
    expect(await relayer.get('too-much')).toBeNull();
    expect(await storedNextNonce()).toBe(before);
    const next = await relayer.submit(transfer('after-revert', USD(1)));
    expect(next.nonce).toBe(before);
    expect((await relayer.waitFor(next.id)).status).toBe('mined');
  });

  it('replaces a transaction stuck in the pool with both fees bumped by >= 12.5%; the replacement settles it', async () => {
    await testClient.setAutomine(false);
    const relayer = newRelayer({ bumpAfterMs: 150, maxFeeBumps: 2 });
    const start = BigInt(await chainNonce());
    const row = await relayer.submit(transfer('stuck', USD(1)));
    relayer.start();
    const attempts = await until('two replacements', async () => {
      const list = await tdb.prisma.relayTxAttempt.findMany({
        where: { relayTxId: row.id },
        orderBy: { createdAt: 'asc' },
      });
      return list.length === 3 && list;
    });
    for (let i = 1; i < attempts.length; i++) {
      expect(attempts[i].maxFeePerGas * 1000n).toBeGreaterThanOrEqual(attempts[i - 1].maxFeePerGas * 1125n);
      expect(attempts[i].maxPriorityFeePerGas * 1000n).toBeGreaterThanOrEqual(
        attempts[i - 1].maxPriorityFeePerGas * 1125n,
      );
    }
    const latest = attempts[2];
    // maxFeeBumps: 2 -> no fourth variant however long it waits.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await tdb.prisma.relayTxAttempt.count({ where: { relayTxId: row.id } })).toBe(3);
    await until('the node to hold the last replacement', () => nodeKnows(latest.txHash));
    expect(await nodeKnows(attempts[0].txHash)).toBe(false);
    await expect(relayer.waitFor(row.id, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
    });

    await testClient.mine({ blocks: 1 });
    const mined = await relayer.waitFor(row.id, { timeoutMs: 5_000 });
    expect(mined).toMatchObject({ status: 'mined', txHash: latest.txHash, attempts: 3 });
    expect(mined.maxFeePerGas).toBe(latest.maxFeePerGas);
    const receipt = await signer.publicClient.getTransactionReceipt({ hash: latest.txHash as Hex });
    expect(receipt.status).toBe('success');
    expect(BigInt(await chainNonce())).toBe(start + 1n);
  });

  it('resumes after a crash: a new relayer on the same database re-broadcasts what the node lost', async () => {
    await testClient.setAutomine(false);
    const start = BigInt(await chainNonce());
    let first: Relayer | undefined = newRelayer({ bumpAfterMs: 60_000 });
    const row = await first.submit(transfer('survives-restart', USD(1)));
    expect(await nodeKnows(row.txHash)).toBe(true);
    await first.stop();
    first = undefined;
    await testClient.request({ method: 'anvil_dropAllTransactions' } as never);
    expect(await nodeKnows(row.txHash)).toBe(false);

    const second = newRelayer({ bumpAfterMs: 60_000 });
    second.start();
    await until('the re-broadcast', () => nodeKnows(row.txHash));
    await testClient.mine({ blocks: 1 });
    const mined = await second.waitFor(row.id, { timeoutMs: 5_000 });
    expect(mined).toMatchObject({ status: 'mined', txHash: row.txHash, nonce: start, attempts: 1 });
    await testClient.mine({ blocks: 2 });
    expect(BigInt(await chainNonce())).toBe(start + 1n);
  });

  it('stores a mined revert as reverted with the decoded reason', async () => {
    await testClient.setAutomine(false);
    const relayer = newRelayer();
    const balance = await signer.publicClient.readContract({
      address: token,
      abi: testStablecoinAbi,
      functionName: 'balanceOf',
      args: [signer.account.address],
    });
    // Both simulate against the same state; only the first can be paid once both are in one block.
    try {
      const a = await relayer.submit(transfer('drain-a', balance));
      const b = await relayer.submit(transfer('drain-b', balance));
      expect(b.nonce).toBe(a.nonce + 1n);
      await testClient.mine({ blocks: 1 });
      const [minedA, minedB] = await Promise.all([relayer.waitFor(a.id), relayer.waitFor(b.id)]);
      expect(minedA.status).toBe('mined');
      expect(minedB).toMatchObject({
        status: 'reverted',
        errorName: 'ERC20InsufficientBalance',
        errorCode: 'CONFLICT',
      });
      expect(minedB.revertReason).toMatch(
        /TestStablecoin\.transfer: reverted with ERC20InsufficientBalance\(/,
      );
      expect(minedB.blockNumber).toBe(minedA.blockNumber);
    } finally {
      await testClient.setAutomine(true);
      await mintTestStablecoin(platform, { token, to: signer.account.address, amount: USD(1_000_000) });
    }
  });

  it('fails a transaction the node rejects for good and fills its nonce with a 0-value self-transfer', async () => {
    const relayer = newRelayer();
    const start = BigInt(await chainNonce());
    const rejected = await relayer.submit({ ...transfer('gas-above-block-limit', USD(1)), gas: 40_000_000n });
    expect(rejected).toMatchObject({ status: 'failed', nonce: start });
    expect(rejected.revertReason).toMatch(/gas/);
    const filler = await tdb.prisma.relayTx.findFirstOrThrow({
      where: { kind: NONCE_FILL_KIND, refId: rejected.id },
    });
    expect(filler).toMatchObject({ nonce: start, to: signer.account.address, data: '0x' });
    expect((await relayer.waitFor(filler.id)).status).toBe('mined');
    const fillTx = await signer.publicClient.getTransaction({
      hash: (await relayer.get(filler.id))!.txHash as Hex,
    });
    expect(fillTx).toMatchObject({ from: signer.account.address.toLowerCase(), value: 0n });

    const next = await relayer.submit(transfer('after-fill', USD(1)));
    expect(next.nonce).toBe(start + 1n);
    expect((await relayer.waitFor(next.id)).status).toBe('mined');
    expect(BigInt(await chainNonce())).toBe(start + 2n);
  });

  it('fails a row whose nonce was taken by a transaction sent outside the relayer only DEFAULT_UNKNOWN_NONCE_BLOCKS blocks later, across a restart; the next nonce follows the chain', async () => {
    await testClient.setAutomine(false);
    const relayer = newRelayer({ bumpAfterMs: 60_000 });
    const row = await relayer.submit(transfer('overtaken', USD(1)));
    // The same key sends another transaction with that nonce and higher fees (it replaces ours in the pool).
    const outside = await signer.walletClient.sendTransaction({
      to: signer.account.address,
      value: 0n,
      nonce: Number(row.nonce),
      maxFeePerGas: row.maxFeePerGas * 2n,
      maxPriorityFeePerGas: row.maxPriorityFeePerGas * 2n,
    });
    await testClient.mine({ blocks: 1 });
    expect((await signer.publicClient.getTransactionReceipt({ hash: outside })).status).toBe('success');
    // used nonce, no receipt for any of our variants: unknown (still pending), however many passes see it
    for (let i = 0; i < 5; i++) await relayer.tick();
    const unknown = await relayer.get(row.id);
    const mark = await signer.publicClient.getBlockNumber({ cacheTime: 0 });
    expect(unknown).toMatchObject({ status: 'pending', unknownSinceBlock: mark });
    await relayer.stop();

    // a restart keeps the mark: a new relayer counts from the same block, not from its own start
    const restarted = newRelayer({ bumpAfterMs: 60_000 });
    await testClient.mine({ blocks: DEFAULT_UNKNOWN_NONCE_BLOCKS - 1 });
    for (let i = 0; i < 3; i++) await restarted.tick();
    expect(await restarted.get(row.id)).toMatchObject({ status: 'pending', unknownSinceBlock: mark });
    await testClient.mine({ blocks: 1 });
    const failed = await restarted.waitFor(row.id, { timeoutMs: 5_000 });
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'CONFLICT', unknownSinceBlock: null });
    expect(failed.revertReason).toMatch(/used by another transaction/);
    await testClient.setAutomine(true);
    // A nonce the relayer has not handed out yet, used outside: the next allocation starts after it.
    await signer.walletClient.sendTransaction({
      to: signer.account.address,
      value: 0n,
      nonce: Number(row.nonce) + 1,
    });
    expect(await storedNextNonce()).toBe(row.nonce + 1n);
    const next = await restarted.submit(transfer('after-overtaken', USD(1)));
    expect(next.nonce).toBe(row.nonce + 2n);
    expect((await restarted.waitFor(next.id)).status).toBe('mined');
  });

  it('get() finds a row by id or by idempotency key', async () => {
    const relayer = newRelayer();
    const row = await relayer.submit(transfer(`lookup-${keccak256(toBytes('x'))}`, USD(1)));
    expect((await relayer.get(row.id))?.idempotencyKey).toBe(row.idempotencyKey);
    expect((await relayer.get(row.idempotencyKey))?.id).toBe(row.id);
    expect(await relayer.get('00000000-0000-4000-8000-000000000000')).toBeNull();
  });
});

describe('createRelayer() behind an RPC whose receipts lag its nonces', () => {
  let lagging: LaggingRpc;
  let behind: ChainClients;

  beforeAll(async () => {
    lagging = await startLaggingRpc({ upstream: anvil.rpcUrl, lagMs: 1_000 });
    behind = createChainClients({
      rpcUrl: lagging.rpcUrl,
      privateKey: anvil.accounts[1].privateKey,
      pollingInterval: 20,
    });
  });

  afterAll(async () => {
    await lagging?.close();
  });

  it('settles a transaction whose receipt comes 1 s after its nonce as mined, not failed (the worker ticks every 50 ms)', async () => {
    lagging.setLag(1_000);
    const relayer = newRelayer({ clients: behind });
    const before = lagging.nullReceipts();
    const row = await relayer.submit(transfer('lagging-receipt', USD(1)));
    // the node mined it at once (automine): the nonce is used, the receipt is not served yet
    expect(BigInt(await chainNonce())).toBe(row.nonce + 1n);
    const settled = await relayer.waitFor(row.id, { timeoutMs: 20_000 });
    expect(settled).toMatchObject({ status: 'mined', txHash: row.txHash, unknownSinceBlock: null });
    expect(lagging.nullReceipts() - before).toBeGreaterThan(2);
    const receipt = await signer.publicClient.getTransactionReceipt({ hash: row.txHash as Hex });
    expect(settled.blockNumber).toBe(receipt.blockNumber);
  });

  it('keeps a lagging row unknown across a restart, then settles it from its receipt', async () => {
    lagging.setLag(60_000);
    const first = newRelayer({ clients: behind });
    const row = await first.submit(transfer('lagging-restart', USD(1)));
    for (let i = 0; i < 4; i++) await first.tick();
    expect(await first.get(row.id)).toMatchObject({ status: 'pending' });
    expect((await first.get(row.id))?.unknownSinceBlock).not.toBeNull();
    await first.stop();
    // blocks come meanwhile, fewer than the bound
    await testClient.mine({ blocks: DEFAULT_UNKNOWN_NONCE_BLOCKS - 1 });
    const restarted = newRelayer({ clients: behind });
    for (let i = 0; i < 3; i++) await restarted.tick();
    expect(await restarted.get(row.id)).toMatchObject({ status: 'pending' });
    lagging.setLag(0);
    expect(await restarted.waitFor(row.id, { timeoutMs: 10_000 })).toMatchObject({
      status: 'mined',
      unknownSinceBlock: null,
    });
  });

  it('sets a row failed as rejected by one backend to mined when its transaction was mined after all; its nonce-fill fails', async () => {
    lagging.setLag(0);
    const relayer = newRelayer({ clients: behind, maxBroadcastFailures: 1 });
    const before = BigInt(await chainNonce());
    lagging.refuseSendsAfterForwarding(1, 'exceeds block gas limit');
    const row = await relayer.submit(transfer('refused-but-mined', USD(1)));
    expect(row).toMatchObject({ status: 'failed', nonce: before });
    const filler = await tdb.prisma.relayTx.findFirstOrThrow({
      where: { kind: NONCE_FILL_KIND, refId: row.id },
    });
    const settledFiller = await relayer.waitFor(filler.id, { timeoutMs: 10_000 });
    expect(settledFiller).toMatchObject({ status: 'failed', errorCode: 'CONFLICT' });
    expect(settledFiller.revertReason).toContain(row.id);
    const corrected = await relayer.get(row.id);
    expect(corrected).toMatchObject({ status: 'mined', revertReason: null, errorCode: null });
    const receipt = await signer.publicClient.getTransactionReceipt({ hash: row.txHash as Hex });
    expect(receipt.status).toBe('success');
    expect(corrected?.blockNumber).toBe(receipt.blockNumber);
    expect(BigInt(await chainNonce())).toBe(before + 1n);
  });
});
