// `nagaya nodes ...` and `nagaya networks`: the fleet's worker nodes (list, evacuate, remove a
// dead one) and each node's container network.
import { ApiError, type NetworkView, type NodeRemovalView } from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { table, type Out } from './format';

/** The options of the nodes command, as parseArgs gives them. */
export interface NodeOptions {
  dead?: boolean | undefined;
  'release-slices'?: boolean | undefined;
}

/** `nagaya nodes`, `nodes evacuate <node>`, `nodes remove <node> --dead [--release-slices]`. */
export async function nodesCommand(client: ApiClient, args: string[], options: NodeOptions, out: Out): Promise<void> {
  if (args[0] === 'evacuate' || args[0] === 'remove') {
    const node = args[1];
    if (!node) throw new ApiError(0, 'INVALID_INPUT', `nodes ${args[0]} <node>`);
    if (args[0] === 'evacuate') {
      const res = await client.post<{ moved: Array<Record<string, unknown>>; running: Array<Record<string, unknown>> }>(
        `/nodes/${encodeURIComponent(node)}/evacuate`,
        {},
      );
      out(res, () =>
        [
          `${node}: draining; ${res.moved.length} moved, ${res.running.length} still running there`,
          ...(res.running.length ? [table(res.running, ['project', 'name', 'state'])] : []),
        ].join('\n'),
      );
      return;
    }
    if (!options.dead) throw new ApiError(0, 'INVALID_INPUT', 'nodes remove <node> --dead: say the node is gone');
    const res = await client.post<NodeRemovalView>(`/nodes/${encodeURIComponent(node)}/remove`, {
      dead: true,
      ...(options['release-slices'] ? { releaseSlices: true } : {}),
    });
    out(
      res,
      () =>
        `${node}: removed; ${res.lost.length} lost, ${res.moved.length} moved, ${res.released.length} fenced slice(s) released` +
        (res.lost.length && !options['release-slices'] ? ' (the lost ones stay fenced until the node returns or --release-slices)' : '') +
        (res.runs.length
          ? `; runs it ran: ${res.runs.filter((r) => r.state === 'queued').length} queued again, ${res.runs.filter((r) => r.state === 'failed').length} failed (NODE_LOST)`
          : ''),
    );
    return;
  }
  const { nodes } = await client.get<{ nodes: Array<Record<string, unknown>> }>('/nodes');
  out(nodes, () =>
    table(
      nodes.map((n) => ({
        ...n,
        online: n.online ? 'online' : 'offline',
        heartbeat: `${Math.round(Number(n.heartbeatAgeMs) / 1000)}s ago`,
      })),
      ['name', 'status', 'online', 'containers', 'heartbeat', 'version'],
    ),
  );
  return;
}

/** `nagaya networks`: each node's subnet and how much of it is used. */
export async function networksCommand(client: ApiClient, out: Out): Promise<void> {
  const { networks } = await client.get<{ networks: NetworkView[] }>('/networks');
  out(networks, () =>
    table(
      networks.map((n) => ({ ...n, leased: n.addresses.leased, free: n.addresses.free })),
      ['node', 'cidr', 'gateway', 'bridge', 'leased', 'free', 'hostPorts'],
    ),
  );
  return;
}
