import type { MultipartFile } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAddress, type Hex } from 'viem';
import {
  documentTooLarge,
  hashUpload,
  removeDocument,
  type StoredDocument,
  storeDocument,
} from '../../core/catalog/documents/store.ts';
import { buildDocumentTree, normalizeSha256 } from '../../core/catalog/documents/tree.ts';
import { portfolioAbi } from '../../core/chain/generated/portfolio.ts';
import { BaseError, conflict, notFound, unauthorized } from '../../core/platform/errors.ts';
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

type App = Parameters<FastifyPluginAsyncZod>[0];

/** Multipart framing allowed on top of the file itself before a declared Content-Length is refused outright. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const FILE_FIELD = 'file';
const FILE_FIELD_PATH = 'body.file';

const signInFirst = () => unauthorized('Sign in first (POST /v1/auth/nonce, /v1/auth/verify)');

async function findPortfolio(app: App, id: string) {
  const portfolio = isUuid(id)
    ? await app.prisma.portfolio.findUnique({
        where: { id },
        select: { id: true, owner: true, status: true },
      })
    : null;
  if (portfolio === null) throw notFound('Portfolio', id);
  return portfolio;
}

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
    throw new BaseError('Send the document as multipart/form-data with the field `file`', {
      code: 'UNSUPPORTED_MEDIA_TYPE',
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
    throw new BaseError('Missing the multipart file field `file`', {
      code: 'VALIDATION_FAILED',
      statusCode: 400,
      details: [{ path: FILE_FIELD_PATH, message: 'Required: a file in the multipart field `file`' }],
    });
  }
  return part;
}

/** A display name from the client's file name: last path segment, no control characters, at most 255 chars. */
function cleanFileName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return clean === '' ? 'document' : clean.slice(0, 255);
}

function cleanContentType(mimetype: string | undefined): string {
  const type = (mimetype ?? '').trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;.*)?$/.test(type) && type.length <= 255
    ? type
    : 'application/octet-stream';
}

/** A root as stored (with or without 0x) -> 0x lowercase, or null when it is not a bytes32. */
function storedRoot(root: string | null): Hex | null {
  if (root === null) return null;
  try {
    return normalizeSha256(root);
  } catch {
    return null;
  }
}

type AnchorState = { anchored: boolean; root: Hex | null; tree: ReturnType<typeof buildDocumentTree> };

/**
 * Recomputes the document tree of a portfolio and compares it with the stored (anchored) root.
 * Anchored: published, a root stored, and the recomputed root equal to it.
 */
async function anchorState(
  app: App,
  portfolio: { id: string; status: string; documentRoot: string | null },
): Promise<AnchorState & { mismatch: boolean }> {
  const rows = await app.prisma.document.findMany({
    where: { portfolioId: portfolio.id },
    select: { sha256: true },
  });
  const tree = buildDocumentTree(rows.map((r) => r.sha256));
  const root = storedRoot(portfolio.documentRoot);
  const published = portfolio.status === 'published' && root !== null;
  const mismatch = published && tree.root !== root;
  if (mismatch) {
    app.log.error(
      { portfolioId: portfolio.id, storedRoot: portfolio.documentRoot, recomputedRoot: tree.root },
      'document root mismatch: the data room differs from the anchored root',
    );
  }
  return { anchored: published && !mismatch, root, tree, mismatch };
}

/**
 * Data room: POST /v1/portfolios/:id/documents (issuer, draft only), GET /v1/portfolios/:id/documents
 * (data-room access), GET /v1/documents/:id/proof (data-room access, anchored only),
 * POST /v1/documents/verify (public).
 */
export const documentRoutes: FastifyPluginAsyncZod = async (app) => {
  const store = { dataDir: app.config.DATA_DIR };
  const maxBytes = app.config.DOCUMENT_MAX_BYTES;

  app.post(
    '/v1/portfolios/:id/documents',
    {
      preHandler: app.requireRole('issuer'),
      schema: {
        tags: ['documents'],
        summary: 'Add a document to the data room of a draft portfolio (multipart field `file`)',
        description:
          'The bytes go to a content-addressed store; the answer carries their SHA-256. Uploading the same ' +
          'bytes again to the same portfolio answers 200 with the existing document and stores nothing new. ' +
          'After publish the data room is frozen (its root is anchored on-chain): 409. An empty file answers ' +
          `422, a file over DOCUMENT_MAX_BYTES (${maxBytes}) 413.`,
        security: [{ apiKey: [] }],
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
      let stored: StoredDocument | null = null;
      let rowWritten = false;
      try {
        const portfolio = await findPortfolio(app, request.params.id);
        request.audit = { type: 'portfolio', id: portfolio.id, details: { action: 'document' } };
        assertOwns(request.principal, portfolio);
        if (portfolio.status !== 'draft') {
          throw conflict(
            `Portfolio is ${portfolio.status}; the data room is frozen once its root is anchored on-chain`,
          );
        }
        const part = await fileField(request, maxBytes);
        stored = await storeDocument({ ...store, source: part.file, maxBytes, field: FILE_FIELD_PATH });
        const { sha256, size } = stored;
        const result = await app.prisma.$transaction(async (tx) => {
          // serialises with publish and with concurrent uploads to this portfolio
          const [locked] = await tx.$queryRaw<{ status: string }[]>`
            SELECT status::text AS status FROM portfolio WHERE id = ${portfolio.id}::uuid FOR UPDATE`;
          if (locked === undefined) throw notFound('Portfolio', portfolio.id);
          if (locked.status !== 'draft') {
            throw conflict(
              `Portfolio is ${locked.status}; the data room is frozen once its root is anchored`,
            );
          }
          const existing = await tx.document.findUnique({
            where: { portfolioId_sha256: { portfolioId: portfolio.id, sha256 } },
          });
          if (existing !== null) return { document: existing, created: false };
          const document = await tx.document.create({
            data: {
              portfolioId: portfolio.id,
              fileName: cleanFileName(part.filename),
              contentType: cleanContentType(part.mimetype),
              size: BigInt(size),
              sha256,
            },
          });
          return { document, created: true };
        });
        rowWritten = true;
        request.audit = {
          type: 'document',
          id: result.document.id,
          details: { action: 'document', portfolioId: portfolio.id, sha256, size, created: result.created },
        };
        return reply.status(result.created ? 201 : 200).send(toDocumentBody(result.document));
      } catch (error) {
        discardBody(request, reply);
        if (stored?.created && !rowWritten) {
          // undo a blob nobody references (a race with another upload of the same bytes is tolerated:
          // it only re-checks the reference before deleting)
          const refs = await app.prisma.document.count({ where: { sha256: stored.sha256 } }).catch(() => 1);
          if (refs === 0) await removeDocument(store, stored.sha256).catch(() => {});
        }
        throw error;
      }
    },
  );

  app.get(
    '/v1/portfolios/:id/documents',
    {
      schema: {
        tags: ['documents'],
        summary: 'The data room: documents with their SHA-256 (allowlisted investors, the issuer, admins)',
        security: [{ session: [] }, { apiKey: [] }],
        params: idParamsSchema,
        querystring: listDocumentsQuerySchema,
        response: { 200: pageOf(documentSchema), ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      if (request.principal === null) throw signInFirst();
      const portfolio = await findPortfolio(app, request.params.id);
      await assertDataRoomAccess(request, portfolio);
      const { limit, cursor } = request.query;
      let after: { createdAt: Date; id: string } | null = null;
      if (cursor !== undefined) {
        const [createdAt, id] = decodeCursor(cursor, 2);
        const date = new Date(String(createdAt));
        if (Number.isNaN(date.getTime()) || typeof id !== 'string' || !isUuid(id)) {
          throw new BaseError('Invalid cursor', {
            code: 'VALIDATION_FAILED',
            statusCode: 400,
            details: [{ path: 'querystring.cursor', message: 'is not a cursor returned by this list' }],
          });
        }
        after = { createdAt: date, id };
      }
      const rows = await app.prisma.document.findMany({
        where: {
          portfolioId: portfolio.id,
          ...(after === null
            ? {}
            : {
                OR: [
                  { createdAt: { gt: after.createdAt } },
                  { createdAt: after.createdAt, id: { gt: after.id } },
                ],
              }),
        },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(toDocumentBody),
        nextCursor: rows.length > limit ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
      };
    },
  );

  app.get(
    '/v1/documents/:id/proof',
    {
      schema: {
        tags: ['documents'],
        summary: "Merkle proof of a document against its portfolio's anchored document root",
        description:
          'The tree is an OpenZeppelin StandardMerkleTree with leaf encoding `["bytes32"]` over the SHA-256 of ' +
          'every document of the portfolio. 409 until the portfolio is published and its root anchored.',
        security: [{ session: [] }, { apiKey: [] }],
        params: idParamsSchema,
        response: { 200: documentProofSchema, ...errorResponses(401, 403, 404, 409, 429) },
      },
    },
    async (request) => {
      if (request.principal === null) throw signInFirst();
      const { id } = request.params;
      const document = isUuid(id)
        ? await app.prisma.document.findUnique({
            where: { id },
            select: {
              sha256: true,
              portfolio: {
                select: { id: true, owner: true, status: true, documentRoot: true, documentRootTxHash: true },
              },
            },
          })
        : null;
      if (document === null) throw notFound('Document', id);
      const { portfolio } = document;
      await assertDataRoomAccess(request, portfolio);
      if (portfolio.status !== 'published' || portfolio.documentRoot === null) {
        throw conflict(
          'The data room of this portfolio is not anchored yet (the portfolio is not published)',
          {
            portfolioId: portfolio.id,
            status: portfolio.status,
          },
        );
      }
      const state = await anchorState(app, portfolio);
      if (!state.anchored || state.root === null) {
        throw new BaseError('Document root mismatch', { code: 'INTERNAL', statusCode: 500 });
      }
      return {
        sha256: document.sha256,
        leaf: normalizeSha256(document.sha256),
        root: state.root,
        proof: state.tree.proof(document.sha256),
        anchoredTx: portfolio.documentRootTxHash,
      };
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
      let hashed: { sha256: string; size: number };
      try {
        const part = await fileField(request, maxBytes);
        hashed = await hashUpload({ source: part.file, maxBytes, field: FILE_FIELD_PATH });
      } catch (error) {
        discardBody(request, reply);
        throw error;
      }
      const { sha256, size } = hashed;
      const matches = await app.prisma.document.findMany({
        where: { sha256 },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: 100,
        select: {
          id: true,
          portfolioId: true,
          fileName: true,
          portfolio: {
            select: {
              id: true,
              status: true,
              documentRoot: true,
              documentRootTxHash: true,
              portfolioAddress: true,
            },
          },
        },
      });
      const states = new Map<string, AnchorState>();
      for (const m of matches) {
        if (!states.has(m.portfolioId)) states.set(m.portfolioId, await anchorState(app, m.portfolio));
      }
      const documents = matches.map((m) => ({
        id: m.id,
        portfolioId: m.portfolioId,
        fileName: m.fileName,
        anchored: states.get(m.portfolioId)?.anchored ?? false,
      }));
      request.audit = { type: 'document', details: { action: 'verify', sha256, found: matches.length > 0 } };
      const anchoredMatch = matches.find((m) => states.get(m.portfolioId)?.anchored);
      if (anchoredMatch === undefined) {
        return { sha256, size, found: matches.length > 0, documents, anchored: false };
      }
      const state = states.get(anchoredMatch.portfolioId) as AnchorState;
      const root = state.root as Hex;
      const onChain = await readOnChainRoot(app, anchoredMatch.portfolio.portfolioAddress);
      return {
        sha256,
        size,
        found: true,
        documents,
        anchored: onChain === undefined ? true : onChain === root,
        portfolioId: anchoredMatch.portfolioId,
        root,
        proof: state.tree.proof(sha256),
        anchoredTx: anchoredMatch.portfolio.documentRootTxHash,
        ...(onChain === undefined ? {} : { onChainRoot: onChain, onChainRootMatches: onChain === root }),
      };
    },
  );
};

/**
 * `Portfolio.documents()` root from the chain, lowercase; undefined when no chain is configured,
 * the portfolio has no address, or the read fails (logged).
 */
async function readOnChainRoot(app: App, portfolioAddress: string | null): Promise<Hex | undefined> {
  if (app.chain === null || portfolioAddress === null) return undefined;
  try {
    const [, root] = await app.chain.readContract({
      address: getAddress(portfolioAddress),
      abi: portfolioAbi,
      functionName: 'documents',
    });
    return root.toLowerCase() as Hex;
  } catch (error) {
    app.log.warn({ err: error, portfolioAddress }, 'could not read the document root from the chain');
    return undefined;
  }
}
