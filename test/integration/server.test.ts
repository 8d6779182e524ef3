import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../core/db/index.ts';
import { loadConfig } from '../../core/platform/config.ts';
import { BaseError, InternalError } from '../../core/platform/errors/index.ts';
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

  it('runs its probes once for many hits within HEALTH_CACHE_MS, one run at a time, and is rate-limited', async () => {
    const app = await createTestApp({ db, overrides: { HEALTH_CACHE_MS: 60_000, RATE_LIMIT_MAX: 30 } });
    // count what the probes send to the real Postgres and Redis
    const counts = { select1: 0, ping: 0, clientList: 0 };
    const pool = app.db.pool;
    const query = pool.query;
    pool.query = ((...args: Parameters<typeof query>) => {
      if (args[0] === 'SELECT 1') counts.select1++;
      return (query as (...a: unknown[]) => unknown).apply(pool, args);
    }) as typeof query;
    const redis = app.redis;
    const sendCommand = redis.sendCommand;
    redis.sendCommand = ((...args: Parameters<typeof sendCommand>) => {
      const [command] = args;
      if (command.name === 'ping') counts.ping++;
      if (command.name === 'client' && String(command.args[0]).toUpperCase() === 'LIST') counts.clientList++;
      return sendCommand.apply(redis, args);
    }) as typeof sendCommand;
    try {
      const hit = () => app.app.inject({ method: 'GET', url: '/health' });
      const concurrent = await Promise.all(Array.from({ length: 20 }, hit));
      const sequential = [];
      for (let i = 0; i < 10; i++) sequential.push(await hit());
      for (const res of [...concurrent, ...sequential]) expect(res.statusCode).toBe(200);
      expect(new Set([...concurrent, ...sequential].map((r) => r.json().checkedAt)).size).toBe(1);
      // one run: one SELECT 1, one CLIENT LIST per queue (BullMQ itself may PING now and then: below 30)
      expect(counts.select1).toBe(1);
      expect(counts.ping).toBeLessThan(5);
      const listsPerRun = counts.clientList;
      expect(listsPerRun).toBeGreaterThan(0);
      expect(listsPerRun).toBeLessThan(10);
      const pings = counts.ping;
      // the 31st hit of the window is refused before any probe
      const limited = await hit();
      expect(limited.statusCode).toBe(429);
      expect(limited.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
      expect(counts).toEqual({ select1: 1, ping: pings, clientList: listsPerRun });
    } finally {
      pool.query = query;
      redis.sendCommand = sendCommand;
      await app.app.close();
      app.redis.disconnect();
    }
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
      new InternalError('password=hunter2 in connection string', { details: { secret: 1 } }),
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

describe('client IP behind proxies (TRUST_PROXY)', () => {
  const proxy = '10.0.0.7';
  const stranger = '203.0.113.9';
  let limited: TestApp;

  beforeAll(async () => {
    // production, where trusting every peer's X-Forwarded-For used to be on
    limited = await createTestApp({
      db,
      overrides: { NODE_ENV: 'production', RATE_LIMIT_MAX: 2, TRUST_PROXY: [proxy], CHAIN_ID: 31337 },
    });
  });
  afterAll(async () => {
    await limited?.app.close();
    limited?.redis.disconnect();
  });

  /** An anonymous state-changing call (audited) from `remoteAddress` claiming `forwardedFor`. */
  const call = (remoteAddress: string, forwardedFor: string) =>
    limited.app.inject({
      method: 'POST',
      url: '/v1/auth/nonce',
      remoteAddress,
      headers: { 'x-forwarded-for': forwardedFor },
    });

  it('a peer that is not a configured proxy cannot choose its IP: rotating X-Forwarded-For is still rate-limited', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await call(stranger, `198.51.100.${i + 1}`)).statusCode);
    expect(codes).toEqual([201, 201, 429]);
    expect(await db.prisma.auditLog.count({ where: { action: 'POST /v1/auth/nonce', ip: stranger } })).toBe(
      3,
    );
    expect(await db.prisma.auditLog.count({ where: { ip: { startsWith: '198.51.100.' } } })).toBe(0);
  });

  it('a configured proxy sets the client IP: each forwarded client has its own limit and audit IP', async () => {
    const codes: number[] = [];
    for (const client of ['192.0.2.1', '192.0.2.1', '192.0.2.2', '192.0.2.2']) {
      codes.push((await call(proxy, client)).statusCode);
    }
    expect(codes).toEqual([201, 201, 201, 201]);
    expect((await call(proxy, '192.0.2.1')).statusCode).toBe(429);
    expect(
      await db.prisma.auditLog.count({ where: { action: 'POST /v1/auth/nonce', ip: '192.0.2.2' } }),
    ).toBe(2);
    expect(await db.prisma.auditLog.count({ where: { action: 'POST /v1/auth/nonce', ip: proxy } })).toBe(0);
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

  it('TRUST_PROXY is a list of addresses and CIDRs; anything else is refused with the variable named', () => {
    expect(loadConfig({}).TRUST_PROXY).toBeUndefined();
    expect(loadConfig({ TRUST_PROXY: ' 10.0.0.1, 10.1.0.0/16,loopback , fd00::/8' }).TRUST_PROXY).toEqual([
      '10.0.0.1',
      '10.1.0.0/16',
      'loopback',
      'fd00::/8',
    ]);
    for (const bad of ['true', '10.0.0.0/33', 'proxy.example.com']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
    }
  });

  it('production needs SIWE_DOMAIN and CHAIN_ID set, and names each one missing', () => {
    try {
      loadConfig({ NODE_ENV: 'production' });
      expect.unreachable();
    } catch (error) {
      expect((error as BaseError).code).toBe('CONFIG_INVALID');
      expect((error as BaseError).message).toMatch(/SIWE_DOMAIN, CHAIN_ID/);
      expect((error as BaseError).details).toEqual([
        { variable: 'SIWE_DOMAIN', message: 'is required when NODE_ENV is production' },
        { variable: 'CHAIN_ID', message: 'is required when NODE_ENV is production' },
      ]);
    }
    expect(() => loadConfig({ NODE_ENV: 'production', SIWE_DOMAIN: 'app.example.com' })).toThrow(/CHAIN_ID/);
    expect(() => loadConfig({ NODE_ENV: 'production', CHAIN_ID: '1', SIWE_DOMAIN: ' ' })).toThrow(
      /SIWE_DOMAIN/,
    );
    const config = loadConfig({ NODE_ENV: 'production', SIWE_DOMAIN: 'app.example.com', CHAIN_ID: '1' });
    expect(config).toMatchObject({ SIWE_DOMAIN: 'app.example.com', CHAIN_ID: 1 });
    // outside production the development defaults stay
    expect(loadConfig({}).SIWE_DOMAIN).toBe('localhost');
  });

  it('SIWE_ORIGIN is an origin (scheme://host[:port]), nothing more', () => {
    expect(loadConfig({ SIWE_ORIGIN: 'https://app.example.com/' }).SIWE_ORIGIN).toBe(
      'https://app.example.com',
    );
    for (const bad of ['https://app.example.com/login', 'ftp://app.example.com', 'app.example.com']) {
      expect(() => loadConfig({ SIWE_ORIGIN: bad }), bad).toThrow(/SIWE_ORIGIN/);
    }
  });

  it('fills defaults (DATA_DIR .data)', () => {
    const config = loadConfig({});
    expect(config.DATA_DIR).toBe('.data');
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PORT).toBe(3000);
  });
});
