import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events for runs and projects, and none for a run's hidden container.
 *
 * - run: `run.state` when a run is queued (insert) and on each change of its state (queued ->
 *   running -> succeeded, failed, timedOut or cancelled). GET /runs/:id/wait wakes on it instead
 *   of polling, and the dashboard's Runs page follows it.
 * - project: created, updated (description, quotas, rawIdmapAllowed), deleted. The dashboard's
 *   project switcher and Projects page follow them instead of polling.
 * - container: a run's container (kind 'run') writes no event any more. It is an implementation
 *   detail of its run, hidden from GET /containers, and its created/starting/running/deleted
 *   were four event rows and notifications per run on the runs' hot path; its run's own events
 *   say what a subscriber needs. The WHEN clauses keep the trigger functions from being called.
 */
export class RunAndProjectEvents1765800000000 implements MigrationInterface {
  name = 'RunAndProjectEvents1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER container_event_insert ON container');
    await q.query('DROP TRIGGER container_event_state ON container');
    await q.query('DROP TRIGGER container_event_delete ON container');
    await q.query(`
      CREATE TRIGGER container_event_insert AFTER INSERT ON container
        FOR EACH ROW WHEN (NEW.kind <> 'run') EXECUTE FUNCTION nagaya_container_event()`);
    await q.query(`
      CREATE TRIGGER container_event_state AFTER UPDATE OF state ON container
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.kind <> 'run') EXECUTE FUNCTION nagaya_container_event()`);
    await q.query(`
      CREATE TRIGGER container_event_delete AFTER DELETE ON container
        FOR EACH ROW WHEN (OLD.kind <> 'run') EXECUTE FUNCTION nagaya_container_event()`);

    await q.query(`
      CREATE FUNCTION nagaya_run_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM nagaya_event('run.state', NEW.project, NULL,
          jsonb_strip_nulls(jsonb_build_object('id', NEW.id, 'state', NEW.state,
            'from', CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, 'node', NEW.node,
            'exitCode', NEW.exit_code, 'attempt', NEW.attempt)));
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER run_event_insert AFTER INSERT ON run FOR EACH ROW EXECUTE FUNCTION nagaya_run_event()`);
    await q.query(`
      CREATE TRIGGER run_event_state AFTER UPDATE OF state ON run
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION nagaya_run_event()`);

    await q.query(`
      CREATE FUNCTION nagaya_project_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM nagaya_event('project.created', NEW.name, NULL, jsonb_build_object('project', NEW.name));
        ELSIF TG_OP = 'UPDATE' THEN
          PERFORM nagaya_event('project.updated', NEW.name, NULL, jsonb_build_object('project', NEW.name));
        ELSE
          PERFORM nagaya_event('project.deleted', OLD.name, NULL, jsonb_build_object('project', OLD.name));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER project_event_insert AFTER INSERT ON project FOR EACH ROW EXECUTE FUNCTION nagaya_project_event()`);
    await q.query(`
      CREATE TRIGGER project_event_update AFTER UPDATE ON project
        FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION nagaya_project_event()`);
    await q.query(`CREATE TRIGGER project_event_delete AFTER DELETE ON project FOR EACH ROW EXECUTE FUNCTION nagaya_project_event()`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const trigger of ['project_event_insert', 'project_event_update', 'project_event_delete'])
      await q.query(`DROP TRIGGER IF EXISTS ${trigger} ON project`);
    for (const trigger of ['run_event_insert', 'run_event_state']) await q.query(`DROP TRIGGER IF EXISTS ${trigger} ON run`);
    await q.query('DROP FUNCTION IF EXISTS nagaya_project_event()');
    await q.query('DROP FUNCTION IF EXISTS nagaya_run_event()');
    for (const trigger of ['container_event_insert', 'container_event_state', 'container_event_delete'])
      await q.query(`DROP TRIGGER IF EXISTS ${trigger} ON container`);
    await q.query(`CREATE TRIGGER container_event_insert AFTER INSERT ON container FOR EACH ROW EXECUTE FUNCTION nagaya_container_event()`);
    await q.query(`
      CREATE TRIGGER container_event_state AFTER UPDATE OF state ON container
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION nagaya_container_event()`);
    await q.query(`CREATE TRIGGER container_event_delete AFTER DELETE ON container FOR EACH ROW EXECUTE FUNCTION nagaya_container_event()`);
  }
}
