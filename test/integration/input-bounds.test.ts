import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, type Headers, signIn } from '../helpers/auth.ts';
import { loanTapeCsv } from '../helpers/loan-tape.ts';
import { draftPortfolioBody } from '../helpers/portfolio.ts';

/**
 * Bad numbers answer 4xx, never 5xx: the cases a review found (an int4 column compared with a bigger
 * query value, derived tape statistics that overflowed their columns) and a sweep built from the app's
 * own OpenAPI document: every numeric (or numeric-string) query, path and JSON body field of every route,
 * at 0, -1, 2^31, 2^53, 2^256, "1e3", "0x10" and "". The app runs without a chain: a route that needs
 * one may answer its documented 503 SERVICE_UNAVAILABLE, and nothing else above 499.
 */

let t: TestApp;
let issuer: Headers;
let admin: Headers;
let portfolioId: string;

async function createPortfolio(over: Record<string, unknown> = {}): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/portfolios',
    payload: draftPortfolioBody(over),
    headers: issuer,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const putTape = (id: string, csv: string) =>
  t.app.inject({
    method: 'PUT',
    url: `/v1/portfolios/${id}/loan-tape`,
    headers: { ...issuer, 'content-type': 'text/csv' },
    payload: csv,
  });

const getPortfolio = async (id: string) => {
  const res = await t.app.inject({ method: 'GET', url: `/v1/portfolios/${id}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

beforeAll(async () => {
  t = await createTestApp();
  issuer = await apiKeyHeaders(t.db.prisma, 'issuer', 'acme');
  admin = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
  portfolioId = await createPortfolio();
  const tape = await putTape(portfolioId, loanTapeCsv({ rows: 5 }));
  expect(tape.statusCode, tape.body).toBe(200);
});

afterAll(async () => {
  await t?.close();
});

const INT4_OVER = '3000000000';

describe('integer query values beyond the int4 columns they are compared with', () => {
  it(`GET /v1/investors/:address/holdings?chainId=${INT4_OVER} answers 400 naming the field`, async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/investors/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/holdings?chainId=${INT4_OVER}`,
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: 'querystring.chainId' }],
    });
  });

  it(`GET /v1/portfolios/:id/loans?minDaysPastDue=${INT4_OVER} (and max) answers 400 naming the field`, async () => {
    for (const field of ['minDaysPastDue', 'maxDaysPastDue']) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/portfolios/${portfolioId}/loans?${field}=${INT4_OVER}`,
        headers: admin,
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: [{ path: `querystring.${field}` }],
      });
    }
    const ok = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${portfolioId}/loans?minDaysPastDue=2147483647`,
      headers: admin,
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().items).toEqual([]);
  });
});

describe('query integers are decimal digits', () => {
  it('refuses "1e3", "0x10" and "" (400 naming the field) instead of reading them as 1000, 16 and 0', async () => {
    for (const value of ['1e3', '0x10', '', '1.5', '-1']) {
      for (const url of [
        `/v1/portfolios?limit=${value}`,
        `/v1/investors/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/holdings?chainId=${value}`,
      ]) {
        const res = await t.app.inject({ method: 'GET', url });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
        const field = url.includes('limit') ? 'limit' : 'chainId';
        expect(res.json().details).toEqual([{ path: `querystring.${field}`, message: expect.any(String) }]);
      }
    }
    const loans = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios/${portfolioId}/loans?minDaysPastDue=0x10`,
      headers: admin,
    });
    expect(loans.statusCode, loans.body).toBe(400);
    const ok = await t.app.inject({ method: 'GET', url: '/v1/portfolios?limit=16' });
    expect(ok.statusCode, ok.body).toBe(200);
  });
});

describe('derived tape statistics never overflow their columns', () => {
  it('a tape whose collateral coverage is beyond DECIMAL(20,6) is stored with its exact coverage', async () => {
    const id = await createPortfolio();
    const csv = loanTapeCsv({
      rows: 1,
      edit: (_i, cells) => {
        cells.principal_balance = '0.0001';
        cells.collateral_type = 'residential';
        cells.collateral_value = '99999999999999999999.9999';
      },
    });
    const res = await putTape(id, csv);
    expect(res.statusCode, res.body).toBe(200);
    const p = await getPortfolio(id);
    // 99999999999999999999.9999 / 0.0001 = 999999999999999999999999 (1e24), over the old 1e14 bound
    expect(p.stats.collateralCoverage).toBe(Number('999999999999999999999999'));
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    expect(row.collateralCoverage?.toFixed()).toBe('999999999999999999999999');
  });

  it('an asking price near 2^256 over a tiny UPB is stored in cents per dollar, and sorts', async () => {
    const askingPrice = (2n ** 256n - 1n).toString();
    const id = await createPortfolio({ askingPrice, payTokenDecimals: 0 });
    const res = await putTape(
      id,
      loanTapeCsv({
        rows: 1,
        edit: (_i, cells) => {
          cells.principal_balance = '0.0001';
        },
      }),
    );
    expect(res.statusCode, res.body).toBe(200);
    const row = await t.db.prisma.portfolio.findUniqueOrThrow({ where: { id } });
    // (2^256 - 1) / 0.0001 * 100, exactly
    expect(row.centsPerDollar?.toFixed()).toBe(((2n ** 256n - 1n) * 10n ** 6n).toString());
    const p = await getPortfolio(id);
    expect(p.stats.askingPriceCentsPerDollar).toBe(Number((2n ** 256n - 1n) * 10n ** 6n));
    const top = await t.app.inject({ method: 'GET', url: '/v1/portfolios?sort=-centsPerDollar&limit=1' });
    expect(top.statusCode, top.body).toBe(200);
    expect(top.json().items[0].id).toBe(id);
    // the keyset cursor past the huge value still works
    const next = await t.app.inject({
      method: 'GET',
      url: `/v1/portfolios?sort=-centsPerDollar&limit=1&cursor=${top.json().nextCursor}`,
    });
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json().items[0].id).not.toBe(id);
  });
});

// ------------------------------------------------------------------ the generated sweep

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  default?: unknown;
  example?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  minLength?: number;
  $ref?: string;
};
type Operation = {
  parameters?: { in: 'query' | 'path' | 'header'; name: string; schema: JsonSchema; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, unknown>;
};
type OpenApi = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
};

const BAD_NUMBERS: unknown[] = [0, -1, 2 ** 31, 2 ** 53, 2 ** 256, '1e3', '0x10', ''];
const asDecimalString = (v: unknown) => (typeof v === 'number' ? BigInt(v).toString() : String(v));

const isNumeric = (s: JsonSchema) => {
  const types = [s.type].flat();
  if (types.includes('integer') || types.includes('number')) return true;
  if (types.includes('string') && s.pattern !== undefined) {
    const re = new RegExp(s.pattern);
    return ['0', '1', '10', '1.5'].some((v) => re.test(v));
  }
  return false;
};

/** A value the schema accepts (as far as the test needs: examples, enums, defaults, bounds, patterns). */
function validValue(s: JsonSchema, doc: OpenApi): unknown {
  if (s.$ref !== undefined) return validValue(doc.components!.schemas![s.$ref.split('/').pop()!], doc);
  if (s.anyOf !== undefined) return validValue(s.anyOf.find((a) => a.type !== 'null') ?? s.anyOf[0], doc);
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined) return s.default;
  if (s.enum !== undefined) return s.enum[0];
  const type = [s.type].flat()[0];
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, validValue(v, doc)]));
    case 'array':
      return Array.from({ length: Math.max(1, s.minItems ?? 1) }, () => validValue(s.items ?? {}, doc));
    case 'integer':
    case 'number':
      return s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1);
    case 'boolean':
      return false;
    case 'string': {
      if (s.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      if (s.format === 'uuid') return randomUUID();
      if (s.pattern === undefined) return 'x'.repeat(Math.max(1, s.minLength ?? 1));
      const re = new RegExp(s.pattern);
      const candidates = [
        '1',
        'IT',
        'EUR',
        'ABC',
        `0x${'ab'.repeat(65)}`,
        `0x${'11'.repeat(32)}`,
        'ab'.repeat(32),
      ];
      const found = candidates.find((c) => re.test(c));
      if (found === undefined) throw new Error(`no value for pattern ${s.pattern}`);
      return found;
    }
    default:
      return null;
  }
}

/** Paths (property names) of every numeric field inside a JSON schema. */
function numericPaths(s: JsonSchema, doc: OpenApi, prefix: (string | number)[] = []): (string | number)[][] {
  if (s.$ref !== undefined)
    return numericPaths(doc.components!.schemas![s.$ref.split('/').pop()!], doc, prefix);
  if (s.anyOf !== undefined) return s.anyOf.flatMap((a) => numericPaths(a, doc, prefix));
  if (isNumeric(s)) return [prefix];
  const type = [s.type].flat()[0];
  if (type === 'object')
    return Object.entries(s.properties ?? {}).flatMap(([k, v]) => numericPaths(v, doc, [...prefix, k]));
  if (type === 'array' && s.items) return numericPaths(s.items, doc, [...prefix, 0]);
  return [];
}

function withValue(base: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = (Array.isArray(base) ? [...base] : { ...(base as object) }) as Record<
    string | number,
    unknown
  >;
  copy[path[0]] = withValue(copy[path[0]], path.slice(1), value);
  return copy;
}

/** Not a number in decimal digits: every numeric field refuses these (400/422 VALIDATION_FAILED), none reads them as 1000, 16, 0. */
const NOT_DECIMAL = new Set(['1e3', '0x10', '']);

type Case = {
  label: string;
  query: Record<string, string>;
  params: Record<string, string>;
  body: unknown;
  /** the bad value was "1e3", "0x10" or "" */
  notDecimal?: boolean;
};

describe('every numeric field of every route, at bad values, never answers a 5xx', () => {
  it('sweeps query, path and JSON body fields from /openapi.json', async () => {
    const docRes = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = docRes.json() as OpenApi;
    const failures: string[] = [];
    let sent = 0;
    let routesSwept = 0;
    for (const [template, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const parameters = op.parameters ?? [];
        const jsonBody = op.requestBody?.content['application/json']?.schema;
        const baseParams: Record<string, string> = {};
        const baseQuery: Record<string, string> = {};
        for (const p of parameters) {
          if (p.in === 'path') {
            baseParams[p.name] =
              p.name === 'id' && template.startsWith('/v1/portfolios/')
                ? portfolioId
                : p.name === 'hash'
                  ? `0x${'11'.repeat(32)}`
                  : String(validValue(p.schema, doc) === 'x' ? randomUUID() : validValue(p.schema, doc));
          }
        }
        const baseBody = jsonBody === undefined ? undefined : validValue(jsonBody, doc);
        const cases: Case[] = [];
        for (const p of parameters) {
          if (p.in === 'header' || !isNumeric(p.schema)) continue;
          for (const v of BAD_NUMBERS) {
            const value = asDecimalString(v);
            const target = p.in === 'query' ? 'query' : 'params';
            cases.push({
              notDecimal: NOT_DECIMAL.has(value),
              label: `${p.in}.${p.name}=${JSON.stringify(value)}`,
              query: target === 'query' ? { ...baseQuery, [p.name]: value } : baseQuery,
              params: target === 'params' ? { ...baseParams, [p.name]: value } : baseParams,
              body: baseBody,
            });
          }
        }
        if (jsonBody !== undefined) {
          for (const path of numericPaths(jsonBody, doc)) {
            for (const v of BAD_NUMBERS) {
              const forms = typeof v === 'number' ? [v, asDecimalString(v)] : [v];
              for (const value of forms) {
                cases.push({
                  notDecimal: typeof value === 'string' && NOT_DECIMAL.has(value),
                  label: `body.${path.join('.')}=${JSON.stringify(value)}`,
                  query: baseQuery,
                  params: baseParams,
                  body: withValue(baseBody, path, value),
                });
              }
            }
          }
        }
        if (cases.length === 0) continue;
        routesSwept++;
        const documents503 = '503' in op.responses;
        const url = (c: Case) => {
          const path = template.replace(/\{(\w+)\}/g, (_m, name: string) =>
            encodeURIComponent(c.params[name]),
          );
          const qs = new URLSearchParams(c.query).toString();
          return qs === '' ? path : `${path}?${qs}`;
        };
        const send = (c: Case, headers: Record<string, string>) =>
          t.app.inject({
            method: method.toUpperCase() as 'GET',
            url: url(c),
            headers,
            ...(c.body === undefined ? {} : { payload: c.body as Record<string, unknown> }),
          });
        // the credential that reaches validation: none for public routes, else an admin key or a session
        const base: Case = { label: 'base', query: baseQuery, params: baseParams, body: baseBody };
        const credentials: (() => Promise<Record<string, string>>)[] = [
          async () => ({}),
          async () => admin,
          async () => (await signIn(t)).headers,
        ];
        let headers: Record<string, string> = {};
        for (const credential of credentials) {
          headers = await credential();
          const res = await send(base, headers);
          if (res.statusCode !== 401 && res.statusCode !== 403) break;
        }
        for (const c of [base, ...cases]) {
          const res = await send(c, headers);
          sent++;
          if (c.notDecimal && (res.json() as { code?: string }).code !== 'VALIDATION_FAILED') {
            failures.push(
              `${method.toUpperCase()} ${template} ${c.label} -> ${res.statusCode}, not VALIDATION_FAILED`,
            );
          }
          if (res.statusCode < 500) continue;
          const code = (res.json() as { code?: string }).code;
          if (res.statusCode === 503 && documents503 && code === 'SERVICE_UNAVAILABLE') continue;
          failures.push(`${method.toUpperCase()} ${template} ${c.label} -> ${res.statusCode} ${code}`);
        }
      }
    }
    // the sweep really covered the app (a broken document or generator would sweep nothing)
    expect(routesSwept).toBeGreaterThanOrEqual(12);
    expect(sent).toBeGreaterThan(300);
    expect(failures).toEqual([]);
  }, 120_000);
});
