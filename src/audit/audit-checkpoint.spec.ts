import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { generateNodeIdentity, importPeerKeys } from '../peers/envelope.js';
import { AuditCheckpointLog } from './audit-checkpoint-log.js';
import { checkpointSigner, ownSigningKeys, signCheckpoint, verifyCheckpoint, witnessesOf } from './audit-checkpoint.js';

const link = { seq: '42', hash: randomBytes(32) };

describe('audit checkpoints', () => {
  it('are signed by the node and verified with its public key (as a witness holds it)', async () => {
    const { identity } = await generateNodeIdentity('node-a');
    const jws = await signCheckpoint(identity, link, new Date('2026-04-01T00:00:00Z'));
    expect(checkpointSigner(jws)).toBe('node-a');
    const asPeer = await importPeerKeys('node-a', identity.signingJwk, identity.encryptionJwk);
    const expected = { nodeId: 'node-a', seq: '42', head: link.hash.toString('base64url'), signedAt: '2026-04-01T00:00:00.000Z' };
    expect(await verifyCheckpoint(jws, asPeer)).toEqual(expected);
    expect(await verifyCheckpoint(jws, await ownSigningKeys(identity))).toEqual(expected);
  });

  it('refuse another signer, a changed payload and what is not a checkpoint', async () => {
    const { identity } = await generateNodeIdentity('node-a');
    const { identity: other } = await generateNodeIdentity('node-a');
    const jws = await signCheckpoint(identity, link);
    await expect(verifyCheckpoint(jws, await ownSigningKeys(other))).rejects.toThrow(/signature/);
    const [header, , signature] = jws.split('.');
    const forged = Buffer.from(JSON.stringify({ typ: 'audit-checkpoint', iss: 'node-a', seq: '43', head: link.hash.toString('base64url'), iat: 1 })).toString('base64url');
    await expect(verifyCheckpoint(`${header}.${forged}.${signature}`, await ownSigningKeys(identity))).rejects.toThrow(/signature/);
    const { identity: b } = await generateNodeIdentity('node-b');
    await expect(verifyCheckpoint(await signCheckpoint(b, link), await ownSigningKeys(identity))).rejects.toThrow(/another node/);
    for (const junk of [undefined, 42, 'a.b', 'x'.repeat(5000)]) await expect(verifyCheckpoint(junk, await ownSigningKeys(identity))).rejects.toThrow();
  });

  it('accept a previous key for checkpoints it signed before its notAfter, and refuse those dated after', async () => {
    const { identity: old } = await generateNodeIdentity('node-a');
    const { identity: current } = await generateNodeIdentity('node-a');
    const notAfter = Date.parse('2026-04-01T00:00:00Z') / 1000;
    const asPeer = await importPeerKeys('node-a', current.signingJwk, current.encryptionJwk, [{ jwk: old.signingJwk, notAfter }]);
    const before = await signCheckpoint(old, link, new Date('2026-03-31T23:59:59Z'));
    expect((await verifyCheckpoint(before, asPeer)).signedAt).toBe('2026-03-31T23:59:59.000Z');
    const after = await signCheckpoint(old, link, new Date('2026-04-01T00:00:01Z'));
    await expect(verifyCheckpoint(after, asPeer)).rejects.toThrow(/after its notAfter/);
    // The current key has no such bound.
    expect((await verifyCheckpoint(await signCheckpoint(current, link, new Date('2026-05-01T00:00:00Z')), asPeer)).seq).toBe('42');
  });
});

describe('the checkpoint log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kouza-checkpoints-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('appends lines (creating its directory) and reads the newest first; a missing file holds none', () => {
    const log = new AuditCheckpointLog(join(dir, 'nested', 'log.jsonl'));
    expect(log.newestLines()).toEqual([]);
    log.append('one');
    log.append('two');
    expect(log.newestLines()).toEqual(['two', 'one']);
  });

  it('reads only whole lines of a long log', () => {
    const file = join(dir, 'long.jsonl');
    writeFileSync(file, Array.from({ length: 1000 }, (_, i) => `line-${i}-${'x'.repeat(200)}`).join('\n') + '\n');
    const lines = new AuditCheckpointLog(file).newestLines();
    expect(lines[0]).toMatch(/^line-999-/);
    expect(lines.every((l) => /^line-\d+-x{200}$/.test(l))).toBe(true);
  });
});

describe('witnessesOf', () => {
  const peers = Array.from({ length: 50 }, (_, i) => ({ nodeId: `peer-${i}` }));

  it('picks at most the configured number, stably whatever the order of the peers', () => {
    const chosen = witnessesOf('node-a', peers, 8);
    expect(chosen).toHaveLength(8);
    expect(witnessesOf('node-a', [...peers].reverse(), 8)).toEqual(chosen);
    expect(witnessesOf('node-a', peers, 0)).toEqual([]);
    expect(witnessesOf('node-a', peers.slice(0, 3), 8)).toHaveLength(3);
  });

  it('changes one witness when a chosen peer goes, none when another does, and differs between nodes', () => {
    const chosen = witnessesOf('node-a', peers, 8).map((p) => p.nodeId);
    const withoutChosen = witnessesOf('node-a', peers.filter((p) => p.nodeId !== chosen[0]), 8).map((p) => p.nodeId);
    expect(withoutChosen.filter((id) => !chosen.includes(id))).toHaveLength(1);
    const other = peers.find((p) => !chosen.includes(p.nodeId))!;
    expect(witnessesOf('node-a', peers.filter((p) => p !== other), 8).map((p) => p.nodeId)).toEqual(chosen);
    expect(witnessesOf('node-b', peers, 8).map((p) => p.nodeId)).not.toEqual(chosen);
  });
});
