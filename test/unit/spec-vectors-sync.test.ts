import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The repository carries its own copy of the normative waterfall vectors (`spec/vectors/`): every
 * test, forge and vitest, reads that copy and nothing outside the repository. Where the
 * workplace's steering folder sits beside the checkout (`../shared/vectors/`, as in this project's
 * CI), this is the one test that looks there: both folders must hold the same files, byte for byte.
 * In a plain clone there is no such folder and the comparison is skipped, saying why.
 */
const repoVectors = fileURLToPath(new URL('../../spec/vectors/', import.meta.url));
const sharedVectors = fileURLToPath(new URL('../../../shared/vectors/', import.meta.url));
const hasShared = existsSync(sharedVectors);

const jsonFiles = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort();

describe('spec/vectors', () => {
  it('holds the waterfall vectors the tests read', () => {
    expect(jsonFiles(repoVectors)).toEqual(expect.arrayContaining(['waterfall.json', 'waterfall-v2.json']));
  });

  if (!hasShared) {
    console.info(
      `spec/vectors sync: skipped, ${sharedVectors} does not exist (a clone without the steering folder)`,
    );
  }

  it.skipIf(!hasShared)(
    'equals ../shared/vectors byte for byte (skipped where that folder does not exist)',
    () => {
      expect(jsonFiles(repoVectors)).toEqual(jsonFiles(sharedVectors));
      for (const name of jsonFiles(sharedVectors)) {
        const ours = readFileSync(`${repoVectors}${name}`);
        const theirs = readFileSync(`${sharedVectors}${name}`);
        expect(ours.equals(theirs), `${name} differs from ../shared/vectors/${name}: copy it again`).toBe(
          true,
        );
      }
    },
  );
});
