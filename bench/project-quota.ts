// `npm run bench:project-quota`: what a project's quotas cost a create. The quota is checked by a
// trigger inside the create's INSERT (it locks the project row and sums the project's use), so this
// times ContainerStore.create, the statement the API runs, against a real Postgres: in a project
// without quotas, and in one with every quota, as the project grows to 2000 containers. Prints a
// table, then one JSON line. Uses a throwaway database it drops at the end.
import { randomBytes, randomUUID } from 'node:crypto';
import { runMigrations } from '../migrations/src';
import { testDatabaseUrl, withDatabase } from '../packages/allocator/test/support/test-services';
import { quantile, withAdmin } from './bench-support';
import { ContainerStore } from '../packages/server/src/store/container-store';
import { Db } from '../packages/server/src/store/db';

const PER_STEP = Number(process.env.BENCH_CREATES ?? 500);
const STEPS = Number(process.env.BENCH_STEPS ?? 4);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);

interface Step {
  project: string;
  before: number;
  creates: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** PER_STEP creates into `project` from CLIENTS concurrent callers; latency of each, and throughput. */
async function step(store: ContainerStore, project: string, before: number): Promise<Step> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < PER_STEP) {
        const i = before + next++;
        const id = randomUUID();
        const t = performance.now();
        await store.create(
          {
            id,
            project,
            name: `c${i}`,
            image: 'busybox',
            command: ['/bin/sh'],
            env: {},
            limits: { memoryBytes: 64 << 20, cpus: 0.01, pids: 64 },
            idmap: {},
            security: {},
            pool: 'default',
            node: 'bench',
          },
          { launchJobId: id, queue: 'node-bench', actor: 'bench' },
        );
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    project,
    before,
    creates: PER_STEP,
    perSecond: PER_STEP / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
  };
}

async function main(): Promise<void> {
  const name = `nagaya_bench_quota_${randomBytes(4).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(testDatabaseUrl(), name);
  const db = new Db(url, CLIENTS);
  try {
    await runMigrations(url);
    const huge = 10 ** 12;
    await db.query(
      `INSERT INTO project (name, quota_containers, quota_slices, quota_memory_bytes, quota_cpus, quota_processes, quota_disk_bytes)
       VALUES ('open', NULL, NULL, NULL, NULL, NULL, NULL), ('quota', $1::bigint, $1::bigint, $1::bigint, $1::bigint::numeric, $1::bigint, $1::bigint)`,
      [huge],
    );
    // a create places its row only on an active node
    await db.query(`INSERT INTO node (name) VALUES ('bench')`);
    const store = new ContainerStore(db);
    const rows: Step[] = [];
    // interleaved, so a slower moment of the machine falls on both alike
    for (let s = 0; s < STEPS; s++) {
      for (const project of ['open', 'quota']) rows.push(await step(store, project, s * PER_STEP));
    }
    console.log(`creates: ${PER_STEP} per step, ${CLIENTS} concurrent callers, one project each\n`);
    console.log('project  containers before  creates/s  p50 ms  p99 ms');
    for (const r of rows) {
      console.log(
        `${r.project.padEnd(7)}  ${String(r.before).padStart(17)}  ${r.perSecond.toFixed(0).padStart(9)}  ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)}`,
      );
    }
    console.log(JSON.stringify({ bench: 'project-quota', clients: CLIENTS, perStep: PER_STEP, rows }));
  } finally {
    await db.close();
    await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
