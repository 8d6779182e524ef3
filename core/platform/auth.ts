import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKeyRole, PrismaClient } from '../db/index.ts';

/**
 * Secrets handed to clients (API keys, session tokens) are 256-bit random strings; only their
 * SHA-256 is stored, so a database leak reveals no usable credential. (A slow hash adds nothing
 * for secrets of this entropy.)
 */

export const API_KEY_PREFIX = 'npl_';
export const SESSION_TOKEN_PREFIX = 'nps_';

export const apiKeyRoles = ['issuer', 'servicer', 'admin'] as const satisfies readonly ApiKeyRole[];

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export type CreateApiKeyParameters = { role: ApiKeyRole; name?: string; owner?: string };

export type CreateApiKeyReturnType = {
  /** The key itself: shown once, never stored. */
  key: string;
  id: string;
  role: ApiKeyRole;
  name: string;
  owner: string;
  prefix: string;
};

/**
 * Stores a new API key (its hash) and returns the key. Without `owner` the key gets an owner of its
 * own, `key:<id>`, that no other key shares: two keys act for the same organisation (and may change
 * each other's portfolios) only when they are given the same `owner`.
 */
export async function createApiKey(
  prisma: PrismaClient,
  { role, name, owner }: CreateApiKeyParameters,
): Promise<CreateApiKeyReturnType> {
  const key = generateSecret(API_KEY_PREFIX);
  const id = randomUUID();
  const row = await prisma.apiKey.create({
    data: {
      id,
      role,
      name: name ?? `${role} key`,
      owner: owner ?? `key:${id}`,
      prefix: key.slice(0, API_KEY_PREFIX.length + 6),
      keyHash: hashSecret(key),
    },
  });
  return { key, id: row.id, role: row.role, name: row.name, owner: row.owner, prefix: row.prefix };
}
