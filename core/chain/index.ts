/** The chain layer: anvil, viem clients, deployment, contract actions, errors and generated bindings. */
export * from './actions.ts';
export * from './anvil.ts';
export * from './clients.ts';
export * from './deploy.ts';
export * from './deployment.ts';
export * from './errors.ts';
export * from './generated/index.ts';
export * from './relayer/relayer.ts';
export * from './tx.ts';
