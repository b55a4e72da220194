/**
 * What a container's command runs with, resolved at create (the image config, then the request)
 * and kept in its row's `run` column; defaults are left out (/, root).
 */
export interface ContainerRun {
  /** Default /. */
  workingDir?: string;
  /** IDs inside the container; default 0 (root). */
  uid?: number;
  gid?: number;
  /** tini as PID 1. */
  init?: boolean;
  /** Default SIGTERM. */
  stopSignal?: string;
  /** Default DEFAULT_STOP_TIMEOUT_SECONDS. */
  stopTimeoutSeconds?: number;
}

/** The row's run settings from resolved ones, defaults left out. */
export function containerRunOf(settings: { workingDir: string; uid: number; gid: number }): ContainerRun {
  return {
    ...(settings.workingDir !== '/' ? { workingDir: settings.workingDir } : {}),
    ...(settings.uid !== 0 ? { uid: settings.uid } : {}),
    ...(settings.gid !== 0 ? { gid: settings.gid } : {}),
  };
}

/**
 * The directory and user a process of the container runs with, as the launcher's plan and exec
 * options take them: the first process and every exec alike, as Docker does.
 */
export function processOptionsOf(run: ContainerRun): { cwd?: string; user?: { uid: number; gid: number } } {
  return {
    ...(run.workingDir ? { cwd: run.workingDir } : {}),
    ...(run.uid || run.gid ? { user: { uid: run.uid ?? 0, gid: run.gid ?? 0 } } : {}),
  };
}
