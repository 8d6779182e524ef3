import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Address, Hex } from 'viem';
import { ServiceUnavailableError } from '../../core/platform/errors/index.ts';
import {
  cancelOrder,
  getFill,
  getOrder,
  listOrders,
  type OrderBookContext,
  placeOrder,
  submitFill,
} from '../../core/trading/orders.ts';
import { errorResponses } from '../schemas/common.ts';
import {
  cancelledOrderSchema,
  cancelOrderBodySchema,
  createFillBodySchema,
  createOrderBodySchema,
  fillAcceptedSchema,
  fillParamsSchema,
  fillSchema,
  listOrdersQuerySchema,
  orderHashParamsSchema,
  orderPageSchema,
  orderSchema,
} from '../schemas/order.ts';

/** Reads that need only Postgres and the deployment's chain id. */
async function readContext(app: FastifyInstance) {
  const deployment = await app.deployment();
  return { prisma: app.prisma, chainId: deployment.chainId };
}

/** The order book on the shared trading services (platform chain, relayer) plus the Marketplace address. */
export async function orderBookContext(app: FastifyInstance): Promise<OrderBookContext> {
  const [trading, deployment] = await Promise.all([app.trading(), app.deployment()]);
  if (deployment.marketplace === undefined) {
    throw new ServiceUnavailableError('The deployment has no Marketplace');
  }
  return {
    prisma: app.prisma,
    publicClient: trading.publicClient,
    chainId: trading.chainId,
    marketplace: deployment.marketplace,
    relayer: trading.relayer,
    log: app.log,
  };
}

/**
 * The secondary order book: POST /v1/orders, GET /v1/orders, GET /v1/orders/:hash,
 * DELETE /v1/orders/:hash (maker's signed cancel), POST /v1/orders/:hash/fills (relays fillWithSig),
 * GET /v1/orders/:hash/fills/:id. See core/trading/orders.ts for the checks and the race policy.
 */
export const orderRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Place a signed sell order in the book',
        description:
          'The EIP-712 Order over the "NPL Marketplace" v1 domain (our chain id and Marketplace). Checked ' +
          'before it is stored: signature (SIGNATURE_INVALID), expiry (ORDER_EXPIRED), tranche token of a ' +
          "published portfolio and that portfolio's pay token, the maker's current counter, maxFeeBps at least " +
          'the current fee (omitted: the current fee, which the maker must have signed), balance and ' +
          'allowance to the marketplace (VALIDATION_FAILED), the allowlist (NOT_ALLOWLISTED); a duplicate is CONFLICT. ' +
          'A Dutch order (`decayEnd` not 0) falls linearly from price × startPriceBps / 10000 at decayStart to ' +
          'price × endPriceBps / 10000 at decayEnd, each rounded up (Marketplace.priceAt); a decay that rises ' +
          '(OrderDecayPriceRises) or ends before it starts (OrderDecayEndsBeforeStart) is VALIDATION_FAILED, ' +
          'checked first: nothing is stored.',
        body: createOrderBodySchema,
        response: { 201: orderSchema, ...errorResponses(400, 401, 403, 409, 410, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { order, signature } = request.body;
      const context = await orderBookContext(app);
      const placed = await placeOrder(context, {
        order: {
          maker: order.maker as Address,
          taker: order.taker as Address,
          tranche: order.tranche as Address,
          payToken: order.payToken as Address,
          sellAmount: BigInt(order.sellAmount),
          price: BigInt(order.price),
          expiry: BigInt(order.expiry),
          salt: BigInt(order.salt),
          counter: BigInt(order.counter),
          partialFill: order.partialFill,
          maxFeeBps: order.maxFeeBps,
          startPriceBps: order.startPriceBps ?? 0,
          endPriceBps: order.endPriceBps ?? 0,
          decayStart: BigInt(order.decayStart ?? '0'),
          decayEnd: BigInt(order.decayEnd ?? '0'),
        },
        signature: signature as Hex,
      });
      request.audit = { type: 'order', id: placed.hash };
      return reply.status(201).send(placed);
    },
  );

  app.get(
    '/v1/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Open orders, best current price first',
        description:
          'Lowest current price per tranche-token unit (currentPrice / sellAmount, compared exactly; a Dutch ' +
          "order's price at the query time, `priceAsOf`, which the cursor keeps for the later pages) first, then oldest. " +
          'Filled, cancelled (off-chain or on-chain), counter-voided and expired orders are not listed.',
        querystring: listOrdersQuerySchema,
        response: { 200: orderPageSchema, ...errorResponses(400, 429, 503) },
      },
    },
    async (request) => {
      const { tranche, maker, limit, cursor } = request.query;
      return listOrders(await readContext(app), {
        tranche: tranche as Address | undefined,
        maker: maker as Address | undefined,
        limit,
        cursor,
      });
    },
  );

  app.get(
    '/v1/orders/:hash',
    {
      schema: {
        tags: ['orders'],
        summary: 'One order with its state',
        params: orderHashParamsSchema,
        response: { 200: orderSchema, ...errorResponses(404, 429, 503) },
      },
    },
    async (request) => getOrder(await readContext(app), request.params.hash),
  );

  app.delete(
    '/v1/orders/:hash',
    {
      schema: {
        tags: ['orders'],
        summary: "Take an order off the book with the maker's signed cancel",
        description:
          'The maker signs the EIP-712 `OrderCancel(bytes32 orderHash)` over the marketplace domain. This only ' +
          'hides the order from this book: the signed order stays executable on-chain. The answer says so ' +
          '(`onChain.executable`) and carries `onChain.cancel`, the Marketplace.cancel(order) transaction ' +
          "(to, data) for the maker's wallet to send (the contract only accepts the maker's own call); " +
          'incrementCounter() voids every order of the current counter. The indexer picks either up.',
        params: orderHashParamsSchema,
        body: cancelOrderBodySchema,
        response: { 200: cancelledOrderSchema, ...errorResponses(400, 401, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const deployment = await app.deployment();
      if (deployment.marketplace === undefined) {
        throw new ServiceUnavailableError('The deployment has no Marketplace');
      }
      const cancelled = await cancelOrder(
        { prisma: app.prisma, chainId: deployment.chainId, marketplace: deployment.marketplace },
        { hash: request.params.hash, signature: request.body.signature as Hex },
      );
      request.audit = { type: 'order', id: cancelled.hash, details: { action: 'cancel' } };
      return cancelled;
    },
  );

  app.post(
    '/v1/orders/:hash/fills',
    {
      schema: {
        tags: ['orders'],
        summary: "Fill an order with the taker's signed fill intent (and permit); relayed as fillWithSig",
        description:
          'Answers 202 once the relayer sent the transaction; poll GET /v1/orders/:hash/fills/:id: `mined` once ' +
          'in a block, `confirmed` once its indexed OrderFilled event is final, `failed` with the decoded reason ' +
          'if it reverted. A fill larger than what is left takes what is left (counting fills still ' +
          "pending; the answer's `amount` is what it will take, priced and checked against maxCost on that; " +
          'the fill view reports the amount of its OrderFilled event once mined). A fill when nothing is left, ' +
          'counting fills still pending, is rejected up front (409 CONFLICT, `details.reason` OrderOverfilled). ' +
          'The same signed intent again answers the same fill. A Dutch order is priced at the pending ' +
          "block's time (its price only falls, so the fill mined then or later pays at most that, at the price " +
          "of its block): sign a maxCost that covers the book's currentPrice.",
        params: orderHashParamsSchema,
        body: createFillBodySchema,
        response: { 202: fillAcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 410, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { intent, signature, permit } = request.body;
      const context = await orderBookContext(app);
      const { fill } = await submitFill(context, {
        hash: request.params.hash,
        intent: {
          orderHash: intent.orderHash as Hex,
          taker: intent.taker as Address,
          amount: BigInt(intent.amount),
          maxCost: BigInt(intent.maxCost),
          nonce: BigInt(intent.nonce),
          deadline: BigInt(intent.deadline),
        },
        signature: signature as Hex,
        permit:
          permit === undefined
            ? undefined
            : {
                value: BigInt(permit.value),
                deadline: BigInt(permit.deadline),
                signature: permit.signature as Hex,
              },
      });
      request.audit = { type: 'order_fill', id: fill.id, details: { orderHash: fill.orderHash } };
      return reply
        .status(202)
        .send({ id: fill.id, status: fill.status, amount: fill.amount, txHash: fill.txHash });
    },
  );

  app.get(
    '/v1/orders/:hash/fills/:id',
    {
      schema: {
        tags: ['orders'],
        summary:
          'A relayed fill: pending → mined → confirmed (indexed OrderFilled, final) or failed (decoded reason)',
        description:
          '`mined` is not final: a reorg that removes the transaction or its OrderFilled event sends the fill ' +
          'back to `pending` (the relayer sends it again). `confirmed` and `failed` never change.',
        params: fillParamsSchema,
        response: { 200: fillSchema, ...errorResponses(404, 429, 503) },
      },
    },
    async (request) => getFill(await readContext(app), request.params.hash, request.params.id),
  );
};
