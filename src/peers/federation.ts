/**
 * Federating kouza-hub nodes that split one centre's institutions between them (shards):
 * every node is registered as a peer at every other one, from what the node itself
 * publishes (GET /v1/node) and hosts (GET /v1/institutions). Used by
 * `npm run peers:federate` (src/cli/peers-federate.ts) and the shards e2e spec. Only
 * the nodes' public HTTP API is used, with each node's admin key: nothing here reads a
 * database, so a node's own tables stay its only source of truth.
 */

export interface FederationInstitution {
  code: string;
  name: string;
}

export interface FederationNode {
  /** Where this tool reaches the node's API (its admin routes and GET /v1/node). */
  apiUrl: string;
  /** The base URL the other nodes send their peer messages to (https in production). */
  endpointUrl: string;
  /** The node's ADMIN_API_KEY. */
  adminKey: string;
  /** Hosted institutions to make sure of first: each is created unless the node already hosts its code. */
  institutions?: FederationInstitution[];
}

export interface FederationRegistration {
  /** The node where the peer was registered. */
  at: string;
  /** The node registered there. */
  peer: string;
  /** 201 registered, 200 registered again (updated). */
  status: number;
  institutions: string[];
}

export interface FederationReport {
  nodes: { nodeId: string; apiUrl: string; endpointUrl: string; institutions: string[]; created: string[] }[];
  registrations: FederationRegistration[];
}

export class FederationError extends Error {}

type Fetch = typeof fetch;

async function call(
  fetchFn: Fetch,
  method: 'GET' | 'POST',
  url: string,
  adminKey: string | undefined,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (adminKey) headers.authorization = `Bearer ${adminKey}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetchFn(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    throw new FederationError(`${method} ${url}: ${(error as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

const trimmed = (url: string) => url.replace(/\/+$/, '');

/** The problem's code and detail, for a message (never the request body: it holds no personal data, but keys). */
const problem = (body: any) => (body && typeof body === 'object' ? `${body.code ?? ''} ${body.detail ?? ''}`.trim() : String(body ?? ''));

/**
 * Makes sure of each node's listed institutions, then registers every node at every
 * other one with the institutions it hosts. Run again, it registers again (200): the
 * peers' keys, endpoint and institution lists are brought up to date, nothing is
 * duplicated. Throws FederationError at the first refusal, naming the node and route.
 */
export async function federate(nodes: FederationNode[], options: { fetch?: Fetch } = {}): Promise<FederationReport> {
  const fetchFn = options.fetch ?? fetch;
  if (nodes.length < 2) throw new FederationError('federation needs at least two nodes');

  const known: { node: FederationNode; statement: Record<string, unknown>; nodeId: string; institutions: FederationInstitution[]; created: string[] }[] = [];
  for (const node of nodes) {
    const api = trimmed(node.apiUrl);
    const statement = await call(fetchFn, 'GET', `${api}/v1/node`, undefined);
    if (statement.status !== 200 || typeof statement.body?.nodeId !== 'string') {
      throw new FederationError(`GET ${api}/v1/node answered ${statement.status} ${problem(statement.body)}`);
    }
    const created: string[] = [];
    for (const institution of node.institutions ?? []) {
      const res = await call(fetchFn, 'POST', `${api}/v1/institutions`, node.adminKey, { code: institution.code, name: institution.name });
      if (res.status === 201) created.push(institution.code);
      else if (!(res.status === 409 && res.body?.code === 'INSTITUTION_EXISTS')) {
        throw new FederationError(`POST ${api}/v1/institutions (${institution.code}) answered ${res.status} ${problem(res.body)}`);
      }
    }
    const hosted = await call(fetchFn, 'GET', `${api}/v1/institutions`, node.adminKey);
    if (hosted.status !== 200 || !Array.isArray(hosted.body?.items)) {
      throw new FederationError(`GET ${api}/v1/institutions answered ${hosted.status} ${problem(hosted.body)}`);
    }
    const institutions = (hosted.body.items as { code: string; name: string }[]).map((i) => ({ code: i.code, name: i.name }));
    known.push({ node, statement: statement.body, nodeId: statement.body.nodeId, institutions, created });
  }
  const ids = known.map((k) => k.nodeId);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new FederationError(`two nodes publish the same node id ${twice}`);

  const registrations: FederationRegistration[] = [];
  for (const at of known) {
    for (const peer of known) {
      if (peer === at) continue;
      if (peer.institutions.length === 0) continue; // a node hosting nothing is asked nothing
      const api = trimmed(at.node.apiUrl);
      const res = await call(fetchFn, 'POST', `${api}/v1/peers`, at.node.adminKey, {
        ...peer.statement,
        endpointUrl: trimmed(peer.node.endpointUrl),
        institutions: peer.institutions,
      });
      if (res.status !== 201 && res.status !== 200) {
        throw new FederationError(`POST ${api}/v1/peers (${peer.nodeId}) answered ${res.status} ${problem(res.body)}`);
      }
      registrations.push({ at: at.nodeId, peer: peer.nodeId, status: res.status, institutions: peer.institutions.map((i) => i.code) });
    }
  }
  return {
    nodes: known.map((k) => ({
      nodeId: k.nodeId,
      apiUrl: k.node.apiUrl,
      endpointUrl: k.node.endpointUrl,
      institutions: k.institutions.map((i) => i.code),
      created: k.created,
    })),
    registrations,
  };
}
