/**
 * Deterministic crash points for crash-safety tests: `crashPoint('mid-push')` kills this process with
 * SIGKILL (no cleanup, no finally, no flushed buffers: like a power cut) when the environment says so,
 * and does nothing otherwise.
 *
 *   NPL_CRASH_AT=<name>     die at the first hit of crash point <name>
 *   NPL_CRASH_AT=<name>:<n> die at its n-th hit (1-based), e.g. `mid-push:3` = during the third batch
 *
 * The variable is read at every call (a test can set it in-process too); unset or another name: no-op.
 * Never set it in production.
 */

const hits = new Map<string, number>();

/** Parses `NPL_CRASH_AT` (`name` or `name:n`); undefined when unset or malformed. */
export function crashTarget(value = process.env.NPL_CRASH_AT): { name: string; hit: number } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const match = /^([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(value.trim());
  if (match === null) return undefined;
  const hit = match[2] === undefined ? 1 : Number(match[2]);
  return hit >= 1 ? { name: match[1], hit } : undefined;
}

/** Kills this process with SIGKILL when `NPL_CRASH_AT` names this point (and this is its n-th hit). */
export function crashPoint(name: string): void {
  const target = crashTarget();
  if (target === undefined || target.name !== name) return;
  const count = (hits.get(name) ?? 0) + 1;
  hits.set(name, count);
  if (count !== target.hit) return;
  process.kill(process.pid, 'SIGKILL');
}
