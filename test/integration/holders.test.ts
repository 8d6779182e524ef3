/**
 * The many-holders fixture (test/helpers/holders.ts) on anvil: every seeded holder ends with exactly
 * the balance the fixture reports, the amounts vary, and each tranche's supply is the holders' sum
 * plus the buyers' sub-unit remainders.
 */
import type { Address } from 'viem';
import { erc20Abi, parseEventLogs } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortfolio } from '../../core/chain/actions.ts';
import { type ChainClients, createChainClients } from '../../core/chain/clients.ts';
import { type DeployedStack, deployStack } from '../../core/chain/deploy.ts';
import { type AnvilInstance, startAnvil } from '../helpers/anvil.ts';
import { HOLDERS_GAS_LIMIT, holderAddress, seedHolders } from '../helpers/holders.ts';

let anvil: AnvilInstance;
let deployer: ChainClients;
let stack: DeployedStack;

beforeAll(async () => {
  anvil = await startAnvil({ accounts: 3, gasLimit: HOLDERS_GAS_LIMIT });
  deployer = createChainClients({
    rpcUrl: anvil.rpcUrl,
    privateKey: anvil.accounts[0].privateKey,
    pollingInterval: 20,
  });
  stack = await deployStack(deployer);
}, 120_000);

afterAll(async () => {
  await anvil?.stop();
});

describe('seedHolders', () => {
  it('gives every holder its reported balance in a few transactions', async () => {
    const count = 3_000;
    const now = (await deployer.publicClient.getBlock()).timestamp;
    const face = BigInt(count) * 1_000_000n;
    const created = await createPortfolio(deployer, {
      factory: stack.portfolioFactory,
      payToken: stack.testStablecoin as Address,
      registry: stack.complianceRegistry,
      servicer: anvil.accounts[2].address,
      rootProposer: anvil.accounts[1].address,
      timelockDelay: 2,
      mode: 'interestFirst',
      offeringEnd: now + 86_400n,
      tranches: [
        { name: 'Senior', symbol: 'S', face, couponBps: 500, priceBps: 10_000 },
        { name: 'Mezzanine', symbol: 'M', face, couponBps: 900, priceBps: 9_000 },
        { name: 'Equity', symbol: 'E', face, couponBps: 0, priceBps: 5_000 },
      ],
    });
    const before = await deployer.publicClient.getBlockNumber();
    const seeded = await seedHolders({
      clients: deployer,
      stack,
      portfolio: created.portfolio,
      tranches: created.tranches,
      count,
      seed: 'holders-test',
    });
    const after = await deployer.publicClient.getBlockNumber();
    expect(seeded.holders).toHaveLength(count);
    expect(new Set(seeded.holders).size).toBe(count);
    expect(seeded.holders[17]).toBe(holderAddress('holders-test', 17));
    // a handful of transactions, not one per holder
    expect(Number(after - before)).toBeLessThan(40);
    for (const [t, token] of created.tranches.entries()) {
      const logs = parseEventLogs({
        abi: erc20Abi,
        eventName: 'Transfer',
        logs: await deployer.publicClient.getLogs({ address: token, fromBlock: before + 1n, toBlock: after }),
      });
      const received = new Map<string, bigint>();
      for (const log of logs) {
        received.set(log.args.to, (received.get(log.args.to) ?? 0n) + log.args.value);
      }
      const expected = seeded.holders.filter((_, i) => seeded.balances[t][i] > 0n);
      // tranche 0 is held by most, tranche 2 by fewer; amounts vary
      expect(expected.length).toBeGreaterThan(count / 5);
      expect(new Set(seeded.balances[t].filter((b) => b > 0n)).size).toBeGreaterThan(expected.length / 2);
      for (const [i, holder] of seeded.holders.entries()) {
        expect(received.get(holder) ?? 0n).toBe(seeded.balances[t][i]);
      }
      const sample = seeded.holders.slice(0, 25);
      for (const [i, holder] of sample.entries()) {
        const balance = await deployer.publicClient.readContract({
          address: token,
          abi: erc20Abi,
          functionName: 'balanceOf',
          args: [holder],
        });
        expect(balance).toBe(seeded.balances[t][i]);
      }
      let remainders = 0n;
      for (const buyer of seeded.buyers) {
        const left = await deployer.publicClient.readContract({
          address: token,
          abi: erc20Abi,
          functionName: 'balanceOf',
          args: [buyer],
        });
        expect(left).toBeLessThan(10n ** 12n);
        remainders += left;
      }
      const supply = await deployer.publicClient.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'totalSupply',
      });
      expect(supply).toBe(seeded.balances[t].reduce((a, b) => a + b, 0n) + remainders);
    }
    const holders = new Set(seeded.holders);
    expect(seeded.holders.every((h, i) => seeded.balances.some((b) => b[i] > 0n) && holders.has(h))).toBe(
      true,
    );
  }, 120_000);
});
