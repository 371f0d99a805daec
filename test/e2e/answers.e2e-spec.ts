import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { FanoutRepository } from '../../src/inquiries/fanout/fanout.repository.js';
import { HOSTED_NODE_ID } from '../../src/inquiries/inquiry.types.js';
import { generateNodeIdentity } from '../../src/peers/envelope.js';
import { inheritanceBody } from './support/inquiries.js';
import { validMyNumber } from './support/my-numbers.js';
import { startTestApp } from './support/test-app.js';
import type { TestApp, TestInstitution } from './support/test-app.js';

/**
 * How node answers are stored and read back (migration 26): an answer that lists nothing
 * is an entry of empty_answers (one row per node and write), any other a row of
 * inquiry_answers; the inquiry's view and its completion read both. No worker runs here:
 * the test plays the fan-out's part with the repository, on inquiries it marks running.
 */
describe('node answers: empty ones compact, every one read back', () => {
  let t: TestApp;
  let requester: TestInstitution;
  let repository: FanoutRepository;
  let db: DataSource;
  /** Peer nodes P and Q (one institution each): their peers.id. */
  const peers: Record<'p' | 'q', string> = { p: '', q: '' };

  const register = async (name: string, code: string) => {
    const { identity } = await generateNodeIdentity(name);
    const body = { nodeId: identity.nodeId, endpointUrl: 'http://127.0.0.1:9', signingKey: identity.signingJwk, encryptionKey: identity.encryptionJwk, institutions: [{ code, name: `Bank ${code}` }] };
    return (await t.http.post('/v1/peers').set(t.admin).send(body).expect(201)).body.id as string;
  };
  /** Running inquiries of one new fan-out, asking 0001 (hosted), 0101 (P) and 0102 (Q). */
  const running = async (n: number) => {
    const fanoutId = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const body = inheritanceBody(validMyNumber(700 + ids.length + Math.floor(Math.random() * 1e5)), { targetInstitutions: ['0001', '0101', '0102'] });
      ids.push((await t.http.post('/v1/inquiries').set(requester.auth).send(body).expect(202)).body.id);
    }
    await t.db.query(
      `UPDATE inquiries SET status = 'running', fanout_id = $2, fanout_started_at = now(), started_at = now() WHERE id = ANY ($1::uuid[])`,
      [ids, fanoutId],
    );
    return { fanoutId, ids };
  };
  const view = async (id: string) => (await t.http.get(`/v1/inquiries/${id}`).set(requester.auth).expect(200)).body;
  const statuses = async (id: string) => Object.fromEntries((await view(id)).results.map((r: any) => [r.institutionCode, r.status]));
  const rowsOf = async (ids: string[]) => ({
    listed: Number((await t.db.query(`SELECT count(*) AS n FROM inquiry_answers WHERE inquiry_id = ANY ($1::uuid[])`, [ids]))[0].n),
    empty: Number((await t.db.query(`SELECT count(*) AS n FROM empty_answers WHERE inquiry_ids && $1::uuid[]`, [ids]))[0].n),
  });

  beforeAll(async () => {
    t = await startTestApp();
    requester = await t.createInstitution('0001');
    peers.p = await register('node-p', '0101');
    peers.q = await register('node-q', '0102');
    db = t.app.get(DataSource);
    repository = new FanoutRepository(db);
  });
  afterAll(() => t.close());

  it('writes the empty answers of one write as one row per node, and reads each as not-found', async () => {
    const { ids } = await running(3);
    const written = await repository.writeAnswers(db, [
      ...ids.map((id) => ({ inquiryId: id, nodeId: peers.p, status: 'answered' as const, found: [] })),
      ...ids.map((id) => ({ inquiryId: id, nodeId: HOSTED_NODE_ID, status: 'answered' as const })),
      { inquiryId: ids[0], nodeId: peers.q, status: 'answered', found: [{ code: '0102', accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '1234567' }] }] },
    ]);
    expect(written.sort()).toEqual([...ids, ...ids, ids[0]].sort());
    // Two rows for six empty answers; the one answer with accounts is a row of its own.
    expect(await rowsOf(ids)).toEqual({ listed: 1, empty: 2 });
    expect(await statuses(ids[0])).toEqual({ '0001': 'not-found', '0101': 'not-found', '0102': 'found' });
    expect(await statuses(ids[1])).toEqual({ '0001': 'not-found', '0101': 'not-found', '0102': 'pending' });
    // A retry asks again only where nothing is recorded.
    expect([...(await repository.answered(ids, peers.q))]).toEqual([ids[0]]);
    expect([...(await repository.answered(ids, peers.p))].sort()).toEqual([...ids].sort());
  });

  it('completes an inquiry every node answered, and makes one partial where a node did not, recording it unreachable', async () => {
    const { fanoutId, ids } = await running(2);
    const empty = (nodeId: string, id: string) => ({ inquiryId: id, nodeId, status: 'answered' as const, found: [] });
    await repository.writeAnswers(db, [...ids.map((id) => empty(HOSTED_NODE_ID, id)), ...ids.map((id) => empty(peers.p, id)), empty(peers.q, ids[0])]);
    const final = await repository.finalize(db, { fanoutId }, 'no answer');
    expect(Object.fromEntries(final.map((f) => [f.id, f.status]))).toEqual({ [ids[0]]: 'completed', [ids[1]]: 'partial' });
    expect(await statuses(ids[1])).toEqual({ '0001': 'not-found', '0101': 'not-found', '0102': 'unreachable' });
    const [row] = await t.db.query(`SELECT node_id, status, failure FROM inquiry_answers WHERE inquiry_id = $1`, [ids[1]]);
    expect(row).toEqual({ node_id: peers.q, status: 'unreachable', failure: 'no answer' });
    // Final: a late answer changes nothing.
    expect(await repository.writeAnswers(db, [empty(peers.q, ids[1])])).toEqual([]);
    expect(await statuses(ids[1])).toEqual({ '0001': 'not-found', '0101': 'not-found', '0102': 'unreachable' });
  });

  it('an answer beats an earlier "unreachable" (the node did answer); a repeated answer is read once', async () => {
    const { fanoutId, ids } = await running(2);
    const [a, b] = ids;
    await repository.writeAnswers(db, [
      { inquiryId: a, nodeId: peers.p, status: 'unreachable', failure: 'timeout' },
      { inquiryId: b, nodeId: peers.p, status: 'unreachable', failure: 'timeout' },
    ]);
    await repository.writeAnswers(db, [
      { inquiryId: a, nodeId: peers.p, status: 'answered', found: [] },
      { inquiryId: b, nodeId: peers.p, status: 'answered', found: [{ code: '0101', accounts: [{ branchCode: '002', accountType: 'savings', accountNumber: '7654321' }] }] },
    ]);
    // The same empty answers again (a node job that ran twice), and every other node.
    for (let i = 0; i < 2; i++) {
      await repository.writeAnswers(db, [a, b].flatMap((id) => [HOSTED_NODE_ID, peers.q].map((nodeId) => ({ inquiryId: id, nodeId, status: 'answered' as const }))));
    }
    const final = await repository.finalize(db, { fanoutId }, 'no answer');
    expect(final.map((f) => f.status)).toEqual(['completed', 'completed']);
    expect((await view(a)).results.map((r: any) => r.status)).toEqual(['not-found', 'not-found', 'not-found']);
    expect((await view(b)).results).toEqual([
      { institutionCode: '0001', institutionName: 'Bank 0001', status: 'not-found', accounts: [] },
      { institutionCode: '0101', institutionName: 'Bank 0101', status: 'found', accounts: [{ branchCode: '002', accountType: 'savings', accountNumber: '7654321' }] },
      { institutionCode: '0102', institutionName: 'Bank 0102', status: 'not-found', accounts: [] },
    ]);
  });

  it('admission: while a fan-out is in flight, a batch that is not full waits to fill, unless more urgent or it has waited long enough', async () => {
    const post = async (body: Record<string, unknown>) => (await t.http.post('/v1/inquiries').set(requester.auth).send(body).expect(202)).body.id as string;
    const claim = (limit: number, mostUrgent: number) =>
      db.transaction(async (tx) => (await repository.claim(tx, randomUUID(), limit, { mostUrgent, maxWaitMs: 60_000 })).map((c) => c.id).sort());
    // The earlier tests left inheritance inquiries running: a fan-out in flight.
    expect(await repository.fanoutsInFlight(db)).toEqual({ fanouts: expect.any(Number), mostUrgent: 2 });
    const queued = [await post(inheritanceBody(validMyNumber(901))), await post(inheritanceBody(validMyNumber(902)))].sort();
    expect(await claim(3, 2)).toEqual([]); // two of three, freshly queued: they wait
    expect(await repository.anyQueued(db)).toBe(true);
    expect(await claim(2, 2)).toEqual(queued); // full
    // Nothing else in flight, the lone inquiry leaves at once.
    const lone = await post(inheritanceBody(validMyNumber(903)));
    expect(await db.transaction(async (tx) => (await repository.claim(tx, randomUUID(), 3)).map((c) => c.id))).toEqual([lone]);
    // Its oldest inquiry has waited maxWaitMs: it leaves, full or not.
    const waited = await post(inheritanceBody(validMyNumber(904)));
    expect(await claim(3, 2)).toEqual([]);
    await t.db.query(`UPDATE inquiries SET created_at = created_at - interval '2 minutes' WHERE id = $1`, [waited]);
    expect(await claim(3, 2)).toEqual([waited]);
    // More urgent than every fan-out in flight (inheritance, 2, against numbering, 3): leaves at once.
    const urgent = await post(inheritanceBody(validMyNumber(905)));
    expect(await claim(3, 3)).toEqual([urgent]);
  });

  it('the database refuses an empty or nested list of inquiries', async () => {
    for (const ids of [`'{}'`, `ARRAY[ARRAY['${randomUUID()}'::uuid]]`]) {
      await expect(t.db.query(`INSERT INTO empty_answers (node_id, inquiry_ids) VALUES ($1, ${ids})`, [peers.p])).rejects.toThrow(/check constraint/);
    }
  });
});
