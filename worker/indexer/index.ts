/** The chain indexer: `createIndexer` (follows the contracts' logs into Postgres) and its reads. */

export {
  type BalancesAtParameters,
  type BalancesAtReturnType,
  balancesAt,
  type Cursor,
  type HolderBalance,
  loadCursor,
} from '../../core/chain-index/store.ts';
export * from './events.ts';
export * from './indexer.ts';
