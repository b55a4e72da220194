import { z } from 'zod';
import { mountsSchema } from './volume-schemas';
import { CONTAINER_STATES, DEFAULT_STOP_TIMEOUT_SECONDS, RESTART_POLICIES, STOP_SIGNALS } from './container-views';
import { argv, dnsLabel, envSchema, imageName, nodeName, noNul } from './schema-parts';
import { networkSchema } from './network-schemas';

// Requests of /containers: the create with its idmap, limits, security and restart policy, and
// the queries and bodies of the container actions.

const id32 = z.number().int().min(0).max(4294967294);

export const rawIdmapEntrySchema = z
  .strictObject({
    kind: z.enum(['uid', 'gid', 'both']),
    hostId: id32.min(1, 'host ID 0 (host root) can never be mapped into a container'),
    nsId: id32,
    count: z.number().int().min(1).max(4294967294),
  })
  .meta({ description: 'Maps host IDs [hostId, hostId+count) to [nsId, nsId+count) inside the container (LXD raw.idmap).' });

export const limitsSchema = z.strictObject({
  memoryBytes: z
    .number()
    .int()
    .min(4 * 1024 * 1024)
    .max(2 ** 50)
    .optional(),
  pids: z.number().int().min(1).max(4_194_304).optional(),
  cpus: z
    .number()
    .min(0.01, 'must be at least 0.01 (1 ms of CPU time per 100 ms)')
    .max(1024)
    .optional()
    .meta({ description: "CPUs (CFS quota), at least 0.01 and at most the node's CPU count." }),
});

export const idmapRequestSchema = z.strictObject({
  isolated: z.boolean().optional().meta({ description: "false: share the pool's one non-isolated slice. Default true." }),
  size: z
    .number()
    .int()
    .min(65536)
    .max(1024 * 65536)
    .multipleOf(65536)
    .optional()
    .meta({ description: 'IDs to map, a multiple of 65536, contiguous on the host.' }),
  key: z
    .string()
    .regex(/^[A-Za-z0-9][-A-Za-z0-9_.:/]{0,252}$/, 'must be 1 to 253 characters of A-Z a-z 0-9 - _ . : /')
    .optional()
    .meta({ description: 'Sticky workload key: the same key gets the same host IDs again, on any node.' }),
  raw: z.array(rawIdmapEntrySchema).max(340).optional(),
});

export const securitySchema = z
  .strictObject({
    nesting: z
      .boolean()
      .optional()
      .meta({
        description:
          'LXD security.nesting: the container may create user namespaces (clone/unshare with CLONE_NEWUSER only), ' +
          'to run containers of its own; mount, every other namespace and the rest of the seccomp filter stay refused. ' +
          'Admin tokens only (403 FORBIDDEN otherwise). Default false.',
      }),
  })
  .meta({
    description:
      "Confinement options. Every container runs with Docker's default capabilities, no_new_privs and a seccomp filter at least as strict as Docker's default profile.",
  });

export const restartPolicySchema = z
  .strictObject({
    name: z.enum(RESTART_POLICIES),
    maxRetries: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .optional()
      .meta({ description: 'on-failure only: restarts at most this many times in all.' }),
  })
  .refine((p) => p.maxRetries === undefined || p.name === 'on-failure', {
    message: 'maxRetries goes with on-failure only',
    path: ['maxRetries'],
  })
  .meta({
    description:
      "As Docker defines them. A restart keeps the slice, the address, the volumes and the writable layer; backoff 100 ms doubling to 30 s, reset after 10 s up. A user's stop is respected until a start. Default: no.",
  });

export const createContainerSchema = z.strictObject({
  name: dnsLabel,
  image: imageName,
  command: argv.optional().meta({
    description:
      "Replaces the image's Cmd (its Entrypoint stays, as in Docker); default: the image's Entrypoint + Cmd, or for an image without a config a shell that sleeps until stopped.",
  }),
  entrypoint: z
    .array(z.string().min(1).max(4096).refine(noNul, 'no NUL characters'))
    .max(256)
    .optional()
    .meta({ description: "Replaces the image's Entrypoint (and drops its Cmd); [] runs `command` alone." }),
  workingDir: z
    .string()
    .max(4096)
    .regex(/^\//, 'must be an absolute path')
    .refine(noNul, 'no NUL characters')
    .optional()
    .meta({ description: "Default: the image's WorkingDir, else /." }),
  user: z
    .string()
    .max(256)
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/, 'uid, uid:gid, name or name:group')
    .optional()
    .meta({
      description:
        "Who runs the command inside the container: uid, uid:gid, name or name:group (names from the image). Default: the image's User, else 0.",
    }),
  env: envSchema.optional().meta({ description: "Added to the image's Env (a name set in both: this value)." }),
  limits: limitsSchema.optional(),
  idmap: idmapRequestSchema.optional(),
  security: securitySchema.optional(),
  network: networkSchema.optional(),
  mounts: mountsSchema.optional(),
  node: nodeName.optional().meta({ description: 'Node to run on; default the online node with the fewest containers.' }),
  restartPolicy: restartPolicySchema.optional(),
  init: z.boolean().optional().meta({ description: 'Run tini as PID 1 (forwards signals, reaps zombies). Default false.' }),
  stopSignal: z.enum(STOP_SIGNALS).optional().meta({ description: 'What a stop sends first. Default SIGTERM.' }),
  stopTimeoutSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .optional()
    .meta({ description: `How long a stop waits after stopSignal before SIGKILL. Default ${DEFAULT_STOP_TIMEOUT_SECONDS}.` }),
});
export type CreateContainerInput = z.infer<typeof createContainerSchema>;

export const stopSchema = z.strictObject({
  timeoutSeconds: z.number().int().min(0).max(3600).optional(),
});

/** The Idempotency-Key header of POST /containers: a retry with the same key gets the first answer. */
export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key must be 1 to 255 visible ASCII characters')
  .optional();

export const containerListQuery = z.strictObject({
  state: z.enum(CONTAINER_STATES).optional(),
  kind: z
    .enum(['service', 'run'])
    .optional()
    .meta({ description: 'run: the containers of runs now running (GET /runs has the runs). Default service.' }),
  node: nodeName.optional(),
});

export const deleteContainerQuery = z.strictObject({
  force: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .transform((v) => v === '1' || v === 'true')
    .meta({
      description:
        'Delete a container that runs: SIGKILL at once. Without it, deleting a running container is 409 CONFLICT (stop it first), as `docker rm` refuses.',
    }),
});
