import type pg from 'pg';

/**
 * Everything the database holds, as text: every row of every table, and every bytea
 * column also decoded as if it held ASCII. For scans that nothing is stored in clear.
 */
export async function databaseText(pool: pg.Pool): Promise<{ tables: string[]; lines: string[] }> {
  const { rows: tables } = await pool.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
  const lines: string[] = [];
  for (const { tablename } of tables) {
    const { rows } = await pool.query<{ line: string }>(`SELECT t::text AS line FROM ${tablename} t`);
    lines.push(...rows.map((r) => r.line));
    const columns = await pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND data_type = 'bytea'`,
      [tablename],
    );
    for (const { column_name } of columns.rows) {
      const { rows: bytes } = await pool.query<{ line: string }>(`SELECT encode(${column_name}, 'escape') AS line FROM ${tablename}`);
      lines.push(...bytes.map((r) => String(r.line)));
    }
  }
  return { tables: tables.map((t) => t.tablename), lines };
}
