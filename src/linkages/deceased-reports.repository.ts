import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor.js';

/**
 * A report that a linkage's holder died, always with the date of death and the
 * evidence the heir brought: from an inheritance inquiry made here (with the inquiry),
 * or from a peer node's inheritance query whose `deceased` claim carried them
 * (reported by that node). Only a match of the subject (number, name key and birth
 * date) is reported. The first report is kept.
 */
export interface DeceasedReport {
  linkageIds: string[];
  dateOfDeath: string;
  evidence: { type: string; reference: string }[];
  inquiryId?: string;
  peerNodeId?: string;
}

@Injectable()
export class DeceasedReportsRepository {
  async record(executor: SqlExecutor, reports: DeceasedReport[]): Promise<void> {
    const rows = reports.flatMap((r) => r.linkageIds.map((id) => ({ id, ...r })));
    if (rows.length === 0) return;
    await executor.query(
      `UPDATE linkages l
          SET holder_reported_deceased_at = now(), holder_date_of_death = r.date_of_death::date,
              deceased_inquiry_id = r.inquiry_id, deceased_reported_by_node = r.node_id, deceased_evidence = r.evidence
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[])
              AS r(linkage_id, date_of_death, inquiry_id, node_id, evidence)
        WHERE l.id = r.linkage_id AND l.holder_reported_deceased_at IS NULL`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.dateOfDeath),
        rows.map((r) => r.inquiryId ?? null),
        rows.map((r) => r.peerNodeId ?? null),
        rows.map((r) => JSON.stringify(r.evidence.map((e) => ({ type: e.type, reference: e.reference })))),
      ],
    );
  }
}
