/** Anything that runs SQL: the DataSource, or a transaction's EntityManager. */
export interface SqlExecutor {
  query<T = any>(sql: string, parameters?: unknown[]): Promise<T>;
}

/** TypeORM answers an UPDATE or DELETE with `[rows, rowCount]`; these are the RETURNING rows. */
export function returnedRows<T>(result: unknown): T[] {
  return (result as [T[], number])[0];
}
