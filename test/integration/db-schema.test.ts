import { createHash, randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../core/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  type ParsedSchema,
  type PrismaField,
  type PrismaModel,
  parsePrismaSchema,
} from '../helpers/prisma-schema.ts';

const root = path.resolve(import.meta.dirname, '../..');
const schemaText = await readFile(path.join(root, 'prisma/schema.prisma'), 'utf8');
const schema: ParsedSchema = parsePrismaSchema(schemaText);
const modelNames = new Set(schema.models.map((m) => m.name));
const enumsByName = new Map(schema.enums.map((e) => [e.name, e]));

const scalarFields = (m: PrismaModel) => m.fields.filter((f) => !modelNames.has(f.type));
const columnOf = (m: PrismaModel, field: string) => m.fields.find((f) => f.name === field)!.column;

type ColumnRow = {
  table_name: string;
  column_name: string;
  data_type: string;
  udt_name: string;
  is_nullable: 'YES' | 'NO';
  column_default: string | null;
  numeric_precision: number | null;
  numeric_scale: number | null;
  character_maximum_length: number | null;
  datetime_precision: number | null;
};

type ExpectedType = Partial<Omit<ColumnRow, 'table_name' | 'column_name' | 'is_nullable' | 'column_default'>>;

/** What Postgres reports for a Prisma field (Prisma's default native types for PostgreSQL). */
function expectedType(f: PrismaField): ExpectedType {
  const enumDef = enumsByName.get(f.type);
  if (enumDef) return { data_type: 'USER-DEFINED', udt_name: enumDef.dbName };
  const native = f.nativeType;
  switch (f.type) {
    case 'String':
      if (native?.name === 'Uuid') return { data_type: 'uuid' };
      if (native?.name === 'Char')
        return { data_type: 'character', character_maximum_length: native.args[0] };
      if (native === undefined) return { data_type: 'text' };
      break;
    case 'Int':
      return { data_type: 'integer' };
    case 'BigInt':
      return { data_type: 'bigint' };
    case 'Boolean':
      return { data_type: 'boolean' };
    case 'Json':
      return { data_type: 'jsonb' };
    case 'Decimal': {
      const [precision, scale] = native?.name === 'Decimal' ? native.args : [65, 30];
      return { data_type: 'numeric', numeric_precision: precision, numeric_scale: scale };
    }
    case 'DateTime':
      if (native?.name === 'Date') return { data_type: 'date' };
      if (native?.name === 'Timestamptz')
        return { data_type: 'timestamp with time zone', datetime_precision: native.args[0] ?? 3 };
      if (native === undefined) return { data_type: 'timestamp without time zone', datetime_precision: 3 };
      break;
  }
  throw new Error(`no expectation for ${f.name} ${f.type} ${native?.name}`);
}

let tdb: TestDatabase;

beforeAll(async () => {
  tdb = await createTestDatabase();
});

afterAll(async () => {
  await tdb?.drop();
});

describe('prisma/schema.prisma and the generated client', () => {
  it('the generated client was generated from the current schema.prisma', async () => {
    const classTs = await readFile(path.join(root, 'core/db/generated/internal/class.ts'), 'utf8');
    const literal = /"inlineSchema": ("(?:[^"\\]|\\.)*")/.exec(classTs);
    expect(literal, 'inlineSchema in the generated client').not.toBeNull();
    expect(JSON.parse(literal![1])).toBe(schemaText);
  });

  it('the schema reader agrees with the runtime data model of the client', () => {
    const runtime = (tdb.prisma as unknown as { _runtimeDataModel: RuntimeDataModel })._runtimeDataModel;
    expect(Object.keys(runtime.models).sort()).toEqual([...modelNames].sort());
    for (const model of schema.models) {
      const rt = runtime.models[model.name];
      expect(rt.dbName ?? model.name, model.name).toBe(model.table);
      expect(
        rt.fields.map((f) => `${f.name}:${f.kind === 'object' ? 'object' : (f.dbName ?? f.name)}:${f.type}`),
      ).toEqual(
        model.fields.map((f) => `${f.name}:${modelNames.has(f.type) ? 'object' : f.column}:${f.type}`),
      );
    }
  });
});

type RuntimeDataModel = {
  models: Record<
    string,
    { dbName: string | null; fields: { name: string; kind: string; type: string; dbName?: string | null }[] }
  >;
};

describe('the migrated database', () => {
  it('has exactly the tables and columns of schema.prisma, with their types, nullability and defaults', async () => {
    const { rows } = await tdb.pool.query<ColumnRow>(
      `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, numeric_precision,
              numeric_scale, character_maximum_length, datetime_precision
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
       ORDER BY table_name, ordinal_position`,
    );
    const actualTables = [...new Set(rows.map((r) => r.table_name))].sort();
    expect(actualTables).toEqual(schema.models.map((m) => m.table).sort());

    for (const model of schema.models) {
      const columns = rows.filter((r) => r.table_name === model.table);
      const fields = scalarFields(model);
      expect(columns.map((c) => c.column_name).sort(), model.table).toEqual(
        fields.map((f) => f.column).sort(),
      );
      for (const f of fields) {
        const col = columns.find((c) => c.column_name === f.column)!;
        const where = `${model.table}.${f.column}`;
        const expected = expectedType(f);
        const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, col[k as keyof ColumnRow]]));
        expect(actual, where).toEqual(expected);
        expect(col.is_nullable, `${where} nullability`).toBe(f.optional ? 'YES' : 'NO');
        expect(col.column_default !== null, `${where} has a default`).toBe(f.hasDefault);
      }
    }
  });

  it('has exactly the enums of schema.prisma, with their values in order', async () => {
    const { rows } = await tdb.pool.query<{ name: string; values: string[] }>(
      `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY t.typname`,
    );
    expect(rows).toEqual(
      schema.enums
        .map((e) => ({ name: e.dbName, values: e.values }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  it('has the primary keys, unique indexes and indexes of schema.prisma', async () => {
    const { rows } = await tdb.pool.query<{ table: string; kind: string; columns: string[] }>(
      `SELECT c.relname AS table,
              CASE WHEN i.indisprimary THEN 'id' WHEN i.indisunique THEN 'unique' ELSE 'index' END AS kind,
              array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
       WHERE ns.nspname = 'public' AND c.relname <> '_prisma_migrations'`,
    );
    const key = (r: { table: string; kind: string; columns: string[] }) =>
      `${r.table} ${r.kind} (${r.columns})`;
    const expected = schema.models.flatMap((m) => [
      { table: m.table, kind: 'id', columns: m.id.map((f) => columnOf(m, f)) },
      ...m.uniques.map((u) => ({ table: m.table, kind: 'unique', columns: u.map((f) => columnOf(m, f)) })),
      ...m.indexes.map((u) => ({ table: m.table, kind: 'index', columns: u.map((f) => columnOf(m, f)) })),
    ]);
    expect(rows.map(key).sort()).toEqual(expected.map(key).sort());
  });

  it('has the foreign keys of schema.prisma, with their delete rules', async () => {
    const { rows } = await tdb.pool.query<{
      table: string;
      columns: string[];
      ref: string;
      refColumns: string[];
      onDelete: string;
    }>(
      `SELECT c.conrelid::regclass::text AS table, c.confrelid::regclass::text AS ref,
              array(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n ORDER BY k.o)::text[] AS columns,
              array(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n ORDER BY k.o)::text[] AS "refColumns",
              CASE c.confdeltype WHEN 'c' THEN 'Cascade' WHEN 'n' THEN 'SetNull' WHEN 'r' THEN 'Restrict'
                                 WHEN 'a' THEN 'NoAction' ELSE 'SetDefault' END AS "onDelete"
       FROM pg_constraint c WHERE c.contype = 'f'`,
    );
    const tableOf = (name: string) => schema.models.find((m) => m.name === name)!;
    const expected = schema.models.flatMap((m) =>
      m.fields
        .filter((f) => f.relation)
        .map((f) => {
          const target = tableOf(f.type);
          return {
            table: m.table,
            columns: f.relation!.fields.map((x) => columnOf(m, x)),
            ref: target.table,
            refColumns: f.relation!.references.map((x) => columnOf(target, x)),
            onDelete: f.relation!.onDelete ?? (f.optional ? 'SetNull' : 'Restrict'),
          };
        }),
    );
    const key = (r: (typeof expected)[number]) =>
      `${r.table}(${r.columns}) -> ${r.ref}(${r.refColumns}) ${r.onDelete}`;
    expect(rows.map(key).sort()).toEqual(expected.map(key).sort());
  });
});

describe('db:migrate', () => {
  it('records each migration with the SHA-256 of its file and applies nothing twice', async () => {
    const files = await readMigrations();
    const { rows } = await tdb.pool.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`,
    );
    expect(rows).toEqual(
      await Promise.all(
        files.map(async (m) => ({
          migration_name: m.name,
          checksum: createHash('sha256')
            .update(await readFile(path.join(MIGRATIONS_DIR, m.name, 'migration.sql')))
            .digest('hex'),
        })),
      ),
    );
    const again = await migrate({ databaseUrl: tdb.url });
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(files.map((m) => m.name));
  });

  it('refuses to run when an applied migration was changed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'npl-migrations-'));
    try {
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      const first = (await readMigrations(dir))[0];
      await writeFile(path.join(dir, first.name, 'migration.sql'), `${first.sql}\n-- edited\n`);
      await expect(migrate({ databaseUrl: tdb.url, dir })).rejects.toThrow(/changed after it was applied/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('every model through the generated client', () => {
  /** A value of the field's type that exercises its full column type (precision, length, enum). */
  function sampleValue(f: PrismaField, n: number): unknown {
    const enumDef = enumsByName.get(f.type);
    if (enumDef) return enumDef.values[n % enumDef.values.length];
    switch (f.type) {
      case 'String':
        if (f.nativeType?.name === 'Uuid') return randomUUID();
        if (f.nativeType?.name === 'Char')
          return 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2).slice(n, n + f.nativeType.args[0]);
        return `${f.name} ${n} ü ✓`;
      case 'Int':
        return 2_000_000_000 - n;
      case 'BigInt':
        return 9_007_199_254_740_993n + BigInt(n);
      case 'Boolean':
        return n % 2 === 0;
      case 'Json':
        return { n, list: [1, 'two', null], nested: { ok: true } };
      case 'Decimal': {
        const [precision, scale] = f.nativeType?.args ?? [65, 30];
        const digits = '98765432109876543210'.repeat(4);
        const int = digits.slice(0, precision - scale);
        return scale === 0 ? int : `${int}.${digits.slice(n, n + scale)}`;
      }
      case 'DateTime':
        return f.nativeType?.name === 'Date'
          ? new Date(Date.UTC(2020, 1, 29 - n))
          : new Date(Date.UTC(2024, 0, 1, 12, 0, 0, 123 + n));
    }
    throw new Error(`no sample for ${f.type}`);
  }

  const normalise = (v: unknown): unknown => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Date) return v.toISOString();
    if (typeof v === 'object' && 'toFixed' in v && typeof v.toFixed === 'function') return v.toFixed();
    return v;
  };

  /** Models ordered so that every relation target is created first. */
  function creationOrder(): PrismaModel[] {
    const done: PrismaModel[] = [];
    const pending = [...schema.models];
    while (pending.length > 0) {
      const i = pending.findIndex((m) =>
        m.fields.every((f) => !f.relation || f.type === m.name || done.some((d) => d.name === f.type)),
      );
      if (i < 0) throw new Error('relation cycle');
      done.push(...pending.splice(i, 1));
    }
    return done;
  }

  it('writes every field of every model and reads the same values back', async () => {
    const created = new Map<string, Record<string, unknown>>();
    const delegates = tdb.prisma as unknown as Record<
      string,
      {
        create: (a: { data: Record<string, unknown> }) => Promise<Record<string, unknown>>;
        findFirstOrThrow: (a: { where: Record<string, unknown> }) => Promise<Record<string, unknown>>;
      }
    >;
    for (const [withOptionals, round] of [
      [true, 1],
      [false, 2],
    ] as const) {
      for (const model of creationOrder()) {
        const fields = scalarFields(model);
        const fkValue = new Map<string, unknown>();
        for (const rel of model.fields.filter((f) => f.relation)) {
          const target = created.get(rel.type)!;
          rel.relation!.fields.forEach((field, i) => {
            fkValue.set(field, target[rel.relation!.references[i]]);
          });
        }
        const data: Record<string, unknown> = {};
        for (const f of fields) {
          if (fkValue.has(f.name)) data[f.name] = fkValue.get(f.name);
          else if (withOptionals || (!f.optional && !f.hasDefault && !f.updatedAt))
            data[f.name] = sampleValue(f, round);
        }
        const delegate = delegates[model.name[0].toLowerCase() + model.name.slice(1)];
        const row = await delegate.create({ data });
        const where = Object.fromEntries(model.id.map((f) => [f, row[f]]));
        const read = await delegate.findFirstOrThrow({ where });
        for (const f of fields) {
          const label = `${model.name}.${f.name} (round ${round})`;
          if (f.name in data) expect(normalise(read[f.name]), label).toEqual(normalise(data[f.name]));
          else if (f.optional && !f.hasDefault) expect(read[f.name], label).toBeNull();
          else expect(read[f.name], label).not.toBeNull();
        }
        created.set(model.name, read);
      }
    }
  });
});
