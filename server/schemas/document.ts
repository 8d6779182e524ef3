import { z } from 'zod';
import { limitSchema } from './common.ts';

const sha256Schema = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('lowercase hex SHA-256 of the bytes (no 0x)')
  .meta({ example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });

const bytes32Schema = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/)
  .meta({ example: '0x0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8' });

const txHashSchema = z.string().describe('0x-hex transaction hash');

export const documentSchema = z
  .object({
    id: z.string(),
    portfolioId: z.string(),
    fileName: z.string(),
    contentType: z.string(),
    size: z.number().int().describe('bytes'),
    sha256: sha256Schema,
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Document' });

export type DocumentBody = z.infer<typeof documentSchema>;

export type DocumentRow = {
  id: string;
  portfolioId: string;
  fileName: string;
  contentType: string;
  size: bigint;
  sha256: string;
  createdAt: Date;
};

export const toDocumentBody = (d: DocumentRow): DocumentBody => ({
  id: d.id,
  portfolioId: d.portfolioId,
  fileName: d.fileName,
  contentType: d.contentType,
  size: Number(d.size),
  sha256: d.sha256,
  createdAt: d.createdAt.toISOString(),
});

/** Documentation only: the body is read as a stream from `multipart/form-data`, not parsed into an object. */
export const multipartFileBodySchema = z
  .unknown()
  .describe('`multipart/form-data` with one file in the field `file`');

export const listDocumentsQuerySchema = z.object({
  limit: limitSchema(1_000, 100),
  cursor: z.string().max(1_000).optional(),
});

export const documentProofSchema = z
  .object({
    sha256: sha256Schema,
    leaf: bytes32Schema.describe(
      'the tree value `[0x<sha256>]` (leaf encoding `["bytes32"]`, OpenZeppelin StandardMerkleTree)',
    ),
    root: bytes32Schema.describe("the portfolio's anchored document root"),
    proof: z.array(bytes32Schema).describe('sibling hashes from the leaf up (MerkleProof.verify)'),
    anchoredTx: txHashSchema.nullable().describe('transaction that anchored the root'),
  })
  .meta({ id: 'DocumentProof' });

const verifyMatchSchema = z.object({
  id: z.string(),
  portfolioId: z.string(),
  fileName: z.string(),
  anchored: z.boolean().describe("whether this document's portfolio has anchored a root that includes it"),
});

export const verifyDocumentSchema = z
  .object({
    sha256: sha256Schema,
    size: z.number().int(),
    found: z.boolean().describe('whether any data room holds these bytes'),
    documents: z.array(verifyMatchSchema),
    anchored: z.boolean().describe('whether some matching document is covered by an anchored document root'),
    portfolioId: z.string().optional().describe('the portfolio of the anchored match below'),
    root: bytes32Schema.optional(),
    proof: z.array(bytes32Schema).optional(),
    anchoredTx: txHashSchema.nullable().optional(),
    onChainRoot: bytes32Schema
      .optional()
      .describe('`Portfolio.documents()` root read from the chain (only when a chain is configured)'),
    onChainRootMatches: z.boolean().optional(),
  })
  .meta({ id: 'DocumentVerification' });
