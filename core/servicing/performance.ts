/**
 * A published portfolio's performance (GET /v1/portfolios/:id/performance, API.md "Losses, reserve and
 * resolution"), read from what the chain indexer stored and the loan tape, never recomputed:
 *
 * - collections vs the business plan, per recovery as the chain computed it: the indexed
 *   `RecoveryTriggerAndReserve` of each `RecoveryDistributed` (collected, planned, breached, the reserve's
 *   movements). A recovery without one (a portfolio without reserve and trigger emits none) reads as not
 *   breached, planned 0, no reserve movement; its `collected` is the running sum of the recovery amounts.
 * - the reserve: its balance after the last `ReserveFunded` / `RecoveryTriggerAndReserve`, what the issuer
 *   treasury funded and what recoveries released, drew and replenished to date; the target in bps (the
 *   published terms) and the current target amount floor(senior outstanding × bps / 10000), 0 once resolved.
 * - per tranche: paid interest / principal / residual (sums of `recovery_event_tranche`), the write-offs of
 *   `PortfolioResolved`, outstanding = sold (`OfferingClosed`) − principal paid − principal written off (the
 *   residual tranche keeps its sold face, as on-chain), and paid ÷ face in bps. Interest arrears accrue on
 *   the chain only when a recovery runs, so they are not in any event: they are `Portfolio.trancheState`
 *   read at the indexer's indexed block (consistent with the rest); null without a chain client (or one of
 *   another chain) and before the indexed close.
 * - resolution status from the indexed proposals, vetoes and `PortfolioResolved`.
 * - loan-level resolution stats from the remittance reports whose SHA-256 an indexed recovery of this
 *   portfolio anchored as its reportHash (a report stored but never deposited counts for nothing): a loan
 *   is resolved by the latest such report (chain order) that gives it a resolution; its collected amount
 *   is the sum of its lines in every such report; UPB and legal status are the tape's.
 *
 * Ratios are basis points, floored: floor(10000 × a ÷ b), null when b is 0.
 */
import { type Address, getAddress, type Hex } from 'viem';
import { readTrancheState } from '../chain/actions.ts';
import type { ChainPublicClient } from '../chain/clients.ts';
import { readChain } from '../chain/read.ts';
import type { Queryable } from '../chain-index/store.ts';
import type { PrismaClient } from '../db/index.ts';
import { ConflictError, NotFoundError } from '../platform/errors/index.ts';

export type PerformanceStatus = 'open' | 'resolving' | 'resolved';

export type RecoveryPerformance = {
  recoveryId: bigint;
  txHash: Hex;
  blockNumber: bigint;
  /** gross amount of this recovery */
  amount: bigint;
  /** collections to date after this recovery */
  collected: bigint;
  /** the business plan's cumulative at the recovery's clock (0 before its first point or without a trigger) */
  planned: bigint;
  collectedToPlanBps: number | null;
  triggerBreached: boolean;
  released: bigint;
  drawn: bigint;
  replenished: bigint;
  reserveBalance: bigint;
  /** false: no RecoveryTriggerAndReserve (no reserve, no trigger): not breached, no movements */
  v2: boolean;
};

export type TranchePerformance = {
  trancheId: string;
  seniority: number;
  name: string;
  residual: boolean;
  face: bigint;
  sold: bigint;
  outstanding: bigint;
  /** null without a chain client of the portfolio's chain, or before the indexed close (arrears are chain state, in no event) */
  arrears: bigint | null;
  paidInterest: bigint;
  paidPrincipal: bigint;
  paidResidual: bigint;
  paid: bigint;
  principalWrittenOff: bigint;
  interestWrittenOff: bigint;
  paidToFaceBps: number | null;
};

export type LoanGroup = {
  loans: number;
  /** loan currency, 4 decimals */
  upb: string;
  /** pay-token base units */
  collected: bigint;
  collectedToUpbBps: number | null;
};

export type PortfolioPerformance = {
  portfolioId: string;
  chainId: number;
  portfolio: Address;
  /** the indexer's cursor on the chain (the figures include every indexed block up to it); null before its first pass */
  indexedBlock: bigint | null;
  status: PerformanceStatus;
  collections: {
    collected: bigint;
    /** of the last recovery */
    planned: bigint;
    collectedToPlanBps: number | null;
    breached: boolean;
    collectionRatioBps: number | null;
    history: RecoveryPerformance[];
  };
  reserve: {
    targetBps: number;
    target: bigint;
    balance: bigint;
    funded: bigint;
    released: bigint;
    drawn: bigint;
    replenished: bigint;
  };
  tranches: TranchePerformance[];
  resolution: {
    status: PerformanceStatus;
    /** the pending proposal's (status resolving) */
    executableAt: bigint | null;
    proposals: number;
    vetoes: number;
    resolvedRecoveryId: bigint | null;
    resolvedTxHash: Hex | null;
  };
  loans: {
    count: number;
    upb: string;
    resolved: LoanGroup;
    byResolution: (LoanGroup & { resolution: string })[];
    byLegalStatus: (LoanGroup & { legalStatus: string })[];
  };
};

/** floor(10000 × a ÷ b), null when b is 0. */
export const ratioBps = (a: bigint, b: bigint): number | null =>
  b === 0n ? null : Number((a * 10_000n) / b);

const UPB_SCALE = 4;

/** A non-negative decimal text with at most 4 decimals, as a bigint of 10^-4 units. */
function scaled(text: string): bigint {
  const [whole, fraction = ''] = text.split('.');
  return (
    BigInt(whole) * 10n ** BigInt(UPB_SCALE) + BigInt(fraction.padEnd(UPB_SCALE, '0').slice(0, UPB_SCALE))
  );
}

const unscaled = (value: bigint): string => {
  const digits = value.toString().padStart(UPB_SCALE + 1, '0');
  return `${digits.slice(0, -UPB_SCALE)}.${digits.slice(-UPB_SCALE)}`;
};

/** `address` checksummed, as the indexer stores every address (so the (chain_id, portfolio, ...) indexes apply). */
type Ctx = { db: Queryable; chainId: number; address: Address };

const big = (v: string | null | undefined) => (v === null || v === undefined ? 0n : BigInt(v));

async function recoveries(ctx: Ctx) {
  const { rows } = await ctx.db.query<{
    recovery_id: string;
    tx_hash: Hex;
    block_number: string;
    amount: string;
    trigger_breached: boolean | null;
    collected: string | null;
    planned: string | null;
    released: string | null;
    drawn: string | null;
    replenished: string | null;
    reserve_balance: string | null;
  }>(
    `SELECT e.recovery_id::text, e.tx_hash, e.block_number::text, e.amount::text,
            t.trigger_breached, t.collected::text, t.planned::text, t.released::text, t.drawn::text,
            t.replenished::text, t.reserve_balance::text
       FROM recovery_event e
       LEFT JOIN recovery_trigger_reserve_event t
         ON t.chain_id = e.chain_id AND t.tx_hash = e.tx_hash AND t.portfolio = e.portfolio
        AND t.recovery_id = e.recovery_id
      WHERE e.chain_id = $1 AND e.portfolio = $2
      ORDER BY e.block_number, e.log_index`,
    [ctx.chainId, ctx.address],
  );
  let collected = 0n;
  let reserveBalance = 0n;
  return rows.map((r): RecoveryPerformance => {
    const amount = BigInt(r.amount);
    collected += amount;
    const v2 = r.trigger_breached !== null;
    // as the chain says when it says it (the running sum otherwise: the same value)
    if (v2) collected = big(r.collected);
    if (v2) reserveBalance = big(r.reserve_balance);
    const planned = big(r.planned);
    return {
      recoveryId: BigInt(r.recovery_id),
      txHash: r.tx_hash,
      blockNumber: BigInt(r.block_number),
      amount,
      collected,
      planned,
      collectedToPlanBps: ratioBps(collected, planned),
      triggerBreached: r.trigger_breached === true,
      released: big(r.released),
      drawn: big(r.drawn),
      replenished: big(r.replenished),
      reserveBalance,
      v2,
    };
  });
}

async function reserveState(ctx: Ctx) {
  const { rows } = await ctx.db.query<{
    funded: string | null;
    released: string | null;
    drawn: string | null;
    replenished: string | null;
    balance: string | null;
  }>(
    `SELECT
       (SELECT sum(amount)::text FROM reserve_funded_event
         WHERE chain_id = $1 AND portfolio = $2) AS funded,
       (SELECT sum(released)::text FROM recovery_trigger_reserve_event
         WHERE chain_id = $1 AND portfolio = $2) AS released,
       (SELECT sum(drawn)::text FROM recovery_trigger_reserve_event
         WHERE chain_id = $1 AND portfolio = $2) AS drawn,
       (SELECT sum(replenished)::text FROM recovery_trigger_reserve_event
         WHERE chain_id = $1 AND portfolio = $2) AS replenished,
       (SELECT balance::text FROM (
          SELECT block_number, log_index, balance FROM reserve_funded_event
           WHERE chain_id = $1 AND portfolio = $2
          UNION ALL
          SELECT block_number, log_index, reserve_balance FROM recovery_trigger_reserve_event
           WHERE chain_id = $1 AND portfolio = $2
        ) m ORDER BY block_number DESC, log_index DESC LIMIT 1) AS balance`,
    [ctx.chainId, ctx.address],
  );
  const r = rows[0];
  return {
    funded: big(r.funded),
    released: big(r.released),
    drawn: big(r.drawn),
    replenished: big(r.replenished),
    balance: big(r.balance),
  };
}

async function trancheSums(ctx: Ctx) {
  const [paid, writtenOff, closed] = await Promise.all([
    ctx.db.query<{ tranche_index: number; interest: string; principal: string; residual: string }>(
      `SELECT t.tranche_index, sum(t.interest)::text AS interest, sum(t.principal)::text AS principal,
              sum(t.residual)::text AS residual
         FROM recovery_event e
         JOIN recovery_event_tranche t ON t.chain_id = e.chain_id AND t.tx_hash = e.tx_hash AND t.log_index = e.log_index
        WHERE e.chain_id = $1 AND e.portfolio = $2
        GROUP BY t.tranche_index`,
      [ctx.chainId, ctx.address],
    ),
    ctx.db.query<{ tranche_index: number; principal: string; interest: string }>(
      `SELECT t.tranche_index, sum(t.principal_written_off)::text AS principal,
              sum(t.interest_written_off)::text AS interest
         FROM portfolio_resolved_event e
         JOIN portfolio_resolved_event_tranche t
           ON t.chain_id = e.chain_id AND t.tx_hash = e.tx_hash AND t.log_index = e.log_index
        WHERE e.chain_id = $1 AND e.portfolio = $2
        GROUP BY t.tranche_index`,
      [ctx.chainId, ctx.address],
    ),
    // it closes once
    ctx.db.query<{ sold: string[] }>(
      `SELECT sold FROM offering_closed_event WHERE chain_id = $1 AND portfolio = $2
        ORDER BY block_number, log_index LIMIT 1`,
      [ctx.chainId, ctx.address],
    ),
  ]);
  return {
    paid: new Map(paid.rows.map((r) => [r.tranche_index, r])),
    writtenOff: new Map(writtenOff.rows.map((r) => [r.tranche_index, r])),
    sold: closed.rows[0]?.sold.map((s) => BigInt(s)) ?? null,
  };
}

async function resolutionState(ctx: Ctx): Promise<PortfolioPerformance['resolution']> {
  const { rows } = await ctx.db.query<{
    kind: 'proposed' | 'vetoed' | 'resolved';
    executable_at: string | null;
    recovery_id: string | null;
    tx_hash: Hex;
  }>(
    `SELECT kind, executable_at, recovery_id, tx_hash FROM (
       SELECT 'proposed' AS kind, executable_at::text, NULL::text AS recovery_id, tx_hash, block_number, log_index
         FROM resolution_proposed_event WHERE chain_id = $1 AND portfolio = $2
       UNION ALL
       SELECT 'vetoed', executable_at::text, NULL, tx_hash, block_number, log_index
         FROM resolution_vetoed_event WHERE chain_id = $1 AND portfolio = $2
       UNION ALL
       SELECT 'resolved', NULL, recovery_id::text, tx_hash, block_number, log_index
         FROM portfolio_resolved_event WHERE chain_id = $1 AND portfolio = $2
     ) x ORDER BY block_number, log_index`,
    [ctx.chainId, ctx.address],
  );
  const resolved = rows.find((r) => r.kind === 'resolved');
  const last = rows.filter((r) => r.kind !== 'resolved').at(-1);
  const status: PerformanceStatus =
    resolved !== undefined ? 'resolved' : last?.kind === 'proposed' ? 'resolving' : 'open';
  return {
    status,
    executableAt: status === 'resolving' && last?.executable_at ? BigInt(last.executable_at) : null,
    proposals: rows.filter((r) => r.kind === 'proposed').length,
    vetoes: rows.filter((r) => r.kind === 'vetoed').length,
    resolvedRecoveryId: resolved?.recovery_id ? BigInt(resolved.recovery_id) : null,
    resolvedTxHash: resolved?.tx_hash ?? null,
  };
}

async function loanStats(
  ctx: Ctx & { portfolioId: string; payTokenDecimals: number },
): Promise<Omit<PortfolioPerformance['loans'], 'count' | 'upb'>> {
  const { rows } = await ctx.db.query<{
    resolution: string;
    legal_status: string;
    loans: number;
    upb: string;
    collected: string;
  }>(
    `WITH deposited AS (
       SELECT r.id, e.block_number, e.log_index
         FROM remittance_report r
         JOIN recovery_event e
           ON e.chain_id = $2 AND e.portfolio = $3 AND lower(e.report_hash) = '0x' || r.sha256
        WHERE r.portfolio_id = $1
     ),
     per_loan AS (
       SELECT l.loan_id, sum(l.collected) AS collected,
              (array_agg(l.resolution ORDER BY d.block_number DESC, d.log_index DESC)
                 FILTER (WHERE l.resolution IS NOT NULL))[1] AS resolution
         FROM remittance_report_line l JOIN deposited d ON d.id = l.report_id
        WHERE l.portfolio_id = $1
        GROUP BY l.loan_id
     )
     SELECT p.resolution::text AS resolution, lo.legal_status::text AS legal_status, count(*)::int AS loans,
            sum(lo.principal_balance)::text AS upb, sum(p.collected)::text AS collected
       FROM per_loan p JOIN loan lo ON lo.portfolio_id = $1 AND lo.loan_id = p.loan_id
      WHERE p.resolution IS NOT NULL
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [ctx.portfolioId, ctx.chainId, ctx.address],
  );
  const unit = 10n ** BigInt(ctx.payTokenDecimals);
  type Acc = { loans: number; upb: bigint; collected: bigint };
  const group = (acc: Acc): LoanGroup => ({
    loans: acc.loans,
    upb: unscaled(acc.upb),
    collected: acc.collected,
    // collected / 10^decimals ÷ (upb / 10^4)
    collectedToUpbBps: ratioBps(acc.collected * 10n ** BigInt(UPB_SCALE), acc.upb * unit),
  });
  const add = (map: Map<string, Acc>, key: string, r: (typeof rows)[number]) => {
    const acc = map.get(key) ?? { loans: 0, upb: 0n, collected: 0n };
    acc.loans += r.loans;
    acc.upb += scaled(r.upb);
    acc.collected += BigInt(r.collected);
    map.set(key, acc);
  };
  const total = new Map<string, Acc>();
  const byResolution = new Map<string, Acc>();
  const byLegalStatus = new Map<string, Acc>();
  for (const r of rows) {
    add(total, '', r);
    add(byResolution, r.resolution, r);
    add(byLegalStatus, r.legal_status, r);
  }
  const sorted = (map: Map<string, Acc>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    resolved: group(total.get('') ?? { loans: 0, upb: 0n, collected: 0n }),
    byResolution: sorted(byResolution).map(([resolution, acc]) => ({ resolution, ...group(acc) })),
    byLegalStatus: sorted(byLegalStatus).map(([legalStatus, acc]) => ({ legalStatus, ...group(acc) })),
  };
}

/**
 * The performance of portfolio `portfolioId`: NotFoundError for an unknown one, ConflictError while it
 * is not published. `chain` (optional) reads the interest arrears at the indexed block.
 */
export async function getPortfolioPerformance(
  context: { prisma: PrismaClient; db: Queryable; chain: ChainPublicClient | null },
  portfolioId: string,
): Promise<PortfolioPerformance> {
  const row = await context.prisma.portfolio.findUnique({
    where: { id: portfolioId },
    select: {
      id: true,
      status: true,
      chainId: true,
      portfolioAddress: true,
      payTokenDecimals: true,
      reserveTargetBps: true,
      triggerCollectionRatioBps: true,
      loanCount: true,
      totalUpb: true,
      tranches: {
        select: { id: true, seniority: true, name: true, residual: true, face: true },
        orderBy: { seniority: 'asc' },
      },
    },
  });
  if (row === null) throw new NotFoundError('Portfolio', portfolioId);
  if (row.status !== 'published' || row.portfolioAddress === null || row.chainId === null) {
    throw new ConflictError(
      `Portfolio ${portfolioId} is ${row.status}; performance needs a published portfolio`,
      {
        details: { reason: 'NOT_PUBLISHED' },
      },
    );
  }
  const address = getAddress(row.portfolioAddress);
  const ctx: Ctx = { db: context.db, chainId: row.chainId, address };
  const [history, reserve, sums, resolution, loans, cursor] = await Promise.all([
    recoveries(ctx),
    reserveState(ctx),
    trancheSums(ctx),
    resolutionState(ctx),
    loanStats({ ...ctx, portfolioId, payTokenDecimals: row.payTokenDecimals }),
    context.db.query<{ indexed_block: string }>(
      `SELECT c.indexed_block::text FROM indexer_cursor c
        WHERE c.chain_id = $1 AND c.indexed_hash <> ''`,
      [row.chainId],
    ),
  ]);
  const indexedBlock = cursor.rows[0] ? BigInt(cursor.rows[0].indexed_block) : null;
  const resolved = resolution.status === 'resolved';

  // arrears: chain state at the indexed block, once the indexer has seen the close, from a client of
  // the portfolio's chain
  let arrears: bigint[] | null = null;
  if (
    context.chain !== null &&
    indexedBlock !== null &&
    sums.sold !== null &&
    (await readChain('chain', 'getChainId', () => (context.chain as ChainPublicClient).getChainId())) ===
      row.chainId
  ) {
    const states = await readTrancheState(context.chain, { portfolio: address, blockNumber: indexedBlock });
    arrears = states.map((s) => s.arrears);
  }

  const last = row.tranches.length - 1;
  const tranches = row.tranches.map((t, i): TranchePerformance => {
    const paid = sums.paid.get(i);
    const off = sums.writtenOff.get(i);
    const paidInterest = big(paid?.interest);
    const paidPrincipal = big(paid?.principal);
    const paidResidual = big(paid?.residual);
    const principalWrittenOff = big(off?.principal);
    const sold = sums.sold?.[i] ?? 0n;
    const face = BigInt(t.face.toFixed(0));
    const total = paidInterest + paidPrincipal + paidResidual;
    return {
      trancheId: t.id,
      seniority: t.seniority,
      name: t.name,
      residual: t.residual,
      face,
      sold,
      outstanding: i === last ? sold : sold - paidPrincipal - principalWrittenOff,
      arrears: arrears?.[i] ?? null,
      paidInterest,
      paidPrincipal,
      paidResidual,
      paid: total,
      principalWrittenOff,
      interestWrittenOff: big(off?.interest),
      paidToFaceBps: ratioBps(total, face),
    };
  });

  const targetBps = row.reserveTargetBps ?? 0;
  const senior = last > 0 ? tranches[0] : undefined;
  const lastRecovery = history.at(-1);
  return {
    portfolioId: row.id,
    chainId: row.chainId,
    portfolio: address,
    indexedBlock,
    status: resolution.status,
    collections: {
      collected: lastRecovery?.collected ?? 0n,
      planned: lastRecovery?.planned ?? 0n,
      collectedToPlanBps: lastRecovery?.collectedToPlanBps ?? null,
      breached: lastRecovery?.triggerBreached ?? false,
      collectionRatioBps: row.triggerCollectionRatioBps,
      history,
    },
    reserve: {
      targetBps,
      target: resolved || senior === undefined ? 0n : (senior.outstanding * BigInt(targetBps)) / 10_000n,
      ...reserve,
    },
    tranches,
    resolution,
    loans: { count: row.loanCount, upb: unscaled(scaled(row.totalUpb.toFixed(UPB_SCALE))), ...loans },
  };
}
