/**
 * The data room's pure rules over plain data: what a client's file name and content type become, and
 * whether a portfolio's data room is anchored (its recomputed document root equals the stored one).
 */
import type { Hex } from 'viem';
import type { PortfolioStatus } from '../../db/index.ts';
import { normalizeSha256 } from './tree.ts';

/** A display name from the client's file name: last path segment, no control characters, at most 255 chars. */
export function cleanFileName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return clean === '' ? 'document' : clean.slice(0, 255);
}

/** The client's content type, lowercased, when it is a well-formed media type; else `application/octet-stream`. */
export function cleanContentType(mimetype: string | undefined): string {
  const type = (mimetype ?? '').trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;.*)?$/.test(type) && type.length <= 255
    ? type
    : 'application/octet-stream';
}

/** A root as stored (with or without 0x) -> 0x lowercase, or null when it is not a bytes32. */
export function storedRoot(root: string | null): Hex | null {
  if (root === null) return null;
  try {
    return normalizeSha256(root);
  } catch {
    return null;
  }
}

export type AnchorVerdict = {
  /** published, a root stored, and the recomputed root equal to it */
  anchored: boolean;
  /** the stored root, normalized (null when none or not a bytes32) */
  root: Hex | null;
  /** published with a root that the data room no longer hashes to */
  mismatch: boolean;
};

/** Compares the root recomputed from the data room with the one stored at publish. */
export function anchorVerdict(
  portfolio: { status: PortfolioStatus; documentRoot: string | null },
  recomputedRoot: Hex,
): AnchorVerdict {
  const root = storedRoot(portfolio.documentRoot);
  const published = portfolio.status === 'published' && root !== null;
  const mismatch = published && recomputedRoot !== root;
  return { anchored: published && !mismatch, root, mismatch };
}
