import { CONTAINER_STATES } from '@nagaya/contract';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ContainerUsageSample } from './usage-board';

/** Where the gauges read their values at scrape time (absent in a worker-only process). */
export interface MetricSources {
  containersByState?: () => Promise<Record<string, number>>;
  slicesByPoolAndState?: () => Promise<Array<{ pool: string; state: string; count: number }>>;
  queueDepthByNode?: () => Promise<Record<string, number>>;
  /** The latest usage sample of every running container, as the nodes published it. */
  containerUsage?: () => Promise<ContainerUsageSample[]>;
}

/** The Prometheus metrics of one process (its own registry, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly launchSeconds: Histogram<string>;
  readonly jobFailures: Counter<'kind' | 'final'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private sources: MetricSources = {};
  /** One read of the usage board serves the three per-container gauges of a scrape. */
  private usageRead: { at: number; samples: Promise<ContainerUsageSample[]> } | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'nagaya_process_' });
    this.launchSeconds = new Histogram({
      name: 'nagaya_launch_seconds',
      help: 'Time from a container create request to its init running',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.jobFailures = new Counter({
      name: 'nagaya_job_failures_total',
      help: 'Lifecycle job attempts that failed (final = no retry left)',
      labelNames: ['kind', 'final'],
      registers: [this.registry],
    });
    this.httpRequests = new Counter({
      name: 'nagaya_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    const self = this;
    new Gauge({
      name: 'nagaya_containers',
      help: 'Containers by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const counts = (await self.sources.containersByState?.().catch(() => undefined)) ?? {};
        // every state a row can hold (unknown is only shown, never stored)
        for (const state of CONTAINER_STATES.filter((s) => s !== 'unknown')) {
          this.set({ state }, counts[state] ?? 0);
        }
      },
    });
    new Gauge({
      name: 'nagaya_id_slices',
      help: 'ID pool slots by pool and state',
      labelNames: ['pool', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const s of (await self.sources.slicesByPoolAndState?.().catch(() => undefined)) ?? [])
          this.set({ pool: s.pool, state: s.state }, s.count);
      },
    });
    new Gauge({
      name: 'nagaya_queue_depth',
      help: 'Lifecycle jobs waiting, delayed or active, by node',
      labelNames: ['node'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [node, n] of Object.entries((await self.sources.queueDepthByNode?.().catch(() => undefined)) ?? {}))
          this.set({ node }, n);
      },
    });
    const perContainer: Array<[string, string, keyof Pick<ContainerUsageSample, 'memoryBytes' | 'cpuSeconds' | 'pids'>]> = [
      ['nagaya_container_memory_bytes', 'Memory charged to a running container now (page cache and tmpfs included)', 'memoryBytes'],
      ['nagaya_container_cpu_seconds_total', 'CPU time (user and system) of a running container since it started', 'cpuSeconds'],
      ['nagaya_container_pids', 'Processes and threads in a running container', 'pids'],
    ];
    for (const [name, help, field] of perContainer) {
      new Gauge({
        name,
        help: `${help}; sampled by its node every NAGAYA_USAGE_SAMPLE_MS`,
        labelNames: ['container', 'project', 'node'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const s of await self.containerUsage()) {
            const value = s[field];
            if (value !== null) this.set({ container: s.container, project: s.project, node: s.node }, value);
          }
        },
      });
    }
  }

  /** The containers' usage samples, read once for all the gauges of one scrape. */
  private containerUsage(): Promise<ContainerUsageSample[]> {
    if (!this.usageRead || Date.now() - this.usageRead.at > 500) {
      this.usageRead = { at: Date.now(), samples: this.sources.containerUsage?.().catch(() => []) ?? Promise.resolve([]) };
    }
    return this.usageRead.samples;
  }

  /** Tells the gauges where to read (the API process knows Postgres and the queues). */
  setSources(sources: MetricSources): void {
    this.sources = { ...this.sources, ...sources };
  }
}
