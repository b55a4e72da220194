import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The fleet: containers, nodes, API tokens, the audit trail, job bookkeeping and idempotency
 * keys. A container's ID lease lives in id_lease (owner = container id), not here.
 */
export class Fleet1764500000000 implements MigrationInterface {
  name = 'Fleet1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE node (
        name         text PRIMARY KEY,
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        started_at   timestamptz NOT NULL DEFAULT now(),
        version      text NOT NULL DEFAULT '',
        info         jsonb NOT NULL DEFAULT '{}'
      )`);

    await q.query(`
      CREATE TABLE container (
        id          uuid PRIMARY KEY,
        name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
        image       text NOT NULL,
        command     jsonb NOT NULL DEFAULT '[]',
        env         jsonb NOT NULL DEFAULT '{}',
        limits      jsonb NOT NULL DEFAULT '{}',
        idmap       jsonb NOT NULL DEFAULT '{}',
        pool        text NOT NULL DEFAULT 'default',
        node        text NOT NULL,
        state       text NOT NULL CHECK (state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting')),
        pid         int4,
        start_time  text,
        exit_code   int4,
        exit_signal text,
        error       jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        started_at  timestamptz,
        finished_at timestamptz,
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX container_node_state ON container (node, state)`);

    await q.query(`
      CREATE TABLE api_token (
        id           bigserial PRIMARY KEY,
        name         text NOT NULL,
        role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        token_hash   text NOT NULL UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at   timestamptz
      )`);

    await q.query(`
      CREATE TABLE audit_event (
        id        bigserial PRIMARY KEY,
        at        timestamptz NOT NULL DEFAULT now(),
        actor     text NOT NULL,
        action    text NOT NULL,
        target    text,
        details   jsonb NOT NULL DEFAULT '{}'
      )`);
    await q.query(`CREATE INDEX audit_event_at ON audit_event (at DESC)`);

    // Which BullMQ queue holds a job, so GET /jobs/:id finds it on any node's queue.
    await q.query(`
      CREATE TABLE job (
        id           text PRIMARY KEY,
        queue        text NOT NULL,
        kind         text NOT NULL CHECK (kind IN ('launch', 'start', 'stop', 'restart', 'delete')),
        container_id uuid NOT NULL,
        container    text NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX job_container ON job (container_id, created_at DESC)`);
    await q.query(`CREATE INDEX job_created ON job (created_at DESC)`);

    // The first answer to a request with an Idempotency-Key, replayed for repeats.
    await q.query(`
      CREATE TABLE idempotency_key (
        token_id    bigint NOT NULL,
        key         text NOT NULL,
        fingerprint text NOT NULL,
        status      int4,
        body        jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (token_id, key)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS idempotency_key, job, audit_event, api_token, container, node`);
  }
}
