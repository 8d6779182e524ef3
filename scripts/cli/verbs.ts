/**
 * The verb registry of `npm run cli -- <verb>`. To add a verb: write `scripts/cli/<verb>.ts`
 * exporting `verb: CliVerb` (see `verb.ts`), then add one line here. Modules load lazily, so a
 * verb that needs the database or the chain costs nothing to the others.
 */
import type { CliVerb } from './verb.ts';

export type VerbEntry = {
  /** One line for `cli --help`. */
  summary: string;
  load: () => Promise<CliVerb>;
};

export const verbs: Record<string, VerbEntry> = {
  'api-key': {
    summary: 'create, list or revoke API keys (issuer, servicer, admin); a new key is printed once',
    load: async () => (await import('./api-key.ts')).verb,
  },
  deploy: {
    summary: 'deploy the platform contracts to --rpc and write the deployment file the worker reads',
    load: async () => (await import('./deploy.ts')).verb,
  },
  governance: {
    summary: 'schedule, execute, inspect or cancel an admin call through the platform timelock',
    load: async () => (await import('./governance.ts')).verb,
  },
  'verify-distribution': {
    summary: 'recompute a distribution from the chain and check its published tree and on-chain root',
    load: async () => (await import('./verify-distribution.ts')).verb,
  },
  waterfall: {
    summary: 'fill in every `expected` of a waterfall / pro-rata vectors file',
    load: async () => (await import('./waterfall.ts')).verb,
  },
};
