/**
 * The BullMQ dashboard (bull-board) at /admin/queues, for admin API keys only. Registered only when
 * Redis is configured (else 404).
 *
 * Authentication, either:
 * - `Authorization: Bearer npl_...` with an admin key (curl, the JSON API under /admin/queues/api), or
 * - in a browser, open `/admin/queues?key=npl_...` once: the key is checked, kept in an HttpOnly,
 *   SameSite=Strict cookie scoped to /admin/queues, and the browser is redirected to the URL without
 *   the key (so it stays out of the address bar and history); the UI's own requests carry the cookie.
 * Anything else answers 401 (no credential) or 403 (a key that is not admin).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_KEY_PREFIX, hashSecret } from '../../core/platform/auth.ts';
import { forbidden, unauthorized } from '../../core/platform/errors.ts';
import { JOB_QUEUE } from '../../core/platform/jobs.ts';
import { QUEUE_NAMES } from '../../core/platform/queue.ts';

export const BULL_BOARD_PATH = '/admin/queues';
const COOKIE = 'npl_admin_key';

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
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

  const isAdminKey = async (key: string | undefined): Promise<boolean> => {
    if (key === undefined || !key.startsWith(API_KEY_PREFIX)) return false;
    const row = await app.prisma.apiKey.findUnique({ where: { keyHash: hashSecret(key) } });
    return row !== null && row.revokedAt === null && row.role === 'admin';
  };

  await app.register(
    async (board) => {
      // runs after the global auth hook, which resolved a Bearer header into request.principal
      board.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        const principal = request.principal;
        if (principal !== null) {
          if (principal.kind === 'apiKey' && principal.role === 'admin') return;
          throw forbidden('The queue dashboard needs an admin API key');
        }
        const query = (request.query ?? {}) as Record<string, unknown>;
        const fromQuery = typeof query.key === 'string' ? query.key : undefined;
        if (fromQuery !== undefined) {
          if (!(await isAdminKey(fromQuery))) throw unauthorized('Invalid admin API key');
          const url = new URL(request.url, 'http://localhost');
          url.searchParams.delete('key');
          const secure = request.protocol === 'https' ? '; Secure' : '';
          reply.header(
            'set-cookie',
            `${COOKIE}=${encodeURIComponent(fromQuery)}; Path=${BULL_BOARD_PATH}; HttpOnly; SameSite=Strict${secure}`,
          );
          return reply.redirect(`${url.pathname}${url.search}`, 303);
        }
        if (await isAdminKey(cookieValue(request.headers.cookie, COOKIE))) return;
        throw unauthorized(
          `Admin API key required: Authorization: Bearer npl_..., or open ${BULL_BOARD_PATH}?key=npl_... once`,
        );
      });
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: BULL_BOARD_PATH },
  );
}
