/**
 * An investor's payouts from the Merkle distributions (GET /v1/investors/:address/payouts) and the
 * claims relayed for them (POST /v1/investors/:address/claims), for the API, the worker and bench/.
 *
 * Per portfolio where the account has a leaf in some distribution: the latest ACCEPTED distribution
 * (status claimable or paid: its root is the Distributor's), the account's cumulative amount in it
 * and its proof, `claimed` (by default read from the Distributor: exact; for the read route, the
 * latest indexed `Claimed` cumulative, as of the indexer's block: one `eth_call` per request would
 * queue every read behind the node), claimable = cumulative − claimed, and `pending` = the account's payouts of later distributions whose root is not accepted
 * yet (computing, proposed).
 *
 * Proofs come from an in-process LRU of built trees per distribution id (`createTreeCache`): a tree
 * is loaded once from its dump file (`loadDistributionTreeJson`, every hash checked) or, when the
 * file is missing, rebuilt from the holder rows, and checked against the recorded root; the leaf of
 * an account is found through the tree's account index, so a proof costs a lookup and ~log2(n)
 * copies. Concurrent first requests share one load.
 *
 * A load never blocks the event loop with the whole tree: the read, parse and hash checks of the
 * dump, or the build from the rows, run in a worker thread (tree/load-thread.ts) whose tree comes
 * back as transferred buffers, wrapped in constant time. On the main thread a load costs at most one
 * page of `TREE_ROWS_PAGE` holder rows per turn (the rows path: keyset pages streamed to the thread).
 * A cache runs one load at a time (the others wait their turn), so at most one tree is in the making.
 */
import { Worker } from 'node:worker_threads';
import { type Address, getAddress, type Hex } from 'viem';
import type { ChainPublicClient } from '../chain/clients.ts';
import { readClaimed, readDistributorPayToken } from '../chain/contracts/distributor.ts';
import { distributorAbi } from '../chain/generated/index.ts';
import type { PrismaClient } from '../db/index.ts';
import {
  BaseError,
  ConflictError,
  NotFoundError,
  ServiceUnavailableError,
} from '../platform/errors/index.ts';
import {
  byTxHashes,
  type RelayedActionContext,
  relayOnce,
  type SettlementState,
} from '../trading/settlement.ts';
import type { TreeThreadError, TreeThreadPage } from './tree/load-thread.ts';
import {
  type DistributionTree,
  type DistributionTreeParts,
  distributionTreeFromParts,
} from './tree/merkle.ts';

// ------------------------------------------------------------------ tree cache

export type TreeSource = { id: string; root: string | null; treePath: string | null };

export type TreeCache = {
  /** The built tree of a distribution (loaded once, then from memory; least recently used evicted). */
  get: (source: TreeSource) => Promise<DistributionTree>;
  /** The tree is loaded or loading. */
  has: (id: string) => boolean;
  /** Most trees kept. */
  readonly maxTrees: number;
  /** Trees held (loaded or loading). */
  size: () => number;
  clear: () => void;
};

export type CreateTreeCacheOptions = {
  prisma: PrismaClient;
  /** Trees kept at most (default 4; a 1M-leaf tree holds ~100 MB). */
  maxTrees?: number;
  /** How a tree is loaded (default `loadTree`); the cache runs one at a time. */
  load?: (source: TreeSource) => Promise<DistributionTree>;
};

/** Holder rows read per query (and per event-loop turn) when a tree is rebuilt from its rows. */
export const TREE_ROWS_PAGE = 10_000;

const THREAD_BOOT = new URL('../platform/ts-worker.mjs', import.meta.url);
const THREAD_MODULE = new URL('./tree/load-thread.ts', import.meta.url).href;

type ThreadAnswer = { ok: true; parts: DistributionTreeParts | null } | { ok: false; error: TreeThreadError };

/** Starts one tree thread; `answer` is its tree (null: the file could not be read), then it is gone. */
function treeThread(input: { kind: 'file'; path: string } | { kind: 'rows' }) {
  const worker = new Worker(THREAD_BOOT, { workerData: { module: THREAD_MODULE, ...input } });
  const answer = new Promise<DistributionTree | null>((resolve, reject) => {
    worker.once('message', (message: ThreadAnswer) => {
      if (message.ok) resolve(message.parts === null ? null : distributionTreeFromParts(message.parts));
      else {
        const { error } = message;
        reject(
          error.code === undefined
            ? new Error(error.message)
            : new BaseError(error.message, {
                code: error.code,
                statusCode: error.statusCode,
                details: error.details,
              }),
        );
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the tree thread exited (${code}) without an answer`)));
  });
  const done = answer.finally(() => worker.terminate()).catch(() => null);
  return {
    answer,
    send: (page: TreeThreadPage) => worker.postMessage(page),
    stop: async () => {
      await worker.terminate();
      await done;
    },
  };
}

/** The tree from the holder rows, built in a tree thread fed one keyset page at a time. */
async function treeFromRows(prisma: PrismaClient, distributionId: string): Promise<DistributionTree> {
  const thread = treeThread({ kind: 'rows' });
  try {
    let after = '';
    let total = 0;
    for (;;) {
      const rows = await prisma.$queryRaw<{ account: string; cumulative: string }[]>`
        SELECT account, cumulative::text AS cumulative FROM distribution_holder
         WHERE distribution_id = ${distributionId}::uuid AND account > ${after}
         ORDER BY account LIMIT ${TREE_ROWS_PAGE}`;
      if (rows.length > 0) {
        thread.send({ accounts: rows.map((r) => r.account), amounts: rows.map((r) => r.cumulative) });
        total += rows.length;
        after = rows[rows.length - 1].account;
      }
      if (rows.length < TREE_ROWS_PAGE) break;
    }
    if (total === 0) {
      throw new ServiceUnavailableError(`Distribution ${distributionId} has neither a tree file nor holders`);
    }
    thread.send({ done: true });
    return (await thread.answer) as DistributionTree;
  } finally {
    await thread.stop();
  }
}

/**
 * The tree of a distribution: its dump file, else its holder rows; always checked against `root`.
 * The whole-tree work runs in a worker thread (see the top of this file).
 */
export async function loadTree(prisma: PrismaClient, source: TreeSource): Promise<DistributionTree> {
  if (source.root === null) {
    throw new ConflictError(`The tree of distribution ${source.id} is not built yet`, {
      details: { distributionId: source.id },
    });
  }
  let tree: DistributionTree | null = null;
  if (source.treePath !== null) {
    const thread = treeThread({ kind: 'file', path: source.treePath });
    try {
      tree = await thread.answer;
    } finally {
      await thread.stop();
    }
  }
  tree ??= await treeFromRows(prisma, source.id);
  if (tree.root.toLowerCase() !== source.root.toLowerCase()) {
    throw new ServiceUnavailableError(
      `The tree of distribution ${source.id} has root ${tree.root}, recorded ${source.root}`,
    );
  }
  return tree;
}

export function createTreeCache(options: CreateTreeCacheOptions): TreeCache {
  const maxTrees = Math.max(1, options.maxTrees ?? 4);
  // a Map iterates in insertion order: re-inserting on use makes the first key the least recent
  const trees = new Map<string, Promise<DistributionTree>>();
  const load = options.load ?? ((source: TreeSource) => loadTree(options.prisma, source));
  // one load at a time: a load in flight holds a whole dump (or all rows) and its thread's memory
  let queue: Promise<unknown> = Promise.resolve();
  return {
    get(source) {
      const cached = trees.get(source.id);
      if (cached !== undefined) {
        trees.delete(source.id);
        trees.set(source.id, cached);
        return cached;
      }
      const loading = queue.then(() => load(source));
      queue = loading.catch(() => {});
      trees.set(source.id, loading);
      // a failed load is not kept: the next request tries again
      loading.catch(() => {
        if (trees.get(source.id) === loading) trees.delete(source.id);
      });
      while (trees.size > maxTrees) {
        const oldest = trees.keys().next().value as string;
        trees.delete(oldest);
      }
      return loading;
    },
    has: (id) => trees.has(id),
    maxTrees,
    size: () => trees.size,
    clear: () => trees.clear(),
  };
}

/**
 * Loads into `cache` the trees of the latest accepted distribution of the portfolios whose root was
 * accepted most recently (at most `cache.maxTrees`), so that the first payout request after a new
 * root does not pay for loading a large tree (seconds at 1M leaves). Returns the ids it loaded.
 */
export async function warmTrees(prisma: PrismaClient, cache: TreeCache): Promise<string[]> {
  const rows = await prisma.$queryRawUnsafe<{ id: string; root: string | null; tree_path: string | null }[]>(
    `SELECT id, root, tree_path FROM (
       SELECT DISTINCT ON (portfolio_id) id::text AS id, root, tree_path, updated_at
         FROM distribution WHERE status IN ('claimable', 'paid') AND root IS NOT NULL
        ORDER BY portfolio_id, recovery_id DESC
     ) latest ORDER BY updated_at DESC LIMIT $1`,
    cache.maxTrees,
  );
  const loaded: string[] = [];
  // oldest first, so that the most recent ends up the most recently used
  for (const row of rows.reverse()) {
    if (cache.has(row.id)) continue;
    await cache.get({ id: row.id, root: row.root, treePath: row.tree_path });
    loaded.push(row.id);
  }
  return loaded;
}

// ------------------------------------------------------------------ payouts

export type PayoutsContext = {
  prisma: PrismaClient;
  publicClient: ChainPublicClient;
  trees: TreeCache;
  /** The Distributor's pay token by address (immutable: read once); a Map owned by the caller. */
  payTokens?: Map<string, Address>;
};

export type Payout = {
  portfolioId: string;
  distributor: Address;
  payToken: Address;
  /** The latest accepted distribution of the portfolio (null: none accepted yet). */
  distributionId: string | null;
  root: Hex | null;
  cumulative: bigint;
  claimed: bigint;
  claimable: bigint;
  proof: Hex[];
  pending: bigint;
  /** Where `claimed` comes from: the chain (latest block), or the index as of `claimedAsOfBlock`. */
  claimedAsOfBlock: bigint | null;
};

type PayoutRow = {
  portfolio_id: string;
  distributor_address: string | null;
  distribution_id: string | null;
  root: string | null;
  tree_path: string | null;
  cumulative: string | null;
  pending: string;
  indexed_claimed: string | null;
  indexed_block: string | null;
};

/**
 * The account's payouts, one per portfolio where it has a leaf in some distribution (ordered by
 * portfolio id); `portfolioId` restricts it to one portfolio.
 */
export async function investorPayouts(
  context: PayoutsContext,
  account: Address,
  options: {
    portfolioId?: string;
    /** `chain` (default): Distributor.claimed now; `index`: the indexed Claimed events (no RPC call). */
    claimedFrom?: 'chain' | 'index';
  } = {},
): Promise<Payout[]> {
  const address = getAddress(account);
  const rows = await context.prisma.$queryRawUnsafe<PayoutRow[]>(
    `WITH mine AS (
       SELECT d.portfolio_id, d.recovery_id, d.status, h.payout
         FROM distribution_holder h JOIN distribution d ON d.id = h.distribution_id
        WHERE h.account = $1 AND ($2::uuid IS NULL OR d.portfolio_id = $2::uuid)
     ), ports AS (SELECT DISTINCT portfolio_id FROM mine),
     accepted AS (
       SELECT DISTINCT ON (d.portfolio_id) d.portfolio_id, d.id, d.recovery_id, d.root, d.tree_path
         FROM distribution d JOIN ports p ON p.portfolio_id = d.portfolio_id
        WHERE d.status IN ('claimable', 'paid')
        ORDER BY d.portfolio_id, d.recovery_id DESC
     )
     SELECT p.portfolio_id::text AS portfolio_id, pf.distributor_address,
            a.id::text AS distribution_id, a.root, a.tree_path,
            (SELECT h.cumulative::text FROM distribution_holder h
              WHERE h.distribution_id = a.id AND h.account = $1) AS cumulative,
            (SELECT coalesce(sum(m.payout), 0)::text FROM mine m
              WHERE m.portfolio_id = p.portfolio_id AND m.status IN ('computing', 'proposed')
                AND (a.recovery_id IS NULL OR m.recovery_id > a.recovery_id)) AS pending,
            (SELECT max(c.cumulative)::text FROM claim_event c
              WHERE c.account = $1 AND c.chain_id = pf.chain_id
                AND lower(c.distributor) = lower(pf.distributor_address)) AS indexed_claimed,
            (SELECT ic.indexed_block::text FROM indexer_cursor ic WHERE ic.chain_id = pf.chain_id) AS indexed_block
       FROM ports p
       JOIN portfolio pf ON pf.id = p.portfolio_id
       LEFT JOIN accepted a ON a.portfolio_id = p.portfolio_id
      ORDER BY p.portfolio_id`,
    address,
    options.portfolioId ?? null,
  );
  const payTokens = context.payTokens ?? new Map<string, Address>();
  return Promise.all(
    rows
      .filter((row) => row.distributor_address !== null)
      .map(async (row): Promise<Payout> => {
        const distributor = getAddress(row.distributor_address as string);
        const cumulative = row.cumulative === null ? 0n : BigInt(row.cumulative);
        const fromIndex = options.claimedFrom === 'index';
        const [claimed, payToken, proof] = await Promise.all([
          fromIndex
            ? BigInt(row.indexed_claimed ?? '0')
            : readClaimed(context.publicClient, { distributor, account: address }),
          payTokenOf(context, payTokens, distributor),
          row.distribution_id === null || row.cumulative === null
            ? Promise.resolve([] as Hex[])
            : proofOf(
                context,
                { id: row.distribution_id, root: row.root, treePath: row.tree_path },
                address,
                cumulative,
              ),
        ]);
        return {
          portfolioId: row.portfolio_id,
          distributor,
          payToken,
          distributionId: row.distribution_id,
          root: row.root as Hex | null,
          cumulative,
          claimed,
          claimable: cumulative > claimed ? cumulative - claimed : 0n,
          proof,
          pending: BigInt(row.pending),
          claimedAsOfBlock: fromIndex && row.indexed_block !== null ? BigInt(row.indexed_block) : null,
        };
      }),
  );
}

async function payTokenOf(context: PayoutsContext, cache: Map<string, Address>, distributor: Address) {
  const known = cache.get(distributor);
  if (known !== undefined) return known;
  const token = getAddress(await readDistributorPayToken(context.publicClient, { distributor }));
  cache.set(distributor, token);
  return token;
}

async function proofOf(context: PayoutsContext, source: TreeSource, account: Address, cumulative: bigint) {
  const tree = await context.trees.get(source);
  const index = tree.leafIndexOf(account);
  if (index < 0 || tree.amount(index) !== cumulative) {
    throw new ServiceUnavailableError(
      `The tree of distribution ${source.id} disagrees with its holder row for ${account}`,
    );
  }
  return tree.proof(index);
}

export const payoutView = (p: Payout) => ({
  portfolioId: p.portfolioId,
  distributor: p.distributor,
  payToken: p.payToken,
  distributionId: p.distributionId,
  root: p.root,
  cumulative: p.cumulative.toString(),
  claimed: p.claimed.toString(),
  claimable: p.claimable.toString(),
  proof: p.proof,
  pending: p.pending.toString(),
  claimedAsOfBlock: p.claimedAsOfBlock === null ? null : p.claimedAsOfBlock.toString(),
});

// ------------------------------------------------------------------ claims

export const CLAIM_KIND = 'claim';

export type ClaimItem = {
  portfolioId: string;
  distributionId: string;
  amount: string;
  /**
   * The claim transaction's settlement state (core/trading/settlement.ts): a new one, or one a reorg
   * sent back, is `pending`; `mined` until its Claimed event is final; `failed` when relaying it
   * failed (nothing was sent).
   */
  status: SettlementState;
  txHash: Hex | null;
  reason?: string;
};

/** The indexed Claimed event of `account` on `distributor` among a relay row's hashes. */
const claimedEvent = (
  context: Pick<PayoutsContext, 'prisma'> & Pick<RelayedActionContext, 'chainId'>,
  distributor: Address,
  account: Address,
) =>
  byTxHashes((hashes) =>
    context.prisma.claimEvent.findFirst({
      where: {
        chainId: context.chainId,
        distributor: { equals: distributor, mode: 'insensitive' },
        account: { equals: account, mode: 'insensitive' },
        ...hashes,
      },
      orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
    }),
  );

/**
 * Relays `Distributor.claim(account, cumulative, proof)` for every portfolio with claimable > 0 (or
 * only `portfolioId`): the contract pays `account`, nobody else. One transaction per (distribution,
 * account) at a time: a second request while it is pending answers the same transaction. CONFLICT
 * when nothing is claimable; NOT_FOUND for an unknown `portfolioId`.
 */
export async function requestClaims(
  context: PayoutsContext & Pick<RelayedActionContext, 'relayer' | 'chainId'>,
  account: Address,
  options: { portfolioId?: string } = {},
): Promise<ClaimItem[]> {
  const address = getAddress(account);
  if (options.portfolioId !== undefined) {
    const exists = await context.prisma.portfolio.findUnique({
      where: { id: options.portfolioId },
      select: { id: true },
    });
    if (exists === null) throw new NotFoundError('Portfolio', options.portfolioId);
  }
  const payouts = (await investorPayouts(context, address, options)).filter(
    (p) => p.claimable > 0n && p.distributionId !== null,
  );
  if (payouts.length === 0) {
    throw new ConflictError(`Nothing to claim for ${address}`, {
      details: {
        reason: 'NOTHING_TO_CLAIM',
        ...(options.portfolioId === undefined ? {} : { portfolioId: options.portfolioId }),
      },
    });
  }
  const items: ClaimItem[] = [];
  let firstError: unknown;
  for (const p of payouts) {
    const distributionId = p.distributionId as string;
    try {
      const { row, state } = await relayOnce(context, {
        keyBase: `claim-${distributionId}-${address}`,
        kind: CLAIM_KIND,
        refId: `${distributionId}:${address}`,
        to: p.distributor,
        abi: distributorAbi,
        functionName: 'claim',
        args: [address, p.cumulative, p.proof],
        findEvent: claimedEvent(context, p.distributor, address),
      });
      items.push({
        portfolioId: p.portfolioId,
        distributionId,
        amount: p.claimable.toString(),
        status: state,
        txHash: row.txHash as Hex,
      });
    } catch (error) {
      firstError ??= error;
      items.push({
        portfolioId: p.portfolioId,
        distributionId,
        amount: p.claimable.toString(),
        status: 'failed',
        txHash: null,
        reason: error instanceof BaseError ? error.code : 'SERVICE_UNAVAILABLE',
      });
    }
  }
  if (items.every((i) => i.status === 'failed')) throw firstError;
  return items;
}
