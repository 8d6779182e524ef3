/**
 * The BullMQ dashboard (bull-board) at /admin/queues, for admin API keys only. Registered only when
 * Redis is configured (else 404).
 *
 * Authentication, either:
 * - `Authorization: Bearer npl_...` with an admin key (curl, the JSON API under /admin/queues/api), or
 * - in a browser, open `/admin/queues?key=npl_...` once: the key is checked and exchanged for a
 *   dashboard session (a random token, its SHA-256 kept in Redis for DASHBOARD_SESSION_TTL_SECONDS
 *   with the key's id), the token goes into an HttpOnly, SameSite=Strict cookie scoped to
 *   /admin/queues, and the browser is redirected to the URL without the key (so it stays out of the
 *   address bar and history); the UI's own requests carry the cookie. The key itself is never in the
 *   cookie, and request logs carry the path without the query (server/app.ts `requestLogFields`).
 *   Revoking the key ends its sessions at once; a lost or expired session means opening `?key=` again.
 * Anything else answers 401 (no credential) or 403 (a key that is not admin).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_KEY_PREFIX, generateSecret, hashSecret } from '../../core/platform/auth.ts';
import { ForbiddenError, UnauthorizedError } from '../../core/platform/errors/index.ts';
import { JOB_QUEUE } from '../../core/platform/jobs.ts';
import { QUEUE_NAMES } from '../../core/platform/queue.ts';

export const BULL_BOARD_PATH = '/admin/queues';
const COOKIE = 'npl_dashboard';
const DASHBOARD_SESSION_PREFIX = 'npd_';
/** Lifetime of a dashboard session (the cookie and its Redis entry): after it, open `?key=` again. */
export const DASHBOARD_SESSION_TTL_SECONDS = 15 * 60;

/** Redis key of a dashboard session: only the token's SHA-256, so a Redis dump holds no usable cookie. */
export const dashboardSessionKey = (prefix: string, token: string) =>
  `${prefix}:dashboard-session:${hashSecret(token)}`;

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

export async function bullBoardPlugin(app: FastifyInstance): Promise<void> {
  const redis = app.redis;
  if (redis === null) return;
  const names = [...new Set<string>([...Object.values(QUEUE_NAMES), ...Object.values(JOB_QUEUE)])].sort();
  const queues = names.map((name) => new Queue(name, { connection: redis, prefix: app.config.QUEUE_PREFIX }));
  app.addHook('onClose', async () => {
    await Promise.all(queues.map((queue) => queue.close()));
  });

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    // @bull-board/fastify brings its own copy of @bull-board/api (one patch version older): same shapes
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'NPL marketplace queues' } },
  });

  /** The id of the API key (by its plaintext or id) if it is an unrevoked admin key. */
  const adminKeyId = async (where: { key: string } | { id: string }): Promise<string | undefined> => {
    const row = await app.prisma.apiKey.findUnique({
      where: 'key' in where ? { keyHash: hashSecret(where.key) } : { id: where.id },
    });
    return row !== null && row.revokedAt === null && row.role === 'admin' ? row.id : undefined;
  };
  const fromSession = async (token: string | undefined): Promise<boolean> => {
    if (token === undefined || !token.startsWith(DASHBOARD_SESSION_PREFIX)) return false;
    const keyId = await redis.get(dashboardSessionKey(app.config.QUEUE_PREFIX, token));
    return keyId !== null && (await adminKeyId({ id: keyId })) !== undefined;
  };

  await app.register(
    async (board) => {
      // runs after the global auth hook, which resolved a Bearer header into request.principal
      board.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        const principal = request.principal;
        if (principal !== null) {
          if (principal.kind === 'apiKey' && principal.role === 'admin') return;
          throw new ForbiddenError('The queue dashboard needs an admin API key');
        }
        const query = (request.query ?? {}) as Record<string, unknown>;
        const fromQuery = typeof query.key === 'string' ? query.key : undefined;
        if (fromQuery !== undefined) {
          const keyId = fromQuery.startsWith(API_KEY_PREFIX)
            ? await adminKeyId({ key: fromQuery })
            : undefined;
          if (keyId === undefined) throw new UnauthorizedError('Invalid admin API key');
          const token = generateSecret(DASHBOARD_SESSION_PREFIX);
          await redis.set(
            dashboardSessionKey(app.config.QUEUE_PREFIX, token),
            keyId,
            'EX',
            DASHBOARD_SESSION_TTL_SECONDS,
          );
          const url = new URL(request.url, 'http://localhost');
          url.searchParams.delete('key');
          const secure = request.protocol === 'https' ? '; Secure' : '';
          reply.header(
            'set-cookie',
            `${COOKIE}=${token}; Path=${BULL_BOARD_PATH}; Max-Age=${DASHBOARD_SESSION_TTL_SECONDS}; HttpOnly; SameSite=Strict${secure}`,
          );
          return reply.redirect(`${url.pathname}${url.search}`, 303);
        }
        if (await fromSession(cookieValue(request.headers.cookie, COOKIE))) return;
        throw new UnauthorizedError(
          `Admin API key required: Authorization: Bearer npl_..., or open ${BULL_BOARD_PATH}?key=npl_... once`,
        );
      });
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: BULL_BOARD_PATH },
  );
}
