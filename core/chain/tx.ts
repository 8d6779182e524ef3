/**
 * Sending a transaction and waiting for it, with every failure turned into a `ChainError` that
 * names the contract and function (and, for a revert, the decoded custom error).
 */
import type { Abi, Hex, TransactionReceipt } from 'viem';
import type { ChainClients } from './clients.ts';
import { ChainError, toChainError } from './errors.ts';

export type TxContext = { contract: string; functionName: string; abi?: Abi };

export type SentTransaction = { txHash: Hex; receipt: TransactionReceipt };

/**
 * Runs `send` (a `writeContract` / `deployContract` / `sendTransaction`), waits for the receipt and
 * throws a `ChainError` if sending failed or the transaction reverted when mined.
 */
export async function sendAndWait(
  clients: ChainClients,
  context: TxContext,
  send: () => Promise<Hex>,
): Promise<SentTransaction> {
  let txHash: Hex;
  try {
    txHash = await send();
  } catch (error) {
    throw toChainError(error, context);
  }
  return { txHash, receipt: await waitForSuccess(clients, context, txHash) };
}

/** Waits for `txHash`; on a mined revert, replays the call at that block to decode why. */
export async function waitForSuccess(clients: ChainClients, context: TxContext, txHash: Hex) {
  let receipt: TransactionReceipt;
  try {
    receipt = await clients.publicClient.waitForTransactionReceipt({ hash: txHash });
  } catch (error) {
    throw toChainError(error, { ...context, txHash });
  }
  if (receipt.status === 'success') return receipt;
  const replayed = await replayRevert(clients, context, txHash, receipt);
  throw (
    replayed ??
    new ChainError(`${context.contract}.${context.functionName}: transaction ${txHash} reverted`, {
      kind: 'revert',
      contract: context.contract,
      functionName: context.functionName,
      txHash,
    })
  );
}

async function replayRevert(
  clients: ChainClients,
  context: TxContext,
  txHash: Hex,
  receipt: TransactionReceipt,
): Promise<ChainError | undefined> {
  try {
    const tx = await clients.publicClient.getTransaction({ hash: txHash });
    await clients.publicClient.call({
      account: tx.from,
      to: tx.to ?? undefined,
      data: tx.input,
      value: tx.value,
      gas: tx.gas,
      blockNumber: receipt.blockNumber - 1n,
    });
    return undefined;
  } catch (error) {
    const chainError = toChainError(error, { ...context, txHash });
    return chainError.kind === 'revert' ? chainError : undefined;
  }
}
