/**
 * The distribution job (ARCHITECTURE.md "The distribution job"): one `distribution` row per indexed
 * `RecoveryDistributed` event, carried from the snapshot to the pushed payouts. Idempotent and
 * resumable by distribution id: every step records its result in the row before the next runs, and
 * a re-run skips what is recorded.
 *
 * 1+2. once the recovery event is final, the balances of every tranche at `snapshotBlock`
 *      (worker/indexer `balancesAt`, final, cross-checked against `totalSupply` read at that block) →
 *      `computeDistribution` with the previous distribution's cumulative amounts and dust →
 *      `distribution_holder` / `distribution_tranche` rows (the holders with one COPY), written in
 *      one transaction with `computed_at`;
 * 3.   the tree (`buildDistributionTree`) dumped to `DATA_DIR/distributions/<id>.json`, its keccak
 *      as `treeHash`, and the root and total;
 * 4.   once the previous distribution is paid, `proposeRoot` through the root proposer's relayer
 *      (`context.proposer`: its own key and nonce sequence; default the relayer), key
 *      `distribution-propose-<id>` (the relayer returns the stored row for a known key: sent once,
 *      even across crashes) → status `proposed`, `validAt`;
 * 5.   after the timelock (our clock or the chain's, simulated on the pending block), `acceptRoot`
 *      (`distribution-accept-<id>`), or nothing when someone else accepted our root → `claimable`;
 * 6.   `claimMany` in the batches fixed when the push started (every holder with a payout ≥
 *      `minPush`, and every holder the previous distribution's push skipped,
 *      `distribution-push-<id>-<batch>`) → status `paid`. A holder the Distributor skips (its
 *      ComplianceRegistry does not allow it, or the pay token refused the transfer: `ClaimSkipped`) is
 *      recorded with the batch (`push_skipped`), is not paid (its payout stays claimable: payouts read
 *      `claimed` from the chain or the Claimed events), is never retried by this push, and is pushed
 *      again by the next distribution; it can claim itself (POST /claims) as soon as it is allowed.
 *
 * Waiting (the indexer behind the snapshot or not final, an earlier distribution of the portfolio
 * not yet claimable or paid, the timelock) throws `DistributionDelay`: the worker moves the BullMQ
 * job to the delayed set with the same id instead of spending an attempt.
 *
 * `findNewDistributions` creates the rows: every final indexed recovery of a published portfolio
 * without a distribution gets one, after `reconcileDistributions` dealt with reorgs (the worker polls
 * it, see worker/main.ts).
 */

import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createKeccak } from 'hash-wasm';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type Address, getAddress, type Hex } from 'viem';
import {
  claimSkippedIn,
  readCurrentRoot,
  readPendingRoot,
  readRoot,
} from '../chain/contracts/distributor.ts';
import { readTotalSupply } from '../chain/contracts/tranche-token.ts';
import type { PlatformChain } from '../chain/deployment.ts';
import { isChainError } from '../chain/errors.ts';
import { distributorAbi } from '../chain/generated/index.ts';
import type { Relayer } from '../chain/relayer/relayer.ts';
import { balancesAt } from '../chain-index/store.ts';
import type { Db } from '../db/index.ts';
import { withTransaction } from '../db/transaction.ts';
import type { Config } from '../platform/config.ts';
import { crashPoint } from '../platform/crash-point.ts';
import { BaseError, ConflictError, ServiceUnavailableError } from '../platform/errors/index.ts';
import { type JobData, JobDelay } from '../platform/jobs.ts';
import { computeDistribution, distributionChainId } from './compute.ts';
import { buildDistributionTree, checksumAddresses, type DistributionTree } from './tree/merkle.ts';

export type DistributionContext = {
  db: Db;
  platform: PlatformChain;
  /** Sends acceptRoot and claimMany (anyone may), and proposeRoot when there is no `proposer`. */
  relayer: Relayer;
  /**
   * Sends `proposeRoot`: a relayer on the root proposer's own key (`platform.proposerClients`), with
   * its own nonce sequence; default `relayer` (deployments where the relayer is the root proposer).
   */
  proposer?: Relayer;
  config: Config;
  log?: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void };
  /** Holders paid less than this are left to claim themselves (default: DISTRIBUTION_MIN_PUSH or 0). */
  minPush?: bigint;
  /** Accounts per claimMany (default: DISTRIBUTION_PUSH_BATCH, 100). */
  pushBatchSize?: number;
  /** Relayer confirmation timeout (ms, default 120 000). */
  confirmTimeoutMs?: number;
};

/** Thrown to retry the job later without spending an attempt (the worker delays the BullMQ job). */
export class DistributionDelay extends JobDelay {
  override name = 'DistributionDelay';
}

export const distributionProposeKey = (id: string) => `distribution-propose-${id}`;
export const distributionAcceptKey = (id: string) => `distribution-accept-${id}`;
export const distributionPushKey = (id: string, batch: number) => `distribution-push-${id}-${batch}`;
/** The on-chain `distributionId`: the row's uuid as a 128-bit integer (core/distributions/compute.ts). */
export { distributionChainId };

const invalid = (message: string) => new ConflictError(message, { retryable: false });
const dec = (value: { toFixed: (d: number) => string }) => BigInt(value.toFixed(0));

export async function handleDistribution(
  context: DistributionContext,
  data: JobData<'distribution'>,
): Promise<{ id: string; status: string }> {
  const { prisma } = context.db;
  const id = data.distributionId;
  let row = await prisma.distribution.findUnique({ where: { id } });
  if (row === null) throw invalid(`Distribution ${id} does not exist`);
  if (row.status === 'paid' || row.status === 'failed') return { id, status: row.status };
  try {
    if (row.computedAt === null) {
      await computeStep(context, row);
      row = await prisma.distribution.findUniqueOrThrow({ where: { id } });
    }
    let tree: DistributionTree | undefined;
    if (row.treeHash === null) {
      tree = await treeStep(context, id);
      row = await prisma.distribution.findUniqueOrThrow({ where: { id } });
    }
    if (row.status === 'computing') {
      await proposeStep(context, row);
      row = await prisma.distribution.findUniqueOrThrow({ where: { id } });
    }
    if (row.status === 'proposed') {
      await acceptStep(context, row);
      row = await prisma.distribution.findUniqueOrThrow({ where: { id } });
    }
    if (row.status === 'claimable') {
      await pushStep(context, id, tree);
    }
  } catch (error) {
    if (error instanceof BaseError && !error.retryable) {
      // updateMany: a row the reorg reconciliation deleted meanwhile is no error of its own
      await prisma.distribution.updateMany({
        where: { id },
        data: { status: 'failed', error: error.message.slice(0, 1_000) },
      });
    }
    throw error;
  }
  return { id, status: 'paid' };
}

type Row = NonNullable<Awaited<ReturnType<Db['prisma']['distribution']['findUnique']>>>;

async function portfolioOf(context: DistributionContext, portfolioId: string) {
  const portfolio = await context.db.prisma.portfolio.findUnique({
    where: { id: portfolioId },
    include: { tranches: { orderBy: { seniority: 'asc' } } },
  });
  if (portfolio === null || portfolio.distributorAddress === null) {
    throw invalid(`Portfolio ${portfolioId} is not published`);
  }
  return { ...portfolio, distributorAddress: portfolio.distributorAddress };
}

/**
 * The latest earlier distribution of the portfolio; delays while it has not reached `until`:
 * `claimable` to compute (its cumulative amounts and dust are final then), `paid` to propose. A root
 * proposed while the previous one still pushes could be accepted (by us, or by anyone once its
 * timelock passed) before the push ends, and the previous distribution's remaining `claimMany`
 * batches would then revert against the new root.
 */
async function previousOf(context: DistributionContext, row: Row, until: 'claimable' | 'paid') {
  const previous = await context.db.prisma.distribution.findFirst({
    where: { portfolioId: row.portfolioId, recoveryId: { lt: row.recoveryId } },
    orderBy: { recoveryId: 'desc' },
  });
  // a failed one blocks the later ones too (its amounts and dust would be lost): an operator fixes it first
  if (previous?.status === 'failed') {
    context.log?.warn({ distributionId: row.id, previous: previous.id }, 'waiting for a failed distribution');
    throw new DistributionDelay(30_000, `Distribution ${previous.id} of the portfolio failed`);
  }
  const reached = until === 'paid' ? ['paid'] : ['claimable', 'paid'];
  if (previous !== null && !reached.includes(previous.status)) {
    throw new DistributionDelay(2_000, `Distribution ${previous.id} of the portfolio is not ${until} yet`);
  }
  return previous;
}

/** The row's recovery event as indexed when the row was created (same log, snapshot and recovery id), and final. */
const finalRecoverySql = `
  EXISTS (SELECT 1 FROM recovery_event r JOIN indexer_cursor c ON c.chain_id = r.chain_id
           WHERE r.chain_id = d.chain_id AND r.tx_hash = d.recovery_tx_hash
             AND r.log_index = d.recovery_log_index AND r.snapshot_block = d.snapshot_block
             AND r.recovery_id = d.recovery_id AND r.block_number <= c.finalized_block)`;

/**
 * Delays unless the row's recovery event is indexed as it was and final. A missing one was removed by
 * a reorg: `reconcileDistributions` (the poll) deletes or fails the row once the indexer is final past
 * it; until then the job waits.
 */
async function requireFinalRecovery(context: DistributionContext, row: Row): Promise<void> {
  const rows = await context.db.prisma.$queryRawUnsafe<{ final: boolean }[]>(
    `SELECT ${finalRecoverySql} AS final FROM distribution d WHERE d.id = $1::uuid`,
    row.id,
  );
  if (rows[0]?.final !== true) {
    throw new DistributionDelay(
      1_000,
      `The recovery event of distribution ${row.id} is not final (or a reorg removed it)`,
    );
  }
}

/**
 * Records that proposeRoot is about to be sent, in one statement that also checks the recovery event
 * (under the row's lock): the reorg reconciliation deletes only rows without this mark, and a row it
 * deleted first is not marked (the job waits, then finds the row gone).
 */
async function markProposing(context: DistributionContext, row: Row): Promise<void> {
  const marked = await context.db.prisma.$executeRawUnsafe(
    `UPDATE distribution d SET proposing_at = COALESCE(d.proposing_at, now()), updated_at = now()
      WHERE d.id = $1::uuid AND ${finalRecoverySql}`,
    row.id,
  );
  if (marked === 0) {
    throw new DistributionDelay(
      1_000,
      `The recovery event of distribution ${row.id} is not final (or a reorg removed it)`,
    );
  }
}

async function computeStep(context: DistributionContext, row: Row): Promise<void> {
  const { prisma } = context.db;
  const portfolio = await portfolioOf(context, row.portfolioId);
  const previous = await previousOf(context, row, 'claimable');
  await requireFinalRecovery(context, row);
  const amounts = await prisma.recoveryEventTranche.findMany({
    where: { chainId: row.chainId, txHash: row.recoveryTxHash, logIndex: row.recoveryLogIdx },
    orderBy: { trancheIndex: 'asc' },
  });
  if (amounts.length !== portfolio.tranches.length) {
    throw invalid(`Recovery ${row.recoveryTxHash} has ${amounts.length} tranche amounts`);
  }
  const started = performance.now();
  const carry = new Map<number, bigint>();
  const previousCumulative = new Map<string, bigint>();
  if (previous !== null) {
    for (const t of await prisma.distributionTranche.findMany({ where: { distributionId: previous.id } })) {
      carry.set(t.trancheIndex, dec(t.dustOut));
    }
    for (const h of await prisma.distributionHolder.findMany({ where: { distributionId: previous.id } })) {
      previousCumulative.set(h.account.toLowerCase(), dec(h.cumulative));
    }
  }
  const { publicClient } = context.platform.clients;
  const inputs: {
    trancheId: number;
    amount: bigint;
    carryIn: bigint;
    balances: { account: string; balance: bigint }[];
  }[] = [];
  const supplies: bigint[] = [];
  for (const [i, tranche] of portfolio.tranches.entries()) {
    if (tranche.address === null) throw invalid(`Tranche ${tranche.id} has no token address`);
    const token = getAddress(tranche.address);
    let snapshot: Awaited<ReturnType<typeof balancesAt>>;
    try {
      snapshot = await balancesAt(prisma, {
        tranche: token,
        blockNumber: row.snapshotBlock,
        chainId: row.chainId,
      });
    } catch (error) {
      if (error instanceof BaseError && error.retryable) throw new DistributionDelay(1_000, error.message);
      throw error;
    }
    if (!snapshot.finalized) {
      // balances a reorg may still change are never distributed
      throw new DistributionDelay(1_000, `Block ${row.snapshotBlock} is not final yet`);
    }
    const supply = await undecoded(readTotalSupply(publicClient, { token, blockNumber: row.snapshotBlock }));
    if (supply !== snapshot.totalSupply) {
      // the indexer is missing transfers (or saw a reorg): never distribute on wrong balances
      throw new ServiceUnavailableError(
        `Tranche ${token} at block ${row.snapshotBlock}: indexed balances sum to ${snapshot.totalSupply}, totalSupply is ${supply}`,
        { retryable: true },
      );
    }
    supplies.push(supply);
    inputs.push({
      trancheId: i,
      amount: dec(amounts[i].total),
      carryIn: carry.get(i) ?? 0n,
      balances: snapshot.balances,
    });
  }
  const snapshotted = performance.now();
  const result = computeDistribution({ tranches: inputs, previousCumulative });
  const computed = performance.now();
  // one transaction on a raw pool client: the holder rows go in with one COPY (10,000+ rows)
  await withTransaction(context.db.pool, async (client: PoolClient) => {
    await client.query('DELETE FROM distribution_holder WHERE distribution_id = $1', [row.id]);
    await client.query('DELETE FROM distribution_tranche WHERE distribution_id = $1', [row.id]);
    // stored checksummed: one batch keccak for all of them (viem's getAddress: ~2.5 s per 100k)
    const accounts = checksumAddresses(result.holders.map((h) => h.account));
    const lines = result.holders.map((h, k) => `${row.id}\t${accounts[k]}\t${h.payout}\t${h.cumulative}\n`);
    const copy = client.query(
      copyFrom('COPY distribution_holder (distribution_id, account, payout, cumulative) FROM STDIN'),
    );
    await pipeline(Readable.from([lines.join('')]), copy);
    await client.query(
      `INSERT INTO distribution_tranche (distribution_id, tranche_index, tranche, amount, carry_in,
                                           distributed, dust_out, supply)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[],
                                  $7::numeric[], $8::numeric[])`,
      [
        row.id,
        result.perTranche.map((_, i) => i),
        result.perTranche.map((_, i) => getAddress(portfolio.tranches[i].address as string)),
        result.perTranche.map((_, i) => inputs[i].amount.toString()),
        result.perTranche.map((_, i) => inputs[i].carryIn.toString()),
        result.perTranche.map((t) => t.distributed.toString()),
        result.perTranche.map((t) => t.dustOut.toString()),
        result.perTranche.map((_, i) => supplies[i].toString()),
      ],
    );
    await client.query(
      `UPDATE distribution SET snapshot_at = now(), computed_at = now(), payout = $2, total = $3,
                                 updated_at = now()
          WHERE id = $1`,
      [row.id, result.totalPayout.toString(), result.total.toString()],
    );
  });
  crashPoint('after-snapshot');
  const ms = (from: number, to: number) => Math.round(to - from);
  context.log?.info(
    {
      distributionId: row.id,
      holders: result.holders.length,
      // where the step's time went: previous + balances + totalSupply, computeDistribution, the rows
      ms: {
        snapshot: ms(started, snapshotted),
        compute: ms(snapshotted, computed),
        write: ms(computed, performance.now()),
      },
    },
    'distribution computed',
  );
}

async function treeOf(context: DistributionContext, id: string): Promise<DistributionTree> {
  // raw SQL: 100k+ rows without Prisma's per-row objects and Decimals (same order as before: account)
  const { rows } = await context.db.pool.query<{ account: string; cumulative: string }>(
    'SELECT account, cumulative::text AS cumulative FROM distribution_holder WHERE distribution_id = $1 ORDER BY account',
    [id],
  );
  if (rows.length === 0) throw invalid(`Distribution ${id} has no holders`);
  const entries = new Array<{ account: string; amount: bigint }>(rows.length);
  for (let k = 0; k < rows.length; k++)
    entries[k] = { account: rows[k].account, amount: BigInt(rows[k].cumulative) };
  return buildDistributionTree(entries);
}

async function treeStep(context: DistributionContext, id: string): Promise<DistributionTree> {
  const started = performance.now();
  const tree = await treeOf(context, id);
  const built = performance.now();
  const dir = path.resolve(context.config.DATA_DIR, 'distributions');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${id}.json`);
  // The dump streamed to the file while it is hashed (no copy of the whole dump in memory). A crash
  // leaves at most a partial `.tmp` (rewritten from the start by the re-run), never a partial dump.
  const hasher = await createKeccak(256);
  const fd = openSync(`${file}.tmp`, 'w');
  try {
    let chunks = 0;
    tree.writeDump((chunk) => {
      if (chunks++ === 1) crashPoint('mid-tree');
      hasher.update(chunk);
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
    });
    if (chunks === 1) crashPoint('mid-tree');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  await rename(`${file}.tmp`, file);
  const treeHash = `0x${hasher.digest('hex')}`;
  const written = performance.now();
  await context.db.prisma.distribution.update({
    where: { id },
    data: { root: tree.root, treeHash, treePath: file },
  });
  context.log?.info(
    {
      distributionId: id,
      holders: tree.length,
      root: tree.root,
      // the holder rows read + the tree built, then the dump written to its file and hashed
      ms: { build: Math.round(built - started), dump: Math.round(written - built) },
    },
    'distribution tree written',
  );
  return tree;
}

async function settle(
  context: DistributionContext,
  key: string,
  send: () => Promise<{ id: string }>,
  options: { lookUp?: boolean; relayer?: Relayer } = {},
) {
  // the relayer whose key sent it: its waitFor runs the monitor passes of that key's nonces
  const relayer = options.relayer ?? context.relayer;
  const relayed = ((options.lookUp ?? true) ? await relayer.get(key) : null) ?? (await send());
  const settled = await relayer.waitFor(relayed.id, {
    timeoutMs: context.confirmTimeoutMs ?? 120_000,
  });
  if (settled.status !== 'mined') {
    throw invalid(settled.revertReason ?? `${key}: transaction ${settled.txHash} ${settled.status}`);
  }
  return settled.txHash as Hex;
}

async function proposeStep(context: DistributionContext, row: Row): Promise<void> {
  const portfolio = await portfolioOf(context, row.portfolioId);
  await previousOf(context, row, 'paid');
  const distributor = getAddress(portfolio.distributorAddress);
  const { root, total, treeHash } = row;
  if (root === null || total === null || treeHash === null) throw invalid('No tree recorded');
  const key = distributionProposeKey(row.id);
  const proposer = context.proposer ?? context.relayer;
  if ((await proposer.get(key)) === null) {
    await markProposing(context, row);
    try {
      await proposer.submit({
        idempotencyKey: key,
        kind: 'proposeRoot',
        refId: row.id,
        contract: 'Distributor',
        to: distributor,
        abi: distributorAbi,
        functionName: 'proposeRoot',
        args: [root as Hex, dec(total), treeHash as Hex, distributionChainId(row.id)],
      });
    } catch (error) {
      // nothing stored (a revert in simulation, the node unreachable): nothing can be on chain
      if ((await proposer.get(key)) === null) {
        await context.db.prisma.distribution.updateMany({
          where: { id: row.id },
          data: { proposingAt: null },
        });
      }
      throw error;
    }
    crashPoint('after-propose-sent');
  }
  const txHash = await settle(
    context,
    key,
    () => {
      throw invalid(`${key}: no relayed transaction`);
    },
    { relayer: proposer },
  );
  const pending = await undecoded(readPendingRoot(context.platform.clients.publicClient, { distributor }));
  await context.db.prisma.distribution.update({
    where: { id: row.id },
    data: { status: 'proposed', proposeTx: txHash, validAt: pending.validAt },
  });
}

/**
 * True when the Distributor's current root is this distribution's (root and on-chain id): accepted by
 * us or by anyone else (`acceptRoot` is public once the timelock passed).
 */
async function acceptedOnChain(
  context: DistributionContext,
  distributor: Address,
  row: Row,
): Promise<boolean> {
  const { publicClient } = context.platform.clients;
  const current = await undecoded(readCurrentRoot(publicClient, { distributor }));
  return (
    current.root.toLowerCase() === row.root?.toLowerCase() &&
    current.distributionId === distributionChainId(row.id)
  );
}

/** Timestamps (ms) of the latest block and, where the node has one, of the pending block. */
async function chainClocksMs(context: DistributionContext): Promise<number[]> {
  const { publicClient } = context.platform.clients;
  const [latest, pending] = await Promise.all([
    publicClient.getBlock(),
    // not every node answers for `pending` (then the latest block and our clock decide)
    publicClient.getBlock({ blockTag: 'pending' }).catch(() => null),
  ]);
  return [latest, pending].flatMap((block) => (block ? [Number(block.timestamp) * 1000] : []));
}

/**
 * A chain read of this job (core/chain/contracts) fails with the node's own error, not its decoded
 * `ChainError`, as these reads always did: a non-retryable `BaseError` fails the distribution for
 * good, while a failed read (e.g. a node that does not have the snapshot block yet, which viem
 * reports as an unknown error) is only a reason for BullMQ to try the job again.
 */
async function undecoded<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (error) {
    throw isChainError(error) && error.cause !== undefined ? error.cause : error;
  }
}

const errorNameOf = (error: unknown): string | undefined => (error as { errorName?: string }).errorName;

async function acceptStep(context: DistributionContext, row: Row): Promise<void> {
  const portfolio = await portfolioOf(context, row.portfolioId);
  const distributor = getAddress(portfolio.distributorAddress);
  const key = distributionAcceptKey(row.id);
  const { publicClient } = context.platform.clients;
  let relayed = await context.relayer.get(key);
  if (relayed === null && !(await acceptedOnChain(context, distributor, row))) {
    // The timelock on the latest clock we know: ours, the latest block's, the pending block's. On a
    // chain that mines only when a transaction arrives (anvil's default) the latest block may be
    // hours old while the pending one has the wall-clock time (plus any evm_increaseTime offset), and
    // acceptRoot is simulated against the pending block: the accept transaction itself mines the
    // block that passes the timelock.
    const validAtMs = Number(row.validAt ?? 0n) * 1000;
    const nowMs = Math.max(Date.now(), ...(await chainClocksMs(context)));
    if (nowMs < validAtMs) {
      throw new DistributionDelay(Math.min(validAtMs - nowMs, 60_000), `Timelock of distribution ${row.id}`);
    }
    try {
      relayed = await context.relayer.submit({
        idempotencyKey: key,
        kind: 'acceptRoot',
        refId: row.id,
        contract: 'Distributor',
        to: distributor,
        abi: distributorAbi,
        functionName: 'acceptRoot',
        blockTag: 'pending',
      });
    } catch (error) {
      const name = errorNameOf(error);
      if (name === 'DistributorTimelockPending' || String(error).includes('DistributorTimelockPending')) {
        throw new DistributionDelay(1_000, `Timelock of distribution ${row.id}`);
      }
      // no pending root: someone else accepted ours in the meantime (checked below), or it was revoked
      if (name !== 'DistributorNoPendingRoot') throw error;
    }
  }
  let acceptTx: Hex | null = null;
  if (relayed !== null) {
    const settled = await context.relayer.waitFor(relayed.id, {
      timeoutMs: context.confirmTimeoutMs ?? 120_000,
    });
    if (settled.status === 'mined') acceptTx = settled.txHash as Hex;
    else if (!(await acceptedOnChain(context, distributor, row))) {
      // ours reverted (or was dropped) and the root is not ours: revoked, or another root went in
      throw invalid(settled.revertReason ?? `${key}: transaction ${settled.txHash} ${settled.status}`);
    }
  }
  if (!(await acceptedOnChain(context, distributor, row))) {
    const root = await undecoded(readRoot(publicClient, { distributor }));
    throw invalid(`Distributor root ${root} is not the distribution's ${row.root}`);
  }
  // accepted by someone else: their transaction, once the indexer has it (null until then)
  acceptTx ??= ((await acceptedBy(context, distributor, row)) as Hex | null) ?? null;
  await context.db.prisma.distribution.update({
    where: { id: row.id },
    data: { status: 'claimable', acceptTx },
  });
}

/** The indexed RootAccepted transaction of this distribution's root, if any. */
async function acceptedBy(
  context: DistributionContext,
  distributor: Address,
  row: Row,
): Promise<string | null> {
  const events = await context.db.prisma.distributorRootEvent.findMany({
    where: { chainId: row.chainId, kind: 'accepted', distributionId: distributionChainId(row.id).toString() },
    select: { txHash: true, distributor: true, root: true },
  });
  const event = events.find(
    (e) =>
      e.distributor.toLowerCase() === distributor.toLowerCase() &&
      e.root.toLowerCase() === row.root?.toLowerCase(),
  );
  return event?.txHash ?? null;
}

function minPushOf(context: DistributionContext): bigint {
  return context.minPush ?? context.config.DISTRIBUTION_MIN_PUSH;
}

/**
 * Fixes the push's batches once, when the push starts: every holder paid at least `minPush`, and every
 * holder the previous distribution of the portfolio pushed but could not pay (`push_skipped`: it was not
 * allowed, or its transfer failed; its cumulative amount here still covers it), gets its claimMany batch
 * (in account order, `size` per batch) and the row the batch size, in one transaction. A later run (a
 * restart, another worker, other settings) sends exactly these batches: the relayer row of
 * `distribution-push-<id>-<batch>` always paid the holders recorded for it. A skipped holder is thus
 * tried once per distribution, never in a loop; one that claimed meanwhile costs its batch a skipped
 * entry (claimMany skips what is already claimed).
 */
async function fixPushBatches(context: DistributionContext, id: string): Promise<void> {
  const size = context.pushBatchSize ?? context.config.DISTRIBUTION_PUSH_BATCH ?? 100;
  if (!Number.isSafeInteger(size) || size < 1)
    throw invalid(`Push batch size ${size} is not a positive integer`);
  const minPush = minPushOf(context);
  await context.db.prisma.$transaction(async (tx) => {
    // the row lock makes a second worker wait here, then see the batches fixed
    const fixed = await tx.$executeRaw`
      UPDATE distribution SET push_batch_size = ${size}, updated_at = now()
       WHERE id = ${id}::uuid AND push_batch_size IS NULL`;
    if (fixed === 0) return;
    await tx.$executeRaw`
      UPDATE distribution_holder h SET push_batch = s.batch
        FROM (SELECT c.account, (row_number() OVER (ORDER BY c.account) - 1) / ${size} AS batch
                FROM distribution_holder c
               WHERE c.distribution_id = ${id}::uuid
                 AND ((c.payout > 0 AND c.payout >= ${minPush.toString()}::numeric)
                      OR EXISTS (SELECT 1 FROM distribution_holder p
                                  WHERE p.distribution_id = (
                                          SELECT e.id FROM distribution e JOIN distribution d ON d.id = ${id}::uuid
                                           WHERE e.portfolio_id = d.portfolio_id AND e.recovery_id < d.recovery_id
                                           ORDER BY e.recovery_id DESC LIMIT 1)
                                    AND p.account = c.account AND p.push_skipped IS NOT NULL))) s
       WHERE h.distribution_id = ${id}::uuid AND h.account = s.account`;
  });
}

async function pushStep(
  context: DistributionContext,
  id: string,
  built: DistributionTree | undefined,
): Promise<void> {
  const { prisma } = context.db;
  const row = await prisma.distribution.findUniqueOrThrow({ where: { id } });
  const portfolio = await portfolioOf(context, row.portfolioId);
  const distributor = getAddress(portfolio.distributorAddress) as Address;
  const tree = built ?? (await treeOf(context, id));
  if (tree.root !== row.root) throw invalid(`Rebuilt tree root ${tree.root} differs from ${row.root}`);
  if (row.pushBatchSize === null) await fixPushBatches(context, id);
  const holders = await prisma.distributionHolder.findMany({
    where: { distributionId: id, pushBatch: { not: null } },
    orderBy: [{ pushBatch: 'asc' }, { account: 'asc' }],
  });
  const batches = new Map<number, typeof holders>();
  for (const h of holders) {
    const batch = h.pushBatch as number;
    const slice = batches.get(batch);
    if (slice === undefined) batches.set(batch, [h]);
    else slice.push(h);
  }
  for (const [batch, slice] of batches) {
    if (slice.every((h) => h.pushedTx !== null)) continue;
    const key = distributionPushKey(id, batch);
    // submit, not a bare look-up by key: for a known key the relayer checks the stored call is this
    // one (same accounts, amounts and proofs) before returning it
    const txHash = await settle(
      context,
      key,
      () =>
        context.relayer.submit({
          idempotencyKey: key,
          kind: 'claimMany',
          refId: id,
          contract: 'Distributor',
          to: distributor,
          abi: distributorAbi,
          functionName: 'claimMany',
          args: [
            slice.map((h) => getAddress(h.account)),
            slice.map((h) => dec(h.cumulative)),
            slice.map((h) => tree.proof(h.account)),
          ],
        }),
      { lookUp: false },
    );
    // the batch is mined but not recorded: the re-run finds the relayer row by key and records it
    crashPoint('mid-push');
    const skipped = await skippedBy(context, distributor, txHash);
    const byReason = new Map<string, string[]>();
    for (const s of skipped) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.account]);
    await prisma.$transaction([
      prisma.distributionHolder.updateMany({
        where: { distributionId: id, pushBatch: batch },
        data: { pushedTx: txHash, pushSkipped: null },
      }),
      ...[...byReason].map(([reason, accounts]) =>
        prisma.distributionHolder.updateMany({
          where: { distributionId: id, pushBatch: batch, account: { in: accounts } },
          data: { pushSkipped: reason },
        }),
      ),
    ]);
    if (skipped.length > 0) {
      context.log?.warn(
        { distributionId: id, batch, txHash, skipped: skipped.length },
        'claimMany skipped holders (not allowed by the registry, or the transfer failed): their payouts stay claimable',
      );
    }
  }
  await prisma.distribution.update({ where: { id }, data: { status: 'paid' } });
  context.log?.info({ distributionId: id, pushed: holders.length }, 'distribution paid');
}

/** The holders a mined claimMany skipped (`ClaimSkipped` in its receipt). */
async function skippedBy(context: DistributionContext, distributor: Address, txHash: Hex) {
  const receipt = await context.platform.clients.publicClient.getTransactionReceipt({ hash: txHash });
  return claimSkippedIn(receipt.logs, distributor);
}

/**
 * Creates a `distribution` row for every final indexed RecoveryDistributed event (at or below the
 * indexer's finalized block) of a published portfolio that has none yet; returns the new rows' ids (to
 * enqueue). Reconciles reorgs first (`reconcileDistributions`). Safe to run concurrently (unique per
 * recovery log and per portfolio and recovery id: a re-included deposit is never a second one).
 */
export async function findNewDistributions(db: Db): Promise<string[]> {
  await reconcileDistributions(db);
  const rows = await db.prisma.$queryRawUnsafe<{ id: string }[]>(
    `INSERT INTO distribution (portfolio_id, chain_id, portfolio, recovery_tx_hash, recovery_log_index,
                               recovery_id, snapshot_block, updated_at)
     SELECT p.id, r.chain_id, r.portfolio, r.tx_hash, r.log_index, r.recovery_id, r.snapshot_block, now()
       FROM recovery_event r
       JOIN indexer_cursor c ON c.chain_id = r.chain_id AND r.block_number <= c.finalized_block
       JOIN portfolio p ON p.chain_id = r.chain_id AND lower(p.portfolio_address) = lower(r.portfolio)
      WHERE NOT EXISTS (SELECT 1 FROM distribution d WHERE d.chain_id = r.chain_id
                          AND d.recovery_tx_hash = r.tx_hash AND d.recovery_log_index = r.log_index)
      ORDER BY r.block_number, r.log_index
     ON CONFLICT DO NOTHING
     RETURNING id::text AS id`,
  );
  return rows.map((r) => r.id);
}

export type ReconciledDistribution = { id: string; action: 'deleted' | 'failed' };

/**
 * Unfinished distributions whose recovery event a reorg removed (or moved to another block, or
 * another transaction): the indexed branch no longer has their event while it is final past the
 * event's block (`snapshot_block + 1`), or another final event carries the same recovery id. One that
 * sent nothing on chain (computing, no `proposing_at`, no proposeRoot in the relayer) is deleted,
 * with its holder and tranche rows: the re-included deposit, once final, gets a distribution of its
 * own. One that did is marked `failed` (its root, accept or claims may be gone with the reorg, or
 * stand on a deposit that is not there): an operator looks at it, and the portfolio's later
 * distributions wait for that. Paid ones are history and left as they are.
 */
export async function reconcileDistributions(db: Db): Promise<ReconciledDistribution[]> {
  // gone: the indexed branch no longer has the event as it was, and is final past its block (or has
  // the same recovery id final elsewhere)
  const gone = `d.status IN ('computing', 'proposed', 'claimable')
    AND NOT EXISTS (SELECT 1 FROM recovery_event r
                     WHERE r.chain_id = d.chain_id AND r.tx_hash = d.recovery_tx_hash
                       AND r.log_index = d.recovery_log_index AND r.snapshot_block = d.snapshot_block
                       AND r.recovery_id = d.recovery_id)
    AND EXISTS (SELECT 1 FROM indexer_cursor c WHERE c.chain_id = d.chain_id
                  AND (c.finalized_block > d.snapshot_block
                       OR EXISTS (SELECT 1 FROM recovery_event r
                                   WHERE r.chain_id = d.chain_id AND lower(r.portfolio) = lower(d.portfolio)
                                     AND r.recovery_id = d.recovery_id AND r.block_number <= c.finalized_block)))`;
  // single statements, each under the rows' locks (no transaction held across calls: PGlite is one
  // session); the propose step's mark (`proposing_at`) is re-checked on the locked row
  const deleted = await db.prisma.$queryRawUnsafe<{ id: string }[]>(
    `DELETE FROM distribution d
      WHERE ${gone} AND d.status = 'computing' AND d.proposing_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM relay_tx t WHERE t.idempotency_key = 'distribution-propose-' || d.id::text)
      RETURNING d.id::text AS id`,
  );
  const failed = await db.prisma.$queryRawUnsafe<{ id: string }[]>(
    `UPDATE distribution d
        SET status = 'failed', updated_at = now(),
            error = 'A reorg removed or moved the recovery event of this distribution after its root was sent (' ||
                    d.status::text || '); an operator checks the Distributor'
      WHERE ${gone}
      RETURNING d.id::text AS id`,
  );
  return [
    ...deleted.map(({ id }) => ({ id, action: 'deleted' as const })),
    ...failed.map(({ id }) => ({ id, action: 'failed' as const })),
  ];
}

/** Distributions still to carry on (after a restart). */
export async function pendingDistributions(db: Db): Promise<string[]> {
  const rows = await db.prisma.distribution.findMany({
    where: { status: { in: ['computing', 'proposed', 'claimable'] } },
    select: { id: true },
    orderBy: [{ createdAt: 'asc' }],
  });
  return rows.map((r) => r.id);
}
