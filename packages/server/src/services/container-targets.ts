import { NagayaError } from '../errors';
import type { ContainerRow, ContainerStore } from '../store/container-store';
import type { NodeStore } from '../store/node-store';

/**
 * The checks every action on one container's node makes before it asks that node: the container
 * runs (CONFLICT otherwise) and its node is online (NODE_OFFLINE otherwise). Shared by lifecycle,
 * exec, logs, stats and file copies, so each refuses in the same words.
 */
export class ContainerTargets {
  constructor(
    private readonly containers: ContainerStore,
    private readonly nodes: NodeStore,
  ) {}

  /** The row of a running container (CONFLICT when it is in any other state). */
  async requireRunning(project: string, name: string): Promise<ContainerRow> {
    const row = await this.containers.getByName(project, name);
    if (row.state !== 'running') throw new NagayaError('CONFLICT', `${name} is ${row.state}, not running`, { state: row.state });
    return row;
  }

  /** Refuses at once, with NODE_OFFLINE, to act on a container whose node is offline or removed. */
  async requireNodeOnline(row: ContainerRow): Promise<void> {
    const status = (await this.nodes.statuses()).get(row.node);
    if (status === 'offline' || status === 'removed' || status === undefined) {
      throw new NagayaError('NODE_OFFLINE', `${row.name} is on node ${row.node}, which is ${status ?? 'not known'}`, {
        node: row.node,
        status: status ?? null,
        lastState: row.state,
      });
    }
  }

  /** The row of a running container on an online node (CONFLICT, NODE_OFFLINE otherwise): what a file copy acts on. */
  async requireRunningOnline(project: string, name: string): Promise<ContainerRow> {
    const row = await this.requireRunning(project, name);
    await this.requireNodeOnline(row);
    return row;
  }
}
