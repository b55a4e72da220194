import { describe, expect, it } from 'vitest';
import { capacityOf, limitsBeyond, measureNodeCapacity, type NodeCapacity } from '../src/services/node-capacity';
import type { NodeRow } from '../src/store/node-store';

const capacity: NodeCapacity = { cpus: 4, memoryBytes: 8 * 2 ** 30, pidMax: 32768 };

function nodeWith(info: Record<string, unknown>): NodeRow {
  const at = new Date(0);
  return { name: 'n', heartbeatAt: at, startedAt: at, version: 't', info, online: true, heartbeatAgeMs: 0, containers: 0 };
}

describe('capacityOf', () => {
  it('reads the capacity a node reported', () => {
    expect(capacityOf(nodeWith({ capacity }))).toEqual(capacity);
  });

  it('knows none for a worker too old to report it, or a report with a missing, zero or non-numeric field', () => {
    expect(capacityOf(nodeWith({}))).toBeUndefined();
    expect(capacityOf(nodeWith({ capacity: { cpus: 4, memoryBytes: 2 ** 30 } }))).toBeUndefined();
    expect(capacityOf(nodeWith({ capacity: { ...capacity, cpus: 0 } }))).toBeUndefined();
    expect(capacityOf(nodeWith({ capacity: { ...capacity, pidMax: '32768' } }))).toBeUndefined();
  });
});

describe('limitsBeyond', () => {
  it('accepts no limits, and limits exactly at the capacity', () => {
    expect(limitsBeyond(undefined, capacity)).toEqual([]);
    expect(limitsBeyond({}, capacity)).toEqual([]);
    expect(limitsBeyond({ cpus: 4, memoryBytes: capacity.memoryBytes, pids: 32768 }, capacity)).toEqual([]);
  });

  it('names each limit just past the capacity, in the order cpus, memory, pids', () => {
    const beyond = limitsBeyond({ cpus: 4.01, memoryBytes: capacity.memoryBytes + 1, pids: 32769 }, capacity);
    expect(beyond.map((b) => b.field)).toEqual(['limits.cpus', 'limits.memoryBytes', 'limits.pids']);
    expect(beyond[0]!.message).toBe("limits.cpus 4.01 is more than the node's 4 CPUs");
    expect(beyond[2]!.message).toBe("limits.pids 32769 is more than the node's pid_max 32768");
  });
});

describe('measureNodeCapacity', () => {
  it('reports positive CPUs, memory and pid_max for this host', () => {
    const measured = measureNodeCapacity();
    expect(measured.cpus).toBeGreaterThanOrEqual(1);
    expect(measured.memoryBytes).toBeGreaterThan(0);
    expect(measured.pidMax).toBeGreaterThan(0);
    expect(capacityOf(nodeWith({ capacity: measured }))).toEqual(measured);
  });
});
