/**
 * The demo's time machine, local chains only (the demo refuses any other chain in setup.ts): the
 * business plan is measured in chain seconds after the close and the resolution has a veto window, so
 * instead of waiting months the demo moves anvil's clock forward (`evm_increaseTime`, then
 * `evm_mine` so the latest block carries the new time) and says so every time it does.
 */
import { MONTH_SECONDS, type RunningContext } from './context.ts';

/** `5 s`, `3 h`, `91.3 days (3.0 months)`: a readable length of chain time. */
export function formatDuration(seconds: bigint): string {
  if (seconds < 3_600n) return `${seconds} s`;
  if (seconds < 86_400n) return `${(Number(seconds) / 3_600).toFixed(1)} h`;
  const days = (Number(seconds) / 86_400).toFixed(1);
  return `${days} days (${(Number(seconds) / Number(MONTH_SECONDS)).toFixed(1)} months)`;
}

/** The UTC date `YYYY-MM-DD` of chain time `seconds`. */
export const chainDate = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString().slice(0, 10);

/**
 * Moves the local chain's clock to at least `to` (chain seconds) and mines a block there; nothing
 * when the chain is already past it. Returns the seconds added (0 when none).
 */
export async function advanceChainClock(ctx: RunningContext, to: bigint, why: string): Promise<bigint> {
  const { chainNow, testClient, info, result } = ctx;
  const now = await chainNow();
  if (now >= to) return 0n;
  const seconds = to - now;
  await testClient.increaseTime({ seconds: Number(seconds) });
  await testClient.mine({ blocks: 1 });
  result.clockAdvances.push(seconds);
  info(
    `LOCAL CHAIN ONLY: advancing the chain clock by ${formatDuration(seconds)} (anvil evm_increaseTime + evm_mine), ${why}; chain date now ${chainDate(await chainNow())}`,
  );
  return seconds;
}
