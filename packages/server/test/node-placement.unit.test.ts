import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NagayaError } from '../src/errors';
import { capacityOf, limitsBeyond } from '../src/services/node-capacity';
import { NodePlacement } from '../src/services/node-placement';
import type { NodeRow, NodeStore } from '../src/store/node-store';

// Pure placement logic over a node table held in memory (the real NodeStore is exercised by
// fleet.test.ts); Date is faked, and given to the placement as its clock, so snapshot and
// heartbeat ages are exact.

const OFFLINE_MS = 3000;

/** A node row as NodeStore.list() would read it now: heartbeatAgeMs old at the start of the test. */
function node(name: string, containers: number, heartbeatAgeMs = 0): NodeRow {
  const heartbeatAt = new Date(1_000_000 - heartbeatAgeMs);
  return {
    name,
    containers,
    heartbeatAgeMs,
    online: true,
    status: 'active',
    drainingAt: null,
    heartbeatAt,
    startedAt: heartbeatAt,
    version: 't',
    info: {},
  };
}

/** Serves the rows with their heartbeat age as of the moment of each read, like the SQL does. */
function fakeStore(rows: () => NodeRow[]) {
  const store = {
    reads: 0,
    list: async () => {
      store.reads++;
      return rows().map((r) => {
        const heartbeatAgeMs = Date.now() - r.heartbeatAt.getTime();
        return { ...r, heartbeatAgeMs, online: heartbeatAgeMs <= OFFLINE_MS };
      });
    },
  };
  return store;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(1_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('NodePlacement', () => {
  it('serves creates within a second from one read, spreading them over the least loaded nodes', async () => {
    const store = fakeStore(() => [node('a', 10), node('b', 4)]);
    const placement = new NodePlacement(store as unknown as NodeStore, OFFLINE_MS, undefined, () => Date.now());
    const chosen: string[] = [];
    for (let i = 0; i < 12; i++) {
      const n = await placement.choose(undefined);
      placement.placed(n);
      chosen.push(n);
    }
    expect(store.reads).toBe(1);
    // b takes the first six (4 -> 10), then the two alternate as ties are broken
    expect(chosen.slice(0, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
    expect(chosen.filter((n) => n === 'a')).toHaveLength(3);
    vi.setSystemTime(1_000_000 + 1001);
    await placement.choose(undefined);
    expect(store.reads).toBe(2);
  });

  it('prefers, among the least loaded, the nodes that hold the image; load still comes first', async () => {
    const store = fakeStore(() => [node('a', 3), node('b', 3), node('c', 3), node('d', 1)]);
    const placement = new NodePlacement(store as unknown as NodeStore, OFFLINE_MS, undefined, () => Date.now());
    const holding = new Set(['c', 'd']);
    const chosen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const n = await placement.choose(undefined, undefined, holding);
      placement.placed(n);
      chosen.push(n);
    }
    // d is least loaded (1, 2, 3); of the four then tied at 3, c and d hold the image and go
    // first; a and b take the next two
    expect(chosen.slice(0, 2)).toEqual(['d', 'd']);
    expect(new Set(chosen.slice(2, 4))).toEqual(new Set(['c', 'd']));
    expect(new Set(chosen.slice(4))).toEqual(new Set(['a', 'b']));
    // a holder more loaded than another node: load wins
    const loaded = new NodePlacement(fakeStore(() => [node('a', 5), node('b', 1)]) as unknown as NodeStore, OFFLINE_MS, undefined, () =>
      Date.now(),
    );
    expect(await loaded.choose(undefined, undefined, new Set(['a']))).toBe('b');
  });

  it('never calls a node online that a fresh read would call offline', async () => {
    const store = fakeStore(() => [node('a', 0, 2500), node('b', 5, 0)]);
    const placement = new NodePlacement(store as unknown as NodeStore, OFFLINE_MS, 60_000, () => Date.now());
    expect(await placement.choose(undefined)).toBe('a');
    vi.setSystemTime(1_000_000 + 600); // a's heartbeat is now 3100 ms old, though the snapshot says 2500
    expect(await placement.choose(undefined)).toBe('b');
    const refused = await placement.choose('a').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NagayaError);
    expect((refused as NagayaError).code).toBe('UNAVAILABLE');
  });

  it('reads again before refusing a node the snapshot does not know yet', async () => {
    let rows = [node('a', 0)];
    const store = fakeStore(() => rows);
    const placement = new NodePlacement(store as unknown as NodeStore, OFFLINE_MS, 60_000, () => Date.now());
    await placement.choose(undefined);
    rows = [node('a', 0), node('late', 0)]; // a worker that started after the snapshot
    vi.setSystemTime(1_000_000 + 10);
    expect(await placement.choose('late')).toBe('late');
    expect(store.reads).toBe(2);
    const unknown = await placement.choose('nowhere').catch((e: unknown) => e);
    expect((unknown as NagayaError).code).toBe('INVALID_INPUT');
  });

  it('passes over a node that cannot enforce the limits, and refuses one named or when none can', async () => {
    const small = { ...node('small', 0), info: { capacity: { cpus: 2, memoryBytes: 2 ** 30, pidMax: 32768 } } };
    const big = { ...node('big', 9), info: { capacity: { cpus: 64, memoryBytes: 2 ** 40, pidMax: 4194304 } } };
    const store = fakeStore(() => [small, big]);
    const placement = new NodePlacement(store as unknown as NodeStore, OFFLINE_MS, 60_000, () => Date.now());
    const misfit = (limits: Parameters<typeof limitsBeyond>[0]) => (n: NodeRow) => limitsBeyond(limits, capacityOf(n)!)[0];
    expect(await placement.choose(undefined, misfit({ cpus: 8 }))).toBe('big'); // though small has fewer containers
    expect(await placement.choose(undefined, misfit({ cpus: 2 }))).toBe('small');
    const named = await placement.choose('small', misfit({ pids: 40000 })).catch((e: unknown) => e);
    expect(named).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'limits.pids', node: 'small' } });
    const none = await placement.choose(undefined, misfit({ cpus: 65 })).catch((e: unknown) => e);
    expect(none).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'limits.cpus' } });
  });
});
