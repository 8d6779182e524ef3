// Import boundaries, checked in `npm test` (`npm run lint:imports`).
//
// core/ is one folder per capability (catalog, trading, servicing, distributions, ...) beside the
// shared layers (platform, domain, chain, chain-index, db). A capability imports the shared layers,
// never another capability; trading's settlement (core/trading/settlement.ts: the relayed-action
// state machine) is the one shared piece. core/domain is pure: no I/O, nothing but itself and the
// platform's error types. server/ and worker/ never import each other, and nothing in core/
// imports them (or the scripts, tests and benchmarks).
const capabilities = 'catalog|trading|servicing|distributions|auctions|analytics';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'capabilities-are-independent',
      comment: 'A capability never imports another one; trading/settlement.ts is the one shared piece.',
      severity: 'error',
      from: { path: `^core/(${capabilities})/` },
      to: { path: `^core/(${capabilities})/`, pathNot: ['^core/$1/', '^core/trading/settlement\\.ts$'] },
    },
    {
      name: 'shared-layers-import-no-capability',
      comment: 'platform, domain, chain, chain-index and db sit below the capabilities.',
      severity: 'error',
      from: { path: '^core/(platform|domain|chain|chain-index|db)/' },
      to: { path: `^core/(${capabilities})/` },
    },
    {
      name: 'domain-is-pure',
      comment: 'core/domain is pure maths over plain data: it imports only itself and the error types.',
      severity: 'error',
      from: { path: '^core/domain/' },
      to: { pathNot: ['^core/domain/', '^core/platform/errors/index\\.ts$', 'node_modules/(zod|viem)/'] },
    },
    {
      name: 'core-imports-no-app',
      comment: 'core/ is imported by the apps, never the other way round.',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: '^(server|worker|scripts|test|bench)/' },
    },
    {
      name: 'server-and-worker-are-apart',
      comment: 'What both need lives in core/.',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^worker/' },
    },
    {
      name: 'worker-and-server-are-apart',
      comment: 'What both need lives in core/.',
      severity: 'error',
      from: { path: '^worker/' },
      to: { path: '^server/' },
    },
    {
      name: 'no-circular-capabilities',
      comment: 'No import cycle across folders of core/.',
      severity: 'error',
      from: { path: '^core/' },
      to: { circular: true, pathNot: '^core/chain/generated/' },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^core/db/generated/', '^contracts/', '^node_modules/'] },
    combinedDependencies: false,
  },
};
