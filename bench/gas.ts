/**
 * Gas table: runs the isolated gas suite (contracts/test/gas, FOUNDRY_PROFILE=gas), which writes
 * snapshots/gas.json, and prints each number beside its target, its public anchor and its ratio to a
 * plain OpenZeppelin ERC-20 transfer measured in the same run.
 *
 *   npm run bench:gas            # measure and rewrite snapshots/gas.json
 *   npm run bench:gas -- --check # fail if the committed snapshot differs (what CI does)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export type GasRow = { key: string; label: string; gas: number; target?: number; anchor: string };

const ROWS: { key: string; label: string; target?: number; anchor: string }[] = [
  {
    key: 'tranche_transfer',
    label: 'tranche transfer, allowlisted holders',
    target: 55_000,
    anchor: 'ERC-3643 T-REX 231k',
  },
  {
    key: 'tranche_transfer_new_holder',
    label: 'tranche transfer to a first-time holder',
    anchor: 'ERC-3643 T-REX 231k',
  },
  { key: 'buyWithSig_with_permit', label: 'buyWithSig (intent + ERC-2612 permit)', anchor: '-' },
  { key: 'depositRecovery_3_tranches', label: 'depositRecovery, 3 tranches', anchor: '-' },
  {
    key: 'depositRecovery_3_tranches_12_point_plan',
    label: 'depositRecovery, 3 tranches, reserve + 12-point plan (v2)',
    anchor: 'v1: depositRecovery, 3 tranches',
  },
  {
    key: 'depositRecoveryWithSig_3_tranches',
    label: 'depositRecoveryWithSig, 3 tranches',
    anchor: '-',
  },
  {
    key: 'claim_depth20_repeat',
    label: 'claim, depth-20 proof (1M holders)',
    target: 70_000,
    anchor: 'Uniswap MerkleDistributor 78-95k',
  },
  {
    key: 'claim_depth20_first',
    label: 'claim, depth 20, first-ever claim',
    anchor: 'Uniswap MerkleDistributor 78-95k',
  },
  {
    key: 'claimMany100_depth20_repeat_per_holder',
    label: 'claimMany x100, per holder',
    target: 35_000,
    anchor: '-',
  },
  {
    key: 'claimMany100_depth20_first_per_holder',
    label: 'claimMany x100, per first-time holder',
    anchor: '-',
  },
  {
    key: 'marketplace_fill',
    label: 'Marketplace.fill (partial, with fee)',
    target: 110_000,
    anchor: 'Seaport basic 88k, advanced 96-161k',
  },
];

export function runGasBench(options: { check?: boolean } = {}): GasRow[] {
  execFileSync('node', ['scripts/foundry.mjs', 'forge', 'test'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      FOUNDRY_PROFILE: 'gas',
      ...(options.check ? { FORGE_SNAPSHOT_CHECK: 'true' } : {}),
    },
  });
  const snapshot = JSON.parse(readFileSync(join(root, 'snapshots/gas.json'), 'utf8')) as Record<
    string,
    string
  >;
  return ROWS.map((row) => {
    const value = snapshot[row.key];
    if (value === undefined) throw new Error(`snapshots/gas.json has no ${row.key}`);
    return { ...row, gas: Number(value) };
  });
}

export function formatGasTable(rows: GasRow[], baseline: number): string {
  const header = ['operation', 'gas', 'target', 'status', 'x ERC-20 transfer', 'anchor'];
  const body = rows.map((r) => [
    r.label,
    r.gas.toLocaleString('en-US'),
    r.target ? `<= ${r.target.toLocaleString('en-US')}` : '',
    r.target ? (r.gas <= r.target ? 'ok' : 'OVER') : '',
    (r.gas / baseline).toFixed(2),
    r.anchor,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function main(): void {
  const check = process.argv.includes('--check');
  const rows = runGasBench({ check });
  const snapshot = JSON.parse(readFileSync(join(root, 'snapshots/gas.json'), 'utf8')) as Record<
    string,
    string
  >;
  const baseline = Number(snapshot.baseline_erc20_transfer);
  console.log('Whole-transaction gas (isolated: 21k intrinsic + calldata + execution), snapshots/gas.json');
  console.log(
    `baseline, same run: OpenZeppelin ERC-20 transfer between holders = ${baseline.toLocaleString('en-US')} gas\n`,
  );
  console.log(formatGasTable(rows, baseline));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
