import type { MigrationInterface, QueryRunner } from 'typeorm';
import { FENCE_FUNCTION, RELEASE_FUNCTION, RELEASE_FUNCTION_BEFORE, UNFENCE_FUNCTION } from './sql/1764900000000-node-liveness.sql';

/**
 * Node liveness and fencing (issue 12).
 * - node.status: `active` (takes new containers), `draining` (stopping, or evacuated by an admin:
 *   no new placement), `offline` (stopped normally), `removed` (an admin said it is gone). A node
 *   whose heartbeat is older than NAGAYA_NODE_OFFLINE_MS counts as offline whatever its status.
 *   draining_at says when it stopped taking containers.
 * - container.state gains `lost`: it ran on a node an admin removed as dead.
 * - id_slice.fenced_node: the slice of a container that died with that node. A fenced lease is
 *   never released (nagaya_release refuses it), so its slots stay leased and are never picked,
 *   until the node comes back and confirms the processes are gone, or an admin lifts the fence.
 */
export class NodeLiveness1764900000000 implements MigrationInterface {
  name = 'NodeLiveness1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE node
        ADD COLUMN status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'draining', 'offline', 'removed')),
        ADD COLUMN draining_at timestamptz,
        ADD COLUMN status_at   timestamptz NOT NULL DEFAULT now()`);
    await q.query(`ALTER TABLE container DROP CONSTRAINT IF EXISTS container_state_check`);
    await q.query(`
      ALTER TABLE container ADD CONSTRAINT container_state_check
        CHECK (state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting', 'lost'))`);
    await q.query(`ALTER TABLE id_slice ADD COLUMN fenced_node text, ADD COLUMN fenced_at timestamptz`);
    await q.query(`CREATE INDEX id_slice_fenced ON id_slice (fenced_node) WHERE fenced_node IS NOT NULL`);
    await q.query(RELEASE_FUNCTION);
    await q.query(FENCE_FUNCTION);
    await q.query(UNFENCE_FUNCTION);
  }

  /** Back to the release before: fences are lifted (their leases stay), lost containers become failed. */
  async down(q: QueryRunner): Promise<void> {
    await q.query(RELEASE_FUNCTION_BEFORE);
    await q.query('DROP FUNCTION IF EXISTS nagaya_unfence(text, text)');
    await q.query('DROP FUNCTION IF EXISTS nagaya_fence(text, text)');
    await q.query('DROP INDEX IF EXISTS id_slice_fenced');
    await q.query('ALTER TABLE id_slice DROP COLUMN IF EXISTS fenced_node, DROP COLUMN IF EXISTS fenced_at');
    await q.query(`UPDATE container SET state = 'failed' WHERE state = 'lost'`);
    await q.query(`ALTER TABLE container DROP CONSTRAINT IF EXISTS container_state_check`);
    await q.query(`
      ALTER TABLE container ADD CONSTRAINT container_state_check
        CHECK (state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'))`);
    await q.query(`ALTER TABLE node DROP COLUMN IF EXISTS status, DROP COLUMN IF EXISTS draining_at, DROP COLUMN IF EXISTS status_at`);
  }
}
