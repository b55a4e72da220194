import type { ExitStatus } from './container-records';
import type { NativeError } from './errors';
import type { LaunchPlan } from './plan';
import type { ShiftProgress } from './shifted-copy';

// The shapes ContainerRuntime (runtime.ts) takes and returns, and its defaults.

/** A container the launcher started: its init's host pid and start time. */
export interface LaunchedContainer {
  id: string;
  pid: number;
  startTime: string;
  /** Host end of its veth pair, when launched with a network. */
  hostIfName?: string;
}

/** Options of ContainerRuntime.open(). */
export interface RuntimeOptions {
  /** Absolute directory for the launcher's socket and the containers' records and layers. */
  stateDir: string;
  /**
   * 'auto' (default): idmapped image mounts, falling back to a shifted private copy where the
   * kernel or filesystem refuses them; 'off': always use a shifted copy.
   */
  idmappedMounts?: 'auto' | 'off';
  /**
   * Each container's console.log is rotated to console.log.1 (replacing it) past this size
   * (default 10 MiB, at least 4096). Applies to a launcher this runtime starts.
   */
  consoleLogMaxBytes?: number;
  /** The static init run as PID 1 by a plan with `init` (default /usr/bin/tini-static, Debian's tini). */
  initBinary?: string;
}

/** Default of RuntimeOptions.consoleLogMaxBytes. */
export const DEFAULT_CONSOLE_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** Options of launch(). */
export interface LaunchOptions {
  /** Progress of the shifted copy made when idmapped mounts are unavailable. */
  onShiftProgress?: (progress: ShiftProgress) => void;
}

/** Options of exec(). */
export interface ExecOptions {
  env?: LaunchPlan['env'];
  cwd?: string;
  /** Who runs the command: IDs inside the container, 0..65535. Default root. */
  user?: { uid: number; gid: number };
  /** Kill the command after this many milliseconds (0 = never). */
  timeoutMs?: number;
  /** Keep at most this many bytes of stdout and of stderr. */
  outputLimit?: number;
  /** How stdout and stderr come back: UTF-8 text (default; invalid bytes become U+FFFD) or base64 of the exact bytes. */
  encoding?: ExecOutputEncoding;
}

export type ExecOutputEncoding = 'utf8' | 'base64';

/** Options of startExecSession(): as exec's, and a pty if asked. */
export interface ExecSessionOptions {
  env?: LaunchPlan['env'];
  cwd?: string;
  user?: { uid: number; gid: number };
  /** Kill the command after this many milliseconds (0 or absent = never). */
  timeoutMs?: number;
  /** A pty made in the container's devpts is the command's stdin, stdout and stderr (its output comes as stdout). */
  tty?: boolean;
  /** The pty's first size (default 24×80). */
  rows?: number;
  cols?: number;
}

/** How an interactive exec session ended: its exit, or the step that kept the command from running (then exitCode and signal are null). */
export interface ExecSessionEnd {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  error?: NativeError;
}

/** What an interactive exec session tells its owner, in order: output, then one end. */
export interface ExecSessionHandlers {
  onOutput(stream: 'stdout' | 'stderr', data: Buffer): void;
  onEnd(end: ExecSessionEnd): void;
}

/** An interactive exec session started by startExecSession(). */
export interface ExecSession {
  /** Bytes for its stdin; resolves once the launcher took them (wait for it before sending more: that is the flow control). */
  write(data: Buffer): Promise<void>;
  /** Closes its stdin once what was written went in (a pipe; on a pty send ^D instead). */
  closeStdin(): Promise<void>;
  /** The pty's new size; the command's foreground process group gets SIGWINCH. */
  resize(rows: number, cols: number): Promise<void>;
  /** Kills the command (SIGKILL) and hangs its pty up; onEnd follows. */
  kill(): Promise<void>;
}

/** What an exec returns. */
export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  truncated: boolean;
}

/**
 * A run's captured output (a plan with outputLimitBytes): each stream's first bytes as kept in
 * <container dir>/stdout and /stderr, and how many it wrote in all. While the run goes on, or
 * when no launcher saw it end, the totals are what the files hold and nothing reads as truncated.
 */
export interface RunOutput {
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stdoutBytes: number;
  stderrBytes: number;
}

/** How a container ended that no launcher saw end: nobody could read its status. */
export const LOST_EXIT: Readonly<ExitStatus> = Object.freeze({ exitCode: null, signal: null, oomKilled: false, lost: true });
