/**
 * A realistic synthetic NPL portfolio, deterministic from a seed: the loan tape (docs/loan-tape.md,
 * EBA NPL template fields), its stratification, and data-room documents (text and a small PDF).
 * Pure: no I/O, no clock, no global randomness. Used by `npm run demo` (scripts/demo) and its tests.
 *
 * Shape of the book (cut-off `cutoffDate`): residential mortgages (household, first liens on homes,
 * coverage around 1x), commercial real estate (SME / corporate, commercial property or land),
 * unsecured corporate and SME loans, consumer loans, auto loans (vehicle collateral worth a third of
 * the balance) and a tail of other claims; balances log-normal per asset class; Southern European
 * jurisdictions; default 1-8 years after origination, days past due since then; the legal status
 * moves from out-of-court to court and insolvency as the default ages; some borrowers have several
 * loans (shared counterparty id).
 */

/** The tape's columns, in LOAN_TAPE.md order. */
export const SYNTHETIC_TAPE_COLUMNS = [
  'loan_id',
  'counterparty_id',
  'borrower_type',
  'asset_class',
  'currency',
  'origination_date',
  'principal_balance',
  'accrued_interest',
  'legal_balance',
  'days_past_due',
  'date_of_default',
  'last_payment_date',
  'legal_status',
  'jurisdiction',
  'collateral_type',
  'collateral_value',
  'collateral_valuation_date',
  'lien_position',
] as const;

export type SyntheticLoan = Record<(typeof SYNTHETIC_TAPE_COLUMNS)[number], string>;

// ------------------------------------------------------------------ seeded randomness

/** A 32-bit hash of `text` (cyrb53's mixing, folded), the seed of the generator. */
function seedOf(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  return h1 >>> 0;
}

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; `next()` is uniform in [0, 1). */
export function createRandom(seed: string | number) {
  let state = typeof seed === 'number' ? seed >>> 0 : seedOf(seed);
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u = 1 - next();
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  return {
    next,
    /** Integer in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    normal,
    /** exp(N(log(median), sigma)). */
    logNormal: (median: number, sigma: number) => median * Math.exp(sigma * normal()),
    chance: (p: number) => next() < p,
    /** One key of `weights`, with probability proportional to its weight. */
    pick: <K extends string>(weights: Readonly<Record<K, number>>): K => {
      const entries = Object.entries(weights) as [K, number][];
      const total = entries.reduce((sum, [, w]) => sum + w, 0);
      let x = next() * total;
      for (const [key, weight] of entries) {
        x -= weight;
        if (x < 0) return key;
      }
      return entries[entries.length - 1][0];
    },
  };
}

export type Random = ReturnType<typeof createRandom>;

// ------------------------------------------------------------------ dates

const DAY_MS = 86_400_000;
const toDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const parseDate = (date: string) => Date.parse(`${date}T00:00:00Z`);

// ------------------------------------------------------------------ the book

type AssetClass =
  | 'residential_mortgage'
  | 'commercial_real_estate'
  | 'corporate'
  | 'consumer'
  | 'auto'
  | 'other';

const assetClassMix: Record<AssetClass, number> = {
  residential_mortgage: 40,
  commercial_real_estate: 11,
  corporate: 14,
  consumer: 20,
  auto: 8,
  other: 7,
};

/** Median balance (EUR) and log-normal sigma per asset class. */
const balanceModel: Record<AssetClass, { median: number; sigma: number; min: number; max: number }> = {
  residential_mortgage: { median: 92_000, sigma: 0.55, min: 8_000, max: 1_500_000 },
  commercial_real_estate: { median: 340_000, sigma: 0.8, min: 40_000, max: 25_000_000 },
  corporate: { median: 170_000, sigma: 1.0, min: 10_000, max: 30_000_000 },
  consumer: { median: 8_500, sigma: 0.75, min: 500, max: 120_000 },
  auto: { median: 13_500, sigma: 0.45, min: 2_000, max: 90_000 },
  other: { median: 35_000, sigma: 1.0, min: 1_000, max: 2_000_000 },
};

const borrowerMix: Record<AssetClass, Record<'household' | 'sme' | 'corporate', number>> = {
  residential_mortgage: { household: 92, sme: 8, corporate: 0 },
  commercial_real_estate: { household: 3, sme: 62, corporate: 35 },
  corporate: { household: 0, sme: 58, corporate: 42 },
  consumer: { household: 100, sme: 0, corporate: 0 },
  auto: { household: 78, sme: 22, corporate: 0 },
  other: { household: 40, sme: 45, corporate: 15 },
};

const jurisdictionMix = { IT: 36, ES: 25, GR: 19, PT: 10, IE: 6, CY: 4 } as const;

/** Contractual rate (for accrued default interest) per asset class, annual. */
const rateModel: Record<AssetClass, [number, number]> = {
  residential_mortgage: [0.025, 0.055],
  commercial_real_estate: [0.04, 0.075],
  corporate: [0.045, 0.09],
  consumer: [0.07, 0.14],
  auto: [0.055, 0.1],
  other: [0.05, 0.11],
};

function collateralFor(
  random: Random,
  assetClass: AssetClass,
): { type: string; coverage: number; lien: boolean } | null {
  switch (assetClass) {
    case 'residential_mortgage':
      return { type: 'residential', coverage: random.logNormal(1.05, 0.3), lien: true };
    case 'commercial_real_estate':
      return random.chance(0.8)
        ? { type: 'commercial', coverage: random.logNormal(0.85, 0.35), lien: true }
        : { type: 'land', coverage: random.logNormal(0.6, 0.45), lien: true };
    case 'corporate': {
      const kind = random.pick({ commercial: 35, other: 20, none: 45 });
      if (kind === 'none') return null;
      return { type: kind, coverage: random.logNormal(0.55, 0.5), lien: kind === 'commercial' };
    }
    case 'consumer':
      return null;
    case 'auto':
      return random.chance(0.9)
        ? { type: 'vehicle', coverage: random.logNormal(0.32, 0.4), lien: false }
        : null;
    case 'other': {
      const kind = random.pick({ land: 25, other: 30, none: 45 });
      if (kind === 'none') return null;
      return { type: kind, coverage: random.logNormal(0.5, 0.5), lien: kind === 'land' };
    }
  }
}

function legalStatusFor(random: Random, daysPastDue: number, borrowerType: string, secured: boolean) {
  if (daysPastDue < 365) return random.pick({ none: 35, out_of_court: 55, in_court: 10 });
  if (daysPastDue < 3 * 365) {
    return random.pick({
      out_of_court: 28,
      in_court: secured ? 52 : 40,
      insolvency: borrowerType === 'household' ? 10 : 25,
      settled: 5,
    });
  }
  return random.pick({
    out_of_court: 6,
    in_court: secured ? 58 : 42,
    insolvency: borrowerType === 'household' ? 22 : 40,
    settled: 9,
  });
}

const money = (value: number) => value.toFixed(2);

export type GenerateLoanTapeParameters = {
  /** Any string or number; the same seed gives the same tape, byte for byte. */
  seed: string | number;
  /** Number of loans; default 5,000. */
  loans?: number;
  /** Cut-off date of the tape, `YYYY-MM-DD`; default 2025-09-30. */
  cutoffDate?: string;
};

export type GenerateLoanTapeReturnType = {
  loans: SyntheticLoan[];
  /** The tape as CSV (header + one row per loan, LF line endings). */
  csv: string;
  stats: LoanTapeStats;
};

export type LoanTapeStats = {
  loanCount: number;
  borrowerCount: number;
  /** Sum of principal balances, in cents. */
  totalUpbCents: bigint;
  /** Sum of collateral values, in cents. */
  totalCollateralCents: bigint;
  /** Days past due weighted by UPB. */
  waDaysPastDue: number;
  /** UPB (cents) and loan count per value of a column. */
  byAssetClass: Record<string, { count: number; upbCents: bigint }>;
  byJurisdiction: Record<string, { count: number; upbCents: bigint }>;
  byLegalStatus: Record<string, { count: number; upbCents: bigint }>;
};

/** A synthetic loan tape of `loans` rows in the LOAN_TAPE.md format, deterministic from `seed`. */
export function generateLoanTape(parameters: GenerateLoanTapeParameters): GenerateLoanTapeReturnType {
  const count = parameters.loans ?? 5_000;
  const cutoffDate = parameters.cutoffDate ?? '2025-09-30';
  const cutoff = parseDate(cutoffDate);
  if (!Number.isInteger(count) || count < 1) throw new RangeError('loans must be a positive integer');
  if (Number.isNaN(cutoff)) throw new RangeError('cutoffDate must be YYYY-MM-DD');
  const random = createRandom(`loan-tape:${parameters.seed}`);

  const counterparties: { id: string; borrowerType: string; jurisdiction: string }[] = [];
  const loans: SyntheticLoan[] = [];
  for (let i = 0; i < count; i++) {
    const assetClass = random.pick(assetClassMix);
    let borrowerType: string = random.pick(borrowerMix[assetClass]);
    let jurisdiction: string = random.pick(jurisdictionMix);
    // about one loan in seven belongs to a borrower already in the book (same type and country),
    // when that borrower's type takes loans of this asset class
    let counterparty: (typeof counterparties)[number] | undefined;
    if (counterparties.length > 0 && random.chance(0.14)) {
      const candidate =
        counterparties[random.int(Math.max(0, counterparties.length - 400), counterparties.length - 1)];
      const mixOfClass = borrowerMix[assetClass] as Record<string, number>;
      if ((mixOfClass[candidate.borrowerType] ?? 0) > 0) counterparty = candidate;
    }
    if (counterparty === undefined) {
      counterparty = {
        id: `${jurisdiction}-B${String(counterparties.length + 1).padStart(6, '0')}`,
        borrowerType,
        jurisdiction,
      };
      counterparties.push(counterparty);
    }
    borrowerType = counterparty.borrowerType;
    jurisdiction = counterparty.jurisdiction;

    const model = balanceModel[assetClass];
    const upb = Math.min(model.max, Math.max(model.min, random.logNormal(model.median, model.sigma)));
    // the default first (most NPL books are 2-6 years past default), origination 1-10 years before it
    const defaultAge = Math.round(Math.min(6_500, Math.max(120, random.logNormal(1_250, 0.6))));
    const defaultAt = cutoff - defaultAge * DAY_MS;
    const loanAgeYears = assetClass === 'consumer' || assetClass === 'auto' ? [0.8, 5] : [1, 10];
    const origination =
      defaultAt - (loanAgeYears[0] + random.next() * (loanAgeYears[1] - loanAgeYears[0])) * 365 * DAY_MS;
    const daysPastDue = Math.round((cutoff - defaultAt) / DAY_MS) + 90;
    const lastPayment = random.chance(0.85)
      ? Math.max(origination + 30 * DAY_MS, defaultAt - random.int(90, 150) * DAY_MS)
      : undefined;
    const [minRate, maxRate] = rateModel[assetClass];
    const rate = minRate + random.next() * (maxRate - minRate);
    const accrued = upb * rate * Math.min(daysPastDue / 365, 5);
    const collateral = collateralFor(random, assetClass);
    const legalStatus = legalStatusFor(random, daysPastDue, borrowerType, collateral !== null);
    const legalCosts = upb * (0.01 + random.next() * 0.05);
    const hasAccrued = random.chance(0.9);
    const valuation = collateral ? cutoff - random.int(30, 2 * 365) * DAY_MS : undefined;

    loans.push({
      loan_id: `NPL-${String(i + 1).padStart(7, '0')}`,
      counterparty_id: counterparty.id,
      borrower_type: borrowerType,
      asset_class: assetClass,
      currency: 'EUR',
      origination_date: toDate(origination),
      principal_balance: money(upb),
      accrued_interest: hasAccrued ? money(accrued) : '',
      legal_balance: money(upb + (hasAccrued ? accrued : 0) + legalCosts),
      days_past_due: String(daysPastDue),
      date_of_default: toDate(defaultAt),
      last_payment_date: lastPayment === undefined ? '' : toDate(lastPayment),
      legal_status: legalStatus,
      jurisdiction,
      collateral_type: collateral ? collateral.type : 'none',
      collateral_value: collateral ? money(Math.round(upb * collateral.coverage)) : '',
      collateral_valuation_date: valuation === undefined ? '' : toDate(valuation),
      lien_position: collateral?.lien ? String(random.pick({ 1: 86, 2: 11, 3: 3 })) : '',
    });
  }

  const csv = `${SYNTHETIC_TAPE_COLUMNS.join(',')}\n${loans
    .map((loan) => SYNTHETIC_TAPE_COLUMNS.map((column) => loan[column]).join(','))
    .join('\n')}\n`;
  return { loans, csv, stats: loanTapeStats(loans) };
}

const cents = (decimal: string) => (decimal === '' ? 0n : BigInt(decimal.replace('.', '')));

/** Stratification of a tape (the figures the data room's summary shows). */
export function loanTapeStats(loans: readonly SyntheticLoan[]): LoanTapeStats {
  const by = (column: keyof SyntheticLoan) => {
    const out: Record<string, { count: number; upbCents: bigint }> = {};
    for (const loan of loans) {
      out[loan[column]] ??= { count: 0, upbCents: 0n };
      const bucket = out[loan[column]];
      bucket.count += 1;
      bucket.upbCents += cents(loan.principal_balance);
    }
    return out;
  };
  let totalUpbCents = 0n;
  let totalCollateralCents = 0n;
  let weightedDpd = 0n;
  for (const loan of loans) {
    const upb = cents(loan.principal_balance);
    totalUpbCents += upb;
    totalCollateralCents += cents(loan.collateral_value);
    weightedDpd += upb * BigInt(loan.days_past_due);
  }
  return {
    loanCount: loans.length,
    borrowerCount: new Set(loans.map((loan) => loan.counterparty_id)).size,
    totalUpbCents,
    totalCollateralCents,
    waDaysPastDue: totalUpbCents === 0n ? 0 : Number(weightedDpd / totalUpbCents),
    byAssetClass: by('asset_class'),
    byJurisdiction: by('jurisdiction'),
    byLegalStatus: by('legal_status'),
  };
}

// ------------------------------------------------------------------ documents

export type SyntheticDocument = { filename: string; contentType: string; bytes: Uint8Array };

/** `1234567.89` style, from cents. */
export function formatCents(value: bigint): string {
  const whole = (value / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${whole}.${(value % 100n).toString().padStart(2, '0')}`;
}

const percent = (part: bigint, whole: bigint) =>
  whole === 0n ? '0.0%' : `${(Number((part * 10_000n) / whole) / 100).toFixed(1)}%`;

function strataTable(title: string, strata: LoanTapeStats['byAssetClass'], total: bigint): string[] {
  const rows = Object.entries(strata).sort((a, b) => (a[1].upbCents > b[1].upbCents ? -1 : 1));
  return [
    title,
    ...rows.map(
      ([key, { count, upbCents }]) =>
        `  ${key.padEnd(24)} ${String(count).padStart(6)} loans  EUR ${formatCents(upbCents).padStart(18)}  ${percent(upbCents, total).padStart(6)}`,
    ),
    '',
  ];
}

/** A one-page PDF 1.4 showing `lines` in Courier (valid: correct xref offsets). */
export function minimalPdf(lines: readonly string[]): Uint8Array {
  const pdfText = (text: string) => text.replace(/[\\()]/g, (c) => `\\${c}`).replace(/[^\x20-\x7e]/g, '?');
  const content = [
    'BT',
    '/F1 10 Tf',
    '12 TL',
    '50 790 Td',
    ...lines.slice(0, 60).map((line) => `(${pdfText(line)}) '`),
    'ET',
  ].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(pdf);
}

export type DataRoomParameters = {
  seed: string | number;
  portfolioName: string;
  stats: LoanTapeStats;
  cutoffDate?: string;
  /** Tranche terms shown in the offering memorandum (face in whole pay units). */
  tranches: readonly { name: string; symbol: string; face: string; couponBps: number; priceBps: number }[];
};

/** The data room: an offering memorandum (PDF), a stratification report and a servicing summary (text). */
export function generateDataRoom(parameters: DataRoomParameters): SyntheticDocument[] {
  const { stats, portfolioName } = parameters;
  const cutoff = parameters.cutoffDate ?? '2025-09-30';
  const total = stats.totalUpbCents;
  const memorandum = minimalPdf([
    `${portfolioName}`,
    'Offering memorandum (synthetic, for demonstration only)',
    '',
    `Cut-off date            ${cutoff}`,
    `Loans                   ${stats.loanCount}`,
    `Borrowers               ${stats.borrowerCount}`,
    `Unpaid principal (UPB)  EUR ${formatCents(total)}`,
    `Collateral value        EUR ${formatCents(stats.totalCollateralCents)}`,
    `WA days past due        ${stats.waDaysPastDue}`,
    '',
    'Notes offered (pay token: test stablecoin, 6 decimals)',
    ...parameters.tranches.map(
      (t) =>
        `  ${t.name.padEnd(10)} ${t.symbol.padEnd(8)} face ${t.face.padStart(14)}  coupon ${(t.couponBps / 100).toFixed(2)}%  price ${(t.priceBps / 100).toFixed(2)}% of par`,
    ),
    '',
    'Cash waterfall: servicer and protocol fees, then interest and principal of the notes',
    'by seniority, then the residual note. Payouts by Merkle distribution on-chain.',
    `Seed ${String(parameters.seed)}`,
  ]);
  const strat = [
    `${portfolioName}: loan tape stratification at ${cutoff}`,
    `${stats.loanCount} loans, ${stats.borrowerCount} borrowers, UPB EUR ${formatCents(total)}`,
    '',
    ...strataTable('By asset class', stats.byAssetClass, total),
    ...strataTable('By jurisdiction', stats.byJurisdiction, total),
    ...strataTable('By legal status', stats.byLegalStatus, total),
  ].join('\n');
  const random = createRandom(`servicing:${parameters.seed}`);
  const servicing = [
    `${portfolioName}: servicing summary`,
    '',
    'Servicer: Demo Loan Servicing S.p.A. (synthetic)',
    `Collection strategy mix: ${random.int(35, 50)}% judicial, ${random.int(20, 30)}% DPO / settlements, ` +
      `${random.int(10, 20)}% note sales, the rest REO and amicable repayment plans.`,
    `Expected gross recoveries: ${random.int(28, 38)}% of UPB over ${random.int(5, 8)} years.`,
    'Servicer fee 1.50% of collections, protocol fee 0.50%; recoveries are reported monthly with a',
    'signed report whose SHA-256 is deposited on-chain with the cash.',
  ].join('\n');
  return [
    { filename: 'offering-memorandum.pdf', contentType: 'application/pdf', bytes: memorandum },
    {
      filename: 'stratification.txt',
      contentType: 'text/plain',
      bytes: new TextEncoder().encode(`${strat}\n`),
    },
    {
      filename: 'servicing-summary.txt',
      contentType: 'text/plain',
      bytes: new TextEncoder().encode(`${servicing}\n`),
    },
  ];
}

/** A servicer's collection report for one period (its SHA-256 goes on-chain with the recovery). */
export function servicerReport(parameters: {
  seed: string | number;
  portfolioName: string;
  period: number;
  /** Collections of the period, whole pay units. */
  amount: string;
}): string {
  const random = createRandom(`report:${parameters.seed}:${parameters.period}`);
  const judicial = random.int(40, 60);
  const settlements = random.int(15, 30);
  return [
    `${parameters.portfolioName}: servicer report, period ${parameters.period}`,
    `Collections remitted: ${parameters.amount}`,
    `  judicial auctions and court distributions  ${judicial}%`,
    `  settlements / discounted payoffs           ${settlements}%`,
    `  repayment plans and other                  ${100 - judicial - settlements}%`,
    `Loans closed in the period: ${random.int(40, 160)}`,
    '',
  ].join('\n');
}
