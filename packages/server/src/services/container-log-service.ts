import { NagayaError } from '../errors';
import type { JobQueues } from '../jobs/job-queues';
import type { LogStreamMessage } from '../jobs/log-followers';
import type { ContainerStore } from '../store/container-store';
import type { ContainerTargets } from './container-targets';
import type { LogStreams } from './log-streams';

export interface ContainerLogServiceDeps {
  containers: ContainerStore;
  targets: ContainerTargets;
  queues: JobQueues;
  /** Carries followed logs from the container's node (logs?follow=1); without it, following is UNAVAILABLE. */
  logStreams?: LogStreams;
}

/** What a logs request asks for (GET /containers/:name/logs). */
export interface LogsRequest {
  /** Only the last this many whole lines. */
  tailLines?: number;
  /** Only lines seen at or after this time, in nanoseconds since the epoch. */
  sinceNs?: bigint;
  timestamps?: boolean;
}

/** Where a followed log goes: lines as they come (bytes, their time, a position to resume after), then its end. */
export interface LogSink {
  /** Called once the node has started following, before any line. */
  started(): void;
  line(data: Buffer, timeNs: bigint, end: number): void;
  /** The stream ended: the container exited, its node fell silent or failed. */
  ended(reason: 'exited' | 'node-silent' | 'error', message?: string): void;
}

/** A followed log with no word from its node for this long is ended (its node died or lost Redis). */
const FOLLOW_SILENCE_MS = 5000;
/** What a logs request without follow reads at most (whole lines within it). */
const LOGS_MAX_BYTES = 1024 * 1024;

/** Containers' console logs (GET /containers/:name/logs), read or followed on their nodes. */
export class ContainerLogService {
  constructor(private readonly deps: ContainerLogServiceDeps) {}

  /** Whole lines of the console log (the last `tailLines`, since a time, with their times if asked). */
  async logs(project: string, name: string, request: LogsRequest = {}): Promise<{ log: string; truncated: boolean }> {
    const row = await this.deps.containers.getByName(project, name);
    if (row.state === 'pending') return { log: '', truncated: false };
    await this.deps.targets.requireNodeOnline(row);
    return this.deps.queues.call(
      row.node,
      {
        kind: 'logs',
        containerId: row.id,
        maxBytes: LOGS_MAX_BYTES,
        ...(request.tailLines !== undefined ? { tailLines: request.tailLines } : {}),
        ...(request.sinceNs !== undefined ? { sinceNs: String(request.sinceNs) } : {}),
        ...(request.timestamps ? { timestamps: true } : {}),
      },
      15_000,
    );
  }

  /**
   * Follows the console log: subscribes a channel, asks the container's node to publish its lines
   * there, and hands them to `sink` until the container exits, the node falls silent, or `signal`
   * aborts (the client left). Throws before `sink.started()` if following cannot begin; whatever
   * way it ends, the subscription and the timer are gone when it resolves.
   */
  async followLogs(
    project: string,
    name: string,
    request: LogsRequest & { from?: number },
    sink: LogSink,
    signal: AbortSignal,
  ): Promise<void> {
    const streams = this.deps.logStreams;
    if (!streams) throw new NagayaError('UNAVAILABLE', 'this server cannot follow logs');
    const row = await this.deps.containers.getByName(project, name);
    if (row.state === 'pending') {
      sink.started();
      sink.ended('exited', `${name} has not started`);
      return;
    }
    await this.deps.targets.requireNodeOnline(row);
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let silence: NodeJS.Timeout | undefined;
    let started = false;
    const early: LogStreamMessage[] = []; // lines that came before the node's answer
    const end = (reason: 'exited' | 'node-silent' | 'error', message?: string) => {
      if (started) sink.ended(reason, message);
      finish();
    };
    const armSilence = () => {
      clearTimeout(silence);
      silence = setTimeout(() => end('node-silent', `node ${row.node} has sent nothing for ${FOLLOW_SILENCE_MS} ms`), FOLLOW_SILENCE_MS);
    };
    const deliver = (message: LogStreamMessage) => {
      armSilence();
      if (message.type === 'lines') {
        for (const l of message.lines) sink.line(Buffer.from(l.data, 'base64'), BigInt(l.ns), l.end);
      } else if (message.type === 'end') {
        end(message.reason === 'exited' ? 'exited' : 'error', message.message);
      }
    };
    const stream = await streams
      .open((message) => (started ? deliver(message) : early.push(message)))
      .catch((err: unknown) => {
        throw new NagayaError('UNAVAILABLE', `cannot follow the log: Redis refused the subscription (${(err as Error).message})`, {
          dependency: 'redis',
        });
      });
    const onAbort = () => finish();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) return;
      await this.deps.queues.call(
        row.node,
        {
          kind: 'logs-follow',
          containerId: row.id,
          channel: stream.channel,
          ...(request.from !== undefined ? { from: request.from } : {}),
          ...(request.tailLines !== undefined ? { tailLines: request.tailLines } : {}),
          ...(request.sinceNs !== undefined ? { sinceNs: String(request.sinceNs) } : {}),
        },
        15_000,
      );
      if (signal.aborted) return;
      started = true;
      sink.started();
      armSilence();
      for (const message of early.splice(0)) deliver(message);
      await finished;
    } finally {
      clearTimeout(silence);
      signal.removeEventListener('abort', onAbort);
      await stream.close();
    }
  }
}
