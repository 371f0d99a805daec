import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor.js';

/**
 * A report that a linkage's holder died: from an inheritance inquiry made here (with
 * the date of death and the inquiry), or from a peer node's location query marked
 * `deceased` (the node is known, the date is not). The first report is kept.
 */
export interface DeceasedReport {
  linkageIds: string[];
  dateOfDeath?: string;
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
              deceased_inquiry_id = r.inquiry_id, deceased_reported_by_node = r.node_id
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[]) AS r(linkage_id, date_of_death, inquiry_id, node_id)
        WHERE l.id = r.linkage_id AND l.holder_reported_deceased_at IS NULL`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.dateOfDeath ?? null),
        rows.map((r) => r.inquiryId ?? null),
        rows.map((r) => r.peerNodeId ?? null),
      ],
    );
  }
}
