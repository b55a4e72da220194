// `nagaya volumes ...`: create, list, show and delete of the project's volumes.
import { ApiError, type VolumeView } from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { age, bytes, table, type Out } from './format';
import { sizeOption } from './options';

/** The options of the volumes commands, as parseArgs gives them. */
export interface VolumeOptions {
  node?: string;
  size?: string;
}

const usage = (message: string) => new ApiError(0, 'INVALID_INPUT', message);

const used = (v: VolumeView) => (v.usedBytes === null ? '-' : bytes(v.usedBytes));

function showVolume(v: VolumeView): string {
  return [
    `name:       ${v.name}`,
    `project:    ${v.project}`,
    `id:         ${v.id}`,
    `node:       ${v.node}`,
    `size limit: ${v.sizeBytes === null ? '-' : `${bytes(v.sizeBytes)} (${v.sizeBytes} bytes)`}`,
    `used:       ${v.usedBytes === null ? '- (its node did not answer)' : `${bytes(v.usedBytes)} (${v.usedBytes} bytes)`}`,
    `created:    ${v.createdAt} (${age(v.createdAt)} ago)`,
    `mounted by: ${v.mountedBy.length ? '' : '-'}`,
    ...v.mountedBy.map((u) => `  ${u.container} at ${u.path}${u.readOnly ? ' (read-only)' : ''}`),
  ].join('\n');
}

/** `nagaya volumes [list] | create | show | delete`. */
export async function volumesCommand(client: ApiClient, args: string[], options: VolumeOptions, all: boolean, out: Out): Promise<void> {
  const [sub = 'list', target] = args;
  if (all && sub !== 'list') throw usage(`volumes ${sub} acts in one project: --project P, not --all-projects`);
  const named = () => {
    if (!target) throw usage(`volumes ${sub} needs a volume name`);
    return `/volumes/${encodeURIComponent(target)}`;
  };
  switch (sub) {
    case 'list': {
      const { volumes } = await client.get<{ volumes: VolumeView[] }>('/volumes');
      out(volumes, () =>
        table(
          volumes.map((v) => ({
            ...v,
            used: used(v),
            limit: v.sizeBytes === null ? '-' : bytes(v.sizeBytes),
            'mounted-by': v.mountedBy.map((u) => u.container).join(',') || '-',
            age: age(v.createdAt),
          })),
          [...(all ? ['project'] : []), 'name', 'node', 'used', 'limit', 'mounted-by', 'age'],
        ),
      );
      return;
    }
    case 'create': {
      if (!target) throw usage('volumes create NAME [--node N] [--size SIZE]');
      const sizeBytes = sizeOption('size', options.size);
      const v = await client.post<VolumeView>('/volumes', {
        name: target,
        ...(options.node ? { node: options.node } : {}),
        ...(sizeBytes === undefined ? {} : { sizeBytes }),
      });
      out(v, () => `volume ${v.name} created in project ${v.project} on node ${v.node}`);
      return;
    }
    case 'show':
    case 'info': {
      const v = await client.get<VolumeView>(named());
      out(v, () => showVolume(v));
      return;
    }
    case 'delete': {
      const res = await client.delete<{ deleted: string; directoryRemoved: boolean }>(named());
      out(
        res,
        () => `volume ${res.deleted} deleted${res.directoryRemoved ? '' : ' (its node will remove its files when it next reconciles)'}`,
      );
      return;
    }
    default:
      throw usage(`volumes ${sub}: use volumes list, create, show or delete`);
  }
}
