/**
 * Primary purchases over REST: quotes (cost from `Portfolio.quote`, EIP-712 purchase intent and
 * ERC-2612 permit typed data), signed purchases relayed through `buyWithSig`, their status from
 * the relayer and indexer rows, and allowlisting through the relayer.
 *
 * Every check reads the chain at one block (the latest): the offering window, the allowlist
 * (`registry.isAllowed`), the tranche's remaining cap, the buyer's balance and allowance. A purchase
 * settles through core/trading/settlement.ts: `mined` once its transaction is in a block, `confirmed` only
 * once the chain indexer's `Purchased` event (portfolio, buyer, nonce) is final, `failed` only once
 * the relayer row says the transaction reverted (at a final block) or was given up; the API never
 * guesses from what it sent.
 */

import { randomBytes } from 'node:crypto';
import {
  type Address,
  getAddress,
  type Hex,
  hexToBigInt,
  isHex,
  type LocalAccount,
  maxUint256,
  verifyTypedData,
} from 'viem';
import {
  NO_PERMIT,
  nonceInvalidationTypedData,
  type PurchaseIntent,
  permitDataFromSignature,
  permitTypedData,
  purchaseTypedData,
  readPermitDomain,
} from '../chain/actions.ts';
import type { ChainClients, ChainPublicClient } from '../chain/clients.ts';
import { readInvestor } from '../chain/contracts/compliance-registry.ts';
import { readIntentNonceUsed, readOfferingSnapshot, readQuote } from '../chain/contracts/portfolio.ts';
import { readFunds as readTokenFunds } from '../chain/contracts/tranche-token.ts';
import { isChainError, toChainError } from '../chain/errors.ts';
import { complianceRegistryAbi, portfolioAbi } from '../chain/generated/index.ts';
import { jsonSafe } from '../chain/intents.ts';
import { readChain } from '../chain/read.ts';
import type { PrismaClient } from '../db/index.ts';
import { isUniqueViolation } from '../db/unique-violation.ts';
import { assertPublishedOnChain } from '../domain/published-portfolio.ts';
import {
  BaseError,
  ConflictError,
  NotFoundError,
  OrderExpiredError,
  SignatureInvalidError,
  ValidationFailedError,
} from '../platform/errors/index.ts';
import { assertCanBuy, assertFunds, type Funds, type OfferingState } from './rules.ts';
import {
  byTxHashes,
  type PurchaseRelayer,
  type RelayedRecord,
  type RelaySubmitParameters,
  type RelayTxView,
  relayFailure,
  settleRelayed,
} from './settlement.ts';

// ------------------------------------------------------------------ relayer and indexer seams

/** The relayer seam of every relayed action (core/trading/settlement.ts); re-exported for importers. */
export type { PurchaseRelayer, RelaySubmitParameters, RelayTxView };

/** A `Purchased` event as the chain indexer stored it. */
export type IndexedPurchase = {
  txHash: string;
  blockNumber: bigint;
  amount: bigint;
  cost: bigint;
  /** At or below the indexer's finalized block: no reorg can remove it any more. */
  final: boolean;
};

export type TradingContext = {
  prisma: PrismaClient;
  publicClient: ChainPublicClient;
  chainId: number;
  /** The ComplianceRegistry of the deployment. */
  registry: Address;
  relayer: PurchaseRelayer;
  /** The indexer's Purchased event of (portfolio, buyer, nonce), if it has it. */
  findIndexedPurchase: (key: {
    chainId: number;
    portfolio: Address;
    buyer: Address;
    nonce: bigint;
  }) => Promise<IndexedPurchase | null>;
  /** Lifetime of a quote (its intent and permit deadline), in chain seconds. */
  quoteTtlSeconds: number;
  /** A servicer key the server holds (development only); see core/servicing/recoveries.ts. */
  servicerSigner?: LocalAccount;
  /** The relayer's address: the only issuer treasury whose reserve funding the platform sends. */
  relayerAddress?: Address;
  /** The guardian's clients when the server holds its key (core/servicing/resolution.ts `vetoResolution`). */
  guardian?: ChainClients;
  log?: { warn: (obj: object, msg: string) => void };
};

export const DEFAULT_QUOTE_TTL_SECONDS = 300;

/**
 * The indexer's `Purchased` event of (chain, portfolio, buyer, nonce) from `purchase_event`, or null
 * while it has not indexed it. Addresses are stored checksummed.
 */
export async function findIndexedPurchase(
  prisma: PrismaClient,
  key: { chainId: number; portfolio: Address; buyer: Address; nonce: bigint },
): Promise<IndexedPurchase | null> {
  const event = await prisma.purchaseEvent.findFirst({
    where: {
      chainId: key.chainId,
      portfolio: getAddress(key.portfolio),
      buyer: getAddress(key.buyer),
      nonce: key.nonce.toString(),
    },
    orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
  });
  if (event === null) return null;
  const cursor = await prisma.indexerCursor.findUnique({
    where: { chainId: key.chainId },
    select: { finalizedBlock: true },
  });
  return {
    final: cursor !== null && event.blockNumber <= cursor.finalizedBlock,
    txHash: event.txHash,
    blockNumber: event.blockNumber,
    amount: BigInt(event.amount.toFixed(0)),
    cost: BigInt(event.cost.toFixed(0)),
  };
}

// ------------------------------------------------------------------ errors

const signatureInvalid = (message: string) => new SignatureInvalidError(message);
const quoteExpired = (deadline: bigint, now: bigint) =>
  new OrderExpiredError('The quote has expired; ask for a new one', {
    details: { deadline: deadline.toString(), chainTime: now.toString() },
  });
const amountInvalid = (message: string) =>
  new ValidationFailedError(message, { statusCode: 400, details: [{ path: 'body.amount', message }] });

// ------------------------------------------------------------------ chain state at one block

type ChainBlock = { number: bigint; timestamp: bigint };

const latestBlock = (context: TradingContext): Promise<ChainBlock> =>
  readChain('chain', 'getBlock', () => context.publicClient.getBlock({ blockTag: 'latest' }));

async function readOfferingState(
  context: TradingContext,
  portfolio: Address,
  trancheIndex: number,
  buyer: Address,
  /** Read at this block (default: the latest). */
  at?: ChainBlock,
): Promise<OfferingState> {
  const client = context.publicClient;
  const block = at ?? (await latestBlock(context));
  const blockNumber = block.number;
  const { terms, tranche, state, allowed, investor } = await readOfferingSnapshot(client, {
    portfolio,
    trancheIndex,
    registry: context.registry,
    buyer,
    blockNumber,
  });
  return {
    blockNumber,
    timestamp: block.timestamp,
    payToken: getAddress(terms.payToken),
    scale: terms.scale,
    offeringStart: BigInt(terms.offeringStart),
    offeringEnd: BigInt(terms.offeringEnd),
    offeringClosed: terms.offeringClosed,
    remaining: (tranche.face - state.sold) * terms.scale,
    allowed,
    expiry: investor.expiry,
    frozen: investor.frozen,
  };
}

/** Mirrors the registry's record of `address` into the investor table (as read at some block). */
async function mirrorInvestor(
  prisma: PrismaClient,
  address: Address,
  record: { expiry: bigint; frozen: boolean },
): Promise<void> {
  const allowlistedUntil = record.expiry === 0n ? null : new Date(Number(record.expiry) * 1000);
  await prisma.investor.upsert({
    where: { address },
    create: { address, allowlistedUntil, frozen: record.frozen },
    update: { allowlistedUntil, frozen: record.frozen },
  });
}

// ------------------------------------------------------------------ quotes

export type CreateQuoteParameters = { trancheId: string; buyer: Address; amount: bigint };

type QuoteRow = NonNullable<Awaited<ReturnType<PrismaClient['quote']['findUnique']>>>;

async function findPublishedTranche(context: TradingContext, trancheId: string) {
  const tranche = await context.prisma.tranche.findUnique({
    where: { id: trancheId },
    select: {
      id: true,
      seniority: true,
      portfolio: { select: { id: true, status: true, chainId: true, portfolioAddress: true } },
    },
  });
  if (tranche === null) throw new NotFoundError('Tranche', trancheId);
  const { portfolio } = tranche;
  const portfolioAddress = assertPublishedOnChain(
    portfolio,
    context.chainId,
    'The tranche is not on sale: its portfolio is not published',
  );
  return { ...tranche, portfolioAddress };
}

/**
 * `Portfolio.DIRECT_PURCHASE_NONCE` (type(uint256).max): the nonce a direct `buy` emits in `Purchased`.
 * `buyWithSig` refuses an intent with it (IntentNonceReserved), so a quote never hands it out.
 */
export const DIRECT_PURCHASE_NONCE = maxUint256;

/**
 * A fresh uniformly random uint256 below `DIRECT_PURCHASE_NONCE` (the intent nonce): a draw of the
 * reserved value is drawn again. `random` is the byte source (node:crypto's by default).
 */
export function randomNonce(random: (size: number) => Uint8Array = randomBytes): bigint {
  for (;;) {
    const nonce = hexToBigInt(`0x${Buffer.from(random(32)).toString('hex')}`);
    if (nonce !== DIRECT_PURCHASE_NONCE) return nonce;
  }
}

/**
 * Prices `amount` of a published tranche for `buyer` after checking, at the latest block, the
 * offering window, the allowlist and the remaining cap; stores the quote.
 */
export async function createQuote(context: TradingContext, parameters: CreateQuoteParameters) {
  const { buyer, amount } = parameters;
  if (amount <= 0n || amount > maxUint256) throw amountInvalid('must be a positive integer below 2^256');
  const tranche = await findPublishedTranche(context, parameters.trancheId);
  const portfolio = tranche.portfolioAddress;
  const state = await readOfferingState(context, portfolio, tranche.seniority, buyer);
  if (amount % state.scale !== 0n) {
    throw amountInvalid(
      `must be a multiple of the tranche's scale ${state.scale} (one pay-token unit of face)`,
    );
  }
  await mirrorInvestor(context.prisma, buyer, state).catch(() => {});
  assertCanBuy(state, buyer, amount);

  const [cost, permit] = await Promise.all([
    readQuote(context.publicClient, {
      portfolio,
      trancheIndex: tranche.seniority,
      amount,
      blockNumber: state.blockNumber,
    }),
    readPermitDomain(context.publicClient, { token: state.payToken, owner: buyer }),
  ]);
  const deadline = state.timestamp + BigInt(context.quoteTtlSeconds);
  const quote = await context.prisma.quote.create({
    data: {
      trancheId: tranche.id,
      chainId: context.chainId,
      portfolioAddress: portfolio,
      trancheIndex: tranche.seniority,
      buyer,
      amount: amount.toString(),
      cost: cost.toString(),
      nonce: randomNonce().toString(),
      deadline,
      payToken: state.payToken,
      permitName: permit.name,
      permitVersion: permit.version,
      permitNonce: permit.nonce.toString(),
      expiresAt: new Date(Number(deadline) * 1000),
    },
  });
  return quoteView(quote);
}

const big = (value: { toFixed: (digits: number) => string }) => BigInt(value.toFixed(0));

/** The intent and permit a quote row stands for. */
export function quoteTyped(quote: QuoteRow) {
  const buyer = getAddress(quote.buyer);
  const portfolio = getAddress(quote.portfolioAddress);
  const intent: PurchaseIntent = {
    buyer,
    trancheId: BigInt(quote.trancheIndex),
    amount: big(quote.amount),
    maxCost: big(quote.cost),
    nonce: big(quote.nonce),
    deadline: quote.deadline,
  };
  const purchase = purchaseTypedData({ portfolio, chainId: quote.chainId, intent });
  const permit = permitTypedData({
    token: getAddress(quote.payToken),
    chainId: quote.chainId,
    name: quote.permitName,
    version: quote.permitVersion,
    owner: buyer,
    spender: portfolio,
    value: big(quote.cost),
    nonce: big(quote.permitNonce),
    deadline: quote.deadline,
  });
  // valid as long as the intent: after its deadline the intent is void anyway
  const invalidation = nonceInvalidationTypedData({
    domain: purchase.domain,
    invalidation: { account: buyer, nonce: intent.nonce, deadline: intent.deadline },
  });
  return { intent, purchase, permit, invalidation };
}

export function quoteView(quote: QuoteRow) {
  const typed = quoteTyped(quote);
  return {
    id: quote.id,
    trancheId: quote.trancheId,
    chainId: quote.chainId,
    portfolio: getAddress(quote.portfolioAddress),
    buyer: getAddress(quote.buyer),
    amount: quote.amount.toFixed(0),
    cost: quote.cost.toFixed(0),
    payToken: getAddress(quote.payToken),
    nonce: quote.nonce.toFixed(0),
    deadline: quote.deadline.toString(),
    expiresAt: quote.expiresAt.toISOString(),
    typedData: {
      purchase: jsonSafe(typed.purchase) as Record<string, unknown>,
      permit: jsonSafe(typed.permit) as Record<string, unknown>,
      invalidation: jsonSafe(typed.invalidation) as Record<string, unknown>,
    },
  };
}
export type QuoteView = ReturnType<typeof quoteView>;

// ------------------------------------------------------------------ purchases

export type SubmitPurchaseParameters = {
  quoteId: string;
  purchaseSignature: Hex;
  permitSignature?: Hex;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const purchaseIdempotencyKey = (quoteId: string) => `purchase:${quoteId}`;

async function verifySignature(
  parameters: Parameters<typeof verifyTypedData>[0],
  what: string,
): Promise<void> {
  let valid = false;
  try {
    valid = isHex(parameters.signature) && (await verifyTypedData(parameters));
  } catch {
    valid = false;
  }
  if (!valid) {
    throw signatureInvalid(
      `The ${what} signature is not the buyer's signature of this quote's typed data (chain ${parameters.domain?.chainId}, contract ${parameters.domain?.verifyingContract})`,
    );
  }
}

/**
 * Checks a signed quote (signatures, expiry, replay, allowlist, cap, funds) and relays `buyWithSig`.
 * Any rejection stores nothing and sends nothing.
 */
export async function submitPurchase(context: TradingContext, parameters: SubmitPurchaseParameters) {
  const { prisma } = context;
  const quote = UUID.test(parameters.quoteId)
    ? await prisma.quote.findUnique({ where: { id: parameters.quoteId }, include: { purchase: true } })
    : null;
  if (quote === null) throw new NotFoundError('Quote', parameters.quoteId);
  if (quote.purchase !== null) {
    throw new ConflictError('This quote was already used: a signed intent is relayed once', {
      details: {
        reason: 'REPLAYED',
        purchaseId: quote.purchase.id,
      },
    });
  }
  const { intent, purchase, permit } = quoteTyped(quote);
  const buyer = intent.buyer;
  await verifySignature({ ...purchase, address: buyer, signature: parameters.purchaseSignature }, 'purchase');
  if (parameters.permitSignature !== undefined) {
    await verifySignature({ ...permit, address: buyer, signature: parameters.permitSignature }, 'permit');
  }

  const portfolio = purchase.domain.verifyingContract;
  // every check reads the same (latest) block, in one round of calls
  const block = await latestBlock(context);
  const [state, funds, nonceUsed] = await Promise.all([
    readOfferingState(context, portfolio, quote.trancheIndex, buyer, block),
    readFunds(context, { token: getAddress(quote.payToken), buyer, portfolio, blockNumber: block.number }),
    readIntentNonceUsed(context.publicClient, {
      portfolio,
      buyer,
      nonce: intent.nonce,
      blockNumber: block.number,
    }),
  ]);
  if (state.timestamp > intent.deadline) throw quoteExpired(intent.deadline, state.timestamp);
  assertCanBuy(state, buyer, intent.amount);
  assertFunds(funds, {
    cost: intent.maxCost,
    permitNonce: parameters.permitSignature === undefined ? undefined : permit.message.nonce,
  });
  if (nonceUsed) {
    throw new ConflictError('This intent was already executed or cancelled on-chain (its nonce is used)', {
      details: { reason: 'REPLAYED' },
    });
  }

  const idempotencyKey = purchaseIdempotencyKey(quote.id);
  let row: { id: string };
  try {
    row = await prisma.purchase.create({
      data: { quoteId: quote.id, trancheId: quote.trancheId, buyer, idempotencyKey },
      select: { id: true },
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ConflictError('This quote was already used: a signed intent is relayed once', {
        details: { reason: 'REPLAYED' },
      });
    }
    throw error;
  }

  const permitData =
    parameters.permitSignature === undefined
      ? NO_PERMIT
      : permitDataFromSignature(parameters.permitSignature, {
          value: permit.message.value,
          deadline: permit.message.deadline,
        });
  let relayTx: RelayTxView;
  try {
    relayTx = await context.relayer.submit({
      idempotencyKey,
      kind: 'buyWithSig',
      to: portfolio,
      abi: portfolioAbi,
      functionName: 'buyWithSig',
      args: [intent, parameters.purchaseSignature, permitData],
      refId: row.id,
    });
  } catch (error) {
    // the simulation reverted (nothing sent) or the relayer could not record it: no purchase
    await prisma.purchase.delete({ where: { id: row.id } }).catch(() => {});
    if (isChainError(error) && error.kind === 'revert') throw error;
    if (error instanceof BaseError) throw error;
    throw toChainError(error, { contract: 'Portfolio', functionName: 'buyWithSig' });
  }
  const updated = await prisma.purchase.update({
    where: { id: row.id },
    data: { relayTxId: relayTx.id, txHash: relayTx.txHash },
  });
  return { id: updated.id, status: 'pending' as const, txHash: relayTx.txHash as Hex };
}

async function readFunds(
  context: TradingContext,
  parameters: { token: Address; buyer: Address; portfolio: Address; blockNumber: bigint },
): Promise<Funds> {
  const { token, buyer, portfolio, blockNumber } = parameters;
  const { balance, allowance, nonce } = await readTokenFunds(context.publicClient, {
    token,
    owner: buyer,
    spender: portfolio,
    blockNumber,
  });
  return { balance, allowance, tokenNonce: nonce };
}

type PurchaseRow = NonNullable<Awaited<ReturnType<PrismaClient['purchase']['findUnique']>>>;

/** The API code and reason of a failed relayer row (in ./settlement.ts; kept for importers). */
export { relayFailure };

/** The indexed Purchased event of a purchase row's intent, through `context.findIndexedPurchase`. */
function purchaseEventFinder(
  context: Pick<TradingContext, 'findIndexedPurchase'>,
  row: PurchaseRow & { quote: QuoteRow },
) {
  return () =>
    context.findIndexedPurchase({
      chainId: row.quote.chainId,
      portfolio: getAddress(row.quote.portfolioAddress),
      buyer: getAddress(row.buyer),
      nonce: big(row.quote.nonce),
    });
}

/**
 * The purchase with its status brought up to date by the settlement state machine
 * (core/trading/settlement.ts): `confirmed` (stored) once the indexer's Purchased event of its intent is
 * final, `mined` while that event (or the mined transaction) is not final yet, `failed` (stored)
 * from a reverted-and-final or abandoned relayer row, else `pending`.
 */
export async function getPurchase(
  context: Pick<TradingContext, 'prisma' | 'findIndexedPurchase'>,
  id: string,
) {
  const { prisma } = context;
  const row = UUID.test(id)
    ? await prisma.purchase.findUnique({ where: { id }, include: { quote: true } })
    : null;
  if (row === null) throw new NotFoundError('Purchase', id);
  if (row.status !== 'pending') return purchaseView(row, row.quote);

  const settled = await settleRelayed(row, {
    prisma,
    chainId: row.quote.chainId,
    findEvent: purchaseEventFinder(context, row),
  });
  const { relay } = settled;
  // a process that died between relayer.submit and writing relayTxId: the row found by key is ours
  const relayLink =
    relay !== null && row.relayTxId === null ? { relayTxId: relay.id, txHash: relay.txHash } : {};
  if (settled.state === 'confirmed' && settled.event !== null) {
    const indexed = settled.event;
    await prisma.purchase.updateMany({
      where: { id, status: 'pending' },
      data: {
        ...relayLink,
        status: 'confirmed',
        tokens: indexed.amount.toString(),
        cost: indexed.cost.toString(),
        blockNumber: indexed.blockNumber,
        txHash: indexed.txHash,
        settledAt: new Date(),
      },
    });
  } else if (settled.state === 'failed' && relay !== null) {
    await prisma.purchase.updateMany({
      where: { id, status: 'pending' },
      data: {
        ...relayLink,
        status: 'failed',
        failureCode: settled.failure.code,
        failureReason: settled.failure.reason,
        txHash: relay.txHash,
        blockNumber: relay.blockNumber,
        settledAt: new Date(),
      },
    });
  } else if (relay !== null && (relay.txHash !== row.txHash || row.relayTxId === null)) {
    // a fee bump replaced the transaction, or the relay row was found by its key
    await prisma.purchase.updateMany({
      where: { id, status: 'pending' },
      data: { relayTxId: relay.id, txHash: relay.txHash },
    });
  }
  const fresh = await prisma.purchase.findUniqueOrThrow({ where: { id } });
  const view = purchaseView(fresh, row.quote);
  if (settled.state !== 'mined' || fresh.status !== 'pending') return view;
  // mined, not final yet: what the index has so far (may still go back to pending on a reorg)
  const indexed = settled.event;
  return {
    ...view,
    status: 'mined' as const,
    tokens: indexed?.amount.toString() ?? null,
    cost: indexed?.cost.toString() ?? null,
    blockNumber: settled.blockNumber?.toString() ?? null,
    txHash: indexed?.txHash ?? relay?.txHash ?? view.txHash,
  };
}

export function purchaseView(row: PurchaseRow, quote: QuoteRow) {
  return {
    id: row.id,
    quoteId: row.quoteId,
    trancheId: row.trancheId,
    buyer: getAddress(row.buyer),
    status: row.status,
    amount: quote.amount.toFixed(0),
    maxCost: quote.cost.toFixed(0),
    txHash: row.txHash,
    tokens: row.tokens?.toFixed(0) ?? null,
    cost: row.cost?.toFixed(0) ?? null,
    blockNumber: row.blockNumber?.toString() ?? null,
    reason: row.failureCode,
    revert: row.failureReason,
    createdAt: row.createdAt.toISOString(),
    settledAt: row.settledAt?.toISOString() ?? null,
  };
}
export type PurchaseView = ReturnType<typeof purchaseView>;

// ------------------------------------------------------------------ allowlist

export type AllowlistParameters = { address: Address; expiry: bigint };

/** The indexed Allowlisted event of `address` on the registry among a relay row's hashes. */
const allowlistedEvent = (
  context: Pick<TradingContext, 'prisma' | 'chainId' | 'registry'>,
  address: Address,
) =>
  byTxHashes((hashes) =>
    context.prisma.allowlistEvent.findFirst({
      where: {
        chainId: context.chainId,
        registry: { equals: context.registry, mode: 'insensitive' },
        account: { equals: address, mode: 'insensitive' },
        kind: 'allowlisted',
        ...hashes,
      },
      orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
    }),
  );

/** An allowlist relay row settled by the state machine (core/trading/settlement.ts). */
const settleAllowlist = (
  context: Pick<TradingContext, 'prisma' | 'chainId' | 'registry'>,
  record: RelayedRecord,
  address: Address,
) =>
  settleRelayed(record, {
    prisma: context.prisma,
    chainId: context.chainId,
    findEvent: allowlistedEvent(context, address),
  });

/**
 * Relays `ComplianceRegistry.allowlist(address, expiry)` (idempotent per address and expiry) and
 * answers the relay row with its settlement state (pending, mined until its Allowlisted event is
 * final, confirmed, or failed: reverted at a final block or given up).
 */
export async function requestAllowlist(context: TradingContext, parameters: AllowlistParameters) {
  const { address, expiry } = parameters;
  const relayTx = await context.relayer.submit({
    idempotencyKey: `allowlist:${context.chainId}:${address}:${expiry}`,
    kind: 'allowlist',
    to: context.registry,
    abi: complianceRegistryAbi,
    functionName: 'allowlist',
    args: [address, expiry],
    refId: address,
  });
  const settled = await settleAllowlist(context, { relayTxId: relayTx.id }, address);
  const relay = settled.relay ?? relayTx;
  return { id: relay.id, txHash: relay.txHash, status: settled.state };
}

/**
 * Follows the allowlist relay row `relayTxId` through the settlement state machine until it is final
 * (`confirmed`: its Allowlisted event final in the index; `failed`: reverted at a final block or
 * given up); each time its transaction is mined (again, after a reorg sent it back to pending),
 * reads the registry's record of `address` at that block into the investor table. Resolves to the
 * final state, or 'timeout'.
 */
export async function mirrorAllowlistOnReceipt(
  context: TradingContext,
  parameters: {
    relayTxId: string;
    address: Address;
    pollMs?: number;
    timeoutMs?: number;
    /** Stop waiting when this says so (the app is closing). */
    isClosed?: () => boolean;
  },
): Promise<'confirmed' | 'failed' | 'timeout'> {
  const pollMs = parameters.pollMs ?? 200;
  const until = Date.now() + (parameters.timeoutMs ?? 10 * 60_000);
  let mirroredBlock: bigint | null = null;
  while (Date.now() < until && !parameters.isClosed?.()) {
    const settled = await settleAllowlist(context, { relayTxId: parameters.relayTxId }, parameters.address);
    const relay = settled.relay;
    if (
      relay !== null &&
      relay.status === 'mined' &&
      relay.blockNumber !== null &&
      relay.blockNumber !== mirroredBlock
    ) {
      const record = await readInvestor(context.publicClient, {
        registry: context.registry,
        account: parameters.address,
        blockNumber: relay.blockNumber,
      });
      await mirrorInvestor(context.prisma, parameters.address, record);
      mirroredBlock = relay.blockNumber;
    }
    if (settled.state === 'confirmed' || settled.state === 'failed') return settled.state;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return 'timeout';
}
