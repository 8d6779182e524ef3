import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { ApiKeyRole } from '../../core/db/index.ts';
import { API_KEY_PREFIX, hashSecret, SESSION_TOKEN_PREFIX } from '../../core/platform/auth.ts';
import {
  ForbiddenError,
  NotAllowlistedError,
  SessionExpiredError,
  UnauthorizedError,
} from '../../core/platform/errors/index.ts';
import { globalPlugin } from './global-plugin.ts';

/**
 * Who is calling. Issuers, servicers and admins send `Authorization: Bearer npl_...` (API key);
 * investors send the session token from SIWE sign-in, `Bearer nps_...`. No header: anonymous.
 * A header that does not resolve (unknown, revoked or expired credential) is always a 401, even on
 * public routes, so a client never silently acts anonymously.
 */
export type Principal =
  | { kind: 'apiKey'; keyId: string; role: ApiKeyRole; owner: string; name: string }
  | { kind: 'session'; sessionId: string; address: string; chainId: number; expiresAt: Date };

/**
 * Who may call a route, declared in its options as `config: { auth }`:
 * - `{ roles }`: an API key with one of `roles` (admins pass every role check);
 * - `'credential'`: any resolved credential, API key or investor session (the handler checks access
 *   to the resource, e.g. the data room).
 * Routes without `auth` are public. The check runs in `onRequest`, before the body is read, parsed
 * or validated: an anonymous caller gets 401 (a wrong role 403) whatever it sent, and so learns
 * nothing of the route's schema. The route's OpenAPI `security` is derived from the same declaration.
 */
export type RouteAuth = { roles: readonly ApiKeyRole[] } | 'credential';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

const signInFirst = 'Sign in first (POST /v1/auth/nonce, /v1/auth/verify)';

function authorize(auth: RouteAuth): onRequestAsyncHookHandler {
  if (auth === 'credential') {
    return async (request) => {
      if (request.principal === null) throw new UnauthorizedError(signInFirst);
    };
  }
  const { roles } = auth;
  return async (request) => {
    const p = request.principal;
    if (p === null) throw new UnauthorizedError('API key required');
    if (p.kind !== 'apiKey') throw new ForbiddenError(`Requires an API key with role ${roles.join(' or ')}`);
    if (p.role !== 'admin' && !roles.includes(p.role)) {
      throw new ForbiddenError(`Requires role ${roles.join(' or ')}; this key is ${p.role}`);
    }
  };
}

const LAST_USED_RESOLUTION_MS = 60_000;

export const authPlugin = globalPlugin(async (app) => {
  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined) return;
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new UnauthorizedError('Authorization header must be `Bearer <token>`');
    const token = match[1];
    if (token.startsWith(API_KEY_PREFIX)) {
      const key = await app.prisma.apiKey.findUnique({ where: { keyHash: hashSecret(token) } });
      if (key === null || key.revokedAt !== null) throw new UnauthorizedError('Invalid API key');
      request.principal = { kind: 'apiKey', keyId: key.id, role: key.role, owner: key.owner, name: key.name };
      if (key.lastUsedAt === null || Date.now() - key.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
        app.prisma.apiKey
          .update({ where: { id: key.id }, data: { lastUsedAt: new Date() } })
          .catch((error) => request.log.warn({ err: error }, 'could not record API key use'));
      }
      return;
    }
    if (token.startsWith(SESSION_TOKEN_PREFIX)) {
      const session = await app.prisma.session.findUnique({ where: { tokenHash: hashSecret(token) } });
      if (session === null || session.revokedAt !== null)
        throw new UnauthorizedError('Invalid session token');
      if (session.expiresAt.getTime() <= Date.now()) {
        throw new SessionExpiredError('Session expired; sign in again', { statusCode: 401 });
      }
      request.principal = {
        kind: 'session',
        sessionId: session.id,
        address: session.address,
        chainId: session.chainId,
        expiresAt: session.expiresAt,
      };
      return;
    }
    throw new UnauthorizedError('Unknown credential');
  });

  // every route added after this plugin: its declared `auth` becomes an onRequest check (after the
  // hook above resolved the credential) and its OpenAPI security requirement
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    if (auth === undefined) return;
    const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [authorize(auth), ...existing];
    route.schema = {
      ...route.schema,
      security: auth === 'credential' ? [{ session: [] }, { apiKey: [] }] : [{ apiKey: [] }],
    };
  });
});

/** Issuer keys may only change portfolios of their own owner; admins may change any. */
export function assertOwns(principal: Principal | null, portfolio: { owner: string }): void {
  if (principal === null) throw new UnauthorizedError();
  if (principal.kind !== 'apiKey') throw new ForbiddenError();
  if (principal.role === 'admin') return;
  if (principal.owner !== portfolio.owner)
    throw new ForbiddenError('This portfolio belongs to another issuer');
}

/**
 * Access to a portfolio's loan tape and data room: a signed-in investor who is allowlisted (not
 * expired, not frozen), the issuer that owns the portfolio, or an admin.
 */
export async function assertDataRoomAccess(
  request: FastifyRequest,
  portfolio: { owner: string },
): Promise<void> {
  const p = request.principal;
  if (p === null) throw new UnauthorizedError(signInFirst);
  if (p.kind === 'apiKey') {
    if (p.role === 'admin' || (p.role === 'issuer' && p.owner === portfolio.owner)) return;
    throw new ForbiddenError('The data room is for allowlisted investors and the issuer');
  }
  const investor = await request.server.prisma.investor.findUnique({ where: { address: p.address } });
  const now = Date.now();
  if (
    investor === null ||
    investor.frozen ||
    investor.allowlistedUntil === null ||
    investor.allowlistedUntil.getTime() <= now
  ) {
    throw new NotAllowlistedError(`Investor ${p.address} is not allowlisted`, { statusCode: 403 });
  }
}
