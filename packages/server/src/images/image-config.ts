import { NagayaError } from '../errors';

/**
 * What nagaya keeps of an OCI image config (the `config` object of the config blob) for the
 * defaults of a launch, plus the image's own user and group names, read from its layers at import
 * (a launch cannot read the image's /etc/passwd: the rootfs exists only inside the container).
 */
export interface ImageRunConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  /** name → [uid, gid] from the image's /etc/passwd */
  passwd?: Record<string, [number, number]>;
  /** name → gid from the image's /etc/group */
  groups?: Record<string, number>;
  /**
   * True while passwd and groups are still to be read: the image was imported with its layers
   * packed, and none has unpacked them yet (NodeLayers.ensure reads them then).
   */
  identitiesPending?: boolean;
}

/** What a create may say to override the image's defaults. */
export interface LaunchOverrides {
  command?: string[];
  entrypoint?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
}

/** What the container runs, all defaults applied. */
export interface LaunchSettings {
  command: string[];
  env: Record<string, string>;
  workingDir: string;
  uid: number;
  gid: number;
}

/** The PATH of an image whose config sets none (Docker's and containerd's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** IDs inside the container: one slice has 65536. */
const MAX_ID = 65535;

/** Reads the run settings from a parsed OCI config blob; what is malformed is left out. */
export function runConfigOf(blob: unknown): ImageRunConfig {
  const c = ((blob as { config?: unknown })?.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined);
  const text = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const out: ImageRunConfig = {};
  const entrypoint = strings(c.Entrypoint);
  const cmd = strings(c.Cmd);
  const env = strings(c.Env);
  const workingDir = text(c.WorkingDir);
  const user = text(c.User);
  if (entrypoint) out.entrypoint = entrypoint;
  if (cmd) out.cmd = cmd;
  if (env) out.env = env;
  if (workingDir) out.workingDir = workingDir;
  if (user) out.user = user;
  return out;
}

/** The run settings of a config the importer parsed (its fields already checked). */
export function runDefaults(c: {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
}): ImageRunConfig {
  return {
    ...(c.entrypoint ? { entrypoint: c.entrypoint } : {}),
    ...(c.cmd ? { cmd: c.cmd } : {}),
    ...(c.env?.length ? { env: c.env } : {}),
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    ...(c.user ? { user: c.user } : {}),
  };
}

/**
 * Docker's rules: `command` replaces the image's Cmd and keeps its Entrypoint; `entrypoint`
 * replaces the Entrypoint (an empty list drops it). Env is the image's, then the create's on top.
 * `image` undefined: a directory image, which has no config; it runs `fallbackCommand` when the
 * create names nothing.
 */
export function launchSettings(image: ImageRunConfig | undefined, o: LaunchOverrides, fallbackCommand: string[]): LaunchSettings {
  const entrypoint = o.entrypoint ?? image?.entrypoint ?? [];
  const cmd = o.command ?? (o.entrypoint !== undefined ? [] : (image?.cmd ?? []));
  let command = [...entrypoint, ...cmd];
  if (command.length === 0) {
    if (image && (image.entrypoint || image.cmd)) {
      throw new NagayaError('INVALID_INPUT', 'the entrypoint was dropped and no command given: nothing to run', { field: 'command' });
    }
    if (image) {
      throw new NagayaError('INVALID_INPUT', 'the image names no Entrypoint or Cmd: give a command', { field: 'command' });
    }
    command = fallbackCommand;
  }
  const env: Record<string, string> = {};
  for (const pair of image?.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (image && env.PATH === undefined) env.PATH = DEFAULT_PATH;
  Object.assign(env, o.env ?? {});
  const workingDir = o.workingDir ?? image?.workingDir ?? '/';
  if (!workingDir.startsWith('/')) {
    throw new NagayaError('INVALID_INPUT', `the working directory ${JSON.stringify(workingDir)} is not absolute`, { field: 'workingDir' });
  }
  const { uid, gid } = resolveUser(o.user ?? image?.user ?? '0', image);
  return { command, env, workingDir, uid, gid };
}

/**
 * `uid`, `uid:gid`, `name`, `name:group` (Docker's User): names from the image's own files.
 * A user named without a group runs with its passwd group.
 */
export function resolveUser(spec: string, image: ImageRunConfig | undefined): { uid: number; gid: number } {
  const refuse = (why: string) => new NagayaError('INVALID_INPUT', `user ${JSON.stringify(spec)}: ${why}`, { field: 'user' });
  const [userPart = '', groupPart, ...extra] = spec.split(':');
  if (extra.length > 0 || userPart === '') throw refuse('write uid, uid:gid, name or name:group');
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = Object.values(image?.passwd ?? {}).find(([u]) => u === uid);
    gid = entry?.[1];
  } else {
    const entry = image?.passwd && Object.hasOwn(image.passwd, userPart) ? image.passwd[userPart] : undefined;
    if (!entry) throw refuse("the image's /etc/passwd has no such user");
    [uid, gid] = entry;
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const found = image?.groups && Object.hasOwn(image.groups, groupPart) ? image.groups[groupPart] : undefined;
      if (found === undefined) throw refuse(`the image's /etc/group has no group ${groupPart}`);
      gid = found;
    }
  }
  gid ??= uid === 0 ? 0 : uid;
  if (uid > MAX_ID || gid > MAX_ID) throw refuse(`IDs inside a container go from 0 to ${MAX_ID}`);
  return { uid, gid };
}

/** A name an object may not take as a key by assignment (it would set the object's prototype). */
const usableName = (name: string | undefined): name is string => !!name && name !== '__proto__';

/** name → [uid, gid] of an /etc/passwd text (bounded: at most 10,000 lines read). */
export function parsePasswd(text: string): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const line of text.split('\n').slice(0, 10_000)) {
    const [name, , uid, gid] = line.split(':');
    if (usableName(name) && /^\d+$/.test(uid ?? '') && /^\d+$/.test(gid ?? '') && !Object.hasOwn(out, name))
      out[name] = [Number(uid), Number(gid)];
  }
  return out;
}

/** name → gid of an /etc/group text. */
export function parseGroup(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n').slice(0, 10_000)) {
    const [name, , gid] = line.split(':');
    if (usableName(name) && /^\d+$/.test(gid ?? '') && !Object.hasOwn(out, name)) out[name] = Number(gid);
  }
  return out;
}
