import { join } from 'node:path';
import type { Job } from 'bullmq';
import { NagayaError } from '../errors';
import { NativeError, type ContainerRuntime, type ExecResult, readConsoleLog, rfc3339Nano } from '@nagaya/native';
import { toApiError } from '../api/http-errors';
import { encodeRpcError } from './job-queues';
import type { LogsJobData, RpcJobData, VolumeJobData } from './job-types';
import type { LogFollowers } from './log-followers';
import type { NodeVolumes } from './node-volumes';

const OUTPUT_LIMIT = 1024 * 1024;

/** Answers exec and logs requests (and starts log followers) for containers on this node, and makes, measures and removes its volumes' directories. */
export class RpcJobs {
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly volumes: NodeVolumes,
    private readonly followers: LogFollowers,
  ) {}

  /** The BullMQ processor: failures travel as "CODE: message" and become the same error at the API. */
  async process(job: Job<RpcJobData>): Promise<unknown> {
    try {
      const data = job.data;
      if (data.kind === 'exec') return await this.exec(data);
      if (data.kind === 'logs') return await this.logs(data);
      if (data.kind === 'logs-follow') {
        this.followers.start(data);
        return { following: true };
      }
      return await this.volume(data);
    } catch (err) {
      throw new Error(encodeRpcError(toApiError(err)));
    }
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
