import { join } from 'node:path';
import type { ContainerRuntime, ConsoleLine, ConsoleReadOptions } from '@nagaya/native';
import { readConsoleLog } from '@nagaya/native';
import type { Redis } from 'ioredis';
import { NagayaError } from '../errors';
import type { LogsFollowJobData } from './job-types';

/** What a follower publishes on its channel, one JSON message each. */
export type LogStreamMessage =
  | { type: 'lines'; lines: WireLine[] }
  /** Nothing new: says the node is still there (and asks Redis whether anyone still listens). */
  | { type: 'beat' }
  | { type: 'end'; reason: 'exited' | 'gone' | 'error'; message?: string };

/** A line on the wire: its bytes in base64 (logs are bytes, not text), its time and its end position. */
export interface WireLine {
  end: number;
  ns: string;
  data: string;
}

export interface LogFollowerTiming {
  /** How often the log is looked at. */
  pollMs: number;
  /** A beat after this long without lines. */
  beatMs: number;
  /** Lines the launcher has not dated after this long are sent with the node's time. */
  undatedMs: number;
}

const DEFAULT_TIMING: LogFollowerTiming = { pollMs: 100, beatMs: 1000, undatedMs: 1000 };
/** At most this much of the log per message. */
const CHUNK_BYTES = 256 * 1024;
/** Followers one node runs at once: each polls its log every pollMs, so the number is bounded. */
export const MAX_LOG_FOLLOWERS = 256;

/**
 * The node's side of `logs?follow=1`: for each request, tails the container's console log and
 * publishes its lines on the request's Redis channel. It stops when the container has exited (after
 * its last lines) or when a publish reaches no subscriber (the client left and the API
 * unsubscribed): no state outlives the request by more than one beat.
 */
export class LogFollowers {
  private readonly running = new Map<string, { stop: () => void; done: Promise<void> }>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly publisher: Redis,
    private readonly timing: LogFollowerTiming = DEFAULT_TIMING,
  ) {}

  /** Followers running now (one per follow request this node serves). */
  get count(): number {
    return this.running.size;
  }

  /** Starts following for a request; throws NOT_FOUND for a container this node does not have. */
  start(data: LogsFollowJobData): void {
    const record = this.runtime.status(data.containerId);
    if (record.state === 'gone') throw new NagayaError('NOT_FOUND', `container ${data.containerId} is not on this node`);
    if (this.running.has(data.channel)) return; // a job handed out twice: one follower is enough
    if (this.running.size >= MAX_LOG_FOLLOWERS) {
      throw new NagayaError('UNAVAILABLE', `this node already follows ${MAX_LOG_FOLLOWERS} logs; try again when a follower has ended`);
    }
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    const done = this.follow(data, join(record.dir, 'console.log'), () => stopped, sleep)
      .catch(async (err: unknown) => {
        await this.publish(data.channel, { type: 'end', reason: 'error', message: (err as Error).message }).catch(() => 0);
      })
      .finally(() => this.running.delete(data.channel));
    this.running.set(data.channel, { stop, done });
  }

  /** Stops every follower (the worker is closing). */
  async close(): Promise<void> {
    const all = [...this.running.values()];
    for (const f of all) f.stop();
    await Promise.all(all.map((f) => f.done));
  }

  private async follow(data: LogsFollowJobData, path: string, stopped: () => boolean, sleep: (ms: number) => Promise<void>): Promise<void> {
    const { channel } = data;
    const first: ConsoleReadOptions =
      data.from !== undefined
        ? { from: data.from, maxBytes: CHUNK_BYTES, partialLastLine: false }
        : {
            ...(data.tailLines !== undefined ? { tailLines: data.tailLines } : {}),
            ...(data.sinceNs !== undefined ? { sinceNs: BigInt(data.sinceNs) } : {}),
            partialLastLine: false,
          };
    let read = await readConsoleLog(path, first);
    let from = read.next;
    if ((await this.publishLines(channel, read.lines)) === 0) return;
    let lastSent = Date.now();
    let undatedSince: number | undefined;
    const sinceNs = data.from === undefined && data.sinceNs !== undefined ? BigInt(data.sinceNs) : undefined;
    while (!stopped()) {
      const exited = this.runtime.status(data.containerId).state !== 'running';
      // once exited, the launcher has dated its last look: send all, the last part line too;
      // bytes stuck past undatedMs (not dated, or a line with no newline yet) go out as they are
      const forceUndated = exited || (undatedSince !== undefined && Date.now() - undatedSince >= this.timing.undatedMs);
      read = await readConsoleLog(path, {
        from,
        maxBytes: CHUNK_BYTES,
        stopAtUndated: !forceUndated,
        // a part line (a prompt, a progress bar) goes out once it has waited as long as an undated one
        partialLastLine: forceUndated,
        ...(sinceNs !== undefined ? { sinceNs } : {}),
      });
      from = read.next;
      undatedSince = read.end > read.next ? (undatedSince ?? Date.now()) : undefined;
      if (read.lines.length > 0) {
        if ((await this.publishLines(channel, read.lines)) === 0) return;
        lastSent = Date.now();
        if (read.end > read.next) continue; // more to send at once
      }
      if (exited && read.end <= read.next) {
        await this.publish(channel, { type: 'end', reason: 'exited' });
        return;
      }
      if (Date.now() - lastSent >= this.timing.beatMs) {
        if ((await this.publish(channel, { type: 'beat' })) === 0) return;
        lastSent = Date.now();
      }
      await sleep(this.timing.pollMs);
    }
  }

  /** Publishes lines (none: nothing, and counts as listened to); returns how many subscribers got them. */
  private async publishLines(channel: string, lines: ConsoleLine[]): Promise<number> {
    if (lines.length === 0) return 1;
    const now = BigInt(Date.now()) * 1_000_000n;
    return this.publish(channel, {
      type: 'lines',
      lines: lines.map((l) => ({ end: l.end, ns: String(l.timeNs ?? now), data: l.data.toString('base64') })),
    });
  }

  private async publish(channel: string, message: LogStreamMessage): Promise<number> {
    return this.publisher.publish(channel, JSON.stringify(message));
  }
}
