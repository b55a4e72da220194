import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * nagaya_claim_run: a worker's claim of a run in one round trip instead of a six-statement
 * transaction (BEGIN, read, lock, count, update, COMMIT), which was a quarter of a run's
 * statements. The project's advisory lock (the same key the transaction took, 'run:' || project)
 * serialises claims of one project; in PL/pgSQL under READ COMMITTED each statement takes a new
 * snapshot, so the count after the lock sees every claim that committed before it, and two
 * workers cannot both take a project's last place.
 *
 * A fresh claim (queued -> running) also begins the run's next attempt in `new_container`
 * (attempt + 1, its slice and error cleared), which was one more statement per run.
 *
 * Returns the run as it is afterwards: running (claimed, its container_id then `new_container`;
 * or a running run a worker takes up again, its container_id that of the attempt in progress),
 * still queued (its project has `project_limit` runs running), or no row (the run is final,
 * cancelled or gone).
 */
export class RunClaimFunction1765900000000 implements MigrationInterface {
  name = 'RunClaimFunction1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION nagaya_claim_run(in_id uuid, in_node text, project_limit integer, new_container uuid) RETURNS SETOF run
      LANGUAGE plpgsql AS $$
      DECLARE
        current_run run;
      BEGIN
        SELECT * INTO current_run FROM run WHERE id = in_id;
        IF NOT FOUND OR current_run.state NOT IN ('queued', 'running') THEN
          RETURN;
        END IF;
        IF current_run.state = 'running' THEN
          -- a worker died holding it: taken up as it is
          RETURN QUERY
            UPDATE run SET node = coalesce(node, in_node) WHERE id = in_id AND state = 'running' RETURNING *;
          RETURN;
        END IF;
        PERFORM pg_advisory_xact_lock(hashtext('run:' || current_run.project));
        IF (SELECT count(*) FROM run WHERE project = current_run.project AND state = 'running') >= project_limit THEN
          RETURN NEXT current_run;
          RETURN;
        END IF;
        RETURN QUERY
          UPDATE run SET state = 'running', node = in_node, started_at = coalesce(started_at, now()),
                         container_id = new_container, attempt = attempt + 1, uid_start = NULL, uid_count = NULL, error = NULL
           WHERE id = in_id AND state = 'queued'
          RETURNING *;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION IF EXISTS nagaya_claim_run(uuid, text, integer, uuid)');
  }
}
