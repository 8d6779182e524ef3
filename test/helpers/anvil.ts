/** Test helper: a real anvil per test file (see core/chain/anvil.ts). */
export {
  ANVIL_CHAIN_ID,
  ANVIL_MNEMONIC,
  type AnvilAccount,
  type AnvilInstance,
  createAnvilTestClient,
  deriveAccounts,
  getFreePort,
  type StartAnvilOptions,
  startAnvil,
} from '../../core/chain/anvil.ts';
