import type pg from 'pg';
import { getAddress } from 'viem';

/**
 * Read queries of the listing API in plain SQL: one indexed query per page, statistics read from
 * the columns the loan-tape ingest computes in SQL (no per-request aggregation over loans).
 */

export type PortfolioRow = {
  id: string;
  owner: string;
  name: string;
  description: string;
  asset_class: string;
  jurisdiction: string;
  currency: string;
  asking_price: string;
  pay_token_decimals: number;
  servicer_address: string;
  servicer_fee_bps: number;
  protocol_fee_bps: number;
  waterfall_mode: 'interestFirst' | 'sequential';
  status: 'draft' | 'publishing' | 'published';
  tape_sha256: string | null;
  tape_file_size: string | null;
  tape_uploaded_at: Date | null;
  loan_count: number;
  total_upb: string;
  total_collateral: string;
  wa_days_past_due: string | null;
  collateral_coverage: string | null;
  in_court_share: string | null;
  cents_per_dollar: string | null;
  breakdown: Record<string, Record<string, { count: number; upb: string }>>;
  chain_id: number | null;
  portfolio_address: string | null;
  distributor_address: string | null;
  offering_address: string | null;
  deploy_tx_hash: string | null;
  document_root: string | null;
  document_root_tx_hash: string | null;
  publish_error: string | null;
  published_at: Date | null;
  reserve_target_bps: number | null;
  reserve_initial: string | null;
  trigger_collection_ratio_bps: number | null;
  /** `[{ atSeconds, cumulative }]` in order (both as text) */
  business_plan: { atSeconds: string; cumulative: string }[];
  created_at: Date;
  updated_at: Date;
};

export type TrancheRow = {
  id: string;
  portfolio_id: string;
  seniority: number;
  name: string;
  symbol: string;
  face: string;
  coupon_bps: number;
  price_bps: number;
  residual: boolean;
  address: string | null;
  sold: string;
  outstanding: string;
  /** null from the index (no event carries arrears); the route fills it in from the chain */
  interest_arrears: string | null;
  paid_to_date: string;
};

const PORTFOLIO_COLUMNS = `id, owner, name, description, asset_class, jurisdiction, currency, asking_price, pay_token_decimals,
  servicer_address, servicer_fee_bps, protocol_fee_bps, waterfall_mode, status, tape_sha256, tape_file_size,
  tape_uploaded_at, loan_count, total_upb, total_collateral, wa_days_past_due, collateral_coverage, in_court_share,
  cents_per_dollar, breakdown, chain_id, portfolio_address, distributor_address, offering_address, deploy_tx_hash,
  document_root, document_root_tx_hash, publish_error, published_at, reserve_target_bps, reserve_initial,
  trigger_collection_ratio_bps,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('atSeconds', b.at_seconds::text, 'cumulative', b.cumulative::text)
                             ORDER BY b.position), '[]'::jsonb)
   FROM business_plan_point b WHERE b.portfolio_id = portfolio.id) AS business_plan,
  created_at, updated_at`;

/**
 * `expr` is the sort value (the cursor's key, compared as a row with the id); `orderBy` orders the same way
 * as `expr` but in the shape of the listing indexes (migration 20251123110000_listing_indexes), so that a
 * page is an index range scan: a NULL statistic sorts as -1, i.e. first ascending and last descending
 * (the statistics are never negative).
 */
export const portfolioSorts = {
  createdAt: {
    expr: 'created_at',
    type: 'timestamptz',
    orderBy: { asc: 'created_at ASC', desc: 'created_at DESC' },
  },
  totalUpb: { expr: 'total_upb', type: 'numeric', orderBy: { asc: 'total_upb ASC', desc: 'total_upb DESC' } },
  askingPrice: {
    expr: 'asking_price',
    type: 'numeric',
    orderBy: { asc: 'asking_price ASC', desc: 'asking_price DESC' },
  },
  centsPerDollar: {
    expr: 'coalesce(cents_per_dollar, -1)',
    type: 'numeric',
    orderBy: { asc: 'cents_per_dollar ASC NULLS FIRST', desc: 'cents_per_dollar DESC NULLS LAST' },
  },
  waDaysPastDue: {
    expr: 'coalesce(wa_days_past_due, -1)',
    type: 'numeric',
    orderBy: { asc: 'wa_days_past_due ASC NULLS FIRST', desc: 'wa_days_past_due DESC NULLS LAST' },
  },
  loanCount: { expr: 'loan_count', type: 'int', orderBy: { asc: 'loan_count ASC', desc: 'loan_count DESC' } },
  name: { expr: 'name', type: 'text', orderBy: { asc: 'name ASC', desc: 'name DESC' } },
} as const;

export type PortfolioSort = keyof typeof portfolioSorts;

/** Whether `key` (from a client's cursor) can be cast to the sort column's type. */
export function isValidSortKey(sort: PortfolioSort, key: string): boolean {
  switch (portfolioSorts[sort].type) {
    case 'numeric':
      return /^-?\d{1,90}(\.\d{1,30})?$/.test(key);
    case 'int':
      return /^-?\d{1,9}$/.test(key);
    case 'timestamptz':
      return /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/.test(key);
    case 'text':
      return key.length <= 1000;
  }
}

export type ListPortfoliosParameters = {
  status?: string;
  assetClass?: string;
  jurisdiction?: string;
  minUpb?: string;
  maxUpb?: string;
  sort: PortfolioSort;
  order: 'asc' | 'desc';
  limit: number;
  /** [sort key as text, id] of the last item of the previous page */
  after?: [string, string];
};

export type ListPortfoliosReturnType = { rows: PortfolioRow[]; next: [string, string] | null };

export async function listPortfolios(
  db: pg.Pool,
  p: ListPortfoliosParameters,
): Promise<ListPortfoliosReturnType> {
  const where: string[] = [];
  const values: unknown[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  if (p.status !== undefined) where.push(`status = ${param(p.status)}::portfolio_status`);
  if (p.assetClass !== undefined) where.push(`asset_class = ${param(p.assetClass)}::asset_class`);
  if (p.jurisdiction !== undefined) where.push(`jurisdiction = ${param(p.jurisdiction)}`);
  if (p.minUpb !== undefined) where.push(`total_upb >= ${param(p.minUpb)}::numeric`);
  if (p.maxUpb !== undefined) where.push(`total_upb <= ${param(p.maxUpb)}::numeric`);
  const sort = portfolioSorts[p.sort];
  const cmp = p.order === 'asc' ? '>' : '<';
  if (p.after !== undefined) {
    where.push(`(${sort.expr}, id) ${cmp} (${param(p.after[0])}::${sort.type}, ${param(p.after[1])}::uuid)`);
  }
  const sql = `SELECT ${PORTFOLIO_COLUMNS}, (${sort.expr})::text AS sort_key FROM portfolio
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${sort.orderBy[p.order]}, id ${p.order} LIMIT ${param(p.limit + 1)}`;
  const { rows } = await db.query<PortfolioRow & { sort_key: string }>(sql, values);
  const page = rows.slice(0, p.limit);
  const last = page.at(-1);
  return { rows: page, next: rows.length > p.limit && last ? [last.sort_key, last.id] : null };
}

/**
 * A portfolio's tranches with their chain state, from the chain index alone (so a reorg's rollback of the
 * index rolls these back too): `sold` (face, pay-token base units) from the indexed OfferingClosed once
 * closed, else the indexed purchases (token units ÷ 10^(18 - decimals)); `paid_to_date` the tranche totals
 * of the indexed RecoveryDistributed events; `outstanding` 0 before the close, then sold minus the
 * principal paid and written off (PortfolioResolved), the residual tranche keeping its sold face, as
 * `Portfolio.trancheState` does. Interest arrears are chain state no event carries: `interest_arrears` is
 * null here (the route reads them from the chain when it has one). `$2` is the portfolio's address,
 * checksummed as the indexer stores it, so the events' (chain, portfolio) indexes apply.
 */
const TRANCHE_STATE_SQL = `
  WITH p AS (SELECT id, chain_id, portfolio_address, pay_token_decimals FROM portfolio WHERE id = $1),
  closed AS (
    SELECT e.sold FROM p
    JOIN offering_closed_event e ON e.chain_id = p.chain_id AND lower(e.portfolio) = lower(p.portfolio_address)
    ORDER BY e.block_number, e.log_index LIMIT 1
  ),
  paid AS (
    SELECT ret.tranche_index, sum(ret.total) AS total, sum(ret.principal) AS principal FROM p
    JOIN recovery_event re ON re.chain_id = p.chain_id AND re.portfolio = $2
    JOIN recovery_event_tranche ret
      ON ret.chain_id = re.chain_id AND ret.tx_hash = re.tx_hash AND ret.log_index = re.log_index
    GROUP BY ret.tranche_index
  ),
  written_off AS (
    SELECT rt.tranche_index, sum(rt.principal_written_off) AS principal FROM p
    JOIN portfolio_resolved_event r ON r.chain_id = p.chain_id AND r.portfolio = $2
    JOIN portfolio_resolved_event_tranche rt
      ON rt.chain_id = r.chain_id AND rt.tx_hash = r.tx_hash AND rt.log_index = r.log_index
    GROUP BY rt.tranche_index
  ),
  bought AS (
    SELECT pe.tranche_id, sum(pe.amount) AS amount FROM p
    JOIN purchase_event pe ON pe.chain_id = p.chain_id AND pe.portfolio = $2
    GROUP BY pe.tranche_id
  ),
  state AS (
    SELECT t.*,
      CASE
        WHEN (SELECT sold FROM closed) IS NOT NULL THEN ((SELECT sold FROM closed) ->> t.seniority)::numeric
        ELSE div(coalesce(b.amount, 0), power(10::numeric, 18 - (SELECT pay_token_decimals FROM p)))
      END AS sold_face,
      (SELECT sold FROM closed) IS NOT NULL AS is_closed,
      coalesce(pd.total, 0) AS paid_total,
      coalesce(pd.principal, 0) AS paid_principal,
      coalesce(w.principal, 0) AS written_off_principal
    FROM tranche t
    LEFT JOIN paid pd ON pd.tranche_index = t.seniority
    LEFT JOIN written_off w ON w.tranche_index = t.seniority
    LEFT JOIN bought b ON b.tranche_id = t.seniority
    WHERE t.portfolio_id = $1
  )
  SELECT id, portfolio_id, seniority, name, symbol, face, coupon_bps, price_bps, residual, address,
    sold_face::text AS sold,
    (CASE WHEN NOT is_closed THEN 0
          WHEN residual THEN sold_face
          ELSE greatest(sold_face - paid_principal - written_off_principal, 0) END)::text AS outstanding,
    NULL::text AS interest_arrears,
    paid_total::text AS paid_to_date
  FROM state ORDER BY seniority`;

export async function getPortfolio(
  db: pg.Pool,
  id: string,
): Promise<{ portfolio: PortfolioRow; tranches: TrancheRow[]; offering: OfferingClosedRow | null } | null> {
  const p = await db.query<PortfolioRow>(`SELECT ${PORTFOLIO_COLUMNS} FROM portfolio WHERE id = $1`, [id]);
  if (p.rows.length === 0) return null;
  const address = p.rows[0].portfolio_address;
  const [t, o] = await Promise.all([
    db.query<TrancheRow>(TRANCHE_STATE_SQL, [id, address === null ? null : getAddress(address)]),
    // the indexed OfferingClosed event of the portfolio's contract (the first one: it closes once)
    db.query<OfferingClosedRow>(
      `SELECT e.closed_at::text AS closed_at, e.tx_hash, e.block_number::text AS block_number
       FROM portfolio p
       JOIN offering_closed_event e ON e.chain_id = p.chain_id AND lower(e.portfolio) = lower(p.portfolio_address)
       WHERE p.id = $1
       ORDER BY e.block_number, e.log_index LIMIT 1`,
      [id],
    ),
  ]);
  return { portfolio: p.rows[0], tranches: t.rows, offering: o.rows[0] ?? null };
}

/** The indexed `OfferingClosed` of a portfolio. */
export type OfferingClosedRow = { closed_at: string; tx_hash: string; block_number: string };
