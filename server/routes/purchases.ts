import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Address, Hex } from 'viem';
import { isLocalChain } from '../../core/chain/clients.ts';
import { createPlatformChain } from '../../core/chain/deployment.ts';
import { createRelayer } from '../../core/chain/relayer/relayer.ts';
import { BaseError } from '../../core/platform/errors.ts';
import {
  createQuote,
  DEFAULT_QUOTE_TTL_SECONDS,
  findIndexedPurchase,
  getPurchase,
  submitPurchase,
  type TradingContext,
} from '../../core/trading/purchases.ts';
import { errorResponses, idParamsSchema, isUuid } from '../schemas/common.ts';
import {
  createPurchaseBodySchema,
  createQuoteBodySchema,
  purchaseAcceptedSchema,
  purchaseSchema,
  quoteSchema,
  trancheParamsSchema,
} from '../schemas/purchase.ts';

/** Routes options: inject the trading services (tests), else they are built from the config on first use. */
export type TradingRoutesOptions = { trading?: TradingContext };

type Lazy = { context: Promise<TradingContext>; stop: () => Promise<void> };
/** One platform signer + relayer per app (keyed by its Prisma client, shared by every route plugin). */
const lazyContexts = new WeakMap<object, Lazy>();

/**
 * The trading services of `app`: the platform chain of RPC_URL + DEPLOYMENT_FILE and one relayer
 * (its monitor loop started) on it, created on first use and stopped when the app closes.
 */
export function tradingContext(
  app: FastifyInstance,
  options: TradingRoutesOptions = {},
): Promise<TradingContext> {
  if (options.trading !== undefined) return Promise.resolve(options.trading);
  let lazy = lazyContexts.get(app.prisma);
  if (lazy === undefined) {
    let stopRelayer: (() => Promise<void>) | undefined;
    const context = (async (): Promise<TradingContext> => {
      if (app.config.RPC_URL === undefined) {
        throw new BaseError('Trading needs a chain (RPC_URL is not configured)', {
          code: 'SERVICE_UNAVAILABLE',
        });
      }
      const platform = await createPlatformChain(app.config);
      const relayer = createRelayer({
        clients: platform.clients,
        prisma: app.prisma,
        pollIntervalMs: isLocalChain(platform.clients.chain.id) ? 100 : 1_000,
        onError: (error) => app.log.warn({ err: error }, 'relayer monitor pass failed'),
      });
      relayer.start();
      stopRelayer = () => relayer.stop();
      return {
        prisma: app.prisma,
        publicClient: platform.clients.publicClient,
        chainId: platform.clients.chain.id,
        registry: platform.deployment.complianceRegistry,
        relayer,
        findIndexedPurchase: (key) => findIndexedPurchase(app.prisma, key),
        quoteTtlSeconds: DEFAULT_QUOTE_TTL_SECONDS,
        log: app.log,
      };
    })();
    // a failed start (chain down, no deployment file) is tried again on the next request
    context.catch(() => lazyContexts.delete(app.prisma));
    lazy = { context, stop: async () => stopRelayer?.() };
    lazyContexts.set(app.prisma, lazy);
  }
  return lazy.context;
}

/** Stops the lazily started relayer of `app`, if any (registered as an onClose hook by each plugin). */
export async function stopTradingContext(app: FastifyInstance): Promise<void> {
  const lazy = lazyContexts.get(app.prisma);
  if (lazy === undefined) return;
  lazyContexts.delete(app.prisma);
  await lazy.context.then(
    () => lazy.stop(),
    () => {},
  );
}

/**
 * Primary purchases: POST /v1/tranches/:id/quotes, POST /v1/purchases (relays `buyWithSig`),
 * GET /v1/purchases/:id.
 */
export const purchaseRoutes: FastifyPluginAsyncZod<TradingRoutesOptions> = async (app, options) => {
  const trading = () => tradingContext(app, options);
  app.addHook('onClose', async () => stopTradingContext(app));

  app.post(
    '/v1/tranches/:id/quotes',
    {
      schema: {
        tags: ['purchases'],
        summary: 'Price a primary purchase and get the EIP-712 intent and ERC-2612 permit to sign',
        description:
          'Checks at the latest block: the portfolio is published, the offering open, the buyer allowlisted ' +
          'and not frozen (NOT_ALLOWLISTED), the amount within the remaining cap (SOLD_OUT). The cost comes ' +
          'from Portfolio.quote. Sign `typedData.purchase` and `typedData.permit` and POST /v1/purchases ' +
          'before `expiresAt`.',
        params: trancheParamsSchema,
        body: createQuoteBodySchema,
        response: { 201: quoteSchema, ...errorResponses(400, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!isUuid(id)) throw new BaseError(`Tranche ${id} not found`, { code: 'NOT_FOUND' });
      const context = await trading();
      const quote = await createQuote(context, {
        trancheId: id,
        buyer: request.body.buyer as Address,
        amount: BigInt(request.body.amount),
      });
      request.audit = { type: 'quote', id: quote.id };
      return reply.status(201).send(quote);
    },
  );

  app.post(
    '/v1/purchases',
    {
      schema: {
        tags: ['purchases'],
        summary: 'Submit a signed quote; the relayer settles it on-chain (buyWithSig, DvP)',
        description:
          'Verifies both signatures off-chain (SIGNATURE_INVALID), the quote’s expiry (ORDER_EXPIRED), ' +
          'that it was not used before (CONFLICT), then at the latest block the allowlist, the cap and the ' +
          'buyer’s balance and allowance (or permit). Answers 202; poll GET /v1/purchases/:id.',
        body: createPurchaseBodySchema,
        response: { 202: purchaseAcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 410, 429, 503) },
      },
    },
    async (request, reply) => {
      const context = await trading();
      const accepted = await submitPurchase(context, {
        quoteId: request.body.quoteId,
        purchaseSignature: request.body.purchaseSignature as Hex,
        permitSignature: request.body.permitSignature as Hex | undefined,
      });
      request.audit = { type: 'purchase', id: accepted.id, details: { txHash: accepted.txHash } };
      reply.header('location', `/v1/purchases/${accepted.id}`);
      return reply.status(202).send(accepted);
    },
  );

  app.get(
    '/v1/purchases/:id',
    {
      schema: {
        tags: ['purchases'],
        summary: 'A purchase: pending → mined → confirmed (tokens, cost, block, tx) or failed (reason)',
        description:
          '`mined` once its transaction is in a block (tokens and cost once indexed; a reorg can send it back ' +
          'to `pending`); `confirmed` once the chain indexer’s Purchased event is final; `failed` once the ' +
          'relayer’s transaction reverted at a final block (reason: the decoded revert’s API code, e.g. ' +
          'SOLD_OUT) or was given up.',
        params: idParamsSchema,
        response: { 200: purchaseSchema, ...errorResponses(404, 429, 503) },
      },
    },
    async (request) =>
      getPurchase(
        options.trading ?? {
          prisma: app.prisma,
          findIndexedPurchase: (key) => findIndexedPurchase(app.prisma, key),
        },
        request.params.id,
      ),
  );
};
