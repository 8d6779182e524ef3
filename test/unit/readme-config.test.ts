/**
 * The README's configuration table is the documentation of core/platform/config.ts: every variable of the zod
 * schema has a row, no row names a variable the schema does not have, and where the schema has a
 * default the row shows it (as `value`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../core/platform/config.ts';

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');

/** `{ NAME: defaultCell }` of the table under `## Configuration`. */
function configTable(): Map<string, string> {
  const start = readme.indexOf('\n## Configuration\n');
  expect(start, 'README.md has a "## Configuration" section').toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const match = line.match(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|([^|]*)\|\s*$/);
    if (match) rows.set(match[1], match[2].trim());
  }
  return rows;
}

describe('README.md configuration table', () => {
  const rows = configTable();
  const variables = Object.keys(configSchema.shape);

  it('lists every variable of core/platform/config.ts', () => {
    expect(variables.filter((name) => !rows.has(name))).toEqual([]);
  });

  it('lists no variable that core/platform/config.ts does not read', () => {
    expect([...rows.keys()].filter((name) => !variables.includes(name))).toEqual([]);
  });

  it('shows each schema default as it is', () => {
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const wrong = Object.entries(defaults)
      .filter(([, value]) => value !== undefined)
      .filter(([name, value]) => !(rows.get(name) ?? '').includes(`\`${String(value)}\``))
      .map(([name, value]) => `${name}: README says "${rows.get(name)}", the schema ${String(value)}`);
    expect(wrong).toEqual([]);
  });
});
