import { z } from 'zod';
import { DNS_LABEL, DNS_LABEL_MESSAGE, IMAGE_NAME, IMAGE_NAME_MESSAGE } from './names';
import { isIpv4, MAX_PUBLISH, NETWORK_MODES, PUBLISH_PROTOCOLS, publishesOverlap } from './network';
import { mountsSchema } from './volume-schemas';
import {
  CONTAINER_STATES,
  JOB_STATES,
  QUOTA_MEANINGS,
  QUOTA_NAMES,
  DEFAULT_STOP_TIMEOUT_SECONDS,
  RESTART_POLICIES,
  ROLES,
  STOP_SIGNALS,
  type QuotaName,
} from './views';
import { DEFAULT_RUN_OUTPUT_LIMIT_BYTES, MAX_RUN_OUTPUT_LIMIT_BYTES, MAX_RUN_STDIN_BYTES, RUN_PRIORITY_MAX, RUN_STATES } from './runs';

/**
 * Requests of the REST API. Every route validates with these, and the server's OpenAPI document
 * is generated from the same objects, so the two cannot drift.
 */

export const dnsLabel = z.string().regex(DNS_LABEL, DNS_LABEL_MESSAGE);
export const imageName = z.string().regex(IMAGE_NAME, IMAGE_NAME_MESSAGE);
export const nodeName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, 'must be a node name');
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

const port = z.number().int().min(1).max(65535);

export const publishSchema = z
  .strictObject({
    hostPort: port,
    containerPort: port,
    protocol: z.enum(PUBLISH_PROTOCOLS),
    hostIp: z
      .string()
      .refine(isIpv4, 'must be an IPv4 address (dotted quad)')
      .optional()
      .meta({ description: "The node's address to listen on; default (and 0.0.0.0): every address of the node." }),
  })
  .meta({ description: 'Forwards hostIp:hostPort of the node to containerPort of the container.' });

export const networkSchema = z
  .strictObject({
    mode: z.enum(NETWORK_MODES).meta({
      description: "bridge: an interface on the node's bridge with an address leased from the node's subnet; none: loopback only.",
    }),
    publish: z
      .array(publishSchema)
      .max(MAX_PUBLISH)
      .optional()
      .meta({ description: `At most ${MAX_PUBLISH}; a host port taken on the node (by any container) is 409 CONFLICT at create.` }),
  })
  .superRefine((network, ctx) => {
    const publish = network.publish ?? [];
    if (network.mode !== 'bridge' && publish.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['publish'], message: 'ports can be published in bridge mode only' });
    }
    publish.forEach((p, i) => {
      const j = publish.findIndex((q) => publishesOverlap(p, q));
      if (j < i) ctx.addIssue({ code: 'custom', path: ['publish', i], message: `publishes the same host port as publish[${j}]` });
    });
  })
  .meta({ description: "Default: the fleet's NAGAYA_DEFAULT_NETWORK_MODE, bridge unless the admin set none." });

/** Postgres text cannot hold NUL: a string that goes into a text column is refused with one (INVALID_INPUT, never a 500). */
const noNul = (v: string) => !v.includes('\0');

const envSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, 'environment names are letters, digits and _'),
    z.string().max(32768).refine(noNul, 'no NUL characters'),
  )
  .refine((env) => Object.keys(env).length <= 256, 'at most 256 variables');

const argv = z.array(z.string().min(1).max(4096).refine(noNul, 'no NUL characters')).min(1).max(256);

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

export const emptySchema = z.strictObject({});

/** The Idempotency-Key header of POST /containers: a retry with the same key gets the first answer. */
export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key must be 1 to 255 visible ASCII characters')
  .optional();

export const execSchema = z.strictObject({
  command: argv,
  env: envSchema.optional(),
  timeoutMs: z.number().int().min(1).max(300_000).optional(),
  /** base64: stdout and stderr are the exact bytes, base64-encoded; utf8 (default): text, invalid bytes replaced. */
  encoding: z.enum(['utf8', 'base64']).optional(),
  /** Instead of the container's working directory and user (its image's, or its create's). */
  cwd: z.string().min(1).max(4096).startsWith('/').refine(noNul, 'no NUL characters').optional(),
  user: z.strictObject({ uid: z.number().int().min(0).max(65535), gid: z.number().int().min(0).max(65535) }).optional(),
});

/** An interactive exec session (GET /containers/:name/exec over WebSocket), from its query or its first message. */
export const execSessionSchema = z.strictObject({
  command: argv,
  tty: z.boolean().optional(),
  rows: z.number().int().min(1).max(65535).optional(),
  cols: z.number().int().min(1).max(65535).optional(),
  env: envSchema.optional(),
  cwd: z.string().min(1).max(4096).startsWith('/').refine(noNul, 'no NUL characters').optional(),
  user: z.strictObject({ uid: z.number().int().min(0).max(65535), gid: z.number().int().min(0).max(65535) }).optional(),
});
export type ExecSessionRequest = z.infer<typeof execSessionSchema>;

const repeated = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? undefined : [v].flat()));

/** The same in the query: command and env (K=V) repeated, tty=1, rows, cols, cwd, user=UID[:GID]; no command: it comes as the first message. */
export const execSocketQuery = z.strictObject({
  command: repeated,
  tty: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .transform((v) => v === '1' || v === 'true'),
  rows: z.coerce.number().int().min(1).max(65535).optional(),
  cols: z.coerce.number().int().min(1).max(65535).optional(),
  env: repeated,
  cwd: z.string().optional(),
  user: z
    .string()
    .regex(/^\d{1,5}(:\d{1,5})?$/, 'user is UID or UID:GID')
    .optional(),
});

export const createTokenSchema = z.strictObject({
  name: z.string().min(1).max(100).refine(noNul, 'no NUL characters'),
  role: z.enum(ROLES),
  project: dnsLabel
    .nullable()
    .optional()
    .meta({
      description:
        "The token's project; null: every project (admin role, created by an admin token without a project). " +
        "Default: the request's project (?project=), or none for an admin token made by a global admin.",
    }),
  expiresInSeconds: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 86400)
    .optional()
    .meta({ description: 'The token is refused (401 TOKEN_EXPIRED) this many seconds after its creation. Default: never.' }),
});

/** A token's id in a path: bigserial digits. */
export const tokenIdParam = z
  .string()
  .regex(/^[1-9][0-9]{0,17}$/, 'must be a token id (GET /tokens)')
  .transform(Number);

const hostRange = z.strictObject({
  start: z.number().int().min(1).max(4294967294),
  count: z.number().int().min(1).max(4294967294),
});

export const createPoolSchema = z.strictObject({
  name: dnsLabel,
  uid: hostRange,
  gid: hostRange,
  sliceSize: z.number().int().min(65536).multipleOf(65536).optional(),
  quarantineSeconds: z
    .number()
    .int()
    .min(0)
    .max(365 * 86400)
    .optional(),
  rawAllowed: z.strictObject({ uid: z.array(hostRange).max(64).optional(), gid: z.array(hostRange).max(64).optional() }).optional(),
});

export const containerListQuery = z.strictObject({
  state: z.enum(CONTAINER_STATES).optional(),
  kind: z
    .enum(['service', 'run'])
    .optional()
    .meta({ description: 'run: the containers of runs now running (GET /runs has the runs). Default service.' }),
  node: nodeName.optional(),
});

export const jobListQuery = z.strictObject({
  container: dnsLabel.optional(),
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
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

const logsFlag = z
  .enum(['1', 'true', '0', 'false'])
  .optional()
  .transform((v) => v === '1' || v === 'true');

/** RFC 3339 (2026-12-07T15:04:05Z, 2026-12-07T15:04:05.123456789+01:00) or Unix seconds (1765119845.5). */
const logsSince = z.string().refine((v) => sinceToNanoseconds(v) !== null, {
  message: 'since must be an RFC 3339 time (2026-12-07T15:04:05Z) or Unix seconds',
});

/** The nanoseconds since the epoch of a `since` value (RFC 3339 or Unix seconds), or null if it is neither. */
export function sinceToNanoseconds(value: string): bigint | null {
  if (/^\d{1,12}(\.\d{1,9})?$/.test(value)) {
    const [whole, fraction = ''] = value.split('.');
    return BigInt(whole!) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0'));
  }
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(value);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export const logsQuery = z.strictObject({
  tail: z.coerce
    .number()
    .int()
    .min(1)
    .max(1024 * 1024)
    .optional()
    .meta({ description: 'Only the last this many lines (whole lines; at most 1 MiB of them).' }),
  since: logsSince.optional().meta({ description: 'Only lines written at or after this time: RFC 3339, or Unix seconds.' }),
  timestamps: logsFlag.meta({ description: 'Start each line with the time the node saw it (RFC 3339 with nanoseconds) and a space.' }),
  follow: logsFlag.meta({
    description:
      'Stream the log until the container exits or the client leaves: chunked text/plain, or Server-Sent Events (one per line, ' +
      'its id a position that Last-Event-ID resumes from) with Accept: text/event-stream.',
  }),
});

export const allocationsQuery = z.strictObject({
  pool: dnsLabel.optional(),
  history: z.enum(['true', 'false']).optional(),
});

export const imageImportQuery = z.strictObject({
  name: imageName,
});

export const pullImageSchema = z.strictObject({
  reference: z
    .string()
    .min(1)
    .max(512)
    .meta({ description: 'What to pull: [registry/]repository[:tag][@sha256:digest], as Docker writes it (docker.io when no registry).' }),
  name: imageName.optional().meta({ description: "The image's name here; default the repository's last part and the tag (alpine:3)." }),
  auth: z
    .strictObject({ username: z.string().min(1).max(256), password: z.string().min(1).max(4096) })
    .optional()
    .meta({ description: "The registry's credentials, used for this pull only (never stored)." }),
});
export type PullImageInput = z.infer<typeof pullImageSchema>;

/** ?project= and ?all-projects= of every project-scoped route (read before the route's own query). */
export const projectScopeQuery = z.object({
  project: dnsLabel
    .optional()
    .meta({ description: "The project to act in; default the token's own (default for admin tokens without one)." }),
  'all-projects': z.enum(['true', 'false']).optional().meta({ description: 'Lists only: every project (admin tokens without a project).' }),
});

const quotaValue = (name: QuotaName) =>
  (name === 'cpus'
    ? z.number().min(0).max(1_000_000)
    : z
        .number()
        .int()
        .min(0)
        .max(2 ** 53 - 1)
  ).meta({
    description: `At most this many ${QUOTA_MEANINGS[name]}.`,
  });

const quotaShape = <T extends z.ZodType>(value: (name: QuotaName) => T) =>
  Object.fromEntries(QUOTA_NAMES.map((name) => [name, value(name)])) as Record<QuotaName, T>;

/** Quotas of a new project: each optional (absent: no limit). */
export const projectQuotasSchema = z.strictObject(quotaShape((name) => quotaValue(name).optional()));
/** A quota change: a number sets, null removes, absent leaves alone. */
export const projectQuotasPatchSchema = z.strictObject(quotaShape((name) => quotaValue(name).nullable().optional()));

const projectDescription = z.string().max(500).refine(noNul, 'no NUL characters');

export const createProjectSchema = z.strictObject({
  name: dnsLabel,
  description: projectDescription.optional(),
  quotas: projectQuotasSchema.optional(),
  rawIdmapAllowed: z.boolean().optional().meta({ description: 'Containers may ask for idmap.raw. Default false.' }),
});
export type CreateProjectInput = z.infer<typeof createProjectSchema>;

export const patchProjectSchema = z.strictObject({
  description: projectDescription.optional(),
  quotas: projectQuotasPatchSchema.optional().meta({ description: 'Lowering below current use is allowed: it blocks new creates only.' }),
  rawIdmapAllowed: z.boolean().optional(),
});
export type PatchProjectInput = z.infer<typeof patchProjectSchema>;

export const auditQuery = z.strictObject({
  project: dnsLabel.optional(),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Only events at or after this time (ISO 8601).' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const nodeParams = { name: nodeName };
export const imageParams = { name: imageName };

export const removeNodeSchema = z.strictObject({
  dead: z.literal(true).meta({
    description: 'The node is gone: its running containers are recorded as lost and their slices fenced. Required.',
  }),
  releaseSlices: z
    .boolean()
    .optional()
    .meta({ description: "Also give back the fenced slices: only once the host is surely off (its containers' processes are gone)." }),
});
export type RemoveNodeInput = z.infer<typeof removeNodeSchema>;

export { createVolumeSchema, mountSchema, mountsSchema, volumeParams, type CreateVolumeInput, type MountInput } from './volume-schemas';

/** POST /runs: run-to-completion work, each attempt in a fresh container with a fresh slice. */
export const createRunSchema = z
  .strictObject({
    image: imageName,
    command: argv.meta({ description: "What the run executes (the image's Entrypoint is not prepended)." }),
    env: envSchema.optional().meta({ description: "Added to the image's Env." }),
    limits: limitsSchema.optional(),
    network: networkSchema.optional(),
    mounts: mountsSchema.optional(),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86400)
      .meta({ description: 'The launcher kills the run (SIGKILL) this long after it started: state timedOut.' }),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .optional()
      .meta({ description: 'Attempts after a failed or timed-out one, each in a fresh container with a fresh slice. Default 0.' }),
    priority: z
      .number()
      .int()
      .min(0)
      .max(RUN_PRIORITY_MAX)
      .optional()
      .meta({ description: `0 to ${RUN_PRIORITY_MAX}, higher runs first. Default 0.` }),
    delaySeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86400)
      .optional()
      .meta({ description: 'Queued only after this long.' }),
    schedule: z
      .string()
      .min(9)
      .max(200)
      .regex(/^[0-9A-Za-z*?,/#\- ]+$/, 'must be a cron pattern (5 fields, or 6 with seconds first)')
      .optional()
      .meta({
        description: 'A cron pattern: instead of one run, a schedule that submits this run each time (GET /runs/schedules).',
      }),
    stdin: z
      .base64()
      .max(Math.ceil(MAX_RUN_STDIN_BYTES / 3) * 4)
      .optional()
      .meta({ description: `Bytes (base64) handed to the run on its stdin, at most ${MAX_RUN_STDIN_BYTES}.` }),
    outputLimitBytes: z
      .number()
      .int()
      .min(0)
      .max(MAX_RUN_OUTPUT_LIMIT_BYTES)
      .optional()
      .meta({
        description: `Kept of each of stdout and stderr; the rest is counted and flagged truncated. Default ${DEFAULT_RUN_OUTPUT_LIMIT_BYTES}.`,
      }),
    idempotencyKey: z
      .string()
      .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters')
      .optional()
      .meta({ description: 'A second submission with the same key in the project gets the first run.' }),
  })
  .refine((r) => !r.network?.publish?.length, { message: 'a run publishes no ports', path: ['network', 'publish'] })
  .refine((r) => r.schedule === undefined || (r.delaySeconds === undefined && r.idempotencyKey === undefined), {
    message: 'a schedule takes neither delaySeconds nor idempotencyKey',
    path: ['schedule'],
  });
export type CreateRunInput = z.infer<typeof createRunSchema>;

export const runListQuery = z.strictObject({
  state: z.enum(RUN_STATES).optional(),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Only runs created at or after this time.' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const runIdParams = { id: z.uuid() };
export const runScheduleParams = { id: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a schedule id') };

export const runWaitQuery = z.strictObject({
  timeoutSeconds: z.coerce.number().int().min(0).max(300).optional(),
});

export const runOutputQuery = z.strictObject({
  encoding: z.enum(['utf8', 'base64']).optional(),
});
