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
 * What a location query asks: a number, and who the querier says holds it. A number
 * alone reveals nothing: a subject is found only where the name key and birth date it
 * is held under here are the query's.
 */
export interface HostedQuery {
  ref: string;
  myNumber: string;
  /** nameKey() of the subject's kana name: the Zengin half-width form without spaces. */
  nameKey: string;
  /** YYYY-MM-DD */
  birthDate: string;
}

/**
 * Every (query, blind-index version) pair probes subjects_blind_index
 * (blind_index_version, blind_index, institution_id), which finds the number at every
 * hosted institution at once; a subject whose name key (its canonical name_kana
 * without spaces, as nameKey() computes it, so as linkages and numbering compare
 * names) or birth date differs from the query's is not a match; the active linkages
 * come by linkages_subject.
 */
export const HOSTED_LOCATE_SQL = `
  SELECT q.ref, i.id AS "institutionId", i.code AS "institutionCode", i.name AS "institutionName",
         s.id AS "subjectId",
         array_agg(l.id ORDER BY l.branch_code, l.account_type, l.account_number) AS "linkageIds",
         jsonb_agg(jsonb_build_object('branchCode', l.branch_code, 'accountType', l.account_type,
                                      'accountNumber', l.account_number)
                   ORDER BY l.branch_code, l.account_type, l.account_number) AS accounts
    FROM unnest($1::text[], $2::smallint[], $3::bytea[], $5::text[], $6::date[]) AS q (ref, version, digest, name_key, birth_date)
    JOIN subjects s ON s.blind_index_version = q.version AND s.blind_index = q.digest
                   AND replace(s.name_kana, ' ', '') = q.name_key AND s.birth_date = q.birth_date
    JOIN institutions i ON i.id = s.institution_id
    JOIN linkages l ON l.subject_id = s.id AND l.status = 'active'
   WHERE $4::text[] IS NULL OR i.code = ANY ($4::text[])
   GROUP BY q.ref, i.id, s.id
   ORDER BY q.ref, i.code`;

/** Where the hosted institutions hold accounts of given My Numbers, for the subjects named. */
@Injectable()
export class HostedLocations {
  constructor(
    private readonly blindIndex: BlindIndex,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  /**
   * One indexed query for all the queries: blind indexes of every held key version,
   * subjects (of the query's name key and birth date) ⋈ active linkages ⋈ institutions;
   * optionally restricted to institution codes. Only matches with at least one active
   * linkage are returned.
   */
  async locate(queries: HostedQuery[], options: { institutionCodes?: string[] } = {}): Promise<HostedMatch[]> {
    if (queries.length === 0 || options.institutionCodes?.length === 0) return [];
    const refs: string[] = [];
    const versions: number[] = [];
    const digests: Buffer[] = [];
    const nameKeys: string[] = [];
    const birthDates: string[] = [];
    for (const query of queries) {
      for (const index of this.blindIndex.computeAll(query.myNumber)) {
        refs.push(query.ref);
        versions.push(index.version);
        digests.push(index.digest);
        nameKeys.push(query.nameKey);
        birthDates.push(query.birthDate);
      }
    }
    const { rows } = await this.pool.query<HostedMatch>({
      name: 'kouza_hosted_locate',
      text: HOSTED_LOCATE_SQL,
      values: [refs, versions, digests, options.institutionCodes ?? null, nameKeys, birthDates],
    });
    return rows;
  }
}
