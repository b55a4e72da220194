import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetEvent } from '../src/events/event-hub';
import { openSse, type SseMessage } from '../src/events/sse-client';
import { ADMIN_TOKEN, eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';
import { refusal } from './support/test-helpers';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8, env: { NAGAYA_EVENT_HEARTBEAT_MS: '300' } });
});
afterAll(async () => {
  await fleet?.stop();
});

/** An open stream of GET /events: what it has received so far, and how to leave. */
interface Subscriber {
  events: FleetEvent[];
  controls: SseMessage[];
  ended: Promise<void>;
  close(): void;
}

function subscribe(query = '', options: { token?: string; lastEventId?: string } = {}): Promise<Subscriber> {
  const abort = new AbortController();
  const events: FleetEvent[] = [];
  const controls: SseMessage[] = [];
  return openSse(`${fleet.url}/api/v1/events${query}`, options.token ?? ADMIN_TOKEN, {
    signal: abort.signal,
    ...(options.lastEventId ? { lastEventId: options.lastEventId } : {}),
  }).then((messages) => {
    const ended = (async () => {
      try {
        for await (const m of messages) {
          if (m.event === 'message') events.push(JSON.parse(m.data) as FleetEvent);
          else controls.push(m);
        }
      } catch {
        // aborted by close()
      }
    })();
    return { events, controls, ended, close: () => abort.abort() };
  });
}

const hub = () => fleet.api.events!;

const CLI = join(__dirname, '..', 'dist', 'cli', 'nagaya.js');

/** Starts the built `nagaya` CLI against the fleet as its admin; its output so far, and how to stop it. */
function cliFollowing(...args: string[]): { output: () => string; stop: () => void } {
  let output = '';
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN } });
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { output: () => output, stop: () => child.kill('SIGTERM') };
}

/** Inserts `count` job rows of a made-up container, from `parallel` connections at once; every `rollbackEvery`th is rolled back. */
async function jobBurst(container: string, count: number, parallel: number, rollbackEvery = 0, pauseMs = 0): Promise<string[]> {
  const committed: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      const client = await fleet.db.pool.connect();
      try {
        while (next < count) {
          const i = next++;
          const id = `${container}-${i}`;
          await client.query('BEGIN');
          await client.query(
            `INSERT INTO job (id, queue, kind, container_id, container, project) VALUES ($1, 'none', 'start', gen_random_uuid(), $2, 'default')`,
            [id, container],
          );
          await new Promise((resolve) => setTimeout(resolve, pauseMs + (i % 7)));
          if (rollbackEvery && i % rollbackEvery === 0) {
            await client.query('ROLLBACK');
          } else {
            await client.query('COMMIT');
            committed.push(id);
          }
        }
      } finally {
        client.release();
      }
    }),
  );
  return committed;
}

describe('GET /events', () => {
  it("delivers a container's life in order, with increasing ids", async () => {
    const sub = await subscribe('?container=life');
    await fleet.admin.post('/containers', {
      name: 'life',
      image: 'busybox',
      command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
    });
    await waitRunning(fleet, 'life');
    await fleet.admin.post('/containers/life/stop', {});
    await eventually(async () => ((await fleet.admin.get<{ state: string }>('/containers/life')).state === 'stopped' ? true : undefined));
    await fleet.admin.delete('/containers/life');
    await eventually(async () => (sub.events.some((e) => e.type === 'container.deleted') ? true : undefined), 10_000, 'the deletion');
    sub.close();

    const ids = sub.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const containerEvents = sub.events.filter((e) => e.type.startsWith('container.'));
    expect(containerEvents[0]!.type).toBe('container.created');
    expect(containerEvents.at(-1)!.type).toBe('container.deleted');
    const states = containerEvents.map((e) => e.payload.state);
    expect(states.slice(0, 6)).toEqual(['pending', 'starting', 'running', 'stopping', 'stopped', expect.any(String)]);
    for (const e of sub.events) expect(e.container).toBe('life');
    // the jobs that did it are events too
    expect(sub.events.filter((e) => e.type === 'job.created').map((e) => e.payload.kind)).toEqual(
      expect.arrayContaining(['launch', 'stop', 'delete']),
    );
    // and how each ended, from the worker that ran it
    expect(sub.events.filter((e) => e.type === 'job.state').map((e) => [e.payload.kind, e.payload.state])).toEqual(
      expect.arrayContaining([
        ['launch', 'completed'],
        ['stop', 'completed'],
      ]),
    );
    // and a stream of one type sees that type alone
    const stateOnly = await subscribe(`?type=container.state&container=life&since=${ids[0]! - 1}`);
    await eventually(async () => (stateOnly.events.length >= 4 ? true : undefined), 5000, 'the backlog');
    stateOnly.close();
    expect(new Set(stateOnly.events.map((e) => e.type))).toEqual(new Set(['container.state']));
  });

  it('resumes with Last-Event-ID after a disconnect in a burst of 200 changes: no gap, no duplicate', async () => {
    const first = await subscribe('?container=burst&type=job');
    const burst = jobBurst('burst', 220, 6, 11, 25); // 20 rolled back: ids with holes, commits out of id order
    await eventually(async () => (first.events.length >= 50 ? true : undefined), 20_000, '50 events');
    first.close();
    await first.ended;
    const lastSeen = first.events.at(-1)!.id;
    expect(first.events.length).toBeLessThan(150); // it left in the middle of the burst
    const second = await subscribe('?container=burst&type=job', { lastEventId: String(lastSeen) });
    const committed = await burst;
    expect(committed).toHaveLength(200);
    await eventually(async () => (first.events.length + second.events.length >= 200 ? true : undefined), 20_000, 'every event once');
    await new Promise((resolve) => setTimeout(resolve, 300)); // and nothing more
    second.close();
    const all = [...first.events, ...second.events];
    const ids = all.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(200);
    expect(all.map((e) => e.payload.id).sort()).toEqual([...committed].sort());
    expect(second.events[0]!.id).toBeGreaterThan(lastSeen);
  });

  it('never skips an event whose transaction commits after a later one, and a long unrelated transaction holds nothing back', async () => {
    const sub = await subscribe('?type=test.order');
    const bystander = await fleet.db.pool.connect(); // a long transaction with an xid that writes no event
    const slow = await fleet.db.pool.connect();
    try {
      await bystander.query('BEGIN');
      await bystander.query('SELECT pg_current_xact_id()');
      await slow.query('BEGIN');
      await slow.query(`SELECT nagaya_event('test.order', 'default', 'order', '{"n": 1}')`); // takes the lower id
      await fleet.db.pool.query(`SELECT nagaya_event('test.order', 'default', 'order', '{"n": 2}')`); // commits first
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sub.events).toEqual([]); // the later id waits for the earlier one
      await slow.query('COMMIT');
      await eventually(async () => (sub.events.length === 2 ? true : undefined), 5000, 'both, in id order');
      expect(sub.events.map((e) => e.payload.n)).toEqual([1, 2]);
      expect(sub.events[0]!.id).toBeLessThan(sub.events[1]!.id);
      // a rolled-back id is a hole that is not waited for, even with the bystander still open
      await slow.query('BEGIN');
      await slow.query(`SELECT nagaya_event('test.order', 'default', 'order', '{"n": 3}')`);
      await fleet.db.pool.query(`SELECT nagaya_event('test.order', 'default', 'order', '{"n": 4}')`);
      await slow.query('ROLLBACK');
      await eventually(async () => (sub.events.length === 3 ? true : undefined), 2000, 'the event after the hole');
      expect(sub.events[2]!.payload.n).toBe(4);
    } finally {
      await bystander.query('ROLLBACK');
      bystander.release();
      slow.release();
      sub.close();
    }
  });

  it("does not show project A's events to project B's token, and 404s across projects", async () => {
    await fleet.admin.post('/projects', { name: 'tenant-b' });
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'b-viewer', role: 'viewer', project: 'tenant-b' });
    const b = await subscribe('?since=0', { token });
    const admin = await subscribe('?type=job&container=secret-a');
    await jobBurst('secret-a', 5, 1);
    // a change in tenant-b, so the stream has something to show when it is all it shows
    await fleet.db.pool.query(
      `INSERT INTO job (id, queue, kind, container_id, container, project) VALUES ('b-1', 'none', 'start', gen_random_uuid(), 'mine', 'tenant-b')`,
    );
    await eventually(async () => (b.events.some((e) => e.container === 'mine') ? true : undefined), 5000, "tenant-b's event");
    await eventually(async () => (admin.events.length === 5 ? true : undefined), 5000, "the admin sees project default's");
    b.close();
    admin.close();
    expect(b.events.length).toBeGreaterThan(0);
    for (const e of b.events) expect(e.project).toBe('tenant-b');
    expect((await refusal(fleet.client(token).get('/events?project=default'))).code).toBe('NOT_FOUND');
  });

  it("sends node and volume changes; a project token sees none of the fleet's node events", async () => {
    const fleetWide = await subscribe('?type=node,volume,image');
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'default-viewer', role: 'viewer', project: 'default' });
    const projectOnly = await subscribe('?type=node,volume', { token });
    const worker = await fleet.addWorker('node-ev');
    await eventually(
      async () => (fleetWide.events.some((e) => e.type === 'node.joined' && e.payload.node === 'node-ev') ? true : undefined),
      10_000,
      'node.joined',
    );
    await fleet.admin.post('/volumes', { name: 'evvol', node: 'node-a' });
    await fleet.admin.delete('/volumes/evvol');
    await worker.close(); // a node stopping says so: draining, then offline
    await eventually(
      async () =>
        fleetWide.events.some((e) => e.type === 'node.status' && e.payload.node === 'node-ev' && e.payload.status === 'offline')
          ? true
          : undefined,
      20_000,
      'node-ev offline',
    );
    await eventually(
      async () => (projectOnly.events.some((e) => e.type === 'volume.deleted') ? true : undefined),
      5000,
      'the project sees its volume',
    );
    fleetWide.close();
    projectOnly.close();
    expect(fleetWide.events.filter((e) => e.payload.node === 'node-ev').map((e) => [e.type, e.payload.status])).toEqual([
      ['node.joined', 'active'],
      ['node.status', 'draining'],
      ['node.status', 'offline'],
    ]);
    expect(fleetWide.events.filter((e) => e.type.startsWith('volume.')).map((e) => [e.type, e.project, e.payload.volume])).toEqual([
      ['volume.created', 'default', 'evvol'],
      ['volume.deleted', 'default', 'evvol'],
    ]);
    expect(projectOnly.events.map((e) => e.type)).toEqual(['volume.created', 'volume.deleted']);
  });

  it("sends a run's states and a project's changes, and nothing of a run's hidden container", async () => {
    const seen = await subscribe('?type=run,project,container');
    await fleet.admin.post('/projects', { name: 'evproj' });
    await fleet.admin.request('PATCH', '/projects/evproj', { quotas: { containers: 3 } });
    const { run } = await fleet.admin.post<{ run: { id: string } }>('/runs', {
      image: 'busybox',
      command: ['/bin/sh', '-c', 'exit 3'],
      timeoutSeconds: 30,
    });
    // the long poll wakes on the run's last event
    expect(await fleet.admin.get(`/runs/${run.id}/wait?timeoutSeconds=30`)).toMatchObject({ state: 'failed', exitCode: 3 });
    await fleet.admin.delete('/projects/evproj');
    await eventually(async () => (seen.events.some((e) => e.type === 'project.deleted') ? true : undefined), 5000, 'project.deleted');
    seen.close();
    const ofRun = seen.events.filter((e) => e.type === 'run.state' && e.payload.id === run.id);
    expect(ofRun.map((e) => [e.payload.from ?? null, e.payload.state])).toEqual([
      [null, 'queued'],
      ['queued', 'running'],
      ['running', 'failed'],
    ]);
    expect(ofRun.at(-1)!.payload).toMatchObject({ exitCode: 3, node: 'node-a', attempt: 1 });
    expect(ofRun.every((e) => e.project === 'default')).toBe(true);
    // the run's container came and went without a word: its run said what happened
    expect(seen.events.filter((e) => e.type.startsWith('container.'))).toEqual([]);
    expect(seen.events.filter((e) => e.type.startsWith('project.')).map((e) => [e.type, e.project])).toEqual([
      ['project.created', 'evproj'],
      ['project.updated', 'evproj'],
      ['project.deleted', 'evproj'],
    ]);
  });

  it('keeps the newest 10,000+ events: a resume 10,000 back gets every one', async () => {
    await fleet.db.pool.query(
      `SELECT count(*) FROM (SELECT nagaya_event('test.bulk', 'default', 'bulk', jsonb_build_object('n', n)) FROM generate_series(1, 25000) AS n) s`,
    );
    const newest = Number((await fleet.db.pool.query<{ id: string }>('SELECT max(id) AS id FROM event')).rows[0]!.id);
    const kept = Number((await fleet.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM event')).rows[0]!.n);
    expect(kept).toBeGreaterThanOrEqual(10_000);
    expect(kept).toBeLessThan(25_000); // pruned
    await eventually(async () => (hub().lastDeliveredId >= newest ? true : undefined), 20_000, 'the hub caught up');
    const resumed = await subscribe('?type=test.bulk', { lastEventId: String(newest - 10_000) });
    await eventually(async () => (resumed.events.length >= 10_000 ? true : undefined), 30_000, '10,000 events');
    resumed.close();
    expect(resumed.controls.filter((m) => m.event === 'truncated')).toEqual([]);
    expect(resumed.events.map((e) => e.id)).toEqual(Array.from({ length: 10_000 }, (_, i) => newest - 10_000 + 1 + i));
    // from further back than is kept, the stream says so
    const tooOld = await subscribe('?type=test.bulk&since=1');
    await eventually(async () => (tooOld.controls.length > 0 ? true : undefined), 10_000, 'a truncated event');
    tooOld.close();
    expect(tooOld.controls[0]!.event).toBe('truncated');
  });

  it('sends heartbeats, and leaves no subscriber, timer or LISTEN connection behind when clients go', async () => {
    const raw = await fetch(`${fleet.url}/api/v1/events`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const reader = raw.body!.getReader();
    let text = '';
    const deadline = Date.now() + 3000;
    while (!text.includes(': heartbeat') && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain(': heartbeat');
    await reader.cancel();

    const subs = await Promise.all(Array.from({ length: 20 }, () => subscribe()));
    expect(hub().subscriberCount).toBeGreaterThanOrEqual(20);
    for (const s of subs) s.close();
    await eventually(async () => (hub().subscriberCount === 0 && hub().openStreams === 0 ? true : undefined), 5000, 'every stream let go');
    const { rows } = await fleet.db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`,
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('drops a client that does not read, with a last overflow event, instead of buffering without bound', async () => {
    const url = new URL(`${fleet.url}/api/v1/events?type=test.slow`);
    const socketPaused = new Promise<void>((resolve, reject) => {
      const req = httpRequest(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }, (res) => {
        res.pause(); // never read: the server's buffer for this client fills
        resolve();
      });
      req.on('error', reject);
      req.end();
    });
    await socketPaused;
    await eventually(async () => (hub().subscriberCount === 1 ? true : undefined), 5000, 'the slow client subscribed');
    const before = hub().lastDeliveredId;
    // 20,000 events of 2 KiB: 40 MiB, far more than socket buffers and the stream's limit
    await fleet.db.pool.query(
      `SELECT count(*) FROM (SELECT nagaya_event('test.slow', 'default', 'slow', jsonb_build_object('pad', repeat('x', 2048))) FROM generate_series(1, 20000)) s`,
    );
    await eventually(async () => (hub().lastDeliveredId >= before + 20_000 ? true : undefined), 30_000, 'the hub delivered the burst');
    await eventually(
      async () => (hub().subscriberCount === 0 && hub().openStreams === 0 ? true : undefined),
      5000,
      'the slow client dropped',
    );
  });

  it('refuses a Last-Event-ID that is not an id', async () => {
    const err = await refusal(openSse(`${fleet.url}/api/v1/events`, ADMIN_TOKEN, { lastEventId: 'abc' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect((await refusal(openSse(`${fleet.url}/api/v1/events?type=Robert');DROP`, ADMIN_TOKEN))).code).toBe('INVALID_INPUT');
  });

  it('nagaya events prints events as they come; nagaya list --watch redraws on a container change', async () => {
    const events = cliFollowing('events', '--container', 'cli-seen', '--type', 'job', '--json');
    const watch = cliFollowing('list', '--watch');
    try {
      await eventually(async () => (hub().subscriberCount >= 2 ? true : undefined), 10_000, 'both CLIs subscribed');
      await jobBurst('cli-seen', 3, 1);
      await eventually(async () => (events.output().trim().split('\n').length >= 3 ? true : undefined), 5000, 'three lines');
      const printed = events
        .output()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as FleetEvent);
      expect(printed.map((e) => e.payload.id)).toEqual(['cli-seen-0', 'cli-seen-1', 'cli-seen-2']);

      await fleet.admin.post('/containers', { name: 'watched', image: 'busybox', command: ['sleep', '600'] });
      await eventually(
        async () => (/watched\s+running/.test(watch.output().split('\x1b[2J').at(-1) ?? '') ? true : undefined),
        20_000,
        'the table redrawn with watched running',
      );
    } finally {
      events.stop();
      watch.stop();
    }
  });
});
