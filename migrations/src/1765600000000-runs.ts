import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Runs: run-to-completion work, each attempt in a fresh container of kind 'run' (so quotas,
 * placement, the reconciler and the fault invariants see it) with a fresh slice. The run row
 * outlives its container: it keeps the exit, the captured output and the slice it held, until
 * the retention prunes it. `idempotency_key` is unique per project: a repeated submission gets
 * the first run back.
 */
export class Runs1765600000000 implements MigrationInterface {
  name = 'Runs1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE container ADD COLUMN kind text NOT NULL DEFAULT 'service' CHECK (kind IN ('service', 'run'))`);
    await q.query(`
      CREATE TABLE run (
        id uuid PRIMARY KEY,
        project text NOT NULL REFERENCES project (name) ON DELETE CASCADE,
        spec jsonb NOT NULL,
        state text NOT NULL DEFAULT 'queued'
          CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'timedOut', 'cancelled')),
        attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        container_id uuid,
        exit_code integer,
        signal text,
        timed_out boolean NOT NULL DEFAULT false,
        stdout bytea,
        stderr bytea,
        stdout_truncated boolean NOT NULL DEFAULT false,
        stderr_truncated boolean NOT NULL DEFAULT false,
        stdout_bytes bigint NOT NULL DEFAULT 0,
        stderr_bytes bigint NOT NULL DEFAULT 0,
        node text,
        uid_start bigint,
        uid_count bigint,
        error jsonb,
        priority integer NOT NULL DEFAULT 0,
        idempotency_key text,
        schedule_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        UNIQUE (project, idempotency_key)
      )`);
    await q.query(`CREATE INDEX run_project_created ON run (project, created_at DESC)`);
    await q.query(`CREATE INDEX run_unfinished ON run (state) WHERE state IN ('queued', 'running')`);
    await q.query(`CREATE INDEX run_finished_at ON run (finished_at) WHERE finished_at IS NOT NULL`);
    await q.query(`CREATE INDEX run_container ON run (container_id) WHERE container_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE run`);
    await q.query(`DELETE FROM container WHERE kind = 'run'`);
    await q.query(`ALTER TABLE container DROP COLUMN kind`);
  }
}
