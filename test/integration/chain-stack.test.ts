import { type Address, erc20Abi, keccak256, maxUint256, parseUnits, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowlistInvestors,
  anchorDocuments,
  buy,
  buyWithSig,
  type CreatePortfolioReturnType,
  closeOffering,
  createPortfolio,
  depositRecovery,
  mintTestStablecoin,
  type PurchaseIntent,
  previewRecovery,
  purchaseTypedData,
  readPermitDomain,
  readPortfolioTerms,
  readTrancheState,
  signPermit,
  signPurchaseIntent,
} from '../../core/chain/actions.ts';
import {
  type ChainClients,
  connectChainClients,
  createChainClients,
  withAccount,
} from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { ChainError } from '../../core/chain/errors.ts';
import { portfolioAbi, testStablecoinAbi, trancheTokenAbi } from '../../core/chain/generated/index.ts';
import { sendAndWait } from '../../core/chain/tx.ts';
import { computeWaterfall, type TrancheState } from '../../core/domain/waterfall.ts';
import { type AnvilInstance, createAnvilTestClient, startAnvil } from '../helpers/anvil.ts';

const USD = (units: number | string) => parseUnits(String(units), 6);
const SCALE = 10n ** 12n;
/** Tranche-token base units for `usd` whole units of face. */
const tokensOf = (usd: number) => USD(usd) * SCALE;

let anvil: AnvilInstance;
let platform: ChainClients;
let relayer: ChainClients;
let servicer: ChainClients;
let buyerB: ChainClients;
let stack: DeployedStack;
let created: CreatePortfolioReturnType;
let payToken: Address;
let testClient: ReturnType<typeof createAnvilTestClient>;

const tranches = [
  { name: 'Senior', symbol: 'SNR', face: USD(1_000_000), couponBps: 800, priceBps: 10_000 },
  { name: 'Mezzanine', symbol: 'MEZ', face: USD(400_000), couponBps: 1_250, priceBps: 9_500 },
  { name: 'Residual', symbol: 'RES', face: USD(200_000), couponBps: 0, priceBps: 5_000 },
];

beforeAll(async () => {
  anvil = await startAnvil();
  const [a0, a1, a2, a3, a4, , a6, a7] = anvil.accounts;
  platform = createChainClients({ rpcUrl: anvil.rpcUrl, privateKey: a0.privateKey, pollingInterval: 20 });
  relayer = withAccount(platform, a1.privateKey);
  servicer = withAccount(platform, a2.privateKey);
  buyerB = withAccount(platform, a4.privateKey);
  testClient = createAnvilTestClient(anvil.rpcUrl);
  stack = await deployStack(platform, {
    treasury: a6.address,
    timelockDelay: 5,
    marketplaceFeeBps: 25,
  });
  payToken = stack.testStablecoin as Address;
  const now = (await platform.publicClient.getBlock()).timestamp;
  created = await createPortfolio(platform, {
    factory: stack.portfolioFactory,
    payToken,
    registry: stack.complianceRegistry,
    servicer: a2.address,
    issuerTreasury: a7.address,
    protocolTreasury: stack.config.treasury,
    rootProposer: stack.config.rootProposer,
    timelockDelay: stack.config.timelockDelay,
    servicerFeeBps: 150,
    protocolFeeBps: 50,
    mode: 'interestFirst',
    offeringEnd: now + 86_400n,
    documentRoot: keccak256(toBytes('documents v1')),
    loanTapeHash: keccak256(toBytes('tape v1')),
    tranches,
  });
  await allowlistInvestors(platform, {
    registry: stack.complianceRegistry,
    accounts: [a3.address, a4.address],
    expiry: now + 365n * 86_400n,
  });
  for (const to of [a3.address, a4.address, a2.address]) {
    await mintTestStablecoin(platform, { token: payToken, to, amount: USD(5_000_000) });
  }
});

afterAll(async () => {
  await anvil?.stop();
});

describe('startAnvil()', () => {
  it('answers on its RPC URL with the default mnemonic accounts funded', async () => {
    expect(anvil.chainId).toBe(31337);
    expect(await platform.publicClient.getChainId()).toBe(31337);
    expect(anvil.accounts[0].address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    expect(privateKeyToAccount(anvil.accounts[5].privateKey).address).toBe(anvil.accounts[5].address);
    expect(await platform.publicClient.getBalance({ address: anvil.accounts[9].address })).toBeGreaterThan(
      0n,
    );
  });

  it('stop() kills the process and frees the port', async () => {
    const other = await startAnvil({ chainId: 1337 });
    const clients = await connectChainClients({
      rpcUrl: other.rpcUrl,
      privateKey: other.accounts[0].privateKey,
    });
    expect(clients.chain.id).toBe(1337);
    expect(await clients.publicClient.getChainId()).toBe(1337);
    await other.stop();
    expect(() => process.kill(other.pid as number, 0)).toThrow();
    await expect(fetch(other.rpcUrl, { method: 'POST' })).rejects.toThrow();
    await other.stop();
  });
});

describe('deployStack()', () => {
  it('deploys every contract with code and a JSON-serialisable result', async () => {
    const addresses = [
      stack.complianceRegistry,
      stack.portfolioFactory,
      stack.implementations.portfolio,
      stack.implementations.trancheToken,
      stack.implementations.distributor,
      stack.testStablecoin as Address,
    ];
    if (stack.marketplace) addresses.push(stack.marketplace);
    for (const address of addresses) {
      expect((await platform.publicClient.getCode({ address }))?.length ?? 0).toBeGreaterThan(2);
    }
    expect(new Set(addresses).size).toBe(addresses.length);
    expect(JSON.parse(JSON.stringify(stack))).toEqual(stack);
    expect(stack.config.treasury).toBe(anvil.accounts[6].address);
  });

  it('gives the platform key COMPLIANCE_ROLE and the treasury the Marketplace fee', async ({ skip }) => {
    const role = await platform.publicClient.readContract({
      address: stack.complianceRegistry,
      abi: [
        {
          type: 'function',
          name: 'COMPLIANCE_ROLE',
          stateMutability: 'view',
          inputs: [],
          outputs: [{ type: 'bytes32' }],
        },
      ],
      functionName: 'COMPLIANCE_ROLE',
    });
    const hasRole = await platform.publicClient.readContract({
      address: stack.complianceRegistry,
      abi: [
        {
          type: 'function',
          name: 'hasRole',
          stateMutability: 'view',
          inputs: [{ type: 'bytes32' }, { type: 'address' }],
          outputs: [{ type: 'bool' }],
        },
      ],
      functionName: 'hasRole',
      args: [role, platform.account.address],
    });
    expect(hasRole).toBe(true);
    if (!stack.marketplace) return skip();
    const treasury = await platform.publicClient.readContract({
      address: stack.marketplace,
      abi: [
        {
          type: 'function',
          name: 'treasury',
          stateMutability: 'view',
          inputs: [],
          outputs: [{ type: 'address' }],
        },
      ],
      functionName: 'treasury',
    });
    expect(treasury).toBe(anvil.accounts[6].address);
  });

  it('grants admin and guardian roles on the registry to other keys', async () => {
    const [, , , , , a5] = anvil.accounts;
    const other = await deployStack(platform, {
      admin: a5.address,
      guardian: a5.address,
      withTestStablecoin: false,
    });
    expect(other.testStablecoin).toBeUndefined();
    const hasRoleAbi = [
      {
        type: 'function',
        name: 'hasRole',
        stateMutability: 'view',
        inputs: [{ type: 'bytes32' }, { type: 'address' }],
        outputs: [{ type: 'bool' }],
      },
    ] as const;
    const guardianRole = keccak256(toBytes('GUARDIAN_ROLE'));
    for (const role of [`0x${'0'.repeat(64)}` as const, guardianRole]) {
      expect(
        await platform.publicClient.readContract({
          address: other.complianceRegistry,
          abi: hasRoleAbi,
          functionName: 'hasRole',
          args: [role, a5.address],
        }),
      ).toBe(true);
    }
  });
});

describe('deployStack() failures', () => {
  it('names the contract whose constructor reverted', async ({ skip }) => {
    if (!stack.marketplace) return skip();
    const error = await deployStack(platform, { marketplaceFeeBps: 101, withTestStablecoin: false }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ChainError);
    expect(error).toMatchObject({
      contract: 'Marketplace',
      functionName: 'constructor',
      errorName: 'MarketplaceFeeTooHigh',
      args: [101n, 100n],
    });
    expect((error as ChainError).message).toContain('Marketplace');
  });
});

describe('createPortfolio()', () => {
  it('returns the portfolio, its distributor and one token per tranche from PortfolioCreated', async () => {
    expect(created.tranches).toHaveLength(3);
    const terms = await readPortfolioTerms(platform.publicClient, { portfolio: created.portfolio });
    expect(terms.distributor).toBe(created.distributor);
    expect(terms.payToken).toBe(payToken);
    expect(terms.scale).toBe(SCALE);
    expect(terms.servicerFeeBps).toBe(150);
    expect(terms.mode).toBe('interestFirst');
    for (const [i, token] of created.tranches.entries()) {
      const symbol = await platform.publicClient.readContract({
        address: token,
        abi: trancheTokenAbi,
        functionName: 'symbol',
      });
      expect(symbol).toBe(tranches[i].symbol);
    }
  });

  it('decodes a custom error raised inside the factory call', async () => {
    const error = await createPortfolio(platform, {
      factory: stack.portfolioFactory,
      payToken,
      registry: stack.complianceRegistry,
      servicer: anvil.accounts[2].address,
      servicerFeeBps: 9_000,
      protocolFeeBps: 1_001,
      offeringEnd: 2n ** 40n,
      tranches,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect(error).toMatchObject({
      kind: 'revert',
      contract: 'PortfolioFactory',
      functionName: 'createPortfolio',
      errorName: 'PortfolioFeesTooHigh',
      args: [9_000n, 1_001n],
      code: 'VALIDATION_FAILED',
      retryable: false,
    });
  });
});

describe('anchorDocuments()', () => {
  it('anchors version 2 of the documents', async () => {
    const root = keccak256(toBytes('documents v2'));
    const result = await anchorDocuments(platform, {
      portfolio: created.portfolio,
      documentRoot: root,
      loanTapeHash: keccak256(toBytes('tape v2')),
    });
    expect(result.version).toBe(2n);
    const [version, documentRoot] = await platform.publicClient.readContract({
      address: created.portfolio,
      abi: portfolioAbi,
      functionName: 'documents',
    });
    expect([version, documentRoot]).toEqual([2n, root]);
  });
});

describe('buyWithSig()', () => {
  const investorKey = () => anvil.accounts[3];

  async function signedIntent(intent: PurchaseIntent, permitValue: bigint) {
    const investor = privateKeyToAccount(investorKey().privateKey);
    const chainId = platform.chain.id;
    const signature = await signPurchaseIntent(investor, { portfolio: created.portfolio, chainId, intent });
    const domain = await readPermitDomain(platform.publicClient, {
      token: payToken,
      owner: investor.address,
    });
    const permit = await signPermit(investor, {
      token: payToken,
      chainId,
      name: domain.name,
      version: domain.version,
      owner: investor.address,
      spender: created.portfolio,
      value: permitValue,
      nonce: domain.nonce,
      deadline: intent.deadline,
    });
    return { signature, permit };
  }

  it('settles a purchase signed by the investor (intent + permit) and relayed by another key', async () => {
    const buyer = investorKey().address;
    const deadline = (await platform.publicClient.getBlock()).timestamp + 3_600n;
    const amount = tokensOf(250_000);
    const cost = USD(250_000 * 0.95);
    const intent: PurchaseIntent = { buyer, trancheId: 1n, amount, maxCost: cost, nonce: 42n, deadline };
    const { signature, permit } = await signedIntent(intent, cost);
    const relayerEthBefore = await platform.publicClient.getBalance({ address: relayer.account.address });
    const buyerPayBefore = await balanceOf(payToken, buyer);
    const treasuryBefore = await balanceOf(payToken, anvil.accounts[7].address);

    const result = await buyWithSig(relayer, { portfolio: created.portfolio, intent, signature, permit });

    expect(result).toMatchObject({ trancheId: 1n, buyer, amount, cost, nonce: 42n });
    expect(await balanceOf(created.tranches[1], buyer)).toBe(amount);
    expect(buyerPayBefore - (await balanceOf(payToken, buyer))).toBe(cost);
    expect((await balanceOf(payToken, anvil.accounts[7].address)) - treasuryBefore).toBe(cost);
    expect(await platform.publicClient.getBalance({ address: relayer.account.address })).toBeLessThan(
      relayerEthBefore,
    );
    expect(
      await platform.publicClient.readContract({
        address: created.portfolio,
        abi: portfolioAbi,
        functionName: 'nonceUsed',
        args: [buyer, 42n],
      }),
    ).toBe(true);
  });

  it('hashes the intent exactly like the contract (the typed data verifies on-chain only for the signer)', async () => {
    const buyer = investorKey().address;
    const deadline = (await platform.publicClient.getBlock()).timestamp + 3_600n;
    const intent: PurchaseIntent = {
      buyer,
      trancheId: 0n,
      amount: SCALE,
      maxCost: USD(1),
      nonce: 7n,
      deadline,
    };
    const { signature } = await signedIntent(intent, 0n);
    // Signed for tranche 0 but relayed for tranche 2: the digest differs, so the signature is rejected.
    const error = await buyWithSig(relayer, {
      portfolio: created.portfolio,
      intent: { ...intent, trancheId: 2n },
      signature,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      errorName: 'IntentSignatureInvalid',
      args: [buyer],
      code: 'SIGNATURE_INVALID',
    });
    expect(purchaseTypedData({ portfolio: created.portfolio, chainId: 31337, intent }).domain).toEqual({
      name: 'NPL Portfolio',
      version: '1',
      chainId: 31337,
      verifyingContract: created.portfolio,
    });
  });

  it('still settles when a front-runner already used the permit', async () => {
    const buyer = investorKey().address;
    const deadline = (await platform.publicClient.getBlock()).timestamp + 3_600n;
    const intent: PurchaseIntent = {
      buyer,
      trancheId: 0n,
      amount: tokensOf(5),
      maxCost: USD(5),
      nonce: 11n,
      deadline,
    };
    const { signature, permit } = await signedIntent(intent, USD(5));
    await platform.walletClient.writeContract({
      address: payToken,
      abi: testStablecoinAbi,
      functionName: 'permit',
      args: [buyer, created.portfolio, permit.value, permit.deadline, permit.v, permit.r, permit.s],
    });
    const result = await buyWithSig(relayer, { portfolio: created.portfolio, intent, signature, permit });
    expect(result.cost).toBe(USD(5));
  });

  it('maps an expired intent to ORDER_EXPIRED', async () => {
    const buyer = investorKey().address;
    const deadline = (await platform.publicClient.getBlock()).timestamp - 1n;
    const intent: PurchaseIntent = {
      buyer,
      trancheId: 0n,
      amount: tokensOf(1),
      maxCost: USD(1),
      nonce: 12n,
      deadline,
    };
    const { signature } = await signedIntent(intent, 0n);
    const error = await buyWithSig(relayer, { portfolio: created.portfolio, intent, signature }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      errorName: 'IntentExpired',
      args: [deadline],
      code: 'ORDER_EXPIRED',
      statusCode: 410,
    });
  });

  it('rejects a replayed nonce with IntentNonceUsed', async () => {
    const buyer = investorKey().address;
    const deadline = (await platform.publicClient.getBlock()).timestamp + 3_600n;
    const intent: PurchaseIntent = {
      buyer,
      trancheId: 0n,
      amount: tokensOf(10),
      maxCost: USD(10),
      nonce: 9n,
      deadline,
    };
    const { signature, permit } = await signedIntent(intent, USD(10));
    await buyWithSig(relayer, { portfolio: created.portfolio, intent, signature, permit });
    const error = await buyWithSig(relayer, {
      portfolio: created.portfolio,
      intent,
      signature,
      permit,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect(error).toMatchObject({ errorName: 'IntentNonceUsed', args: [buyer, 9n], code: 'NONCE_INVALID' });
  });
});

describe('buy()', () => {
  it('buys directly after approving and refuses a buyer who is not allowlisted', async () => {
    const result = await buy(buyerB, {
      portfolio: created.portfolio,
      trancheId: 0,
      amount: tokensOf(600_000),
      maxCost: USD(600_000),
      approve: true,
    });
    expect(result.cost).toBe(USD(600_000));
    await buy(buyerB, {
      portfolio: created.portfolio,
      trancheId: 2,
      amount: tokensOf(3),
      maxCost: USD(2),
      approve: true,
    });

    const stranger = withAccount(platform, anvil.accounts[8].privateKey);
    const error = await buy(stranger, {
      portfolio: created.portfolio,
      trancheId: 0,
      amount: SCALE,
      maxCost: USD(1),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      kind: 'revert',
      errorName: 'OfferingBuyerNotAllowed',
      args: [anvil.accounts[8].address],
      code: 'NOT_ALLOWLISTED',
      statusCode: 403,
      retryable: false,
    });
  });

  it('reports the remaining cap with OfferingCapExceeded', async () => {
    const error = await buy(buyerB, {
      portfolio: created.portfolio,
      trancheId: 2,
      amount: tokensOf(300_000),
      maxCost: USD(1_000_000),
      approve: true,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ errorName: 'OfferingCapExceeded', code: 'SOLD_OUT' });
    expect((error as ChainError).args).toEqual([2n, tokensOf(200_000) - tokensOf(3)]);
  });
});

describe('closeOffering() and depositRecovery()', () => {
  it('runs the same waterfall as computeWaterfall() on two recoveries', async () => {
    const closed = await closeOffering(platform, { portfolio: created.portfolio });
    // 600 000 bought directly, 10 + 5 through buyWithSig
    expect(closed.sold).toEqual([USD(600_015), USD(250_000), USD(3)]);

    const servicerAddress = servicer.account.address;
    for (const [days, amount] of [
      [90, USD(120_000.123456)],
      [400, USD(2_000_000)],
    ] as const) {
      await testClient.increaseTime({ seconds: days * 86_400 });
      await testClient.mine({ blocks: 1 });
      const before = await readTrancheState(platform.publicClient, { portfolio: created.portfolio });
      const { lastRecoveryAt } = await readPortfolioTerms(platform.publicClient, {
        portfolio: created.portfolio,
      });
      const distributorBefore = await balanceOf(payToken, created.distributor);
      const servicerBefore = await balanceOf(payToken, servicerAddress);
      const treasuryBefore = await balanceOf(payToken, stack.config.treasury);

      const event = await depositRecovery(servicer, {
        portfolio: created.portfolio,
        amount,
        reportHash: keccak256(toBytes(`report ${days}`)),
        approve: true,
      });

      const state: TrancheState[] = before.map((tranche) => ({
        face: tranche.face,
        couponBps: tranche.couponBps,
        outstanding: tranche.outstanding,
        interestArrears: tranche.arrears,
      }));
      const expected = computeWaterfall({
        tranches: state,
        fees: { servicerBps: 150, protocolBps: 50 },
        mode: 'interestFirst',
        elapsedSeconds: event.blockTimestamp - lastRecoveryAt,
        amount,
      });
      expect(event.blockTimestamp - lastRecoveryAt).toBeGreaterThanOrEqual(BigInt(days * 86_400));
      expect(event.servicerFee).toBe(expected.servicerFee);
      expect(event.protocolFee).toBe(expected.protocolFee);
      expect(event.interest).toEqual(expected.tranches.map((t) => t.interest));
      expect(event.principal).toEqual(expected.tranches.map((t) => t.principal));
      expect(event.residual).toEqual(expected.tranches.map((t) => t.residual));
      expect(event.undistributed).toBe(expected.undistributed);
      expect(event.snapshotBlock).toBe(event.blockNumber - 1n);

      const after = await readTrancheState(platform.publicClient, { portfolio: created.portfolio });
      expect(after.map((t) => t.outstanding)).toEqual(expected.state.map((t) => t.outstanding));
      expect(after.map((t) => t.arrears)).toEqual(expected.state.map((t) => t.interestArrears));
      const toTranches = expected.tranches.reduce((sum, t) => sum + t.total, 0n);
      expect((await balanceOf(payToken, created.distributor)) - distributorBefore).toBe(toTranches);
      expect((await balanceOf(payToken, stack.config.treasury)) - treasuryBefore).toBe(expected.protocolFee);
      // the servicer paid `amount` and got its fee back
      expect(servicerBefore - (await balanceOf(payToken, servicerAddress))).toBe(
        amount - expected.servicerFee,
      );
    }
  });

  it('previewRecovery() predicts a recovery mined at a chosen timestamp', async () => {
    const at = (await platform.publicClient.getBlock()).timestamp + 12_345_678n;
    const amount = USD(77_777.777777);
    const preview = await previewRecovery(platform.publicClient, {
      portfolio: created.portfolio,
      amount,
      at,
    });
    // the allowance first: an approval mined after setNextBlockTimestamp would take `at` itself
    await servicer.publicClient.waitForTransactionReceipt({
      hash: await servicer.walletClient.writeContract({
        address: payToken,
        abi: erc20Abi,
        functionName: 'approve',
        args: [created.portfolio, maxUint256],
      }),
    });
    await testClient.setNextBlockTimestamp({ timestamp: at });
    const event = await depositRecovery(servicer, { portfolio: created.portfolio, amount });
    expect(event.blockTimestamp).toBe(at);
    expect(preview.elapsedSeconds).toBeGreaterThanOrEqual(12_345_678n);
    expect(event.interest).toEqual(preview.tranches.map((t) => t.interest));
    expect(event.principal).toEqual(preview.tranches.map((t) => t.principal));
    expect(event.residual).toEqual(preview.tranches.map((t) => t.residual));
    expect([event.servicerFee, event.protocolFee, event.undistributed]).toEqual([
      preview.servicerFee,
      preview.protocolFee,
      preview.undistributed,
    ]);
  });

  it('rejects purchases after the close and recoveries from a non-servicer', async () => {
    const error = await buy(buyerB, {
      portfolio: created.portfolio,
      trancheId: 0,
      amount: SCALE,
      maxCost: USD(1),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ errorName: 'OfferingAlreadyClosed', code: 'CONFLICT' });
    const denied = await depositRecovery(buyerB, { portfolio: created.portfolio, amount: 1n }).catch(
      (e: unknown) => e,
    );
    // only the servicer's own call (or its signed intent) deposits: anyone else pulls nothing
    expect(denied).toMatchObject({ errorName: 'RecoveryCallerNotServicer', code: 'FORBIDDEN' });
  });
});

describe('ChainError', () => {
  it('decodes the custom error of a transaction that was mined and reverted', async () => {
    // An explicit gas limit skips estimation, so the revert happens on-chain and is replayed to decode it.
    const error = await sendAndWait(
      relayer,
      { contract: 'Portfolio', functionName: 'buy', abi: portfolioAbi },
      () =>
        relayer.walletClient.writeContract({
          address: created.portfolio,
          abi: portfolioAbi,
          functionName: 'buy',
          args: [0n, SCALE, USD(1)],
          gas: 200_000n,
        }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    // the offering was closed above
    expect(error).toMatchObject({
      kind: 'revert',
      errorName: 'OfferingAlreadyClosed',
      args: [],
      code: 'CONFLICT',
    });
    const { txHash } = error as ChainError;
    expect(txHash).toMatch(/^0x[0-9a-f]{64}$/);
    const receipt = await platform.publicClient.getTransactionReceipt({ hash: txHash as `0x${string}` });
    expect(receipt.status).toBe('reverted');
  });

  it('marks an unreachable node as a retryable transport error', async () => {
    const dead = createChainClients({
      rpcUrl: 'http://127.0.0.1:9',
      privateKey: anvil.accounts[0].privateKey,
      retryCount: 0,
      timeout: 2_000,
    });
    const error = await mintTestStablecoin(dead, {
      token: payToken,
      to: anvil.accounts[0].address,
      amount: 1n,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect(error).toMatchObject({ kind: 'transport', retryable: true, code: 'SERVICE_UNAVAILABLE' });
  });
});

async function balanceOf(token: Address, account: Address): Promise<bigint> {
  return platform.publicClient.readContract({
    address: token,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [account],
  });
}
