import { describe, expect, it } from '@jest/globals';
import { federate, FederationError, type FederationNode } from './federation.js';

const SIGNING = { kty: 'OKP', crv: 'Ed25519', x: 's'.repeat(43) };
const ENCRYPTION = { kty: 'OKP', crv: 'X25519', x: 'e'.repeat(43) };

/**
 * A fake set of nodes behind fetch: each answers GET /v1/node, GET/POST
 * /v1/institutions and POST /v1/peers; `refuse` makes one route answer a problem.
 */
function fakeNodes(ids: string[], refuse?: { node: string; route: string; status: number; code: string }) {
  const hosted = new Map(ids.map((id) => [id, [{ code: `0${ids.indexOf(id) + 1}00`, name: `Bank of ${id}` }]]));
  const peers = new Map(ids.map((id) => [id, new Map<string, any>()]));
  const calls: string[] = [];
  const fetchFn = (async (url: string, init: RequestInit) => {
    const { host, pathname } = new URL(url);
    const id = host.split('.')[0];
    const method = init.method ?? 'GET';
    const route = `${method} ${pathname}`;
    calls.push(`${id} ${route}`);
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (refuse && refuse.node === id && refuse.route === route) return json(refuse.status, { code: refuse.code, detail: 'refused' });
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    if (route === 'GET /v1/node') return json(200, { nodeId: id === 'twin' ? ids[0] : id, signingKey: SIGNING, encryptionKey: ENCRYPTION });
    if ((init.headers as Record<string, string>).authorization !== `Bearer key-${id}`) return json(401, { code: 'UNAUTHENTICATED' });
    if (route === 'GET /v1/institutions') return json(200, { items: hosted.get(id) });
    if (route === 'POST /v1/institutions') {
      if (hosted.get(id)!.some((i) => i.code === body.code)) return json(409, { code: 'INSTITUTION_EXISTS' });
      hosted.get(id)!.push({ code: body.code, name: body.name });
      return json(201, { code: body.code });
    }
    if (route === 'POST /v1/peers') {
      const again = peers.get(id)!.has(body.nodeId);
      peers.get(id)!.set(body.nodeId, body);
      return json(again ? 200 : 201, body);
    }
    return json(404, { code: 'NOT_FOUND' });
  }) as typeof fetch;
  const node = (id: string, institutions?: FederationNode['institutions']): FederationNode => ({
    apiUrl: `http://${id}.internal:3000/`,
    endpointUrl: `https://${id}.example/`,
    adminKey: `key-${id}`,
    institutions,
  });
  return { fetchFn, peers, calls, node };
}

describe('federate', () => {
  it('registers every node at every other one with its statement, endpoint and hosted institutions', async () => {
    const { fetchFn, peers, node } = fakeNodes(['a', 'b', 'c']);
    const report = await federate([node('a', [{ code: '0101', name: 'A1' }, { code: '0100', name: 'again' }]), node('b'), node('c')], { fetch: fetchFn });
    expect(report.nodes.map((n) => [n.nodeId, n.institutions, n.created])).toEqual([
      ['a', ['0100', '0101'], ['0101']],
      ['b', ['0200'], []],
      ['c', ['0300'], []],
    ]);
    expect(report.registrations.map((r) => `${r.peer}@${r.at}:${r.status}`)).toEqual(['b@a:201', 'c@a:201', 'a@b:201', 'c@b:201', 'a@c:201', 'b@c:201']);
    expect(peers.get('b')!.get('a')).toEqual({
      nodeId: 'a',
      signingKey: SIGNING,
      encryptionKey: ENCRYPTION,
      endpointUrl: 'https://a.example',
      institutions: [
        { code: '0100', name: 'Bank of a' },
        { code: '0101', name: 'A1' },
      ],
    });
    const again = await federate([node('a'), node('b'), node('c')], { fetch: fetchFn });
    expect(again.registrations.every((r) => r.status === 200)).toBe(true);
  });

  it('stops at the first refusal, naming the node, the route and the problem code', async () => {
    const { fetchFn, node } = fakeNodes(['a', 'b'], { node: 'b', route: 'POST /v1/peers', status: 409, code: 'INSTITUTION_EXISTS' });
    await expect(federate([node('a'), node('b')], { fetch: fetchFn })).rejects.toThrow(
      new FederationError('POST http://b.internal:3000/v1/peers (a) answered 409 INSTITUTION_EXISTS refused'),
    );
  });

  it('refuses a wrong admin key, an institution it cannot create, two nodes with one id, and a single node', async () => {
    const { fetchFn, node } = fakeNodes(['a', 'b', 'twin'], { node: 'b', route: 'POST /v1/institutions', status: 422, code: 'VALIDATION_FAILED' });
    await expect(federate([{ ...node('a'), adminKey: 'wrong' }, node('b')], { fetch: fetchFn })).rejects.toThrow(/GET http:\/\/a.internal:3000\/v1\/institutions answered 401/);
    await expect(federate([node('a'), node('b', [{ code: '9', name: 'x' }])], { fetch: fetchFn })).rejects.toThrow(/answered 422 VALIDATION_FAILED/);
    await expect(federate([node('a'), node('twin')], { fetch: fetchFn })).rejects.toThrow('two nodes publish the same node id a');
    await expect(federate([node('a')], { fetch: fetchFn })).rejects.toThrow('at least two nodes');
  });

  it('reports a node that cannot be reached', async () => {
    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const { node } = fakeNodes(['a', 'b']);
    await expect(federate([node('a'), node('b')], { fetch: down })).rejects.toThrow('GET http://a.internal:3000/v1/node: fetch failed');
  });
});
