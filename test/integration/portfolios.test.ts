import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { draftPortfolioBody } from '../helpers/portfolio.ts';

let t: TestApp;
let issuer: Headers;
let otherIssuer: Headers;

beforeAll(async () => {
  t = await createTestApp();
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  otherIssuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'globex');
});

afterAll(async () => {
  await t?.close();
});

const body = (over: Record<string, unknown> = {}) =>
  draftPortfolioBody({
    name: 'Italian residential NPLs 2026-1',
    description: 'Secured residential mortgages, Northern Italy',
    waterfallMode: 'sequential',
    tranches: [
      { name: 'Senior', symbol: 'NPLA', face: '15000000000', couponBps: 500 },
      { name: 'Mezzanine', symbol: 'NPLB', face: '7000000000', couponBps: 900, priceBps: 9500 },
      { name: 'Residual', symbol: 'NPLR', face: '3000000000' },
    ],
    ...over,
  });

async function create(over: Record<string, unknown> = {}, headers: Headers = issuer) {
  return t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: body(over), headers });
}

async function uploadTape(id: string, csv: string) {
  const res = await t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/loan-tape`,
    headers: { ...issuer, 'content-type': 'text/csv' },
    payload: csv,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res;
}

describe('POST /v1/portfolios', () => {
  it('creates a draft with its tranches; the last one is residual', async () => {
    const res = await create();
    expect(res.statusCode).toBe(201);
    const p = res.json();
    expect(p).toMatchObject({
      name: 'Italian residential NPLs 2026-1',
      status: 'draft',
      owner: 'acme',
      assetClass: 'residential_mortgage',
      askingPrice: '25000000000',
      servicerAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      fees: { servicerBps: 150, protocolBps: 50 },
      waterfallMode: 'sequential',
      tape: null,
      chain: null,
      stats: { loanCount: 0, totalUpb: '0.0000', askingPriceCentsPerDollar: null },
    });
    expect(
      p.tranches.map((x: { symbol: string; residual: boolean; couponBps: number; priceBps: number }) => [
        x.symbol,
        x.residual,
        x.couponBps,
        x.priceBps,
      ]),
    ).toEqual([
      ['NPLA', false, 500, 10000],
      ['NPLB', false, 900, 9500],
      ['NPLR', true, 0, 10000],
    ]);
    const stored = await t.db.prisma.tranche.count({ where: { portfolioId: p.id } });
    expect(stored).toBe(3);
  });

  it('answers 400 VALIDATION_FAILED with field paths, and stores nothing', async () => {
    const before = await t.db.prisma.portfolio.count();
    const res = await create({
      jurisdiction: 'Italy',
      servicerAddress: '0x123',
      fees: { servicerBps: 9000, protocolBps: 2000 },
      tranches: [
        { name: 'Senior', symbol: 'NPLA', face: '-5' },
        { name: 'Residual', symbol: 'NPLA', face: '1', couponBps: 100 },
      ],
    });
    expect(res.statusCode).toBe(400);
    const err = res.json();
    expect(err).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    const paths = err.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(['body.jurisdiction', 'body.servicerAddress', 'body.tranches.0.face']),
    );
    expect(await t.db.prisma.portfolio.count()).toBe(before);
  });

  it('answers 400 for cross-field rules: coupons, residual coupon, duplicate symbols, fee sum', async () => {
    const res = await create({
      fees: { servicerBps: 9000, protocolBps: 2000 },
      tranches: [
        { name: 'Senior', symbol: 'NPLA', face: '5' },
        { name: 'Residual', symbol: 'NPLA', face: '1', couponBps: 100 },
      ],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toEqual(
      expect.arrayContaining([
        { path: 'body.tranches.0.couponBps', message: 'is required for a debt tranche' },
        { path: 'body.tranches.1.symbol', message: 'is used twice' },
        { path: 'body.tranches.1.couponBps', message: 'must be 0 for the residual (last) tranche' },
        { path: 'body.fees', message: 'servicerBps + protocolBps must not exceed 10000' },
      ]),
    );
  });
});

describe('GET /v1/portfolios/:id', () => {
  it('answers the portfolio with tranches and stats', async () => {
    const created = (await create({ name: 'Get me' })).json();
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${created.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(created);
  });

  it('answers 404 NOT_FOUND for an unknown id and for a malformed one', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}` });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    }
  });

  it('shows chain addresses (checksummed) once published', async () => {
    const created = (await create({ name: 'Published one' })).json();
    await t.db.prisma.portfolio.update({
      where: { id: created.id },
      data: {
        status: 'published',
        chainId: 31337,
        portfolioAddress: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
        documentRoot: `0x${'ab'.repeat(32)}`,
        publishedAt: new Date(),
      },
    });
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${created.id}` });
    expect(res.json()).toMatchObject({
      status: 'published',
      chain: {
        chainId: 31337,
        portfolio: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
        documentRoot: `0x${'ab'.repeat(32)}`,
      },
    });
  });
});

describe('portfolio statistics', () => {
  it('are computed in SQL from the tape: count, UPB, cents per dollar, weighted DPD, coverage, in-court share', async () => {
    const p = (await create({ name: 'Stats', askingPrice: '30000000' })).json(); // 30 EUR with 6 decimals
    // three loans: UPB 100, 200, 700 -> total 1000; DPD 10, 20, 100 -> weighted (1000 + 4000 + 70000) / 1000 = 75
    const csv = [
      'loan_id,borrower_type,asset_class,currency,origination_date,principal_balance,days_past_due,legal_status,jurisdiction,collateral_value',
      'A,household,residential_mortgage,EUR,2015-01-01,100,10,in_court,IT,50',
      'B,sme,corporate,EUR,2016-01-01,200.00,20,none,IT,',
      'C,corporate,corporate,EUR,2017-01-01,700,100,in_court,ES,1450.5',
    ].join('\n');
    const upload = await uploadTape(p.id, csv);
    expect(upload.json().stats).toEqual({
      loanCount: 3,
      totalUpb: '1000.0000',
      totalCollateral: '1500.5000',
      askingPriceCentsPerDollar: 3,
      waDaysPastDue: 75,
      collateralCoverage: 1.5005,
      inCourtShare: 0.666667,
    });
    const detail = (await t.app.inject({ method: 'GET', url: `/v1/portfolios/${p.id}` })).json();
    expect(detail.stats).toEqual(upload.json().stats);
    expect(detail.breakdown).toEqual({
      assetClass: {
        residential_mortgage: { count: 1, upb: '100.0000' },
        corporate: { count: 2, upb: '900.0000' },
      },
      jurisdiction: { IT: { count: 2, upb: '300.0000' }, ES: { count: 1, upb: '700.0000' } },
    });
  });
});

describe('GET /v1/portfolios', () => {
  let ids: Record<string, string>;

  beforeAll(async () => {
    await t.db.prisma.portfolio.deleteMany();
    ids = {};
    const specs = [
      { name: 'P-small-IT', jurisdiction: 'IT', assetClass: 'consumer', rows: 3 },
      { name: 'P-big-IT', jurisdiction: 'IT', assetClass: 'residential_mortgage', rows: 40 },
      { name: 'P-mid-ES', jurisdiction: 'ES', assetClass: 'residential_mortgage', rows: 12 },
      { name: 'P-empty-GR', jurisdiction: 'GR', assetClass: 'mixed', rows: 0 },
      { name: 'P-other-owner', jurisdiction: 'PT', assetClass: 'auto', rows: 5 },
    ];
    for (const s of specs) {
      const headers = s.name === 'P-other-owner' ? otherIssuer : issuer;
      const p = (
        await create({ name: s.name, jurisdiction: s.jurisdiction, assetClass: s.assetClass }, headers)
      ).json();
      ids[s.name] = p.id;
      if (s.rows > 0) {
        const res = await t.app.inject({
          method: 'PUT',
          url: `/v1/portfolios/${p.id}/loan-tape`,
          headers: { ...headers, 'content-type': 'text/csv' },
          payload: loanTapeCsv({ rows: s.rows }),
        });
        expect(res.statusCode, res.body).toBe(200);
      }
    }
    await t.db.prisma.portfolio.update({ where: { id: ids['P-mid-ES'] }, data: { status: 'published' } });
  });

  const list = async (query: string) => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios?${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as {
      items: { name: string; stats: { totalUpb: string; loanCount: number } }[];
      nextCursor: string | null;
    };
  };
  const names = (page: { items: { name: string }[] }) => page.items.map((i) => i.name);

  it('is public and newest first by default, with stats on every item', async () => {
    const page = await list('');
    expect(names(page)).toEqual(['P-other-owner', 'P-empty-GR', 'P-mid-ES', 'P-big-IT', 'P-small-IT']);
    expect(page.items[0].stats.loanCount).toBe(5);
    expect(page.nextCursor).toBeNull();
  });

  it('filters by status, asset class, jurisdiction and UPB range', async () => {
    expect(names(await list('status=published'))).toEqual(['P-mid-ES']);
    expect(names(await list('assetClass=residential_mortgage&sort=name'))).toEqual(['P-big-IT', 'P-mid-ES']);
    expect(names(await list('jurisdiction=IT&sort=name'))).toEqual(['P-big-IT', 'P-small-IT']);
    const all = await list('sort=totalUpb');
    const upb = Object.fromEntries(all.items.map((i) => [i.name, Number(i.stats.totalUpb)]));
    const lo = upb['P-other-owner'];
    const hi = upb['P-mid-ES'];
    const inRange = all.items.filter((i) => Number(i.stats.totalUpb) >= lo && Number(i.stats.totalUpb) <= hi);
    expect(names(await list(`minUpb=${lo}&maxUpb=${hi}&sort=totalUpb`))).toEqual(names({ items: inRange }));
    expect(names(await list('minUpb=0.0001&sort=name'))).not.toContain('P-empty-GR');
  });

  it('sorts ascending and descending by total UPB', async () => {
    const asc = await list('sort=totalUpb');
    const values = asc.items.map((i) => Number(i.stats.totalUpb));
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(names(await list('sort=-totalUpb'))).toEqual(names(asc).reverse());
  });

  it('pages with a cursor through every item exactly once, for every sort', async () => {
    for (const sort of ['-createdAt', 'totalUpb', '-centsPerDollar', 'waDaysPastDue', 'loanCount', '-name']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await list(`sort=${sort}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...names(page));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      expect(seen, sort).toEqual(names(await list(`sort=${sort}&limit=100`)));
      expect(new Set(seen).size).toBe(5);
      expect(pages).toBe(3);
    }
  });

  it('answers 400 for a bad filter, a bad cursor or a cursor of another sort', async () => {
    for (const query of ['status=sold', 'minUpb=-1', 'limit=0', 'cursor=garbage', 'sort=color']) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code).toBe('VALIDATION_FAILED');
    }
    const page = await list('sort=totalUpb&limit=2');
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios?sort=name&cursor=${page.nextCursor}`,
    });
    expect(res.statusCode).toBe(400);
  });
});
