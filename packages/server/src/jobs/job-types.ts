import type { LifecycleKind } from '@nagaya/contract';

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
