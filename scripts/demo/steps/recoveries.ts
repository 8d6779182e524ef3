/**
 * Steps 9 to 11: the servicer deposits each recovery; the on-chain waterfall it went through is
 * printed, then the worker's distribution is followed until it is paid (indexer → distribution row →
 * tree → proposeRoot → timelock → acceptRoot → claimMany) and each investor's pay-token balance
 * change is read from the chain.
 */
import { type Address, erc20Abi, parseEventLogs, type TypedDataDefinition } from 'viem';
import { servicerReport } from '../../../core/catalog/synthetic-portfolio.ts';
import { portfolioAbi } from '../../../core/chain/generated/index.ts';
import { ApiError, type Json } from '../api.ts';
import {
  type DemoRecovery,
  formatPay,
  MissingFeature,
  RECOVERIES,
  type RunningContext,
  sha256,
  whole,
} from './context.ts';

export async function depositRecoveries(ctx: RunningContext): Promise<void> {
  const { api, base, seed, investors, portfolioId, result, servicer, stepTimeoutMs, step, info, until } = ctx;
  const { payToken, tranches } = ctx.deployed;
  const { portfolioName } = ctx.plan;

  const payBalance = (address: Address, blockNumber: bigint) =>
    base.publicClient.readContract({
      address: payToken,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [address],
      blockNumber,
    });
  for (const [k, units] of RECOVERIES.entries()) {
    const amount = whole(units);
    step(`Recovery ${k + 1} of ${RECOVERIES.length}: the servicer deposits ${formatPay(amount)}`);
    const report = servicerReport({ seed, portfolioName, period: k + 1, amount: formatPay(amount) });
    const reportSha256 = sha256(report);
    const before = await base.publicClient.getBlockNumber();
    let accepted: Json;
    try {
      // the servicer consents to exactly this amount and report: it signs the deposit intent itself
      const intent: Json = await api.post(`/v1/portfolios/${portfolioId}/recoveries/intents`, {
        amount: amount.toString(),
        reportSha256,
      });
      const servicerSignature = await servicer.account.signTypedData(
        intent.typedData.deposit as TypedDataDefinition,
      );
      accepted = await api.post(`/v1/portfolios/${portfolioId}/recoveries`, {
        amount: amount.toString(),
        reportSha256,
        servicerSignature,
        nonce: intent.nonce,
        deadline: intent.deadline,
      });
    } catch (error) {
      if (error instanceof ApiError && error.routeMissing) {
        throw new MissingFeature(
          'POST /v1/portfolios/:id/recoveries is not in this API build (helper "api")',
        );
      }
      throw error;
    }
    const recoveryRow = await until(
      `recovery ${accepted.id}`,
      () => api.get(`/v1/recoveries/${accepted.id}`),
      (r: Json) => r.txHash && r.status !== 'pending' && r.status !== 'queued' && r.status !== 'submitted',
    );
    if (recoveryRow.status === 'failed')
      throw new Error(`recovery ${accepted.id} failed: ${JSON.stringify(recoveryRow)}`);
    const receipt = await base.publicClient.waitForTransactionReceipt({
      hash: recoveryRow.txHash,
      timeout: stepTimeoutMs,
    });
    const [event] = parseEventLogs({
      abi: portfolioAbi,
      logs: receipt.logs,
      eventName: 'RecoveryDistributed',
    });
    if (event === undefined) throw new Error(`no RecoveryDistributed event in ${recoveryRow.txHash}`);
    const w = event.args;
    const recovery: DemoRecovery = {
      index: k,
      amount,
      reportSha256,
      txHash: recoveryRow.txHash,
      blockNumber: receipt.blockNumber,
      snapshotBlock: w.snapshotBlock,
      recoveryId: w.recoveryId,
      waterfall: {
        servicerFee: w.servicerFee,
        protocolFee: w.protocolFee,
        interest: [...w.interest],
        principal: [...w.principal],
        residual: [...w.residual],
        undistributed: w.undistributed,
      },
      distributionId: null,
      balanceBlocks: null,
      payouts: {},
    };
    result.recoveries.push(recovery);
    info(
      `deposited in block ${receipt.blockNumber} (tx ${recoveryRow.txHash}), snapshot block ${w.snapshotBlock}`,
    );
    info(`waterfall (report sha256 ${reportSha256.slice(0, 16)}...):`);
    info(
      `  ${'tranche'.padEnd(20)} ${'interest'.padStart(20)} ${'principal'.padStart(20)} ${'residual'.padStart(20)} ${'total'.padStart(20)}`,
    );
    for (const [t, tranche] of tranches.entries()) {
      const total = w.interest[t] + w.principal[t] + w.residual[t];
      info(
        `  ${`${tranche.name} (${tranche.symbol})`.padEnd(20)} ${formatPay(w.interest[t]).padStart(20)} ${formatPay(w.principal[t]).padStart(20)} ${formatPay(w.residual[t]).padStart(20)} ${formatPay(total).padStart(20)}`,
      );
    }
    info(`  ${'servicer fee'.padEnd(20)} ${formatPay(w.servicerFee).padStart(20)}`);
    info(`  ${'protocol fee'.padEnd(20)} ${formatPay(w.protocolFee).padStart(20)}`);
    if (w.undistributed > 0n)
      info(`  ${'undistributed'.padEnd(20)} ${formatPay(w.undistributed).padStart(20)}`);

    // the worker: indexer → distribution row → tree → proposeRoot → timelock → acceptRoot → claimMany
    let distribution: Json;
    try {
      let lastStatus = '';
      distribution = await until(
        `the distribution of recovery ${w.recoveryId}`,
        async () => {
          const page = await api.request('GET', `/v1/portfolios/${portfolioId}/distributions`, {
            auth: false,
          });
          const items: Json[] = page.items ?? page;
          const found = items.find((d) => String(d.recoveryId) === String(w.recoveryId));
          if (found && found.status !== lastStatus) {
            lastStatus = found.status;
            info(`distribution ${found.id}: ${found.status}`);
          }
          return found ?? { status: 'not yet created' };
        },
        // nothing mines blocks here: the worker's accept transaction passes the timelock by itself
        (d: Json) => d.status === 'paid' || d.status === 'failed',
      );
    } catch (error) {
      if (error instanceof ApiError && error.routeMissing) {
        throw new MissingFeature(
          'GET /v1/portfolios/:id/distributions is not in this API build (helper "verify")',
        );
      }
      throw error;
    }
    if (distribution.status !== 'paid')
      throw new Error(`distribution ${distribution.id} failed: ${distribution.error ?? ''}`);
    recovery.distributionId = distribution.id;
    const after = await base.publicClient.getBlockNumber();
    recovery.balanceBlocks = { before, after };
    info('payouts received on-chain (pay-token balance change):');
    for (const investor of investors) {
      const delta =
        (await payBalance(investor.address, after)) - (await payBalance(investor.address, before));
      recovery.payouts[investor.address] = delta;
      info(`  ${investor.name.padEnd(30)} ${formatPay(delta).padStart(20)}`);
    }
  }
}
