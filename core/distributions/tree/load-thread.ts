/**
 * The worker thread of core/distributions/payouts.ts's tree loads: the whole-tree work (reading and parsing a dump
 * file, checking every hash; or building the tree from holder rows) runs here, never on the API's event
 * loop. The built tree goes back as transferred buffers (`distributionTreeParts`), which the main
 * thread wraps in constant time.
 *
 * workerData `{ kind: 'file', path }`: answers `{ ok: true, parts }`, `{ ok: true, parts: null }` when
 * the file cannot be read (the caller falls back to the rows), or `{ ok: false, error }`.
 * workerData `{ kind: 'rows' }`: receives `{ accounts, amounts }` pages (decimal strings), then
 * `{ done: true }`, and answers the same way.
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { BaseError } from '../../platform/errors/index.ts';
import {
  buildDistributionTree,
  type DistributionEntry,
  type DistributionTree,
  distributionTreeParts,
  loadDistributionTreeJson,
  transferListOf,
} from './merkle.ts';

export type TreeThreadInput = { module: string } & ({ kind: 'file'; path: string } | { kind: 'rows' });
export type TreeThreadPage = { accounts: string[]; amounts: string[] } | { done: true };
export type TreeThreadError = {
  message: string;
  code?: BaseError['code'];
  statusCode?: number;
  details?: unknown;
};

const port = parentPort!;
const input = workerData as TreeThreadInput;

function answer(tree: DistributionTree | null): void {
  if (tree === null) {
    port.postMessage({ ok: true, parts: null });
    return;
  }
  const parts = distributionTreeParts(tree);
  port.postMessage({ ok: true, parts }, transferListOf(parts));
}

function fail(error: unknown): void {
  const out: TreeThreadError =
    error instanceof BaseError
      ? { message: error.message, code: error.code, statusCode: error.statusCode, details: error.details }
      : { message: error instanceof Error ? error.message : String(error) };
  port.postMessage({ ok: false, error: out });
}

if (input.kind === 'file') {
  readFile(input.path).then(
    (bytes) => {
      try {
        answer(loadDistributionTreeJson(bytes));
      } catch (error) {
        fail(error);
      }
    },
    () => answer(null),
  );
} else {
  const entries: DistributionEntry[] = [];
  port.on('message', (page: TreeThreadPage) => {
    if ('done' in page) {
      try {
        answer(buildDistributionTree(entries));
      } catch (error) {
        fail(error);
      }
      return;
    }
    for (let k = 0; k < page.accounts.length; k++) {
      entries.push({ account: page.accounts[k], amount: BigInt(page.amounts[k]) });
    }
  });
}
