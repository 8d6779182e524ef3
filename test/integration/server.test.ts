import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../core/db/index.ts';
import { loadConfig } from '../../core/platform/config.ts';
import { BaseError } from '../../core/platform/errors.ts';
import { buildApp } from '../../server/app.ts';
import { toErrorBody } from '../../server/plugins/error-handler.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await createTestDatabase();
  t = await createTestApp({ db });
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('GET /health', () => {
  it('reports Postgres and Redis up, chain unconfigured and the worker count', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.postgres.status).toBe('ok');
    expect(body.redis.status).toBe('ok');
    expect(body.chain).toEqual({ status: 'unconfigured' });
    expect(typeof body.worker.workers).toBe('number');
    expect(body.worker.status).toBe(body.worker.workers > 0 ? 'ok' : 'down');
  });

  it('answers 503 when Postgres is unreachable', async () => {
    // a database on a port nothing listens on is a Postgres outage
    const dead = createDb({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/none', max: 1 });
    const app = await buildApp({ config: t.config, db: dead, redis: t.redis, chain: null });
    try {
      const res = await app.inject({ method: 'GET', url: '/health' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        status: 'degraded',
        postgres: { status: 'down' },
        redis: { status: 'ok' },
      });
    } finally {
      await app.close();
      await dead.close();
    }
  });
});

describe('OpenAPI', () => {
  it('GET /openapi.json describes every route with its zod schemas', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const create = doc.paths['/v1/portfolios'].post;
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403']));
    expect(create.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['name', 'assetClass', 'tranches', 'servicerAddress']),
    );
    expect(doc.paths['/v1/portfolios/{id}/loan-tape'].put.responses['422']).toBeDefined();
    expect(doc.paths['/openapi.json']).toBeUndefined();
  });

  it('GET /docs serves the interactive documentation', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('swagger');
  });
});

describe('errors', () => {
  it('an unknown route answers the error shape with NOT_FOUND', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      statusCode: 404,
      code: 'NOT_FOUND',
      message: 'Route GET /v1/nothing-here not found',
    });
  });

  it('malformed JSON answers 400 VALIDATION_FAILED', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/verify',
      headers: { 'content-type': 'application/json' },
      payload: '{"message":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
  });

  it('a 5xx never shows its internal message or details', () => {
    const body = toErrorBody(
      new BaseError('password=hunter2 in connection string', { code: 'INTERNAL', details: { secret: 1 } }),
    );
    expect(body).toEqual({ statusCode: 500, code: 'INTERNAL', message: 'Internal server error' });
    expect(toErrorBody(new Error('boom at /srv/app.ts:12'))).toEqual({
      statusCode: 500,
      code: 'INTERNAL',
      message: 'Internal server error',
    });
  });

  it('sets security headers (helmet)', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });

  it('rate-limits per client with 429 RATE_LIMITED', async () => {
    const limited = await createTestApp({ db, overrides: { RATE_LIMIT_MAX: 2 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        codes.push((await limited.app.inject({ method: 'GET', url: '/v1/portfolios' })).statusCode);
      }
      expect(codes).toEqual([200, 200, 429]);
      const res = await limited.app.inject({ method: 'GET', url: '/v1/portfolios' });
      expect(res.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    } finally {
      await limited.app.close();
      limited.redis.disconnect();
    }
  });
});

describe('config', () => {
  it('names the variable that is invalid', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'not a url', PORT: '3000' })).toThrow(/DATABASE_URL/);
    try {
      loadConfig({ LOAN_TAPE_MAX_BYTES: '-1' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BaseError);
      expect((error as BaseError).code).toBe('CONFIG_INVALID');
      expect((error as BaseError).details).toEqual([
        { variable: 'LOAN_TAPE_MAX_BYTES', message: expect.any(String) },
      ]);
    }
  });

  it('fills defaults (DATA_DIR .data)', () => {
    const config = loadConfig({});
    expect(config.DATA_DIR).toBe('.data');
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PORT).toBe(3000);
  });
});
