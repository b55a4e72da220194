import { z } from 'zod';
import { DNS_LABEL, DNS_LABEL_MESSAGE } from './names';
import { absolutePathProblem, MAX_MOUNTS } from './volumes';

// Requests of /volumes and the mounts of a container create (re-exported by schemas.ts).

const volumeName = z.string().regex(DNS_LABEL, DNS_LABEL_MESSAGE);

/** An absolute, normalised path other than /, not on /proc, /sys or /dev. */
const absolutePath = z.string().superRefine((path, ctx) => {
  const problem = absolutePathProblem(path);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const createVolumeSchema = z.strictObject({
  name: volumeName,
  node: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, 'must be a node name')
    .optional()
    .meta({ description: 'The node whose disk holds it; default the online node with the fewest containers.' }),
  sizeBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .max(2 ** 53 - 1)
    .optional()
    .meta({
      description:
        "A size limit, kept by a filesystem project quota: only where the node's data directory is on ext4 or xfs mounted with prjquota " +
        '(400 INVALID_INPUT elsewhere, never accepted and ignored). Counts into the diskBytes quota; required in a project that has one.',
    }),
});
export type CreateVolumeInput = z.infer<typeof createVolumeSchema>;

export const volumeParams = { name: volumeName };

const volumeMountSchema = z
  .strictObject({
    volume: volumeName.meta({ description: 'A volume of the container’s project.' }),
    path: absolutePath.meta({ description: 'Where it appears in the container.' }),
    readOnly: z.boolean().optional(),
  })
  .meta({
    description:
      "A volume, idmapped onto the container's slice: its files' owners 0..65535 appear as the container's own. The container runs on the volume's node.",
  });

const hostPathMountSchema = z
  .strictObject({
    hostPath: absolutePath.meta({ description: 'An existing directory of the node (checked at launch).' }),
    path: absolutePath.meta({ description: 'Where it appears in the container.' }),
    readOnly: z.boolean().optional(),
    shift: z.boolean().optional().meta({
      description:
        "true: the directory's owners 0..65535 are idmapped onto the container's slice, as a volume's; false (default): bind-mounted as it is (host-owned files appear as nobody).",
    }),
  })
  .meta({
    description:
      'A host directory: admin tokens of every project only (403 FORBIDDEN otherwise). Not /, nor nagaya’s data directory, an ancestor or a part of it.',
  });

export const mountSchema = z.union([volumeMountSchema, hostPathMountSchema]);
export type MountInput = z.infer<typeof mountSchema>;

export const mountsSchema = z
  .array(mountSchema)
  .max(MAX_MOUNTS)
  .superRefine((mounts, ctx) => {
    mounts.forEach((m, i) => {
      const j = mounts.findIndex((n) => n.path === m.path);
      if (j < i) ctx.addIssue({ code: 'custom', path: [i, 'path'], message: `mounts[${j}] is mounted at the same path` });
    });
  })
  .meta({ description: `At most ${MAX_MOUNTS}, each at its own path.` });
