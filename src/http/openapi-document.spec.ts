import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { OpenAPIObject } from '@nestjs/swagger';
import { repositoryRoot } from '../config/config-reference.js';
import { buildOpenApiDocument, serializeOpenApiDocument } from './openapi-build.js';
import { completeDocument, deriveOperationId } from './openapi-document.js';

/**
 * The OpenAPI document is a contract: the committed openapi/openapi.json is what the
 * code builds (`npm run openapi` refreshes it), it passes Redocly's recommended rules
 * with no error and no warning that redocly.yaml / .redocly.lint-ignore.yaml do not
 * accept with a reason, and every operation follows the document's conventions. The
 * client generated from it (clients/typescript) is current and builds.
 */
const root = repositoryRoot();
const committed = JSON.parse(readFileSync(join(root, 'openapi/openapi.json'), 'utf8')) as OpenAPIObject;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const operations = Object.entries(committed.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => (item as Record<string, unknown>)[m]).map((method) => ({
    path,
    method,
    operation: (item as Record<string, Record<string, any>>)[method], // eslint-disable-line @typescript-eslint/no-explicit-any
  })),
);

describe('the OpenAPI document', () => {
  it('is current: openapi/openapi.json is what the code builds (npm run openapi)', async () => {
    expect(serializeOpenApiDocument(await buildOpenApiDocument())).toBe(readFileSync(join(root, 'openapi/openapi.json'), 'utf8'));
  });

  it("passes Redocly's recommended rules: no error, no warning that is not accepted with a reason", () => {
    let output: string;
    try {
      output = execFileSync(join(root, 'node_modules/.bin/redocly'), ['lint', 'openapi/openapi.json', '--format=stylish'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NODE_OPTIONS: '' },
      });
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      throw new Error(`redocly lint failed:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    }
    expect(output).not.toMatch(/warning|error/i);
  }, 60_000);

  it('the TypeScript client is current (npm run client) and builds', () => {
    const generated = execFileSync(join(root, 'node_modules/.bin/openapi-typescript'), ['openapi/openapi.json', '--redocly', 'redocly.yaml'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(generated).toBe(readFileSync(join(root, 'clients/typescript/src/schema.ts'), 'utf8'));
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'clients/typescript/tsconfig.json', '--noEmit'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('is OpenAPI 3.1, with a server', () => {
    expect(committed.openapi).toBe('3.1.0');
    expect(committed.servers?.length).toBeGreaterThan(0);
  });

  it.each(operations)('$method $path: a chosen operationId, tags, security, every path parameter with its pattern', ({ path, operation }) => {
    expect(operation.operationId).toMatch(/^[a-z][a-zA-Z]+$/);
    expect(operation.tags?.length).toBeGreaterThan(0);
    expect(Array.isArray(operation.security)).toBe(true);
    for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
      const parameter = (operation.parameters ?? []).find((p: { in: string; name: string }) => p.in === 'path' && p.name === name);
      expect(parameter).toMatchObject({ required: true, schema: { type: 'string', pattern: expect.any(String) } });
    }
  });

  it('public routes say security: [], every other route the bearer key, and documents 401 UNAUTHENTICATED and 429', () => {
    const byId = Object.fromEntries(operations.map((o) => [o.operation.operationId, o.operation]));
    for (const id of ['getNode', 'getReadiness', 'getLiveness', 'answerLocationQuery']) expect(byId[id].security).toEqual([]);
    expect(byId.createLinkage.security).toEqual([{ bearer: [] }]);
    const codes = (status: string) => byId.createLinkage.responses[status].content['application/problem+json'].schema.allOf[1].properties.code.enum;
    expect(codes('401')).toEqual(['UNAUTHENTICATED']);
    expect(codes('429')).toEqual(['RATE_LIMITED']);
    expect(codes('409')).toContain('ACCOUNT_LINKED_TO_OTHER_SUBJECT');
  });
});

describe('the conventions of the document', () => {
  it.each([
    ['post', '/v1/linkages', 'createLinkage'],
    ['get', '/v1/linkages', 'listLinkages'],
    ['get', '/v1/linkages/{id}', 'getLinkage'],
    ['post', '/v1/institutions/{code}/api-keys', 'createInstitutionApiKey'],
    ['get', '/v1/institutions/{code}/rate-limit', 'getInstitutionRateLimit'],
    ['put', '/v1/institutions/{code}/webhook', 'setInstitutionWebhook'],
    ['delete', '/v1/peers/{nodeId}', 'deletePeer'],
    ['get', '/v1/inquiries', 'listInquiries'],
  ])('%s %s -> %s', (method, path, id) => {
    expect(deriveOperationId(method, path)).toBe(id);
  });

  const one = (path: string, operation: Record<string, unknown>) =>
    ({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: { [path]: { get: { responses: {}, tags: ['t'], ...operation } } } }) as unknown as OpenAPIObject;

  it('a path parameter without a known schema fails the build', () => {
    expect(() => completeDocument(one('/v1/things/{thingId}', {}))).toThrow(/thingId.*PATH_PARAMETERS/);
  });

  it('an operation without a tag fails the build', () => {
    expect(() => completeDocument(one('/v1/things', { tags: [] }))).toThrow(/no tag/);
  });

  it('two operations with one operationId fail the build', () => {
    const document = one('/v1/things', { operationId: 'x' });
    (document.paths['/v1/things'] as Record<string, unknown>).post = { operationId: 'x', tags: ['t'], responses: {} };
    expect(() => completeDocument(document)).toThrow(/already/);
  });
});
