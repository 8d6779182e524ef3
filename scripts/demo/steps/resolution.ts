/**
 * Step 13: resolution. The servicer proposes it (its signed `ResolutionIntent`, relayed); the
 * guardian's veto window (the resolution delay) starts: the demo shows a veto (`DELETE …/resolution`,
 * the guardian's key, which npm start holds on a local chain), proposes again, moves the local clock
 * past the window, and makes the final recovery (`final: true`, its own remittance report resolving
 * every loan left): the reserve is released into it and what the waterfall cannot pay is written off.
 */
import type { TypedDataDefinition } from 'viem';
import { ApiError, type Json } from '../api.ts';
import { advanceChainClock, chainDate } from './clock.ts';
import {
  FINAL_RECOVERY,
  formatPay,
  MONTH_SECONDS,
  RECOVERIES,
  type RunningContext,
  whole,
} from './context.ts';
import { depositRecovery } from './recoveries.ts';

export async function resolvePortfolio(ctx: RunningContext): Promise<void> {
  const { api, base, portfolioId, result, servicer, stepTimeoutMs, step, info, until } = ctx;
  step(
    'Resolution: the servicer proposes it, the guardian may veto, then the final recovery writes off what is left',
  );

  const propose = async () => {
    const intent: Json = await api.post(`/v1/portfolios/${portfolioId}/resolution/intents`);
    const servicerSignature = await servicer.account.signTypedData(
      intent.typedData.resolution as TypedDataDefinition,
    );
    const accepted: Json = await api.post(`/v1/portfolios/${portfolioId}/resolution`, {
      servicerSignature,
      nonce: intent.nonce,
      deadline: intent.deadline,
    });
    await base.publicClient.waitForTransactionReceipt({ hash: accepted.txHash, timeout: stepTimeoutMs });
    const state: Json = await until(
      'the resolution proposal',
      () => api.request('GET', `/v1/portfolios/${portfolioId}/resolution`, { auth: false }),
      (r: Json) => r.status === 'resolving' && r.executableAt !== null,
    );
    info(
      `proposed (servicer-signed ResolutionIntent, tx ${accepted.txHash}): executable at ${state.executableAt} ` +
        `(${chainDate(BigInt(state.executableAt))}), after a veto window of ${state.resolutionDelay} s`,
    );
    return state;
  };

  let state = await propose();
  let vetoed = false;
  try {
    const veto: Json = await api.request('DELETE', `/v1/portfolios/${portfolioId}/resolution`);
    const after: Json = await api.request('GET', `/v1/portfolios/${portfolioId}/resolution`, { auth: false });
    vetoed = true;
    info(
      `the guardian vetoes it inside the window (DELETE resolution, tx ${veto.txHash}): status ${after.status}; the servicer proposes again`,
    );
    state = await propose();
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'GUARDIAN_NOT_HELD')) throw error;
    info('(this server does not hold the guardian key: no veto shown)');
  }
  const executableAt = BigInt(state.executableAt);
  result.resolution = { vetoed, executableAt };

  // the last collections come in a month later, long after the veto window
  const finalAt = (result.closedAt as bigint) + BigInt(FINAL_RECOVERY.month) * MONTH_SECONDS;
  await advanceChainClock(
    ctx,
    finalAt > executableAt ? finalAt : executableAt,
    `past the veto window, to month ${FINAL_RECOVERY.month} after the close, when the servicer remits the last collections`,
  );
  const open: Json = await api.request('GET', `/v1/portfolios/${portfolioId}/resolution`, { auth: false });
  info(`resolution executable: ${open.executable} (chain time ${open.chainTime})`);

  const amount = whole(FINAL_RECOVERY.units);
  info(
    `final recovery: the servicer deposits ${formatPay(amount)} with the report that resolves every loan left`,
  );
  await depositRecovery(ctx, { index: RECOVERIES.length, amount, final: true });
  const resolved: Json = await api.request('GET', `/v1/portfolios/${portfolioId}/resolution`, {
    auth: false,
  });
  info(`resolution status: ${resolved.status}`);
}
