/** What `withTransaction` needs of a pooled client (a pg.PoolClient, or a narrower view of one). */
type TransactionClient = {
  query: (text: string) => Promise<unknown>;
  release: (error?: Error | boolean) => void;
};

/**
 * Runs `run` in one transaction on a raw pool client, for what Prisma cannot do in its own
 * transactions (COPY streams, advisory locks, session settings): BEGIN, COMMIT on success, ROLLBACK
 * and rethrow on failure. A client whose transaction failed is released as broken (destroyed, not
 * returned to the pool), since it may be mid-COPY or in an aborted state.
 */
export async function withTransaction<T, C extends TransactionClient>(
  pool: { connect: () => Promise<C> },
  run: (client: C) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await run(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    failed = error instanceof Error ? error : new Error(String(error));
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release(failed);
  }
}
