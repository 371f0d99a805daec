import { randomBytes } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AppModule } from '../app.module.js';
import { loadConfig } from '../config/app-config.js';
import { generateNodeKeyMaterial, loadKeyMaterial } from '../crypto/key-material.js';
import { createOpenApiDocument } from './openapi-document.js';

/**
 * The OpenAPI document without a running service: the API module in Nest's preview
 * mode (controllers and their decorators, no provider instantiated, so no database,
 * Redis or keys are touched), with throw-away configuration.
 */
export async function buildOpenApiDocument(): Promise<OpenAPIObject> {
  const node = generateNodeKeyMaterial('openapi');
  const config = loadConfig({
    NODE_ENV: 'test',
    MASTER_KEYS: `openapi:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEYS: `1:${randomBytes(32).toString('base64')}`,
    NODE_ID: node.nodeId,
    NODE_SIGNING_KEY: JSON.stringify(node.signingPrivateJwk),
    NODE_ENCRYPTION_KEY: JSON.stringify(node.encryptionPrivateJwk),
  });
  const keys = loadKeyMaterial(config, () => undefined);
  const app = await NestFactory.create(AppModule.register({ config, keys }), new FastifyAdapter(), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  try {
    return createOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

/** The committed form: 2-space JSON and a final newline. */
export function serializeOpenApiDocument(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
