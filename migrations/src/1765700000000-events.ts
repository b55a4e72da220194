import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Events a subscriber is guaranteed to be able to resume across (the API promises 10,000). */
const RETAINED_EVENTS = 20_000;

/**
 * Events: what changed in the fleet, one row per change, written by triggers on the tables the
 * change goes through (so no code path can forget one) and read by id by GET /events.
 *
 * - container: created, state changed (only a change of `state`: the WHEN clause is evaluated
 *   without calling the function, so the launch path's other updates cost nothing), deleted;
 * - job: created (its state lives in the queue, not here: the worker that runs a job records its
 *   end, job.state, through nagaya_event; packages/server/src/events/job-events.ts);
 * - node: joined, status changed (a heartbeat does not touch status, so it writes nothing);
 * - image, volume: created, deleted.
 *
 * Each insert notifies `nagaya_events` with an empty payload: the reader reads new rows by id,
 * and identical notifications of one transaction collapse into one (Postgres dedupes them),
 * so a statement that changes a thousand rows costs one notification, not a thousand.
 *
 * Ids are a sequence, so they increase, but a transaction commits after others that took later
 * ids: the reader holds back what lies beyond a gap until the transactions that could fill it
 * are over (packages/server/src/events/event-reader.ts). That is why every trigger is AFTER: the
 * row change has already given the transaction its xid when the event takes its id.
 *
 * Pruning keeps the newest RETAINED_EVENTS ids: every 1,000th event deletes those 1,000 ids older,
 * so the cost is one short range delete per thousand changes, not one per change.
 */
export class Events1765700000000 implements MigrationInterface {
  name = 'Events1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE event (
        id        bigserial PRIMARY KEY,
        at        timestamptz NOT NULL DEFAULT clock_timestamp(),
        type      text NOT NULL,
        project   text,
        container text,
        payload   jsonb NOT NULL DEFAULT '{}'
      )`);
    await q.query(`
      CREATE FUNCTION nagaya_event(kind text, in_project text, in_container text, details jsonb) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        new_id bigint;
      BEGIN
        INSERT INTO event (type, project, container, payload) VALUES (kind, in_project, in_container, details)
          RETURNING id INTO new_id;
        IF new_id % 1000 = 0 THEN
          DELETE FROM event WHERE id <= new_id - ${RETAINED_EVENTS};
        END IF;
        PERFORM pg_notify('nagaya_events', '');
      END $$`);

    await q.query(`
      CREATE FUNCTION nagaya_container_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM nagaya_event('container.created', NEW.project, NEW.name,
            jsonb_build_object('id', NEW.id, 'state', NEW.state, 'node', NEW.node, 'image', NEW.image));
        ELSIF TG_OP = 'UPDATE' THEN
          PERFORM nagaya_event('container.state', NEW.project, NEW.name,
            jsonb_build_object('id', NEW.id, 'state', NEW.state, 'from', OLD.state, 'node', NEW.node));
        ELSE
          PERFORM nagaya_event('container.deleted', OLD.project, OLD.name,
            jsonb_build_object('id', OLD.id, 'state', OLD.state, 'node', OLD.node));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER container_event_insert AFTER INSERT ON container FOR EACH ROW EXECUTE FUNCTION nagaya_container_event()`);
    await q.query(`
      CREATE TRIGGER container_event_state AFTER UPDATE OF state ON container
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION nagaya_container_event()`);
    await q.query(`CREATE TRIGGER container_event_delete AFTER DELETE ON container FOR EACH ROW EXECUTE FUNCTION nagaya_container_event()`);

    await q.query(`
      CREATE FUNCTION nagaya_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM nagaya_event('job.created', NEW.project, NEW.container,
          jsonb_strip_nulls(jsonb_build_object('id', NEW.id, 'kind', NEW.kind, 'state', 'queued',
            'containerId', NEW.container_id, 'image', NEW.image)));
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER job_event_insert AFTER INSERT ON job FOR EACH ROW EXECUTE FUNCTION nagaya_job_event()`);

    await q.query(`
      CREATE FUNCTION nagaya_node_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM nagaya_event('node.joined', NULL, NULL, jsonb_build_object('node', NEW.name, 'status', NEW.status));
        ELSIF TG_OP = 'UPDATE' THEN
          PERFORM nagaya_event('node.status', NULL, NULL,
            jsonb_build_object('node', NEW.name, 'status', NEW.status, 'from', OLD.status));
        ELSE
          PERFORM nagaya_event('node.deleted', NULL, NULL, jsonb_build_object('node', OLD.name, 'status', OLD.status));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER node_event_insert AFTER INSERT ON node FOR EACH ROW EXECUTE FUNCTION nagaya_node_event()`);
    await q.query(`
      CREATE TRIGGER node_event_status AFTER UPDATE OF status ON node
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION nagaya_node_event()`);
    await q.query(`CREATE TRIGGER node_event_delete AFTER DELETE ON node FOR EACH ROW EXECUTE FUNCTION nagaya_node_event()`);

    await q.query(`
      CREATE FUNCTION nagaya_image_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM nagaya_event('image.created', NEW.project, NULL,
            jsonb_strip_nulls(jsonb_build_object('image', NEW.name, 'sizeBytes', NEW.size_bytes, 'digest', NEW.digest)));
        ELSE
          PERFORM nagaya_event('image.deleted', OLD.project, NULL, jsonb_build_object('image', OLD.name));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER image_event AFTER INSERT OR DELETE ON image FOR EACH ROW EXECUTE FUNCTION nagaya_image_event()`);

    await q.query(`
      CREATE FUNCTION nagaya_volume_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM nagaya_event('volume.created', NEW.project, NULL,
            jsonb_strip_nulls(jsonb_build_object('volume', NEW.name, 'id', NEW.id, 'node', NEW.node, 'sizeBytes', NEW.size_bytes)));
        ELSE
          PERFORM nagaya_event('volume.deleted', OLD.project, NULL, jsonb_build_object('volume', OLD.name, 'id', OLD.id, 'node', OLD.node));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER volume_event AFTER INSERT OR DELETE ON volume FOR EACH ROW EXECUTE FUNCTION nagaya_volume_event()`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [table, triggers] of [
      ['container', ['container_event_insert', 'container_event_state', 'container_event_delete']],
      ['job', ['job_event_insert']],
      ['node', ['node_event_insert', 'node_event_status', 'node_event_delete']],
      ['image', ['image_event']],
      ['volume', ['volume_event']],
    ] as const) {
      for (const trigger of triggers) await q.query(`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`);
    }
    for (const fn of ['nagaya_container_event', 'nagaya_job_event', 'nagaya_node_event', 'nagaya_image_event', 'nagaya_volume_event'])
      await q.query(`DROP FUNCTION IF EXISTS ${fn}()`);
    await q.query('DROP FUNCTION IF EXISTS nagaya_event(text, text, text, jsonb)');
    await q.query('DROP TABLE IF EXISTS event');
  }
}
