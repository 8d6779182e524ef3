import type { LightMyRequestResponse } from 'fastify';
import { getAddress, type Hex } from 'viem';
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import type { ApiKeyRole, PrismaClient } from '../../core/db/index.ts';
import { createApiKey } from '../../core/platform/auth.ts';
import type { TestApp } from './app.ts';

/** Auth helpers for integration tests: API keys, SIWE sign-in, allowlisting. */

export type Headers = { authorization: string };

export const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` });

/** A new API key with `role` for `owner` (default `acme`), as request headers. */
export async function apiKeyHeaders(
  prisma: PrismaClient,
  role: ApiKeyRole,
  owner = 'acme',
): Promise<Headers> {
  const { key } = await createApiKey(prisma, { role, owner, name: `${owner} ${role}` });
  return bearer(key);
}

export type SiweOptions = {
  account?: PrivateKeyAccount;
  domain?: string;
  chainId?: number;
  expirationTime?: Date;
  /** sign with this account instead (a signature that does not match the address) */
  signer?: PrivateKeyAccount;
  nonce?: string;
  /** the message's `uri` (default `https://<SIWE_DOMAIN>/login`) */
  uri?: string;
};

/** Builds and signs a SIWE message for a fresh nonce from the API. */
export async function signedSiweMessage(t: TestApp, options: SiweOptions = {}) {
  const account = options.account ?? privateKeyToAccount(generatePrivateKey());
  let nonce = options.nonce;
  if (nonce === undefined) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/auth/nonce' });
    nonce = (res.json() as { nonce: string }).nonce;
  }
  const message = createSiweMessage({
    address: account.address,
    chainId: options.chainId ?? 31337,
    domain: options.domain ?? t.config.SIWE_DOMAIN,
    nonce,
    uri: options.uri ?? `https://${t.config.SIWE_DOMAIN}/login`,
    version: '1',
    statement: 'Sign in to the NPL marketplace',
    expirationTime: options.expirationTime,
  });
  const signature: Hex = await (options.signer ?? account).signMessage({ message });
  return { account, message, signature, nonce };
}

export async function verify(
  t: TestApp,
  body: { message: string; signature: string },
): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'POST', url: '/v1/auth/verify', payload: body });
}

/** Full SIWE sign-in; returns the session headers and the account. */
export async function signIn(t: TestApp, options: SiweOptions = {}) {
  const signed = await signedSiweMessage(t, options);
  const res = await verify(t, signed);
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const { token } = res.json() as { token: string };
  return {
    headers: bearer(token),
    token,
    account: signed.account,
    address: getAddress(signed.account.address),
  };
}

/** Allowlists `address` until `until` (default: in a day), as the allowlist route / indexer would. */
export async function allowlist(
  prisma: PrismaClient,
  address: string,
  until = new Date(Date.now() + 86_400_000),
) {
  await prisma.investor.upsert({
    where: { address: getAddress(address) },
    create: { address: getAddress(address), allowlistedUntil: until },
    update: { allowlistedUntil: until, frozen: false },
  });
}
