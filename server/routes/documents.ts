import type { MultipartFile } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  addDocument,
  findDocument,
  listDocuments,
  proveDocument,
  verifyDocument,
} from '../../core/catalog/documents/service.ts';
import { documentTooLarge, type HashedUpload, hashUpload } from '../../core/catalog/documents/store.ts';
import { findPortfolio } from '../../core/catalog/portfolios.ts';
import { assertDataRoomOpen } from '../../core/catalog/rules.ts';
import {
  InvalidCursorError,
  UnsupportedMediaTypeError,
  ValidationFailedError,
} from '../../core/platform/errors/index.ts';
import { assertDataRoomAccess, assertOwns } from '../plugins/auth.ts';
import {
  decodeCursor,
  encodeCursor,
  errorResponses,
  idParamsSchema,
  isUuid,
  pageOf,
} from '../schemas/common.ts';
import {
  documentProofSchema,
  documentSchema,
  listDocumentsQuerySchema,
  multipartFileBodySchema,
  toDocumentBody,
  verifyDocumentSchema,
} from '../schemas/document.ts';

/** Multipart framing allowed on top of the file itself before a declared Content-Length is refused outright. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const FILE_FIELD = 'file';
const FILE_FIELD_PATH = 'body.file';

/** Stop reading an upload we will not use; the connection closes after the answer. */
function discardBody(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  if (raw.readableEnded) return;
  raw.unpipe();
  raw.resume();
  reply.header('connection', 'close');
}

/**
 * The `file` part of a multipart request, or a 415 (not multipart) / 413 (declared too large) /
 * 400 (no `file` field). Only the first file part is read, and at most one file is accepted.
 */
async function fileField(request: FastifyRequest, maxBytes: number): Promise<MultipartFile> {
  if (!request.isMultipart()) {
    throw new UnsupportedMediaTypeError('Send the document as multipart/form-data with the field `file`', {
      statusCode: 415,
    });
  }
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  if (declared > maxBytes + MULTIPART_OVERHEAD_BYTES) throw documentTooLarge(maxBytes);
  const part = await request.file({
    // one byte over the limit reaches our own counter, which answers the 413
    limits: { fileSize: maxBytes + 1, files: 1, fields: 10, parts: 11, fieldSize: 1024 },
    throwFileSizeLimit: false,
  });
  if (part === undefined || part.fieldname !== FILE_FIELD) {
    part?.file.resume();
    throw new ValidationFailedError('Missing the multipart file field `file`', {
      statusCode: 400,
      details: [{ path: FILE_FIELD_PATH, message: 'Required: a file in the multipart field `file`' }],
    });
  }
  return part;
}

/**
 * Data room: POST /v1/portfolios/:id/documents (issuer, draft only), GET /v1/portfolios/:id/documents
 * (data-room access), GET /v1/documents/:id/proof (data-room access, anchored only),
 * POST /v1/documents/verify (public).
 */
export const documentRoutes: FastifyPluginAsyncZod = async (app) => {
  const dataRoom = { prisma: app.prisma, dataDir: app.config.DATA_DIR, chain: app.chain, log: app.log };
  const maxBytes = app.config.DOCUMENT_MAX_BYTES;

  app.post(
    '/v1/portfolios/:id/documents',
    {
      config: { auth: { roles: ['issuer'] } },
      schema: {
        tags: ['documents'],
        summary: 'Add a document to the data room of a draft portfolio (multipart field `file`)',
        description:
          'The bytes go to a content-addressed store; the answer carries their SHA-256. Uploading the same ' +
          'bytes again to the same portfolio answers 200 with the existing document and stores nothing new. ' +
          'After publish the data room is frozen (its root is anchored on-chain): 409. An empty file answers ' +
          `422, a file over DOCUMENT_MAX_BYTES (${maxBytes}) 413.`,
        consumes: ['multipart/form-data'],
        params: idParamsSchema,
        body: multipartFileBodySchema,
        response: {
          200: documentSchema.describe('these bytes were already in the data room'),
          201: documentSchema,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429),
        },
      },
    },
    async (request, reply) => {
      try {
        const portfolio = await findPortfolio(dataRoom, request.params.id);
        request.audit = { type: 'portfolio', id: portfolio.id, details: { action: 'document' } };
        assertOwns(request.principal, portfolio);
        assertDataRoomOpen(portfolio.status);
        const part = await fileField(request, maxBytes);
        const { document, created } = await addDocument(dataRoom, {
          portfolioId: portfolio.id,
          source: part.file,
          fileName: part.filename,
          contentType: part.mimetype,
          maxBytes,
          field: FILE_FIELD_PATH,
        });
        const { sha256 } = document;
        request.audit = {
          type: 'document',
          id: document.id,
          details: {
            action: 'document',
            portfolioId: portfolio.id,
            sha256,
            size: Number(document.size),
            created,
          },
        };
        return reply.status(created ? 201 : 200).send(toDocumentBody(document));
      } catch (error) {
        discardBody(request, reply);
        throw error;
      }
    },
  );

  app.get(
    '/v1/portfolios/:id/documents',
    {
      config: { auth: 'credential' },
      schema: {
        tags: ['documents'],
        summary: 'The data room: documents with their SHA-256 (allowlisted investors, the issuer, admins)',
        params: idParamsSchema,
        querystring: listDocumentsQuerySchema,
        response: { 200: pageOf(documentSchema), ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const portfolio = await findPortfolio(dataRoom, request.params.id);
      await assertDataRoomAccess(request, portfolio);
      const { limit, cursor } = request.query;
      let after: { createdAt: Date; id: string } | undefined;
      if (cursor !== undefined) {
        const [createdAt, id] = decodeCursor(cursor, 2);
        const date = new Date(String(createdAt));
        if (Number.isNaN(date.getTime()) || typeof id !== 'string' || !isUuid(id)) {
          throw new InvalidCursorError();
        }
        after = { createdAt: date, id };
      }
      const page = await listDocuments(dataRoom, { portfolioId: portfolio.id, limit, after });
      return {
        items: page.items.map(toDocumentBody),
        nextCursor:
          page.next === null ? null : encodeCursor([page.next.createdAt.toISOString(), page.next.id]),
      };
    },
  );

  app.get(
    '/v1/documents/:id/proof',
    {
      config: { auth: 'credential' },
      schema: {
        tags: ['documents'],
        summary: "Merkle proof of a document against its portfolio's anchored document root",
        description:
          'The tree is an OpenZeppelin StandardMerkleTree with leaf encoding `["bytes32"]` over the SHA-256 of ' +
          'every document of the portfolio. 409 until the portfolio is published and its root anchored.',
        params: idParamsSchema,
        response: { 200: documentProofSchema, ...errorResponses(401, 403, 404, 409, 429) },
      },
    },
    async (request) => {
      const document = await findDocument(dataRoom, request.params.id);
      await assertDataRoomAccess(request, document.portfolio);
      return proveDocument(dataRoom, document);
    },
  );

  app.post(
    '/v1/documents/verify',
    {
      schema: {
        tags: ['documents'],
        summary:
          'Is this file in a data room, and is that data room anchored? (the file is hashed, not stored)',
        description:
          'Send the file as multipart/form-data in the field `file`. `anchored` when a portfolio holding the ' +
          'bytes is published and its recomputed document root equals the anchored one; then `root`, `proof` ' +
          'and `anchoredTx` prove it. With a chain configured, `onChainRoot` is read from `Portfolio.documents()`.',
        consumes: ['multipart/form-data'],
        body: multipartFileBodySchema,
        response: { 200: verifyDocumentSchema, ...errorResponses(400, 401, 413, 415, 422, 429) },
      },
    },
    async (request, reply) => {
      let hashed: HashedUpload;
      try {
        const part = await fileField(request, maxBytes);
        hashed = await hashUpload({ source: part.file, maxBytes, field: FILE_FIELD_PATH });
      } catch (error) {
        discardBody(request, reply);
        throw error;
      }
      const result = await verifyDocument(dataRoom, hashed);
      request.audit = {
        type: 'document',
        details: { action: 'verify', sha256: result.sha256, found: result.found },
      };
      return result;
    },
  );
};
