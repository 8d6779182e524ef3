import { globalPlugin } from './global-plugin.ts';

/**
 * Response cache of the public listing (GET /v1/portfolios): serialized JSON bodies by normalized query,
 * for `LISTING_CACHE_TTL_MS` (0 disables it).
 *
 * Freshness: every state-changing request this process answers (any method but GET/HEAD/OPTIONS: portfolio
 * create, loan-tape upload, publish, ...) empties the cache in `onSend`, before its answer leaves, so a
 * client sees its own write in the next listing. A listing computed while such a write was in flight is
 * answered but not stored (a generation counter), and concurrent misses of one key share one computation
 * (single flight) that a write also detaches. Changes made outside this process (the worker moving a
 * portfolio to published or back to draft, another API instance, SQL by hand) are seen at most
 * `LISTING_CACHE_TTL_MS` later.
 */
export class ResponseCache<T = Buffer> {
  private readonly entries = new Map<string, { body: T; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<T>>();
  private generation = 0;

  constructor(
    readonly ttlMs: number,
    private readonly maxEntries = 1_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached body of `key` if fresh, else `compute()` (shared by concurrent callers), stored unless invalidated meanwhile. */
  async get(key: string, compute: () => Promise<T>): Promise<T> {
    if (!this.enabled) return compute();
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > this.now()) return hit.body;
      this.entries.delete(key);
    }
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
    this.inflight.clear();
  }

  private store(key: string, body: T): void {
    if (this.entries.size >= this.maxEntries) {
      // oldest first: Map keeps insertion order
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { body, expiresAt: this.now() + this.ttlMs });
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** GET /v1/portfolios bodies; emptied by every write this process answers. */
    listingCache: ResponseCache;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Decorates `listingCache` and empties it on every state-changing request (app-wide hook). */
export const listingCachePlugin = globalPlugin(async (app) => {
  const cache = new ResponseCache(app.config.LISTING_CACHE_TTL_MS);
  app.decorate('listingCache', cache);
  if (!cache.enabled) return;
  app.addHook('onSend', (request, _reply, payload, done) => {
    if (!READ_METHODS.has(request.method)) cache.invalidate();
    done(null, payload);
  });
});
