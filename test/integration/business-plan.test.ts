import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSINESS_PLAN_MONTH_SECONDS } from '../../core/catalog/business-plan.ts';
import { MAX_BUSINESS_PLAN_POINTS } from '../../core/domain/waterfall.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { draftPortfolioBody } from '../helpers/portfolio.ts';

/**
 * Waterfall spec v2 terms of a draft through the fastify app on a real Postgres: `reserve` and `trigger`
 * on POST /v1/portfolios, PUT /v1/portfolios/:id/business-plan (CSV and JSON, per-cell 422, all or
 * nothing), and publish refusing the terms the contracts cannot take yet.
 */

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

const MONTH = BUSINESS_PLAN_MONTH_SECONDS;

async function create(over: Record<string, unknown> = {}) {
  return t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    payload: draftPortfolioBody(over),
    headers: issuer,
  });
}

async function createDraft(over: Record<string, unknown> = {}): Promise<string> {
  const res = await create(over);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const putCsv = (id: string, csv: string, headers: Headers = issuer) =>
  t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/business-plan`,
    headers: { ...headers, 'content-type': 'text/csv' },
    payload: csv,
  });

const putJson = (id: string, payload: unknown, headers: Headers = issuer) =>
  t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/business-plan`,
    headers,
    payload: payload as object,
  });

const detail = async (id: string) => {
  const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

const storedPoints = (id: string) =>
  t.db.prisma.businessPlanPoint.findMany({ where: { portfolioId: id }, orderBy: { position: 'asc' } });

const errorsOf = (res: { json: () => { details: { errors: unknown[] } } }) => res.json().details.errors;

describe('POST /v1/portfolios with reserve and trigger', () => {
  it('stores both and returns them from the detail and the listing', async () => {
    const id = await createDraft({
      name: 'v2 terms',
      reserve: { targetBps: 500, initial: '250000000' },
      trigger: {
        collectionRatioBps: 8000,
        businessPlan: [
          { atSeconds: 6 * MONTH, cumulative: '1000000000' },
          { atSeconds: 12 * MONTH, cumulative: '3000000000' },
        ],
      },
    });
    const p = await detail(id);
    expect(p.reserve).toEqual({ targetBps: 500, initial: '250000000' });
    expect(p.trigger).toEqual({
      collectionRatioBps: 8000,
      businessPlan: [
        { atSeconds: 15_768_000, cumulative: '1000000000' },
        { atSeconds: 31_536_000, cumulative: '3000000000' },
      ],
    });
    const list = await t.app.inject({ method: 'GET', url: '/v1/portfolios?limit=100' });
    const item = list.json().items.find((i: { id: string }) => i.id === id);
    expect(item.reserve).toEqual(p.reserve);
    expect(item.trigger).toEqual(p.trigger);
  });

  it('without them answers null for both (a v1 draft)', async () => {
    const p = await detail(await createDraft());
    expect(p.reserve).toBeNull();
    expect(p.trigger).toBeNull();
  });

  it('a trigger may come without its plan (uploaded later)', async () => {
    const p = await detail(await createDraft({ trigger: { collectionRatioBps: 9000 } }));
    expect(p.trigger).toEqual({ collectionRatioBps: 9000, businessPlan: [] });
  });

  const point = (months: number, cumulative: string) => ({ atSeconds: months * MONTH, cumulative });
  it.each([
    [
      'reserve.targetBps above 10,000',
      { reserve: { targetBps: 10_001, initial: '0' } },
      'body.reserve.targetBps',
    ],
    ['a negative reserve', { reserve: { targetBps: 100, initial: '-1' } }, 'body.reserve.initial'],
    ['a reserve without initial', { reserve: { targetBps: 100 } }, 'body.reserve.initial'],
    [
      'trigger.collectionRatioBps above 10,000',
      { trigger: { collectionRatioBps: 10_001 } },
      'body.trigger.collectionRatioBps',
    ],
    [
      'a trigger without its ratio',
      { trigger: { businessPlan: [point(1, '1')] } },
      'body.trigger.collectionRatioBps',
    ],
    [
      'unsorted points',
      { trigger: { collectionRatioBps: 8000, businessPlan: [point(2, '1'), point(1, '2')] } },
      'body.trigger.businessPlan.1.atSeconds',
    ],
    [
      'a duplicate point',
      { trigger: { collectionRatioBps: 8000, businessPlan: [point(2, '1'), point(2, '2')] } },
      'body.trigger.businessPlan.1.atSeconds',
    ],
    [
      'a decreasing cumulative',
      { trigger: { collectionRatioBps: 8000, businessPlan: [point(1, '5'), point(2, '4')] } },
      'body.trigger.businessPlan.1.cumulative',
    ],
    [
      'an empty plan',
      { trigger: { collectionRatioBps: 8000, businessPlan: [] } },
      'body.trigger.businessPlan',
    ],
    [
      `more than ${MAX_BUSINESS_PLAN_POINTS} points`,
      {
        trigger: {
          collectionRatioBps: 8000,
          businessPlan: Array.from({ length: MAX_BUSINESS_PLAN_POINTS + 1 }, (_, i) =>
            point(i + 1, String(i)),
          ),
        },
      },
      'body.trigger.businessPlan',
    ],
    [
      'a fractional cumulative',
      { trigger: { collectionRatioBps: 8000, businessPlan: [{ atSeconds: 1, cumulative: '1.5' }] } },
      'body.trigger.businessPlan.0.cumulative',
    ],
  ])('%s answers 400 naming the field, and creates nothing', async (_name, over, path) => {
    const before = await t.db.prisma.portfolio.count();
    const res = await create(over);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    expect(res.json().details.map((d: { path: string }) => d.path)).toContain(path);
    expect(await t.db.prisma.portfolio.count()).toBe(before);
  });
});

describe('PUT /v1/portfolios/:id/business-plan', () => {
  it('CSV: months → seconds (2,628,000 s a month), currency units → base units with the pay token decimals', async () => {
    const id = await createDraft({ trigger: { collectionRatioBps: 7500 } });
    const res = await putCsv(
      id,
      'Months_After_Close,cumulative_collections\r\n0,0\r\n6,1250.5\r\n12,"3000.1234"\r\n24,3000.1234\r\n',
    );
    expect(res.statusCode, res.body).toBe(200);
    const plan = [
      { atSeconds: 0, cumulative: '0' },
      { atSeconds: 6 * 2_628_000, cumulative: '1250500000' },
      { atSeconds: 12 * 2_628_000, cumulative: '3000123400' },
      { atSeconds: 24 * 2_628_000, cumulative: '3000123400' },
    ];
    expect(res.json()).toEqual({
      portfolioId: id,
      trigger: { collectionRatioBps: 7500, businessPlan: plan },
    });
    expect((await detail(id)).trigger).toEqual({ collectionRatioBps: 7500, businessPlan: plan });
    // columns in any order
    const swapped = await putCsv(id, 'cumulative_collections,months_after_close\n10,1\n');
    expect(swapped.statusCode, swapped.body).toBe(200);
    expect((await detail(id)).trigger.businessPlan).toEqual([{ atSeconds: MONTH, cumulative: '10000000' }]);
  });

  it('CSV on a 2-decimal pay token: at most 2 decimals (trailing zeros are fine)', async () => {
    const id = await createDraft({ payTokenDecimals: 2, trigger: { collectionRatioBps: 7500 } });
    const ok = await putCsv(id, 'months_after_close,cumulative_collections\n1,10.50\n2,10.5000\n');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().trigger.businessPlan.map((p: { cumulative: string }) => p.cumulative)).toEqual([
      '1050',
      '1050',
    ]);
    const bad = await putCsv(id, 'months_after_close,cumulative_collections\n1,10.505\n');
    expect(bad.statusCode, bad.body).toBe(422);
    expect(errorsOf(bad)).toEqual([
      {
        row: 1,
        column: 'cumulative_collections',
        value: '10.505',
        reason: "has more decimals than the pay token's 2",
        path: null,
      },
    ]);
  });

  it('JSON: replaces the plan, and may set the ratio of a draft without a trigger', async () => {
    const id = await createDraft();
    const plan = [
      { atSeconds: 100, cumulative: '5' },
      { atSeconds: 200, cumulative: '7' },
    ];
    const res = await putJson(id, { businessPlan: plan, collectionRatioBps: 6000 });
    expect(res.statusCode, res.body).toBe(200);
    expect((await detail(id)).trigger).toEqual({ collectionRatioBps: 6000, businessPlan: plan });
    // the ratio stays when not sent
    const again = await putJson(id, { businessPlan: [{ atSeconds: 300, cumulative: '9' }] });
    expect(again.statusCode, again.body).toBe(200);
    expect((await detail(id)).trigger).toEqual({
      collectionRatioBps: 6000,
      businessPlan: [{ atSeconds: 300, cumulative: '9' }],
    });
  });

  it('without a trigger ratio (none at creation, none in the body) answers 409 and stores nothing', async () => {
    const id = await createDraft();
    const csv = await putCsv(id, 'months_after_close,cumulative_collections\n1,1\n');
    expect(csv.statusCode, csv.body).toBe(409);
    expect(csv.json()).toMatchObject({
      code: 'CONFLICT',
      details: { missing: ['trigger.collectionRatioBps'] },
    });
    const json = await putJson(id, { businessPlan: [{ atSeconds: 1, cumulative: '1' }] });
    expect(json.statusCode, json.body).toBe(409);
    expect(await storedPoints(id)).toEqual([]);
    expect((await detail(id)).trigger).toBeNull();
  });

  const HEADER = 'months_after_close,cumulative_collections';
  it.each([
    [
      'a bad number',
      `${HEADER}\n1,abc\n`,
      [
        {
          row: 1,
          column: 'cumulative_collections',
          value: 'abc',
          reason: expect.stringMatching(/decimal number/),
        },
      ],
    ],
    [
      'a negative amount',
      `${HEADER}\n1,-5\n`,
      [{ row: 1, column: 'cumulative_collections', value: '-5', reason: 'must not be negative' }],
    ],
    [
      'a negative month',
      `${HEADER}\n-1,5\n`,
      [{ row: 1, column: 'months_after_close', value: '-1', reason: 'must not be negative' }],
    ],
    [
      'too many decimals',
      `${HEADER}\n1,1.23456\n`,
      [
        {
          row: 1,
          column: 'cumulative_collections',
          value: '1.23456',
          reason: expect.stringMatching(/4 decimals/),
        },
      ],
    ],
    [
      'a fractional month',
      `${HEADER}\n1.5,5\n`,
      [{ row: 1, column: 'months_after_close', value: '1.5', reason: expect.stringMatching(/whole number/) }],
    ],
    [
      'a month past 1,200',
      `${HEADER}\n1201,5\n`,
      [{ row: 1, column: 'months_after_close', value: '1201', reason: 'must be at most 1200' }],
    ],
    [
      'unsorted months',
      `${HEADER}\n2,1\n1,2\n`,
      [
        {
          row: 2,
          column: 'months_after_close',
          value: '1',
          reason: expect.stringMatching(/sort the points/),
        },
      ],
    ],
    [
      'a duplicate month',
      `${HEADER}\n1,1\n1,2\n`,
      [{ row: 2, column: 'months_after_close', value: '1', reason: expect.stringMatching(/duplicates/) }],
    ],
    [
      'a decreasing cumulative',
      `${HEADER}\n1,10\n2,9.99\n`,
      [
        {
          row: 2,
          column: 'cumulative_collections',
          value: '9.99',
          reason: expect.stringMatching(/cumulative/),
        },
      ],
    ],
    [
      'too many rows',
      `${HEADER}\n${Array.from({ length: MAX_BUSINESS_PLAN_POINTS + 1 }, (_, i) => `${i},${i}`).join('\n')}\n`,
      [
        {
          row: MAX_BUSINESS_PLAN_POINTS + 1,
          column: null,
          value: null,
          reason: `must not have more than ${MAX_BUSINESS_PLAN_POINTS} points`,
        },
      ],
    ],
    [
      'a wrong header',
      'month,cumulative_collections\n1,1\n',
      [
        { row: 0, column: 'month', value: 'month', reason: 'unknown column in the header' },
        {
          row: 0,
          column: 'months_after_close',
          value: null,
          reason: 'required column missing from the header',
        },
      ],
    ],
    [
      'a row with a missing cell',
      `${HEADER}\n1,1\n2\n`,
      [{ row: 2, column: null, value: null, reason: 'has 1 cells; the header has 2' }],
    ],
    [
      'no rows',
      `${HEADER}\n`,
      [{ row: 1, column: null, value: null, reason: 'the business plan has no points' }],
    ],
    [
      'several bad cells at once',
      `${HEADER}\nx,1\n2,-1\n`,
      [
        { row: 1, column: 'months_after_close', value: 'x' },
        { row: 2, column: 'cumulative_collections', value: '-1' },
      ],
    ],
  ])('CSV with %s answers 422 per cell and changes nothing', async (_name, csv, expected) => {
    const id = await createDraft({
      trigger: { collectionRatioBps: 8000, businessPlan: [{ atSeconds: 5, cumulative: '50' }] },
    });
    const before = await detail(id);
    const res = await putCsv(id, csv);
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      statusCode: 422,
      code: 'VALIDATION_FAILED',
      details: { errorCount: expected.length, truncated: false },
    });
    expect(errorsOf(res)).toEqual(expected.map((e) => expect.objectContaining({ ...e, path: null })));
    const after = await detail(id);
    expect(after.trigger).toEqual(before.trigger);
    expect(after.updatedAt).toBe(before.updatedAt);
  });

  it('JSON with rule errors answers 422 per point with its path, and changes nothing', async () => {
    const id = await createDraft({
      trigger: { collectionRatioBps: 8000, businessPlan: [{ atSeconds: 5, cumulative: '50' }] },
    });
    const res = await putJson(id, {
      businessPlan: [
        { atSeconds: 10, cumulative: '10' },
        { atSeconds: 10, cumulative: '9' },
      ],
      collectionRatioBps: 100,
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(errorsOf(res)).toEqual([
      expect.objectContaining({
        row: 2,
        column: 'atSeconds',
        value: '10',
        path: 'body.businessPlan.1.atSeconds',
      }),
      expect.objectContaining({
        row: 2,
        column: 'cumulative',
        value: '9',
        path: 'body.businessPlan.1.cumulative',
      }),
    ]);
    expect((await detail(id)).trigger).toEqual({
      collectionRatioBps: 8000,
      businessPlan: [{ atSeconds: 5, cumulative: '50' }],
    });
  });

  it('JSON of the wrong shape answers 400 naming the field', async () => {
    const id = await createDraft({ trigger: { collectionRatioBps: 8000 } });
    const res = await putJson(id, {
      businessPlan: [{ atSeconds: -1, cumulative: '1' }],
      collectionRatioBps: 10_001,
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(
      res
        .json()
        .details.map((d: { path: string }) => d.path)
        .sort(),
    ).toEqual(['body.businessPlan.0.atSeconds', 'body.collectionRatioBps']);
  });

  it('another issuer answers 403 and changes nothing', async () => {
    const id = await createDraft({ trigger: { collectionRatioBps: 8000 } });
    const res = await putCsv(id, `${HEADER}\n1,1\n`, otherIssuer);
    expect(res.statusCode, res.body).toBe(403);
    const json = await putJson(id, { businessPlan: [{ atSeconds: 1, cumulative: '1' }] }, otherIssuer);
    expect(json.statusCode, json.body).toBe(403);
    expect(await storedPoints(id)).toEqual([]);
  });

  it('without credentials answers 401', async () => {
    const id = await createDraft({ trigger: { collectionRatioBps: 8000 } });
    const res = await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/business-plan`,
      headers: { 'content-type': 'text/csv' },
      payload: `${HEADER}\n1,1\n`,
    });
    expect(res.statusCode).toBe(401);
  });

  it.each(['publishing', 'published'] as const)(
    'a %s portfolio answers 409 and changes nothing',
    async (status) => {
      const id = await createDraft({
        trigger: { collectionRatioBps: 8000, businessPlan: [{ atSeconds: 5, cumulative: '50' }] },
      });
      await t.db.prisma.portfolio.update({ where: { id }, data: { status } });
      const res = await putCsv(id, `${HEADER}\n1,1\n`);
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json()).toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(/only change in draft/),
      });
      const json = await putJson(id, { businessPlan: [{ atSeconds: 1, cumulative: '1' }] });
      expect(json.statusCode, json.body).toBe(409);
      expect((await storedPoints(id)).map((p) => [p.atSeconds, p.cumulative.toString()])).toEqual([
        [5n, '50'],
      ]);
    },
  );

  it('an unknown portfolio answers 404; another content type 415', async () => {
    const missing = await putCsv('00000000-0000-4000-8000-000000000000', `${HEADER}\n1,1\n`);
    expect(missing.statusCode).toBe(404);
    const id = await createDraft({ trigger: { collectionRatioBps: 8000 } });
    const xml = await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/business-plan`,
      headers: { ...issuer, 'content-type': 'application/xml' },
      payload: '<plan/>',
    });
    expect(xml.statusCode).toBe(415);
  });
});

describe('POST /v1/portfolios/:id/publish with v2 terms', () => {
  const publish = (id: string) =>
    t.app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish`, headers: issuer });

  it('a draft with a trigger but no business plan answers 409 naming it and stays a draft', async () => {
    const id = await createDraft({ trigger: { collectionRatioBps: 8000 } });
    const tape = await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/loan-tape`,
      headers: { ...issuer, 'content-type': 'text/csv' },
      payload: loanTapeCsv({ rows: 3 }),
    });
    expect(tape.statusCode, tape.body).toBe(200);
    const res = await publish(id);
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ code: 'CONFLICT', details: { missing: ['businessPlan'] } });
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe('draft');
    expect(await t.db.prisma.job.count({ where: { portfolioId: id } })).toBe(0);
  });

  it('a draft with a reserve, or a trigger and its business plan, is accepted for publishing', async () => {
    for (const over of [
      { reserve: { targetBps: 500, initial: '0' } },
      { trigger: { collectionRatioBps: 8000, businessPlan: [{ atSeconds: 86_400, cumulative: '1000' }] } },
    ]) {
      const id = await createDraft(over);
      const tape = await t.app.inject({
        method: 'PUT',
        url: `/v1/portfolios/${id}/loan-tape`,
        headers: { ...issuer, 'content-type': 'text/csv' },
        payload: loanTapeCsv({ rows: 3 }),
      });
      expect(tape.statusCode, tape.body).toBe(200);
      const res = await publish(id);
      expect(res.statusCode, res.body).toBe(202);
      const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
      expect(row.status).toBe('publishing');
    }
  });
});
