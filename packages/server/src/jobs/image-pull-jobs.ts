import type { Job } from 'bullmq';
import { NagayaError } from '../errors';
import { pullImage } from '../images/image-pull';
import type { ImageStore } from '../images/image-store';
import type { Logger } from '../observability/logger';
import { encodeRpcError } from './job-queues';
import type { PullJobData, PullProgress } from './job-types';

export interface ImagePullJobDeps {
  images: ImageStore;
  /** Registries (host:port) pulled from over plain http. */
  insecureRegistries: readonly string[];
  maxImageBytes: number;
  log: Logger;
}

/** How often a pull reports its bytes at most (each report is a Redis write). */
const PROGRESS_INTERVAL_MS = 250;

/**
 * Runs image pulls on this node: the registry's image into this node's store, recorded, pushed
 * to the fleet's registry. A failure is the job's failure, "CODE: message" (IMAGE_UNAVAILABLE
 * for what the registry did), with nothing left behind. The job's progress counts the layers'
 * bytes. The credentials a pull was given leave the job's data when it ends, whatever the end.
 */
export class ImagePullJobs {
  constructor(private readonly deps: ImagePullJobDeps) {}

  /** The BullMQ processor of `pull` jobs. */
  async process(job: Job<PullJobData>): Promise<Record<string, unknown>> {
    const { images, log } = this.deps;
    const { project, name, reference, auth } = job.data;
    const progress = new ProgressReporter(job);
    try {
      const image = await pullImage(
        images,
        { project, name, reference, ...(auth ? { auth } : {}) },
        {
          pullId: job.id!,
          insecureRegistries: this.deps.insecureRegistries,
          maxImageBytes: this.deps.maxImageBytes,
          onBytes: (done, total) => progress.report({ bytesDone: done, bytesTotal: total }),
        },
      );
      await progress.flush();
      log.info('image pulled', { project, image: name, reference: image.reference, digest: image.digest });
      return { image: name, digest: image.digest, reference: image.reference };
    } catch (err) {
      await progress.flush().catch(() => undefined);
      const failure =
        err instanceof NagayaError ? err : new NagayaError('INTERNAL', `pulling ${reference} failed: ${(err as Error).message}`);
      log.warn('image pull failed', { project, image: name, reference, code: failure.code, error: failure.message });
      throw new Error(encodeRpcError(failure));
    } finally {
      // BullMQ keeps a finished job (and its data) for days: the credentials must not stay with it
      if (auth) {
        const { auth: _dropped, ...rest } = job.data;
        await job
          .updateData({ ...rest, credentialsDropped: true })
          .catch((e: unknown) => log.warn('could not remove the credentials of a pull job', { error: e as Error }));
      }
    }
  }
}

/** Reports a pull's bytes through job.updateProgress: at most every PROGRESS_INTERVAL_MS, in order, the last one always. */
class ProgressReporter {
  private chain: Promise<void> = Promise.resolve();
  private lastAt = 0;
  private pending: PullProgress | undefined;

  constructor(private readonly job: Job) {}

  report(progress: PullProgress): void {
    this.pending = progress;
    const now = Date.now();
    if (now - this.lastAt >= PROGRESS_INTERVAL_MS || progress.bytesDone >= progress.bytesTotal) {
      this.lastAt = now;
      this.send();
    }
  }

  /** Sends what is not sent yet, and waits for every report to be written. */
  async flush(): Promise<void> {
    this.send();
    await this.chain;
  }

  private send(): void {
    const progress = this.pending;
    if (!progress) return;
    this.pending = undefined;
    this.chain = this.chain.then(() => this.job.updateProgress({ ...progress })).catch(() => undefined);
  }
}
