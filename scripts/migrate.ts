// `npm run migrate`: applies pending TypeORM migrations to DATABASE_URL.
import { runMigrations } from '@nagaya/migrations';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/nagaya';

runMigrations(databaseUrl).then(
  (applied) => {
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
  },
  (err: unknown) => {
    console.error('migration failed:', err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
