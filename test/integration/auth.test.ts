import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../scripts/cli/run.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { apiKeyHeaders, bearer, signedSiweMessage, signIn, verify } from '../helpers/auth.ts';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const draft = {
  name: 'Auth test portfolio',
  assetClass: 'mixed',
  jurisdiction: 'IT',
  currency: 'EUR',
  askingPrice: '1000000',
  servicerAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  fees: { servicerBps: 100, protocolBps: 50 },
  tranches: [{ name: 'Residual', symbol: 'RES', face: '1000000' }],
};

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    cwd: process.cwd(),
    readStdin: async () => '',
  });
  return { code, out, err };
}

describe('API keys', () => {
  it('`cli api-key create` prints the key once and stores only its SHA-256', async () => {
    process.env.DATABASE_URL = t.db.url;
    const { code, out } = await cli(['api-key', 'create', '--role', 'issuer', '--owner', 'acme', '--json']);
    expect(code).toBe(0);
    const created = JSON.parse(out);
    expect(created.key).toMatch(/^npl_[A-Za-z0-9_-]{43}$/);
    const row = await t.db.prisma.apiKey.findUniqueOrThrow({ where: { id: created.id } });
    expect(row.keyHash).toBe(sha256(created.key));
    expect(JSON.stringify(row)).not.toContain(created.key);
    const who = await t.app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(created.key) });
    expect(who.json()).toEqual({ kind: 'apiKey', role: 'issuer', owner: 'acme', name: 'issuer key' });
    const audit = await t.db.prisma.auditLog.findFirst({
      where: { action: 'cli api-key create', resourceId: created.id },
    });
    expect(audit).not.toBeNull();
  });

  it('`cli api-key create` rejects an unknown role', async () => {
    process.env.DATABASE_URL = t.db.url;
    const { code, err } = await cli(['api-key', 'create', '--role', 'boss']);
    expect(code).toBe(1);
    expect(err).toContain('--role must be one of issuer, servicer, admin');
  });

  it('a revoked key answers 401', async () => {
    process.env.DATABASE_URL = t.db.url;
    const created = JSON.parse((await cli(['api-key', 'create', '--role', 'issuer', '--json'])).out);
    expect((await cli(['api-key', 'revoke', '--id', created.id])).code).toBe(0);
    const res = await t.app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(created.key) });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('UNAUTHORIZED');
  });

  it('no key answers 401 UNAUTHORIZED on an issuer route', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: draft });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    expect(await t.db.prisma.portfolio.count()).toBe(0);
  });

  it('a wrong key answers 401 UNAUTHORIZED', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/portfolios',
      payload: draft,
      headers: bearer('npl_thisIsNotAKeyThatExistsAnywhere0000000000'),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'UNAUTHORIZED', message: 'Invalid API key' });
  });

  it('a malformed Authorization header answers 401', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/portfolios',
      headers: { authorization: 'Basic abc' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('UNAUTHORIZED');
  });

  it('a key with the wrong role answers 403 FORBIDDEN', async () => {
    const headers = await apiKeyHeaders(t.db.prisma, 'servicer');
    const res = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: draft, headers });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('issuer') });
    expect(await t.db.prisma.portfolio.count()).toBe(0);
  });

  it('an investor session answers 403 on an issuer route', async () => {
    const { headers } = await signIn(t);
    const res = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: draft, headers });
    expect(res.statusCode).toBe(403);
  });

  it('an admin key passes an issuer role check', async () => {
    const headers = await apiKeyHeaders(t.db.prisma, 'admin', 'platform');
    const res = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: draft, headers });
    expect(res.statusCode).toBe(201);
  });

  it('two issuer keys created without --owner get distinct owners and cannot touch each other’s portfolios', async () => {
    process.env.DATABASE_URL = t.db.url;
    const first = JSON.parse((await cli(['api-key', 'create', '--role', 'issuer', '--json'])).out);
    const second = JSON.parse((await cli(['api-key', 'create', '--role', 'issuer', '--json'])).out);
    expect(first.owner).not.toBe(second.owner);
    expect(first.owner).toBe(`key:${first.id}`);
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/portfolios',
      payload: draft,
      headers: bearer(first.key),
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    const publish = await t.app.inject({
      method: 'POST',
      url: `/v1/portfolios/${id}/publish`,
      headers: bearer(second.key),
    });
    expect(publish.statusCode).toBe(403);
    expect(publish.json()).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringContaining('another issuer'),
    });
    // the same owner, given explicitly, is shared on purpose
    const sameOrg = JSON.parse(
      (await cli(['api-key', 'create', '--role', 'issuer', '--owner', first.owner, '--json'])).out,
    );
    expect(sameOrg.owner).toBe(first.owner);
  });
});

describe('SIWE sign-in', () => {
  it('POST /v1/auth/nonce then /v1/auth/verify returns a session token stored hashed', async () => {
    const signed = await signedSiweMessage(t);
    const res = await verify(t, signed);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.address).toBe(signed.account.address);
    expect(body.token).toMatch(/^nps_/);
    expect(new Date(body.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const session = await t.db.prisma.session.findUniqueOrThrow({ where: { tokenHash: sha256(body.token) } });
    expect(session.address).toBe(signed.account.address);
    const who = await t.app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(body.token) });
    expect(who.json()).toMatchObject({ kind: 'session', address: signed.account.address, chainId: 31337 });
    const nonce = await t.db.prisma.signInNonce.findUniqueOrThrow({ where: { nonce: signed.nonce } });
    expect(nonce.usedAt).not.toBeNull();
  });

  it('a signature by another key answers 401 SIGNATURE_INVALID and leaves the nonce usable', async () => {
    const other = await signedSiweMessage(t);
    const signed = await signedSiweMessage(t, { signer: other.account });
    const res = await verify(t, signed);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ statusCode: 401, code: 'SIGNATURE_INVALID' });
    expect(await t.db.prisma.session.count({ where: { address: signed.account.address } })).toBe(0);
    const retry = await signedSiweMessage(t, { account: signed.account, nonce: signed.nonce });
    expect((await verify(t, retry)).statusCode).toBe(200);
  });

  it('a garbage signature answers 401 SIGNATURE_INVALID', async () => {
    const signed = await signedSiweMessage(t);
    const res = await verify(t, { message: signed.message, signature: '0x1234' });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('SIGNATURE_INVALID');
  });

  it('a reused nonce answers 401 NONCE_INVALID', async () => {
    const signed = await signedSiweMessage(t);
    expect((await verify(t, signed)).statusCode).toBe(200);
    const again = await verify(t, signed);
    expect(again.statusCode).toBe(401);
    expect(again.json()).toMatchObject({ code: 'NONCE_INVALID' });
  });

  it('an expired nonce answers 401 NONCE_INVALID', async () => {
    const signed = await signedSiweMessage(t);
    await t.db.prisma.signInNonce.update({
      where: { nonce: signed.nonce },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const res = await verify(t, signed);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('NONCE_INVALID');
  });

  it('a nonce the server never issued answers 401 NONCE_INVALID', async () => {
    const signed = await signedSiweMessage(t, { nonce: 'neverIssued1234567' });
    const res = await verify(t, signed);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('NONCE_INVALID');
  });

  it('a message for another domain answers 401 SIGNATURE_INVALID', async () => {
    const signed = await signedSiweMessage(t, { domain: 'evil.example' });
    const res = await verify(t, signed);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({
      code: 'SIGNATURE_INVALID',
      message: expect.stringContaining('evil.example'),
    });
  });

  it('a message whose uri is on another origin answers 401 SIGNATURE_INVALID and leaves the nonce usable', async () => {
    const nonce = (await t.app.inject({ method: 'POST', url: '/v1/auth/nonce' })).json();
    expect(nonce.uriOrigin).toBe(`https://${t.config.SIWE_DOMAIN}`);
    for (const uri of ['https://phishing.example/login', `https://${t.config.SIWE_DOMAIN}.evil.example/`]) {
      const res = await verify(t, await signedSiweMessage(t, { uri, nonce: nonce.nonce }));
      expect(res.statusCode, uri).toBe(401);
      expect(res.json()).toMatchObject({ code: 'SIGNATURE_INVALID', message: expect.stringContaining(uri) });
    }
    const ok = await verify(t, await signedSiweMessage(t, { nonce: nonce.nonce }));
    expect(ok.statusCode).toBe(200);
  });

  it('SIWE_ORIGIN sets the one origin a uri may have; in production plain http is refused', async () => {
    const pinned = await createTestApp({ db: t.db, overrides: { SIWE_ORIGIN: 'https://app.npl.test:8443' } });
    const production = await createTestApp({
      db: t.db,
      overrides: { NODE_ENV: 'production', CHAIN_ID: 31337 },
    });
    try {
      const onOrigin = await verify(
        pinned,
        await signedSiweMessage(pinned, { uri: 'https://app.npl.test:8443/in' }),
      );
      expect(onOrigin.statusCode, onOrigin.body).toBe(200);
      const onDomain = await verify(pinned, await signedSiweMessage(pinned));
      expect(onDomain.json()).toMatchObject({ statusCode: 401, code: 'SIGNATURE_INVALID' });

      const http = `http://${production.config.SIWE_DOMAIN}/login`;
      const plain = await verify(production, await signedSiweMessage(production, { uri: http }));
      expect(plain.json()).toMatchObject({ statusCode: 401, code: 'SIGNATURE_INVALID' });
      expect((await verify(production, await signedSiweMessage(production))).statusCode).toBe(200);
    } finally {
      await pinned.close();
      await production.close();
    }
  });

  it('a message past its expiration time answers 401 SIGNATURE_INVALID', async () => {
    const signed = await signedSiweMessage(t, { expirationTime: new Date(Date.now() - 60_000) });
    const res = await verify(t, signed);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('SIGNATURE_INVALID');
  });

  it('a text that is not a SIWE message answers 401 SIGNATURE_INVALID', async () => {
    const res = await verify(t, { message: 'hello', signature: '0x00' });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('SIGNATURE_INVALID');
  });

  it('a missing signature answers 400 VALIDATION_FAILED with the field', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { message: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: 'body.signature', message: expect.any(String) }],
    });
  });

  it('an expired session answers 401 SESSION_EXPIRED', async () => {
    const { token, headers } = await signIn(t);
    expect((await t.app.inject({ method: 'GET', url: '/v1/auth/session', headers })).statusCode).toBe(200);
    await t.db.prisma.session.update({
      where: { tokenHash: sha256(token) },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    const res = await t.app.inject({ method: 'GET', url: '/v1/auth/session', headers });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('logout revokes the session', async () => {
    const { headers } = await signIn(t);
    const out = await t.app.inject({ method: 'POST', url: '/v1/auth/logout', headers });
    expect(out.statusCode).toBe(204);
    const res = await t.app.inject({ method: 'GET', url: '/v1/auth/session', headers });
    expect(res.statusCode).toBe(401);
  });
});

describe('audit log', () => {
  it('records every state-changing call, accepted or refused, with who and the answer', async () => {
    const headers = await apiKeyHeaders(t.db.prisma, 'issuer', 'audited');
    const key = await t.db.prisma.apiKey.findFirstOrThrow({ where: { owner: 'audited' } });
    const ok = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: draft, headers });
    const refused = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: draft });
    const rows = await t.db.prisma.auditLog.findMany({
      where: { action: 'POST /v1/portfolios' },
      orderBy: { id: 'desc' },
      take: 2,
    });
    expect(rows[1]).toMatchObject({
      actorType: 'api_key',
      actorId: key.id,
      actorRole: 'issuer',
      resourceType: 'portfolio',
      resourceId: ok.json().id,
      statusCode: 201,
    });
    expect(rows[0]).toMatchObject({ actorType: 'anonymous', actorId: null, statusCode: refused.statusCode });
    expect(refused.statusCode).toBe(401);
  });

  it('does not record reads', async () => {
    const before = await t.db.prisma.auditLog.count();
    await t.app.inject({ method: 'GET', url: '/v1/portfolios' });
    expect(await t.db.prisma.auditLog.count()).toBe(before);
  });
});

describe('authentication before validation', () => {
  /** Routes anyone may call; every other route must declare `config.auth` (and so OpenAPI `security`). */
  const publicRoutes = [
    'GET /health',
    'POST /v1/auth/nonce',
    'POST /v1/auth/verify',
    'GET /v1/portfolios',
    'GET /v1/portfolios/{id}',
    'POST /v1/documents/verify',
    'GET /v1/investors/{address}/holdings',
    'POST /v1/tranches/{id}/quotes',
    'POST /v1/purchases',
    'GET /v1/purchases/{id}',
    'POST /v1/orders',
    'GET /v1/orders',
    'GET /v1/orders/{hash}',
    'DELETE /v1/orders/{hash}',
    'POST /v1/orders/{hash}/fills',
    'GET /v1/orders/{hash}/fills/{id}',
    'POST /v1/intents/invalidations',
    'GET /v1/trades',
    'POST /v1/portfolios/{id}/waterfall/preview',
    'GET /v1/recoveries/{id}',
    'GET /v1/investors/{address}/payouts',
    'POST /v1/investors/{address}/claims',
    'GET /v1/portfolios/{id}/distributions',
    'GET /v1/distributions/{id}',
    'GET /v1/distributions/{id}/tree',
    'GET /v1/portfolios/{id}/resolution',
    'GET /v1/portfolios/{id}/performance',
  ];

  /** Every route of the app (its OpenAPI operations, built from the routes as they were added). */
  function routes() {
    const doc = t.app.swagger() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    return Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        secured: (operation.security?.length ?? 0) > 0,
      })),
    );
  }

  /** The route called with bad input everywhere: path parameters, query and body. */
  const badRequest = (method: string, path: string) => ({
    method: method as 'GET',
    url: `${path.replace(/\{[^}]+\}/g, 'not-an-id')}?limit=-1&cursor=%%&minDaysPastDue=x`,
    ...(method === 'GET' || method === 'HEAD'
      ? {}
      : { headers: { 'content-type': 'application/json' }, payload: '{"bogus":true,"name":7}' }),
  });

  it('every route but the public ones needs a credential', () => {
    const all = routes();
    expect(all.length).toBeGreaterThan(publicRoutes.length);
    expect(
      all
        .filter((r) => !r.secured)
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    ).toEqual([...publicRoutes].sort());
  });

  it('an anonymous call with a bad body, query and parameters answers 401 on every route that needs a credential', async () => {
    const secured = routes().filter((r) => r.secured);
    expect(secured.map((r) => `${r.method} ${r.path}`)).toContain('POST /v1/portfolios');
    const answers: Record<string, unknown> = {};
    for (const route of secured) {
      const res = await t.app.inject(badRequest(route.method, route.path));
      answers[`${route.method} ${route.path}`] = {
        status: res.statusCode,
        code: res.json().code,
        details: res.json().details,
      };
    }
    const expected: Record<string, unknown> = Object.fromEntries(
      Object.keys(answers).map((route) => [route, { status: 401, code: 'UNAUTHORIZED', details: undefined }]),
    );
    // the HEAD route Fastify adds to every GET is guarded the same way
    for (const route of secured.filter((r) => r.method === 'GET')) {
      const res = await t.app.inject(badRequest('HEAD', route.path));
      answers[`HEAD ${route.path}`] = { status: res.statusCode };
      expected[`HEAD ${route.path}`] = { status: 401 };
    }
    expect(answers).toEqual(expected);
  });

  it('an anonymous POST /v1/portfolios with malformed JSON or a wrong content type answers 401, not 400/415', async () => {
    for (const [type, payload] of [
      ['application/json', '{"name":'],
      ['text/plain', 'hello'],
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/portfolios',
        headers: { 'content-type': type },
        payload,
      });
      expect(res.statusCode, type).toBe(401);
    }
  });

  it('a key with the wrong role and a bad body answers 403, not 400', async () => {
    const headers = await apiKeyHeaders(t.db.prisma, 'servicer');
    const res = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: { name: 7 }, headers });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('FORBIDDEN');
  });

  it('with the right key, validation still answers 400 with the fields', async () => {
    const headers = await apiKeyHeaders(t.db.prisma, 'issuer');
    const res = await t.app.inject({ method: 'POST', url: '/v1/portfolios', payload: { name: 7 }, headers });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: expect.any(Array) });
  });
});
