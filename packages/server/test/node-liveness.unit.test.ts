import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ContainerState, NodeStatus } from '@nagaya/contract';
import { NagayaError } from '../src/errors';
import { shownState } from '../src/services/container-view';
import { leastLoaded } from '../src/services/node-fleet';
import { NodePlacement } from '../src/services/node-placement';
import { effectiveStatus, type NodeRow, type NodeStore } from '../src/store/node-store';

// The pure parts of node liveness: which status a node shows, which state a container shows on
// it, and that placement gives nothing to a node that is not active.

const OFFLINE_MS = 3000;

function node(name: string, status: NodeStatus, containers = 0): NodeRow {
  const heartbeatAt = new Date(1_000_000);
  return {
    name,
    containers,
    heartbeatAgeMs: 0,
    online: status === 'active' || status === 'draining',
    status,
    drainingAt: status === 'active' ? null : heartbeatAt,
    heartbeatAt,
    startedAt: heartbeatAt,
    version: 't',
    info: {},
  };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(1_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a node status', () => {
  it('is what the node recorded while it beats, offline once it is silent, and removed whatever it beats', () => {
    expect(effectiveStatus('active', 100, OFFLINE_MS)).toBe('active');
    expect(effectiveStatus('draining', 100, OFFLINE_MS)).toBe('draining');
    expect(effectiveStatus('active', OFFLINE_MS + 1, OFFLINE_MS)).toBe('offline');
    expect(effectiveStatus('draining', OFFLINE_MS + 1, OFFLINE_MS)).toBe('offline');
    expect(effectiveStatus('offline', 0, OFFLINE_MS)).toBe('offline');
    expect(effectiveStatus('removed', 0, OFFLINE_MS)).toBe('removed');
    expect(effectiveStatus('removed', OFFLINE_MS + 1, OFFLINE_MS)).toBe('removed');
  });
});

describe('the state a container shows', () => {
  const all: ContainerState[] = ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting', 'lost'];
  it('is unknown for a live row on an offline or removed node, and its own everywhere else', () => {
    for (const status of ['offline', 'removed'] as const) {
      expect(all.filter((s) => shownState(s, status) === 'unknown')).toEqual(['starting', 'running', 'stopping']);
    }
    for (const status of ['active', 'draining', undefined] as const) {
      for (const s of all) expect(shownState(s, status)).toBe(s);
    }
  });
});

describe('placement', () => {
  it('gives nothing to a draining, offline or removed node, however few containers it has', async () => {
    const rows = [node('busy', 'active', 50), node('d', 'draining'), node('o', 'offline'), node('r', 'removed')];
    const placement = new NodePlacement({ list: async () => rows } as unknown as NodeStore, OFFLINE_MS, undefined, () => Date.now());
    for (let i = 0; i < 20; i++) expect(await placement.choose(undefined)).toBe('busy');
    await expect(placement.choose('d')).rejects.toMatchObject({ code: 'UNAVAILABLE', details: { node: 'd', status: 'draining' } });
    await expect(placement.choose('r')).rejects.toBeInstanceOf(NagayaError);
  });

  it('reads the fleet again after invalidate(): a node that began to drain is passed over at once', async () => {
    let rows = [node('a', 'active'), node('b', 'active', 10)];
    const store = {
      reads: 0,
      list: async () => {
        store.reads++;
        return rows;
      },
    };
    const placement = new NodePlacement(store as unknown as NodeStore, OFFLINE_MS, undefined, () => Date.now());
    expect(await placement.choose(undefined)).toBe('a');
    rows = [node('a', 'draining'), node('b', 'active', 10)];
    expect(await placement.choose(undefined)).toBe('a'); // the snapshot is under a second old
    placement.invalidate();
    expect(await placement.choose(undefined)).toBe('b');
    expect(store.reads).toBe(2);
  });
});

describe('where a container that must move goes', () => {
  const withCapacity = (row: NodeRow, cpus: number): NodeRow => ({
    ...row,
    info: { capacity: { cpus, memoryBytes: 8 * 2 ** 30, pidMax: 4_194_304 } },
  });

  it('is the least loaded other node that can enforce its limits, or none', () => {
    const small = withCapacity(node('small', 'active', 0), 2);
    const big = withCapacity(node('big', 'active', 5), 16);
    const gone = withCapacity(node('gone', 'active', 0), 16);
    expect(leastLoaded([small, big, gone], 'gone', undefined)?.name).toBe('small');
    expect(leastLoaded([small, big, gone], 'gone', { cpus: 4 })?.name).toBe('big');
    expect(leastLoaded([small, big, gone], 'gone', { cpus: 32 })).toBeUndefined();
    expect(leastLoaded([gone], 'gone', undefined)).toBeUndefined();
  });
});
