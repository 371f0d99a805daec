import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { aesGcmSeal } from '../../src/crypto/aes-gcm.js';
import { DataKeysRepository } from '../../src/crypto/data-keys.repository.js';
import { loadKeyMaterial } from '../../src/crypto/key-material.js';
import { dataKeyAad, MasterKeySealer } from '../../src/crypto/master-key-sealer.js';
import { MyNumberCipher, numberAad } from '../../src/crypto/my-number-cipher.js';
import { buildOpenApiDocument } from '../../src/http/openapi-build.js';
import { standaloneRotationRunner } from '../../src/keys/standalone-runner.js';
import { finalInquiry, inheritanceBody } from './support/inquiries.js';
import { inClearForm, validMyNumber } from './support/my-numbers.js';
import { eventually, linkageBody, startTestApp, type TestApp, type TestInstitution } from './support/test-app.js';

/**
 * A My Number ciphertext opens only for its row. Someone with the database owner's
 * connection who swaps two subjects' ciphertexts (same institution, same data key)
 * does not get the other person's number shown: the read fails closed with
 * RECORD_INTEGRITY_FAILED, which names no row and no value. Rows written before the
 * binding (format 1, bound to the institution only) are still read, and a blind-index
 * rotation re-seals them to their rows.
 */
describe('My Number ciphertexts are bound to their row', () => {
  let t: TestApp;
  let bank: TestInstitution;
  const numbers = [validMyNumber(5_151_001), validMyNumber(5_151_002)];
  const accounts = ['5151001', '5151002'];
  const linkageIds: string[] = [];
  const subjectIds: string[] = [];

  const read = (i: number) => t.http.get(`/v1/linkages/${linkageIds[i]}`).set(bank.auth);
  const findByAccount = (i: number) =>
    t.http.get('/v1/linkages').query({ branchCode: '001', accountType: 'ordinary', accountNumber: accounts[i] }).set(bank.auth);
  const swapCiphertexts = () =>
    t.db.pool.query(
      `UPDATE subjects s SET my_number_ciphertext = o.my_number_ciphertext, data_key_id = o.data_key_id
         FROM subjects o WHERE (s.id, o.id) IN (($1::uuid, $2::uuid), ($2::uuid, $1::uuid))`,
      subjectIds,
    );
  const formats = async () =>
    (await t.db.pool.query(`SELECT get_byte(my_number_ciphertext, 0) AS f FROM subjects WHERE id = ANY($1) ORDER BY id`, [subjectIds])).rows.map(
      (r) => r.f,
    );

  /** Fails closed: a problem with the stable code, nothing of either person in it. */
  const expectFailedClosed = (res: { status: number; headers: Record<string, string>; body: any; text: string }) => {
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('RECORD_INTEGRITY_FAILED');
    expect(res.body).not.toHaveProperty('subject');
    for (const n of numbers) {
      expect(inClearForm(res.text)).not.toContain(n);
      expect(res.text).not.toContain(n.slice(-4));
    }
    expect(res.text).not.toMatch(/subjects|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}.*does not open/);
  };

  beforeAll(async () => {
    t = await startTestApp();
    // Another Nest context in the same process started with `logger: false` (as the
    // OpenAPI build does) turns Nest's process-wide logger off: the errors below must
    // be logged all the same, through the application's own logger.
    await buildOpenApiDocument();
    bank = await t.createInstitution('0005');
    for (const [i, n] of numbers.entries()) {
      const res = await t.http
        .post('/v1/linkages')
        .set(bank.auth)
        .send(linkageBody(n, { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: accounts[i] }] }))
        .expect(201);
      linkageIds.push(res.body.linkages[0].id);
      subjectIds.push(res.body.subject.id);
    }
  });
  afterAll(() => t.close());

  it('writes the row-bound format, and reads each row as its own', async () => {
    expect(await formats()).toEqual([2, 2]);
    for (const i of [0, 1]) {
      expect((await read(i).expect(200)).body.subject.myNumberMasked).toBe(`********${numbers[i].slice(-4)}`);
    }
  });

  it('a ciphertext swapped into another row fails to open: RECORD_INTEGRITY_FAILED, never the other person', async () => {
    await swapCiphertexts();
    try {
      for (const i of [0, 1]) {
        expectFailedClosed(await read(i));
        expectFailedClosed(await findByAccount(i));
      }
      // Logged for the operator: the code, the request id, and the error naming the row by id only.
      const logged = await eventually(
        async () => t.logs.lines.map((line) => JSON.parse(line)).filter((entry) => entry.code === 'RECORD_INTEGRITY_FAILED'),
        (entries) => entries.length > 0,
      );
      expect(logged[0].requestId).toEqual(expect.any(String));
      expect(logged[0].err).toMatchObject({ type: 'CiphertextMismatchError', message: expect.stringMatching(/^the My Number ciphertext of subjects [0-9a-f-]{36} does not open/) });
      expect(logged[0].err.stack).toContain('CiphertextMismatchError');
      // Counted for the alert (KouzaCiphertextMismatch).
      const metrics = await t.http.get('/metrics').expect(200);
      expect(metrics.text).toMatch(/^kouza_ciphertext_mismatches_total\{[^}]*table="subjects"[^}]*\} [4-9]/m);
      for (const n of numbers) expect(inClearForm(t.logs.text)).not.toContain(n);
    } finally {
      await swapCiphertexts();
    }
    expect((await read(0).expect(200)).body.subject.myNumberMasked).toBe(`********${numbers[0].slice(-4)}`);
  });

  it('format 1 (written before the binding) is still read; a blind-index rotation re-seals it to its row', async () => {
    // Rewrite both subjects as the service wrote them before: bound to the institution only.
    const sealer = new MasterKeySealer(loadKeyMaterial(t.config, () => undefined));
    for (const [i, id] of subjectIds.entries()) {
      const { rows } = await t.db.pool.query(
        `SELECT d.id, d.master_key_id, d.wrapped_key FROM subjects s JOIN data_keys d ON d.id = s.data_key_id WHERE s.id = $1`,
        [id],
      );
      const key = sealer.open({ masterKeyId: rows[0].master_key_id, ciphertext: rows[0].wrapped_key }, dataKeyAad(rows[0].id));
      const legacy = aesGcmSeal(key, Buffer.from(numbers[i], 'ascii'), numberAad(bank.id));
      await t.db.pool.query('UPDATE subjects SET my_number_ciphertext = $2 WHERE id = $1', [id, legacy]);
    }
    expect(await formats()).toEqual([1, 1]);
    for (const i of [0, 1]) expect((await read(i).expect(200)).body.subject.myNumberMasked).toBe(`********${numbers[i].slice(-4)}`);

    // Institution-bound only: swapped, each opens as the other (what the binding prevents).
    await swapCiphertexts();
    expect((await read(0).expect(200)).body.subject.myNumberMasked).toBe(`********${numbers[1].slice(-4)}`);
    await swapCiphertexts();

    // A blind-index rotation to the version already active re-seals them.
    await t.startWorker();
    const started = await t.http.post('/v1/key-rotations').set(t.admin).send({ kind: 'blind-index' }).expect(202);
    const done = await eventually(
      () => t.http.get(`/v1/key-rotations/${started.body.id}`).set(t.admin),
      (r) => ['completed', 'failed'].includes(r.body.status),
      30_000,
    );
    expect(done.body).toMatchObject({ status: 'completed', moved: { subjects: 2 }, remaining: { subjects: 0, inquiries: 0 } });
    expect(await formats()).toEqual([2, 2]);
    for (const i of [0, 1]) expect((await read(i).expect(200)).body.subject.myNumberMasked).toBe(`********${numbers[i].slice(-4)}`);

    // Now bound: a swap fails closed.
    await swapCiphertexts();
    try {
      expectFailedClosed(await read(0));
    } finally {
      await swapCiphertexts();
    }
  }, 60_000);

  it("inquiries: one whose ciphertext was swapped in is never fanned out with the other person's number", async () => {
    // A separate app whose worker has not started: the inquiries stay queued while
    // their ciphertexts are swapped, and are read by the fan-out afterwards.
    const u = await startTestApp({ env: { INQUIRY_DEADLINE_SECONDS: '6' } });
    try {
      const holder = await u.createInstitution('0007');
      const linked = validMyNumber(5_151_101);
      const stranger = validMyNumber(5_151_102);
      await u.http
        .post('/v1/linkages')
        .set(holder.auth)
        .send(linkageBody(linked, { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '5151101' }] }))
        .expect(201);
      const aboutLinked = (await u.http.post('/v1/inquiries').set(holder.auth).send(inheritanceBody(linked)).expect(202)).body.id;
      const aboutStranger = (await u.http.post('/v1/inquiries').set(holder.auth).send(inheritanceBody(stranger)).expect(202)).body.id;
      await u.db.pool.query(
        `UPDATE inquiries i SET my_number_ciphertext = o.my_number_ciphertext, data_key_id = o.data_key_id
           FROM inquiries o WHERE (i.id, o.id) IN (($1::uuid, $2::uuid), ($2::uuid, $1::uuid))`,
        [aboutLinked, aboutStranger],
      );
      await u.startWorker();
      const answered = await finalInquiry(u, holder, aboutStranger, 40_000);
      // Without the binding, the inquiry about the stranger would answer the linked
      // depositor's accounts.
      expect(JSON.stringify(answered)).not.toContain('5151101');
      expect(answered.results.find((r: { institutionCode: string }) => r.institutionCode === '0007')?.status).not.toBe('found');
      const other = await finalInquiry(u, holder, aboutLinked, 40_000);
      expect(other.results.find((r: { institutionCode: string }) => r.institutionCode === '0007')?.status).not.toBe('not-found');
    } finally {
      await u.close();
    }
  }, 90_000);

  it('a rotation to a new blind-index version re-seals every ciphertext it re-indexes, inquiries included', async () => {
    const u = await startTestApp();
    try {
      const holder = await u.createInstitution('0009');
      const linked = validMyNumber(5_151_201);
      const strangers = [validMyNumber(5_151_202), validMyNumber(5_151_203)];
      await u.http
        .post('/v1/linkages')
        .set(holder.auth)
        .send(linkageBody(linked, { accounts: [{ branchCode: '001', accountType: 'ordinary', accountNumber: '5151201' }] }))
        .expect(201);
      // Queued inquiries (no worker): about the linked number (re-indexed through its
      // subject), about strangers (from their own ciphertexts), one of them format 1.
      const inquiry = async (n: string) => (await u.http.post('/v1/inquiries').set(holder.auth).send(inheritanceBody(n)).expect(202)).body.id;
      const ids = { [linked]: await inquiry(linked), [strangers[0]]: await inquiry(strangers[0]), [strangers[1]]: await inquiry(strangers[1]) };
      const keys = loadKeyMaterial(u.config, () => undefined);
      const sealer = new MasterKeySealer(keys);
      const { rows: dk } = await u.db.pool.query(
        `SELECT d.id, d.master_key_id, d.wrapped_key FROM inquiries i JOIN data_keys d ON d.id = i.data_key_id WHERE i.id = $1`,
        [ids[strangers[1]]],
      );
      const key = sealer.open({ masterKeyId: dk[0].master_key_id, ciphertext: dk[0].wrapped_key }, dataKeyAad(dk[0].id));
      await u.db.pool.query('UPDATE inquiries SET my_number_ciphertext = $2 WHERE id = $1', [
        ids[strangers[1]],
        aesGcmSeal(key, Buffer.from(strangers[1], 'ascii'), numberAad(holder.id)),
      ]);

      const withV2 = { ...keys, blindIndexKeys: new Map([...keys.blindIndexKeys, [2, randomBytes(32)]]), activeBlindIndexVersion: 2 };
      const rotationId = randomUUID();
      await u.db.pool.query(`INSERT INTO key_rotations (id, kind, target, source) VALUES ($1, 'blind-index', '2', 'cli')`, [rotationId]);
      expect(await standaloneRotationRunner(u.app.get(DataSource), u.config, withV2).run(rotationId)).toBe('completed');
      const { rows: rotation } = await u.db.pool.query('SELECT moved, remaining FROM key_rotations WHERE id = $1', [rotationId]);
      expect(rotation[0]).toMatchObject({
        moved: { subjects: 1, inquiriesBySubject: 1, inquiriesByCiphertext: 2 },
        remaining: { subjects: 0, inquiries: 0 },
      });

      // Every row under version 2, in format 2, opening for its row under version 2 only.
      const cipher = new MyNumberCipher(sealer, new DataKeysRepository(u.app.get(DataSource)));
      const { rows } = await u.db.pool.query(
        `SELECT 'inquiries' AS t, id, institution_id, blind_index_version, my_number_ciphertext, data_key_id FROM inquiries
         UNION ALL SELECT 'subjects', id, institution_id, blind_index_version, my_number_ciphertext, data_key_id FROM subjects`,
      );
      expect(rows).toHaveLength(4);
      for (const r of rows) {
        expect(r.blind_index_version).toBe(2);
        expect(r.my_number_ciphertext[0]).toBe(2);
        const row = { table: r.t, id: r.id, institutionId: r.institution_id, blindIndexVersion: 2 };
        const n = await cipher.decrypt({ dataKeyId: r.data_key_id, ciphertext: r.my_number_ciphertext }, row);
        expect(r.t === 'subjects' ? n : ids[n]).toBe(r.t === 'subjects' ? linked : r.id);
        await expect(cipher.decrypt({ dataKeyId: r.data_key_id, ciphertext: r.my_number_ciphertext }, { ...row, blindIndexVersion: 1 })).rejects.toThrow();
      }
    } finally {
      await u.close();
    }
  }, 60_000);
});
