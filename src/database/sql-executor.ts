/** Anything that runs SQL: the DataSource, or a transaction's EntityManager. */
export interface SqlExecutor {
  query<T = any>(sql: string, parameters?: unknown[]): Promise<T>;
}
