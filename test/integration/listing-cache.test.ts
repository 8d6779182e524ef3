import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageOf } from '../../server/schemas/common.ts';
import { portfolioSummarySchema } from '../../server/schemas/portfolio.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers } from '../helpers/auth.ts';
import { REDIS_URL } from '../helpers/db.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { draftPortfolioBody } from '../helpers/portfolio.ts';

// a long TTL: anything seen fresh below was invalidated, not expired (the expiry test has its own app)
const TTL_MS = 60_000;
const SHORT_TTL_MS = 400;

let t: TestApp;
let short: TestApp;
let issuer: Headers;

beforeAll(async () => {
  t = await createTestApp({
    overrides: {
      LISTING_CACHE_TTL_MS: TTL_MS,
      QUEUE_PREFIX: `npl-test-listing-${randomBytes(4).toString('hex')}`,
    },
  });
  short = await createTestApp({ db: t.db, overrides: { LISTING_CACHE_TTL_MS: SHORT_TTL_MS } });
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
});

afterAll(async () => {
  await short?.close();
  if (t) await dropQueueKeys(t.config.QUEUE_PREFIX);
  await t?.close();
});

async function dropQueueKeys(prefix: string) {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

const body = (name: string) =>
  draftPortfolioBody({
    name,
    assetClass: 'consumer',
    tranches: [
      { name: 'Senior', symbol: 'SEN', face: '15000000000', couponBps: 500 },
      { name: 'Residual', symbol: 'RES', face: '10000000000' },
    ],
  });

type Page = { items: { id: string; name: string; status: string; stats: { loanCount: number } }[] };

async function list(app: TestApp, query = ''): Promise<Page & { raw: string; contentType: string }> {
  const res = await app.app.inject({ method: 'GET', url: `/v1/portfolios${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return { ...(res.json() as Page), raw: res.body, contentType: String(res.headers['content-type']) };
}

async function create(name: string): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    headers: issuer,
    payload: body(name),
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const find = (page: Page, id: string) => page.items.find((i) => i.id === id);

describe('GET /v1/portfolios response cache', () => {
  it('answers the cached JSON body with a JSON content type, matching the response schema', async () => {
    await create('Cached shape');
    const first = await list(t);
    const second = await list(t);
    expect(second.raw).toBe(first.raw);
    expect(second.contentType).toBe('application/json; charset=utf-8');
    expect(() => pageOf(portfolioSummarySchema).parse(JSON.parse(second.raw))).not.toThrow();
  });

  it('serves a change made outside the API from the cache until a write through the API', async () => {
    const id = await create('Renamed outside');
    expect(find(await list(t), id)?.name).toBe('Renamed outside');
    await t.db.pool.query(`UPDATE portfolio SET name = 'Renamed by SQL' WHERE id = $1`, [id]);
    // the cache is in use: the direct write is not seen (TTL 60 s)
    expect(find(await list(t), id)?.name).toBe('Renamed outside');
    const other = await create('Any write');
    const after = await list(t);
    expect(find(after, id)?.name).toBe('Renamed by SQL');
    expect(find(after, other)?.name).toBe('Any write');
  });

  it('is not emptied by an anonymous or a failed write, nor by a write of something it does not show', async () => {
    const id = await create('Renamed before the noise');
    expect(find(await list(t), id)?.name).toBe('Renamed before the noise');
    await t.db.pool.query(`UPDATE portfolio SET name = 'Renamed by SQL again' WHERE id = $1`, [id]);
    const noise = [
      // anonymous
      t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: body('Anonymous') }),
      t.app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish` }),
      // authenticated but invalid (400) or refused (409: no tape yet)
      t.app.inject({ method: 'POST', url: '/v1/portfolios', headers: issuer, payload: { name: 'x' } }),
      t.app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish`, headers: issuer }),
      // writes of other things (the SIWE nonce) and of nothing at all (a dry-run preview)
      t.app.inject({ method: 'POST', url: '/v1/auth/nonce' }),
      t.app.inject({ method: 'POST', url: '/v1/documents/verify', payload: {} }),
    ];
    for (const res of await Promise.all(noise)) expect(res.statusCode).toBeLessThan(500);
    expect(find(await list(t), id)?.name).toBe('Renamed before the noise');
    expect(t.app.listingCache.size).toBeGreaterThan(0);
    await create('A real write');
    expect(find(await list(t), id)?.name).toBe('Renamed by SQL again');
  });

  it('shows a created portfolio in the next listing', async () => {
    const before = await list(t);
    const id = await create('Fresh one');
    expect(find(before, id)).toBeUndefined();
    expect((await list(t)).items[0]).toMatchObject({ id, name: 'Fresh one' });
  });

  it('shows a loan-tape upload in the next listing', async () => {
    const id = await create('Tape later');
    expect(find(await list(t), id)?.stats.loanCount).toBe(0);
    const res = await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/loan-tape`,
      headers: { ...issuer, 'content-type': 'text/csv' },
      payload: loanTapeCsv({ rows: 7 }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(find(await list(t), id)?.stats.loanCount).toBe(7);
  });

  it('shows a publish (draft -> publishing) in the next listing', async () => {
    const id = await create('Publish me');
    await t.app.inject({
      method: 'PUT',
      url: `/v1/portfolios/${id}/loan-tape`,
      headers: { ...issuer, 'content-type': 'text/csv' },
      payload: loanTapeCsv({ rows: 3 }),
    });
    expect(find(await list(t, '?status=draft'), id)?.status).toBe('draft');
    expect(find(await list(t, '?status=publishing'), id)).toBeUndefined();
    const res = await t.app.inject({ method: 'POST', url: `/v1/portfolios/${id}/publish`, headers: issuer });
    expect(res.statusCode, res.body).toBe(202);
    expect(find(await list(t, '?status=draft'), id)).toBeUndefined();
    expect(find(await list(t, '?status=publishing'), id)?.status).toBe('publishing');
  });

  it('keeps different queries apart', async () => {
    const a = await create('Query A');
    const queries = [
      '',
      '?limit=1',
      '?sort=name',
      '?sort=-name&limit=1',
      '?status=published',
      '?jurisdiction=ES',
    ];
    const first = await Promise.all(queries.map((q) => list(t, q)));
    const again = await Promise.all(queries.map((q) => list(t, q)));
    queries.forEach((q, k) => {
      expect(again[k].raw, q).toBe(first[k].raw);
    });
    expect(first[1].items).toHaveLength(1);
    expect(first[0].items[0].id).toBe(a);
    expect(first[4].items).toEqual([]);
    expect(first[5].items).toEqual([]);
    const byName = first[2].items.map((i) => i.name);
    expect(byName).toEqual([...byName].sort());
    expect(first[3].items[0].name).toBe(byName.at(-1));
    // equivalent spellings of one query share an entry; the validated query is the key
    const spelled = await list(t, '?sort=-createdAt&limit=20');
    expect(spelled.raw).toBe(first[0].raw);
  });

  it('still answers 400 for a bad query (errors are not cached)', async () => {
    for (let k = 0; k < 2; k++) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/portfolios?cursor=garbage' });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('VALIDATION_FAILED');
    }
  });

  it('shows a change made outside this process at most LISTING_CACHE_TTL_MS later', async () => {
    const id = await create('Worker changes me');
    expect(find(await list(short), id)?.status).toBe('draft');
    // what the worker does after a deployment: a write that this app does not see
    await t.db.pool.query(`UPDATE portfolio SET status = 'published' WHERE id = $1`, [id]);
    const started = performance.now();
    let status = find(await list(short), id)?.status;
    while (status !== 'published' && performance.now() - started < 5_000) {
      await new Promise((r) => setTimeout(r, 25));
      status = find(await list(short), id)?.status;
    }
    expect(status).toBe('published');
    // observed within the TTL plus polling and query time (the entry was filled before the write)
    expect(performance.now() - started).toBeLessThan(SHORT_TTL_MS + 1_000);
  });

  it('does not cache with LISTING_CACHE_TTL_MS=0', async () => {
    const off = await createTestApp({ db: t.db, overrides: { LISTING_CACHE_TTL_MS: 0 } });
    try {
      const id = await create('Uncached');
      expect(find(await list(off), id)?.name).toBe('Uncached');
      await t.db.pool.query(`UPDATE portfolio SET name = 'Uncached 2' WHERE id = $1`, [id]);
      expect(find(await list(off), id)?.name).toBe('Uncached 2');
    } finally {
      await off.close();
    }
  });
});
