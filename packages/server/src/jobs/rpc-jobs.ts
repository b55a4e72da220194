import { join } from 'node:path';
import type { Job } from 'bullmq';
import { NagayaError } from '../errors';
import {
  directoryDiskBytes,
  NativeError,
  readCgroupUsage,
  readConsoleLog,
  rfc3339Nano,
  type CgroupUsage,
  type ContainerRuntime,
  type ExecResult,
} from '@nagaya/native';
import { toApiError } from '../api/http-errors';
import { encodeRpcError } from './job-queues';
import type { LogsJobData, RpcJobData, RunOutputSoFar, VolumeJobData } from './job-types';
import type { ExecRelays } from './exec-relays';
import type { FileRelays } from './file-relays';
import type { LogFollowers } from './log-followers';
import type { NodeVolumes } from './node-volumes';

/**
 * How long a writable layer's measure is reused. du walks every file a tenant made: without this,
 * stats asked in a loop (or many at once) would keep the node's disk and RPC workers busy.
 */
const LAYER_MEASURE_TTL_MS = 5_000;

/** Answers exec and logs requests (and starts log followers, exec sessions and file copies) for containers on this node, and makes, measures and removes its volumes' directories. */
export class RpcJobs {
  /** Each container's latest (or running) writable-layer measure, shared by the stats calls of the next few seconds. */
  private readonly layerMeasures = new Map<string, { at: number; bytes: Promise<number | null> }>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly volumes: NodeVolumes,
    private readonly followers: LogFollowers,
    /** What a one-shot exec keeps of stdout and of stderr, each. */
    private readonly execOutputLimitBytes: number,
    private readonly execRelays?: ExecRelays,
    private readonly fileRelays?: FileRelays,
  ) {}

  /** The BullMQ processor: failures travel as "CODE: message" and become the same error at the API. */
  async process(job: Job<RpcJobData>): Promise<unknown> {
    try {
      const data = job.data;
      if (data.kind === 'exec') return await this.exec(data);
      if (data.kind === 'exec-session') {
        if (!this.execRelays) throw new NagayaError('UNAVAILABLE', 'this node relays no exec sessions');
        return await this.execRelays.start(data);
      }
      if (data.kind === 'logs') return await this.logs(data);
      if (data.kind === 'logs-follow') {
        this.followers.start(data);
        return { following: true };
      }
      if (data.kind === 'run-output') return this.runOutput(data.containerId);
      if (data.kind === 'stats') return await this.stats(data.containerId);
      if (data.kind === 'files-read' || data.kind === 'files-write') {
        if (!this.fileRelays) throw new NagayaError('UNAVAILABLE', 'this node relays no file copies');
        return data.kind === 'files-read' ? await this.fileRelays.startRead(data) : await this.fileRelays.startWrite(data);
      }
      return await this.volume(data);
    } catch (err) {
      throw new Error(encodeRpcError(toApiError(err)));
    }
  }

  /** A running run's output so far, from its capture files. */
  private runOutput(id: string): RunOutputSoFar {
    const o = this.runtime.readOutput(id);
    return {
      stdout: o.stdout.toString('base64'),
      stderr: o.stderr.toString('base64'),
      stdoutBytes: o.stdoutBytes,
      stderrBytes: o.stderrBytes,
      stdoutTruncated: o.stdoutTruncated,
      stderrTruncated: o.stderrTruncated,
    };
  }

  private async volume(data: VolumeJobData): Promise<unknown> {
    switch (data.kind) {
      case 'volume-create':
        await this.volumes.create(data.project, data.id, data.quota);
        return { created: true };
      case 'volume-remove':
        await this.volumes.remove(data.project, data.id);
        return { removed: true };
      case 'volume-usage':
        return this.volumes.usage(data.volumes);
    }
  }

  private async exec(data: Extract<RpcJobData, { kind: 'exec' }>): Promise<ExecResult & { encoding: 'utf8' | 'base64' }> {
    if (this.runtime.status(data.containerId).state !== 'running') {
      throw new NagayaError('CONFLICT', 'the container is not running');
    }
    try {
      const encoding = data.encoding ?? 'utf8';
      const result = await this.runtime.exec(data.containerId, data.command, {
        env: data.env,
        ...(data.cwd ? { cwd: data.cwd } : {}),
        ...(data.user ? { user: data.user } : {}),
        timeoutMs: data.timeoutMs ?? 30_000,
        outputLimit: this.execOutputLimitBytes,
        encoding,
      });
      return { ...result, encoding };
    } catch (err) {
      if (err instanceof NativeError && err.step === 'exec') {
        throw new NagayaError('INVALID_INPUT', `cannot run ${JSON.stringify(data.command[0])} in the container: ${err.message}`);
      }
      throw err;
    }
  }

  /** Reads a running container's cgroups and measures its writable layer (its directory's upper/). */
  private async stats(id: string): Promise<CgroupUsage & { writableLayerBytes: number | null }> {
    const record = this.runtime.status(id);
    if (record.state !== 'running') throw new NagayaError('CONFLICT', 'the container is not running', { state: record.state });
    const usage = readCgroupUsage(record.cgroups ?? []);
    return { ...usage, writableLayerBytes: await this.writableLayerBytes(id, join(record.dir, 'upper')) };
  }

  /** du of a container's upper directory, run at most once per LAYER_MEASURE_TTL_MS (callers in between share it). */
  private writableLayerBytes(id: string, upper: string): Promise<number | null> {
    const now = Date.now();
    for (const [other, m] of this.layerMeasures) if (now - m.at > LAYER_MEASURE_TTL_MS) this.layerMeasures.delete(other);
    let measure = this.layerMeasures.get(id);
    if (!measure) {
      measure = { at: now, bytes: directoryDiskBytes(upper) };
      this.layerMeasures.set(id, measure);
      // a failed measure is not kept: the next call tries again
      measure.bytes.catch(() => this.layerMeasures.delete(id));
    }
    return measure.bytes;
  }

  /** Whole lines of the container's console (console.log.1 then console.log), dated by the launcher. */
  private async logs(data: LogsJobData): Promise<{ log: string; truncated: boolean }> {
    const read = await readConsoleLog(join(this.runtime.status(data.containerId).dir, 'console.log'), {
      maxBytes: data.maxBytes,
      ...(data.tailLines !== undefined ? { tailLines: data.tailLines } : {}),
      ...(data.sinceNs !== undefined ? { sinceNs: BigInt(data.sinceNs) } : {}),
    });
    const now = BigInt(Date.now()) * 1_000_000n;
    const parts = read.lines.map((l) => (data.timestamps ? [Buffer.from(`${rfc3339Nano(l.timeNs ?? now)} `), l.data] : [l.data]));
    return { log: Buffer.concat(parts.flat()).toString('utf8'), truncated: read.truncated };
  }
}
