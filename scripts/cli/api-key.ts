/** `cli api-key create|list|revoke`: manages issuer / servicer / admin API keys (only hashes are stored). */

import { type ApiKeyRole, createDb, type Db } from '../../core/db/index.ts';
import { apiKeyRoles, createApiKey } from '../../core/platform/auth.ts';
import { loadConfig } from '../../core/platform/config.ts';
import { CliError, type CliIo, type CliVerb, parseVerbArgs } from './verb.ts';

const help = `Usage: npm run cli -- api-key <command> [options]

Commands:
  create --role ROLE [--name NAME] [--owner OWNER]
      Creates a key and prints it ONCE (only its SHA-256 is stored). ROLE is issuer, servicer or
      admin. OWNER is the organisation the key acts for (portfolios belong to an owner; an issuer
      key can only change its owner's portfolios). Without it the key gets an owner of its own,
      key:<id>, shared with no other key; give keys of one organisation the same OWNER.
  list
      Prints every key: id, role, owner, name, prefix, created, last used, revoked.
  revoke --id ID
      Revokes a key; requests with it answer 401 from then on.

Options:
  --json        machine-readable output
  -h, --help    show this help

Needs DATABASE_URL (the database migrated with \`npm run db:migrate\`).
`;

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const config = loadConfig();
  if (config.DATABASE_URL === undefined) throw new CliError('DATABASE_URL is not set');
  const db = createDb({ databaseUrl: config.DATABASE_URL, max: 1 });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function audit(db: Db, action: string, resourceId: string, details: Record<string, string>) {
  await db.prisma.auditLog.create({
    data: { actorType: 'system', actorId: 'cli', action, resourceType: 'api_key', resourceId, details },
  });
}

async function create(args: string[], io: CliIo) {
  const v = parseVerbArgs(args, {
    role: { type: 'string' },
    name: { type: 'string' },
    owner: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (v.help) return io.stdout(help);
  if (v.role === undefined) throw new CliError('missing --role (issuer, servicer or admin)', true);
  if (!(apiKeyRoles as readonly string[]).includes(v.role)) {
    throw new CliError(`--role must be one of ${apiKeyRoles.join(', ')}, not '${v.role}'`, true);
  }
  const created = await withDb(async (db) => {
    const key = await createApiKey(db.prisma, { role: v.role as ApiKeyRole, name: v.name, owner: v.owner });
    await audit(db, 'cli api-key create', key.id, { role: key.role, owner: key.owner, name: key.name });
    return key;
  });
  if (v.json) {
    io.stdout(`${JSON.stringify(created)}\n`);
    return;
  }
  io.stdout(
    `${created.key}\n\nid ${created.id}, role ${created.role}, owner ${created.owner}\n` +
      'This key is shown once; store it now. Send it as `Authorization: Bearer <key>`.\n',
  );
}

async function list(args: string[], io: CliIo) {
  const v = parseVerbArgs(args, { json: { type: 'boolean' } });
  if (v.help) return io.stdout(help);
  const keys = await withDb((db) =>
    db.prisma.apiKey.findMany({
      orderBy: { createdAt: 'asc' },
      select: {
        id: true,
        role: true,
        owner: true,
        name: true,
        prefix: true,
        createdAt: true,
        lastUsedAt: true,
        revokedAt: true,
      },
    }),
  );
  if (v.json) {
    io.stdout(`${JSON.stringify(keys)}\n`);
    return;
  }
  for (const k of keys) {
    io.stdout(
      `${k.id}  ${k.role.padEnd(8)}  ${k.prefix}…  owner=${k.owner}  name=${k.name}  created=${k.createdAt.toISOString()}` +
        `${k.lastUsedAt ? `  used=${k.lastUsedAt.toISOString()}` : ''}${k.revokedAt ? '  REVOKED' : ''}\n`,
    );
  }
}

async function revoke(args: string[], io: CliIo) {
  const v = parseVerbArgs(args, { id: { type: 'string' }, json: { type: 'boolean' } });
  if (v.help) return io.stdout(help);
  if (v.id === undefined) throw new CliError('missing --id', true);
  const id = v.id;
  const count = await withDb(async (db) => {
    const res = await db.prisma
      .$executeRaw`UPDATE api_key SET revoked_at = now() WHERE id::text = ${id} AND revoked_at IS NULL`;
    if (res > 0) await audit(db, 'cli api-key revoke', id, {});
    return res;
  });
  if (count === 0) throw new CliError(`no active key with id ${id}`);
  io.stdout(v.json ? `${JSON.stringify({ id, revoked: true })}\n` : `revoked ${id}\n`);
}

export const verb: CliVerb = {
  help,
  async run(args, io) {
    const [command, ...rest] = args;
    if (command === undefined || command === '--help' || command === '-h') {
      io.stdout(help);
      return;
    }
    if (command === 'create') return create(rest, io);
    if (command === 'list') return list(rest, io);
    if (command === 'revoke') return revoke(rest, io);
    throw new CliError(`unknown api-key command '${command}'`, true);
  },
};
