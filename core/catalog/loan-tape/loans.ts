/**
 * The read side of a loan tape: one page of a portfolio's loans, filtered and ordered by loan id
 * (keyset), as plain data the API answers with (one indexed query per page, in plain SQL), and the
 * statistics the ingest computed into the portfolio row.
 */
import type pg from 'pg';
import type { PrismaClient } from '../../db/index.ts';
import type { ResolutionKind } from '../remittance-reports.ts';
import type { borrowerTypes, collateralTypes, legalStatuses, loanAssetClasses } from './rules.ts';

export type LoanView = {
  loanId: string;
  /** 1-based data row of the tape */
  row: number;
  counterpartyId: string | null;
  borrowerType: (typeof borrowerTypes)[number];
  assetClass: (typeof loanAssetClasses)[number];
  currency: string;
  originationDate: string;
  principalBalance: string;
  accruedInterest: string | null;
  legalBalance: string | null;
  daysPastDue: number;
  dateOfDefault: string | null;
  lastPaymentDate: string | null;
  legalStatus: (typeof legalStatuses)[number];
  jurisdiction: string;
  collateralType: (typeof collateralTypes)[number] | null;
  collateralValue: string | null;
  collateralValuationDate: string | null;
  lienPosition: number | null;
  /** columns of the tape that the format does not define */
  extra: Record<string, string>;
  /** servicing state from the remittance reports: the loan's resolution (null: none yet), final */
  resolution: ResolutionKind | null;
  /** the period end of the report that resolved it, YYYY-MM-DD */
  resolvedAt: string | null;
  /** sum of `collected` over the stored remittance reports, pay-token base units (decimal string) */
  collectedToDate: string;
};

export type ListLoansParameters = {
  portfolioId: string;
  assetClass?: LoanView['assetClass'];
  borrowerType?: LoanView['borrowerType'];
  legalStatus?: LoanView['legalStatus'];
  collateralType?: NonNullable<LoanView['collateralType']>;
  jurisdiction?: string;
  minDaysPastDue?: number;
  maxDaysPastDue?: number;
  /** decimal strings */
  minBalance?: string;
  maxBalance?: string;
  limit: number;
  /** the loan id of the last item of the previous page */
  afterLoanId?: string;
};

/** `next`: the loan id to continue after, when there is a next page. */
export type ListLoansReturnType = { items: LoanView[]; next: string | null };

type LoanRow = {
  loan_id: string;
  row_number: number;
  counterparty_id: string | null;
  borrower_type: LoanView['borrowerType'];
  asset_class: LoanView['assetClass'];
  currency: string;
  origination_date: string;
  principal_balance: string;
  accrued_interest: string | null;
  legal_balance: string | null;
  days_past_due: number;
  date_of_default: string | null;
  last_payment_date: string | null;
  legal_status: LoanView['legalStatus'];
  jurisdiction: string;
  collateral_type: LoanView['collateralType'];
  collateral_value: string | null;
  collateral_valuation_date: string | null;
  lien_position: number | null;
  extra: Record<string, string>;
  resolution: ResolutionKind | null;
  resolved_at: string | null;
  collected_to_date: string;
};

export async function listLoans(db: pg.Pool, q: ListLoansParameters): Promise<ListLoansReturnType> {
  const values: unknown[] = [q.portfolioId];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  const where = ['portfolio_id = $1'];
  if (q.assetClass) where.push(`asset_class = ${param(q.assetClass)}::asset_class`);
  if (q.borrowerType) where.push(`borrower_type = ${param(q.borrowerType)}::borrower_type`);
  if (q.legalStatus) where.push(`legal_status = ${param(q.legalStatus)}::legal_status`);
  if (q.collateralType) where.push(`collateral_type = ${param(q.collateralType)}::collateral_type`);
  if (q.jurisdiction) where.push(`jurisdiction = ${param(q.jurisdiction)}`);
  if (q.minDaysPastDue !== undefined) where.push(`days_past_due >= ${param(q.minDaysPastDue)}`);
  if (q.maxDaysPastDue !== undefined) where.push(`days_past_due <= ${param(q.maxDaysPastDue)}`);
  if (q.minBalance !== undefined) where.push(`principal_balance >= ${param(q.minBalance)}::numeric`);
  if (q.maxBalance !== undefined) where.push(`principal_balance <= ${param(q.maxBalance)}::numeric`);
  if (q.afterLoanId !== undefined) where.push(`loan_id > ${param(q.afterLoanId)}`);
  const { rows } = await db.query<LoanRow>(
    `SELECT loan_id, row_number, counterparty_id, borrower_type, asset_class, currency,
            to_char(origination_date, 'YYYY-MM-DD') AS origination_date, principal_balance, accrued_interest,
            legal_balance, days_past_due, to_char(date_of_default, 'YYYY-MM-DD') AS date_of_default,
            to_char(last_payment_date, 'YYYY-MM-DD') AS last_payment_date, legal_status, jurisdiction,
            collateral_type, collateral_value,
            to_char(collateral_valuation_date, 'YYYY-MM-DD') AS collateral_valuation_date, lien_position, extra,
            resolution, to_char(resolved_at, 'YYYY-MM-DD') AS resolved_at, collected_to_date::text AS collected_to_date
     FROM loan WHERE ${where.join(' AND ')} ORDER BY loan_id LIMIT ${param(q.limit + 1)}`,
    values,
  );
  const page = rows.slice(0, q.limit);
  return {
    items: page.map(toLoanView),
    next: rows.length > q.limit ? page[page.length - 1].loan_id : null,
  };
}

const toLoanView = (r: LoanRow): LoanView => ({
  loanId: r.loan_id,
  row: r.row_number,
  counterpartyId: r.counterparty_id,
  borrowerType: r.borrower_type,
  assetClass: r.asset_class,
  currency: r.currency,
  originationDate: r.origination_date,
  principalBalance: r.principal_balance,
  accruedInterest: r.accrued_interest,
  legalBalance: r.legal_balance,
  daysPastDue: r.days_past_due,
  dateOfDefault: r.date_of_default,
  lastPaymentDate: r.last_payment_date,
  legalStatus: r.legal_status,
  jurisdiction: r.jurisdiction,
  collateralType: r.collateral_type,
  collateralValue: r.collateral_value,
  collateralValuationDate: r.collateral_valuation_date,
  lienPosition: r.lien_position,
  extra: r.extra,
  resolution: r.resolution,
  resolvedAt: r.resolved_at,
  collectedToDate: r.collected_to_date,
});

export type TapeStatistics = {
  loanCount: number;
  /** decimals in the loan currency, 4 places */
  totalUpb: string;
  totalCollateral: string;
  askingPriceCentsPerDollar: number | null;
  waDaysPastDue: number | null;
  collateralCoverage: number | null;
  inCourtShare: number | null;
};

/** The statistics of a portfolio's tape, as the ingest stored them in the portfolio row. */
export async function tapeStatistics(
  context: { prisma: PrismaClient },
  portfolioId: string,
): Promise<TapeStatistics> {
  const stats = await context.prisma.portfolio.findUniqueOrThrow({ where: { id: portfolioId } });
  return {
    loanCount: stats.loanCount,
    totalUpb: stats.totalUpb.toFixed(4),
    totalCollateral: stats.totalCollateral.toFixed(4),
    askingPriceCentsPerDollar: stats.centsPerDollar?.toNumber() ?? null,
    waDaysPastDue: stats.waDaysPastDue?.toNumber() ?? null,
    collateralCoverage: stats.collateralCoverage?.toNumber() ?? null,
    inCourtShare: stats.inCourtShare?.toNumber() ?? null,
  };
}
