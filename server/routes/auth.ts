import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAddress, verifyMessage } from 'viem';
import { generateSiweNonce, parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { z } from 'zod';
import { generateSecret, hashSecret, SESSION_TOKEN_PREFIX } from '../../core/platform/auth.ts';
import { type Config, urlOrigin } from '../../core/platform/config.ts';
import {
  NonceInvalidError,
  SignatureInvalidError,
  UnauthorizedError,
} from '../../core/platform/errors/index.ts';
import { errorResponses } from '../schemas/common.ts';

const signatureInvalid = (message: string) => new SignatureInvalidError(message, { statusCode: 401 });

/**
 * The origins a SIWE message's `uri` may have: SIWE_ORIGIN, else `https://` + SIWE_DOMAIN (and, outside
 * production, `http://` + SIWE_DOMAIN, for a local front end).
 */
export function allowedSiweOrigins(
  config: Pick<Config, 'SIWE_ORIGIN' | 'SIWE_DOMAIN' | 'NODE_ENV'>,
): string[] {
  if (config.SIWE_ORIGIN !== undefined) return [config.SIWE_ORIGIN];
  const schemes = config.NODE_ENV === 'production' ? ['https'] : ['https', 'http'];
  return schemes.flatMap((scheme) => urlOrigin(`${scheme}://${config.SIWE_DOMAIN}`) ?? []);
}

const nonceResponse = z.object({
  nonce: z.string(),
  expiresAt: z.iso.datetime(),
  domain: z.string().describe('the `domain` the EIP-4361 message must carry'),
  uriOrigin: z.string().describe("the origin the message's `uri` must have"),
  chainId: z
    .number()
    .int()
    .nullable()
    .describe('the `chainId` the message must carry, if the server is bound to one'),
});

const sessionResponse = z.object({
  token: z.string().describe('send as `Authorization: Bearer <token>`'),
  address: z.string(),
  chainId: z.number().int(),
  expiresAt: z.iso.datetime(),
});

const whoAmI = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('apiKey'), role: z.string(), owner: z.string(), name: z.string() }),
  z.object({
    kind: z.literal('session'),
    address: z.string(),
    chainId: z.number().int(),
    expiresAt: z.iso.datetime(),
  }),
]);

/**
 * Investor sign-in with Sign-In with Ethereum (EIP-4361): get a nonce, sign a SIWE message that
 * carries it, exchange message + signature for a session token. Nonces are single use and expire.
 */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  const siweOrigins = allowedSiweOrigins(app.config);

  app.post(
    '/v1/auth/nonce',
    {
      schema: {
        tags: ['auth'],
        summary: 'Get a single-use SIWE nonce',
        body: z.object({}).nullish(),
        response: { 201: nonceResponse, ...errorResponses(400, 429) },
      },
    },
    async (request, reply) => {
      const nonce = generateSiweNonce();
      const expiresAt = new Date(Date.now() + app.config.SIWE_NONCE_TTL_SECONDS * 1000);
      await app.prisma.signInNonce.create({ data: { nonce, expiresAt } });
      // expired nonces are useless; sweep a few so the table stays small
      await app.prisma.signInNonce.deleteMany({
        where: { expiresAt: { lt: new Date(Date.now() - 3600_000) } },
      });
      request.audit = { type: 'sign_in_nonce' };
      return reply.status(201).send({
        nonce,
        expiresAt: expiresAt.toISOString(),
        domain: app.config.SIWE_DOMAIN,
        uriOrigin: siweOrigins[0],
        chainId: app.config.CHAIN_ID ?? null,
      });
    },
  );

  app.post(
    '/v1/auth/verify',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a signed SIWE message for a session token',
        body: z.object({
          message: z.string().min(1).max(8_192).describe('the EIP-4361 message, exactly as signed'),
          signature: z.string().regex(/^0x[0-9a-fA-F]+$/, 'must be 0x-hex'),
        }),
        response: { 200: sessionResponse, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const { message, signature } = request.body;
      const fields = parseSiweMessage(message);
      if (
        fields.address === undefined ||
        fields.nonce === undefined ||
        fields.domain === undefined ||
        fields.chainId === undefined ||
        fields.uri === undefined ||
        fields.version !== '1'
      ) {
        throw signatureInvalid(
          'Not an EIP-4361 message (address, domain, uri, version 1, chain id and nonce are required)',
        );
      }
      if (fields.domain !== app.config.SIWE_DOMAIN) {
        throw signatureInvalid(`Message is for domain ${fields.domain}, not ${app.config.SIWE_DOMAIN}`);
      }
      if (app.config.CHAIN_ID !== undefined && fields.chainId !== app.config.CHAIN_ID) {
        throw signatureInvalid(`Message is for chain ${fields.chainId}, not ${app.config.CHAIN_ID}`);
      }
      const origin = urlOrigin(fields.uri);
      if (origin === undefined || !siweOrigins.includes(origin)) {
        throw signatureInvalid(`Message uri ${fields.uri} is not on ${siweOrigins.join(' or ')}`);
      }
      if (!validateSiweMessage({ message: fields, domain: app.config.SIWE_DOMAIN, time: new Date() })) {
        throw signatureInvalid('Message is expired or not yet valid');
      }
      const address = getAddress(fields.address);
      let valid = false;
      try {
        valid = await verifyMessage({ address, message, signature: signature as `0x${string}` });
      } catch {
        valid = false;
      }
      if (!valid) throw signatureInvalid('Signature does not match the message and address');

      // single use: consume atomically, only if unused and unexpired
      const consumed = await app.prisma.signInNonce.updateMany({
        where: { nonce: fields.nonce, usedAt: null, expiresAt: { gt: new Date() } },
        data: { usedAt: new Date() },
      });
      if (consumed.count !== 1) {
        throw new NonceInvalidError('Nonce is unknown, expired or already used; request a new one', {
          statusCode: 401,
        });
      }

      const token = generateSecret(SESSION_TOKEN_PREFIX);
      const ttlEnd = Date.now() + app.config.SESSION_TTL_SECONDS * 1000;
      const expiresAt = new Date(Math.min(ttlEnd, fields.expirationTime?.getTime() ?? ttlEnd));
      const session = await app.prisma.$transaction(async (tx) => {
        await tx.investor.upsert({ where: { address }, create: { address }, update: {} });
        return tx.session.create({
          data: { tokenHash: hashSecret(token), address, chainId: fields.chainId!, expiresAt },
        });
      });
      request.audit = { type: 'session', id: session.id, details: { address } };
      return { token, address, chainId: session.chainId, expiresAt: expiresAt.toISOString() };
    },
  );

  app.get(
    '/v1/auth/session',
    {
      config: { auth: 'credential' },
      schema: {
        tags: ['auth'],
        summary: 'Who the bearer credential belongs to',
        response: { 200: whoAmI, ...errorResponses(401) },
      },
    },
    async (request) => {
      const p = request.principal;
      if (p === null) throw new UnauthorizedError();
      if (p.kind === 'apiKey') return { kind: 'apiKey' as const, role: p.role, owner: p.owner, name: p.name };
      return {
        kind: 'session' as const,
        address: p.address,
        chainId: p.chainId,
        expiresAt: p.expiresAt.toISOString(),
      };
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke the current session token',
        body: z.object({}).nullish(),
        response: { 204: z.null(), ...errorResponses(401) },
      },
      config: { auth: 'credential' },
    },
    async (request, reply) => {
      const p = request.principal;
      if (p?.kind !== 'session') throw new UnauthorizedError('Only session tokens can log out');
      await app.prisma.session.update({ where: { id: p.sessionId }, data: { revokedAt: new Date() } });
      request.audit = { type: 'session', id: p.sessionId };
      return reply.status(204).send(null);
    },
  );
};
