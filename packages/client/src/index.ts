// @nagaya/client: submit runs and wait for them, through the REST API or straight into the runs
// queue. Depends on @nagaya/contract alone: a direct submission goes through a BullMQ Queue the
// caller makes (so BullMQ and Redis stay the caller's choice and version).
import { randomUUID } from 'node:crypto';
import {
  apiErrorOf,
  bullPriorityOf,
  DIRECT_RUNS_PENDING_TTL_SECONDS,
  directRunsPendingKeyType,
  RUNS_QUEUE,
  type RunJobData,
  type RunOutputView,
  type RunView,
} from '@nagaya/contract';
import { createRunSchema, type CreateRunInput } from '@nagaya/contract/schemas';

export { RUNS_QUEUE };
export type { CreateRunInput, RunOutputView, RunView };

/** What a direct submission needs of a BullMQ Queue: `new Queue(RUNS_QUEUE, { connection, prefix: NAGAYA_QUEUE_PREFIX })`. */
export interface RunsQueueLike {
  add(name: string, data: RunJobData, opts: { jobId: string; priority: number; delay?: number; attempts: number }): Promise<unknown>;
  /** A key of the queue (BullMQ's Queue.toKey): the count of the project's runs not yet taken in is kept there. */
  toKey(type: string): string;
  /** The queue's Redis client, where BullMQ 6 keeps it (Queue.backend.client). */
  readonly backend?: { readonly client: Promise<PendingCounterClient> };
  /** The queue's Redis client, where BullMQ 5 keeps it (Queue.client). */
  readonly client?: Promise<PendingCounterClient>;
}

/** What a direct submission asks of Redis itself: the count of its project's runs not yet taken in. */
interface PendingCounterClient {
  incr(key: string): Promise<number>;
  decr(key: string): Promise<number>;
  expire(key: string, seconds: number): Promise<number>;
}

export interface NagayaClientOptions {
  /** The API, e.g. http://127.0.0.1:8080 (waitForRun and output always use it). */
  url?: string;
  token?: string;
  /** The project runs go to (default: the token's own, or `default`). A direct submission must name it. */
  project?: string;
  /** The runs queue, for direct submission. */
  queue?: RunsQueueLike;
}

/** Submits runs and waits for them; every spec is checked with the API's own schema first. */
export class NagayaClient {
  constructor(private readonly options: NagayaClientOptions) {}

  /**
   * Submits a run and returns its id: into the queue when the client has one (the worker makes
   * the run's row from the job, as it does for a schedule's tick), else through POST /runs.
   */
  async submitRun(spec: CreateRunInput): Promise<{ id: string }> {
    const checked = createRunSchema.parse(spec);
    const { queue, project } = this.options;
    if (!queue) return { id: (await this.request<{ run: RunView }>('POST', '/runs', checked)).run.id };
    if (!project) throw new Error('a direct submission names its project (options.project)');
    if (checked.schedule !== undefined) throw new Error('schedules are made through the API (POST /runs with schedule)');
    const { delaySeconds, schedule: _schedule, ...rest } = checked;
    const id = randomUUID();
    // its place in the fair share: after the project's runs that are in the queue and not yet
    // taken in (the worker that takes it in also counts the project's queued rows)
    const redis = await (queue.backend?.client ?? queue.client);
    if (!redis) throw new Error('the runs queue has no Redis client (a BullMQ Queue has one)');
    const pendingKey = queue.toKey(directRunsPendingKeyType(project));
    const pending = await redis.incr(pendingKey);
    try {
      await redis.expire(pendingKey, DIRECT_RUNS_PENDING_TTL_SECONDS);
      await queue.add(
        'run',
        { project, runId: id, spec: rest },
        {
          jobId: id,
          priority: bullPriorityOf(checked.priority ?? 0, pending - 1),
          attempts: 1,
          ...(delaySeconds ? { delay: delaySeconds * 1000 } : {}),
        },
      );
    } catch (err) {
      await redis.decr(pendingKey).catch(() => undefined);
      throw err;
    }
    return { id };
  }

  /** Waits for a run to end (long polls of GET /runs/{id}/wait); a run submitted straight into the queue may not have its row yet. */
  async waitForRun(id: string, timeoutSeconds = 600): Promise<RunView> {
    const until = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const left = Math.max(0, Math.min(60, Math.ceil((until - Date.now()) / 1000)));
      let run: RunView | undefined;
      try {
        run = await this.request<RunView>('GET', `/runs/${id}/wait?timeoutSeconds=${left}`);
      } catch (err) {
        // a direct submission's row is made when a worker takes its job
        if ((err as { code?: string }).code !== 'NOT_FOUND' || Date.now() >= until) throw err;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (run.finishedAt !== null || Date.now() >= until) return run;
    }
  }

  /** A run's stdout and stderr, as bytes. */
  async output(id: string): Promise<{ stdout: Buffer; stderr: Buffer; view: RunOutputView }> {
    const view = await this.request<RunOutputView>('GET', `/runs/${id}/output?encoding=base64`);
    return { stdout: Buffer.from(view.stdout, 'base64'), stderr: Buffer.from(view.stderr, 'base64'), view };
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { url, token, project } = this.options;
    if (!url) throw new Error('this client has no API url');
    const sep = path.includes('?') ? '&' : '?';
    const res = await fetch(`${url.replace(/\/$/, '')}/api/v1${path}${project ? `${sep}project=${encodeURIComponent(project)}` : ''}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) throw apiErrorOf(res.status, json);
    return json as T;
  }
}
