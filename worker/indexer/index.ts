/** The chain indexer: `createIndexer` (follows the contracts' logs into Postgres) and its reads. */
export * from './events.ts';
export * from './indexer.ts';
export {
  type BalancesAtParameters,
  type BalancesAtReturnType,
  balancesAt,
  type Cursor,
  type HolderBalance,
  loadCursor,
} from './store.ts';
