import type { ExitStatus } from './container-records';

/** One caller of wait(), until the container's exit settles it. */
export interface ExitWaiter {
  resolve: (status: ExitStatus) => void;
  reject: (err: Error) => void;
}

/** The callers waiting for each container's exit. */
export class ExitWaiters {
  private readonly byId = new Map<string, ExitWaiter[]>();

  /** How many containers have someone waiting for their exit. */
  get size(): number {
    return this.byId.size;
  }

  /** The containers someone waits for. */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  add(id: string, waiter: ExitWaiter): void {
    const waiters = this.byId.get(id) ?? [];
    waiters.push(waiter);
    this.byId.set(id, waiters);
  }

  remove(id: string, waiter: ExitWaiter): void {
    const waiters = (this.byId.get(id) ?? []).filter((w) => w !== waiter);
    if (waiters.length > 0) this.byId.set(id, waiters);
    else this.byId.delete(id);
  }

  /** Removes and returns the waiters of one container. */
  take(id: string): ExitWaiter[] {
    const waiters = this.byId.get(id) ?? [];
    this.byId.delete(id);
    return waiters;
  }

  /** Removes and returns every container's waiters. */
  takeAll(): Array<[id: string, waiters: ExitWaiter[]]> {
    const all = [...this.byId];
    this.byId.clear();
    return all;
  }
}
