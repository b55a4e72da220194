import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Workloads that last: a container's restart policy (Docker's: no, on-failure[:maxRetries],
 * always, unless-stopped), how often it was restarted (in all, and in a row without 10 s of
 * uptime, which sets the backoff), how its last run ended, and whether a user stopped it (always
 * and unless-stopped respect a user's stop until the next start). `restarting`: the run ended and
 * the next one is due after its backoff; nothing runs, and the slice and address stay held.
 */
export class RestartPolicies1765400000000 implements MigrationInterface {
  name = 'RestartPolicies1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE container
        ADD COLUMN restart_policy jsonb NOT NULL DEFAULT '{"name": "no"}'
          CHECK (restart_policy ->> 'name' IN ('no', 'on-failure', 'always', 'unless-stopped')),
        ADD COLUMN restart_count integer NOT NULL DEFAULT 0 CHECK (restart_count >= 0),
        ADD COLUMN restart_streak integer NOT NULL DEFAULT 0 CHECK (restart_streak >= 0),
        ADD COLUMN last_exit jsonb,
        ADD COLUMN stopped_by_user boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE container DROP CONSTRAINT IF EXISTS container_state_check`);
    await q.query(`
      ALTER TABLE container ADD CONSTRAINT container_state_check
        CHECK (state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting', 'lost', 'restarting'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE container SET state = 'failed' WHERE state = 'restarting'`);
    await q.query(`ALTER TABLE container DROP CONSTRAINT IF EXISTS container_state_check`);
    await q.query(`
      ALTER TABLE container ADD CONSTRAINT container_state_check
        CHECK (state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting', 'lost'))`);
    await q.query(`
      ALTER TABLE container
        DROP COLUMN restart_policy, DROP COLUMN restart_count, DROP COLUMN restart_streak,
        DROP COLUMN last_exit, DROP COLUMN stopped_by_user`);
  }
}
