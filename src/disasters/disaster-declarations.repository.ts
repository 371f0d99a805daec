import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SqlExecutor } from '../database/sql-executor.js';
import type { DisasterDeclarationDto } from './dto/disaster-declaration.dto.js';

const COLUMNS = `id, name, municipality_codes AS "municipalityCodes", starts_at AS "startsAt", ends_at AS "endsAt",
  (now() >= starts_at AND now() < ends_at) AS active, created_at AS "createdAt"`;

@Injectable()
export class DisasterDeclarationsRepository {
  constructor(private readonly db: DataSource) {}

  async insert(
    executor: SqlExecutor,
    row: { id: string; name: string; municipalityCodes: string[]; startsAt: string; endsAt: string },
  ): Promise<DisasterDeclarationDto> {
    const rows: DisasterDeclarationDto[] = await executor.query(
      `INSERT INTO disaster_declarations (id, name, municipality_codes, starts_at, ends_at)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [row.id, row.name, row.municipalityCodes, row.startsAt, row.endsAt],
    );
    return rows[0];
  }

  async find(id: string): Promise<DisasterDeclarationDto | undefined> {
    const rows: DisasterDeclarationDto[] = await this.db.query(
      `SELECT ${COLUMNS} FROM disaster_declarations WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  list(): Promise<DisasterDeclarationDto[]> {
    return this.db.query(`SELECT ${COLUMNS} FROM disaster_declarations ORDER BY created_at DESC`);
  }

  /**
   * The active declaration covering a (five-digit) municipality: the one named, when
   * `id` is given, else the latest. Undefined when none is in force there now.
   */
  async findActiveCovering(municipalityCode: string, id?: string): Promise<DisasterDeclarationDto | undefined> {
    const rows: DisasterDeclarationDto[] = await this.db.query(
      `SELECT ${COLUMNS} FROM disaster_declarations
        WHERE municipality_codes @> ARRAY[$1::text] AND now() >= starts_at AND now() < ends_at
          AND ($2::uuid IS NULL OR id = $2::uuid)
        ORDER BY starts_at DESC LIMIT 1`,
      [municipalityCode, id ?? null],
    );
    return rows[0];
  }
}
