import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { globalPlugin } from './global-plugin.ts';

/** OpenAPI 3 built from the routes' zod schemas; served at /openapi.json and browsable at /docs. */
export const swaggerPlugin = globalPlugin(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'NPL marketplace API',
        version: '1.0.0',
        description:
          'Tokenized non-performing-loan portfolios. Amounts are decimal strings in base units; errors answer ' +
          '`{ statusCode, code, message, details? }`.',
      },
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'issuer / servicer / admin API key (npl_...)',
          },
          session: {
            type: 'http',
            scheme: 'bearer',
            description: 'investor session token from POST /v1/auth/verify (nps_...)',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
});
