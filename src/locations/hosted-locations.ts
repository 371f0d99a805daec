import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { BlindIndex } from '../crypto/blind-index.js';
import { PG_POOL } from '../database/database.module.js';

export interface HostedAccount {
  branchCode: string;
  accountType: string;
  accountNumber: string;
}

export interface HostedMatch {
  ref: string;
  institutionId: string;
  institutionCode: string;
  institutionName: string;
  subjectId: string;
  linkageIds: string[];
  accounts: HostedAccount[];
}

/**
 * Every (query, blind-index version) pair probes subjects_blind_index
 * (blind_index_version, blind_index, institution_id), which finds the number at every
 * hosted institution at once; the active linkages come by linkages_subject.
 */
export const HOSTED_LOCATE_SQL = `
  SELECT q.ref, i.id AS "institutionId", i.code AS "institutionCode", i.name AS "institutionName",
         s.id AS "subjectId",
         array_agg(l.id ORDER BY l.branch_code, l.account_type, l.account_number) AS "linkageIds",
         jsonb_agg(jsonb_build_object('branchCode', l.branch_code, 'accountType', l.account_type,
                                      'accountNumber', l.account_number)
                   ORDER BY l.branch_code, l.account_type, l.account_number) AS accounts
    FROM unnest($1::text[], $2::smallint[], $3::bytea[]) AS q (ref, version, digest)
    JOIN subjects s ON s.blind_index_version = q.version AND s.blind_index = q.digest
    JOIN institutions i ON i.id = s.institution_id
    JOIN linkages l ON l.subject_id = s.id AND l.status = 'active'
   WHERE $4::text[] IS NULL OR i.code = ANY ($4::text[])
   GROUP BY q.ref, i.id, s.id
   ORDER BY q.ref, i.code`;

/** Where the hosted institutions hold accounts of given My Numbers. */
@Injectable()
export class HostedLocations {
  constructor(
    private readonly blindIndex: BlindIndex,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  /**
   * One indexed query for all the queries: blind indexes of every held key version,
   * subjects ⋈ active linkages ⋈ institutions; optionally restricted to institution codes.
   * Only matches with at least one active linkage are returned.
   */
  async locate(queries: { ref: string; myNumber: string }[], options: { institutionCodes?: string[] } = {}): Promise<HostedMatch[]> {
    if (queries.length === 0 || options.institutionCodes?.length === 0) return [];
    const refs: string[] = [];
    const versions: number[] = [];
    const digests: Buffer[] = [];
    for (const query of queries) {
      for (const index of this.blindIndex.computeAll(query.myNumber)) {
        refs.push(query.ref);
        versions.push(index.version);
        digests.push(index.digest);
      }
    }
    const { rows } = await this.pool.query<HostedMatch>({
      name: 'kouza_hosted_locate',
      text: HOSTED_LOCATE_SQL,
      values: [refs, versions, digests, options.institutionCodes ?? null],
    });
    return rows;
  }
}
