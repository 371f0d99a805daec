import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { PUBLIC_EXTENSION } from '../auth/auth.decorators.js';
import { ERROR_CATALOGUE, ErrorCode } from '../common/errors/error-codes.js';
import { PROBLEM_MEDIA_TYPE, problemDescription, problemSchema } from '../common/openapi/api-problems.decorator.js';
import { PATH_PARAMETERS } from '../common/openapi/path-parameters.js';
import { ProblemDto } from '../common/openapi/problem.dto.js';

export const BEARER = 'bearer';
const DERIVE = '~derive~';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Codes any route that needs a key may answer, beside its own. */
const AUTHENTICATED_CODES: ErrorCode[] = ['UNAUTHENTICATED', 'RATE_LIMITED'];
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);
const JOSE_MEDIA = 'application/jose';
/** What the JSON body parser and the validation pipe answer before a route runs, on any request that carries a body. */
const JSON_BODY_CODES: ErrorCode[] = ['MALFORMED_JSON', 'JSON_LIMIT_EXCEEDED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
/** Codes any route may answer. */
const EVERY_ROUTE_CODES: ErrorCode[] = ['INTERNAL_ERROR', 'DATABASE_UNAVAILABLE'];

/**
 * The OpenAPI 3.1 document of the HTTP API, as served at /docs/openapi.json and
 * committed as openapi/openapi.json (`npm run openapi`). Built from the controllers'
 * decorators, then completed by conventions (completeDocument) so that a route gets
 * its operationId, path parameters, security and common problem codes without
 * repeating them.
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setOpenAPIVersion('3.1.0')
      .setTitle('kouza-hub')
      .setDescription(
        'Deposit-account numbering: attach My Numbers to accounts; find at which institutions a depositor holds accounts. ' +
          'Errors are application/problem+json with a stable `code`; each operation lists the codes it may answer.',
      )
      .setVersion('1')
      .addServer('{baseUrl}', 'The deployment: its base URL, without a trailing slash', {
        baseUrl: { default: 'http://127.0.0.1:3000', description: 'e.g. `https://kouza-hub.bank.internal`; `npm start` listens on port 3000' },
      })
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An institution API key, or the operator key' }, BEARER)
      .build(),
    { extraModels: [ProblemDto], operationIdFactory: (_controller, method) => `${DERIVE}${method}` },
  );
  // package.json's license; no public licence text to link to.
  document.info.license = { name: 'UNLICENSED', identifier: 'LicenseRef-UNLICENSED' } as OpenAPIObject['info']['license'];
  return completeDocument(document);
}

type Operation = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The conventions every operation follows, applied here rather than per route:
 * - operationId: the one given in @ApiOperation, else derived from method and path
 *   (`POST /v1/linkages` -> createLinkage, `GET /v1/linkages/{id}` -> getLinkage,
 *   `GET /v1/linkages` -> listLinkages, `DELETE …/{code}/webhook` -> deleteInstitutionWebhook);
 * - every `{name}` of the path declared, with its schema from PATH_PARAMETERS;
 * - `security: []` on @Public() routes, the bearer key on every other;
 * - the problem codes every route (every authenticated route, every route reading a JSON body) may answer.
 * A route that breaks a convention (unknown path parameter, no tag, a duplicate
 * operationId) fails the build of the document, and so `npm test`.
 */
export function completeDocument(document: OpenAPIObject): OpenAPIObject {
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = (item as Record<string, Operation | undefined>)[method];
      if (!operation) continue;
      const where = `${method.toUpperCase()} ${path}`;
      if (typeof operation.operationId !== 'string' || operation.operationId.startsWith(DERIVE)) {
        operation.operationId = deriveOperationId(method, path);
      }
      const other = seen.get(operation.operationId);
      if (other) throw new Error(`operationId ${operation.operationId} of ${where} is already ${other}'s: name one in @ApiOperation`);
      seen.set(operation.operationId, where);
      if (!operation.tags?.length) throw new Error(`${where} has no tag (@ApiTags on its controller)`);

      declarePathParameters(operation, path, where);

      const isPublic = operation[PUBLIC_EXTENSION] === true;
      delete operation[PUBLIC_EXTENSION];
      operation.security = isPublic ? [] : [{ [BEARER]: [] }];

      // Fastify parses a body on these methods whatever the route does with it.
      const parsesBody = BODY_METHODS.has(method) && !(operation.requestBody as { content?: Record<string, unknown> } | undefined)?.content?.[JOSE_MEDIA];
      addProblemCodes(operation, [...(isPublic ? [] : AUTHENTICATED_CODES), ...(parsesBody ? JSON_BODY_CODES : []), ...EVERY_ROUTE_CODES]);
    }
  }
  return document;
}

function declarePathParameters(operation: Operation, path: string, where: string): void {
  const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const others = ((operation.parameters ?? []) as Operation[]).filter((p) => p.in !== 'path');
  const declared = names.map((name) => {
    const known = PATH_PARAMETERS[name];
    if (!known) throw new Error(`${where}: path parameter {${name}} is not in PATH_PARAMETERS (src/common/openapi/path-parameters.ts)`);
    return { name, in: 'path', required: true, description: known.description, schema: { ...known.schema } };
  });
  if (declared.length || others.length) operation.parameters = [...declared, ...others];
}

function addProblemCodes(operation: Operation, codes: ErrorCode[]): void {
  operation.responses ??= {};
  for (const code of codes) {
    const status = String(ERROR_CATALOGUE[code].status);
    const existing = operation.responses[status];
    const content = existing?.content?.[PROBLEM_MEDIA_TYPE];
    if (existing && !content) continue; // the route answers this status otherwise (e.g. health's 503)
    const listed: string[] = content?.schema?.allOf?.[1]?.properties?.code?.enum ?? [];
    if (listed.includes(code)) continue;
    const all = [...listed, code];
    operation.responses[status] = {
      description: problemDescription(all),
      content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema(all) } },
    };
  }
}

/** `POST /v1/institutions/{code}/api-keys` -> createInstitutionApiKey, and so on. */
export function deriveOperationId(method: string, path: string): string {
  const segments = path.split('/').filter((s) => s && s !== 'v1');
  const last = segments[segments.length - 1];
  const endsWithParameter = last.startsWith('{');
  const nouns = segments.filter((s) => !s.startsWith('{')).map(pascal);
  const singular = nouns.map(singularOf);
  const verb =
    method === 'get' ? (endsWithParameter || isSingularResource(last) ? 'get' : 'list') : method === 'post' ? 'create' : method === 'put' ? 'set' : method;
  const names = verb === 'list' ? [...singular.slice(0, -1), nouns[nouns.length - 1]] : singular;
  return verb + names.join('');
}

const pascal = (segment: string): string => segment.split(/[-_]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
const singularOf = (noun: string): string => (noun.endsWith('ies') ? `${noun.slice(0, -3)}y` : noun.endsWith('s') ? noun.slice(0, -1) : noun);
const isSingularResource = (segment: string): boolean => !segment.endsWith('s');
