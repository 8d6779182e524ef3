/**
 * The data room's use cases, over a small context (Prisma, the store's folder, the chain client, a
 * logger): add a document to a draft (store the bytes, insert the row under the portfolio's lock,
 * idempotent per portfolio and SHA-256, the blob removed again when no row references it), list the
 * data room, prove a document against the anchored root, and verify a file against every data room.
 * The routes parse the request, authorize, call these and map the answer.
 */
import type { Hex, PublicClient } from 'viem';
import type { Document } from '../../db/generated/client.ts';
import type { PrismaClient } from '../../db/index.ts';
import { ConflictError, InternalError, NotFoundError } from '../../platform/errors/index.ts';
import { isRowId } from '../portfolios.ts';
import { acceptsDocuments, assertDataRoomAnchored, type PortfolioStatus } from '../rules.ts';
import { readAnchoredRoot } from './chain.ts';
import { type AnchorVerdict, anchorVerdict, cleanContentType, cleanFileName } from './rules.ts';
import { type HashedUpload, removeDocument, type StoredDocument, storeDocument } from './store.ts';
import { buildDocumentTree, type DocumentTree, normalizeSha256 } from './tree.ts';

type Log = {
  error: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
};

export type DataRoomContext = {
  prisma: PrismaClient;
  /** `DATA_DIR`: the bytes live under `${dataDir}/documents` */
  dataDir: string;
  log?: Log;
};

// ------------------------------------------------------------------ upload

export type AddDocumentParameters = {
  portfolioId: string;
  /** the file's bytes (streamed into the store, never buffered) */
  source: NodeJS.ReadableStream;
  /** the client's file name and content type, cleaned before they are stored */
  fileName: string | undefined;
  contentType: string | undefined;
  maxBytes: number;
  /** the field named in the 422 of an empty upload */
  field?: string;
};

export type AddDocumentReturnType = { document: Document; created: boolean };

/**
 * Adds a document to the data room of a draft portfolio: the bytes to the content-addressed store,
 * then the row, in one transaction that locks the portfolio (serialising with publish and with
 * concurrent uploads) and checks it is still a draft. The same bytes again answer the existing row
 * (`created: false`). When no row is written, a blob this call created and nobody references is removed.
 */
export async function addDocument(
  context: DataRoomContext,
  parameters: AddDocumentParameters,
): Promise<AddDocumentReturnType> {
  const { portfolioId } = parameters;
  const store = { dataDir: context.dataDir };
  const stored: StoredDocument = await storeDocument({
    ...store,
    source: parameters.source,
    maxBytes: parameters.maxBytes,
    field: parameters.field,
  });
  const { sha256, size } = stored;
  try {
    return await context.prisma.$transaction(async (tx) => {
      const [locked] = await tx.$queryRaw<{ status: PortfolioStatus }[]>`
        SELECT status::text AS status FROM portfolio WHERE id = ${portfolioId}::uuid FOR UPDATE`;
      if (locked === undefined) throw new NotFoundError('Portfolio', portfolioId);
      if (!acceptsDocuments(locked.status)) {
        throw new ConflictError(
          `Portfolio is ${locked.status}; the data room is frozen once its root is anchored`,
        );
      }
      const existing = await tx.document.findUnique({
        where: { portfolioId_sha256: { portfolioId, sha256 } },
      });
      if (existing !== null) return { document: existing, created: false };
      const document = await tx.document.create({
        data: {
          portfolioId,
          fileName: cleanFileName(parameters.fileName),
          contentType: cleanContentType(parameters.contentType),
          size: BigInt(size),
          sha256,
        },
      });
      return { document, created: true };
    });
  } catch (error) {
    if (stored.created) {
      // undo a blob nobody references (a race with another upload of the same bytes is tolerated:
      // it only re-checks the reference before deleting)
      const refs = await context.prisma.document.count({ where: { sha256 } }).catch(() => 1);
      if (refs === 0) await removeDocument(store, sha256).catch(() => {});
    }
    throw error;
  }
}

// ------------------------------------------------------------------ listing

export type ListDocumentsParameters = {
  portfolioId: string;
  limit: number;
  /** the last document of the previous page */
  after?: { createdAt: Date; id: string };
};

export type ListDocumentsReturnType = {
  items: Document[];
  /** the last item of this page when there is a next one */
  next: { createdAt: Date; id: string } | null;
};

/** One page of a data room, oldest first (keyset on created_at, id). */
export async function listDocuments(
  context: Pick<DataRoomContext, 'prisma'>,
  parameters: ListDocumentsParameters,
): Promise<ListDocumentsReturnType> {
  const { portfolioId, limit, after } = parameters;
  const rows = await context.prisma.document.findMany({
    where: {
      portfolioId,
      ...(after === undefined
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
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    next: rows.length > limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : null,
  };
}

// ------------------------------------------------------------------ anchoring and proofs

type AnchorState = AnchorVerdict & { tree: DocumentTree };

/**
 * Recomputes the document tree of a portfolio and compares it with the stored (anchored) root; a
 * mismatch (the data room differs from what was anchored) is logged as an error.
 */
async function anchorState(
  context: Pick<DataRoomContext, 'prisma' | 'log'>,
  portfolio: { id: string; status: PortfolioStatus; documentRoot: string | null },
): Promise<AnchorState> {
  const rows = await context.prisma.document.findMany({
    where: { portfolioId: portfolio.id },
    select: { sha256: true },
  });
  const tree = buildDocumentTree(rows.map((r) => r.sha256));
  const verdict = anchorVerdict(portfolio, tree.root);
  if (verdict.mismatch) {
    context.log?.error(
      { portfolioId: portfolio.id, storedRoot: portfolio.documentRoot, recomputedRoot: tree.root },
      'document root mismatch: the data room differs from the anchored root',
    );
  }
  return { ...verdict, tree };
}

export type DocumentWithPortfolio = {
  sha256: string;
  portfolio: {
    id: string;
    owner: string;
    status: PortfolioStatus;
    documentRoot: string | null;
    documentRootTxHash: string | null;
  };
};

/** A document with the portfolio it belongs to (what its proof is authorized and checked against), or 404. */
export async function findDocument(
  context: Pick<DataRoomContext, 'prisma'>,
  id: string,
): Promise<DocumentWithPortfolio> {
  const document = isRowId(id)
    ? await context.prisma.document.findUnique({
        where: { id },
        select: {
          sha256: true,
          portfolio: {
            select: { id: true, owner: true, status: true, documentRoot: true, documentRootTxHash: true },
          },
        },
      })
    : null;
  if (document === null) throw new NotFoundError('Document', id);
  return document;
}

export type DocumentProof = {
  sha256: string;
  leaf: Hex;
  root: Hex;
  proof: Hex[];
  anchoredTx: string | null;
};

/**
 * The Merkle proof of a document against its portfolio's anchored root: 409 until the portfolio is
 * published with a root, 500 when the data room no longer hashes to that root.
 */
export async function proveDocument(
  context: Pick<DataRoomContext, 'prisma' | 'log'>,
  document: DocumentWithPortfolio,
): Promise<DocumentProof> {
  const { portfolio } = document;
  assertDataRoomAnchored(portfolio);
  const state = await anchorState(context, portfolio);
  if (!state.anchored || state.root === null) {
    throw new InternalError('Document root mismatch', { statusCode: 500 });
  }
  return {
    sha256: document.sha256,
    leaf: normalizeSha256(document.sha256),
    root: state.root,
    proof: state.tree.proof(document.sha256),
    anchoredTx: portfolio.documentRootTxHash,
  };
}

// ------------------------------------------------------------------ public verify

export type VerifyDocumentReturnType = {
  sha256: string;
  size: number;
  found: boolean;
  /** the first 100 documents with these bytes, oldest first */
  documents: { id: string; portfolioId: string; fileName: string; anchored: boolean }[];
  anchored: boolean;
} & (
  | { portfolioId?: undefined }
  | {
      portfolioId: string;
      root: Hex;
      proof: Hex[];
      anchoredTx: string | null;
      onChainRoot?: Hex;
      onChainRootMatches?: boolean;
    }
);

/**
 * Is a file (hashed by the caller) in a data room, and is that data room anchored? The first anchored
 * match gives the root and proof; with a chain client, `Portfolio.documents()` is read too and
 * `anchored` then also means the chain holds that root.
 */
export async function verifyDocument(
  context: Pick<DataRoomContext, 'prisma' | 'log'> & { chain: PublicClient | null },
  parameters: HashedUpload,
): Promise<VerifyDocumentReturnType> {
  const { sha256, size } = parameters;
  const matches = await context.prisma.document.findMany({
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
    if (!states.has(m.portfolioId)) states.set(m.portfolioId, await anchorState(context, m.portfolio));
  }
  const documents = matches.map((m) => ({
    id: m.id,
    portfolioId: m.portfolioId,
    fileName: m.fileName,
    anchored: states.get(m.portfolioId)?.anchored ?? false,
  }));
  const anchoredMatch = matches.find((m) => states.get(m.portfolioId)?.anchored);
  if (anchoredMatch === undefined) {
    return { sha256, size, found: matches.length > 0, documents, anchored: false };
  }
  const state = states.get(anchoredMatch.portfolioId) as AnchorState;
  const root = state.root as Hex;
  const onChain = await onChainRoot(context, anchoredMatch.portfolio.portfolioAddress);
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
}

/**
 * The anchored root from the chain; undefined when no chain is configured, the portfolio has no
 * address, or the read fails (logged).
 */
async function onChainRoot(
  context: Pick<DataRoomContext, 'log'> & { chain: PublicClient | null },
  portfolioAddress: string | null,
): Promise<Hex | undefined> {
  if (context.chain === null || portfolioAddress === null) return undefined;
  try {
    return await readAnchoredRoot(context.chain, portfolioAddress);
  } catch (error) {
    context.log?.warn({ err: error, portfolioAddress }, 'could not read the document root from the chain');
    return undefined;
  }
}
