import type { KeyMaterial } from '../crypto/key-material.js';
import { KeyMaterialError } from '../crypto/key-material.js';
import type { SqlExecutor } from '../database/sql-executor.js';

/** The distinct values of a leading index column, one index probe each (a loose index scan). */
function distinctVersions(table: 'subjects' | 'inquiries'): string {
  return `
    WITH RECURSIVE v AS (
      SELECT min(blind_index_version) AS version FROM ${table}
      UNION ALL
      SELECT (SELECT min(blind_index_version) FROM ${table} WHERE blind_index_version > v.version) FROM v WHERE v.version IS NOT NULL
    ) SELECT version FROM v WHERE version IS NOT NULL`;
}

/**
 * At start-up (API and worker): the keys configured must open what the database holds.
 * - Subjects under a blind-index version not in BLIND_INDEX_KEYS would no longer be
 *   found by look-ups (a linkage missed, an inquiry answered "not found"): refuse to start.
 * - Data keys or webhook secrets under a master key not in MASTER_KEYS cannot be opened:
 *   refuse to start.
 * - Inquiries under a version not held (final ones about numbers never linked here,
 *   which a rotation cannot re-index) only drop out of the depositor's access history:
 *   warn, with the count.
 */
export async function assertKeysCoverData(db: SqlExecutor, keys: KeyMaterial, warn: (message: string) => void): Promise<void> {
  const held = (v: number) => keys.blindIndexKeys.has(v);
  const subjects: { version: number }[] = await db.query(distinctVersions('subjects'));
  const missingSubjects = subjects.map((r) => Number(r.version)).filter((v) => !held(v));
  if (missingSubjects.length > 0) {
    throw new KeyMaterialError(
      `subjects are indexed under blind-index version(s) ${missingSubjects.join(', ')} that BLIND_INDEX_KEYS does not hold: ` +
        'look-ups would miss them. Put the key back, or finish a blind-index rotation before removing it.',
    );
  }
  const masters: { id: string }[] = await db.query(
    `SELECT DISTINCT master_key_id AS id FROM data_keys
     UNION SELECT DISTINCT webhook_secret_master_key_id FROM institutions WHERE webhook_secret_master_key_id IS NOT NULL
     UNION SELECT DISTINCT webhook_previous_secret_master_key_id FROM institutions WHERE webhook_previous_secret_master_key_id IS NOT NULL`,
  );
  const missingMasters = masters.map((r) => r.id).filter((id) => !keys.masterKeys.has(id));
  if (missingMasters.length > 0) {
    throw new KeyMaterialError(
      `data keys or webhook secrets are wrapped under master key(s) ${missingMasters.map((id) => `"${id}"`).join(', ')} ` +
        'that MASTER_KEYS does not hold. Put the key back, or finish a master-key rotation before removing it.',
    );
  }
  const inquiries: { version: number }[] = await db.query(distinctVersions('inquiries'));
  for (const version of inquiries.map((r) => Number(r.version)).filter((v) => !held(v))) {
    const [{ count }]: { count: string }[] = await db.query(
      'SELECT count(*) AS count FROM inquiries WHERE blind_index_version = $1',
      [version],
    );
    warn(
      `${count} inquiries are indexed under blind-index version ${version}, which BLIND_INDEX_KEYS no longer holds: ` +
        "they no longer appear in the depositor's access history.",
    );
  }
}
