/**
 * Contract actions in viem's `action(client, parameters)` shape: each takes `ChainClients` (the
 * signing key is the wallet client's account), sends one transaction, waits for it and returns what
 * its events say. Every failure is a `ChainError` (decoded custom error, retryable transport error).
 *
 * The EIP-712 helpers (`purchaseTypedData`, `permitTypedData`) are pure so the API can hand the typed
 * data to an investor to sign in a wallet; `signPurchaseIntent` / `signPermit` sign with a local key.
 */
import { randomBytes } from 'node:crypto';
import {
  type Address,
  bytesToHex,
  type Hex,
  type LocalAccount,
  maxUint256,
  parseEventLogs,
  parseSignature,
  type TransactionReceipt,
  zeroHash,
} from 'viem';
import {
  type ComputeWaterfallReturnType,
  type ComputeWaterfallV2ReturnType,
  computeWaterfall,
  computeWaterfallV2,
  type WaterfallMode,
} from '../domain/waterfall.ts';
import type { ChainClients, ChainPublicClient } from './clients.ts';
import { ChainError } from './errors.ts';
import {
  complianceRegistryAbi,
  portfolioAbi,
  portfolioFactoryAbi,
  testStablecoinAbi,
  trancheTokenAbi,
} from './generated/index.ts';
import { readChain } from './read.ts';
import { sendAndWait } from './tx.ts';

/** Where and when a transaction was mined. */
export type TxResult = { txHash: Hex; blockNumber: bigint };

const waterfallModeIndex: Record<WaterfallMode, number> = { interestFirst: 0, sequential: 1 };
export const waterfallModeFromIndex = (index: number): WaterfallMode =>
  index === 1 ? 'sequential' : 'interestFirst';

function txResult(txHash: Hex, receipt: TransactionReceipt): TxResult {
  return { txHash, blockNumber: receipt.blockNumber };
}

function missingEvent(contract: string, functionName: string, eventName: string, txHash: Hex): ChainError {
  return new ChainError(`${contract}.${functionName}: no ${eventName} event in ${txHash}`, {
    kind: 'unknown',
    retryable: false,
    contract,
    functionName,
    txHash,
  });
}

// ------------------------------------------------------------------ portfolio creation

export type TrancheConfigParameters = {
  name: string;
  symbol: string;
  /** Face in pay-token base units. */
  face: bigint;
  /** Yearly coupon (debt tranches); must be 0 for the last (residual) tranche. */
  couponBps: number;
  /** Offering price in bps of par; default 10 000. */
  priceBps?: number;
};

export type CreatePortfolioParameters = {
  factory: Address;
  payToken: Address;
  registry: Address;
  servicer: Address;
  /** Tranches in seniority order, the residual tranche last. */
  tranches: readonly TrancheConfigParameters[];
  /** Last second (inclusive) of the offering window. */
  offeringEnd: bigint | number;
  /** First second (inclusive); default 0 (open at once). */
  offeringStart?: bigint | number;
  /** The roles below default to the sending (platform) key. */
  admin?: Address;
  issuer?: Address;
  issuerTreasury?: Address;
  guardian?: Address;
  protocolTreasury?: Address;
  rootProposer?: Address;
  /**
   * Distributor timelock in seconds, at least the Distributor implementation's MIN_TIMELOCK_DELAY (2 s on
   * local chains, 1 day elsewhere, see deployStack); default 1 day.
   */
  timelockDelay?: bigint | number;
  servicerFeeBps?: number;
  protocolFeeBps?: number;
  mode?: WaterfallMode;
  documentRoot?: Hex;
  loanTapeHash?: Hex;
  /** The only destination of `sweepUndistributed`; default: the issuer treasury. */
  sweepRecipient?: Address;
  /**
   * Spec-v2 cash reserve: `targetBps` of the senior's outstanding principal (0 to 10 000); default none
   * (`{ targetBps: 0 }`). The issuer treasury funds it on-chain (`Portfolio.fundReserve`).
   */
  reserve?: { targetBps: number };
  /**
   * Spec-v2 subordination trigger over the business plan (points sorted by strictly increasing `atSeconds`
   * after the close, non-decreasing `cumulative`, at most `WaterfallLib.MAX_PLAN_POINTS`); default none.
   */
  trigger?: {
    collectionRatioBps: number;
    businessPlan: readonly { atSeconds: bigint | number; cumulative: bigint }[];
  };
  /**
   * Seconds between the servicer's resolution proposal and its final recovery (the guardian's veto window);
   * at least `timelockDelay`, checked on-chain; default: `timelockDelay`.
   */
  resolutionDelay?: number;
  /**
   * The creator's salt of the deterministic clones (with the creator and every other parameter it fixes
   * the addresses, `predictPortfolioAddresses`); default: 32 random bytes, so the same terms can be
   * created again.
   */
  salt?: Hex;
};

export type CreatePortfolioReturnType = TxResult & {
  portfolio: Address;
  distributor: Address;
  /** Tranche tokens in seniority order. */
  tranches: Address[];
  issuer: Address;
};

/**
 * `PortfolioFactory.createPortfolio`'s argument: unset roles default to `sender`, the transaction's
 * sender; shared by `createPortfolio` and the relayer-based publish job so both build the same call.
 */
export function createPortfolioArgs(parameters: CreatePortfolioParameters, sender: Address) {
  const issuerTreasury = parameters.issuerTreasury ?? sender;
  const timelockDelay = BigInt(parameters.timelockDelay ?? 86_400);
  return [
    {
      admin: parameters.admin ?? sender,
      issuer: parameters.issuer ?? sender,
      issuerTreasury,
      servicer: parameters.servicer,
      guardian: parameters.guardian ?? sender,
      protocolTreasury: parameters.protocolTreasury ?? sender,
      payToken: parameters.payToken,
      registry: parameters.registry,
      rootProposer: parameters.rootProposer ?? sender,
      timelockDelay,
      servicerFeeBps: parameters.servicerFeeBps ?? 0,
      protocolFeeBps: parameters.protocolFeeBps ?? 0,
      mode: waterfallModeIndex[parameters.mode ?? 'interestFirst'],
      offeringStart: BigInt(parameters.offeringStart ?? 0),
      offeringEnd: BigInt(parameters.offeringEnd),
      documentRoot: parameters.documentRoot ?? zeroHash,
      loanTapeHash: parameters.loanTapeHash ?? zeroHash,
      tranches: parameters.tranches.map((tranche) => ({
        name: tranche.name,
        symbol: tranche.symbol,
        face: tranche.face,
        couponBps: tranche.couponBps,
        priceBps: tranche.priceBps ?? 10_000,
      })),
      sweepRecipient: parameters.sweepRecipient ?? issuerTreasury,
      reserve: { targetBps: parameters.reserve?.targetBps ?? 0 },
      trigger: {
        collectionRatioBps: parameters.trigger?.collectionRatioBps ?? 0,
        businessPlan: (parameters.trigger?.businessPlan ?? []).map((point) => ({
          atSeconds: BigInt(point.atSeconds),
          cumulative: point.cumulative,
        })),
      },
      resolutionDelay: parameters.resolutionDelay ?? Number(timelockDelay),
      salt: parameters.salt ?? bytesToHex(randomBytes(32)),
    },
  ] as const;
}

export type PredictedPortfolioAddresses = { portfolio: Address; distributor: Address; tranches: Address[] };

/**
 * `PortfolioFactory.predictAddresses`: where `createPortfolio(args)` sent by `creator` deploys the
 * Portfolio, its Distributor and its tranche tokens (the clones are CREATE2, salted by the creator and
 * every parameter); known before the transaction.
 */
export async function predictPortfolioAddresses(
  publicClient: ChainPublicClient,
  parameters: {
    factory: Address;
    args: ReturnType<typeof createPortfolioArgs>;
    creator: Address;
    blockNumber?: bigint;
  },
): Promise<PredictedPortfolioAddresses> {
  const [portfolio, distributor, tranches] = await readChain('PortfolioFactory', 'predictAddresses', () =>
    publicClient.readContract({
      address: parameters.factory,
      abi: portfolioFactoryAbi,
      functionName: 'predictAddresses',
      args: [parameters.args[0], parameters.creator],
      blockNumber: parameters.blockNumber,
    }),
  );
  return { portfolio, distributor, tranches: [...tranches] };
}

/** `PortfolioFactory.createPortfolio`: deploys the Portfolio, its tranche tokens and Distributor (clones). */
export async function createPortfolio(
  clients: ChainClients,
  parameters: CreatePortfolioParameters,
): Promise<CreatePortfolioReturnType> {
  const context = { contract: 'PortfolioFactory', functionName: 'createPortfolio', abi: portfolioFactoryAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.factory,
      abi: portfolioFactoryAbi,
      functionName: 'createPortfolio',
      args: createPortfolioArgs(parameters, clients.account.address),
    }),
  );
  const [created] = parseEventLogs({
    abi: portfolioFactoryAbi,
    logs: receipt.logs,
    eventName: 'PortfolioCreated',
  });
  if (!created) throw missingEvent(context.contract, context.functionName, 'PortfolioCreated', txHash);
  return {
    ...txResult(txHash, receipt),
    portfolio: created.args.portfolio,
    distributor: created.args.distributor,
    tranches: [...created.args.tranches],
    issuer: created.args.issuer,
  };
}

// ------------------------------------------------------------------ documents and compliance

export type AnchorDocumentsParameters = { portfolio: Address; documentRoot: Hex; loanTapeHash: Hex };
export type AnchorDocumentsReturnType = TxResult & { version: bigint };

/** `Portfolio.updateDocuments` (ISSUER_ROLE): anchors a new version of the document root and tape hash. */
export async function anchorDocuments(
  clients: ChainClients,
  parameters: AnchorDocumentsParameters,
): Promise<AnchorDocumentsReturnType> {
  const context = { contract: 'Portfolio', functionName: 'updateDocuments', abi: portfolioAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'updateDocuments',
      args: [parameters.documentRoot, parameters.loanTapeHash],
    }),
  );
  const [event] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'DocumentsAnchored' });
  if (!event) throw missingEvent(context.contract, context.functionName, 'DocumentsAnchored', txHash);
  return { ...txResult(txHash, receipt), version: event.args.version };
}

export type AllowlistInvestorParameters = { registry: Address; account: Address; expiry: bigint | number };
export type AllowlistInvestorsParameters = {
  registry: Address;
  accounts: readonly Address[];
  expiry: bigint | number;
};
export type AllowlistReturnType = TxResult;

/** `ComplianceRegistry.allowlist` (COMPLIANCE_ROLE): allows `account` until `expiry` (unix seconds). */
export async function allowlistInvestor(
  clients: ChainClients,
  parameters: AllowlistInvestorParameters,
): Promise<AllowlistReturnType> {
  const context = { contract: 'ComplianceRegistry', functionName: 'allowlist', abi: complianceRegistryAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.registry,
      abi: complianceRegistryAbi,
      functionName: 'allowlist',
      args: [parameters.account, BigInt(parameters.expiry)],
    }),
  );
  return txResult(txHash, receipt);
}

/** `ComplianceRegistry.allowlistMany` (COMPLIANCE_ROLE): one transaction for many accounts. */
export async function allowlistInvestors(
  clients: ChainClients,
  parameters: AllowlistInvestorsParameters,
): Promise<AllowlistReturnType> {
  const context = {
    contract: 'ComplianceRegistry',
    functionName: 'allowlistMany',
    abi: complianceRegistryAbi,
  };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.registry,
      abi: complianceRegistryAbi,
      functionName: 'allowlistMany',
      args: [[...parameters.accounts], BigInt(parameters.expiry)],
    }),
  );
  return txResult(txHash, receipt);
}

// ------------------------------------------------------------------ pay token

export type MintTestStablecoinParameters = { token: Address; to: Address; amount: bigint };

/** `TestStablecoin.mint` (MINTER_ROLE; local chains). */
export async function mintTestStablecoin(
  clients: ChainClients,
  parameters: MintTestStablecoinParameters,
): Promise<TxResult> {
  const context = { contract: 'TestStablecoin', functionName: 'mint', abi: testStablecoinAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.token,
      abi: testStablecoinAbi,
      functionName: 'mint',
      args: [parameters.to, parameters.amount],
    }),
  );
  return txResult(txHash, receipt);
}

export type ApproveParameters = { token: Address; spender: Address; amount: bigint };

/** ERC-20 `approve` of `spender` by the sending key. */
export async function approve(clients: ChainClients, parameters: ApproveParameters): Promise<TxResult> {
  const context = { contract: 'ERC20', functionName: 'approve', abi: testStablecoinAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.token,
      abi: testStablecoinAbi,
      functionName: 'approve',
      args: [parameters.spender, parameters.amount],
    }),
  );
  return txResult(txHash, receipt);
}

/** Approves `amount` (or `maxUint256` when `unlimited`) unless the allowance already covers it. */
async function ensureAllowance(
  clients: ChainClients,
  parameters: { token: Address; spender: Address; amount: bigint; unlimited?: boolean },
): Promise<void> {
  const allowance = await readChain('ERC20', 'allowance', () =>
    clients.publicClient.readContract({
      address: parameters.token,
      abi: testStablecoinAbi,
      functionName: 'allowance',
      args: [clients.account.address, parameters.spender],
    }),
  );
  if (allowance >= parameters.amount) return;
  await approve(clients, {
    token: parameters.token,
    spender: parameters.spender,
    amount: parameters.unlimited ? maxUint256 : parameters.amount,
  });
}

// ------------------------------------------------------------------ primary offering

export type PurchaseResult = TxResult & {
  trancheId: bigint;
  buyer: Address;
  amount: bigint;
  cost: bigint;
  nonce: bigint;
};

function parsePurchased(portfolio: Address, txHash: Hex, receipt: TransactionReceipt, functionName: string) {
  const [event] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'Purchased' }).filter(
    (log) => log.address.toLowerCase() === portfolio.toLowerCase(),
  );
  if (!event) throw missingEvent('Portfolio', functionName, 'Purchased', txHash);
  return { ...txResult(txHash, receipt), ...event.args };
}

export type BuyParameters = {
  portfolio: Address;
  trancheId: bigint | number;
  /** Tranche-token base units (a multiple of the portfolio's `scale`). */
  amount: bigint;
  maxCost: bigint;
  /** Approve the pay token first if the allowance is short (reads `terms().payToken`). */
  approve?: boolean;
};
export type BuyReturnType = PurchaseResult;

/** `Portfolio.buy`: direct purchase by the sending key (DvP). */
export async function buy(clients: ChainClients, parameters: BuyParameters): Promise<BuyReturnType> {
  if (parameters.approve) {
    const terms = await readPortfolioTerms(clients.publicClient, { portfolio: parameters.portfolio });
    await ensureAllowance(clients, {
      token: terms.payToken,
      spender: parameters.portfolio,
      amount: parameters.maxCost,
    });
  }
  const context = { contract: 'Portfolio', functionName: 'buy', abi: portfolioAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'buy',
      args: [BigInt(parameters.trancheId), parameters.amount, parameters.maxCost],
    }),
  );
  return parsePurchased(parameters.portfolio, txHash, receipt, 'buy');
}

/** A buyer's purchase intent, signed with EIP-712 and relayed through `buyWithSig`. */
export type PurchaseIntent = {
  buyer: Address;
  trancheId: bigint;
  amount: bigint;
  maxCost: bigint;
  nonce: bigint;
  deadline: bigint;
};

/** The ERC-2612 permit applied by `buyWithSig` (`deadline` 0 = none). */
export type PermitData = { value: bigint; deadline: bigint; v: number; r: Hex; s: Hex };

export const NO_PERMIT: PermitData = { value: 0n, deadline: 0n, v: 0, r: zeroHash, s: zeroHash };

export const PORTFOLIO_EIP712_NAME = 'NPL Portfolio';
export const PORTFOLIO_EIP712_VERSION = '1';

/** The EIP-712 domain of a Portfolio ("NPL Portfolio" v1): purchase, deposit and invalidation intents. */
export function portfolioDomain(chainId: number, portfolio: Address) {
  return {
    name: PORTFOLIO_EIP712_NAME,
    version: PORTFOLIO_EIP712_VERSION,
    chainId,
    verifyingContract: portfolio,
  } as const;
}

export const purchaseIntentTypes = {
  PurchaseIntent: [
    { name: 'buyer', type: 'address' },
    { name: 'trancheId', type: 'uint256' },
    { name: 'amount', type: 'uint256' },
    { name: 'maxCost', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

export type PurchaseTypedDataParameters = { portfolio: Address; chainId: number; intent: PurchaseIntent };

/** EIP-712 typed data of a purchase intent, exactly as `Portfolio.buyWithSig` hashes it. */
export function purchaseTypedData(parameters: PurchaseTypedDataParameters) {
  return {
    domain: portfolioDomain(parameters.chainId, parameters.portfolio),
    types: purchaseIntentTypes,
    primaryType: 'PurchaseIntent',
    message: parameters.intent,
  } as const;
}
export type PurchaseTypedData = ReturnType<typeof purchaseTypedData>;

export const nonceInvalidationTypes = {
  NonceInvalidation: [
    { name: 'account', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

export type NonceInvalidation = { account: Address; nonce: bigint; deadline: bigint };

/**
 * EIP-712 typed data of `NonceInvalidation(address account,uint256 nonce,uint256 deadline)`, which
 * `invalidateNonceWithSig` of a Portfolio (domain "NPL Portfolio" v1) or of the Marketplace (domain
 * "NPL Marketplace" v1) checks: `account` cancels its intent nonce `nonce` on that contract.
 */
export function nonceInvalidationTypedData(parameters: {
  domain: { name: string; version: string; chainId: number; verifyingContract: Address };
  invalidation: NonceInvalidation;
}) {
  return {
    domain: parameters.domain,
    types: nonceInvalidationTypes,
    primaryType: 'NonceInvalidation',
    message: parameters.invalidation,
  } as const;
}

export const depositIntentTypes = {
  DepositIntent: [
    { name: 'amount', type: 'uint256' },
    { name: 'reportHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/** The servicer's consent to one recovery (`Portfolio.depositRecoveryWithSig`). */
export type DepositIntent = { amount: bigint; reportHash: Hex; nonce: bigint; deadline: bigint };

/**
 * EIP-712 typed data of `DepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)`
 * on the Portfolio's domain, exactly as `depositRecoveryWithSig` hashes it; the signer must be the
 * portfolio's servicer.
 */
export function depositIntentTypedData(parameters: {
  portfolio: Address;
  chainId: number;
  intent: DepositIntent;
}) {
  return {
    domain: portfolioDomain(parameters.chainId, parameters.portfolio),
    types: depositIntentTypes,
    primaryType: 'DepositIntent',
    message: parameters.intent,
  } as const;
}
export type DepositIntentTypedData = ReturnType<typeof depositIntentTypedData>;

export const finalDepositIntentTypes = {
  FinalDepositIntent: depositIntentTypes.DepositIntent,
} as const;

/**
 * EIP-712 typed data of `FinalDepositIntent(uint256 amount,bytes32 reportHash,uint256 nonce,uint256 deadline)`
 * (`Portfolio.depositFinalRecoveryWithSig`): a distinct type, so an ordinary deposit's signature never
 * resolves a portfolio.
 */
export function finalDepositIntentTypedData(parameters: {
  portfolio: Address;
  chainId: number;
  intent: DepositIntent;
}) {
  return {
    domain: portfolioDomain(parameters.chainId, parameters.portfolio),
    types: finalDepositIntentTypes,
    primaryType: 'FinalDepositIntent',
    message: parameters.intent,
  } as const;
}

/** The servicer's consent to propose resolution (`Portfolio.proposeResolutionWithSig`). */
export type ResolutionIntent = { nonce: bigint; deadline: bigint };

export const resolutionIntentTypes = {
  ResolutionIntent: [
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

/** EIP-712 typed data of `ResolutionIntent(uint256 nonce,uint256 deadline)` on the Portfolio's domain. */
export function resolutionIntentTypedData(parameters: {
  portfolio: Address;
  chainId: number;
  intent: ResolutionIntent;
}) {
  return {
    domain: portfolioDomain(parameters.chainId, parameters.portfolio),
    types: resolutionIntentTypes,
    primaryType: 'ResolutionIntent',
    message: parameters.intent,
  } as const;
}

export const permitTypes = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const;

export type PermitTypedDataParameters = {
  token: Address;
  chainId: number;
  /** The token's EIP-712 domain name and version (`readPermitDomain`); TestStablecoin: "Test USD", "1". */
  name: string;
  version: string;
  owner: Address;
  spender: Address;
  value: bigint;
  /** The owner's current permit nonce on the token (`nonces(owner)`). */
  nonce: bigint;
  deadline: bigint;
};

/** EIP-712 typed data of an ERC-2612 permit of the pay token. */
export function permitTypedData(parameters: PermitTypedDataParameters) {
  return {
    domain: {
      name: parameters.name,
      version: parameters.version,
      chainId: parameters.chainId,
      verifyingContract: parameters.token,
    },
    types: permitTypes,
    primaryType: 'Permit',
    message: {
      owner: parameters.owner,
      spender: parameters.spender,
      value: parameters.value,
      nonce: parameters.nonce,
      deadline: parameters.deadline,
    },
  } as const;
}
export type PermitTypedData = ReturnType<typeof permitTypedData>;

export type ReadPermitDomainParameters = { token: Address; owner: Address };
export type ReadPermitDomainReturnType = { name: string; version: string; chainId: number; nonce: bigint };

/** The token's EIP-712 domain (ERC-5267 `eip712Domain()`) and `owner`'s permit nonce. */
export async function readPermitDomain(
  client: ChainPublicClient,
  parameters: ReadPermitDomainParameters,
): Promise<ReadPermitDomainReturnType> {
  const [domain, nonce] = await readChain('ERC20Permit', 'eip712Domain', () =>
    Promise.all([
      client.readContract({
        address: parameters.token,
        abi: testStablecoinAbi,
        functionName: 'eip712Domain',
      }),
      client.readContract({
        address: parameters.token,
        abi: testStablecoinAbi,
        functionName: 'nonces',
        args: [parameters.owner],
      }),
    ]),
  );
  const [, name, version, chainId] = domain;
  return { name, version, chainId: Number(chainId), nonce };
}

/** Signs a purchase intent with a local key (tests, scripts; investors sign the typed data in a wallet). */
export async function signPurchaseIntent(
  signer: LocalAccount,
  parameters: PurchaseTypedDataParameters,
): Promise<Hex> {
  return signer.signTypedData(purchaseTypedData(parameters));
}

/** Signs an ERC-2612 permit with a local key and splits it into the `PermitData` `buyWithSig` takes. */
export async function signPermit(
  signer: LocalAccount,
  parameters: PermitTypedDataParameters,
): Promise<PermitData> {
  const signature = await signer.signTypedData(permitTypedData(parameters));
  return permitDataFromSignature(signature, { value: parameters.value, deadline: parameters.deadline });
}

/** `PermitData` from a 65-byte permit signature (e.g. one returned by the investor's wallet). */
export function permitDataFromSignature(
  signature: Hex,
  permit: { value: bigint; deadline: bigint },
): PermitData {
  const { r, s, v, yParity } = parseSignature(signature);
  return { value: permit.value, deadline: permit.deadline, v: Number(v ?? BigInt(yParity + 27)), r, s };
}

export type BuyWithSigParameters = {
  portfolio: Address;
  intent: PurchaseIntent;
  signature: Hex;
  /** Omitted = no permit (the buyer approved beforehand). */
  permit?: PermitData;
};
export type BuyWithSigReturnType = PurchaseResult;

/** `Portfolio.buyWithSig`, relayed by the sending key (which pays the gas, not the cost). */
export async function buyWithSig(
  clients: ChainClients,
  parameters: BuyWithSigParameters,
): Promise<BuyWithSigReturnType> {
  const context = { contract: 'Portfolio', functionName: 'buyWithSig', abi: portfolioAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'buyWithSig',
      args: [parameters.intent, parameters.signature, parameters.permit ?? NO_PERMIT],
    }),
  );
  return parsePurchased(parameters.portfolio, txHash, receipt, 'buyWithSig');
}

export type CloseOfferingParameters = { portfolio: Address };
export type CloseOfferingReturnType = TxResult & { closedAt: bigint; sold: bigint[] };

/** `Portfolio.closeOffering` (issuer any time, anyone after the window): fixes outstanding principal. */
export async function closeOffering(
  clients: ChainClients,
  parameters: CloseOfferingParameters,
): Promise<CloseOfferingReturnType> {
  const context = { contract: 'Portfolio', functionName: 'closeOffering', abi: portfolioAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'closeOffering',
    }),
  );
  const [event] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'OfferingClosed' });
  if (!event) throw missingEvent(context.contract, context.functionName, 'OfferingClosed', txHash);
  return { ...txResult(txHash, receipt), closedAt: event.args.closedAt, sold: [...event.args.sold] };
}

// ------------------------------------------------------------------ recoveries

export type DepositRecoveryParameters = {
  portfolio: Address;
  amount: bigint;
  /** Hash of the servicer's report (e.g. its SHA-256); default zero. */
  reportHash?: Hex;
  /** Approve the pay token first if the servicer's allowance is short. */
  approve?: boolean;
};

/** The decoded `RecoveryDistributed` event, plus where it was mined. */
export type RecoveryDistributed = TxResult & {
  recoveryId: bigint;
  amount: bigint;
  servicerFee: bigint;
  protocolFee: bigint;
  interest: bigint[];
  principal: bigint[];
  residual: bigint[];
  undistributed: bigint;
  snapshotBlock: bigint;
  reportHash: Hex;
  /** Timestamp of the block that ran the waterfall (its `block.timestamp`). */
  blockTimestamp: bigint;
};
export type DepositRecoveryReturnType = RecoveryDistributed;

/** `Portfolio.depositRecovery` (the servicer's own call): runs the on-chain waterfall and funds the Distributor. */
export async function depositRecovery(
  clients: ChainClients,
  parameters: DepositRecoveryParameters,
): Promise<DepositRecoveryReturnType> {
  if (parameters.approve) {
    const terms = await readPortfolioTerms(clients.publicClient, { portfolio: parameters.portfolio });
    await ensureAllowance(clients, {
      token: terms.payToken,
      spender: parameters.portfolio,
      amount: parameters.amount,
    });
  }
  const context = { contract: 'Portfolio', functionName: 'depositRecovery', abi: portfolioAbi };
  const { txHash, receipt } = await sendAndWait(clients, context, () =>
    clients.walletClient.writeContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'depositRecovery',
      args: [parameters.amount, parameters.reportHash ?? zeroHash],
    }),
  );
  const [event] = parseEventLogs({ abi: portfolioAbi, logs: receipt.logs, eventName: 'RecoveryDistributed' });
  if (!event) throw missingEvent(context.contract, context.functionName, 'RecoveryDistributed', txHash);
  const block = await readChain('chain', 'getBlock', () =>
    clients.publicClient.getBlock({ blockNumber: receipt.blockNumber }),
  );
  const { args } = event;
  return {
    ...txResult(txHash, receipt),
    recoveryId: args.recoveryId,
    amount: args.amount,
    servicerFee: args.servicerFee,
    protocolFee: args.protocolFee,
    interest: [...args.interest],
    principal: [...args.principal],
    residual: [...args.residual],
    undistributed: args.undistributed,
    snapshotBlock: args.snapshotBlock,
    reportHash: args.reportHash,
    blockTimestamp: block.timestamp,
  };
}

// ------------------------------------------------------------------ reads

export type ReadPortfolioTermsParameters = {
  portfolio: Address;
  /** Read at this block instead of the latest. */
  blockNumber?: bigint;
};
export type PortfolioTerms = {
  issuerTreasury: Address;
  servicer: Address;
  protocolTreasury: Address;
  payToken: Address;
  registry: Address;
  distributor: Address;
  servicerFeeBps: number;
  protocolFeeBps: number;
  mode: WaterfallMode;
  offeringStart: bigint;
  offeringEnd: bigint;
  offeringClosed: boolean;
  lastRecoveryAt: bigint;
  /** Token base units per pay unit of face: 10 ** (18 - payDecimals). */
  scale: bigint;
};

/** `Portfolio.terms()` with the mode as its name. */
export async function readPortfolioTerms(
  client: ChainPublicClient,
  parameters: ReadPortfolioTermsParameters,
): Promise<PortfolioTerms> {
  const terms = await readChain('Portfolio', 'terms', () =>
    client.readContract({
      address: parameters.portfolio,
      abi: portfolioAbi,
      functionName: 'terms',
      blockNumber: parameters.blockNumber,
    }),
  );
  return { ...terms, mode: waterfallModeFromIndex(terms.mode) };
}

export type ReadTrancheStateParameters = {
  portfolio: Address;
  /** Omitted: every tranche, in seniority order. */
  trancheId?: bigint | number;
  /** Read at this block instead of the latest. */
  blockNumber?: bigint;
};

export type TrancheOnChainState = {
  trancheId: number;
  token: Address;
  /** Face in pay units. */
  face: bigint;
  couponBps: number;
  priceBps: number;
  /** Outstanding principal (0 before close; the residual tranche keeps its sold face). */
  outstanding: bigint;
  arrears: bigint;
  /** Sold face in pay units. */
  sold: bigint;
  paidToDate: bigint;
  /** Tranche-token supply in token base units. */
  totalSupply: bigint;
};
export type ReadTrancheStateReturnType = TrancheOnChainState[];

/** Terms and state of one or all tranches (`trancheTerms`, `trancheState`, token `totalSupply`). */
export async function readTrancheState(
  client: ChainPublicClient,
  parameters: ReadTrancheStateParameters,
): Promise<ReadTrancheStateReturnType> {
  const { portfolio, blockNumber } = parameters;
  return readChain('Portfolio', 'trancheState', async () => {
    const ids =
      parameters.trancheId === undefined
        ? Array.from(
            {
              length: Number(
                await client.readContract({
                  address: portfolio,
                  abi: portfolioAbi,
                  functionName: 'trancheCount',
                  blockNumber,
                }),
              ),
            },
            (_, i) => BigInt(i),
          )
        : [BigInt(parameters.trancheId)];
    return Promise.all(
      ids.map(async (id) => {
        const [terms, state] = await Promise.all([
          client.readContract({
            address: portfolio,
            abi: portfolioAbi,
            functionName: 'trancheTerms',
            args: [id],
            blockNumber,
          }),
          client.readContract({
            address: portfolio,
            abi: portfolioAbi,
            functionName: 'trancheState',
            args: [id],
            blockNumber,
          }),
        ]);
        const totalSupply = await client.readContract({
          address: terms.token,
          abi: trancheTokenAbi,
          functionName: 'totalSupply',
          blockNumber,
        });
        const [outstanding, arrears, sold, paidToDate] = state;
        return {
          trancheId: Number(id),
          token: terms.token,
          face: terms.face,
          couponBps: terms.couponBps,
          priceBps: terms.priceBps,
          outstanding,
          arrears,
          sold,
          paidToDate,
          totalSupply,
        };
      }),
    );
  });
}

export type PreviewRecoveryParameters = {
  portfolio: Address;
  amount: bigint;
  /** Timestamp the recovery would run at (its block's `block.timestamp`); default: the latest block's. */
  at?: bigint;
};
export type PreviewRecoveryReturnType = ComputeWaterfallReturnType & {
  elapsedSeconds: bigint;
  terms: PortfolioTerms;
};

/**
 * What `depositRecovery(amount)` would pay if mined at `at`: the portfolio's on-chain state run
 * through `computeWaterfall()` (the TypeScript mirror of WaterfallLib). Nothing is sent.
 */
export async function previewRecovery(
  client: ChainPublicClient,
  parameters: PreviewRecoveryParameters,
): Promise<PreviewRecoveryReturnType> {
  const [terms, tranches, at] = await Promise.all([
    readPortfolioTerms(client, { portfolio: parameters.portfolio }),
    readTrancheState(client, { portfolio: parameters.portfolio }),
    parameters.at ?? readChain('chain', 'getBlock', async () => (await client.getBlock()).timestamp),
  ]);
  if (!terms.offeringClosed) {
    throw new ChainError('Portfolio.depositRecovery: the offering is not closed yet', {
      kind: 'revert',
      errorName: 'RecoveryBeforeClose',
      args: [],
      contract: 'Portfolio',
      functionName: 'depositRecovery',
    });
  }
  const elapsedSeconds = at > terms.lastRecoveryAt ? at - terms.lastRecoveryAt : 0n;
  const result = computeWaterfall({
    tranches: tranches.map((tranche) => ({
      face: tranche.face,
      couponBps: tranche.couponBps,
      outstanding: tranche.outstanding,
      interestArrears: tranche.arrears,
    })),
    fees: { servicerBps: terms.servicerFeeBps, protocolBps: terms.protocolFeeBps },
    mode: terms.mode,
    elapsedSeconds,
    amount: parameters.amount,
  });
  return { ...result, elapsedSeconds, terms };
}

export type PreviewRecoveryV2Parameters = PreviewRecoveryParameters & {
  /** The resolving recovery (`depositFinalRecovery`): reserve target 0, every debt left written off. */
  final?: boolean;
  /**
   * The offering's close time (`OfferingClosed.closedAt`, e.g. from the chain index): the trigger's clock
   * runs from it and `Portfolio.terms()` does not expose it. Without it a portfolio with a trigger throws
   * `PreviewUnsupportedError`.
   */
  closedAt?: bigint;
};
export type PreviewRecoveryV2ReturnType = ComputeWaterfallV2ReturnType & {
  elapsedSeconds: bigint;
  terms: PortfolioTerms;
  /** `Portfolio.reserve().balance` as the contract uses it (0 while the reserve target is 0). */
  reserveBalance: bigint;
  reserveTargetBps: number;
  /** The trigger's collection ratio (0: no trigger). */
  collectionRatioBps: number;
};

/**
 * The portfolio has spec-v2 terms the preview cannot mirror yet: a collection-ratio trigger (its
 * clock runs from the offering's close time, which the Portfolio does not expose).
 */
export class PreviewUnsupportedError extends Error {
  override name = 'PreviewUnsupportedError';
  constructor(
    message: string,
    readonly unsupported: readonly string[],
  ) {
    super(message);
  }
}

/**
 * What `depositRecovery(amount)` (or, with `final`, `depositFinalRecovery(amount)`) would pay if
 * mined at `at`: the portfolio's on-chain tranche and reserve state run through
 * `computeWaterfallV2()`, with the write-offs and reserve movements. As the contract, the reserve
 * balance counts only while the reserve target is not 0. Does not check that a resolution was
 * proposed and is executable (a preview, nothing is sent). Throws `PreviewUnsupportedError` for a
 * portfolio with a trigger, `ChainError` (`RecoveryBeforeClose`, `PortfolioAlreadyResolved`) where
 * the contract would revert.
 */
export async function previewRecoveryV2(
  client: ChainPublicClient,
  parameters: PreviewRecoveryV2Parameters,
): Promise<PreviewRecoveryV2ReturnType> {
  const address = parameters.portfolio;
  const [terms, tranches, at, riskTerms, reserve, resolution, collected] = await Promise.all([
    readPortfolioTerms(client, { portfolio: address }),
    readTrancheState(client, { portfolio: address }),
    parameters.at ?? readChain('chain', 'getBlock', async () => (await client.getBlock()).timestamp),
    readChain('Portfolio', 'riskTerms', () =>
      client.readContract({ address, abi: portfolioAbi, functionName: 'riskTerms' }),
    ),
    readChain('Portfolio', 'reserve', () =>
      client.readContract({ address, abi: portfolioAbi, functionName: 'reserve' }),
    ),
    readChain('Portfolio', 'resolution', () =>
      client.readContract({ address, abi: portfolioAbi, functionName: 'resolution' }),
    ),
    readChain('Portfolio', 'collected', () =>
      client.readContract({ address, abi: portfolioAbi, functionName: 'collected' }),
    ),
  ]);
  const revert = (errorName: string, message: string) =>
    new ChainError(`Portfolio.depositRecovery: ${message}`, {
      kind: 'revert',
      errorName,
      args: [],
      contract: 'Portfolio',
      functionName: parameters.final ? 'depositFinalRecovery' : 'depositRecovery',
    });
  if (!terms.offeringClosed) throw revert('RecoveryBeforeClose', 'the offering is not closed yet');
  const [, resolved] = resolution;
  if (resolved) throw revert('PortfolioAlreadyResolved', 'the portfolio is resolved');
  const [reserveTargetBpsRaw, collectionRatioBpsRaw, businessPlan] = riskTerms;
  const collectionRatioBps = Number(collectionRatioBpsRaw);
  if (collectionRatioBps !== 0 && parameters.closedAt === undefined) {
    throw new PreviewUnsupportedError(
      'the trigger runs from the offering close time, which is not indexed yet; try again shortly',
      ['trigger'],
    );
  }
  // the contract's clock: seconds since the close, at the last recovery (or the close) and now
  const closedAt = parameters.closedAt ?? terms.lastRecoveryAt;
  const clockSeconds = terms.lastRecoveryAt > closedAt ? terms.lastRecoveryAt - closedAt : 0n;
  const reserveTargetBps = Number(reserveTargetBpsRaw);
  const [balance] = reserve;
  const reserveBalance = reserveTargetBps === 0 ? 0n : balance;
  const elapsedSeconds = at > terms.lastRecoveryAt ? at - terms.lastRecoveryAt : 0n;
  const result = computeWaterfallV2({
    tranches: tranches.map((tranche) => ({
      face: tranche.face,
      couponBps: tranche.couponBps,
      outstanding: tranche.outstanding,
      interestArrears: tranche.arrears,
    })),
    fees: { servicerBps: terms.servicerFeeBps, protocolBps: terms.protocolFeeBps },
    mode: terms.mode,
    elapsedSeconds,
    amount: parameters.amount,
    reserve: reserveTargetBps === 0 ? undefined : { targetBps: reserveTargetBps, balance: reserveBalance },
    trigger:
      collectionRatioBps === 0
        ? undefined
        : {
            collectionRatioBps,
            businessPlan: businessPlan.map((point) => ({
              atSeconds: BigInt(point.atSeconds),
              cumulative: BigInt(point.cumulative),
            })),
          },
    clockSeconds,
    collected,
    final: parameters.final === true,
  });
  return { ...result, elapsedSeconds, terms, reserveBalance, reserveTargetBps, collectionRatioBps };
}
