import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PeerClient, PeerUnreachableError, type PeerNode } from '../../src/peers/peer-client.js';
import { PeersRepository } from '../../src/peers/peers.repository.js';
import { nameKey } from '../../src/register/register-keys.js';
import { seededAccounts, seededHolder } from '../../src/simulator/seeded.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/simulator.js';
import { validMyNumber } from './support/my-numbers.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

const SEED = 'e2e';
const HIT_RATE = 0.4;
const NUMBERS = Array.from({ length: 12 }, (_, i) => validMyNumber(77_000 + i));
/** Each query names the number's seeded holder: a simulated node answers only for it. */
const subjectOf = (myNumber: string) => {
  const holder = seededHolder(SEED, myNumber);
  return { nameKey: nameKey(holder.nameKana)!, birthDate: holder.birthDate };
};
const QUERIES = NUMBERS.map((myNumber, i) => ({ ref: `r${i}`, myNumber, ...subjectOf(myNumber) }));

/**
 * The simulator against the real kouza-hub: registered through POST /v1/peers from its
 * manifest, trusting the app's GET /v1/node, and answering (or misbehaving for)
 * kouza-hub's own PeerClient.
 */
describe('peer-node simulator with kouza-hub', () => {
  let hub: TestApp;
  let hubUrl: string;
  let sim: RunningSimulator;
  let peers: Map<string, PeerNode>;

  beforeAll(async () => {
    hub = await startTestApp();
    await hub.app.listen({ port: 0, host: '127.0.0.1' });
    hubUrl = `http://127.0.0.1:${(hub.app.getHttpServer().address() as AddressInfo).port}`;
    sim = await startSimulator({
      nodes: 5,
      seed: SEED,
      hitRate: HIT_RATE,
      faults: { latencyMs: 0 },
      trust: [`${hubUrl}/v1/node`],
    });
    for (const node of sim.manifest) await hub.http.post('/v1/peers').set(hub.admin).send(node).expect(201);
    peers = new Map((await hub.app.get(PeersRepository).listActive()).map((p) => [p.nodeId, p]));
  });

  afterAll(async () => {
    await sim?.close();
    await hub?.close();
  });

  const locate = (index: number, timeoutMs?: number) =>
    hub.app.get(PeerClient).locate(peers.get(`sim-${index}`)!, 'inheritance', QUERIES, { timeoutMs });

  it('answers kouza-hub’s PeerClient with exactly the seeded accounts', async () => {
    const found = await locate(0);
    const expected = QUERIES.map(({ ref, myNumber }) => {
      const accounts = seededAccounts(SEED, HIT_RATE, myNumber, '5000');
      return [ref, accounts.length > 0 ? [{ code: '5000', accounts }] : []] as const;
    });
    expect(expected.filter(([, institutions]) => institutions.length > 0).length).toBeGreaterThan(0);
    expect([...found].map(([ref, institutions]) => [ref, institutions])).toEqual(expected);
  });

  it.each([
    ['a wrong name', { nameKey: 'ｽｽﾞｷﾊﾅｺ' }],
    ['a wrong birth date', { birthDate: '1900-01-01' }],
  ])('answers nothing for a query naming %s, as kouza-hub would', async (_what, wrong) => {
    const found = await hub.app.get(PeerClient).locate(peers.get('sim-0')!, 'disaster', QUERIES.map((q) => ({ ...q, ...wrong })));
    expect([...found.values()].flat()).toEqual([]);
  });

  it.each([
    ['a forged signature', { badSignatureRate: 1 }, 'forged'],
    ['an error', { errorRate: 1 }, 'http-status'],
    ['a dropped connection', { down: true }, 'network'],
    ['no answer', { timeoutRate: 1 }, 'timeout'],
  ] as const)('makes PeerClient report %s as unreachable (%s)', async (_what, fault, reason) => {
    sim.control({ nodes: [1], errorRate: 0, timeoutRate: 0, badSignatureRate: 0, down: false, ...fault });
    await expect(locate(1, 500)).rejects.toMatchObject({ reason });
    await expect(locate(1, 500)).rejects.toBeInstanceOf(PeerUnreachableError);
  });

  it('refuses kouza-hub’s messages when it does not trust that kouza-hub (PeerClient: refused)', async () => {
    // Same seed, so the same keys as sim-0, but no trust configured.
    const untrusting = await startSimulator({ nodes: 1, seed: SEED, faults: { latencyMs: 0 } });
    try {
      const peer = { ...peers.get('sim-0')!, endpointUrl: untrusting.manifest[0].endpointUrl };
      await expect(hub.app.get(PeerClient).locate(peer, 'inheritance', QUERIES)).rejects.toMatchObject({
        reason: 'refused',
      });
      expect(untrusting.stats()).toMatchObject({ messages: 1, refused: 1 });
    } finally {
      await untrusting.close();
    }
  });

  it('counts one message per locate call', async () => {
    sim.resetStats();
    await locate(2);
    await locate(3);
    expect(sim.stats()).toMatchObject({
      messages: 2,
      queries: 2 * QUERIES.length,
      answered: 2,
      byNode: { 2: { messages: 1 }, 3: { messages: 1 } },
    });
  });

  it('npm run simulator -- --register registers every node in one command', async () => {
    const cli = fileURLToPath(new URL('../../dist/src/simulator/cli.js', import.meta.url));
    if (!existsSync(cli)) throw new Error('build first: the CLI runs from dist/ (npm test builds it)');
    const child: ChildProcess = spawn(
      process.execPath,
      [cli, '--nodes', '3', '--port', '0', '--node-id-prefix', 'cli-', '--code-base', '6000', '--register', hubUrl],
      { env: { ...process.env, ADMIN_API_KEY: ADMIN_KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const lines = createInterface({ input: child.stdout! });
      const output: string[] = [];
      for await (const line of lines) {
        output.push(line);
        if (line.startsWith('registered')) break;
      }
      expect(output[0]).toMatch(/^peer-node simulator: 3 nodes at http:\/\/127\.0\.0\.1:\d+/);
      expect(output[1]).toBe(`registered 3 nodes at ${hubUrl}`);
      const listed = (await hub.http.get('/v1/peers').set(hub.admin).expect(200)).body;
      const items: { nodeId: string }[] = Array.isArray(listed) ? listed : listed.items;
      expect(items.map((p) => p.nodeId)).toEqual(expect.arrayContaining(['cli-0', 'cli-1', 'cli-2']));
    } finally {
      child.kill('SIGTERM');
    }
  });
});
