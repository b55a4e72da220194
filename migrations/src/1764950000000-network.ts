import type { MigrationInterface, QueryRunner } from 'typeorm';
import {
  CONTAINER_NETWORK_MOVED_FUNCTION,
  CONTAINER_QUOTA_FUNCTION,
  CONTAINER_USAGE_FUNCTION,
  HOST_PORT_IP_FUNCTION,
  HOST_PORT_TABLE,
  IP_LEASE_FUNCTION,
  IP_LEASE_TABLE,
  NETWORK_ENSURE_FUNCTION,
  NETWORK_INTERFACES_FUNCTION,
  NODE_SUBNET_TABLE,
  PREVIOUS_CONTAINER_QUOTA_FUNCTION,
  PREVIOUS_CONTAINER_USAGE_FUNCTION,
  PREVIOUS_PROJECT_USAGE_RECOUNT_VIEW,
  PROJECT_USAGE_RECOUNT_VIEW,
} from './sql/1764950000000-network.sql';

/**
 * Container networking, the database's part: a subnet per node carved from the fleet's network
 * (disjoint by exclusion constraint), an address per container leased from its node's subnet,
 * published host ports reserved per node (a wildcard address overlaps every address), and the
 * networkInterfaces quota counted by the container triggers. Every existing container keeps
 * network mode none (loopback only) and counts no interface.
 */
export class Network1764950000000 implements MigrationInterface {
  name = 'Network1764950000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE container ADD COLUMN network jsonb NOT NULL DEFAULT '{"mode":"none"}'`);
    await q.query(NODE_SUBNET_TABLE);
    await q.query(IP_LEASE_TABLE);
    await q.query(HOST_PORT_TABLE);
    await q.query(`CREATE INDEX host_port_container ON host_port (container_id)`);
    await q.query(HOST_PORT_IP_FUNCTION);
    await q.query(NETWORK_ENSURE_FUNCTION);
    await q.query(IP_LEASE_FUNCTION);
    await q.query(CONTAINER_NETWORK_MOVED_FUNCTION);
    await q.query(
      `CREATE TRIGGER container_network_moved AFTER UPDATE OF node ON container FOR EACH ROW EXECUTE FUNCTION nagaya_container_network_moved()`,
    );

    await q.query(NETWORK_INTERFACES_FUNCTION);
    await q.query(PROJECT_USAGE_RECOUNT_VIEW);
    await q.query(CONTAINER_QUOTA_FUNCTION);
    await q.query(CONTAINER_USAGE_FUNCTION);
    // the usage trigger must also fire when a container's network changes
    await q.query('DROP TRIGGER container_usage ON container');
    await q.query(`
      CREATE TRIGGER container_usage AFTER DELETE OR UPDATE OF project, limits, idmap, network ON container
      FOR EACH ROW EXECUTE FUNCTION nagaya_container_usage()`);
    // nothing counted interfaces before: every container was mode none, so the counters stay 0
    await q.query(
      `UPDATE project_usage u SET network_interfaces = r.network_interfaces FROM project_usage_recount r WHERE r.project = u.project`,
    );
  }

  /** Back to the release before networking: every lease, reservation and network request is dropped. */
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER IF EXISTS container_usage ON container');
    await q.query(`
      CREATE TRIGGER container_usage AFTER DELETE OR UPDATE OF project, limits, idmap ON container
      FOR EACH ROW EXECUTE FUNCTION nagaya_container_usage()`);
    await q.query(PREVIOUS_CONTAINER_USAGE_FUNCTION);
    await q.query(PREVIOUS_CONTAINER_QUOTA_FUNCTION);
    await q.query(PREVIOUS_PROJECT_USAGE_RECOUNT_VIEW);
    await q.query('UPDATE project_usage SET network_interfaces = 0');
    await q.query('DROP FUNCTION IF EXISTS nagaya_network_interfaces(jsonb)');
    await q.query('DROP TRIGGER IF EXISTS container_network_moved ON container');
    await q.query('DROP FUNCTION IF EXISTS nagaya_container_network_moved()');
    await q.query('DROP FUNCTION IF EXISTS nagaya_ip_lease(uuid, text)');
    await q.query('DROP FUNCTION IF EXISTS nagaya_network_ensure(text, cidr, int4, text)');
    await q.query('DROP FUNCTION IF EXISTS nagaya_host_port_ip(text)');
    await q.query('DROP TABLE IF EXISTS host_port');
    await q.query('DROP TABLE IF EXISTS ip_lease');
    await q.query('DROP TABLE IF EXISTS node_subnet');
    await q.query('ALTER TABLE container DROP COLUMN IF EXISTS network');
  }
}
