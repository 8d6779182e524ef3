/**
 * Postgres unique violations, recognised once: Prisma reports them as `P2002`, the raw `pg` paths
 * (COPY, hand-written SQL) as SQLSTATE `23505`, and the driver adapter sometimes as a `cause` with
 * that SQLSTATE. Callers turn a violation into their own answer (an idempotent replay, a 409).
 */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown; originalCode?: unknown } } | null;
  return (
    e?.code === 'P2002' ||
    e?.code === '23505' ||
    e?.cause?.code === '23505' ||
    e?.cause?.originalCode === '23505'
  );
}
