import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { isUniqueViolation } from '../../core/db/unique-violation.ts';
import { BaseError, type ErrorCode, type FieldError } from '../../core/platform/errors/index.ts';
import type { ErrorBody } from '../schemas/common.ts';

/**
 * The one error handler: every error becomes `{ statusCode, code, message, details? }` with a
 * stable code (API.md). 5xx answers never carry the internal message or details; they are logged.
 * Must be set before routes are registered (Fastify binds the handler of the scope at route time).
 */

const codeByStatus: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

/** `body.tranches.1.face`-style path of a request validation issue. */
function fieldPath(context: string | undefined, instancePath: string): string {
  const rest = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  return [context, rest].filter(Boolean).join('.');
}

export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof BaseError) {
    if (error.statusCode >= 500) {
      return { statusCode: error.statusCode, code: error.code, message: 'Internal server error' };
    }
    return {
      statusCode: error.statusCode,
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const details: FieldError[] = error.validation.map((v) => ({
      path: fieldPath(error.validationContext, v.instancePath),
      message: v.message ?? 'is invalid',
    }));
    return { statusCode: 400, code: 'VALIDATION_FAILED', message: 'Request validation failed', details };
  }
  if (isResponseSerializationError(error)) {
    return { statusCode: 500, code: 'INTERNAL', message: 'Internal server error' };
  }
  const prismaCode = (error as { code?: unknown; name?: string }).code;
  if ((error as Error)?.name === 'PrismaClientKnownRequestError') {
    if (prismaCode === 'P2025') return { statusCode: 404, code: 'NOT_FOUND', message: 'Not found' };
  }
  if (isUniqueViolation(error)) return { statusCode: 409, code: 'CONFLICT', message: 'Already exists' };
  const status = (error as FastifyError)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message =
      status === 413
        ? 'Request body is too large'
        : status === 415
          ? 'Unsupported content type'
          : ((error as Error).message ?? 'Bad request');
    return { statusCode: status, code: codeByStatus[status] ?? 'VALIDATION_FAILED', message };
  }
  return { statusCode: 500, code: 'INTERNAL', message: 'Internal server error' };
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const body = toErrorBody(error);
    if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: body.code, message: body.message }, 'request rejected');
    if (body.statusCode === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '60');
    return reply.status(body.statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = {
      statusCode: 404,
      code: 'NOT_FOUND',
      message: `Route ${request.method} ${request.url.split('?')[0]} not found`,
    };
    return reply.status(404).send(body);
  });
}
