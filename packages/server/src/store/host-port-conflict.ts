import type { PublishView } from '@nagaya/contract';
import { NagayaError } from '../errors';
import type { Db } from './db';

/** The exclusion constraint that keeps published host ports apart on a node refused a reservation. */
export function isHostPortTaken(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23P01' && e.constraint === 'host_port_taken';
}

/** The CONFLICT for a create whose published ports are taken on its node, naming the ports (never who holds them). */
export async function hostPortConflict(db: Db, node: string, publish: PublishView[]): Promise<NagayaError> {
  const { rows } = await db.query<{ i: number }>(
    `SELECT x.i - 1 AS i FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS ("hostPort" int4, protocol text, "hostIp" text))
            WITH ORDINALITY AS x("hostPort", protocol, "hostIp", i)
      WHERE EXISTS (SELECT 1 FROM host_port h WHERE h.node = $1 AND h.protocol = x.protocol AND h.port = x."hostPort"
                       AND h.host_ip && nagaya_host_port_ip(x."hostIp"))`,
    [node, JSON.stringify(publish)],
  );
  const taken = rows
    .map((r) => publish[Number(r.i)]!)
    .map(({ hostPort, protocol, hostIp }) => ({ hostPort, protocol, hostIp: hostIp ?? '0.0.0.0' }));
  // a holder still committing is not seen here: then the ports cannot be named
  const names = taken.map((t) => `${t.hostIp}:${t.hostPort}/${t.protocol}`).join(', ') || 'of this request';
  return new NagayaError('CONFLICT', `a host port ${names} is already published on node ${node}`, {
    field: 'network.publish',
    node,
    taken,
  });
}
