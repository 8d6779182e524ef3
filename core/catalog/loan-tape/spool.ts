import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UploadTimeoutError } from '../../platform/errors/index.ts';
import { pipeUpload, tooLarge } from './ingest.ts';

/**
 * The first phase of a loan-tape upload: the request body is written to a private temporary file
 * before anything touches Postgres, so that a slow client holds no pooled connection and no row lock
 * (ingestLoanTape then reads the file in one short transaction). Bounded: `maxBytes` (413, counted as
 * the bytes arrive) and a deadline (408 `UploadTimeoutError`); on either, or when the client goes away,
 * the file is removed and nothing was stored.
 */

export type SpoolLoanTapeParameters = {
  source: Readable;
  /** The folder the temporary folder is created in (created if missing). */
  dir: string;
  maxBytes: number;
  /** Time the whole request may take (ms), of which `elapsedMs` have passed already. */
  timeoutMs: number;
  elapsedMs?: number;
  /** Named in the 408 answer: the setting that gives the time. */
  timeoutSetting: string;
  /** What the upload is, in the 408 answer; default "The loan tape". */
  what?: string;
  /** The 413 past `maxBytes`; default the loan tape's (`tooLarge`). */
  tooLargeError?: (maxBytes: number) => Error;
  /** Also hash the bytes (`sha256` of the answer); default false. */
  hash?: boolean;
};

export type SpooledLoanTape = {
  size: number;
  /** lowercase hex SHA-256 of the bytes received, when asked for (`hash`), else null */
  sha256: string | null;
  /** A new stream of the spooled bytes. */
  open: () => Readable;
  /** Removes the file (idempotent). */
  remove: () => Promise<void>;
};

/** bytes buffered between the upload and the file */
const SPOOL_BUFFER_BYTES = 1024 * 1024;

/** Counts (and optionally hashes) the bytes that pass; fails with 413 past `maxBytes`. */
class SizeLimit extends Transform {
  size = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly tooLargeError: (maxBytes: number) => Error,
    readonly hash: Hash | null,
  ) {
    super({ highWaterMark: SPOOL_BUFFER_BYTES });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) cb(this.tooLargeError(this.maxBytes));
    else {
      this.hash?.update(chunk);
      cb(null, chunk);
    }
  }
}

export async function spoolLoanTape({
  source,
  dir,
  maxBytes,
  timeoutMs,
  elapsedMs = 0,
  timeoutSetting,
  what = 'The loan tape',
  tooLargeError = tooLarge,
  hash = false,
}: SpoolLoanTapeParameters): Promise<SpooledLoanTape> {
  await mkdir(dir, { recursive: true });
  const folder = await mkdtemp(path.join(dir, 'loan-tape-'));
  const file = path.join(folder, 'tape.csv');
  const remove = () => rm(folder, { recursive: true, force: true });
  const limit = new SizeLimit(maxBytes, tooLargeError, hash ? createHash('sha256') : null);
  const timer = setTimeout(
    () => limit.destroy(new UploadTimeoutError(what, timeoutMs, timeoutSetting)),
    Math.max(0, timeoutMs - elapsedMs),
  );
  const detach = pipeUpload(source, limit);
  try {
    await pipeline(
      limit,
      createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: SPOOL_BUFFER_BYTES }),
    );
  } catch (error) {
    await remove();
    throw error;
  } finally {
    clearTimeout(timer);
    detach();
  }
  return {
    size: limit.size,
    sha256: limit.hash?.digest('hex') ?? null,
    open: () => createReadStream(file, { highWaterMark: SPOOL_BUFFER_BYTES }),
    remove,
  };
}
