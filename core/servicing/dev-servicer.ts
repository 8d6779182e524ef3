/**
 * The development servicer key: `npm start` on a local chain keeps one servicer key in
 * `DATA_DIR/dev-servicer-key` (mode 600, reused across starts, never printed; its address is). The
 * API holds it as `servicerSigner`: for a portfolio whose servicer is that address, a recovery POST
 * without `servicerSignature` is signed with it (core/servicing/recoveries.ts). Production servicers
 * keep their own keys and sign the deposit intent themselves.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Address, Hex, LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

export const DEV_SERVICER_KEY_FILE = 'dev-servicer-key';

const KEY = /^0x[0-9a-fA-F]{64}$/;

/** The account of `DATA_DIR/dev-servicer-key`, or undefined when there is no valid key there. */
export async function loadDevServicerAccount(dataDir: string): Promise<LocalAccount | undefined> {
  const key = (await readFile(join(dataDir, DEV_SERVICER_KEY_FILE), 'utf8').catch(() => '')).trim();
  return KEY.test(key) ? privateKeyToAccount(key as Hex) : undefined;
}

/** The development servicer's address: the key of `DATA_DIR/dev-servicer-key`, created (mode 600) if missing. */
export async function ensureDevServicerKey(dataDir: string): Promise<Address> {
  const existing = await loadDevServicerAccount(dataDir);
  if (existing !== undefined) return existing.address;
  const file = join(dataDir, DEV_SERVICER_KEY_FILE);
  const key = generatePrivateKey();
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return privateKeyToAccount(key).address;
}
