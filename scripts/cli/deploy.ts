/** `cli deploy`: deploys the platform's contracts (core/chain deployStack) and writes the deployment file. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createPublicClient, http } from 'viem';
import { createChainClients, isLocalChain } from '../../core/chain/clients.ts';
import { deployStack } from '../../core/chain/deploy.ts';
import { deploymentFilePath, platformPrivateKey, saveDeployment } from '../../core/chain/deployment.ts';
import { loadConfig } from '../../core/platform/config.ts';
import { CliError, type CliIo, type CliVerb, parseVerbArgs } from './verb.ts';

const help = `Usage: npm run cli -- deploy [--rpc URL] [--out FILE] [--force] [--json]

Deploys ComplianceRegistry, the Portfolio / TrancheToken / Distributor implementations,
PortfolioFactory, Marketplace and, on a local chain (31337, 1337), TestStablecoin; then writes the
addresses as JSON to the deployment file the worker reads.

Options:
  --rpc URL     JSON-RPC endpoint (default: RPC_URL)
  --out FILE    where to write (default: DEPLOYMENT_FILE, else DATA_DIR/deployment.json)
  --force       overwrite an existing file
  --json        print the deployment as JSON
  -h, --help    show this help

Signs with PLATFORM_PRIVATE_KEY; on a local chain it defaults to anvil's first account.
`;

export const verb: CliVerb = {
  help,
  run: async (args: string[], io: CliIo) => {
    const v = parseVerbArgs(args, {
      rpc: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (v.help) return io.stdout(help);
    const config = loadConfig();
    const rpcUrl = v.rpc ?? config.RPC_URL;
    if (rpcUrl === undefined) throw new CliError('missing --rpc (or RPC_URL)', true);
    const out = resolve(io.cwd, v.out ?? deploymentFilePath(config));
    if (existsSync(out) && !v.force) {
      throw new CliError(`${out} exists; pass --force to overwrite it (or --out another file)`);
    }
    let chainId: number;
    try {
      chainId = await createPublicClient({ transport: http(rpcUrl, { retryCount: 1 }) }).getChainId();
    } catch (error) {
      throw new CliError(`cannot reach ${rpcUrl}: ${(error as Error).message.split('\n')[0]}`, false, {
        cause: error,
      });
    }
    let privateKey: ReturnType<typeof platformPrivateKey>;
    try {
      privateKey = platformPrivateKey(config, chainId);
    } catch (error) {
      throw new CliError((error as Error).message, false, { cause: error });
    }
    const clients = createChainClients({ rpcUrl, privateKey, chainId });
    const stack = await deployStack(clients, { withTestStablecoin: isLocalChain(chainId) });
    await saveDeployment(out, stack);
    if (v.json) {
      io.stdout(`${JSON.stringify(stack, null, 2)}\n`);
      return;
    }
    io.stdout(
      `Deployed on chain ${stack.chainId} by ${stack.deployer} (from block ${stack.startBlock})\n` +
        `  PortfolioFactory    ${stack.portfolioFactory}\n` +
        `  ComplianceRegistry  ${stack.complianceRegistry}\n` +
        (stack.marketplace ? `  Marketplace         ${stack.marketplace}\n` : '') +
        (stack.testStablecoin ? `  TestStablecoin      ${stack.testStablecoin}\n` : '') +
        `Written to ${out}\n`,
    );
  },
};
