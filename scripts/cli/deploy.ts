/**
 * `cli deploy`: deploys the platform's contracts (core/chain deployStack) with their governance
 * (a timelock as admin, one key per role: README "Trust model") and writes the deployment file.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Address, createPublicClient, getAddress, http, isAddress } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { createChainClients, isLocalChain } from '../../core/chain/clients.ts';
import { deployStack, type GovernanceParameters } from '../../core/chain/deploy.ts';
import { deploymentFilePath, saveDeployment } from '../../core/chain/deployment.ts';
import { requireRoleKey } from '../../core/chain/keys.ts';
import { loadConfig } from '../../core/platform/config.ts';
import { localGovernance } from '../services/anvil.ts';
import { CliError, type CliIo, type CliVerb, parseVerbArgs } from './verb.ts';

const help = `Usage: npm run cli -- deploy [--rpc URL] [--out FILE] [--force] [--json]
                             [--admin ADDR] [--guardian ADDR] [--root-proposer ADDR] [--relayer ADDR]
                             [--treasury ADDR] [--timelock-delay SECONDS]

Deploys ComplianceRegistry, the Portfolio / TrancheToken / Distributor implementations,
PortfolioFactory, the PlatformTimelock, Marketplace and, on a local chain (31337, 1337),
TestStablecoin; hands every admin role to the timelock, the guardian, root-proposer and relayer roles
to their own keys, renounces every role of the deploying key, checks all of it on-chain, then writes
the addresses as JSON to the deployment file the worker reads.

Options:
  --rpc URL                JSON-RPC endpoint (default: RPC_URL)
  --out FILE               where to write (default: DEPLOYMENT_FILE, else DATA_DIR/deployment.json)
  --force                  overwrite an existing file
  --json                   print the deployment as JSON
  --admin ADDR             the timelock's proposer and executor (default: ADMIN_ADDRESS, else ADMIN_PRIVATE_KEY's)
  --guardian ADDR          pause, revoke roots, freeze, cancel timelock operations (default: GUARDIAN_ADDRESS)
  --root-proposer ADDR     proposes Distributor roots (default: ROOT_PROPOSER_PRIVATE_KEY's address)
  --relayer ADDR           relays and pays gas; COMPLIANCE_ROLE (default: PLATFORM_PRIVATE_KEY's address)
  --treasury ADDR          protocol fees (default: the timelock)
  --timelock-delay SECONDS the timelock's minimum delay and floor (default: TIMELOCK_MIN_DELAY_SECONDS,
                           else 5 on a local chain, 2 days elsewhere)
  -h, --help               show this help

Signs with DEPLOYER_PRIVATE_KEY. On a local chain the deployer defaults to anvil's first account and
every other key to the one kept in DATA_DIR/platform-keys.json (created on first use, mode 0600,
never printed); each gets ether for gas.
`;

function addressOption(value: string | undefined, name: string): Address | undefined {
  if (value === undefined) return undefined;
  if (!isAddress(value, { strict: false })) throw new CliError(`${name}: not an address: ${value}`, true);
  return getAddress(value);
}

export const verb: CliVerb = {
  help,
  run: async (args: string[], io: CliIo) => {
    const v = parseVerbArgs(args, {
      rpc: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      admin: { type: 'string' },
      guardian: { type: 'string' },
      'root-proposer': { type: 'string' },
      relayer: { type: 'string' },
      treasury: { type: 'string' },
      'timelock-delay': { type: 'string' },
    });
    if (v.help) return io.stdout(help);
    const config = loadConfig();
    const rpcUrl = v.rpc ?? config.RPC_URL;
    if (rpcUrl === undefined) throw new CliError('missing --rpc (or RPC_URL)', true);
    const out = resolve(io.cwd, v.out ?? deploymentFilePath(config));
    if (existsSync(out) && !v.force) {
      throw new CliError(`${out} exists; pass --force to overwrite it (or --out another file)`);
    }
    const delayText = v['timelock-delay'];
    if (delayText !== undefined && !/^[1-9]\d*$/.test(delayText)) {
      throw new CliError(`--timelock-delay: a whole number of seconds >= 1, not ${delayText}`, true);
    }
    let chainId: number;
    try {
      chainId = await createPublicClient({ transport: http(rpcUrl, { retryCount: 1 }) }).getChainId();
    } catch (error) {
      throw new CliError(`cannot reach ${rpcUrl}: ${(error as Error).message.split('\n')[0]}`, false, {
        cause: error,
      });
    }
    const keyConfig = {
      ...config,
      TIMELOCK_MIN_DELAY_SECONDS:
        delayText === undefined ? config.TIMELOCK_MIN_DELAY_SECONDS : Number(delayText),
    };
    let deployerKey: ReturnType<typeof requireRoleKey>;
    let governance: GovernanceParameters;
    try {
      if (isLocalChain(chainId)) {
        ({ deployerKey, governance } = await localGovernance(keyConfig, rpcUrl, chainId));
      } else {
        deployerKey = requireRoleKey(config, 'deployer', chainId);
        const fromKey = (role: 'admin' | 'rootProposer' | 'relayer') => {
          const key = requireRoleKey(config, role, chainId);
          return privateKeyToAddress(key);
        };
        const admin =
          addressOption(v.admin, '--admin') ??
          (config.ADMIN_ADDRESS as Address | undefined) ??
          fromKey('admin');
        const guardian =
          addressOption(v.guardian, '--guardian') ?? (config.GUARDIAN_ADDRESS as Address | undefined);
        if (guardian === undefined) throw new CliError('missing --guardian (or GUARDIAN_ADDRESS)', true);
        governance = {
          admin: getAddress(admin),
          guardian: getAddress(guardian),
          rootProposer: addressOption(v['root-proposer'], '--root-proposer') ?? fromKey('rootProposer'),
          relayer: addressOption(v.relayer, '--relayer') ?? fromKey('relayer'),
          minDelay: keyConfig.TIMELOCK_MIN_DELAY_SECONDS,
        };
      }
      const overrides = {
        admin: addressOption(v.admin, '--admin'),
        guardian: addressOption(v.guardian, '--guardian'),
        rootProposer: addressOption(v['root-proposer'], '--root-proposer'),
        relayer: addressOption(v.relayer, '--relayer'),
      };
      governance = {
        ...governance,
        ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
      };
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError((error as Error).message, false, { cause: error });
    }
    const clients = createChainClients({ rpcUrl, privateKey: deployerKey, chainId });
    const stack = await deployStack(clients, {
      withTestStablecoin: isLocalChain(chainId),
      governance,
      treasury: addressOption(v.treasury, '--treasury'),
    });
    await saveDeployment(out, stack);
    if (v.json) {
      io.stdout(`${JSON.stringify(stack, null, 2)}\n`);
      return;
    }
    io.stdout(
      `Deployed on chain ${stack.chainId} by ${stack.deployer} (from block ${stack.startBlock}); the deployer kept no role\n` +
        `  PortfolioFactory    ${stack.portfolioFactory}\n` +
        `  ComplianceRegistry  ${stack.complianceRegistry}\n` +
        (stack.marketplace ? `  Marketplace         ${stack.marketplace}\n` : '') +
        (stack.testStablecoin ? `  TestStablecoin      ${stack.testStablecoin}\n` : '') +
        `  PlatformTimelock    ${stack.timelock}  (admin of everything; minimum delay ${stack.config.timelockMinDelay} s)\n` +
        `  admin key           ${stack.config.timelockProposer}  (the timelock's proposer / executor)\n` +
        `  guardian            ${stack.config.guardian}\n` +
        `  root proposer       ${stack.config.rootProposer}\n` +
        `  relayer             ${stack.config.relayer}\n` +
        `Written to ${out}\n`,
    );
  },
};
