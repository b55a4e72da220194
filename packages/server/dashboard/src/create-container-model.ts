/** What the create form works out: its values, the POST /containers body they make, and where the API's issues go. Pure, no DOM. */
import { parseMountSpec, type MountSpec, type RestartPolicyName, type StopSignal } from '@nagaya/contract';
import type { ValidationIssue } from './api';
import { readMebibytesOrSize, splitArgs } from './format';

/** One raw idmap entry as typed: numbers stay text until the form is sent. */
export interface RawRow {
  kind: 'uid' | 'gid' | 'both';
  hostId: string;
  nsId: string;
  count: string;
}

/** Every field of the create form, as typed. */
export interface CreateForm {
  name: string;
  image: string;
  command: string;
  env: string;
  node: string;
  memory: string;
  pids: string;
  cpus: string;
  isolated: boolean;
  size: string;
  key: string;
  raw: RawRow[];
  mounts: string;
  restartPolicy: RestartPolicyName;
  maxRetries: string;
  init: boolean;
  stopSignal: StopSignal;
  stopTimeout: string;
}

/** The form as it first shows: busybox, and every option at the API's default. */
export const EMPTY_CREATE_FORM: CreateForm = {
  name: '',
  image: 'busybox',
  command: '',
  env: '',
  node: '',
  memory: '',
  pids: '',
  cpus: '',
  isolated: true,
  size: '',
  key: '',
  raw: [],
  mounts: '',
  restartPolicy: 'no',
  maxRetries: '',
  init: false,
  stopSignal: 'SIGTERM',
  stopTimeout: '',
};

/** Sets some fields of the form (a section's inputs call it with the one they own). */
export type UpdateCreateForm = (patch: Partial<CreateForm>) => void;

/** The API's issues for one field (by its path, see fieldOf). */
export type IssuesFor = (field: string) => ValidationIssue[];

/** Fields of the form, by the API path their errors come back under. */
const FIELDS = [
  'name',
  'image',
  'command',
  'env',
  'node',
  'limits.memoryBytes',
  'limits.pids',
  'limits.cpus',
  'idmap.isolated',
  'idmap.size',
  'idmap.key',
  'idmap.raw',
  'mounts',
  'restartPolicy.name',
  'restartPolicy.maxRetries',
  'init',
  'stopSignal',
  'stopTimeoutSeconds',
] as const;

/** Finds the form field an API issue path belongs to ("idmap.raw.0.hostId" → that cell, "limits" → summary). */
export function fieldOf(path: string): string {
  if (/^idmap\.raw\.\d+\.(kind|hostId|nsId|count)$/.test(path)) return path;
  if (/^idmap\.raw\.\d+$/.test(path)) return path;
  if (path.startsWith('env.')) return 'env';
  if (path.startsWith('command.')) return 'command';
  if (path === 'restartPolicy') return 'restartPolicy.name';
  return (FIELDS as readonly string[]).find((f) => path === f || path.startsWith(`${f}.`)) ?? '';
}

const num = (v: string) => (v.trim() === '' ? undefined : Number(v));

/**
 * The POST /containers body of a filled-in form, or the issue that stops it before it is sent
 * (a memory size or a mount line the form cannot read).
 */
export function createRequestOf(form: CreateForm) {
  const { memory, pids, cpus, env, isolated, size, key, raw, mounts, command, node, restartPolicy, maxRetries, init, stopSignal } = form;
  // read here, not by the API: it takes bytes, and a size with a unit is ours to read
  const memoryBytes = readMebibytesOrSize(memory);
  if (memoryBytes.error) return { issue: { path: 'limits.memoryBytes', message: memoryBytes.error } };
  const limits = {
    ...(memoryBytes.bytes === undefined ? {} : { memoryBytes: memoryBytes.bytes }),
    ...(num(pids) === undefined ? {} : { pids: num(pids) }),
    ...(num(cpus) === undefined ? {} : { cpus: num(cpus) }),
  };
  const envEntries = env
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const eq = l.indexOf('=');
      return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
    });
  const idmap = {
    ...(isolated ? {} : { isolated: false }),
    ...(num(size) === undefined ? {} : { size: num(size) }),
    ...(key.trim() ? { key: key.trim() } : {}),
    ...(raw.length
      ? { raw: raw.map((r) => ({ kind: r.kind, hostId: num(r.hostId) ?? NaN, nsId: num(r.nsId) ?? NaN, count: num(r.count) ?? NaN })) }
      : {}),
  };
  const mountLines = mounts
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const mountSpecs = mountLines.map(parseMountSpec);
  const unreadable = mountLines.find((_, i) => mountSpecs[i] === undefined);
  if (unreadable !== undefined) {
    return { issue: { path: 'mounts', message: `not a mount: ${unreadable} (volume:NAME:/path[:ro] or host:/dir:/path[:ro][:shift])` } };
  }
  const body = {
    name: form.name.trim(),
    image: form.image.trim(),
    ...(command.trim() ? { command: splitArgs(command) } : {}),
    ...(envEntries.length ? { env: Object.fromEntries(envEntries) } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(Object.keys(idmap).length ? { idmap } : {}),
    ...(node ? { node } : {}),
    ...(mountSpecs.length ? { mounts: mountSpecs as MountSpec[] } : {}),
    // the defaults (no policy, no init, SIGTERM, the server's grace) stay out of the request
    ...(restartPolicy === 'no'
      ? {}
      : {
          restartPolicy: {
            name: restartPolicy,
            ...(restartPolicy === 'on-failure' && num(maxRetries) !== undefined ? { maxRetries: num(maxRetries) } : {}),
          },
        }),
    ...(init ? { init: true } : {}),
    ...(stopSignal === 'SIGTERM' ? {} : { stopSignal }),
    ...(num(form.stopTimeout) === undefined ? {} : { stopTimeoutSeconds: num(form.stopTimeout) }),
  };
  return { body };
}
