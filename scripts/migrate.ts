// `npm run migrate`: applies pending TypeORM migrations to DATABASE_URL, else to the database
// scripts/ensure-services.sh made (its URL in <data dir>/secrets/database-url).
import { runMigrations } from '@nagaya/migrations';
import { databaseUrlOf } from '../packages/server/src/deploy/service-urls';

Promise.resolve()
  .then(() => runMigrations(databaseUrlOf(process.env)))
  .then(
    (applied) => {
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
    },
    (err: unknown) => {
      console.error('migration failed:', err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
