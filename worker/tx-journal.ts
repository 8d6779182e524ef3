/**
 * Crash-safe sending: a transaction is signed locally, its hash and raw bytes are recorded (the
 * journal) BEFORE it is broadcast, so a job that crashes at any point can find out on retry whether
 * its transaction was mined, is pending, or never reached the chain, and never sends a second one by
 * mistake.
 */
import {
  encodeFunctionData,
  type Hex,
  keccak256,
  NonceTooLowError,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
  BaseError as ViemBaseError,
} from 'viem';
import type { ChainClients, ChainWalletClient } from '../core/chain/clients.ts';
import { toChainError } from '../core/chain/errors.ts';
import { type TxContext, waitForSuccess } from '../core/chain/tx.ts';

/** A signed transaction as recorded in the journal (JSON-safe). */
export type JournaledTx = { hash: Hex; raw: Hex; nonce: number; signedAt: string };

/**
 * The same clients, except that `walletClient.writeContract` signs locally, awaits `record(tx)` and
 * only then broadcasts the raw transaction. A failing `record` means nothing was sent. Use it with
 * any core/chain action (e.g. `createPortfolio`); the action still waits for the receipt and decodes
 * reverts (gas estimation reverts before anything is signed).
 */
export function withTxJournal(
  clients: ChainClients,
  record: (tx: JournaledTx) => Promise<void>,
): ChainClients {
  const { walletClient, account, chain } = clients;
  const writeContract = async (parameters: {
    address: Hex;
    abi: readonly unknown[];
    functionName: string;
    args?: readonly unknown[];
    value?: bigint;
    gas?: bigint;
  }): Promise<Hex> => {
    const data = encodeFunctionData({
      abi: parameters.abi,
      functionName: parameters.functionName,
      args: parameters.args,
    } as Parameters<typeof encodeFunctionData>[0]);
    const request = await walletClient.prepareTransactionRequest({
      account,
      chain,
      to: parameters.address,
      data,
      value: parameters.value,
      gas: parameters.gas,
    });
    const raw = await walletClient.signTransaction(
      request as Parameters<typeof walletClient.signTransaction>[0],
    );
    const hash = keccak256(raw);
    await record({ hash, raw, nonce: Number(request.nonce), signedAt: new Date().toISOString() });
    return walletClient.sendRawTransaction({ serializedTransaction: raw });
  };
  const journaled = { ...walletClient, writeContract } as unknown as ChainWalletClient;
  return { ...clients, walletClient: journaled };
}

export type ResumeTxResult =
  | { status: 'mined'; receipt: TransactionReceipt }
  /** Never mined and can no longer be (its nonce went to another transaction, or the node refused it). */
  | { status: 'dropped'; reason: string };

/**
 * What became of a journaled transaction: mined (waits for a pending one; a mined revert throws the
 * decoded `ChainError`), or dropped; a transaction the node never saw is broadcast again first.
 * Transport failures throw a retryable `ChainError`.
 */
export async function resumeTx(
  clients: ChainClients,
  context: TxContext,
  tx: JournaledTx,
): Promise<ResumeTxResult> {
  const { publicClient } = clients;
  const receipt = await findReceipt(clients, context, tx.hash);
  if (receipt !== null) return { status: 'mined', receipt: await waitForSuccess(clients, context, tx.hash) };
  let known = true;
  try {
    await publicClient.getTransaction({ hash: tx.hash });
  } catch (error) {
    if (!isViem(error, TransactionNotFoundError)) throw toChainError(error, { ...context, txHash: tx.hash });
    known = false;
  }
  if (!known) {
    try {
      await publicClient.sendRawTransaction({ serializedTransaction: tx.raw });
    } catch (error) {
      const alreadyKnown = /already known|already imported|known transaction/i.test(String(error));
      if (!alreadyKnown) {
        const refused =
          isViem(error, NonceTooLowError) ||
          /nonce too low|underpriced|fee cap|max fee per gas|replacement/i.test(String(error));
        if (!refused) throw toChainError(error, { ...context, txHash: tx.hash });
        // it may have been mined between the two calls
        if ((await findReceipt(clients, context, tx.hash)) === null) {
          return { status: 'dropped', reason: (error as Error).message.split('\n')[0] };
        }
      }
    }
  }
  return { status: 'mined', receipt: await waitForSuccess(clients, context, tx.hash) };
}

async function findReceipt(clients: ChainClients, context: TxContext, hash: Hex) {
  try {
    return await clients.publicClient.getTransactionReceipt({ hash });
  } catch (error) {
    if (isViem(error, TransactionReceiptNotFoundError)) return null;
    throw toChainError(error, { ...context, txHash: hash });
  }
}

function isViem(error: unknown, type: abstract new (...args: never[]) => Error): boolean {
  return error instanceof ViemBaseError && error.walk((e) => e instanceof type) !== null;
}
