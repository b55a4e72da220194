import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { NativeError } from './errors';
import { findLauncher, loadAddon, type LauncherConnectionHandle } from './loader';

const LAUNCHER_ALREADY_RUNNING = 3;

/** Path of the launcher's socket in a state directory. */
export function launcherSocketPath(stateDir: string): string {
  return join(stateDir, 'launcher.sock');
}

function tryConnect(socketPath: string, onMessage: (msg: Buffer | null) => void): LauncherConnectionHandle | undefined {
  try {
    return new (loadAddon().LauncherConnection)(socketPath, onMessage);
  } catch (err) {
    const e = err as { syscall?: string };
    if (e.syscall === 'connect') return undefined;
    throw err;
  }
}

/** How a launcher this process starts is configured (one already running keeps its own). */
export interface LauncherSettings {
  /** Each container's console.log is rotated to console.log.1 past this size. */
  consoleLogMaxBytes: number;
}

/**
 * Connects to the state directory's launcher, starting it first when none answers. The launcher
 * is started once, detached (its own session), so it and its containers outlive this process.
 */
export async function connectToLauncher(
  stateDir: string,
  onMessage: (msg: Buffer | null) => void,
  settings: LauncherSettings,
): Promise<LauncherConnectionHandle> {
  const socketPath = launcherSocketPath(stateDir);
  const existing = tryConnect(socketPath, onMessage);
  if (existing) return existing;

  const launcherPath = findLauncher();
  const { status, stderr } = loadAddon().spawnLauncher(launcherPath, stateDir, ['--console-log-max', String(settings.consoleLogMaxBytes)]);
  if (status !== 0 && status !== LAUNCHER_ALREADY_RUNNING) {
    throw new NativeError(`cannot start ${launcherPath} for ${stateDir} (exit ${status}): ${stderr.trim()}`, {
      code: 'LAUNCHER_UNAVAILABLE',
    });
  }
  // Status 3: another process started it a moment ago; it may still be binding its socket.
  for (let attempt = 0; attempt < 100; attempt++) {
    const conn = tryConnect(socketPath, onMessage);
    if (conn) return conn;
    await sleep(20);
  }
  throw new NativeError(`the launcher for ${stateDir} does not answer on ${socketPath}`, { code: 'LAUNCHER_UNAVAILABLE' });
}
