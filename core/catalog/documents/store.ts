/**
 * Content-addressed store of data-room documents: a document's bytes live at
 * `${DATA_DIR}/documents/<aa>/<bb>/<sha256>` where `aa`, `bb` are the first two bytes of its
 * lowercase hex SHA-256. The same bytes are stored once however often (and into however many
 * portfolios) they are uploaded; metadata and hashes live in Postgres (`document`).
 *
 * An upload is streamed to a temp file under `${DATA_DIR}/documents/.tmp` (same filesystem) while
 * its SHA-256 is computed and its bytes counted; only a complete, flushed file is linked into
 * place (atomic, never overwriting). Over the size limit: reading stops at the first byte too many,
 * the temp file is removed and a 413 `PAYLOAD_TOO_LARGE` is thrown. Empty: the temp file is
 * removed and a 422 `VALIDATION_FAILED` naming the field is thrown. Any other failure removes the
 * temp file too, so nothing is left behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { link, mkdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PayloadTooLargeError, ValidationFailedError } from '../../platform/errors/index.ts';

export type DocumentStoreOptions = {
  /** `DATA_DIR`; files go under `${dataDir}/documents`. */
  dataDir: string;
};

export type HashedUpload = {
  /** lowercase hex SHA-256 of the bytes (no 0x) */
  sha256: string;
  size: number;
};

export type StoredDocument = HashedUpload & {
  /** where the bytes are */
  path: string;
  /** false when the same bytes were already in the store (nothing new written) */
  created: boolean;
};

export type UploadOptions = {
  source: NodeJS.ReadableStream;
  maxBytes: number;
  /** the field named in the 422 of an empty upload (default `file`) */
  field?: string;
};

const SHA256_HEX = /^[0-9a-f]{64}$/;

export const documentsDir = (dataDir: string) => join(dataDir, 'documents');
const tempDir = (dataDir: string) => join(documentsDir(dataDir), '.tmp');

/** `${dataDir}/documents/<aa>/<bb>/<sha256>` for a lowercase hex SHA-256. */
export function documentPath(dataDir: string, sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new TypeError(`not a lowercase hex SHA-256: ${sha256}`);
  return join(documentsDir(dataDir), sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

export const documentTooLarge = (maxBytes: number) =>
  new PayloadTooLargeError(`Document is larger than ${maxBytes} bytes`, {
    statusCode: 413,
    details: { maxBytes },
  });

export const emptyDocument = (field: string) =>
  new ValidationFailedError('Document is empty', {
    statusCode: 422,
    details: [{ path: field, message: 'is empty (0 bytes)' }],
  });

/** Passes bytes through while hashing and counting them; errors at the first byte over `maxBytes`. */
class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      cb(documentTooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/** Hashes an upload without storing it (same size rules as `storeDocument`). */
export async function hashUpload({ source, maxBytes, field = 'file' }: UploadOptions): Promise<HashedUpload> {
  const counter = new HashingCounter(maxBytes);
  const sink = new Writable({ write: (_chunk, _encoding, cb) => cb() });
  await pipeline(source, counter, sink);
  if (counter.size === 0) throw emptyDocument(field);
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

/**
 * Streams an upload into the store (see the module doc). Idempotent: bytes already stored are not
 * written again (`created: false`).
 */
export async function storeDocument(options: DocumentStoreOptions & UploadOptions): Promise<StoredDocument> {
  const { dataDir, source, maxBytes, field = 'file' } = options;
  const tmpDir = tempDir(dataDir);
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${process.pid}-${randomBytes(12).toString('hex')}`);
  try {
    const counter = new HashingCounter(maxBytes);
    await pipeline(source, counter, createWriteStream(tmp, { flags: 'wx', flush: true }));
    if (counter.size === 0) throw emptyDocument(field);
    const sha256 = counter.hash.digest('hex');
    const path = documentPath(dataDir, sha256);
    await mkdir(join(path, '..'), { recursive: true });
    const created = await placeFile(tmp, path);
    return { sha256, size: counter.size, path, created };
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Links `tmp` to `path` unless `path` exists (never overwrites); true when it was placed. */
async function placeFile(tmp: string, path: string): Promise<boolean> {
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
  }
  // filesystems without hard links: rename (atomic; a racing identical upload holds the same bytes)
  if (await pathExists(path)) return false;
  await rename(tmp, path);
  return true;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Whether the bytes with this SHA-256 are in the store. */
export function hasDocument(options: DocumentStoreOptions, sha256: string): Promise<boolean> {
  return pathExists(documentPath(options.dataDir, sha256));
}

/** A read stream of the stored bytes (ENOENT when absent). */
export function openDocument(options: DocumentStoreOptions, sha256: string): ReadStream {
  return createReadStream(documentPath(options.dataDir, sha256));
}

/** Removes the stored bytes (used to undo a store whose database row could not be written). */
export async function removeDocument(options: DocumentStoreOptions, sha256: string): Promise<void> {
  try {
    await unlink(documentPath(options.dataDir, sha256));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
