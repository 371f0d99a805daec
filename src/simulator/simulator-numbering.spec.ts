import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { myNumberCheckDigit } from '../common/my-number/my-number.js';
import {
  checkClaims,
  epochSeconds,
  generateNodeIdentity,
  importPeerKeys,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
} from '../peers/envelope.js';
import { newMessageId, parseNumberingResultMessage, PROTOCOL_VERSION } from '../peers/peer-messages.js';
import { startSimulator, type RunningSimulator } from './simulator.js';

const myNumber = (n: number) => {
  const first11 = String(n).padStart(11, '0');
  return first11 + String(myNumberCheckDigit(first11));
};

/** Simulated nodes answer numbering-notices as a kouza-hub peer would. */
describe('simulator: numbering notices', () => {
  let sim: RunningSimulator;
  let hub: NodeIdentity;
  let node0: PeerKeys;

  beforeAll(async () => {
    sim = await startSimulator({ nodes: 2, institutionsPerNode: 2, seed: 3, hitRate: 0.3, ambiguousRate: 0.4, faults: { latencyMs: 0 } });
    hub = (await generateNodeIdentity('hub')).identity;
    await sim.trust({ nodeId: hub.nodeId, signingKey: hub.signingJwk, encryptionKey: hub.encryptionJwk });
    const m = sim.manifest[0];
    node0 = await importPeerKeys(m.nodeId, m.signingKey, m.encryptionKey);
  });
  afterAll(() => sim.close());

  const notices = (numbers: string[], institutions: string[]) =>
    numbers.map((n, i) => ({
      ref: `n${i}`,
      myNumber: n,
      nameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
      birthDate: '1980-04-01',
      address: '千代田区1-1',
      institutions,
      origin: { requestId: newMessageId(), institutionCode: '0001', branchCode: '001', operatorId: 'T1' },
      verification: { numberDocument: 'my-number-card', identityDocument: 'passport' },
      consentAt: '2026-04-01T10:00:00+09:00',
    }));

  const post = async (path: string, claims: Record<string, unknown>) => {
    const iat = epochSeconds();
    const message = { iss: hub.nodeId, aud: node0.nodeId, jti: newMessageId(), iat, exp: iat + 60, ...claims };
    return fetch(`${sim.url}/nodes/0${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/jose' },
      body: await sealEnvelope(message, hub, node0),
    });
  };

  it('answers every asked institution it hosts, as numberingAt says, and nothing else', async () => {
    const numbers = Array.from({ length: 40 }, (_, i) => myNumber(900 + i));
    const res = await post('/v1/peer/numbering-notices', {
      v: PROTOCOL_VERSION,
      typ: 'numbering-notice',
      purpose: 'numbering',
      notices: notices(numbers, ['5000', '5001', '5002']),
    });
    expect(res.status).toBe(200);
    const { claims } = await openEnvelope(await res.text(), hub, async () => node0);
    checkClaims(claims, { typ: 'numbering-result', audience: hub.nodeId, issuer: node0.nodeId });
    const result = parseNumberingResultMessage(claims);
    expect(result.results).toEqual(
      numbers.map((n, i) => ({ ref: `n${i}`, institutions: [sim.numberingAt(n, '5000'), sim.numberingAt(n, '5001')] })),
    );
    // The seeded rule: attached where the number holds accounts, else ambiguous or no-match.
    const outcomes = numbers.map((n) => sim.numberingAt(n, '5000'));
    numbers.forEach((n, i) => {
      const accounts = sim.accountsAt(n, '5000').length;
      if (accounts > 0) expect(outcomes[i]).toEqual({ code: '5000', status: 'attached', accounts });
      else expect(['ambiguous', 'no-match']).toContain(outcomes[i].status);
    });
    expect(new Set(outcomes.map((o) => o.status))).toEqual(new Set(['attached', 'ambiguous', 'no-match']));
  });

  it('refuses a location-query on the numbering route, and a notice on the location route', async () => {
    const query = { v: PROTOCOL_VERSION, typ: 'location-query', purpose: 'inheritance', queries: [{ ref: 'q', myNumber: myNumber(1), nameKey: 'ﾔﾏﾀﾞﾀﾛｳ', birthDate: '1980-04-01' }] };
    const notice = { v: PROTOCOL_VERSION, typ: 'numbering-notice', purpose: 'numbering', notices: notices([myNumber(2)], ['5000']) };
    expect((await post('/v1/peer/numbering-notices', query)).status).toBe(401);
    expect((await post('/v1/peer/location-queries', notice)).status).toBe(401);
  });
});
