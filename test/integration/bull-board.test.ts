import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../core/platform/auth.ts';
import { createRedis } from '../../core/platform/queue.ts';
import { buildApp } from '../../server/app.ts';
import { DASHBOARD_SESSION_TTL_SECONDS, dashboardSessionKey } from '../../server/plugins/bull-board.ts';
import { testConfig } from '../helpers/app.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';

/** The queue dashboard's browser login: the admin key never reaches a log line nor the cookie. */

let db: TestDatabase;
let redis: Redis;
let app: Awaited<ReturnType<typeof buildApp>>;
let logs = '';

beforeAll(async () => {
  db = await createTestDatabase();
  redis = createRedis(REDIS_URL);
  const config = testConfig(db.url, { QUEUE_PREFIX: `bull-board-test-${process.pid}` });
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  // the app's request logging at info, as `npm start` and server/main.ts run it
  app = await buildApp({ config, db, redis, chain: null, logger: { level: 'info', stream } });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  redis?.disconnect();
  await db?.drop();
});

const adminKey = async () => createApiKey(db.prisma, { role: 'admin', owner: 'platform' });

/** Opens the dashboard with `?key=` as a browser would; returns the answer and the cookie it set. */
async function openWithKey(key: string) {
  const res = await app.inject({ method: 'GET', url: `/admin/queues?key=${encodeURIComponent(key)}` });
  const cookie = String(res.headers['set-cookie'] ?? '').split(';')[0];
  return { res, cookie };
}

describe('/admin/queues?key= (browser login)', () => {
  it('logs the path without the query, and the cookie carries a dashboard session, not the key', async () => {
    const { key } = await adminKey();
    const { res, cookie } = await openWithKey(key);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/queues');

    expect(logs).toContain('"url":"/admin/queues"');
    expect(logs).not.toContain(key);
    expect(logs).not.toContain(encodeURIComponent(key));

    expect(cookie).toMatch(/^npl_dashboard=npd_[A-Za-z0-9_-]{43}$/);
    expect(cookie).not.toContain(key);
    expect(cookie).not.toContain(encodeURIComponent(key));
    expect(String(res.headers['set-cookie'])).toContain(`Max-Age=${DASHBOARD_SESSION_TTL_SECONDS}`);

    const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('NPL marketplace queues');
  });

  it('the session is short-lived: Redis holds only its hash, expiring after DASHBOARD_SESSION_TTL_SECONDS', async () => {
    const { key, id } = await adminKey();
    const { cookie } = await openWithKey(key);
    const token = cookie.split('=')[1];
    const entry = dashboardSessionKey(`bull-board-test-${process.pid}`, token);
    expect(await redis.get(entry)).toBe(id);
    const ttl = await redis.ttl(entry);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(DASHBOARD_SESSION_TTL_SECONDS);
    // an expired (here: removed) session is no login
    await redis.del(entry);
    const res = await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(res.statusCode).toBe(401);
  });

  it('revoking the key ends its dashboard sessions; a forged cookie (the key itself) is refused', async () => {
    const { key, id } = await adminKey();
    const { cookie } = await openWithKey(key);
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } })).statusCode).toBe(
      200,
    );
    await db.prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } })).statusCode).toBe(
      401,
    );

    const other = await adminKey();
    for (const forged of [
      `npl_dashboard=${other.key}`,
      'npl_dashboard=npd_notASessionAnyoneWasGiven',
      'npl_dashboard=%E0%A4%A',
    ]) {
      const res = await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: forged } });
      expect(res.statusCode, forged).toBe(401);
    }
  });

  it('a key that is not admin is refused and starts no session', async () => {
    const { key } = await createApiKey(db.prisma, { role: 'issuer', owner: 'acme' });
    const { res, cookie } = await openWithKey(key);
    expect(res.statusCode).toBe(401);
    expect(cookie).toBe('');
    expect(logs).not.toContain(key);
  });
});
