import { createHash, randomBytes } from 'node:crypto';
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

/** Stores a new API key (its hash) and returns the key. `owner` defaults to `name`. */
export async function createApiKey(
  prisma: PrismaClient,
  { role, name, owner }: CreateApiKeyParameters,
): Promise<CreateApiKeyReturnType> {
  const key = generateSecret(API_KEY_PREFIX);
  const keyName = name ?? `${role} key`;
  const row = await prisma.apiKey.create({
    data: {
      role,
      name: keyName,
      owner: owner ?? keyName,
      prefix: key.slice(0, API_KEY_PREFIX.length + 6),
      keyHash: hashSecret(key),
    },
  });
  return { key, id: row.id, role: row.role, name: row.name, owner: row.owner, prefix: row.prefix };
}
