import { DataSource } from 'typeorm';

/** API and worker refuse to run against a schema older than their code. */
export async function assertSchemaIsCurrent(dataSource: DataSource): Promise<void> {
  if (await dataSource.showMigrations()) {
    throw new Error('The database has migrations pending: run `npm run migrate` (or `npm start`, which applies them).');
  }
}
