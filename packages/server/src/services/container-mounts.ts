import type { ContainerMountView } from '@nagaya/contract';
import type { MountInput } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import { hostPathRefusal } from '../jobs/node-volumes';
import type { ContainerMountRecord } from '../store/container-row';
import type { VolumeStore } from '../store/volume-store';

/** What a create's mounts come to: the row's records, the volumes to lock, and the node they pin the container to. */
export interface ResolvedMounts {
  records: ContainerMountRecord[];
  /** Distinct ids of the volumes mounted (the create's statement checks and locks them). */
  volumeIds: string[];
  /** The node of the volumes mounted; undefined when none is. */
  node: string | undefined;
}

/**
 * Turns the mounts of a container create into what its row records: each volume looked up in the
 * container's project (INVALID_INPUT when it has none of that name), and the node they pin the
 * container to. A volume lives on one node, so every volume a container mounts must be on the
 * same node, and a create that names another node is refused with CONFLICT: the request is well
 * formed, but the volumes' placement (state, not syntax) rules it out; the error names both nodes.
 * Host paths are checked here as far as the API can (not / and not nagaya's own data directory,
 * as this process sees it); the worker checks them again, resolved, on the node at launch.
 */
export class ContainerMounts {
  constructor(
    private readonly volumes: VolumeStore,
    private readonly dataDir: string,
  ) {}

  async resolve(project: string, mounts: MountInput[] | undefined, requestedNode: string | undefined): Promise<ResolvedMounts> {
    if (!mounts?.length) return { records: [], volumeIds: [], node: undefined };
    const names = [...new Set(mounts.flatMap((m) => ('volume' in m ? [m.volume] : [])))];
    const found = new Map((names.length ? await this.volumes.findMany(project, names) : []).map((v) => [v.name, v]));
    const records = mounts.map((m, i): ContainerMountRecord => {
      if ('volume' in m) {
        const v = found.get(m.volume);
        if (!v) {
          throw new NagayaError('INVALID_INPUT', `volume ${m.volume} does not exist in project ${project}`, {
            field: `mounts.${i}.volume`,
          });
        }
        return { kind: 'volume', volume: v.name, volumeId: v.id, path: m.path, readOnly: m.readOnly === true };
      }
      const refusal = hostPathRefusal(m.hostPath, this.dataDir);
      if (refusal) throw new NagayaError('INVALID_INPUT', `host path ${m.hostPath} ${refusal}`, { field: `mounts.${i}.hostPath` });
      return { kind: 'host', hostPath: m.hostPath, path: m.path, readOnly: m.readOnly === true, shift: m.shift === true };
    });
    const nodes = [...new Set([...found.values()].map((v) => v.node))];
    if (nodes.length > 1) {
      const where = [...found.values()].map((v) => `${v.name} on ${v.node}`).join(', ');
      throw new NagayaError('CONFLICT', `the volumes a container mounts must be on one node: ${where}`, { field: 'mounts', nodes });
    }
    const node = nodes[0];
    if (node !== undefined && requestedNode !== undefined && requestedNode !== node) {
      throw new NagayaError(
        'CONFLICT',
        `the container mounts a volume of node ${node}, so it runs there; it cannot be placed on node ${requestedNode}`,
        { field: 'node', node: requestedNode, volumeNode: node },
      );
    }
    return { records, volumeIds: [...new Set([...found.values()].map((v) => v.id))], node };
  }
}

/** The distinct ids of the volumes a row's mounts name (what its create locks against a delete). */
export function volumeIdsOf(records: ContainerMountRecord[] | undefined): string[] {
  return [...new Set((records ?? []).flatMap((m) => (m.kind === 'volume' ? [m.volumeId] : [])))];
}

/** Tells whether a request's mounts name a volume, which pins its container (or run) to the volume's node. */
export function mountsVolume(mounts: MountInput[] | undefined): boolean {
  return (mounts ?? []).some((m) => 'volume' in m);
}

/** Tells whether a create's mounts name a host path (admin tokens of every project only). */
export function mountsHostPath(mounts: MountInput[] | undefined): boolean {
  return (mounts ?? []).some((m) => 'hostPath' in m);
}

/** A row's mounts as the API shows them. */
export function mountViews(records: ContainerMountRecord[] | undefined): ContainerMountView[] {
  return (records ?? []).map((m) =>
    m.kind === 'volume'
      ? { volume: m.volume, path: m.path, readOnly: m.readOnly }
      : { hostPath: m.hostPath, path: m.path, readOnly: m.readOnly, shift: m.shift },
  );
}
