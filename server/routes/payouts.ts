import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Address } from 'viem';
import { z } from 'zod';
import {
  createTreeCache,
  investorPayouts,
  payoutView,
  requestClaims,
  warmTrees,
} from '../../core/distributions/payouts.ts';
import { addressSchema, errorResponses, uintStringSchema } from '../schemas/common.ts';
import { assertValid } from '../schemas/recovery.ts';

const hexSchema = z.string().regex(/^0x[0-9a-f]{64}$/);

const investorParamsSchema = z.object({ address: addressSchema });

const payoutSchema = z.object({
  portfolioId: z.string(),
  distributor: z.string().describe('the Distributor contract (checksummed)'),
  payToken: z.string(),
  distributionId: z
    .string()
    .nullable()
    .describe('the latest distribution of the portfolio whose root was accepted (claimable or paid)'),
  root: hexSchema.nullable().describe('its Merkle root (the Distributor’s current root)'),
  cumulative: uintStringSchema.describe(
    'the account’s cumulative amount in that root (pay-token base units)',
  ),
  claimed: uintStringSchema.describe(
    'Distributor.claimed(account) from the indexed Claimed events, as of `claimedAsOfBlock`',
  ),
  claimable: uintStringSchema.describe('cumulative − claimed'),
  proof: z.array(hexSchema).describe('Distributor.claim(account, cumulative, proof)'),
  pending: uintStringSchema.describe('payouts of later distributions whose root is not accepted yet'),
  claimedAsOfBlock: uintStringSchema
    .nullable()
    .describe('the indexed block `claimed` is as of (null: read from the chain itself)'),
});

const payoutsSchema = z.object({ items: z.array(payoutSchema) }).meta({ id: 'Payouts' });

const claimBodySchema = z
  .object({ portfolioId: z.uuid().optional().describe('claim only this portfolio’s payout') })
  .nullish();

const claimItemSchema = z.object({
  portfolioId: z.string(),
  distributionId: z.string(),
  amount: uintStringSchema.describe('what the claim pays the account: claimable at the time of the request'),
  status: z
    .enum(['pending', 'mined', 'confirmed', 'failed'])
    .describe(
      'the claim transaction as settled: pending (new, or sent back by a reorg), mined (its Claimed event not final yet), confirmed, or failed (not sent)',
    ),
  txHash: z.string().nullable(),
  reason: z.string().optional().describe('failed: the API code (e.g. the decoded revert)'),
});

const claimsAcceptedSchema = z.object({ items: z.array(claimItemSchema) }).meta({ id: 'ClaimsAccepted' });

export type PayoutRoutesOptions = {
  /** Built trees kept in memory (default 4). */
  maxTrees?: number;
  /** Period (ms) of loading the latest accepted trees ahead of requests (`warmTrees`); default 5000, 0 = never. */
  warmTreesMs?: number;
};

/**
 * GET /v1/investors/:address/payouts and POST /v1/investors/:address/claims (public): proofs from an
 * in-process LRU of built trees (core/distributions/payouts.ts), claims relayed by the app's platform relayer.
 */
export const payoutRoutes: FastifyPluginAsyncZod<PayoutRoutesOptions> = async (app, options) => {
  const trading = () => app.trading();
  const trees = createTreeCache({ prisma: app.prisma, maxTrees: options.maxTrees });
  const payTokens = new Map<string, Address>();
  let warming: Promise<unknown> = Promise.resolve();
  let timer: ReturnType<typeof setInterval> | undefined;
  const warmTreesMs = options.warmTreesMs ?? 5_000;
  if (warmTreesMs > 0) {
    let busy = false;
    const warm = () => {
      if (busy) return;
      busy = true;
      warming = warmTrees(app.prisma, trees)
        .catch((error) => app.log.warn({ err: error }, 'loading distribution trees failed'))
        .finally(() => {
          busy = false;
        });
    };
    app.addHook('onReady', async () => {
      setImmediate(warm);
      timer = setInterval(warm, warmTreesMs);
      timer.unref();
    });
  }
  app.addHook('onClose', async () => {
    if (timer !== undefined) clearInterval(timer);
    await warming;
    trees.clear();
  });

  app.get(
    '/v1/investors/:address/payouts',
    {
      attachValidation: true,
      schema: {
        tags: ['investors'],
        summary:
          'Cumulative, claimed and claimable payouts per portfolio, with the proof for the latest root',
        description:
          'One item per portfolio where the address has a leaf in a distribution. `distributionId`, `root`, ' +
          '`cumulative` and `proof` are of the latest accepted root; `claimed` comes from the indexed Claimed ' +
          'events as of `claimedAsOfBlock` (a claim shows once indexed, within seconds; a claim relayed by ' +
          'POST claims checks the Distributor itself); ' +
          '`pending` sums the payouts of later distributions not accepted yet. Anyone may call ' +
          'Distributor.claim(address, cumulative, proof); the tokens go to the address. Invalid address 422.',
        params: investorParamsSchema,
        response: { 200: payoutsSchema, ...errorResponses(422, 429, 503) },
      },
    },
    async (request) => {
      assertValid(request);
      const context = await trading();
      const payouts = await investorPayouts(
        { prisma: app.prisma, publicClient: context.publicClient, trees, payTokens },
        request.params.address as Address,
        { claimedFrom: 'index' },
      );
      return { items: payouts.map(payoutView) };
    },
  );

  app.post(
    '/v1/investors/:address/claims',
    {
      attachValidation: true,
      schema: {
        tags: ['investors'],
        summary: 'Relay Distributor.claim for the address (the tokens go to the address, never elsewhere)',
        description:
          'For every portfolio with claimable > 0, or only `portfolioId`: relays claim(address, cumulative, ' +
          'proof) for the latest accepted root. One transaction per distribution and address: a second ' +
          'request while it is pending answers the same transaction. 409 when nothing is claimable.',
        params: investorParamsSchema,
        body: claimBodySchema,
        response: { 202: claimsAcceptedSchema, ...errorResponses(404, 409, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      assertValid(request);
      const address = request.params.address as Address;
      const context = await trading();
      const items = await requestClaims(
        {
          prisma: app.prisma,
          publicClient: context.publicClient,
          trees,
          payTokens,
          relayer: context.relayer,
          chainId: context.chainId,
        },
        address,
        { portfolioId: request.body?.portfolioId },
      );
      request.audit = {
        type: 'claim',
        id: address,
        details: {
          items: items.map((i) => ({ distributionId: i.distributionId, amount: i.amount, txHash: i.txHash })),
        },
      };
      return reply.status(202).send({ items });
    },
  );
};
