import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { myNumberCheckDigit } from '../common/my-number/my-number.js';
import {
  EnvelopeError,
  checkClaims,
  epochSeconds,
  generateNodeIdentity,
  importPeerKeys,
  okpThumbprint,
  openEnvelope,
  sealEnvelope,
  type NodeIdentity,
  type PeerKeys,
} from '../peers/envelope.js';
import { signCheckpoint } from '../audit/audit-checkpoint.js';
import { verifyKeyStatement } from '../peers/key-statement.js';
import { newMessageId, parseLocationAnswerMessage, type LocationAnswerMessage } from '../peers/peer-messages.js';
import type { ControlChange } from './faults.js';
import { nameKey } from '../register/register-keys.js';
import { PROTOCOL_VERSION } from '../peers/peer-messages.js';
import { seededAccounts, seededHolder } from './seeded.js';
import { startSimulator, type NodeRegistration, type RunningSimulator, type SimulatorOptions } from './simulator.js';
import type { PublishedNode } from './trust-store.js';

const SEED = 7;
const HIT_RATE = 0.3;

function myNumber(n: number): string {
  const first11 = String(n).padStart(11, '0');
  return first11 + String(myNumberCheckDigit(first11));
}

const published = (identity: NodeIdentity): PublishedNode => ({
  nodeId: identity.nodeId,
  signingKey: identity.signingJwk,
  encryptionKey: identity.encryptionJwk,
});

const keysOf = (node: NodeRegistration): Promise<PeerKeys> =>
  importPeerKeys(node.nodeId, node.signingKey, node.encryptionKey);

/** A kouza-hub node talking to a simulator: seals queries, posts them, opens and checks answers. */
class Hub {
  private constructor(
    readonly identity: NodeIdentity,
    private readonly sim: RunningSimulator,
    private readonly nodes: PeerKeys[],
  ) {}

  static async create(sim: RunningSimulator, identity: NodeIdentity): Promise<Hub> {
    return new Hub(identity, sim, await Promise.all(sim.manifest.map(keysOf)));
  }

  node(index: number): PeerKeys {
    return this.nodes[index];
  }

  subjectOf(myNumber: string) {
    const holder = seededHolder(SEED, myNumber);
    return { nameKey: nameKey(holder.nameKana)!, birthDate: holder.birthDate };
  }

  async seal(index: number, numbers: string[], claims: Record<string, unknown> = {}) {
    const iat = epochSeconds();
    const jti = newMessageId();
    const message = {
      v: PROTOCOL_VERSION,
      typ: 'location-query',
      iss: this.identity.nodeId,
      aud: this.nodes[index].nodeId,
      jti,
      iat,
      exp: iat + 60,
      purpose: 'inheritance',
      // Each query names the number's seeded holder, for whom alone the node lists accounts.
      queries: numbers.map((n, i) => ({ ref: `q${i}`, myNumber: n, ...this.subjectOf(n) })),
      ...claims,
    };
    return { jti, jwe: await sealEnvelope(message, this.identity, this.nodes[index]) };
  }

  post(index: number, body: string, options: { contentType?: string; signal?: AbortSignal } = {}): Promise<Response> {
    return fetch(`${this.sim.url}/nodes/${index}/v1/peer/location-queries`, {
      method: 'POST',
      headers: { 'content-type': options.contentType ?? 'application/jose' },
      body,
      signal: options.signal,
    });
  }

  /** Opens an answer as kouza-hub's PeerClient would: the node's registered key, aud, iss, shape. */
  async open(index: number, response: Response): Promise<LocationAnswerMessage> {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/jose');
    const node = this.nodes[index];
    const { claims } = await openEnvelope(await response.text(), this.identity, async (kid) =>
      kid === node.nodeId ? node : undefined,
    );
    checkClaims(claims, { typ: 'location-answer', audience: this.identity.nodeId, issuer: node.nodeId });
    return parseLocationAnswerMessage(claims);
  }

  async ask(index: number, numbers: string[]): Promise<LocationAnswerMessage> {
    const { jti, jwe } = await this.seal(index, numbers);
    const answer = await this.open(index, await this.post(index, jwe));
    expect(answer.inReplyTo).toBe(jti);
    return answer;
  }
}

async function expectRefused(response: Response): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(await response.json()).toMatchObject({ status: 401, code: 'PEER_MESSAGE_REFUSED' });
}

function expectedAnswer(node: NodeRegistration, numbers: string[]) {
  return numbers.map((n, i) => ({
    ref: `q${i}`,
    institutions: node.institutions
      .map(({ code }) => ({ code, accounts: seededAccounts(SEED, HIT_RATE, n, code) }))
      .filter((inst) => inst.accounts.length > 0),
  }));
}

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const NUMBERS = Array.from({ length: 20 }, (_, i) => myNumber(31_000 + i));

describe('peer-node simulator', () => {
  let sim: RunningSimulator;
  let hub: Hub;
  const started: RunningSimulator[] = [];

  async function start(options: Partial<SimulatorOptions> & { trusted?: NodeIdentity }): Promise<RunningSimulator> {
    const { trusted, ...rest } = options;
    const s = await startSimulator({
      nodes: 3,
      seed: SEED,
      hitRate: HIT_RATE,
      faults: { latencyMs: 0 },
      trust: trusted ? [published(trusted)] : [],
      ...rest,
    });
    started.push(s);
    return s;
  }

  beforeAll(async () => {
    const { identity } = await generateNodeIdentity('hub-a');
    sim = await start({ nodes: 3, institutionsPerNode: 2, codeBase: 6000, trusted: identity });
    hub = await Hub.create(sim, identity);
  });

  afterAll(async () => {
    await Promise.all(started.map((s) => s.close()));
  });

  describe('as a witness of the hub\'s audit chain', () => {
    const witnessPost = async (index: number, path: string, claims: Record<string, unknown>) => {
      const iat = epochSeconds();
      const jti = newMessageId();
      const jwe = await sealEnvelope(
        { iss: hub.identity.nodeId, aud: hub.node(index).nodeId, jti, iat, exp: iat + 60, ...claims },
        hub.identity,
        hub.node(index),
      );
      const response = await fetch(`${sim.url}/nodes/${index}${path}`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: jwe });
      return { jti, jwe, response };
    };
    const latest = async (index: number) => {
      const { jti, response } = await witnessPost(index, '/v1/peer/audit-checkpoints/latest', { typ: 'audit-checkpoint-query', node: hub.identity.nodeId });
      expect(response.status).toBe(200);
      const node = hub.node(index);
      const { claims } = await openEnvelope(await response.text(), hub.identity, async (kid) => (kid === node.nodeId ? node : undefined));
      checkClaims(claims, { typ: 'audit-checkpoint-answer', audience: hub.identity.nodeId, issuer: node.nodeId });
      expect(claims).toMatchObject({ inReplyTo: jti, node: hub.identity.nodeId });
      return claims.checkpoint;
    };

    it('keeps the newest checkpoint it is sent (204) and hands it back when asked', async () => {
      expect(await latest(1)).toBeNull();
      const newer = await signCheckpoint(hub.identity, { seq: '12', hash: Buffer.alloc(32, 2) });
      const older = await signCheckpoint(hub.identity, { seq: '11', hash: Buffer.alloc(32, 1) });
      for (const checkpoint of [newer, older]) {
        const { response } = await witnessPost(1, '/v1/peer/audit-checkpoints', { typ: 'audit-checkpoint-notice', checkpoint });
        expect(response.status).toBe(204);
      }
      expect(await latest(1)).toBe(newer);
    });

    it('refuses a checkpoint signed by another node, and a replayed notice', async () => {
      const { identity: other } = await generateNodeIdentity('hub-b');
      const forged = await signCheckpoint(other, { seq: '99', hash: Buffer.alloc(32, 9) });
      await expectRefused((await witnessPost(2, '/v1/peer/audit-checkpoints', { typ: 'audit-checkpoint-notice', checkpoint: forged })).response);
      const checkpoint = await signCheckpoint(hub.identity, { seq: '5', hash: Buffer.alloc(32, 5) });
      const first = await witnessPost(2, '/v1/peer/audit-checkpoints', { typ: 'audit-checkpoint-notice', checkpoint });
      expect(first.response.status).toBe(204);
      const again = await fetch(`${sim.url}/nodes/2/v1/peer/audit-checkpoints`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: first.jwe });
      await expectRefused(again);
    });
  });

  describe('nodes and manifest', () => {
    it('serves one registration per node, the body of POST /v1/peers', async () => {
      const response = await fetch(`${sim.url}/manifest`);
      const manifest = (await response.json()) as NodeRegistration[];
      expect(manifest).toEqual(sim.manifest);
      expect(manifest.map((n) => n.nodeId)).toEqual(['sim-0', 'sim-1', 'sim-2']);
      expect(manifest[2]).toEqual({
        nodeId: 'sim-2',
        endpointUrl: `${sim.url}/nodes/2`,
        signingKey: { kty: 'OKP', crv: 'Ed25519', x: expect.any(String) },
        encryptionKey: { kty: 'OKP', crv: 'X25519', x: expect.any(String) },
        institutions: [
          { code: '6004', name: expect.any(String) },
          { code: '6005', name: expect.any(String) },
        ],
      });
      expect(new Set(manifest.map((n) => n.signingKey.x)).size).toBe(3);
    });

    it('publishes each node at GET /nodes/<i>/v1/node', async () => {
      const response = await fetch(`${sim.manifest[1].endpointUrl}/v1/node`);
      const { nodeId, signingKey, encryptionKey } = sim.manifest[1];
      const body = (await response.json()) as { keyStatement: unknown; keys: unknown[] };
      expect(body).toMatchObject({ nodeId, signingKey, encryptionKey });
      // With the key statement a kouza-hub checks on refresh, signed by the node's key.
      const trusted = [{ kid: await okpThumbprint(signingKey), key: (await importPeerKeys(nodeId, signingKey, encryptionKey)).signingKey }];
      const { node } = await verifyKeyStatement(body.keyStatement, nodeId, trusted);
      expect(node).toMatchObject({ nodeId, signingKey, encryptionKey, keys: body.keys });
    });

    it('derives the same node keys from the same seed, other keys from another seed', async () => {
      const again = await start({ nodes: 1, codeBase: 6000 });
      const other = await start({ nodes: 1, codeBase: 6000, seed: SEED + 1 });
      expect(again.manifest[0].signingKey).toEqual(sim.manifest[0].signingKey);
      expect(again.manifest[0].encryptionKey).toEqual(sim.manifest[0].encryptionKey);
      expect(other.manifest[0].signingKey).not.toEqual(sim.manifest[0].signingKey);
    });

    it('refuses institution codes past 9999', async () => {
      await expect(startSimulator({ nodes: 11, codeBase: 9990 })).rejects.toThrow(/9999/);
    });
  });

  describe('answers', () => {
    it('answers a sealed query with exactly the seeded accounts, signed by the node, to the sender', async () => {
      const answer = await hub.ask(1, NUMBERS);
      expect(answer).toMatchObject({ typ: 'location-answer', iss: 'sim-1', aud: 'hub-a' });
      expect(answer.exp - answer.iat).toBe(60);
      const expected = expectedAnswer(sim.manifest[1], NUMBERS);
      expect(answer.answers).toEqual(expected);
      // Both cases occur, so the comparison above says something.
      expect(expected.some((a) => a.institutions.length > 0)).toBe(true);
      expect(expected.some((a) => a.institutions.length === 0)).toBe(true);
    });

    it('seeds 1-3 well-formed accounts for about hitRate of the numbers, reproducibly', () => {
      const numbers = Array.from({ length: 4000 }, (_, i) => myNumber(50_000 + i));
      const hits = numbers.map((n) => seededAccounts('s', 0.1, n, '5000')).filter((a) => a.length > 0);
      expect(hits.length / numbers.length).toBeGreaterThan(0.08);
      expect(hits.length / numbers.length).toBeLessThan(0.12);
      for (const accounts of hits) {
        expect(accounts.length).toBeGreaterThanOrEqual(1);
        expect(accounts.length).toBeLessThanOrEqual(3);
        for (const a of accounts) {
          expect(a.branchCode).toMatch(/^[0-9]{3}$/);
          expect(a.accountNumber).toMatch(/^[0-9]{7}$/);
          expect(['ordinary', 'current', 'savings', 'other']).toContain(a.accountType);
        }
      }
      expect(seededAccounts('s', 0.1, numbers[0], '5000')).toEqual(seededAccounts('s', 0.1, numbers[0], '5000'));
      // Across institutions too: one number, 4,000 codes (the draw mixes the code in, it is not the number's alone).
      const codes = Array.from({ length: 4000 }, (_, i) => String(1000 + i));
      const held = codes.filter((code) => seededAccounts('s', 0.1, numbers[0], code).length > 0).length;
      expect(held / codes.length).toBeGreaterThan(0.08);
      expect(held / codes.length).toBeLessThan(0.12);
      expect(seededAccounts('s', 0, numbers[0], '5000')).toEqual([]);
      expect(numbers.slice(0, 50).every((n) => seededAccounts('s', 1, n, '5000').length > 0)).toBe(true);
    });

    it('answers the accounts of a file, and nothing else with hitRate 0', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sim-accounts-'));
      try {
        const file = join(dir, 'accounts.ndjson');
        const accounts = [{ branchCode: '123', accountType: 'savings', accountNumber: '7654321' }];
        writeFileSync(file, `${JSON.stringify({ myNumber: NUMBERS[0], institutionCode: '7001', accounts })}\n\n`);
        const fileSim = await start({
          nodes: 2,
          codeBase: 7000,
          hitRate: 0,
          accountsFile: file,
          trusted: hub.identity,
        });
        const fileHub = await Hub.create(fileSim, hub.identity);
        const answer = await fileHub.ask(1, [NUMBERS[0], NUMBERS[1]]);
        expect(answer.answers).toEqual([
          { ref: 'q0', institutions: [{ code: '7001', accounts }] },
          { ref: 'q1', institutions: [] },
        ]);
        expect((await fileHub.ask(0, [NUMBERS[0]])).answers).toEqual([{ ref: 'q0', institutions: [] }]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('names the bad line of an accounts file without repeating its number', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sim-accounts-'));
      try {
        const file = join(dir, 'accounts.ndjson');
        const accounts = [{ branchCode: '123', accountType: 'savings', accountNumber: '7654321' }];
        writeFileSync(
          file,
          [
            JSON.stringify({ myNumber: NUMBERS[0], institutionCode: '5000', accounts }),
            JSON.stringify({ myNumber: NUMBERS[1], institutionCode: '4999', accounts }),
          ].join('\n'),
        );
        const failure = startSimulator({ nodes: 1, accountsFile: file });
        await expect(failure).rejects.toThrow(`${file}:2: institutionCode is not one of the simulated institutions`);
        await expect(failure).rejects.not.toThrow(NUMBERS[1]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('refusals, each 401 PEER_MESSAGE_REFUSED', () => {
    it('refuses a sender it does not trust, and a trusted id signing with another key', async () => {
      const stranger = (await generateNodeIdentity('stranger')).identity;
      const strangerHub = await Hub.create(sim, stranger);
      await expectRefused(await strangerHub.post(0, (await strangerHub.seal(0, NUMBERS)).jwe));
      const impostor = (await generateNodeIdentity('hub-a')).identity;
      const impostorHub = await Hub.create(sim, impostor);
      await expectRefused(await impostorHub.post(0, (await impostorHub.seal(0, NUMBERS)).jwe));
    });

    it('refuses a message for another node', async () => {
      await expectRefused(await hub.post(0, (await hub.seal(0, NUMBERS, { aud: 'sim-1' })).jwe));
    });

    it('refuses a message sealed to another node', async () => {
      await expectRefused(await hub.post(0, (await hub.seal(1, NUMBERS)).jwe));
    });

    it('refuses a replayed message', async () => {
      const { jwe } = await hub.seal(0, NUMBERS);
      expect((await hub.post(0, jwe)).status).toBe(200);
      await expectRefused(await hub.post(0, jwe));
    });

    it('refuses an expired message', async () => {
      const now = epochSeconds();
      await expectRefused(await hub.post(0, (await hub.seal(0, NUMBERS, { iat: now - 300, exp: now - 240 })).jwe));
    });

    it('refuses an invalid message and a body that is not application/jose', async () => {
      await expectRefused(await hub.post(0, (await hub.seal(0, ['123456789010'])).jwe));
      const { jwe } = await hub.seal(0, NUMBERS);
      await expectRefused(await hub.post(0, jwe, { contentType: 'application/json' }));
      await expectRefused(await hub.post(0, JSON.stringify({ queries: [] }), { contentType: 'application/json' }));
    });

    it('trusts a node published at a URL, fetched when its kid is first seen', async () => {
      const remote = (await generateNodeIdentity('hub-b')).identity;
      const nodeServer: Server = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(published(remote)));
      });
      await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(nodeServer.address() as AddressInfo).port}/v1/node`;
        const urlSim = await start({ nodes: 1, trust: [url] });
        await (await Hub.create(urlSim, remote)).ask(0, NUMBERS);
      } finally {
        nodeServer.closeAllConnections();
        await new Promise((resolve) => nodeServer.close(resolve));
      }
    });

    it('trusts a node posted to /trust', async () => {
      const later = (await generateNodeIdentity('hub-c')).identity;
      const laterHub = await Hub.create(sim, later);
      await expectRefused(await laterHub.post(0, (await laterHub.seal(0, NUMBERS)).jwe));
      expect((await postJson(`${sim.url}/trust`, published(later))).status).toBe(200);
      await laterHub.ask(0, NUMBERS);
      expect((await postJson(`${sim.url}/trust`, { nodeId: 'x', signingKey: {}, encryptionKey: {} })).status).toBe(422);
    });
  });

  describe('faults', () => {
    let faultSim: RunningSimulator;
    let faultHub: Hub;

    beforeAll(async () => {
      faultSim = await start({ nodes: 6, trusted: hub.identity });
      faultHub = await Hub.create(faultSim, hub.identity);
    });

    const control = async (change: ControlChange) => postJson(`${faultSim.url}/control`, change);
    const sendTo = async (index: number, signal?: AbortSignal) =>
      faultHub.post(index, (await faultHub.seal(index, NUMBERS.slice(0, 2))).jwe, { signal });

    it('answers 500 at errorRate 1', async () => {
      expect((await control({ nodes: [0], errorRate: 1 })).status).toBe(200);
      const response = await sendTo(0);
      expect(response.status).toBe(500);
      expect(await response.json()).toMatchObject({ code: 'INTERNAL_ERROR' });
    });

    it('never answers at timeoutRate 1, until the client gives up', async () => {
      await control({ nodes: [1], timeoutRate: 1 });
      const started = Date.now();
      await expect(sendTo(1, AbortSignal.timeout(300))).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    });

    it('signs with a key that is not the node’s at badSignatureRate 1', async () => {
      await control({ nodes: [2], badSignatureRate: 1 });
      const response = await sendTo(2);
      expect(response.status).toBe(200);
      const opening = faultHub.open(2, response);
      await expect(opening).rejects.toBeInstanceOf(EnvelopeError);
      await expect(opening).rejects.toMatchObject({ reason: 'bad-signature' });
    });

    it('drops the connection when down', async () => {
      await control({ nodes: [3], down: true });
      await expect(sendTo(3)).rejects.toThrow('fetch failed');
    });

    it('waits latencyMs before answering', async () => {
      await control({ nodes: [4], latencyMs: 150 });
      const started = Date.now();
      await faultHub.open(4, await sendTo(4));
      expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    });

    it('changes at runtime, only for the nodes named; refuses a bad change', async () => {
      expect((await sendTo(5)).status).toBe(200);
      await control({ nodes: [5], errorRate: 1 });
      expect((await sendTo(5)).status).toBe(500);
      const calm = { errorRate: 0, timeoutRate: 0, badSignatureRate: 0, down: false, latencyMs: 0 };
      const reset = await control({ nodes: 'all', ...calm });
      expect(await reset.json()).toEqual({ updated: 6 });
      for (const index of [0, 1, 2, 3, 4, 5]) await faultHub.open(index, await sendTo(index));
      for (const bad of [{ errorRate: 2 }, { nodes: [6] }, { latency: 1 }, { down: 'yes' }]) {
        const response = await postJson(`${faultSim.url}/control`, bad);
        expect(response.status).toBe(422);
      }
    });

    it('selects a seeded fraction of the nodes, the same in every run', async () => {
      const options = { nodes: 10, overrides: [{ nodes: { fraction: 0.3 }, down: true }] };
      const downOf = (s: RunningSimulator) => [...Array(10).keys()].filter((i) => s.faultsOf(i).down);
      const [a, b] = [await start(options), await start(options)];
      expect(downOf(a)).toHaveLength(3);
      expect(downOf(b)).toEqual(downOf(a));
    });

    it('draws faults reproducibly from the seed', async () => {
      const statuses = async () => {
        const s = await start({ nodes: 1, faults: { latencyMs: 0, errorRate: 0.5 }, trusted: hub.identity });
        const h = await Hub.create(s, hub.identity);
        const seen: number[] = [];
        for (let k = 0; k < 12; k++) {
          seen.push((await h.post(0, (await h.seal(0, NUMBERS.slice(0, 1))).jwe)).status);
        }
        return seen;
      };
      const first = await statuses();
      expect(new Set(first)).toEqual(new Set([200, 500]));
      expect(await statuses()).toEqual(first);
    });
  });

  describe('stats', () => {
    it('counts messages, queries and refusals per node, and resets', async () => {
      const response = await postJson(`${sim.url}/stats/reset`, {});
      expect(await response.json()).toMatchObject({ messages: 0, queries: 0, refused: 0, byNode: {} });
      await hub.ask(0, NUMBERS.slice(0, 3));
      await hub.ask(0, NUMBERS.slice(0, 2));
      await expectRefused(await hub.post(2, (await hub.seal(2, NUMBERS, { aud: 'sim-0' })).jwe));
      const stats = await (await fetch(`${sim.url}/stats`)).json();
      expect(stats).toEqual({
        messages: 3,
        queries: 5,
        refused: 1,
        answered: 2,
        faults: { error: 0, timeout: 0, badSignature: 0, down: 0, quota: 0 },
        byNode: { 0: { messages: 2, queries: 5, refused: 0 }, 2: { messages: 1, queries: 0, refused: 1 } },
      });
      expect(sim.stats()).toEqual(stats);
    });
  });
});
