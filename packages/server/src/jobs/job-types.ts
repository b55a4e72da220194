/** Lifecycle jobs, recorded in the job table and shown by GET /jobs/:id. */
export type LifecycleKind = 'launch' | 'start' | 'stop' | 'restart' | 'delete';
/** Requests a node answers at once (exec, logs): BullMQ is the way to reach the right node. */
export type RpcKind = 'exec' | 'logs';

export interface LifecycleJobData {
  kind: LifecycleKind;
  containerId: string;
  containerName: string;
  /** stop and restart: seconds between SIGTERM and SIGKILL */
  timeoutSeconds?: number;
}

export interface ExecJobData {
  kind: 'exec';
  containerId: string;
  command: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface LogsJobData {
  kind: 'logs';
  containerId: string;
  tailBytes: number;
}

export type RpcJobData = ExecJobData | LogsJobData;

export type JobState = 'waiting' | 'active' | 'completed' | 'failed';

/** What GET /jobs/:id returns. */
export interface JobView {
  id: string;
  kind: LifecycleKind;
  container: string;
  node: string;
  state: JobState;
  progress: number;
  error: string | null;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
}
