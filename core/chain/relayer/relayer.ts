/**
 * The platform relayer: one signer key sends the platform's transactions (`buyWithSig`, `fill`, ...)
 * with Postgres as the source of truth, so that nothing is sent twice, no nonce is reused or
 * skipped, and a restart resumes whatever was pending.
 *
 * `submit()`:
 * 1. returns the existing row when the idempotency key was seen before (nothing simulated or sent);
 * 2. simulates the call (`eth_call`): a revert throws a decoded `ChainError`, allocates no nonce and
 *    stores nothing; then estimates gas and fees;
 * 3. in one Postgres transaction, locks the signer's `relay_nonce` row (created from the chain's
 *    pending nonce, and never behind it), re-checks the idempotency key, signs locally with the next
 *    nonce and stores the row, its raw signed transaction and hash, and the next nonce;
 * 4. broadcasts. A failed broadcast is retried by the monitor; a transaction the node rejects for
 *    good (e.g. gas above the block limit) is marked `failed` and its nonce is filled with a 0-value
 *    self-transfer (a `nonce-fill` row) so later nonces are never blocked.
 *
 * The monitor (`start()` / `stop()`, or `tick()` once) walks the signer's pending rows in nonce order:
 * a mined nonce settles its row from the receipt of any attempted hash (`mined`, or `reverted` with
 * the decoded reason); a pending one the node does not know is re-broadcast (restart after a crash);
 * one pending longer than `bumpAfterMs` is replaced (same nonce, both EIP-1559 fees +12.5%), at most
 * `maxFeeBumps` times. Every signed variant is kept in `relay_tx_attempt`.
 *
 * A used nonce without a receipt is not a verdict: a load-balanced RPC answers `eth_getTransactionCount`
 * and `eth_getTransactionReceipt` from different backends, and the receipt may lag the nonce. Such a
 * row is "unknown": it stays `pending` (every reader keeps treating it as not final) and
 * `unknown_since_block` records the head block at which the relayer first saw it so (in Postgres, so
 * the bound survives a restart and holds for every relayer process). It settles from a receipt of
 * any of its variants as soon as one appears; it is `failed` (CONFLICT, "nonce used by another
 * transaction") only once the head is `unknownNonceBlocks` (default `DEFAULT_UNKNOWN_NONCE_BLOCKS`,
 * 12) blocks past that mark and still none of its variants, nor any other row with that nonce (a
 * nonce-fill and the row it fills), has a receipt. A receipt of another row with the same nonce
 * settles that row instead (a failed row whose transaction was mined after all is set to what its
 * receipt says) and this one fails at once. A reorg that un-uses the nonce clears the mark. On a
 * chain that mines only when a transaction arrives, the bound is reached only as blocks come.
 *
 * Several relayers (processes) may share one database and key: nonces are allocated under the row
 * lock, and a fee bump only lands when the row's `attempts` did not change in between.
 */
import {
  type Abi,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionName,
  encodeFunctionData,
  getAddress,
  type Hex,
  keccak256,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
} from 'viem';
import type { PrismaClient, RelayTx, RelayTxAttempt } from '../../db/generated/client.ts';
import { isUniqueViolation } from '../../db/unique-violation.ts';
import { ConflictError, NotFoundError, ServiceUnavailableError } from '../../platform/errors/index.ts';
import type { ChainClients } from '../clients.ts';
import { ChainError, decodeRevertData, toChainError } from '../errors.ts';
import {
  type BroadcastOutcome,
  bumpFees,
  classifyBroadcastError,
  describeBroadcastError,
  type Fees,
} from './policy.ts';

export type { RelayTx };

export type CreateRelayerOptions = {
  /** The platform signer: `clients.account` signs every transaction. */
  clients: ChainClients;
  prisma: PrismaClient;
  /** Monitor period (ms); default 1000. */
  pollIntervalMs?: number;
  /** A transaction pending this long (ms) since it was last sent is replaced with higher fees; default 30 000. */
  bumpAfterMs?: number;
  /** Replacements per transaction at most; default 5. */
  maxFeeBumps?: number;
  /** Gas limit = estimate × this / 10 000; default 12 000 (+20%). */
  gasMultiplierBps?: number;
  /** Broadcasts of one signed transaction failing for an unknown reason before it counts as rejected for good; default 5. */
  maxBroadcastFailures?: number;
  /**
   * Blocks a row may stay "unknown" (its nonce used on chain, no receipt for any of its variants)
   * before it counts as failed: the receipt lag of the RPC, in blocks, this relayer tolerates;
   * default `DEFAULT_UNKNOWN_NONCE_BLOCKS` (12).
   */
  unknownNonceBlocks?: number;
  /** Errors of the monitor loop (it keeps running); default: ignored. */
  onError?: (error: unknown) => void;
};

export type RelayerSubmitParameters<
  abi extends Abi | readonly unknown[] = Abi,
  functionName extends ContractFunctionName<abi, 'nonpayable' | 'payable'> = ContractFunctionName<
    abi,
    'nonpayable' | 'payable'
  >,
> = {
  /** One key per intent (e.g. `purchase:<intent digest>`); the same key never sends a second transaction. */
  idempotencyKey: string;
  /** What this is (`buyWithSig`, `fill`, ...); stored, used by readers of `relay_tx`. */
  kind: string;
  /** The caller's record (purchase id, order hash). */
  refId?: string;
  to: Address;
  abi: abi;
  functionName: functionName;
  args?: ContractFunctionArgs<abi, 'nonpayable' | 'payable', functionName>;
  /** Our name of the contract, for error messages (`Portfolio`). */
  contract?: string;
  /** Gas limit; default: the node's estimate plus `gasMultiplierBps`. */
  gas?: bigint;
  /**
   * Block the simulation and the gas estimate run against; default `latest`. `pending` for a call
   * that depends on the clock (e.g. `acceptRoot` after a timelock): on a chain that mines only when a
   * transaction arrives (anvil's default), the pending block has the wall-clock time and the latest
   * block may be hours old.
   */
  blockTag?: 'latest' | 'pending';
};

export type WaitForOptions = { timeoutMs?: number };

export type Relayer = {
  /** The signer's address and chain. */
  address: Address;
  chainId: number;
  /** Simulates, allocates a nonce, stores, signs and sends; returns the stored row (see the module comment). */
  submit: <
    const abi extends Abi | readonly unknown[],
    functionName extends ContractFunctionName<abi, 'nonpayable' | 'payable'>,
  >(
    parameters: RelayerSubmitParameters<abi, functionName>,
  ) => Promise<RelayTx>;
  /** The row by id (uuid) or by idempotency key; null when unknown. */
  get: (idOrIdempotencyKey: string) => Promise<RelayTx | null>;
  /**
   * Resolves with the row once it is no longer `pending` (an "unknown" row, its nonce used and no
   * receipt yet, is still `pending`); runs monitor passes itself when the loop
   * is not started. Throws `SERVICE_UNAVAILABLE` after `timeoutMs` (default 60 000).
   */
  waitFor: (idOrIdempotencyKey: string, options?: WaitForOptions) => Promise<RelayTx>;
  /** Starts the monitor loop (idempotent). */
  start: () => void;
  /** Stops the loop and waits for the current pass to end. */
  stop: () => Promise<void>;
  /** One monitor pass over the signer's pending transactions. */
  tick: () => Promise<void>;
};

/** Kind of the 0-value self-transfer that fills the nonce of a transaction the node rejected for good. */
export const NONCE_FILL_KIND = 'nonce-fill';

/**
 * Default of `unknownNonceBlocks`: a row whose nonce is used on chain without a receipt for any of
 * its variants is failed only after the head moved this many blocks past the block at which the
 * relayer first saw that (a lagging RPC backend catches up well within it; another transaction that
 * took the nonce is then beyond doubt).
 */
export const DEFAULT_UNKNOWN_NONCE_BLOCKS = 12;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRANSFER_GAS = 21_000n;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createRelayer(options: CreateRelayerOptions): Relayer {
  const { clients, prisma } = options;
  const { publicClient, account } = clients;
  const chainId = clients.chain.id;
  const address = getAddress(account.address);
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const bumpAfterMs = options.bumpAfterMs ?? 30_000;
  const maxFeeBumps = options.maxFeeBumps ?? 5;
  const gasMultiplierBps = BigInt(options.gasMultiplierBps ?? 12_000);
  const maxBroadcastFailures = options.maxBroadcastFailures ?? 5;
  const unknownNonceBlocks = BigInt(options.unknownNonceBlocks ?? DEFAULT_UNKNOWN_NONCE_BLOCKS);
  const onError = options.onError ?? (() => {});

  /** ABIs of rows submitted by this instance (better revert decoding; after a restart the known ABIs are used). */
  const abiById = new Map<string, { abi: Abi; contract?: string; functionName?: string }>();
  /** Failed broadcasts per signed hash (unknown errors), to give up on a transaction after a few. */
  const broadcastFailures = new Map<Hex, number>();

  // Allocations of this instance run one at a time (they would queue on the row lock anyway; this
  // keeps them from holding several pool connections while they wait).
  let allocationQueue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = allocationQueue.then(fn, fn);
    allocationQueue = run.catch(() => {});
    return run;
  };

  // ------------------------------------------------------------------ submit

  async function get(idOrKey: string): Promise<RelayTx | null> {
    if (UUID.test(idOrKey)) {
      const byId = await prisma.relayTx.findUnique({ where: { id: idOrKey } });
      if (byId) return byId;
    }
    return prisma.relayTx.findUnique({ where: { idempotencyKey: idOrKey } });
  }

  function sameIntent(row: RelayTx, to: Address, data: Hex): RelayTx {
    if (row.to.toLowerCase() !== to.toLowerCase() || row.data.toLowerCase() !== data.toLowerCase()) {
      throw new ConflictError(`Idempotency key ${row.idempotencyKey} was already used for another call`, {
        details: {
          idempotencyKey: row.idempotencyKey,
          relayTxId: row.id,
        },
      });
    }
    return row;
  }

  async function submit(parameters: RelayerSubmitParameters<Abi, string>): Promise<RelayTx> {
    const { idempotencyKey, kind, refId, contract, functionName } = parameters;
    const blockTag = parameters.blockTag ?? 'latest';
    const abi = parameters.abi as Abi;
    const to = getAddress(parameters.to);
    const args = (parameters.args ?? []) as readonly unknown[];
    const data = encodeFunctionData({ abi, functionName, args } as Parameters<typeof encodeFunctionData>[0]);

    const existing = await prisma.relayTx.findUnique({ where: { idempotencyKey } });
    if (existing) return sameIntent(existing, to, data);

    const context = { contract, functionName, abi };
    let gas: bigint;
    try {
      await publicClient.simulateContract({
        account: address,
        address: to,
        abi,
        functionName,
        args,
        blockTag,
      } as Parameters<typeof publicClient.simulateContract>[0]);
      gas =
        parameters.gas ??
        ((await publicClient.estimateGas({ account: address, to, data, blockTag })) * gasMultiplierBps) /
          10_000n;
    } catch (error) {
      throw toChainError(error, context);
    }
    const [fees, pendingNonce] = await Promise.all([
      estimateFees(),
      chainCall(() => publicClient.getTransactionCount({ address, blockTag: 'pending' })),
    ]);

    let allocated: { row: RelayTx; created: boolean };
    try {
      allocated = await serialised(() =>
        allocate({ idempotencyKey, kind, refId, to, data, gas, fees, pendingNonce: BigInt(pendingNonce) }),
      );
    } catch (error) {
      // Another signer (another relayer key) stored the same key first.
      if (isUniqueViolation(error)) {
        const row = await prisma.relayTx.findUnique({ where: { idempotencyKey } });
        if (row) return sameIntent(row, to, data);
      }
      throw error;
    }
    if (!allocated.created) return sameIntent(allocated.row, to, data);
    abiById.set(allocated.row.id, { abi, contract, functionName });
    await broadcastRow(allocated.row);
    return (await prisma.relayTx.findUnique({ where: { id: allocated.row.id } })) ?? allocated.row;
  }

  type Allocation = {
    idempotencyKey: string;
    kind: string;
    refId?: string;
    to: Address;
    data: Hex;
    gas: bigint;
    fees: Fees;
    pendingNonce: bigint;
  };

  /** Locks the nonce row, re-checks the key, signs with the next nonce and stores it all in one transaction. */
  async function allocate(input: Allocation): Promise<{ row: RelayTx; created: boolean }> {
    return prisma.$transaction(
      async (tx) => {
        const [{ next_nonce: nonce }] = await tx.$queryRaw<{ next_nonce: bigint }[]>`
          INSERT INTO "relay_nonce" ("chain_id", "address", "next_nonce", "updated_at")
          VALUES (${chainId}, ${address}, ${input.pendingNonce}, now())
          ON CONFLICT ("chain_id", "address") DO UPDATE
            SET "next_nonce" = GREATEST("relay_nonce"."next_nonce", EXCLUDED."next_nonce"), "updated_at" = now()
          RETURNING "next_nonce"`;
        const existing = await tx.relayTx.findUnique({ where: { idempotencyKey: input.idempotencyKey } });
        if (existing) return { row: existing, created: false };
        const { raw, hash } = await sign({
          nonce,
          to: input.to,
          data: input.data,
          gas: input.gas,
          fees: input.fees,
        });
        const row = await tx.relayTx.create({
          data: {
            idempotencyKey: input.idempotencyKey,
            kind: input.kind,
            refId: input.refId,
            chainId,
            from: address,
            nonce,
            to: input.to,
            data: input.data,
            gas: input.gas,
            maxFeePerGas: input.fees.maxFeePerGas,
            maxPriorityFeePerGas: input.fees.maxPriorityFeePerGas,
            txHash: hash,
            rawTx: raw,
            history: {
              create: {
                txHash: hash,
                rawTx: raw,
                maxFeePerGas: input.fees.maxFeePerGas,
                maxPriorityFeePerGas: input.fees.maxPriorityFeePerGas,
              },
            },
          },
        });
        await tx.relayNonce.update({
          where: { chainId_address: { chainId, address } },
          data: { nextNonce: nonce + 1n },
        });
        return { row, created: true };
      },
      { maxWait: 30_000, timeout: 30_000 },
    );
  }

  async function sign(input: { nonce: bigint; to: Address; data: Hex; gas: bigint; fees: Fees }) {
    const raw = await account.signTransaction({
      chainId,
      type: 'eip1559',
      nonce: Number(input.nonce),
      to: input.to,
      data: input.data,
      value: 0n,
      gas: input.gas,
      maxFeePerGas: input.fees.maxFeePerGas,
      maxPriorityFeePerGas: input.fees.maxPriorityFeePerGas,
    });
    return { raw, hash: keccak256(raw) };
  }

  async function estimateFees(): Promise<Fees> {
    const fees = await chainCall(() => publicClient.estimateFeesPerGas());
    return { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas };
  }

  // ------------------------------------------------------------------ broadcast

  /** Sends the row's latest signed variant; records when; fills the nonce if the node rejects it for good. */
  async function broadcastRow(row: RelayTx): Promise<BroadcastOutcome | 'sent'> {
    const hash = row.txHash as Hex;
    let outcome: BroadcastOutcome | 'sent';
    let failure: unknown;
    try {
      await publicClient.sendRawTransaction({ serializedTransaction: row.rawTx as Hex });
      outcome = 'sent';
    } catch (error) {
      failure = error;
      outcome = classifyBroadcastError(error);
      if (outcome === 'unknown') {
        const failures = (broadcastFailures.get(hash) ?? 0) + 1;
        broadcastFailures.set(hash, failures);
        outcome = failures >= maxBroadcastFailures ? 'permanent' : 'retry';
      }
    }
    if (outcome === 'sent' || outcome === 'known') {
      broadcastFailures.delete(hash);
      await prisma.relayTx.updateMany({
        where: { id: row.id, txHash: hash, status: 'pending' },
        data: { sentAt: new Date() },
      });
    } else if (outcome === 'permanent') {
      broadcastFailures.delete(hash);
      if (row.kind === NONCE_FILL_KIND) {
        // Nothing else can fill this nonce: keep retrying and tell the operator.
        onError(
          new ChainError(`nonce ${row.nonce} filler rejected: ${describeBroadcastError(failure)}`, {
            kind: 'transaction',
            txHash: hash,
            cause: failure,
          }),
        );
      } else {
        await failAndFillNonce(row, `rejected by the node: ${describeBroadcastError(failure)}`);
      }
    } else if (outcome === 'retry') {
      onError(toChainError(failure, { txHash: hash }));
    }
    return outcome;
  }

  /** Marks `row` failed and stores + sends a 0-value self-transfer with its nonce, in one transaction. */
  async function failAndFillNonce(row: RelayTx, reason: string): Promise<void> {
    const current = await estimateFees().catch(() => undefined);
    const fees = bumpFees(row, current);
    const { raw, hash } = await sign({ nonce: row.nonce, to: address, data: '0x', gas: TRANSFER_GAS, fees });
    const filler = await prisma.$transaction(async (tx) => {
      const failed = await tx.relayTx.updateMany({
        where: { id: row.id, status: 'pending' },
        data: { status: 'failed', revertReason: reason, errorCode: 'SERVICE_UNAVAILABLE' },
      });
      if (failed.count === 0) return undefined;
      return tx.relayTx.create({
        data: {
          idempotencyKey: `${NONCE_FILL_KIND}:${chainId}:${address}:${row.nonce}`,
          kind: NONCE_FILL_KIND,
          refId: row.id,
          chainId,
          from: address,
          nonce: row.nonce,
          to: address,
          data: '0x',
          gas: TRANSFER_GAS,
          maxFeePerGas: fees.maxFeePerGas,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
          txHash: hash,
          rawTx: raw,
          history: { create: { txHash: hash, rawTx: raw, ...fees } },
        },
      });
    });
    if (filler) await broadcastRow(filler);
  }

  // ------------------------------------------------------------------ monitor

  async function tick(): Promise<void> {
    const rows = await prisma.relayTx.findMany({
      where: { chainId, from: address, status: 'pending' },
      orderBy: { nonce: 'asc' },
    });
    if (rows.length === 0) return;
    const minedCount = BigInt(
      await chainCall(() => publicClient.getTransactionCount({ address, blockTag: 'latest' })),
    );
    for (const row of rows) {
      if (row.nonce < minedCount) await settle(row);
      else await nudge(row);
    }
  }

  /** The receipt of the first of `attempts` (hashes) that has one, or undefined. */
  async function findReceipt(
    attempts: { txHash: string }[],
  ): Promise<{ index: number; receipt: TransactionReceipt } | undefined> {
    for (const [index, attempt] of attempts.entries()) {
      try {
        return { index, receipt: await publicClient.getTransactionReceipt({ hash: attempt.txHash as Hex }) };
      } catch (error) {
        if (error instanceof TransactionReceiptNotFoundError) continue;
        throw toChainError(error, { txHash: attempt.txHash as Hex });
      }
    }
    return undefined;
  }

  /** Sets the row (while in one of `from`) to what the receipt of its variant `attempt` says. */
  async function recordReceipt(
    row: RelayTx,
    attempt: RelayTxAttempt,
    receipt: TransactionReceipt,
    from: RelayTx['status'][],
  ): Promise<number> {
    const common = {
      txHash: attempt.txHash,
      rawTx: attempt.rawTx,
      maxFeePerGas: attempt.maxFeePerGas,
      maxPriorityFeePerGas: attempt.maxPriorityFeePerGas,
      blockNumber: receipt.blockNumber,
      unknownSinceBlock: null,
    };
    const where = { id: row.id, status: { in: from } };
    let updated: { count: number };
    if (receipt.status === 'success') {
      updated = await prisma.relayTx.updateMany({
        where,
        data: { ...common, status: 'mined', revertReason: null, errorName: null, errorCode: null },
      });
    } else {
      const reason = await decodeMinedRevert(row, receipt);
      updated = await prisma.relayTx.updateMany({
        where,
        data: {
          ...common,
          status: 'reverted',
          revertReason: reason.message,
          errorName: reason.errorName ?? null,
          errorCode: reason.code,
        },
      });
    }
    abiById.delete(row.id);
    return updated.count;
  }

  /**
   * The row's nonce is used on chain: settle it from the receipt of whichever of its variants made
   * it; else from another row with that nonce that did (a nonce-fill and the row it fills); else the
   * row is "unknown" until a receipt appears or the head is `unknownNonceBlocks` past the mark.
   */
  async function settle(row: RelayTx): Promise<void> {
    const attempts = await prisma.relayTxAttempt.findMany({
      where: { relayTxId: row.id },
      orderBy: { createdAt: 'desc' },
    });
    const own = await findReceipt(attempts);
    if (own) {
      await recordReceipt(row, attempts[own.index], own.receipt, ['pending']);
      return;
    }
    const siblings = await prisma.relayTx.findMany({
      where: { chainId, from: address, nonce: row.nonce, id: { not: row.id } },
      include: { history: { orderBy: { createdAt: 'desc' } } },
      orderBy: { createdAt: 'asc' },
    });
    for (const sibling of siblings) {
      const found = await findReceipt(sibling.history);
      if (!found) continue;
      // e.g. a row failed as rejected by one RPC backend, its nonce filled, while another backend had
      // it mined: the chain is the record, the row says what its receipt says
      if (sibling.status === 'failed') {
        const corrected = await recordReceipt(sibling, sibling.history[found.index], found.receipt, [
          'failed',
        ]);
        if (corrected > 0) {
          onError(
            new ChainError(
              `relay tx ${sibling.id} (nonce ${row.nonce}) was marked failed but its transaction ${found.receipt.transactionHash} was mined`,
              { kind: 'transaction', txHash: found.receipt.transactionHash },
            ),
          );
        }
      }
      await prisma.relayTx.updateMany({
        where: { id: row.id, status: 'pending' },
        data: {
          status: 'failed',
          unknownSinceBlock: null,
          revertReason: `nonce ${row.nonce} was used by relay transaction ${sibling.id} (${found.receipt.transactionHash})`,
          errorCode: 'CONFLICT',
        },
      });
      abiById.delete(row.id);
      return;
    }
    // No receipt anywhere yet: a lagging RPC backend, or another transaction of this key took the
    // nonce. Unknown until a receipt appears or the head is far enough past the first sighting.
    const head = await chainCall(() => publicClient.getBlockNumber({ cacheTime: 0 }));
    if (row.unknownSinceBlock === null || head < row.unknownSinceBlock) {
      await prisma.relayTx.updateMany({
        where: { id: row.id, status: 'pending' },
        data: { unknownSinceBlock: head },
      });
      return;
    }
    if (head - row.unknownSinceBlock < unknownNonceBlocks) return;
    await prisma.relayTx.updateMany({
      where: { id: row.id, status: 'pending' },
      data: {
        status: 'failed',
        unknownSinceBlock: null,
        revertReason:
          `nonce ${row.nonce} was used by another transaction of ${address}: no receipt for any of ` +
          `the row's ${attempts.length} signed variant(s) from block ${row.unknownSinceBlock} to ${head}`,
        errorCode: 'CONFLICT',
      },
    });
    abiById.delete(row.id);
  }

  /** The row's nonce is not mined yet: send it if never sent or unknown to the node, or replace it. */
  async function nudge(row: RelayTx): Promise<void> {
    if (row.unknownSinceBlock !== null) {
      // seen used before, not any more (a reorg): the count starts again if it is used again
      await prisma.relayTx.updateMany({
        where: { id: row.id, status: 'pending' },
        data: { unknownSinceBlock: null },
      });
    }
    const now = Date.now();
    const sentAt = row.sentAt?.getTime();
    if (sentAt === undefined) {
      await broadcastRow(row);
      return;
    }
    if (now - sentAt >= bumpAfterMs && row.attempts <= maxFeeBumps) {
      await bump(row);
      return;
    }
    if (now - sentAt < pollIntervalMs) return;
    try {
      await publicClient.getTransaction({ hash: row.txHash as Hex });
    } catch (error) {
      if (!(error instanceof TransactionNotFoundError))
        throw toChainError(error, { txHash: row.txHash as Hex });
      await broadcastRow(row);
    }
  }

  /** Replaces the row's latest variant: same nonce, both fees +12.5% (or the current estimate). */
  async function bump(row: RelayTx): Promise<void> {
    const current = await estimateFees().catch(() => undefined);
    const fees = bumpFees(row, current);
    const { raw, hash } = await sign({
      nonce: row.nonce,
      to: row.to as Address,
      data: row.data as Hex,
      gas: row.gas,
      fees,
    });
    const replaced = await prisma.$transaction(async (tx) => {
      const updated = await tx.relayTx.updateMany({
        where: { id: row.id, status: 'pending', attempts: row.attempts },
        data: { ...fees, txHash: hash, rawTx: raw, attempts: row.attempts + 1, sentAt: null },
      });
      if (updated.count === 0) return undefined;
      await tx.relayTxAttempt.create({ data: { relayTxId: row.id, txHash: hash, rawTx: raw, ...fees } });
      return tx.relayTx.findUniqueOrThrow({ where: { id: row.id } });
    });
    if (replaced) {
      const outcome = await broadcastRow(replaced);
      // The node keeps the previous variant: count the wait from now and bump again later.
      if (outcome === 'underpriced') {
        await prisma.relayTx.updateMany({
          where: { id: row.id, txHash: hash, status: 'pending' },
          data: { sentAt: new Date() },
        });
      }
    }
  }

  type MinedRevert = { message: string; errorName?: string; code: string };

  /** Why a mined transaction reverted: the trace's revert data, else a replay of the call. */
  async function decodeMinedRevert(row: RelayTx, receipt: TransactionReceipt): Promise<MinedRevert> {
    const known = abiById.get(row.id);
    const context = { contract: known?.contract, functionName: known?.functionName, abi: known?.abi };
    const txHash = receipt.transactionHash;
    const prefix = [context.contract, context.functionName].filter(Boolean).join('.');
    const fromError = (error: ChainError): MinedRevert => ({
      message: error.message,
      errorName: error.errorName,
      code: error.code,
    });
    try {
      const trace = (await publicClient.request({
        method: 'debug_traceTransaction',
        params: [txHash, { tracer: 'callTracer' }],
      } as never)) as { output?: Hex; error?: string } | undefined;
      const decoded = trace?.output ? decodeRevertData(trace.output, context.abi) : undefined;
      if (decoded) {
        const args = decoded.args.map((arg) => (typeof arg === 'bigint' ? arg.toString() : String(arg)));
        return fromError(
          new ChainError(
            `${prefix ? `${prefix}: ` : ''}reverted with ${decoded.errorName}(${args.join(', ')})`,
            {
              kind: 'revert',
              errorName: decoded.errorName,
              args: decoded.args,
              data: trace?.output,
              ...context,
              txHash,
            },
          ),
        );
      }
      // Reverted without decodable data (out of gas, invalid opcode, a bare revert): the trace says how.
      if (trace?.error) {
        return { message: `${prefix ? `${prefix}: ` : ''}${trace.error}`, code: 'CONFLICT' };
      }
    } catch {
      // no tracing on this node: replay below
    }
    for (const blockNumber of [receipt.blockNumber - 1n, receipt.blockNumber]) {
      try {
        await publicClient.call({
          account: address,
          to: row.to as Address,
          data: row.data as Hex,
          gas: row.gas,
          blockNumber,
        });
      } catch (error) {
        const chainError = toChainError(error, { ...context, txHash });
        if (chainError.kind === 'revert') return fromError(chainError);
      }
    }
    return { message: `${prefix ? `${prefix}: ` : ''}transaction ${txHash} reverted`, code: 'CONFLICT' };
  }

  // ------------------------------------------------------------------ loop

  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  function start(): void {
    if (running) return;
    running = true;
    loop = (async () => {
      while (running) {
        try {
          await tick();
        } catch (error) {
          onError(error);
        }
        if (!running) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollIntervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    })();
  }

  async function stop(): Promise<void> {
    running = false;
    wake?.();
    await loop;
    loop = undefined;
  }

  async function waitFor(idOrKey: string, waitOptions: WaitForOptions = {}): Promise<RelayTx> {
    const timeoutMs = waitOptions.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await get(idOrKey);
      if (!row) throw new NotFoundError('Relay transaction', idOrKey);
      if (row.status !== 'pending') return row;
      if (Date.now() >= deadline) {
        throw new ServiceUnavailableError(`Relay transaction ${row.id} still pending after ${timeoutMs} ms`, {
          retryable: true,
          details: { relayTxId: row.id, txHash: row.txHash, nonce: row.nonce.toString() },
        });
      }
      if (!running) await tick().catch(onError);
      await sleep(Math.min(pollIntervalMs, 50));
    }
  }

  return {
    address,
    chainId,
    submit: submit as Relayer['submit'],
    get,
    waitFor,
    start,
    stop,
    tick,
  };
}

async function chainCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toChainError(error);
  }
}
