/**
 * Admin calls through the platform timelock (contracts/src/governance/PlatformTimelock.sol, an
 * OpenZeppelin TimelockController): every admin action on the registry, the Marketplace, the factory,
 * a Portfolio or a Distributor is `schedule`d by the admin key, visible on-chain (`CallScheduled`) for
 * at least the minimum delay, then `execute`d. An operation is identified by
 * `hashOperation(target, value, data, predecessor, salt)`; the same call twice needs another salt;
 * `predecessor` (an operation id, or zero) makes it wait until that one is done.
 */
import {
  type Abi,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionName,
  encodeAbiParameters,
  encodeFunctionData,
  type Hex,
  keccak256,
  type PublicClient,
  zeroHash,
} from 'viem';
import type { ChainClients } from './clients.ts';
import { toChainError } from './errors.ts';
import { platformTimelockAbi } from './generated/index.ts';
import { waitForSuccess } from './tx.ts';

/** One call the timelock makes: `target.call{value}(data)`. */
export type TimelockCall = {
  target: Address;
  data: Hex;
  /** Wei sent with the call; default 0. */
  value?: bigint;
  /** An operation id that must be done first; default none (zero). */
  predecessor?: Hex;
  /** Distinguishes identical calls; default zero. */
  salt?: Hex;
};

/** The calldata of an admin call, for `TimelockCall.data`. */
export function encodeAdminCall<
  const abi extends Abi | readonly unknown[],
  functionName extends ContractFunctionName<abi, 'nonpayable' | 'payable'>,
>(call: {
  abi: abi;
  functionName: functionName;
  args?: ContractFunctionArgs<abi, 'nonpayable' | 'payable', functionName>;
}): Hex {
  return encodeFunctionData(call as Parameters<typeof encodeFunctionData>[0]);
}

function normalised(call: TimelockCall) {
  return {
    target: call.target,
    value: call.value ?? 0n,
    data: call.data,
    predecessor: call.predecessor ?? zeroHash,
    salt: call.salt ?? zeroHash,
  };
}

/** The operation id, as `TimelockController.hashOperation` computes it. */
export function operationId(call: TimelockCall): Hex {
  const c = normalised(call);
  return keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'uint256' }, { type: 'bytes' }, { type: 'bytes32' }, { type: 'bytes32' }],
      [c.target, c.value, c.data, c.predecessor, c.salt],
    ),
  );
}

/** The `schedule` transaction the admin (key or multisig) sends: `{ to, data }`. */
export function scheduleTransaction(timelock: Address, call: TimelockCall, delaySeconds: bigint) {
  const c = normalised(call);
  return {
    to: timelock,
    data: encodeFunctionData({
      abi: platformTimelockAbi,
      functionName: 'schedule',
      args: [c.target, c.value, c.data, c.predecessor, c.salt, delaySeconds],
    }),
  };
}

/** The `execute` transaction the admin sends once the operation is ready: `{ to, data, value }`. */
export function executeTransaction(timelock: Address, call: TimelockCall) {
  const c = normalised(call);
  return {
    to: timelock,
    value: c.value,
    data: encodeFunctionData({
      abi: platformTimelockAbi,
      functionName: 'execute',
      args: [c.target, c.value, c.data, c.predecessor, c.salt],
    }),
  };
}

/** The guardian's (or the admin's) `cancel` transaction: `{ to, data }`. */
export function cancelTransaction(timelock: Address, id: Hex) {
  return {
    to: timelock,
    data: encodeFunctionData({ abi: platformTimelockAbi, functionName: 'cancel', args: [id] }),
  };
}

type ReadClient = Pick<PublicClient, 'readContract'>;

export type OperationState = 'unset' | 'waiting' | 'ready' | 'done';

export type OperationStatus = {
  id: Hex;
  state: OperationState;
  /** When it becomes executable (unix seconds); 0 when unset, 1 when done. */
  readyAt: bigint;
  minDelay: bigint;
};

/** The timelock's minimum delay (seconds). */
export async function readMinDelay(publicClient: ReadClient, timelock: Address): Promise<bigint> {
  try {
    return await publicClient.readContract({
      address: timelock,
      abi: platformTimelockAbi,
      functionName: 'getMinDelay',
    });
  } catch (error) {
    throw toChainError(error, { contract: 'PlatformTimelock', functionName: 'getMinDelay' });
  }
}

/** Where an operation is: unset (never scheduled, or cancelled), waiting, ready, done. */
export async function readOperation(
  publicClient: ReadClient,
  timelock: Address,
  id: Hex,
): Promise<OperationStatus> {
  try {
    const [state, readyAt, minDelay] = await Promise.all([
      publicClient.readContract({
        address: timelock,
        abi: platformTimelockAbi,
        functionName: 'getOperationState',
        args: [id],
      }),
      publicClient.readContract({
        address: timelock,
        abi: platformTimelockAbi,
        functionName: 'getTimestamp',
        args: [id],
      }),
      readMinDelay(publicClient, timelock),
    ]);
    const states: OperationState[] = ['unset', 'waiting', 'ready', 'done'];
    return { id, state: states[Number(state)] ?? 'unset', readyAt, minDelay };
  } catch (error) {
    throw toChainError(error, { contract: 'PlatformTimelock', functionName: 'getOperationState' });
  }
}

/**
 * Schedules `call` from the admin key of `clients` with `delaySeconds` (default: the minimum delay);
 * resolves once mined, with the operation id and when it becomes executable.
 */
export async function scheduleCall(
  clients: ChainClients,
  timelock: Address,
  call: TimelockCall,
  delaySeconds?: bigint,
): Promise<{ id: Hex; txHash: Hex; readyAt: bigint }> {
  const delay = delaySeconds ?? (await readMinDelay(clients.publicClient, timelock));
  const context = { contract: 'PlatformTimelock', functionName: 'schedule', abi: platformTimelockAbi };
  let txHash: Hex;
  try {
    const c = normalised(call);
    txHash = await clients.walletClient.writeContract({
      address: timelock,
      abi: platformTimelockAbi,
      functionName: 'schedule',
      args: [c.target, c.value, c.data, c.predecessor, c.salt, delay],
    });
    await waitForSuccess(clients, context, txHash);
  } catch (error) {
    throw toChainError(error, context);
  }
  const id = operationId(call);
  const status = await readOperation(clients.publicClient, timelock, id);
  return { id, txHash, readyAt: status.readyAt };
}

/** Executes a ready operation from the admin key of `clients`; a call that is not ready reverts (decoded). */
export async function executeCall(
  clients: ChainClients,
  timelock: Address,
  call: TimelockCall,
): Promise<Hex> {
  const context = { contract: 'PlatformTimelock', functionName: 'execute', abi: platformTimelockAbi };
  try {
    const c = normalised(call);
    const txHash = await clients.walletClient.writeContract({
      address: timelock,
      abi: platformTimelockAbi,
      functionName: 'execute',
      args: [c.target, c.value, c.data, c.predecessor, c.salt],
      value: c.value,
    });
    await waitForSuccess(clients, context, txHash);
    return txHash;
  } catch (error) {
    throw toChainError(error, context);
  }
}

/** Cancels a waiting or ready operation (admin key or guardian). */
export async function cancelOperation(clients: ChainClients, timelock: Address, id: Hex): Promise<Hex> {
  const context = { contract: 'PlatformTimelock', functionName: 'cancel', abi: platformTimelockAbi };
  try {
    const txHash = await clients.walletClient.writeContract({
      address: timelock,
      abi: platformTimelockAbi,
      functionName: 'cancel',
      args: [id],
    });
    await waitForSuccess(clients, context, txHash);
    return txHash;
  } catch (error) {
    throw toChainError(error, context);
  }
}
