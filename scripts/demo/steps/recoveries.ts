/**
 * Steps 11 and 12: the servicer's recoveries, each behind its remittance report (steps/remittance.ts),
 * deposited as many months after the close as RECOVERIES says (the local chain's clock is moved there,
 * steps/clock.ts). For each: the report's total, the on-chain waterfall, the trigger test against the
 * business plan, the reserve's movements and the interest deferred; then the worker's distribution is
 * followed until it is paid (indexer → distribution row → tree → proposeRoot → timelock → acceptRoot →
 * claimMany) and each investor's pay-token balance change is read from the chain.
 * `depositRecovery` also makes the final recovery of the resolution (steps/resolution.ts).
 */
import { type Address, erc20Abi, parseEventLogs, type TypedDataDefinition } from 'viem';
import { readTrancheState } from '../../../core/chain/actions.ts';
import { portfolioAbi } from '../../../core/chain/generated/index.ts';
import { ApiError, type Json } from '../api.ts';
import { advanceChainClock, formatDuration } from './clock.ts';
import {
  type DemoRecovery,
  formatPay,
  MissingFeature,
  MONTH_SECONDS,
  RECOVERIES,
  type RunningContext,
  TRIGGER,
} from './context.ts';
import { uploadRemittanceReport } from './remittance.ts';

const pct = (bps: bigint | null) => (bps === null ? 'n/a' : `${(Number(bps) / 100).toFixed(2)}%`);

export async function depositRecoveries(ctx: RunningContext): Promise<void> {
  const { result, step } = ctx;
  const closedAt = result.closedAt as bigint;
  for (const [k, planned] of RECOVERIES.entries()) {
    const amount = planned.units * 10n ** 6n;
    step(
      `Recovery ${k + 1} of ${RECOVERIES.length}, month ${planned.month} after the close: the servicer deposits ${formatPay(amount)}`,
    );
    await advanceChainClock(
      ctx,
      closedAt + BigInt(planned.month) * MONTH_SECONDS,
      `to month ${planned.month} after the close, when the servicer remits`,
    );
    await depositRecovery(ctx, { index: k, amount, final: false });
  }
}

/** One recovery (ordinary or final) from its remittance report to its paid distribution. */
export async function depositRecovery(
  ctx: RunningContext,
  parameters: { index: number; amount: bigint; final: boolean },
): Promise<DemoRecovery> {
  const { api, base, investors, portfolioId, result, servicer, servicing, stepTimeoutMs, info, until } = ctx;
  const { portfolio, payToken, tranches } = ctx.deployed;
  const { index: k, amount, final } = parameters;
  const closedAt = result.closedAt as bigint;

  const payBalance = (address: Address, blockNumber: bigint) =>
    base.publicClient.readContract({
      address: payToken,
      abi: erc20Abi,
      functionName: 'balanceOf',
      args: [address],
      blockNumber,
    });

  // the servicer's loan-level report of the period: its total is the amount deposited
  const periodEnd = await ctx.chainNow();
  let report: Awaited<ReturnType<typeof uploadRemittanceReport>>;
  try {
    report = await uploadRemittanceReport(ctx, {
      period: k + 1,
      amount,
      from: servicing.periodStart,
      to: periodEnd,
      final,
      resolved: servicing.resolvedLoans,
    });
  } catch (error) {
    if (error instanceof ApiError && error.routeMissing)
      throw new MissingFeature('POST /v1/portfolios/:id/remittance-reports is not in this API build');
    throw error;
  }
  servicing.periodStart = periodEnd;
  info(
    `remittance report ${report.id} (sha256 ${report.sha256.slice(0, 16)}...): ${report.loanCount.toLocaleString('en-US')} loans, ` +
      `total ${formatPay(report.total)}, ${report.resolvedCount} loans resolved in it, period ${report.periodStart} to ${report.periodEnd}`,
  );
  if (report.total !== amount)
    throw new Error(`the report's total ${report.total} is not the deposit ${amount}`);

  const previous = result.recoveries.at(-1);
  const arrearsBefore = previous?.interestArrearsAfter ?? tranches.map(() => 0n);
  const before = await base.publicClient.getBlockNumber();
  // the servicer consents to exactly this amount and report: it signs the deposit intent itself
  const intent: Json = await api.post(`/v1/portfolios/${portfolioId}/recoveries/intents`, {
    amount: amount.toString(),
    reportId: report.id,
    ...(final ? { final: true } : {}),
  });
  const servicerSignature = await servicer.account.signTypedData(
    intent.typedData.deposit as TypedDataDefinition,
  );
  const accepted: Json = await api.post(`/v1/portfolios/${portfolioId}/recoveries`, {
    amount: amount.toString(),
    reportId: report.id,
    servicerSignature,
    nonce: intent.nonce,
    deadline: intent.deadline,
    ...(final ? { final: true } : {}),
  });
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
  const logs = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs });
  const event = logs.find((log) => log.eventName === 'RecoveryDistributed');
  const v2 = logs.find((log) => log.eventName === 'RecoveryTriggerAndReserve');
  const resolved = logs.find((log) => log.eventName === 'PortfolioResolved');
  if (event?.eventName !== 'RecoveryDistributed')
    throw new Error(`no RecoveryDistributed event in ${recoveryRow.txHash}`);
  if (v2?.eventName !== 'RecoveryTriggerAndReserve')
    throw new Error(`no RecoveryTriggerAndReserve event in ${recoveryRow.txHash}: not a spec-v2 portfolio`);
  if (final && resolved?.eventName !== 'PortfolioResolved')
    throw new Error(`the final recovery ${recoveryRow.txHash} emitted no PortfolioResolved`);
  const w = event.args;
  const t2 = v2.args;
  const block = await base.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  const stateAfter = await readTrancheState(base.publicClient, {
    portfolio,
    blockNumber: receipt.blockNumber,
  });
  const recovery: DemoRecovery = {
    index: k,
    amount,
    final,
    report: {
      id: report.id,
      total: report.total,
      loanCount: report.loanCount,
      resolvedCount: report.resolvedCount,
      periodStart: report.periodStart,
      periodEnd: report.periodEnd,
    },
    reportSha256: report.sha256,
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
    triggerAndReserve: {
      triggerBreached: t2.triggerBreached,
      collected: t2.collected,
      planned: t2.planned,
      released: t2.released,
      drawn: t2.drawn,
      replenished: t2.replenished,
      reserveBalance: t2.reserveBalance,
    },
    interestArrearsAfter: stateAfter.map((t) => t.arrears),
    writtenOff:
      resolved?.eventName === 'PortfolioResolved'
        ? {
            principal: [...resolved.args.principalWrittenOff],
            interest: [...resolved.args.interestWrittenOff],
          }
        : null,
    distributionId: null,
    balanceBlocks: null,
    payouts: {},
  };
  result.recoveries.push(recovery);
  info(
    `deposited in block ${receipt.blockNumber} (tx ${recoveryRow.txHash}), snapshot block ${w.snapshotBlock}, ` +
      `${formatDuration(block.timestamp - closedAt)} after the close`,
  );
  info(`waterfall${final ? ' (final: the resolving recovery)' : ''}:`);
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

  const ratio = t2.planned === 0n ? null : (t2.collected * 10_000n) / t2.planned;
  info(
    `trigger: collected ${formatPay(t2.collected)} against a plan of ${formatPay(t2.planned)} by now (${pct(ratio)}, floor ${pct(BigInt(TRIGGER.collectionRatioBps))}): ` +
      (t2.triggerBreached ? 'BREACHED: senior principal is paid ahead of junior interest' : 'not breached'),
  );
  info(
    `reserve: released ${formatPay(t2.released)}, drawn ${formatPay(t2.drawn)}, replenished ${formatPay(t2.replenished)}, balance after ${formatPay(t2.reserveBalance)}`,
  );
  for (const [t, tranche] of tranches.entries()) {
    if (t === tranches.length - 1) continue;
    const arrears = recovery.interestArrearsAfter[t];
    if (arrears === 0n) continue;
    const due = w.interest[t] + arrears;
    info(
      `${tranche.name} (${tranche.symbol}) interest deferred: ${formatPay(arrears)} (due ${formatPay(due)}, paid ${formatPay(w.interest[t])}` +
        `${arrearsBefore[t] > 0n ? `, of which ${formatPay(arrearsBefore[t])} already in arrears` : ''}), carried as arrears`,
    );
  }
  if (recovery.writtenOff !== null) {
    info('written off at resolution (PortfolioResolved):');
    info(`  ${'tranche'.padEnd(20)} ${'principal'.padStart(20)} ${'interest'.padStart(20)}`);
    for (const [t, tranche] of tranches.entries()) {
      info(
        `  ${`${tranche.name} (${tranche.symbol})`.padEnd(20)} ${formatPay(recovery.writtenOff.principal[t]).padStart(20)} ${formatPay(recovery.writtenOff.interest[t]).padStart(20)}`,
      );
    }
  }

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
    const delta = (await payBalance(investor.address, after)) - (await payBalance(investor.address, before));
    recovery.payouts[investor.address] = delta;
    info(`  ${investor.name.padEnd(30)} ${formatPay(delta).padStart(20)}`);
  }
  return recovery;
}
