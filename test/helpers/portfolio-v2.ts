import { type Address, type Hex, maxUint256, parseEventLogs, type TransactionReceipt } from 'viem';
import {
  approve,
  type CreatePortfolioParameters,
  type CreatePortfolioReturnType,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
} from '../../core/chain/actions.ts';
import type { ChainClients } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { portfolioAbi } from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import type { createAnvilTestClient } from './anvil.ts';
import { allowlistAndBuy } from './portfolio.ts';

/**
 * Spec-v2 chain steps for tests (the servicer's, issuer treasury's and guardian's own calls), each
 * answering its receipt, and `runV2Scenario`: a v2 portfolio (reserve target, trigger over a business
 * plan) taken from its offering through reserve funding, recoveries that breach the trigger and one
 * that does not, a vetoed and a second resolution proposal, to its final recovery.
 */

type TestClient = ReturnType<typeof createAnvilTestClient>;

export const USD = (units: bigint | number) => BigInt(units) * 10n ** 6n;

async function portfolioCall(
  clients: ChainClients,
  portfolio: Address,
  functionName: 'fundReserve' | 'proposeResolution' | 'vetoResolution' | 'depositFinalRecovery',
  args: readonly unknown[],
): Promise<TransactionReceipt> {
  const { receipt } = await sendAndWait(
    clients,
    { contract: 'Portfolio', functionName, abi: portfolioAbi },
    () =>
      clients.walletClient.writeContract({
        address: portfolio,
        abi: portfolioAbi,
        functionName,
        args,
      } as never),
  );
  return receipt;
}

/** The issuer treasury mints `amount` TestStablecoin to itself (via `deployer`), approves and funds the reserve. */
export async function fundReserve(
  deployer: ChainClients,
  treasury: ChainClients,
  parameters: { stack: DeployedStack; portfolio: Address; amount: bigint },
): Promise<TransactionReceipt> {
  const token = parameters.stack.testStablecoin as Address;
  await mintTestStablecoin(deployer, { token, to: treasury.account.address, amount: parameters.amount });
  await approve(treasury, { token, spender: parameters.portfolio, amount: parameters.amount });
  return portfolioCall(treasury, parameters.portfolio, 'fundReserve', [parameters.amount]);
}

export const proposeResolution = (servicer: ChainClients, portfolio: Address) =>
  portfolioCall(servicer, portfolio, 'proposeResolution', []);

export const vetoResolution = (guardian: ChainClients, portfolio: Address) =>
  portfolioCall(guardian, portfolio, 'vetoResolution', []);

export const depositFinalRecovery = (
  servicer: ChainClients,
  portfolio: Address,
  amount: bigint,
  reportHash: Hex = `0x${'00'.repeat(32)}`,
) => portfolioCall(servicer, portfolio, 'depositFinalRecovery', [amount, reportHash]);

/** The followed Portfolio logs of `receipts` (emitted by `portfolio`), decoded, in chain order. */
export function portfolioLogs(receipts: readonly TransactionReceipt[], portfolio: Address) {
  return receipts
    .flatMap((receipt) => parseEventLogs({ abi: portfolioAbi, logs: receipt.logs }))
    .filter((log) => log.address.toLowerCase() === portfolio.toLowerCase())
    .sort((a, b) =>
      a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
    );
}

export const V2_TRANCHES = [
  { name: 'Senior', symbol: 'SNR', face: USD(500_000), couponBps: 800 },
  { name: 'Mezzanine', symbol: 'MEZ', face: USD(200_000), couponBps: 1_200 },
  { name: 'Residual', symbol: 'RES', face: USD(100_000), couponBps: 0 },
] as const;

const DAY = 86_400n;

/** Business plan (seconds after the close): 100k by day 30, 150k by day 60, 400k by day 365. */
export const V2_PLAN = [
  { atSeconds: 30n * DAY, cumulative: USD(100_000) },
  { atSeconds: 60n * DAY, cumulative: USD(150_000) },
  { atSeconds: 365n * DAY, cumulative: USD(400_000) },
] as const;

/** The scenario's steps after the close: seconds waited before each recovery and its amount. */
export const V2_RECOVERIES = [
  { waitSeconds: 45 * 86_400, amount: USD(1_000) },
  { waitSeconds: 30 * 86_400, amount: USD(200_000) },
] as const;
export const V2_FINAL_AMOUNT = USD(30_000);
/** Funded before the close and after it: together exactly the target (400 bps of the senior's 500k). */
export const V2_FUNDINGS = [USD(15_000), USD(5_000)] as const;

export const V2_TERMS = {
  reserve: { targetBps: 400 },
  trigger: { collectionRatioBps: 9_000, businessPlan: V2_PLAN },
  resolutionDelay: 600,
  timelockDelay: 5,
  servicerFeeBps: 100,
  protocolFeeBps: 50,
} as const;

export type V2Scenario = {
  created: CreatePortfolioReturnType;
  /** Every receipt of the scenario's portfolio steps after creation, in order. */
  receipts: TransactionReceipt[];
  /** Recovery amounts in order (the final one last). */
  amounts: bigint[];
  closeReceipt: { blockNumber: bigint };
};

/**
 * The v2 flow on a fresh portfolio of `stack` (created by `deployer`, holding every role but these):
 * holders buy the tranches out (senior 500k, mezzanine 200k, residual 100k), the issuer treasury funds
 * the reserve before and after the close (15k + 5k, the target), recovery 1 (1k on day 45) breaches the
 * trigger and draws on the reserve for the senior's interest, recovery 2 (200k on day 75) does not breach
 * and replenishes it, the servicer proposes a resolution, the guardian vetoes it, the servicer proposes
 * again and, after the delay, deposits the final recovery (30k), which releases the reserve. `until:
 * 'closed'` stops after the close.
 */
export async function runV2Scenario(
  deployer: ChainClients,
  parameters: {
    stack: DeployedStack;
    testClient: TestClient;
    servicer: ChainClients;
    treasury: ChainClients;
    guardian: ChainClients;
    holders: readonly ChainClients[];
    terms?: Partial<CreatePortfolioParameters>;
    until?: 'closed';
  },
): Promise<V2Scenario> {
  const { stack, testClient, servicer, treasury, guardian } = parameters;
  const now = (await deployer.publicClient.getBlock()).timestamp;
  const created = await createPortfolio(deployer, {
    factory: stack.portfolioFactory,
    payToken: stack.testStablecoin as Address,
    registry: stack.complianceRegistry,
    servicer: servicer.account.address,
    issuerTreasury: treasury.account.address,
    guardian: guardian.account.address,
    offeringEnd: now + 86_400n,
    tranches: V2_TRANCHES,
    ...V2_TERMS,
    ...parameters.terms,
  });
  const portfolio = created.portfolio;
  await allowlistAndBuy(deployer, {
    stack,
    portfolio,
    holders: parameters.holders,
    purchases: [
      [USD(300_000), USD(200_000), 0n],
      [USD(200_000), 0n, USD(100_000)],
    ],
    expiry: now + 10n * 365n * 86_400n,
    cash: USD(1_000_000),
  });
  const receipts: TransactionReceipt[] = [];
  const amounts: bigint[] = [];
  const hasReserve = (parameters.terms?.reserve ?? V2_TERMS.reserve).targetBps !== 0;
  if (hasReserve)
    receipts.push(await fundReserve(deployer, treasury, { stack, portfolio, amount: V2_FUNDINGS[0] }));
  const closed = await closeOffering(deployer, { portfolio });
  if (parameters.until === 'closed') return { created, receipts, amounts, closeReceipt: closed };
  if (hasReserve)
    receipts.push(await fundReserve(deployer, treasury, { stack, portfolio, amount: V2_FUNDINGS[1] }));

  await mintTestStablecoin(deployer, {
    token: stack.testStablecoin as Address,
    to: servicer.account.address,
    amount: USD(1_000_000),
  });
  await approve(servicer, { token: stack.testStablecoin as Address, spender: portfolio, amount: maxUint256 });
  const recover = async (amount: bigint) => {
    const result = await depositRecovery(servicer, { portfolio, amount });
    amounts.push(amount);
    receipts.push(await deployer.publicClient.getTransactionReceipt({ hash: result.txHash }));
  };
  for (const { waitSeconds, amount } of V2_RECOVERIES) {
    await testClient.increaseTime({ seconds: waitSeconds });
    await recover(amount);
  }
  receipts.push(await proposeResolution(servicer, portfolio));
  receipts.push(await vetoResolution(guardian, portfolio));
  receipts.push(await proposeResolution(servicer, portfolio));
  await testClient.increaseTime({ seconds: 601 });
  await testClient.mine({ blocks: 1 });
  receipts.push(await depositFinalRecovery(servicer, portfolio, V2_FINAL_AMOUNT, `0x${'f1'.repeat(32)}`));
  amounts.push(V2_FINAL_AMOUNT);
  return { created, receipts, amounts, closeReceipt: closed };
}
