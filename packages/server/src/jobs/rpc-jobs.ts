import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { NagayaError } from '../errors';
import { directoryDiskBytes, NativeError, readCgroupUsage, type CgroupUsage, type ContainerRuntime, type ExecResult } from '@nagaya/native';
import { toApiError } from '../api/http-errors';
import { encodeRpcError } from './job-queues';
import type { RpcJobData, RunOutputSoFar, VolumeJobData } from './job-types';
import type { NodeVolumes } from './node-volumes';

const OUTPUT_LIMIT = 1024 * 1024;
/**
 * How long a writable layer's measure is reused. du walks every file a tenant made: without this,
 * stats asked in a loop (or many at once) would keep the node's disk and RPC workers busy.
 */
const LAYER_MEASURE_TTL_MS = 5_000;

/** Answers exec and logs requests for containers on this node, and makes, measures and removes its volumes' directories. */
export class RpcJobs {
  /** Each container's latest (or running) writable-layer measure, shared by the stats calls of the next few seconds. */
  private readonly layerMeasures = new Map<string, { at: number; bytes: Promise<number | null> }>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly volumes: NodeVolumes,
  ) {}

  /** The BullMQ processor: failures travel as "CODE: message" and become the same error at the API. */
  async process(job: Job<RpcJobData>): Promise<unknown> {
    try {
      const data = job.data;
      if (data.kind === 'exec') return await this.exec(data);
      if (data.kind === 'logs') return await this.logs(data.containerId, data.tailBytes);
      if (data.kind === 'run-output') return this.runOutput(data.containerId);
      if (data.kind === 'stats') return await this.stats(data.containerId);
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

  private async exec(data: Extract<RpcJobData, { kind: 'exec' }>): Promise<ExecResult> {
    if (this.runtime.status(data.containerId).state !== 'running') {
      throw new NagayaError('CONFLICT', 'the container is not running');
    }
    try {
      return await this.runtime.exec(data.containerId, data.command, {
        env: data.env,
        ...(data.cwd ? { cwd: data.cwd } : {}),
        ...(data.user ? { user: data.user } : {}),
        timeoutMs: data.timeoutMs ?? 30_000,
        outputLimit: OUTPUT_LIMIT,
      });
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

  /**
   * Returns the last `tailBytes` of the container's console: of console.log and, when that is
   * shorter (it was just rotated), of console.log.1 before it.
   */
  private async logs(id: string, tailBytes: number): Promise<{ log: string; truncated: boolean }> {
    const path = join(this.runtime.status(id).dir, 'console.log');
    const newest = await tail(path, tailBytes);
    const older =
      newest.data.length < tailBytes
        ? await tail(`${path}.1`, tailBytes - newest.data.length)
        : { data: Buffer.alloc(0), truncated: false };
    return { log: Buffer.concat([older.data, newest.data]).toString('utf8'), truncated: newest.truncated || older.truncated };
  }
}

/** The last `bytes` of a file (nothing if it does not exist), and whether there was more. */
async function tail(path: string, bytes: number): Promise<{ data: Buffer; truncated: boolean }> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch {
    return { data: Buffer.alloc(0), truncated: false };
  }
  try {
    const { size } = await file.stat();
    const length = Math.min(size, bytes);
    const data = Buffer.alloc(length);
    const { bytesRead } = await file.read(data, 0, length, size - length);
    return { data: data.subarray(0, bytesRead), truncated: size > length };
  } finally {
    await file.close();
  }
}
