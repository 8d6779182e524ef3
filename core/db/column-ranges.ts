/**
 * The largest values Postgres integer columns hold. A bigger value compared with such a column in a
 * query makes the query fail (a 500): inputs that reach these columns are bounded with them first.
 */

/** `integer` (int4): chain ids, days past due, log indexes. */
export const INT4_MAX = 2 ** 31 - 1;

/** `bigint` (int8): block numbers, nonces. */
export const INT8_MAX = 2n ** 63n - 1n;
