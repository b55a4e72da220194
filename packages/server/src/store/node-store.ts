import type { Db } from './db';

export interface NodeRow {
  name: string;
  heartbeatAt: Date;
  startedAt: Date;
  version: string;
  info: Record<string, unknown>;
  online: boolean;
  heartbeatAgeMs: number;
  containers: number;
}

/** Worker nodes and their heartbeats. */
export class NodeStore {
  constructor(
    private readonly db: Db,
    private readonly offlineAfterMs: number,
  ) {}

  /** Records that `name` is alive now (creating it on its first beat). */
  async heartbeat(name: string, info: Record<string, unknown>, version: string, starting = false): Promise<void> {
    await this.db.query(
      `INSERT INTO node (name, heartbeat_at, started_at, version, info) VALUES ($1, now(), now(), $2, $3)
       ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(), version = $2, info = $3
         ${starting ? ', started_at = now()' : ''}`,
      [name, version, JSON.stringify(info)],
    );
  }

  /** Lists nodes with their heartbeat age, online flag and live container count. */
  async list(): Promise<NodeRow[]> {
    const { rows } = await this.db.query<{
      name: string;
      heartbeat_at: Date;
      started_at: Date;
      version: string;
      info: Record<string, unknown>;
      age_ms: string;
      containers: string;
    }>(
      `SELECT n.*, (extract(epoch FROM clock_timestamp() - n.heartbeat_at) * 1000)::int8 AS age_ms,
              (SELECT count(*) FROM container c WHERE c.node = n.name AND c.state NOT IN ('stopped', 'failed')) AS containers
         FROM node n ORDER BY n.name`,
    );
    return rows.map((r) => ({
      name: r.name,
      heartbeatAt: r.heartbeat_at,
      startedAt: r.started_at,
      version: r.version,
      info: r.info,
      heartbeatAgeMs: Number(r.age_ms),
      online: Number(r.age_ms) <= this.offlineAfterMs,
      containers: Number(r.containers),
    }));
  }
}
