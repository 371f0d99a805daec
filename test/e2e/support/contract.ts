import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type request from 'supertest';
import type { Response, Test } from 'supertest';
import { repositoryRoot } from '../../../src/config/config-reference.js';

/**
 * Every answer the e2e suite sees is held to the committed OpenAPI document
 * (openapi/openapi.json): the route's template is found for the request's method and
 * path, the answer's status must be documented for it, and the body must validate
 * against the schema of its status and media type (problem answers against the
 * problem schema narrowed to the codes the route documents). A mismatch fails the
 * request's test. test-app.ts puts this on every request made through `t.http`.
 *
 * Hand-written glue over ajv (the JSON Schema 2020-12 validator OpenAPI 3.1 uses):
 * the response-validating libraries for supertest target OpenAPI 3.0 or Express.
 */
type Operation = { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };
type Document = { paths: Record<string, Record<string, Operation>>; components: unknown };

const DOCUMENT_ID = 'kouza-hub-openapi';
/** Routes outside the API contract (HTML and UI assets, Prometheus text, the queue dashboard). */
const OUTSIDE_CONTRACT = [/^\/docs(\/|$)/, /^\/metrics$/, /^\/queues(\/|$)/];
const HTTP_METHODS = new Set(['get', 'post', 'put', 'delete', 'patch', 'head', 'options']);

export class ContractViolation extends Error {}

export class ResponseContract {
  private readonly ajv: Ajv2020;
  private readonly routes: { template: string; pattern: RegExp; item: Record<string, Operation> }[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly document: Document = loadDocument()) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: DOCUMENT_ID, components: closed(document.components), paths: document.paths } as object);
    // Static segments win over parameters (`/v1/institutions/{code}/webhook/secret`).
    this.routes = Object.entries(document.paths)
      .map(([template, item]) => ({
        template,
        item,
        pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
      }))
      .sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  }

  /** The violations of one answer (empty when it keeps the contract). */
  violations(method: string, url: string, res: Pick<Response, 'status' | 'headers' | 'body' | 'text'>): string[] {
    const path = new URL(url, 'http://e2e.invalid').pathname;
    if (OUTSIDE_CONTRACT.some((p) => p.test(path))) return [];
    const lower = method.toLowerCase();
    const where = `${method.toUpperCase()} ${path} -> ${res.status}`;
    const route = this.routes.find((r) => r.pattern.test(path) && r.item[lower]);
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!route) {
      // No such route (or not with this method): the framework's problem answer.
      if (lower === 'head' || lower === 'options') return [];
      return this.check(`${DOCUMENT_ID}#/components/schemas/ProblemDto`, res.body, where, mediaType === 'application/problem+json' ? [] : [`${where}: an unknown route answers ${mediaType || 'no content type'}, not a problem`]);
    }
    const responses = route.item[lower].responses;
    const status = String(res.status);
    const documented = responses[status] ? status : responses[`${status[0]}XX`] ? `${status[0]}XX` : responses.default ? 'default' : undefined;
    if (!documented) return [`${where}: status ${status} is not documented for ${lower.toUpperCase()} ${route.template} (documented: ${Object.keys(responses).join(', ')})`];
    const content = responses[documented].content;
    const empty = res.text === undefined || res.text === '' || res.status === 204;
    if (!content) return empty ? [] : [`${where}: the documented answer has no body, this one has ${mediaType}`];
    if (!(mediaType in content)) return [`${where}: media type ${mediaType || '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`];
    if (content[mediaType].schema === undefined) return [];
    const pointer = ['paths', route.template, lower, 'responses', documented, 'content', mediaType, 'schema'].map(escapePointer).join('/');
    const body = /json$/.test(mediaType) ? res.body : res.text;
    return this.check(`${DOCUMENT_ID}#/${pointer}`, body, where, []);
  }

  private check(ref: string, body: unknown, where: string, found: string[]): string[] {
    let validate = this.compiled.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, validate);
    }
    if (validate(body)) return found;
    return [
      ...found,
      ...(validate.errors ?? []).map((e) => `${where}: body${e.instancePath} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`),
    ];
  }

  /** Fails `test` (when awaited or ended) if its answer breaks the contract. */
  attach(test: Test, method: string, url: string): Test {
    return test.expect((res: Response) => {
      const found = this.violations(method, url, res);
      if (found.length) throw new ContractViolation(`the answer breaks openapi/openapi.json:\n  ${found.join('\n  ')}\nbody: ${res.text?.slice(0, 2000)}`);
    });
  }
}

/**
 * The document's object schemas, closed: an answer carrying a field the document does
 * not describe is a violation too (a generated client would not know it).
 */
function closed(components: unknown): unknown {
  const copy = structuredClone(components) as { schemas?: Record<string, Record<string, unknown>> };
  const close = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(close);
    if (node === null || typeof node !== 'object') return;
    const schema = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(schema)) if (key !== 'example' && key !== 'examples' && key !== 'enum' && key !== 'const') close(value);
    if (schema.properties && typeof schema.properties === 'object' && schema.additionalProperties === undefined) schema.unevaluatedProperties = false;
  };
  close(copy.schemas);
  return copy;
}

const escapePointer = (segment: string): string => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));

function loadDocument(): Document {
  return JSON.parse(readFileSync(join(repositoryRoot(), 'openapi/openapi.json'), 'utf8')) as Document;
}

let shared: ResponseContract | undefined;

/** The supertest agent of `server`, every request of it checked against the contract. */
export function contractCheckedRequest(agent: ReturnType<typeof request>, contract: ResponseContract = (shared ??= new ResponseContract())): ReturnType<typeof request> {
  return new Proxy(agent, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property !== 'string' || !HTTP_METHODS.has(property) || typeof value !== 'function') return value;
      return (url: string, ...rest: unknown[]) =>
        contract.attach((value as (...args: unknown[]) => Test).call(target, url, ...rest), property, url);
    },
  });
}
