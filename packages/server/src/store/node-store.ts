import type { NodeStatus } from '@nagaya/contract';
import type { Db } from './db';

export interface NodeRow {
  name: string;
  heartbeatAt: Date;
  startedAt: Date;
  version: string;
  info: Record<string, unknown>;
  /** Alive: active or draining, with a fresh heartbeat. Its containers can be reached. */
  online: boolean;
  /** What the node said of itself (or an admin of it); offline also when its heartbeat is too old. */
  status: NodeStatus;
  drainingAt: Date | null;
  heartbeatAgeMs: number;
  containers: number;
}

interface RawNodeRow {
  name: string;
  heartbeat_at: Date;
  started_at: Date;
  version: string;
  info: Record<string, unknown>;
  status: NodeStatus;
  draining_at: Date | null;
  age_ms: string;
  containers: string;
}

const SELECT_NODES = `SELECT n.name, n.heartbeat_at, n.started_at, n.version, n.info, n.status, n.draining_at,
    (extract(epoch FROM clock_timestamp() - n.heartbeat_at) * 1000)::int8 AS age_ms,
    (SELECT count(*) FROM container c WHERE c.node = n.name AND c.state NOT IN ('stopped', 'failed', 'lost')) AS containers
  FROM node n`;

/**
 * The status a node shows: the one it recorded, except that a node whose heartbeat is older than
 * offlineAfterMs is offline (it crashed, or lost its network) unless an admin removed it.
 */
export function effectiveStatus(status: NodeStatus, heartbeatAgeMs: number, offlineAfterMs: number): NodeStatus {
  if (status === 'removed' || status === 'offline') return status;
  return heartbeatAgeMs > offlineAfterMs ? 'offline' : status;
}

/** Worker nodes: their heartbeats and their status (active, draining, offline, removed). */
export class NodeStore {
  constructor(
    private readonly db: Db,
    readonly offlineAfterMs: number,
  ) {}

  /**
   * Records that `name` is alive now (creating it, active, on its first beat). A beat never
   * changes the status: a node that starts again says it is active itself, once it has
   * reconciled what it left (setStatus).
   */
  async heartbeat(name: string, info: Record<string, unknown>, version: string, starting = false): Promise<void> {
    await this.db.query(
      `INSERT INTO node (name, heartbeat_at, started_at, version, info) VALUES ($1, now(), now(), $2, $3)
       ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(), version = $2, info = $3
         ${starting ? ', started_at = now()' : ''}`,
      [name, version, JSON.stringify(info)],
    );
  }

  /**
   * Sets a node's status; returns the node as it now is, or undefined if it is not known (or not
   * in one of `from`). The row is locked first, and draining_at is read from the clock only then:
   * a create that placed a container on the node holds a share lock on its row until it commits
   * (ContainerStore.create), so every container placed there was created before draining_at.
   */
  async setStatus(name: string, status: NodeStatus, from?: NodeStatus[]): Promise<NodeRow | undefined> {
    const updated = await this.db.transaction(async (client) => {
      const locked = await client.query<{ status: NodeStatus }>('SELECT status FROM node WHERE name = $1 FOR UPDATE', [name]);
      const current = locked.rows[0];
      if (!current || (from && !from.includes(current.status))) return false;
      await client.query(
        `UPDATE node SET status = $2, status_at = clock_timestamp(),
            draining_at = CASE WHEN $2 = 'active' THEN NULL
                               WHEN $2 = 'draining' THEN coalesce(draining_at, clock_timestamp())
                               ELSE coalesce(draining_at, clock_timestamp()) END
          WHERE name = $1`,
        [name, status],
      );
      return true;
    });
    return updated ? this.get(name) : undefined;
  }

  /** One node, or undefined. */
  async get(name: string): Promise<NodeRow | undefined> {
    const { rows } = await this.db.query<RawNodeRow>(`${SELECT_NODES} WHERE n.name = $1`, [name]);
    return rows[0] ? this.row(rows[0]) : undefined;
  }

  /** Every node's status as it shows (one small read, no container counts). */
  async statuses(): Promise<Map<string, NodeStatus>> {
    const { rows } = await this.db.query<{ name: string; status: NodeStatus; age_ms: string }>(
      `SELECT name, status, (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::int8 AS age_ms FROM node`,
    );
    return new Map(rows.map((r) => [r.name, effectiveStatus(r.status, Number(r.age_ms), this.offlineAfterMs)]));
  }

  /** Lists nodes with their heartbeat age, status, online flag and live container count. */
  async list(): Promise<NodeRow[]> {
    const { rows } = await this.db.query<RawNodeRow>(`${SELECT_NODES} ORDER BY n.name`);
    return rows.map((r) => this.row(r));
  }

  private row(r: RawNodeRow): NodeRow {
    const age = Number(r.age_ms);
    const status = effectiveStatus(r.status, age, this.offlineAfterMs);
    return {
      name: r.name,
      heartbeatAt: r.heartbeat_at,
      startedAt: r.started_at,
      version: r.version,
      info: r.info,
      heartbeatAgeMs: age,
      status,
      online: status === 'active' || status === 'draining',
      drainingAt: r.draining_at,
      containers: Number(r.containers),
    };
  }
}
