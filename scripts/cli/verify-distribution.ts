/**
 * `cli verify-distribution <id> --rpc URL --api URL`: a holder's independent check of one
 * distribution (core/distributions/verify/). From the API only the distribution's portfolio and
 * recovery id and the published tree dump; everything else from the chain.
 */
import { parseArgs } from 'node:util';
import { createPublicClient, http, type PublicClient } from 'viem';
import {
  fetchPublishedDistribution,
  VerifyInputError,
  verifyDistribution,
} from '../../core/distributions/verify/index.ts';
import { CliError, type CliIo, type CliVerb } from './verb.ts';

const help = `Usage: npm run cli -- verify-distribution <id> --rpc URL --api URL [options]

Recomputes distribution <id> without trusting the platform's database: reads the portfolio's
RecoveryDistributed events, tranche tokens, terms and spec-v2 risk terms (riskTerms()), the
RecoveryTriggerAndReserve, PortfolioResolved and ReserveFunded events, the tranche Transfer logs up
to every snapshot block and the Distributor's RootProposed / RootAccepted logs from --rpc; re-runs
the waterfall (core/domain computeWaterfall, or computeWaterfallV2 for a portfolio with a reserve
or a trigger and for the final recovery: trigger state, reserve movements and write-offs compared
with the events) and the pro-rata split of every recovery (dust carried, cumulative per account);
builds the expected Merkle tree and compares it with the tree published
at --api (GET /v1/distributions/<id>/tree) and with the root and tree hash committed on-chain.

Options:
  --rpc URL          JSON-RPC endpoint of the chain (default: RPC_URL)
  --api URL          base URL of the platform API, e.g. http://localhost:3000
  --from-block N     first block to read logs from (default: the Portfolio's creation block)
  --block-range N    most blocks per eth_getLogs (default 2000)
  --json             print the result as JSON instead of the report
  -h, --help         show this help

Exit status: 0 when everything agrees (last line "agree"), 1 on any disagreement (last line
"DISAGREE: <reasons>"), 2 on usage or connection errors.
`;

export type VerifyDistributionArgs = {
  help: boolean;
  id: string;
  rpc: string;
  api: string;
  fromBlock: bigint | undefined;
  blockRange: bigint | undefined;
  json: boolean;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const usage = (message: string, cause?: unknown) => new CliError(message, true, { cause, exitCode: 2 });

function blockArg(name: string, value: string | undefined, min: bigint): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,20}$/.test(value) || BigInt(value) < min) throw usage(`--${name} must be an integer >= ${min}`);
  return BigInt(value);
}

function urlArg(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw usage(`missing --${name} URL`);
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw usage(`--${name} is not a URL: ${value}`, error);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--${name} must be an http(s) URL`);
  return value.replace(/\/+$/, '');
}

/** The verb's arguments, checked; `CliError` with exit code 2 on anything wrong. */
export function parseVerifyDistributionArgs(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): VerifyDistributionArgs {
  let parsed: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      args,
      options: {
        rpc: { type: 'string' },
        api: { type: 'string' },
        'from-block': { type: 'string' },
        'block-range': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  try {
    parsed = parse();
  } catch (error) {
    throw usage((error as Error).message, error);
  }
  const { values, positionals } = parsed;
  const base = { fromBlock: undefined, blockRange: undefined, json: values.json === true };
  if (values.help) return { help: true, id: '', rpc: '', api: '', ...base };
  if (positionals.length === 0) throw usage('missing the distribution <id>');
  if (positionals.length > 1) throw usage(`one distribution id expected, got ${positionals.length}`);
  const id = positionals[0];
  if (!UUID.test(id)) throw usage(`<id> must be a distribution uuid, got ${id}`);
  return {
    help: false,
    id: id.toLowerCase(),
    rpc: urlArg('rpc', values.rpc ?? env.RPC_URL),
    api: urlArg('api', values.api),
    fromBlock: blockArg('from-block', values['from-block'], 0n),
    blockRange: blockArg('block-range', values['block-range'], 1n),
    json: base.json,
  };
}

const connection = (what: string, error: unknown) =>
  new CliError(`${what}: ${(error as Error).message.split('\n')[0]}`, false, { cause: error, exitCode: 2 });

export const verb: CliVerb = {
  help,
  async run(args: string[], io: CliIo) {
    const a = parseVerifyDistributionArgs(args);
    if (a.help) {
      io.stdout(help);
      return 0;
    }
    let published: Awaited<ReturnType<typeof fetchPublishedDistribution>>;
    try {
      published = await fetchPublishedDistribution(a.api, a.id);
    } catch (error) {
      if (error instanceof VerifyInputError)
        throw new CliError(error.message, false, { cause: error, exitCode: 2 });
      throw error;
    }
    const publicClient = createPublicClient({ transport: http(a.rpc, { retryCount: 1 }) }) as PublicClient;
    try {
      await publicClient.getChainId();
    } catch (error) {
      throw connection(`cannot reach ${a.rpc}`, error);
    }
    let result: Awaited<ReturnType<typeof verifyDistribution>>;
    try {
      result = await verifyDistribution({
        publicClient,
        distribution: published.distribution,
        treeBytes: published.treeBytes,
        fromBlock: a.fromBlock,
        blockRange: a.blockRange,
        progress: a.json ? undefined : (line) => io.stderr(`${line}\n`),
      });
    } catch (error) {
      if (error instanceof VerifyInputError)
        throw new CliError(error.message, false, { cause: error, exitCode: 2 });
      throw connection('reading the chain failed', error);
    }
    if (a.json) {
      const { report: _, ...rest } = result;
      io.stdout(`${JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    } else {
      io.stdout(result.report);
    }
    return result.agree ? 0 : 1;
  },
};
