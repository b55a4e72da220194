// `npm run bench:deletes`: BENCH_DELETES (1,000) running busybox `sleep` containers through the API
// (bench/support/fleet.ts: throwaway database, Redis and data directory), then taken down two ways,
// each on a fresh set:
//   without force  POST /stop to every container (its default 10 s grace: busybox sleep as PID 1
//                  ignores SIGTERM, so every one waits it out and gets SIGKILL), then DELETE each
//                  once it is stopped: first stop to the last row gone (target <= 30 s);
//   with force     DELETE ?force=1 to every running container (SIGKILL at once): first DELETE to
//                  the last row gone (target <= 15 s).
// 32 requests in flight. A stop waits out its grace time as a delayed job, not in one of the
// worker's slots, so the stops of all 1,000 overlap. Prints a table and one JSON line. Needs root.
import { printTable } from './bench-support';
import { startFleet, type Fleet } from './support/fleet';

const COUNT = Number(process.env.BENCH_DELETES ?? 1000);
const IN_FLIGHT = 32;

async function inFlight<T>(items: T[], each: (item: T) => Promise<void>): Promise<void> {
  let cursor = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (cursor < items.length) await each(items[cursor++]!);
    }),
  );
}

async function request(fleet: Fleet, method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`http://127.0.0.1:${fleet.port}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${fleet.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return res;
}

async function countWhere(fleet: Fleet, where: string): Promise<number> {
  const { rows } = await fleet.db.query<{ n: string }>(`SELECT count(*) AS n FROM container WHERE ${where}`);
  return Number(rows[0]!.n);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runAll(fleet: Fleet, prefix: string): Promise<string[]> {
  const names = Array.from({ length: COUNT }, (_, i) => `${prefix}-${i}`);
  const waits: Array<Promise<number>> = [];
  await inFlight(names, async (name) => {
    await fleet.post(name);
    waits.push(fleet.watcher.wait(name));
  });
  await Promise.all(waits);
  const running = await countWhere(fleet, `state = 'running' AND name LIKE '${prefix}-%'`);
  if (running !== COUNT) throw new Error(`${running} of ${COUNT} containers run`);
  return names;
}

async function main(): Promise<void> {
  // room for both sets: the first set's slices sit out their quarantine after its deletes
  const fleet = await startFleet({ slices: 2 * COUNT + 64 });
  try {
    // without force: stop every one (grace 10 s), delete each once stopped
    const gentle = await runAll(fleet, 'g');
    const gentleStarted = Date.now();
    await inFlight(gentle, async (name) => void (await request(fleet, 'POST', `/containers/${name}/stop`, {})));
    const stopsAcceptedS = (Date.now() - gentleStarted) / 1000;
    const deleted = new Set<string>();
    await until(
      'every container stopped and deleted',
      async () => {
        const { rows } = await fleet.db.query<{ name: string }>("SELECT name FROM container WHERE state = 'stopped' AND name LIKE 'g-%'");
        const fresh = rows.map((r) => r.name).filter((n) => !deleted.has(n));
        for (const n of fresh) deleted.add(n);
        await inFlight(fresh, async (name) => void (await request(fleet, 'DELETE', `/containers/${name}`)));
        return (await countWhere(fleet, "name LIKE 'g-%'")) === 0;
      },
      120_000,
    );
    const gentleS = (Date.now() - gentleStarted) / 1000;

    // with force: SIGKILL at once
    const forced = await runAll(fleet, 'f');
    const forcedStarted = Date.now();
    await inFlight(forced, async (name) => void (await request(fleet, 'DELETE', `/containers/${name}?force=1`)));
    const forceAcceptedS = (Date.now() - forcedStarted) / 1000;
    await until('every container deleted', async () => (await countWhere(fleet, "name LIKE 'f-%'")) === 0, 120_000);
    const forcedS = (Date.now() - forcedStarted) / 1000;
    const slicesLeft = Number((await fleet.db.query<{ n: string }>("SELECT count(*) AS n FROM id_slot WHERE state <> 'free'")).rows[0]!.n);

    const table: Array<[string, string]> = [
      ['running busybox sleep containers, each time', String(COUNT)],
      ['without force: all stops accepted, s', stopsAcceptedS.toFixed(2)],
      ['deletes_without_force_s (first stop to last row gone; target <= 30)', gentleS.toFixed(2)],
      ['with force: all DELETEs accepted, s', forceAcceptedS.toFixed(2)],
      ['deletes_with_force_s (first DELETE to last row gone; target <= 15)', forcedS.toFixed(2)],
      ['slices still taken afterwards', String(slicesLeft)],
    ];
    printTable(table);
    console.log(
      JSON.stringify({
        bench: 'deletes',
        containers: COUNT,
        deletes_without_force_s: Number(gentleS.toFixed(2)),
        deletes_with_force_s: Number(forcedS.toFixed(2)),
        stops_accepted_s: Number(stopsAcceptedS.toFixed(2)),
        force_deletes_accepted_s: Number(forceAcceptedS.toFixed(2)),
        slices_left: slicesLeft,
      }),
    );
  } finally {
    await fleet.stop();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
