import { globalPlugin } from './global-plugin.ts';

/**
 * Response cache of the public listing (GET /v1/portfolios): serialized JSON bodies by normalized query,
 * for `LISTING_CACHE_TTL_MS` (0 disables it).
 *
 * Bounds: at most `maxEntries` bodies and `maxBytes` bytes of them (oldest dropped first), and an expired
 * body is dropped at the next access of the cache, whatever its key (every entry has the same TTL, so the
 * expired ones are the oldest: a sweep from the front).
 *
 * Freshness: the routes that write what the listing shows (portfolio create, loan-tape upload, publish:
 * route config `invalidatesListing`) empty the cache in `onSend`, before their answer leaves, so a client
 * sees its own write in the next listing. A 4xx answer (anonymous, forbidden, invalid: nothing changed) does
 * not empty it, nor does any other route; a 5xx does (it may have failed after a write). A listing computed
 * while such a write was in flight is answered but not stored (a generation counter), and concurrent misses
 * of one key share one computation (single flight) that a write also detaches. Changes made outside this
 * process (the worker moving a portfolio to published or back to draft, another API instance, SQL by hand)
 * are seen at most `LISTING_CACHE_TTL_MS` later.
 */
export class ResponseCache<T = Buffer> {
  private readonly entries = new Map<string, { body: T; bytes: number; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<T>>();
  private generation = 0;
  private storedBytes = 0;

  constructor(
    readonly ttlMs: number,
    private readonly maxEntries = 1_000,
    private readonly now: () => number = () => performance.now(),
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  /** Bytes of the bodies held (a string counts its length). */
  get bytes(): number {
    return this.storedBytes;
  }

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached body of `key` if fresh, else `compute()` (shared by concurrent callers), stored unless invalidated meanwhile. */
  async get(key: string, compute: () => Promise<T>): Promise<T> {
    if (!this.enabled) return compute();
    this.dropExpired();
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit.body;
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending;
    const generation = this.generation;
    const promise = compute().then(
      (body) => {
        if (this.inflight.get(key) === promise) this.inflight.delete(key);
        if (generation === this.generation) this.store(key, body);
        return body;
      },
      (error: unknown) => {
        if (this.inflight.get(key) === promise) this.inflight.delete(key);
        throw error;
      },
    );
    this.inflight.set(key, promise);
    return promise;
  }

  /** Forgets every body and detaches computations in flight (their results are answered, not stored). */
  invalidate(): void {
    this.generation++;
    this.entries.clear();
    this.storedBytes = 0;
    this.inflight.clear();
  }

  private store(key: string, body: T): void {
    const bytes = sizeOf(body);
    if (bytes > this.maxBytes) return;
    this.drop(key);
    this.dropExpired();
    // oldest first: Map keeps insertion order
    while (this.entries.size >= this.maxEntries || this.storedBytes + bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.drop(oldest.value);
    }
    this.entries.set(key, { body, bytes, expiresAt: this.now() + this.ttlMs });
    this.storedBytes += bytes;
  }

  /** Drops the expired entries: the oldest ones, since every entry lives `ttlMs`. */
  private dropExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.drop(key);
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.storedBytes -= entry.bytes;
  }
}

const sizeOf = (body: unknown): number =>
  typeof body === 'string' ? body.length : ((body as { byteLength?: number }).byteLength ?? 0);

declare module 'fastify' {
  interface FastifyInstance {
    /** GET /v1/portfolios bodies; emptied by the writes of the listing this process answers. */
    listingCache: ResponseCache;
  }
  interface FastifyContextConfig {
    /** The route writes what GET /v1/portfolios shows (the portfolio row): its answer empties the listing cache. */
    invalidatesListing?: boolean;
  }
}

/** Decorates `listingCache` and empties it when a route that writes the listing answers (app-wide hook). */
export const listingCachePlugin = globalPlugin(async (app) => {
  const cache = new ResponseCache(app.config.LISTING_CACHE_TTL_MS);
  app.decorate('listingCache', cache);
  if (!cache.enabled) return;
  app.addHook('onSend', (request, reply, payload, done) => {
    // a 4xx changed nothing (house rule: bad input changes nothing); a 5xx may have failed after a write
    const failedRequest = reply.statusCode >= 400 && reply.statusCode < 500;
    if (request.routeOptions.config.invalidatesListing === true && !failedRequest) cache.invalidate();
    done(null, payload);
  });
});
