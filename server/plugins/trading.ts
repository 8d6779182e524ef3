import { isAddressEqual } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { isLocalChain, withAccount } from '../../core/chain/clients.ts';
import type { DeployedStack } from '../../core/chain/deploy.ts';
import { createPlatformChain, loadDeployment } from '../../core/chain/deployment.ts';
import { roleKey } from '../../core/chain/keys.ts';
import { createRelayer } from '../../core/chain/relayer/relayer.ts';
import { BaseError, ServiceUnavailableError } from '../../core/platform/errors/index.ts';
import { loadDevServicerAccount } from '../../core/servicing/dev-servicer.ts';
import {
  DEFAULT_QUOTE_TTL_SECONDS,
  findIndexedPurchase,
  type TradingContext,
} from '../../core/trading/purchases.ts';
import { globalPlugin } from './global-plugin.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The trading services every relaying route shares: the platform chain of RPC_URL +
     * DEPLOYMENT_FILE and one relayer on it (its monitor loop started), created on first use (a failed
     * start is tried again on the next call) and stopped when the app closes. 503 without a chain.
     */
    trading: () => Promise<TradingContext>;
    /**
     * The deployment of DEPLOYMENT_FILE (chain id, Marketplace address), read once. Without a chain
     * (RPC_URL unset) and without a deployment file it is unavailable (503), not broken: a missing file
     * is only a configuration error (500 CONFIG_INVALID) where a chain is configured.
     */
    deployment: () => Promise<DeployedStack>;
  }
}

/** Decorates the app with `trading()` and `deployment()`, both lazy and shared by every route plugin. */
export const tradingPlugin = globalPlugin(async (app) => {
  let context: Promise<TradingContext> | undefined;
  let stopRelayer: (() => Promise<void>) | undefined;
  let deployment: Promise<DeployedStack> | undefined;

  app.decorate('trading', () => {
    context ??= (async (): Promise<TradingContext> => {
      if (app.config.RPC_URL === undefined) {
        throw new ServiceUnavailableError('Trading needs a chain (RPC_URL is not configured)');
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
      // development only: the servicer key `npm start` keeps in DATA_DIR, never on a public chain
      const servicerSigner = isLocalChain(platform.clients.chain.id)
        ? await loadDevServicerAccount(app.config.DATA_DIR)
        : undefined;
      // the guardian's own key when this server holds it (local chains: DATA_DIR/platform-keys.json); a
      // guardian that is the relayer key vetoes through the relayer (its nonces)
      const guardianKey = roleKey(app.config, 'guardian', platform.clients.chain.id);
      const guardian =
        guardianKey !== undefined &&
        !isAddressEqual(privateKeyToAddress(guardianKey), platform.clients.account.address)
          ? withAccount(platform.clients, guardianKey)
          : undefined;
      return {
        servicerSigner,
        relayerAddress: platform.clients.account.address,
        guardian,
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
    const started = context;
    started.catch(() => {
      if (context === started) context = undefined;
    });
    return started;
  });

  app.decorate('deployment', () => {
    deployment ??= loadDeployment(app.config).catch((error: unknown) => {
      if (app.config.RPC_URL === undefined && error instanceof BaseError && error.code === 'CONFIG_INVALID') {
        throw new ServiceUnavailableError(
          'The order book needs a chain (RPC_URL is not configured, no deployment file)',
          { cause: error },
        );
      }
      throw error;
    });
    const loading = deployment;
    loading.catch(() => {
      if (deployment === loading) deployment = undefined;
    });
    return loading;
  });

  app.addHook('onClose', async () => {
    const started = context;
    context = undefined;
    if (started === undefined) return;
    await started.then(
      () => stopRelayer?.(),
      () => {},
    );
  });
});
