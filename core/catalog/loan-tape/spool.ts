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
};

export type SpooledLoanTape = {
  size: number;
  /** A new stream of the spooled bytes. */
  open: () => Readable;
  /** Removes the file (idempotent). */
  remove: () => Promise<void>;
};

/** bytes buffered between the upload and the file */
const SPOOL_BUFFER_BYTES = 1024 * 1024;

/** Counts the bytes that pass; fails with 413 past `maxBytes`. */
class SizeLimit extends Transform {
  size = 0;
  constructor(private readonly maxBytes: number) {
    super({ highWaterMark: SPOOL_BUFFER_BYTES });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) cb(tooLarge(this.maxBytes));
    else cb(null, chunk);
  }
}

export async function spoolLoanTape({
  source,
  dir,
  maxBytes,
  timeoutMs,
  elapsedMs = 0,
  timeoutSetting,
}: SpoolLoanTapeParameters): Promise<SpooledLoanTape> {
  await mkdir(dir, { recursive: true });
  const folder = await mkdtemp(path.join(dir, 'loan-tape-'));
  const file = path.join(folder, 'tape.csv');
  const remove = () => rm(folder, { recursive: true, force: true });
  const limit = new SizeLimit(maxBytes);
  const timer = setTimeout(
    () => limit.destroy(new UploadTimeoutError('The loan tape', timeoutMs, timeoutSetting)),
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
    open: () => createReadStream(file, { highWaterMark: SPOOL_BUFFER_BYTES }),
    remove,
  };
}
