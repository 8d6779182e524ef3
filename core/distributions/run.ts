/**
 * The distribution job (ARCHITECTURE.md "The distribution job"): one `distribution` row per indexed
 * `RecoveryDistributed` event, carried from the snapshot to the pushed payouts. Idempotent and
 * resumable by distribution id: every step records its result in the row before the next runs, and
 * a re-run skips what is recorded.
 *
 * 1+2. balances of every tranche at `snapshotBlock` (worker/indexer `balancesAt`, cross-checked
 *      against `totalSupply` read at that block) → `computeDistribution` with the previous
 *      distribution's cumulative amounts and dust → `distribution_holder` / `distribution_tranche`
 *      rows (the holders with one COPY), written in one transaction with `computed_at`;
 * 3.   the tree (`buildDistributionTree`) dumped to `DATA_DIR/distributions/<id>.json`, its keccak
 *      as `treeHash`, and the root and total;
 * 4.   `proposeRoot` through the relayer, key `distribution-propose-<id>` (the relayer returns the
 *      stored row for a known key: sent once, even across crashes) → status `proposed`, `validAt`;
 * 5.   after the timelock, `acceptRoot` (`distribution-accept-<id>`) → status `claimable`;
 * 6.   `claimMany` in batches for every holder with a payout ≥ `minPush`
 *      (`distribution-push-<id>-<batch>`) → status `paid`.
 *
 * Waiting (the indexer behind the snapshot, an earlier distribution of the portfolio not yet
 * claimable, the timelock) throws `DistributionDelay`: the worker moves the BullMQ job to the
 * delayed set with the same id instead of spending an attempt.
 *
 * `findNewDistributions` creates the rows: every indexed recovery of a published portfolio without a
 * distribution gets one (the worker polls it, see worker/main.ts).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createKeccak } from 'hash-wasm';
import { from as copyFrom } from 'pg-copy-streams';
import { type Address, getAddress, type Hex } from 'viem';
import type { PlatformChain } from '../chain/deployment.ts';
import { distributorAbi, trancheTokenAbi } from '../chain/generated/index.ts';
import type { Relayer } from '../chain/relayer/relayer.ts';
import { balancesAt } from '../chain-index/store.ts';
import type { Db } from '../db/index.ts';
import type { Config } from '../platform/config.ts';
import { crashPoint } from '../platform/crash-point.ts';
import { BaseError } from '../platform/errors.ts';
import { type JobData, JobDelay } from '../platform/jobs.ts';
import { computeDistribution, distributionChainId } from './compute.ts';
import { buildDistributionTree, checksumAddresses, type DistributionTree } from './tree/merkle.ts';

export type DistributionContext = {
  db: Db;
  platform: PlatformChain;
  relayer: Relayer;
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

const invalid = (message: string) => new BaseError(message, { code: 'CONFLICT', retryable: false });
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
      await prisma.distribution.update({
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

/** The latest earlier distribution of the portfolio; delays while it is not claimable yet. */
async function previousOf(context: DistributionContext, row: Row) {
  const previous = await context.db.prisma.distribution.findFirst({
    where: { portfolioId: row.portfolioId, recoveryId: { lt: row.recoveryId } },
    orderBy: { recoveryId: 'desc' },
  });
  // a failed one blocks the later ones too (its amounts and dust would be lost): an operator fixes it first
  if (previous?.status === 'failed') {
    context.log?.warn({ distributionId: row.id, previous: previous.id }, 'waiting for a failed distribution');
    throw new DistributionDelay(30_000, `Distribution ${previous.id} of the portfolio failed`);
  }
  if (previous !== null && previous.status !== 'claimable' && previous.status !== 'paid') {
    throw new DistributionDelay(2_000, `Distribution ${previous.id} of the portfolio is not claimable yet`);
  }
  return previous;
}

async function computeStep(context: DistributionContext, row: Row): Promise<void> {
  const { prisma } = context.db;
  const portfolio = await portfolioOf(context, row.portfolioId);
  const previous = await previousOf(context, row);
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
    const supply = await publicClient.readContract({
      address: token,
      abi: trancheTokenAbi,
      functionName: 'totalSupply',
      blockNumber: row.snapshotBlock,
    });
    if (supply !== snapshot.totalSupply) {
      // the indexer is missing transfers (or saw a reorg): never distribute on wrong balances
      throw new BaseError(
        `Tranche ${token} at block ${row.snapshotBlock}: indexed balances sum to ${snapshot.totalSupply}, totalSupply is ${supply}`,
        { code: 'SERVICE_UNAVAILABLE', retryable: true },
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
  const client = await context.db.pool.connect();
  let failed: Error | undefined;
  try {
    await client.query('BEGIN');
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
    await client.query('COMMIT');
  } catch (error) {
    failed = error instanceof Error ? error : new Error(String(error));
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release(failed);
  }
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

async function settle(context: DistributionContext, key: string, send: () => Promise<{ id: string }>) {
  const relayed = (await context.relayer.get(key)) ?? (await send());
  const settled = await context.relayer.waitFor(relayed.id, {
    timeoutMs: context.confirmTimeoutMs ?? 120_000,
  });
  if (settled.status !== 'mined') {
    throw invalid(settled.revertReason ?? `${key}: transaction ${settled.txHash} ${settled.status}`);
  }
  return settled.txHash as Hex;
}

async function proposeStep(context: DistributionContext, row: Row): Promise<void> {
  const portfolio = await portfolioOf(context, row.portfolioId);
  await previousOf(context, row);
  const distributor = getAddress(portfolio.distributorAddress);
  const { root, total, treeHash } = row;
  if (root === null || total === null || treeHash === null) throw invalid('No tree recorded');
  const txHash = await settle(context, distributionProposeKey(row.id), async () => {
    const sent = await context.relayer.submit({
      idempotencyKey: distributionProposeKey(row.id),
      kind: 'proposeRoot',
      refId: row.id,
      contract: 'Distributor',
      to: distributor,
      abi: distributorAbi,
      functionName: 'proposeRoot',
      args: [root as Hex, dec(total), treeHash as Hex, distributionChainId(row.id)],
    });
    crashPoint('after-propose-sent');
    return sent;
  });
  const pending = await context.platform.clients.publicClient.readContract({
    address: distributor,
    abi: distributorAbi,
    functionName: 'pendingRoot',
  });
  await context.db.prisma.distribution.update({
    where: { id: row.id },
    data: { status: 'proposed', proposeTx: txHash, validAt: pending.validAt },
  });
}

async function acceptStep(context: DistributionContext, row: Row): Promise<void> {
  const portfolio = await portfolioOf(context, row.portfolioId);
  const distributor = getAddress(portfolio.distributorAddress);
  const key = distributionAcceptKey(row.id);
  if ((await context.relayer.get(key)) === null) {
    const validAtMs = Number(row.validAt ?? 0n) * 1000;
    const block = await context.platform.clients.publicClient.getBlock();
    // the chain's clock, not ours: acceptRoot is simulated on the latest block
    const chainNowMs = Number(block.timestamp) * 1000;
    if (chainNowMs < validAtMs) {
      throw new DistributionDelay(
        Math.min(validAtMs - chainNowMs, 60_000),
        `Timelock of distribution ${row.id}`,
      );
    }
  }
  const txHash = await settle(context, key, async () => {
    try {
      return await context.relayer.submit({
        idempotencyKey: key,
        kind: 'acceptRoot',
        refId: row.id,
        contract: 'Distributor',
        to: distributor,
        abi: distributorAbi,
        functionName: 'acceptRoot',
      });
    } catch (error) {
      const name = (error as { errorName?: string }).errorName;
      if (name === 'DistributorTimelockPending' || String(error).includes('DistributorTimelockPending')) {
        throw new DistributionDelay(1_000, `Timelock of distribution ${row.id}`);
      }
      throw error;
    }
  });
  const root = await context.platform.clients.publicClient.readContract({
    address: distributor,
    abi: distributorAbi,
    functionName: 'root',
  });
  if (root !== row.root) throw invalid(`Distributor root ${root} is not the distribution's ${row.root}`);
  await context.db.prisma.distribution.update({
    where: { id: row.id },
    data: { status: 'claimable', acceptTx: txHash },
  });
}

function minPushOf(context: DistributionContext): bigint {
  return context.minPush ?? context.config.DISTRIBUTION_MIN_PUSH;
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
  const minPush = minPushOf(context);
  const holders = (
    await prisma.distributionHolder.findMany({ where: { distributionId: id }, orderBy: { account: 'asc' } })
  ).filter((h) => dec(h.payout) > 0n && dec(h.payout) >= minPush);
  const size = context.pushBatchSize ?? context.config.DISTRIBUTION_PUSH_BATCH ?? 100;
  for (let start = 0, batch = 0; start < holders.length; start += size, batch++) {
    const slice = holders.slice(start, start + size);
    if (slice.every((h) => h.pushedTx !== null)) continue;
    const key = distributionPushKey(id, batch);
    const txHash = await settle(context, key, () =>
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
    );
    // the batch is mined but not recorded: the re-run finds the relayer row by key and records it
    crashPoint('mid-push');
    await prisma.distributionHolder.updateMany({
      where: { distributionId: id, account: { in: slice.map((h) => h.account) } },
      data: { pushedTx: txHash },
    });
  }
  await prisma.distribution.update({ where: { id }, data: { status: 'paid' } });
  context.log?.info({ distributionId: id, pushed: holders.length }, 'distribution paid');
}

/**
 * Creates a `distribution` row for every indexed RecoveryDistributed event of a published portfolio
 * that has none yet; returns the new rows' ids (to enqueue). Safe to run concurrently (unique key).
 */
export async function findNewDistributions(db: Db): Promise<string[]> {
  const rows = await db.prisma.$queryRawUnsafe<{ id: string }[]>(
    `INSERT INTO distribution (portfolio_id, chain_id, portfolio, recovery_tx_hash, recovery_log_index,
                               recovery_id, snapshot_block, updated_at)
     SELECT p.id, r.chain_id, r.portfolio, r.tx_hash, r.log_index, r.recovery_id, r.snapshot_block, now()
       FROM recovery_event r
       JOIN portfolio p ON p.chain_id = r.chain_id AND lower(p.portfolio_address) = lower(r.portfolio)
      WHERE NOT EXISTS (SELECT 1 FROM distribution d WHERE d.chain_id = r.chain_id
                          AND d.recovery_tx_hash = r.tx_hash AND d.recovery_log_index = r.log_index)
      ORDER BY r.block_number, r.log_index
     ON CONFLICT DO NOTHING
     RETURNING id::text AS id`,
  );
  return rows.map((r) => r.id);
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
