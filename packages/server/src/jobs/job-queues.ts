import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { isErrorCode, type JobKind, type JobState, type JobView } from '@nagaya/contract';
import { NagayaError } from '../errors';
import type { Db } from '../store/db';
import type { LifecycleJobData, PullJobData, PullProgress, RpcJobData } from './job-types';

/** BullMQ queue names: one lifecycle queue and one rpc queue per node. */

/** Pull jobs run once (a failed pull is pulled again by the user) and are kept as long as lifecycle jobs. */
const PULL_JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { age: 7 * 86400, count: 20_000 },
  removeOnFail: { age: 30 * 86400, count: 20_000 },
} as const;
export const lifecycleQueueName = (node: string) => `node-${node}`;
export const rpcQueueName = (node: string) => `rpc-${node}`;

const LIFECYCLE_ATTEMPTS = 3;

/** The id of a container's first launch job: the container id, so a repeated create never makes a second job. */
export const launchJobId = (containerId: string) => containerId;

/**
 * Where the API puts jobs for nodes: one lifecycle queue per node (launch, start, stop,
 * restart, delete) and one rpc queue per node (exec, logs) so a quick exec never waits behind
 * a slow launch. Every lifecycle job is also recorded in Postgres (job table) so it can be found
 * by id whatever node runs it.
 */
export class JobQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, { events: QueueEvents; connection: Redis }>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly db: Db,
  ) {}

  queue(name: string): Queue {
    // BullMQ waits, for as long as Redis is down, for a connection that is not ready; a request
    // must get its 503 at once instead of hanging.
    if (this.connection.status !== 'ready') {
      throw new NagayaError('UNAVAILABLE', `the job queue is unavailable: its Redis connection is ${this.connection.status}`, {
        dependency: 'redis',
      });
    }
    let q = this.queues.get(name);
    if (!q) {
      const created = new Queue(name, { connection: this.connection, prefix: this.prefix });
      created.on('error', () => undefined); // a Redis outage surfaces as a failed call, not a crash
      // A queue's setup (INFO for the server's version) runs once; if Redis goes away during it,
      // the queue fails every later call with that error, even once Redis is back. Such a queue
      // is dropped, so the next request makes a new one.
      created.waitUntilReady().catch(() => {
        if (this.queues.get(name) === created) this.queues.delete(name);
        created.close().catch(() => undefined); // the connection is shared: close() leaves it open
      });
      this.queues.set(name, created);
      q = created;
    }
    return q;
  }

  /** Runs a Lua script on one key of a queue (BullMQ's Queue.toKey of `type`), on the queues' connection. */
  async evalOnKey(queue: string, type: string, script: string): Promise<unknown> {
    return this.connection.eval(script, 1, this.queue(queue).toKey(type));
  }

  /** Throws UNAVAILABLE at once while Redis is down, so a request fails before it writes anything. */
  assertReady(node: string): void {
    this.queue(lifecycleQueueName(node));
  }

  /**
   * Enqueues a lifecycle job on a node. A launch uses the container id as job id, so a repeated
   * create never makes a second job; `fresh` makes a new id for a re-enqueue by the reconciler.
   * `recorded`: the caller already wrote the job's row (ContainerStore.create does, for a launch).
   */
  async enqueue(
    node: string,
    data: LifecycleJobData,
    options: { fresh?: boolean; recorded?: boolean; delayMs?: number } = {},
  ): Promise<string> {
    const id =
      data.kind === 'launch' && !options.fresh
        ? launchJobId(data.containerId)
        : `${data.containerId}-${data.kind}-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const queue = lifecycleQueueName(node);
    const q = this.queue(queue); // refuses at once while Redis is down, before the job row is written
    if (!options.recorded) {
      await this.db.query(
        `INSERT INTO job (id, queue, kind, container_id, container, project)
         VALUES ($1, $2, $3, $4, $5, (SELECT project FROM container WHERE id = $4)) ON CONFLICT (id) DO NOTHING`,
        [id, queue, data.kind, data.containerId, data.containerName],
      );
    }
    await q.add(data.kind, data, {
      jobId: id,
      ...(options.delayMs ? { delay: options.delayMs } : {}),
      attempts: data.kind === 'launch' || data.kind === 'start' ? LIFECYCLE_ATTEMPTS : 2,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 7 * 86400, count: 20_000 },
      removeOnFail: { age: 30 * 86400, count: 20_000 },
    });
    return id;
  }

  /**
   * Enqueues an image pull on a node's lifecycle queue, recorded in Postgres with the image it
   * makes (and never its credentials, which stay in the job's data in Redis). One attempt: a
   * registry that refused once refuses again, and the failure is the answer the caller wants.
   */
  async enqueuePull(node: string, data: PullJobData): Promise<string> {
    const id = `pull-${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
    const queue = lifecycleQueueName(node);
    // one pull of a name at a time: under the name's lock, a pull that is still under way refuses
    // this one, and this one is in its queue before the lock goes (a later request sees it)
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nagaya:pull:${data.project}/${data.name}`]);
      const earlier = await tx.query<{ id: string; queue: string }>(
        `SELECT id, queue FROM job WHERE kind = 'pull' AND project = $1 AND image = $2 AND created_at > now() - interval '7 days'
          ORDER BY created_at DESC LIMIT 20`,
        [data.project, data.name],
      );
      for (const e of earlier.rows) {
        const state = await this.queue(e.queue).getJobState(e.id);
        // an active job whose lock expired ran on a worker that died, and no worker of that queue is left to fail it
        const stalled = state === 'active' && (await this.connection.exists(`${this.prefix}:${e.queue}:${e.id}:lock`)) === 0;
        if (['waiting', 'active', 'delayed', 'prioritized'].includes(state) && !stalled) {
          throw new NagayaError('CONFLICT', `image ${data.name} is being pulled already (job ${e.id})`, { job: e.id });
        }
      }
      await tx.query('INSERT INTO job (id, queue, kind, image, project) VALUES ($1, $2, $3, $4, $5)', [
        id,
        queue,
        'pull',
        data.name,
        data.project,
      ]);
      await this.queue(queue).add('pull', data, { jobId: id, ...PULL_JOB_OPTIONS });
    });
    return id;
  }

  /**
   * Moves a pull that still waits in the queue of `from` (a node gone) to the queue of `to`, with
   * its id and data. The new copy is queued and the record names its queue before the old copy
   * goes, so GET /jobs/:id says waiting throughout; the old copy goes only if no worker holds it,
   * and if one took it meanwhile, it runs there and the new copy is taken back: a pull never runs
   * twice. False when it was not moved.
   */
  async movePull(id: string, from: string, to: string): Promise<boolean> {
    const old = await this.queue(lifecycleQueueName(from)).getJob(id);
    if (!old || !['waiting', 'delayed', 'prioritized'].includes(await old.getState())) return false;
    const moved = await this.queue(lifecycleQueueName(to)).add('pull', old.data as PullJobData, { jobId: id, ...PULL_JOB_OPTIONS });
    await this.db.query('UPDATE job SET queue = $2 WHERE id = $1', [id, lifecycleQueueName(to)]);
    try {
      await old.remove();
      return true;
    } catch {
      // locked by a worker that took it meanwhile: it runs there
      await moved.remove().catch(() => undefined);
      await this.db.query('UPDATE job SET queue = $2 WHERE id = $1', [id, lifecycleQueueName(from)]);
      return false;
    }
  }

  /** The ids of the pulls that wait in a node's queue (at most 100, oldest first). */
  async pullsWaitingOn(node: string): Promise<string[]> {
    const jobs = await this.queue(lifecycleQueueName(node)).getJobs(['waiting', 'delayed', 'prioritized'], 0, 99, true);
    return jobs.filter((j) => j?.name === 'pull' && j.id).map((j) => j.id!);
  }

  /**
   * Removes a lifecycle job from a node's queue if it is still waiting there (a worker that holds
   * it keeps it; a job a worker reads after its container moved or was deleted does nothing).
   */
  async discard(node: string, jobId: string): Promise<void> {
    await this.queue(lifecycleQueueName(node))
      .remove(jobId)
      .catch(() => undefined);
  }

  /**
   * Moves the launch job of a pending container from one node's queue to another's, keeping its
   * id (the container id, the job the create answered with), so a client waiting on it follows
   * the container. The old queue's job is removed if it still waits there; one a worker holds
   * finds the row on another node and does nothing. Returns the id of the job now queued.
   */
  async moveLaunch(containerId: string, containerName: string, from: string, to: string): Promise<string> {
    const id = launchJobId(containerId);
    // in this order, GET /jobs/:id says waiting throughout: the new copy is queued, the record
    // then names its queue, and only then the old copy goes
    await this.enqueue(to, { kind: 'launch', containerId, containerName }); // records it if it was not
    await this.db.query('UPDATE job SET queue = $2 WHERE id = $1 AND container_id = $3', [id, lifecycleQueueName(to), containerId]);
    await this.discard(from, id);
    return id;
  }

  /** Forgets the job records of a container that is gone. */
  async forgetJobsOf(containerId: string): Promise<void> {
    await this.db.query('DELETE FROM job WHERE container_id = $1', [containerId]);
  }

  /** Sends an rpc job (exec, logs) to a node and waits for its answer. */
  async call<R>(node: string, data: RpcJobData, timeoutMs: number): Promise<R> {
    const name = rpcQueueName(node);
    const events = await this.queueEvents(name);
    const job = await this.queue(name).add(data.kind, data, {
      // kept a minute, not removed at once: a job that finished before waitUntilFinished looked
      // at it was gone, and the call failed with "Missing key for job" (500; e2e/test/fault-bad-input)
      attempts: 1,
      removeOnComplete: { age: 60, count: 1000 },
      removeOnFail: { age: 3600 },
    });
    try {
      return (await job.waitUntilFinished(events, timeoutMs)) as R;
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      if (/timed out/i.test(message)) {
        throw new NagayaError('UNAVAILABLE', `node ${node} did not answer within ${timeoutMs} ms`);
      }
      throw decodeRpcError(message);
    }
  }

  private async queueEvents(name: string): Promise<QueueEvents> {
    let entry = this.events.get(name);
    if (!entry) {
      // QueueEvents blocks on its connection, so it gets one of its own (closed in close()).
      const connection = this.connection.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
      connection.on('error', () => undefined);
      entry = { events: new QueueEvents(name, { connection, prefix: this.prefix }), connection };
      entry.events.on('error', () => undefined);
      this.events.set(name, entry);
      await entry.events.waitUntilReady();
    }
    return entry.events;
  }

  /** Returns a lifecycle job by id (of that project, when one is given); NOT_FOUND if there is none. */
  async get(id: string, project?: string): Promise<JobView> {
    const { rows } = await this.db.query<JobRow>('SELECT * FROM job WHERE id = $1 AND ($2::text IS NULL OR project = $2)', [
      id,
      project ?? null,
    ]);
    if (!rows[0]) throw new NagayaError('NOT_FOUND', `no job ${id}`);
    return this.view(rows[0]);
  }

  /** Lists recent lifecycle jobs, newest first, optionally of one project, of one container or in one state. */
  async list(filter: { project?: string; containerId?: string; state?: JobState; limit?: number } = {}): Promise<JobView[]> {
    const limit = Math.min(filter.limit ?? 100, 500);
    const { rows } = await this.db.query<JobRow>(
      `SELECT * FROM job WHERE ($1::uuid IS NULL OR container_id = $1) AND ($3::text IS NULL OR project = $3)
        ORDER BY created_at DESC LIMIT $2`,
      [filter.containerId ?? null, filter.state ? limit * 5 : limit, filter.project ?? null],
    );
    const views = await Promise.all(rows.map((r) => this.view(r)));
    return (filter.state ? views.filter((v) => v.state === filter.state) : views).slice(0, limit);
  }

  /** Puts a failed job (of that project, when one is given) back in its queue. */
  async retry(id: string, project?: string): Promise<JobView> {
    const { rows } = await this.db.query<JobRow>('SELECT * FROM job WHERE id = $1 AND ($2::text IS NULL OR project = $2)', [
      id,
      project ?? null,
    ]);
    const row = rows[0];
    if (!row) throw new NagayaError('NOT_FOUND', `no job ${id}`);
    const job = await this.queue(row.queue).getJob(id);
    if (!job) throw new NagayaError('CONFLICT', `job ${id} is no longer in its queue`);
    if ((await job.getState()) !== 'failed') throw new NagayaError('CONFLICT', `job ${id} has not failed`);
    if ((job.data as Partial<PullJobData>).credentialsDropped) {
      // they were used for that pull only and are not kept: a retry would pull without them
      throw new NagayaError('CONFLICT', `job ${id} pulled with credentials, which are not kept: start the pull again with them`);
    }
    await job.retry('failed');
    return this.view(row);
  }

  /** Latest lifecycle job of a container. */
  async latestFor(containerId: string): Promise<JobView | undefined> {
    return (await this.list({ containerId, limit: 1 }))[0];
  }

  /** Waiting + active + delayed jobs per queue, for the queue depth metric. */
  async depths(nodes: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const node of nodes) {
      const counts = await this.queue(lifecycleQueueName(node)).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      out[node] = Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return out;
  }

  private async view(row: JobRow): Promise<JobView> {
    // the state first, then the job: a job read first may end between the two reads, and its
    // state would say failed while its copy still has no failedReason or finishedOn
    const queue = this.queue(row.queue);
    const raw = await queue.getJobState(row.id);
    const job = raw === 'unknown' ? undefined : await queue.getJob(row.id);
    const state: JobState =
      raw === 'completed'
        ? 'completed'
        : raw === 'failed'
          ? 'failed'
          : raw === 'active'
            ? 'active'
            : raw === 'unknown'
              ? 'failed'
              : 'waiting';
    const bytes = row.kind === 'pull' ? pullProgressOf(job?.progress) : undefined;
    const percent = bytes?.bytesTotal ? Math.floor((100 * bytes.bytesDone) / bytes.bytesTotal) : 0;
    return {
      id: row.id,
      project: row.project,
      kind: row.kind,
      container: row.container,
      image: row.image,
      node: row.queue.replace(/^node-/, ''),
      state,
      progress: state === 'completed' ? 100 : typeof job?.progress === 'number' ? job.progress : percent,
      bytesDone: bytes?.bytesDone ?? null,
      bytesTotal: bytes?.bytesTotal ?? null,
      error: job?.failedReason || (job ? null : 'the job is no longer in its queue (Redis lost it); the reconciler re-enqueues its work'),
      attempts: job?.attemptsMade ?? 0,
      createdAt: new Date(job?.timestamp ?? row.created_at).toISOString(),
      finishedAt: job?.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.events.values()].map(async (e) => {
        await e.events.close().catch(() => undefined);
        await e.connection.quit().catch(() => undefined);
      }),
    );
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
  }
}

interface JobRow {
  id: string;
  queue: string;
  kind: JobKind;
  container_id: string | null;
  container: string | null;
  image: string | null;
  project: string | null;
  created_at: Date;
}

/** A pull's progress as its worker reported it; undefined before it did. */
function pullProgressOf(progress: unknown): PullProgress | undefined {
  const p = progress as Partial<PullProgress> | undefined;
  return typeof p === 'object' && p !== null && typeof p.bytesDone === 'number' && typeof p.bytesTotal === 'number'
    ? { bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }
    : undefined;
}

/** Rpc failures travel as "CODE: message" in BullMQ's failedReason; this turns them back into errors. */
export function encodeRpcError(err: NagayaError): string {
  return `${err.code}: ${err.message}`;
}

function decodeRpcError(reason: string): NagayaError {
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m && isErrorCode(m[1])) return new NagayaError(m[1], m[2]!);
  return new NagayaError('INTERNAL', reason);
}
