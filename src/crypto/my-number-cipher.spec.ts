import { MasterKeySealer } from './master-key-sealer.js';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from '@jest/globals';
import type { DataKeyRow, DataKeysRepository } from './data-keys.repository.js';
import { generateNodeKeyMaterial, type KeyMaterial } from './key-material.js';
import { aesGcmSeal } from './aes-gcm.js';
import { dataKeyAad } from './master-key-sealer.js';
import { CiphertextMismatchError, MyNumberCipher, numberAad, type NumberRow } from './my-number-cipher.js';

/** The data_keys table in memory, with the repository's methods. */
class FakeDataKeys {
  readonly rows: Array<DataKeyRow & { retired: boolean }> = [];

  async findNewestActive(masterKeyId: string): Promise<DataKeyRow | undefined> {
    return this.rows.filter((r) => r.master_key_id === masterKeyId && !r.retired).at(-1);
  }

  async findById(id: string): Promise<DataKeyRow | undefined> {
    return this.rows.find((r) => r.id === id);
  }

  async insertIfNoneActive(row: DataKeyRow): Promise<DataKeyRow> {
    const existing = await this.findNewestActive(row.master_key_id);
    if (existing) return existing;
    this.rows.push({ ...row, wrapped_key: Buffer.from(row.wrapped_key), retired: false });
    return row;
  }
}

function keyMaterial(masterKeys: Record<string, Buffer>, activeMasterKeyId: string): KeyMaterial {
  return {
    masterKeys: new Map(Object.entries(masterKeys)),
    activeMasterKeyId,
    blindIndexKeys: new Map([[1, randomBytes(32)]]),
    activeBlindIndexVersion: 1,
    node: generateNodeKeyMaterial('node-test'),
    generated: false,
  };
}

const NUMBER = '123456789018';
const INSTITUTION = '7b0c2b1e-0000-4000-8000-000000000001';
const OTHER_INSTITUTION = '7b0c2b1e-0000-4000-8000-000000000002';
const ROW: NumberRow = { table: 'subjects', id: '5d1e6a6c-0000-4000-8000-000000000001', institutionId: INSTITUTION, blindIndexVersion: 1 };

describe('MyNumberCipher', () => {
  const m1 = randomBytes(32);
  const m2 = randomBytes(32);
  let repo: FakeDataKeys;
  const cipher = (keys: KeyMaterial) => new MyNumberCipher(new MasterKeySealer(keys), repo as unknown as DataKeysRepository);

  beforeEach(() => {
    repo = new FakeDataKeys();
  });

  it('decrypts what it encrypted', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    await sut.onModuleInit();
    const encrypted = await sut.encrypt(NUMBER, ROW);
    await expect(sut.decrypt(encrypted, ROW)).resolves.toBe(NUMBER);
  });

  it('works without onModuleInit, creating one data key wrapped by the active master key', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    const a = await sut.encrypt(NUMBER, ROW);
    const b = await sut.encrypt('621498320257', ROW);
    expect(repo.rows).toHaveLength(1);
    expect(repo.rows[0].master_key_id).toBe('m1');
    expect(a.dataKeyId).toBe(repo.rows[0].id);
    expect(b.dataKeyId).toBe(repo.rows[0].id);
    await expect(sut.decrypt(b, ROW)).resolves.toBe('621498320257');
  });

  it('another process (same table, same keys) decrypts what this one encrypted', async () => {
    const keys = keyMaterial({ m1 }, 'm1');
    const encrypted = await cipher(keys).encrypt(NUMBER, ROW);
    const other = cipher(keys);
    await expect(other.decrypt(encrypted, ROW)).resolves.toBe(NUMBER);
    await other.onModuleInit();
    expect(repo.rows).toHaveLength(1); // it reuses the active data key
  });

  it('does not put the number in the ciphertext, and encrypts the same number differently each time', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    const a = await sut.encrypt(NUMBER, ROW);
    const b = await sut.encrypt(NUMBER, ROW);
    expect(a.ciphertext.includes(Buffer.from(NUMBER, 'ascii'))).toBe(false);
    expect(a.ciphertext.toString('latin1')).not.toContain(NUMBER);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('binds the ciphertext to its institution', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    const encrypted = await sut.encrypt(NUMBER, ROW);
    await expect(sut.decrypt(encrypted, { ...ROW, institutionId: OTHER_INSTITUTION })).rejects.toThrow();
  });

  it('binds the ciphertext to its row: table, id, blind-index version (format 2)', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    const encrypted = await sut.encrypt(NUMBER, ROW);
    expect(encrypted.ciphertext[0]).toBe(2);
    for (const other of [
      { ...ROW, id: '5d1e6a6c-0000-4000-8000-000000000002' },
      { ...ROW, table: 'inquiries' as const },
      { ...ROW, blindIndexVersion: 2 },
    ]) {
      await expect(sut.decrypt(encrypted, other)).rejects.toThrow(CiphertextMismatchError);
    }
    // The error names the row it was read from, never a value.
    await expect(sut.decrypt(encrypted, { ...ROW, blindIndexVersion: 2 })).rejects.toThrow(`subjects ${ROW.id} does not open`);
  });

  it('still opens a format-1 ciphertext (bound to the institution only), for any row of that institution', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    await sut.onModuleInit();
    const dataKey = repo.rows[0];
    const key = new MasterKeySealer(keyMaterial({ m1 }, 'm1')).open(
      { masterKeyId: dataKey.master_key_id, ciphertext: dataKey.wrapped_key },
      dataKeyAad(dataKey.id),
    );
    const legacy = { dataKeyId: dataKey.id, ciphertext: aesGcmSeal(key, Buffer.from(NUMBER, 'ascii'), numberAad(INSTITUTION)) };
    expect(MyNumberCipher.isInstitutionBound(legacy.ciphertext)).toBe(true);
    await expect(sut.decrypt(legacy, ROW)).resolves.toBe(NUMBER);
    await expect(sut.decrypt(legacy, { ...ROW, id: '5d1e6a6c-0000-4000-8000-000000000009' })).resolves.toBe(NUMBER);
    await expect(sut.decrypt(legacy, { ...ROW, institutionId: OTHER_INSTITUTION })).rejects.toThrow(CiphertextMismatchError);
    // The format byte is not a way around the binding: format 2 turned into 1 does not open.
    const bound = await sut.encrypt(NUMBER, ROW);
    const downgraded = Buffer.from(bound.ciphertext);
    downgraded[0] = 1;
    await expect(sut.decrypt({ ...bound, ciphertext: downgraded }, ROW)).rejects.toThrow(CiphertextMismatchError);
  });

  it('refuses a ciphertext presented with another data key id', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    const encrypted = await sut.encrypt(NUMBER, ROW);
    await expect(sut.decrypt({ ...encrypted, dataKeyId: 'no-such-key' }, ROW)).rejects.toThrow(CiphertextMismatchError);
  });

  it('refuses a tampered ciphertext', async () => {
    const sut = cipher(keyMaterial({ m1 }, 'm1'));
    const encrypted = await sut.encrypt(NUMBER, ROW);
    const ciphertext = Buffer.from(encrypted.ciphertext);
    ciphertext[ciphertext.length - 1] ^= 1;
    await expect(sut.decrypt({ ...encrypted, ciphertext }, ROW)).rejects.toThrow();
  });

  describe('master key rotation', () => {
    it('keeps old ciphertexts readable and encrypts new ones under a new data key', async () => {
      const before = cipher(keyMaterial({ m1 }, 'm1'));
      const old = await before.encrypt(NUMBER, ROW);

      const after = cipher(keyMaterial({ m1, m2 }, 'm2'));
      await after.onModuleInit();
      const fresh = await after.encrypt('621498320257', ROW);

      expect(fresh.dataKeyId).not.toBe(old.dataKeyId);
      expect(repo.rows.find((r) => r.id === fresh.dataKeyId)?.master_key_id).toBe('m2');
      await expect(after.decrypt(old, ROW)).resolves.toBe(NUMBER);
      await expect(after.decrypt(fresh, ROW)).resolves.toBe('621498320257');
    });

    it('cannot decrypt once the master key that wrapped the data key is removed', async () => {
      const old = await cipher(keyMaterial({ m1 }, 'm1')).encrypt(NUMBER, ROW);
      const sut = cipher(keyMaterial({ m2 }, 'm2'));
      await sut.onModuleInit();
      await expect(sut.decrypt(old, ROW)).rejects.toThrow();
    });

    it('cannot unwrap a data key under a different key of the same id', async () => {
      const old = await cipher(keyMaterial({ m1 }, 'm1')).encrypt(NUMBER, ROW);
      const sut = cipher(keyMaterial({ m1: randomBytes(32) }, 'm1'));
      await expect(sut.decrypt(old, ROW)).rejects.toThrow();
    });

    it('refuses to start with a key of the right id that is not the key the database was written with', async () => {
      await cipher(keyMaterial({ m1 }, 'm1')).onModuleInit();
      const sut = cipher(keyMaterial({ m1: randomBytes(32) }, 'm1'));
      await expect(sut.onModuleInit()).rejects.toThrow(/master key "m1" does not unwrap data key/);
    });
  });
});
