import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { ContainerLimits } from '@nagaya/native';
import type { NodeRow } from '../store/node-store';

/** What a node can enforce: its CPUs, its memory and the kernel's pid_max. Workers report it with every heartbeat. */
export interface NodeCapacity {
  cpus: number;
  memoryBytes: number;
  pidMax: number;
}

/** The smallest cpus limit the kernel's CFS quota honours (1 ms of a 100 ms period). */
export const MIN_CPUS = 0.01;

/** Measures this host's capacity (the CPUs this process may run on, not the machine's). */
export function measureNodeCapacity(): NodeCapacity {
  let pidMax = 4_194_304; // the kernel's ceiling, if /proc does not say
  try {
    pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || pidMax;
  } catch {
    /* keep the ceiling */
  }
  return { cpus: availableParallelism(), memoryBytes: totalmem(), pidMax };
}

/** The capacity a node reported in its heartbeat; undefined for a worker too old to report it. */
export function capacityOf(node: NodeRow): NodeCapacity | undefined {
  const c = node.info?.capacity as Partial<NodeCapacity> | undefined;
  if (!c || ![c.cpus, c.memoryBytes, c.pidMax].every((v) => typeof v === 'number' && v > 0)) return undefined;
  return c as NodeCapacity;
}

/** Lists the limits a node of this capacity could not enforce, as { field, message } (empty: all fit). */
export function limitsBeyond(limits: ContainerLimits | undefined, capacity: NodeCapacity): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  if (limits?.cpus !== undefined && limits.cpus > capacity.cpus) {
    out.push({ field: 'limits.cpus', message: `limits.cpus ${limits.cpus} is more than the node's ${capacity.cpus} CPUs` });
  }
  if (limits?.memoryBytes !== undefined && limits.memoryBytes > capacity.memoryBytes) {
    out.push({
      field: 'limits.memoryBytes',
      message: `limits.memoryBytes ${limits.memoryBytes} is more than the node's ${capacity.memoryBytes} bytes of memory`,
    });
  }
  if (limits?.pids !== undefined && limits.pids > capacity.pidMax) {
    out.push({ field: 'limits.pids', message: `limits.pids ${limits.pids} is more than the node's pid_max ${capacity.pidMax}` });
  }
  return out;
}
