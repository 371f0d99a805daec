import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import { EMPTY_ANSWERS_OF_INQUIRY, KNOWN_INSTITUTIONS } from '../inquiries/inquiries.repository.js';
import type { NumberingTargetStatus } from './numbering.types.js';

export interface NumberingTargetRow {
  institutionCode: string;
  institutionName: string;
  status: NumberingTargetStatus;
  accounts: number | null;
  reason: string | null;
}

/** The per-target view of a numbering request, over the fan-out's answers. */
@Injectable()
export class NumberingRequestsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * One row per target: the outcome its node reported for it. A node's answer lists
   * every institution it was asked about; one that it left out is `unreachable`
   * (reason `not-in-answer`), as is one whose node never answered by the end. An answer
   * that listed nothing is an entry of empty_answers; an answer beats an "unreachable".
   */
  results(id: string, db: SqlExecutor = this.db): Promise<NumberingTargetRow[]> {
    return db.query(
      `SELECT t.code AS "institutionCode", coalesce(k.name, t.code) AS "institutionName",
              CASE WHEN a.status = 'answered' THEN coalesce(f.e ->> 'status', 'unreachable')
                   WHEN ea.node_id IS NOT NULL OR a.status = 'unreachable' OR i.completed_at IS NOT NULL THEN 'unreachable'
                   ELSE 'pending' END AS status,
              (f.e ->> 'accounts')::int AS accounts,
              CASE WHEN a.status = 'answered' THEN coalesce(f.e ->> 'reason', CASE WHEN f.e IS NULL THEN 'not-in-answer' END)
                   WHEN ea.node_id IS NOT NULL THEN 'not-in-answer' END AS reason
         FROM inquiries i
         CROSS JOIN LATERAL unnest(i.target_codes) AS t(code)
         LEFT JOIN (${KNOWN_INSTITUTIONS}) k ON k.code = t.code
         LEFT JOIN inquiry_answers a ON a.inquiry_id = i.id AND a.node_id = k.node_id
         LEFT JOIN (${EMPTY_ANSWERS_OF_INQUIRY}) ea ON ea.node_id = k.node_id
         LEFT JOIN LATERAL (
           SELECT e FROM jsonb_array_elements(a.found) e WHERE e ->> 'code' = t.code LIMIT 1
         ) f ON true
        WHERE i.id = $1 AND i.kind = 'numbering'
        ORDER BY t.code`,
      [id],
    );
  }
}
