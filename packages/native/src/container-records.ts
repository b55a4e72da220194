import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

import { NativeError } from './errors';
import { isSameProcess } from './proc-stat';

/** How a container's init ended. */
export interface ExitStatus {
  exitCode: number | null;
  /** Signal name ("SIGKILL") when the init was killed by a signal. */
  signal: string | null;
  /** The memory cgroup OOM-killed a process of the container. */
  oomKilled: boolean;
  /** The launcher lost track of the container (it was restarted) and cannot know how it ended. */
  lost: boolean;
  finishedAt?: number;
  /** Host pid of the init that ended (exit events carry it), so a late event of an earlier run is told apart. */
  pid?: number;
  /** Present (true) only when the plan's timeoutMs ran out and the launcher killed the container. */
  timedOut?: boolean;
}

/** What the launcher wrote about a container in its directory. */
export interface ContainerRecord {
  id: string;
  dir: string;
  pid?: number;
  startTime?: string;
  startedAt?: number;
  launcherPid?: number;
  /** The container's cgroup directories, as the launcher recorded them at launch. */
  cgroups?: string[];
  exit?: ExitStatus;
  /** Host end of its veth pair (the launcher's "veth" record), when it was launched with a network. */
  hostIfName?: string;
  /** A run with captured output that exited: how many bytes it wrote to each (kept or not). */
  outputBytes?: { stdout: number; stderr: number };
  /** running: the recorded pid is alive with the recorded start time; exited: exit.json exists. */
  state: 'running' | 'exited' | 'gone' | 'created';
}

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([name, value]) => [value as number, name]));

/** Returns the name of a signal number ("SIGTERM"), or "SIG<number>" when unknown. */
export function signalName(signal: number): string {
  return signalNames.get(signal) ?? `SIG${signal}`;
}

/** Turns the launcher's numbers into an ExitStatus. */
export function toExitStatus(raw: {
  exitCode: number | null;
  signal: number | null;
  oomKilled: boolean;
  lost?: boolean;
  finishedAt?: number;
  timedOut?: boolean;
}): ExitStatus {
  return {
    exitCode: raw.exitCode !== null && raw.exitCode >= 0 ? raw.exitCode : null,
    signal: raw.signal ? signalName(raw.signal) : null,
    oomKilled: raw.oomKilled,
    lost: raw.lost ?? false,
    finishedAt: raw.finishedAt,
    ...(raw.timedOut ? { timedOut: true } : {}),
  };
}

/**
 * Reads one of the launcher's record files; undefined when it does not exist. A record that exists
 * but cannot be read or parsed throws CORRUPT_RECORD: taking it for absent would report a running
 * container as never started.
 */
function readJson(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const message = `cannot read container record ${path}: ${(err as Error).message}`;
    throw new NativeError(message, { code: 'CORRUPT_RECORD', details: { path } });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    const message = `container record ${path} is not valid JSON: ${(err as Error).message}`;
    throw new NativeError(message, { code: 'CORRUPT_RECORD', details: { path } });
  }
}

function readVethRecord(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Reads one container's state.json and exit.json and checks whether its init still runs. */
export function readContainerRecord(stateDir: string, id: string): ContainerRecord {
  const dir = join(stateDir, 'containers', id);
  const state = readJson(join(dir, 'state.json'));
  const exit = readJson(join(dir, 'exit.json'));
  const record: ContainerRecord = { id, dir, state: 'created' };
  if (state) {
    record.pid = Number(state.pid);
    record.startTime = String(state.startTime);
    record.startedAt = Number(state.startedAt);
    record.launcherPid = Number(state.launcherPid);
    if (Array.isArray(state.cgroups)) record.cgroups = state.cgroups.map(String);
  }
  const veth = readVethRecord(join(dir, 'veth'));
  if (veth) record.hostIfName = veth;
  if (exit) {
    record.exit = toExitStatus({
      exitCode: exit.exitCode as number | null,
      signal: exit.signal as number | null,
      oomKilled: Boolean(exit.oomKilled),
      lost: Boolean(exit.lost),
      finishedAt: Number(exit.finishedAt),
      timedOut: exit.timedOut === true,
    });
    if (typeof exit.stdoutBytes === 'number' && typeof exit.stderrBytes === 'number') {
      record.outputBytes = { stdout: exit.stdoutBytes, stderr: exit.stderrBytes };
    }
    record.state = 'exited';
  } else if (record.pid !== undefined && record.startTime !== undefined) {
    record.state = isSameProcess(record.pid, record.startTime) ? 'running' : 'gone';
  }
  return record;
}

/** A container's record, refused (INVALID_ARGUMENT) while it runs: what removing its files needs. */
export function exitedContainerRecord(stateDir: string, id: string): ContainerRecord {
  const record = readContainerRecord(stateDir, id);
  if (record.state === 'running') throw new NativeError(`container ${id} is running; stop it first`, { code: 'INVALID_ARGUMENT' });
  return record;
}

/** Lists every container recorded in the state directory. */
export function listContainerRecords(stateDir: string): ContainerRecord[] {
  let ids: string[];
  try {
    ids = readdirSync(join(stateDir, 'containers'));
  } catch {
    return [];
  }
  return ids.sort().map((id) => readContainerRecord(stateDir, id));
}
