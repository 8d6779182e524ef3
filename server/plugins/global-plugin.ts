import type { FastifyPluginAsync } from 'fastify';

/**
 * Marks a plugin as not encapsulated (what `fastify-plugin` does), so its decorators and hooks
 * apply to the whole app. Plugins in this folder are registered by buildApp before any route.
 */
export function globalPlugin<T extends Record<string, unknown>>(
  plugin: FastifyPluginAsync<T>,
): FastifyPluginAsync<T> {
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}
