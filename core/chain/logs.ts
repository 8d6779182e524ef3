/**
 * Logs over block ranges: the one place that reads `eth_getLogs` in bounded ranges (halved while the
 * node answers "too many results", grown back after), the detection of "too many results" in the
 * words of the common RPC providers, and the block a contract was created in.
 *
 * The indexer (worker/indexer/indexer.ts) shares the detection; its range loop stays its own (a range
 * is sized from the log density seen, ends at a `PortfolioCreated`, is fetched one ahead of the writer
 * and carries the hash of its end block).
 */
import { type AbiEvent, type Address, type Log, type PublicClient, toEventSelector } from 'viem';
import { BaseError } from '../platform/errors/index.ts';

/** "Too many results" in the words of the common RPC providers (and anvil). */
const TOO_MANY =
  /too many|more than \d+ (results|logs)|query returned more|limit exceeded|response size|range is too large|block range|exceed/i;

/** Whether a node refused an `eth_getLogs` because its answer would be too large (a smaller range may pass). */
export function isTooManyResults(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (TOO_MANY.test(e.message) || (e as { code?: number }).code === -32005) return true;
    // viem's HTTP transport refuses bodies over its size limit: a smaller range answers less
    if (e.name === 'ResponseBodyTooLargeError') return true;
    if ((e as { details?: string }).details && TOO_MANY.test(String((e as { details?: string }).details)))
      return true;
  }
  return false;
}

/** The address has no code at the block asked (not a contract, or not deployed yet). */
export class NoContractCodeError extends BaseError {
  override name = 'NoContractCodeError';
  constructor(
    readonly address: Address,
    readonly blockNumber: bigint,
  ) {
    super(`${address} has no code at block ${blockNumber}`, {
      code: 'NOT_FOUND',
      details: { address, blockNumber: blockNumber.toString() },
    });
  }
}

/**
 * eth_getLogs over [fromBlock, toBlock] in ranges of at most `range` blocks (halved while the node
 * answers "too many results"); `stop` ends early after a range whose logs satisfy it. The logs'
 * `blockNumber` is a bigint, `logIndex` and `transactionIndex` numbers.
 */
export async function getLogsInRanges(
  client: PublicClient,
  parameters: {
    address: Address | Address[];
    events: readonly AbiEvent[];
    args?: Record<string, unknown>;
    fromBlock: bigint;
    toBlock: bigint;
    range?: bigint;
    stop?: (logs: Log[]) => boolean;
  },
): Promise<Log[]> {
  const out: Log[] = [];
  const maxRange = parameters.range ?? 2000n;
  let range = maxRange;
  let from = parameters.fromBlock;
  while (from <= parameters.toBlock) {
    const to = from + range - 1n < parameters.toBlock ? from + range - 1n : parameters.toBlock;
    let logs: Log[];
    try {
      logs = (await client.request({
        method: 'eth_getLogs',
        params: [
          {
            address: parameters.address,
            topics: [parameters.events.map((e) => toEventSelector(e))],
            fromBlock: `0x${from.toString(16)}`,
            toBlock: `0x${to.toString(16)}`,
          },
        ],
      })) as unknown as Log[];
    } catch (error) {
      if (isTooManyResults(error) && to > from) {
        range = (to - from + 1n) / 2n || 1n;
        continue;
      }
      throw error;
    }
    // raw RPC logs carry hex quantities: the numbers compared and passed on are bigints
    const chunk = logs.map(
      (log) =>
        ({
          ...log,
          blockNumber: BigInt(log.blockNumber ?? 0),
          logIndex: Number(log.logIndex ?? 0),
          transactionIndex: Number(log.transactionIndex ?? 0),
        }) as Log,
    );
    for (const log of chunk) out.push(log);
    from = to + 1n;
    if (range < maxRange) range = range * 2n > maxRange ? maxRange : range * 2n;
    if (parameters.stop?.(chunk)) break;
  }
  return out;
}

/** Orders logs by block, then log index. */
export const compareLogs = (a: Log, b: Log) =>
  a.blockNumber === b.blockNumber
    ? (a.logIndex ?? 0) - (b.logIndex ?? 0)
    : (a.blockNumber ?? 0n) < (b.blockNumber ?? 0n)
      ? -1
      : 1;

/**
 * First block where `address` has code (binary search over eth_getCode; archive reads).
 * `NoContractCodeError` when it has none at `head`.
 */
export async function findCreationBlock(
  client: PublicClient,
  address: Address,
  head: bigint,
): Promise<bigint> {
  const hasCode = async (blockNumber: bigint) => {
    const code = await client.getCode({ address, blockNumber });
    return code !== undefined && code !== '0x';
  };
  if (!(await hasCode(head))) throw new NoContractCodeError(address, head);
  let low = 0n;
  let high = head;
  while (low < high) {
    const mid = (low + high) / 2n;
    if (await hasCode(mid)) high = mid;
    else low = mid + 1n;
  }
  return low;
}
