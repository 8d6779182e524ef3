/**
 * Embedded Postgres for `npm start`: PGlite (Postgres compiled to WASM, data in `dataDir`) served
 * over the Postgres wire protocol on a local port, so Prisma (adapter-pg), `pg` and `psql` connect
 * to it with an ordinary `postgresql://` URL.
 *
 * Why not `PGLiteSocketServer` of `@electric-sql/pglite-socket` as it is: PGlite is ONE Postgres
 * session, and that server queues single protocol messages of all connections (it keeps a
 * connection's transaction together, but not an extended-protocol Parse/Bind/Execute/Sync group,
 * which only stays together when it arrives in one TCP read), and it cannot do `COPY ... FROM
 * STDIN` (PGlite answers "protocol synchronization was lost"), which the loan-tape ingest uses.
 * This server does the same forwarding (`execProtocolRawStream`, as pglite-socket does) with two
 * changes:
 * - a session lock: a connection that sends a message owns PGlite until PGlite answers
 *   ReadyForQuery 'I' (idle) to it, so an extended-protocol group, or a whole transaction, of one
 *   connection is never interleaved with another connection's messages;
 * - `COPY <table> FROM STDIN`: answered with CopyInResponse here, the CopyData collected, then run as
 *   `COPY ... FROM '/dev/blob'` with the data as a Blob (PGlite's own COPY input).
 * What stays different from a real Postgres: connections run one after the other (a connection in
 * a transaction blocks all others until it commits, so code that opens a transaction and then
 * waits for another connection deadlocks), and session state (advisory locks, SET, prepared
 * statement names) is shared by every connection: `pg_advisory_lock` always succeeds at once.
 */
import { mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';

export type StartEmbeddedPostgresOptions = {
  /** PGlite data directory (created on first start; `initdb` takes a few seconds). */
  dataDir: string;
  /** Port to listen on; default 0 = a free port chosen by the OS. */
  port?: number;
  host?: string;
  /** Concurrent client connections accepted (they take turns on the one PGlite session); default 100. */
  maxConnections?: number;
  /**
   * Called when a connection has waited `lockWarningMs` (default 10 s) for another connection's
   * transaction: with one session, code that holds a transaction while it waits for a second
   * connection never finishes here (a real Postgres would run both).
   */
  onLongWait?: (waitedMs: number) => void;
  lockWarningMs?: number;
};

export type EmbeddedPostgres = {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  dataDir: string;
  db: PGlite;
  /** Closes every connection, then PGlite (which flushes its data dir). Safe to call twice. */
  stop: () => Promise<void>;
};

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const READY_FOR_QUERY = 0x5a; // 'Z'
const COPY_FROM_STDIN = /^\s*COPY\b[\s\S]*\bFROM\s+STDIN\b/i;

/** Who may talk to PGlite right now: one connection from its first message to its next idle ReadyForQuery. */
class SessionLock {
  owner: Connection | null = null;
  private waiters: { connection: Connection; resolve: () => void }[] = [];

  constructor(
    private readonly onLongWait?: (waitedMs: number) => void,
    private readonly warningMs = 10_000,
  ) {}

  async acquire(connection: Connection): Promise<void> {
    if (this.owner === connection) return;
    if (this.owner === null) {
      this.owner = connection;
      return;
    }
    const started = Date.now();
    const timer = this.onLongWait
      ? setTimeout(() => this.onLongWait?.(Date.now() - started), this.warningMs)
      : undefined;
    timer?.unref();
    await new Promise<void>((resolve) => this.waiters.push({ connection, resolve }));
    clearTimeout(timer);
  }

  release(connection: Connection): void {
    if (this.owner !== connection) return;
    const next = this.waiters.shift();
    this.owner = next?.connection ?? null;
    next?.resolve();
  }
}

/** Follows backend message framing across chunks and remembers the status of the last ReadyForQuery. */
class ReadyScanner {
  private header: number[] = [];
  private type = 0;
  private bodyLeft = 0;
  status: string | null = null;

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft === 0) {
        this.header.push(chunk[i++]);
        if (this.header.length === 5) {
          const [type, a, b, c, d] = this.header;
          this.type = type;
          this.bodyLeft = ((a << 24) | (b << 16) | (c << 8) | d) - 4;
          this.header = [];
        }
        continue;
      }
      const n = Math.min(this.bodyLeft, chunk.length - i);
      if (this.type === READY_FOR_QUERY) this.status = String.fromCharCode(chunk[i]);
      i += n;
      this.bodyLeft -= n;
    }
  }
}

function backendMessage(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const cstring = (value: string) => Buffer.concat([Buffer.from(value, 'utf8'), Buffer.from([0])]);

function errorResponse(error: unknown): Buffer {
  const e = error as { message?: string; code?: string; severity?: string };
  const fields = Buffer.concat([
    Buffer.from('S'),
    cstring(e.severity ?? 'ERROR'),
    Buffer.from('V'),
    cstring(e.severity ?? 'ERROR'),
    Buffer.from('C'),
    cstring(e.code ?? 'XX000'),
    Buffer.from('M'),
    cstring(e.message ?? String(error)),
    Buffer.from([0]),
  ]);
  return backendMessage('E', fields);
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private queue: Buffer[] = [];
  private started = false;
  private pumping = false;
  private closed = false;
  /** Between messages of one unit (extended-protocol group, transaction, COPY): keep the lock. */
  private idle = true;
  private copy: { sql: string; chunks: Buffer[]; failed?: string } | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly db: PGlite,
    private readonly lock: SessionLock,
    private readonly onGone: (connection: Connection) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (data) => this.receive(data));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.socket.destroy();
    if (!this.pumping) void this.releaseAfterClose();
  }

  private async releaseAfterClose(): Promise<void> {
    if (this.lock.owner === this) {
      // a client that vanished mid-transaction must not leave the one session in it
      if (this.db.isInTransaction()) await this.db.exec('ROLLBACK').catch(() => {});
      this.lock.release(this);
    }
    this.onGone(this);
  }

  private receive(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    while (!this.closed) {
      if (!this.started) {
        if (this.buffer.length < 8) break;
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) break;
        const code = this.buffer.readInt32BE(4);
        const message = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.socket.write('N');
          continue;
        }
        if (code === CANCEL_REQUEST) {
          this.close();
          return;
        }
        this.started = true;
        this.queue.push(Buffer.from(message));
        continue;
      }
      if (this.buffer.length < 5) break;
      const length = 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < length) break;
      this.queue.push(Buffer.from(this.buffer.subarray(0, length)));
      this.buffer = this.buffer.subarray(length);
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const message = this.queue.shift() as Buffer;
        await this.lock.acquire(this);
        if (this.closed) break;
        this.idle = false;
        await this.handle(message);
        if (this.idle) this.lock.release(this);
      }
    } catch {
      this.close();
    } finally {
      this.pumping = false;
      if (this.closed) await this.releaseAfterClose();
    }
  }

  private async handle(message: Buffer): Promise<void> {
    const type = this.started ? String.fromCharCode(message[0]) : '';
    if (this.copy !== null) return this.handleCopyMessage(type, message);
    if (type === 'X') {
      this.close();
      return;
    }
    if (type === 'Q') {
      const sql = message.toString('utf8', 5, message.length - 1);
      if (COPY_FROM_STDIN.test(sql)) {
        this.copy = { sql, chunks: [] };
        // CopyInResponse: text format, no per-column formats
        this.socket.write(backendMessage('G', Buffer.from([0, 0, 0])));
        return;
      }
    }
    const scanner = new ReadyScanner();
    await this.db.runExclusive(() =>
      this.db.execProtocolRawStream(new Uint8Array(message), {
        onRawData: (chunk: Uint8Array) => {
          scanner.feed(chunk);
          if (!this.closed && chunk.length > 0) this.socket.write(Buffer.from(chunk));
        },
      }),
    );
    if (scanner.status !== null) this.idle = scanner.status === 'I';
  }

  private async handleCopyMessage(type: string, message: Buffer): Promise<void> {
    const copy = this.copy as NonNullable<Connection['copy']>;
    if (type === 'd') {
      copy.chunks.push(message.subarray(5));
      return;
    }
    if (type !== 'c' && type !== 'f') return; // Flush / Sync are ignored during COPY IN
    this.copy = null;
    let reply: Buffer;
    let failed = false;
    if (type === 'f') {
      failed = true;
      const reason = message.toString('utf8', 5, message.length - 1);
      reply = errorResponse({ code: '57014', message: `COPY from stdin failed: ${reason}` });
    } else {
      try {
        const sql = copy.sql.replace(/\bFROM\s+STDIN\b/i, "FROM '/dev/blob'");
        const result = await this.db.query(sql, [], { blob: new Blob(copy.chunks) });
        reply = backendMessage('C', cstring(`COPY ${result.affectedRows ?? 0}`));
      } catch (error) {
        failed = true;
        reply = errorResponse(error);
      }
    }
    const inTransaction = this.db.isInTransaction();
    const status = inTransaction ? (failed ? 'E' : 'T') : 'I';
    this.socket.write(Buffer.concat([reply, backendMessage('Z', Buffer.from(status, 'latin1'))]));
    this.idle = status === 'I';
  }
}

/** Opens (or creates) the PGlite data dir and serves it on `host:port`. */
export async function startEmbeddedPostgres(
  options: StartEmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir: options.dataDir });
  const lock = new SessionLock(options.onLongWait, options.lockWarningMs);
  const connections = new Set<Connection>();
  const server: Server = createServer((socket) => {
    const connection = new Connection(socket, db, lock, (gone) => connections.delete(gone));
    connections.add(connection);
  });
  server.maxConnections = options.maxConnections ?? 100;
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (error) {
    await db.close();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections) connection.close();
      await closed;
      // waits for a running statement (PGlite's own mutex), then flushes and closes the data dir
      if (db.isInTransaction()) await db.exec('ROLLBACK').catch(() => {});
      await db.close();
    })();
    return stopping;
  };
  return { url: `postgresql://postgres@${host}:${port}/postgres`, port, dataDir: options.dataDir, db, stop };
}
