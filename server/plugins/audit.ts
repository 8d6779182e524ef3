import { globalPlugin } from './global-plugin.ts';

/**
 * Audit log: one `audit_log` row for every state-changing call (any method but GET/HEAD/OPTIONS),
 * accepted or not: who (API key id / investor address / anonymous), what (method and route, the
 * resource, the answer's status code), when. Written before the answer leaves (onSend), so a test
 * can read it right after `inject`. Bodies are not logged (loan tapes, personal data).
 */

export type AuditResource = { type: string; id?: string; details?: Record<string, unknown> };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a route to name the resource it changed (e.g. the id of a created portfolio). */
    audit: AuditResource | null;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const auditPlugin = globalPlugin(async (app) => {
  app.decorateRequest('audit', null);

  app.addHook('onSend', async (request, reply, payload) => {
    if (READ_METHODS.has(request.method)) return payload;
    const route = request.routeOptions.url ?? request.url.split('?')[0];
    const params = (request.params ?? {}) as Record<string, string>;
    const fallbackType = /^\/v1\/([a-z-]+)/.exec(route)?.[1]?.replace(/s$/, '') ?? null;
    const p = request.principal;
    try {
      await app.prisma.auditLog.create({
        data: {
          actorType: p === null ? 'anonymous' : p.kind === 'apiKey' ? 'api_key' : 'session',
          actorId: p === null ? null : p.kind === 'apiKey' ? p.keyId : p.address,
          actorRole: p === null ? null : p.kind === 'apiKey' ? p.role : 'investor',
          action: `${request.method} ${route}`,
          resourceType: request.audit?.type ?? fallbackType,
          resourceId: request.audit?.id ?? params.id ?? null,
          statusCode: reply.statusCode,
          requestId: request.id,
          ip: request.ip,
          details: { params, ...(request.audit?.details ?? {}) },
        },
      });
    } catch (error) {
      request.log.error({ err: error }, 'could not write the audit log');
    }
    return payload;
  });
});
