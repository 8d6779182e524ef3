/**
 * `cli governance schedule|execute|status|cancel`: an admin call through the platform timelock
 * (core/chain/governance.ts). The call is named by `--to ADDR --data HEX`, or by `--to` (an address,
 * or registry / marketplace / factory / timelock from the deployment file) with `--function` (a
 * Solidity signature) and `--args` (a JSON array). `--calldata` prints the transaction for a
 * multisig instead of sending it from ADMIN_PRIVATE_KEY (local chains: DATA_DIR/platform-keys.json).
 */
import {
  type AbiFunction,
  type Address,
  createPublicClient,
  encodeFunctionData,
  type Hex,
  http,
  isAddress,
  isHex,
  parseAbiItem,
} from 'viem';
import { createChainClients } from '../../core/chain/clients.ts';
import { loadDeployment } from '../../core/chain/deployment.ts';
import { isChainError } from '../../core/chain/errors.ts';
import {
  cancelOperation,
  cancelTransaction,
  executeCall,
  executeTransaction,
  operationId,
  readMinDelay,
  readOperation,
  scheduleCall,
  scheduleTransaction,
  type TimelockCall,
} from '../../core/chain/governance.ts';
import { requireRoleKey } from '../../core/chain/keys.ts';
import { loadConfig } from '../../core/platform/config.ts';
import { CliError, type CliIo, type CliVerb, parseVerbArgs } from './verb.ts';

const help = `Usage: npm run cli -- governance <schedule|execute|status|cancel> [options]

An admin action through the platform timelock: schedule it (visible on-chain for at least the
timelock's minimum delay), then execute it once ready. status prints where it is.

The call:
  --to ADDR|NAME      the target: an address, or registry, marketplace, factory, timelock
  --data HEX          its calldata, or:
  --function SIG      a Solidity signature, e.g. "setFeeBps(uint16)"
  --args JSON         its arguments as a JSON array (numbers as strings for uint256), e.g. '["50"]'
  --value WEI         ether sent with the call (default 0)
  --salt HEX32        tells identical calls apart (default 0x0)
  --predecessor HEX32 an operation that must be done first (default none)
Options:
  --delay SECONDS     schedule: the delay (default: the timelock's minimum)
  --id HEX32          status / cancel: the operation id instead of the call
  --calldata          print the transaction { to, data, value } instead of sending it (a multisig admin)
  --rpc URL           JSON-RPC endpoint (default: RPC_URL)
  -h, --help          show this help

Sends from ADMIN_PRIVATE_KEY (on a local chain: the admin key in DATA_DIR/platform-keys.json);
cancel may also be sent by the guardian (--calldata for its multisig).
`;

function parseArgValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(parseArgValue);
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return value;
}

export const verb: CliVerb = {
  help,
  run: async (args: string[], io: CliIo) => {
    try {
      await run(args, io);
    } catch (error) {
      // a revert (not ready, not the proposer) is an answer, not a crash: its decoded message
      if (isChainError(error)) throw new CliError(error.message, false, { cause: error });
      throw error;
    }
  },
};

async function run(args: string[], io: CliIo): Promise<void> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === '-h') return io.stdout(help);
  if (!['schedule', 'execute', 'status', 'cancel'].includes(action)) {
    throw new CliError(`unknown action ${action}: schedule, execute, status or cancel`, true);
  }
  const v = parseVerbArgs(rest, {
    to: { type: 'string' },
    data: { type: 'string' },
    function: { type: 'string' },
    args: { type: 'string' },
    value: { type: 'string' },
    salt: { type: 'string' },
    predecessor: { type: 'string' },
    delay: { type: 'string' },
    id: { type: 'string' },
    calldata: { type: 'boolean' },
    rpc: { type: 'string' },
  });
  if (v.help) return io.stdout(help);
  const config = loadConfig();
  const rpcUrl = v.rpc ?? config.RPC_URL;
  if (rpcUrl === undefined) throw new CliError('missing --rpc (or RPC_URL)', true);
  const deployment = await loadDeployment(config).catch((error: unknown) => {
    throw new CliError((error as Error).message, false, { cause: error });
  });
  const timelock = deployment.timelock;
  if (timelock === undefined)
    throw new CliError('the deployment has no timelock (deployed without governance)');
  const publicClient = createPublicClient({ transport: http(rpcUrl, { retryCount: 1 }) });
  const chainId = await publicClient.getChainId();
  if (chainId !== deployment.chainId) {
    throw new CliError(`${rpcUrl} serves chain ${chainId}, the deployment is on ${deployment.chainId}`);
  }
  const hex32 = (value: string | undefined, name: string): Hex | undefined => {
    if (value === undefined) return undefined;
    if (!isHex(value) || value.length !== 66) throw new CliError(`${name}: 0x and 64 hex digits`, true);
    return value;
  };

  const call = (): TimelockCall => {
    const names: Record<string, Address | undefined> = {
      registry: deployment.complianceRegistry,
      marketplace: deployment.marketplace,
      factory: deployment.portfolioFactory,
      timelock,
    };
    const target = v.to === undefined ? undefined : (names[v.to] ?? v.to);
    if (target === undefined || !isAddress(target, { strict: false })) {
      throw new CliError('--to: an address or registry, marketplace, factory, timelock', true);
    }
    let data: Hex;
    if (v.data !== undefined) {
      if (!isHex(v.data)) throw new CliError('--data: hex calldata', true);
      data = v.data;
    } else if (v.function !== undefined) {
      let item: AbiFunction;
      try {
        item = parseAbiItem(`function ${v.function.replace(/^function\s+/, '')}`) as AbiFunction;
      } catch (error) {
        throw new CliError(`--function: ${(error as Error).message.split('\n')[0]}`, true);
      }
      let parsed: unknown[];
      try {
        parsed = ((JSON.parse(v.args ?? '[]') as unknown[]) ?? []).map(parseArgValue);
      } catch (error) {
        throw new CliError(`--args: ${(error as Error).message}`, true);
      }
      data = encodeFunctionData({ abi: [item], functionName: item.name, args: parsed });
    } else {
      throw new CliError('missing --data or --function', true);
    }
    return {
      target: target as Address,
      data,
      value: v.value === undefined ? undefined : BigInt(v.value),
      salt: hex32(v.salt, '--salt'),
      predecessor: hex32(v.predecessor, '--predecessor'),
    };
  };

  const print = (value: unknown) =>
    io.stdout(`${JSON.stringify(value, (_, x) => (typeof x === 'bigint' ? x.toString() : x), 2)}\n`);
  const signer = () =>
    createChainClients({ rpcUrl, chainId, privateKey: requireRoleKey(config, 'admin', chainId) });

  if (action === 'status') {
    const id = hex32(v.id, '--id') ?? operationId(call());
    const status = await readOperation(publicClient, timelock, id);
    print({ timelock, ...status });
    return;
  }
  if (action === 'cancel') {
    const id = hex32(v.id, '--id') ?? operationId(call());
    if (v.calldata) {
      print({ id, ...cancelTransaction(timelock, id) });
      return;
    }
    print({ id, cancelTx: await cancelOperation(signer(), timelock, id) });
    return;
  }
  const timelockCall = call();
  if (action === 'schedule') {
    const delay = v.delay === undefined ? await readMinDelay(publicClient, timelock) : BigInt(v.delay);
    if (v.calldata) {
      print({ id: operationId(timelockCall), ...scheduleTransaction(timelock, timelockCall, delay) });
      return;
    }
    print(await scheduleCall(signer(), timelock, timelockCall, delay));
    return;
  }
  if (v.calldata) {
    print({ id: operationId(timelockCall), ...executeTransaction(timelock, timelockCall) });
    return;
  }
  print({ id: operationId(timelockCall), executeTx: await executeCall(signer(), timelock, timelockCall) });
}
