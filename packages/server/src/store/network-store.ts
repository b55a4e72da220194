import { macOf } from '@nagaya/contract';
import { NagayaError } from '../errors';
import type { Db } from './db';
import { sqlRefusalReader } from './project-errors';

/** A node's subnet. */
export interface NodeSubnet {
  node: string;
  /** e.g. 10.88.3.0/24 */
  cidr: string;
  /** The bridge's address, the subnet's .1 (without prefix length). */
  gateway: string;
  bridge: string;
  createdAt: Date;
}

/** A container's address lease on its node. */
export interface IpLease {
  /** The container's address, without prefix length. */
  address: string;
  /** The node's subnet it is in. */
  cidr: string;
  /** The subnet's prefix length (eth0's address is address/prefix). */
  prefix: number;
  gateway: string;
  bridge: string;
  /** false when the container already held this lease (the call is idempotent). */
  created: boolean;
}

/** What a node's kernel side needs to rebuild its bridge, rules and names from Postgres. */
export interface NodeNetworkState {
  subnet: NodeSubnet | undefined;
  /** Every address leased on the node, with its container's project (the walls) and name (DNS). */
  leases: Array<{
    containerId: string;
    project: string;
    /** The project's number (project.net_id): what the node's nftables walls know a project by. */
    projectId: number;
    name: string;
    state: string;
    address: string;
    mac: string;
  }>;
  /** Every host port reserved on the node; `address` is the container's while it holds one (null: no DNAT now). */
  ports: Array<{
    containerId: string;
    hostIp: string;
    protocol: 'tcp' | 'udp';
    hostPort: number;
    containerPort: number;
    address: string | null;
  }>;
}

/** A node's subnet and its use, for GET /networks. */
export interface NetworkUse extends NodeSubnet {
  addresses: { total: number; leased: number; free: number };
  hostPorts: number;
}

/**
 * The SQLSTATEs of class NN the network functions of migration 1764900000000 raise, and the API
 * error each is answered with.
 */
const BY_SQLSTATE: Record<string, NagayaError['code']> = {
  NN001: 'POOL_EXHAUSTED',
  NN002: 'POOL_EXHAUSTED',
  NN003: 'INVALID_INPUT',
  NN004: 'UNAVAILABLE',
  NN005: 'UNAVAILABLE',
};

/** Returns the API error for a network function's refusal; undefined for any other error. */
export const networkRefusalOf = sqlRefusalReader(BY_SQLSTATE);

async function orRefusal<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw networkRefusalOf(err) ?? err;
  }
}

/** See NetworkStore.leaseForLaunch: the lease (nagaya_ip_lease) and the container's project and its number. */
const LEASE_FOR_LAUNCH = `SELECT host(l.lease_address) AS address, l.lease_cidr::text AS cidr, masklen(l.lease_cidr) AS prefix,
       host(l.lease_gateway) AS gateway, l.lease_bridge AS bridge, l.created, c.project, p.net_id AS "projectId"
  FROM nagaya_ip_lease($1, $2) l LEFT JOIN (container c JOIN project p ON p.name = c.project) ON c.id = $1`;

/**
 * Container networking in Postgres: each node's subnet, each container's address, and (written by
 * ContainerStore.create) published host ports. Disjointness is the database's: exclusion and
 * unique constraints, taken in the statement that takes the resource.
 */
export class NetworkStore {
  constructor(private readonly db: Db) {}

  /**
   * Returns this node's subnet, carving the first free /prefix of the fleet's network on the
   * node's first call (idempotent: a worker calls it at every start, after its first heartbeat
   * made its node row). POOL_EXHAUSTED when the fleet's network has no free subnet left.
   */
  async ensureSubnet(node: string, fleet: { cidr: string; prefix: number; bridge: string }): Promise<NodeSubnet> {
    const { rows } = await orRefusal(
      this.db.query<{ node: string; cidr: string; bridge: string; createdAt: Date }>(
        `SELECT node, cidr::text AS cidr, bridge, created_at AS "createdAt" FROM nagaya_network_ensure($1, $2::cidr, $3, $4)`,
        [node, fleet.cidr, fleet.prefix, fleet.bridge],
      ),
    );
    return withGateway(rows[0]!);
  }

  /** Takes back a node's subnet while nothing is leased in it (its host could not set up the bridge). */
  async dropSubnet(node: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'DELETE FROM node_subnet s WHERE s.node = $1 AND NOT EXISTS (SELECT 1 FROM ip_lease l WHERE l.node = s.node)',
      [node],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The node's subnet; undefined while its worker has not set up container networking. */
  async subnetOf(node: string): Promise<NodeSubnet | undefined> {
    const { rows } = await this.db.query<{ node: string; cidr: string; bridge: string; createdAt: Date }>(
      `SELECT node, cidr::text AS cidr, bridge, created_at AS "createdAt" FROM node_subnet WHERE node = $1`,
      [node],
    );
    return rows[0] ? withGateway(rows[0]) : undefined;
  }

  /** The names of the nodes that have a subnet (whose workers set up container networking). */
  async networkedNodes(): Promise<Set<string>> {
    const { rows } = await this.db.query<{ node: string }>('SELECT node FROM node_subnet');
    return new Set(rows.map((r) => r.node));
  }

  /**
   * Leases an address on `node`'s subnet for the container (one statement; the first free address,
   * never network, gateway or broadcast), or returns the one it holds there. The worker calls it
   * in its claim of a bridge-mode container, before the launch. POOL_EXHAUSTED when the subnet is
   * full, UNAVAILABLE when the node has no subnet or every free address is being leased at once.
   */
  async lease(containerId: string, node: string): Promise<IpLease> {
    const { rows } = await orRefusal(
      this.db.query<{ address: string; cidr: string; prefix: number; gateway: string; bridge: string; created: boolean }>(
        `SELECT host(lease_address) AS address, lease_cidr::text AS cidr, masklen(lease_cidr) AS prefix, host(lease_gateway) AS gateway,
                lease_bridge AS bridge, created
           FROM nagaya_ip_lease($1, $2)`,
        [containerId, node],
      ),
    );
    return rows[0]!;
  }

  /**
   * lease() and launchFacts() of a launch, in one round trip (a bridge launch's attach runs them in
   * its node's queue, one launch after another). NOT_FOUND when the container is gone.
   */
  async leaseForLaunch(containerId: string, node: string): Promise<{ lease: IpLease; facts: { project: string; projectId: number } }> {
    const { rows } = await orRefusal(
      this.db.query<IpLease & { project: string | null; projectId: number | null }>(LEASE_FOR_LAUNCH, [containerId, node], {
        prepared: true,
      }),
    );
    const { project, projectId, ...lease } = rows[0]!;
    if (project === null || projectId === null) throw new NagayaError('NOT_FOUND', `container ${containerId} is gone`);
    return { lease, facts: { project, projectId } };
  }

  /** Gives a container's address back (on exit, stop or a failed start); true when it held one. Delete frees it by cascade. */
  async release(containerId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM ip_lease WHERE container_id = $1', [containerId]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Gives back the addresses on `node` of containers that cannot be running there: stopped,
   * failed or deleting, or gone to another node (the reconciler's repair). Returns their ids.
   */
  async releaseIdle(node: string): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `DELETE FROM ip_lease l USING container c
        WHERE l.node = $1 AND c.id = l.container_id AND (c.state IN ('stopped', 'failed', 'deleting') OR c.node <> l.node)
        RETURNING l.container_id AS id`,
      [node],
    );
    return rows.map((r) => r.id);
  }

  /** The node's subnet, leases and port reservations, in one snapshot (for host setup at worker start and the reconciler). */
  async forNode(node: string): Promise<NodeNetworkState> {
    const { rows } = await this.db.query<{ state: Omit<NodeNetworkState, 'subnet'> & { subnet: NodeSubnet | null } }>(
      `SELECT json_build_object(
         'subnet', (SELECT json_build_object('node', s.node, 'cidr', s.cidr::text, 'bridge', s.bridge, 'createdAt', s.created_at)
                      FROM node_subnet s WHERE s.node = $1),
         'leases', coalesce((SELECT json_agg(json_build_object('containerId', c.id, 'project', c.project, 'projectId', p.net_id,
                                                               'name', c.name, 'state', c.state, 'address', host(l.address))
                                             ORDER BY l.address)
                               FROM ip_lease l JOIN container c ON c.id = l.container_id JOIN project p ON p.name = c.project
                              WHERE l.node = $1), '[]'),
         'ports', coalesce((SELECT json_agg(json_build_object('containerId', h.container_id, 'hostIp', host(h.host_ip),
                                                              'protocol', h.protocol, 'hostPort', h.port, 'containerPort', h.container_port,
                                                              'address', host(l.address)) ORDER BY h.port, h.protocol)
                              FROM host_port h LEFT JOIN ip_lease l ON l.container_id = h.container_id AND l.node = h.node
                             WHERE h.node = $1), '[]')) AS state`,
      [node],
    );
    const { subnet, leases, ports } = rows[0]!.state;
    return {
      subnet: subnet ? withGateway({ ...subnet, createdAt: new Date(subnet.createdAt) }) : undefined,
      leases: leases.map((l) => ({ ...l, mac: macOf(l.address) })),
      ports,
    };
  }

  /**
   * What a launch of this container needs besides its lease: its project (its names' domain) and
   * the project's number (the walls), and its state now.
   */
  async launchFacts(containerId: string): Promise<{ project: string; projectId: number; state: string }> {
    const { rows } = await this.db.query<{ project: string; projectId: number; state: string }>(
      `SELECT c.project, p.net_id AS "projectId", c.state FROM container c JOIN project p ON p.name = c.project WHERE c.id = $1`,
      [containerId],
    );
    if (!rows[0]) throw new NagayaError('NOT_FOUND', `container ${containerId} is gone`);
    return rows[0];
  }

  /** The name, project and address of every container with an address on the node (its name server's hosts file). */
  async namesOn(node: string): Promise<Array<{ name: string; project: string; address: string }>> {
    const { rows } = await this.db.query<{ name: string; project: string; address: string }>(
      `SELECT c.name, c.project, host(l.address) AS address
         FROM ip_lease l JOIN container c ON c.id = l.container_id
        WHERE l.node = $1 ORDER BY l.address`,
      [node],
    );
    return rows;
  }

  /** The leases of these containers, by container id (those without one are absent). */
  async leasesOf(containerIds: string[]): Promise<Map<string, Omit<IpLease, 'created'>>> {
    if (containerIds.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; address: string; cidr: string; prefix: number; gateway: string; bridge: string }>(
      `SELECT l.container_id AS id, host(l.address) AS address, s.cidr::text AS cidr, masklen(s.cidr) AS prefix,
              host(s.cidr + 1) AS gateway, s.bridge
         FROM ip_lease l JOIN node_subnet s USING (node) WHERE l.container_id = ANY ($1::uuid[])`,
      [containerIds],
    );
    return new Map(rows.map(({ id, ...lease }) => [id, lease]));
  }

  /** Every node's subnet with its leased addresses and reserved host ports, by node name. */
  async list(): Promise<NetworkUse[]> {
    const { rows } = await this.db.query<{
      node: string;
      cidr: string;
      bridge: string;
      createdAt: Date;
      total: string;
      leased: string;
      hostPorts: string;
    }>(
      `SELECT s.node, s.cidr::text AS cidr, s.bridge, s.created_at AS "createdAt",
              (2::int8 ^ (32 - masklen(s.cidr)))::int8 - 3 AS total,
              (SELECT count(*) FROM ip_lease l WHERE l.node = s.node) AS leased,
              (SELECT count(*) FROM host_port h WHERE h.node = s.node) AS "hostPorts"
         FROM node_subnet s ORDER BY s.node`,
    );
    return rows.map((r) => {
      const total = Number(r.total);
      const leased = Number(r.leased);
      return {
        ...withGateway(r),
        addresses: { total, leased, free: total - leased },
        hostPorts: Number(r.hostPorts),
      };
    });
  }
}

/** The gateway of a subnet: its .1 (its first host address). */
export function gatewayOf(cidr: string): string {
  const [network] = cidr.split('/');
  const n = network!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function withGateway(r: { node: string; cidr: string; bridge: string; createdAt: Date }): NodeSubnet {
  return { node: r.node, cidr: r.cidr, gateway: gatewayOf(r.cidr), bridge: r.bridge, createdAt: r.createdAt };
}
