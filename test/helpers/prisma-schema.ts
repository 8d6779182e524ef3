/**
 * A small reader for our own `prisma/schema.prisma` (as formatted by `prisma format`), enough to
 * compare the schema with a migrated database: models, fields with their column names, types,
 * optionality, native types and defaults, indexes, relations, enums. It is not a general Prisma
 * parser; it throws on any line it does not understand so the comparison can never silently skip.
 */

export type PrismaField = {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  nativeType?: { name: string; args: number[] };
  hasDefault: boolean;
  updatedAt: boolean;
  id: boolean;
  unique: boolean;
  relation?: { fields: string[]; references: string[]; onDelete?: string };
};

export type PrismaModel = {
  name: string;
  table: string;
  fields: PrismaField[];
  id: string[];
  uniques: string[][];
  indexes: string[][];
};

export type PrismaEnum = { name: string; dbName: string; values: string[] };

export type ParsedSchema = { models: PrismaModel[]; enums: PrismaEnum[] };

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function parsePrismaSchema(text: string): ParsedSchema {
  const lines = text.split('\n').map((l) => l.replace(/\/\/.*$/, '').trim());
  const models: PrismaModel[] = [];
  const enums: PrismaEnum[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^(model|enum|generator|datasource)\s+(\w+)\s*\{$/.exec(lines[i]);
    if (!head) {
      if (lines[i] !== '') throw new Error(`unexpected line ${i + 1}: ${lines[i]}`);
      continue;
    }
    const body: string[] = [];
    for (i++; lines[i] !== '}'; i++) if (lines[i] !== '') body.push(lines[i]);
    const [, kind, name] = head;
    if (kind === 'enum') {
      const map = body.find((l) => l.startsWith('@@map('));
      enums.push({
        name,
        dbName: map ? /@@map\("([^"]+)"\)/.exec(map)![1] : name,
        values: body.filter((l) => !l.startsWith('@@')).map((l) => /^(\w+)$/.exec(l)![1]),
      });
    }
    if (kind !== 'model') continue;
    const model: PrismaModel = { name, table: name, fields: [], id: [], uniques: [], indexes: [] };
    for (const line of body) {
      const block = /^@@(\w+)\((.*)\)$/.exec(line);
      if (block) {
        const [, attr, args] = block;
        const cols = /^\[([^\]]*)\]/.exec(args);
        if (attr === 'map') model.table = /^"([^"]+)"$/.exec(args)![1];
        else if (attr === 'id') model.id = list(cols![1]);
        else if (attr === 'unique') model.uniques.push(list(cols![1]));
        else if (attr === 'index') model.indexes.push(list(cols![1]));
        else throw new Error(`unknown block attribute @@${attr} in ${name}`);
        continue;
      }
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!m) throw new Error(`cannot read field line in ${name}: ${line}`);
      const [, fieldName, type, isList, isOptional, attrs] = m;
      const native = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs);
      const relation =
        /@relation\(fields: \[([^\]]*)\], references: \[([^\]]*)\](?:, onDelete: (\w+))?\)/.exec(attrs);
      const field: PrismaField = {
        name: fieldName,
        column: /@map\("([^"]+)"\)/.exec(attrs)?.[1] ?? fieldName,
        type,
        optional: isOptional === '?',
        list: isList === '[]',
        nativeType: native
          ? { name: native[1], args: native[2] ? list(native[2]).map(Number) : [] }
          : undefined,
        hasDefault: attrs.includes('@default('),
        updatedAt: attrs.includes('@updatedAt'),
        id: /@id\b/.test(attrs),
        unique: /@unique\b/.test(attrs),
        relation: relation
          ? { fields: list(relation[1]), references: list(relation[2]), onDelete: relation[3] }
          : undefined,
      };
      if (field.id) model.id = [fieldName];
      if (field.unique) model.uniques.push([fieldName]);
      model.fields.push(field);
    }
    models.push(model);
  }
  return { models, enums };
}
