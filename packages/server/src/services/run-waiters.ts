import { FINAL_RUN_STATES, type RunState } from '@nagaya/contract';
import type { EventHub, FleetEvent } from '../events/event-hub';

/**
 * Wakes the long polls of GET /runs/:id/wait when their run ends: one subscription to the event
 * hub (held only while someone waits) and a map from run id to its waiters, so an event costs a
 * map lookup whatever the number of waiters, and a run's end reaches its waiter within the
 * hub's delivery time instead of a poll period.
 */
export class RunWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscription: { unsubscribe: () => void } | undefined;

  constructor(private readonly hub: EventHub) {}

  /**
   * Calls `wake` once the run's state becomes final (or at once if a final event of it was seen
   * since). Returns how to stop waiting; a waiter must stop in any case (the map forgets it).
   */
  add(runId: string, wake: () => void): () => void {
    const set = this.waiters.get(runId) ?? new Set<() => void>();
    this.waiters.set(runId, set);
    set.add(wake);
    this.subscription ??= this.hub.subscribe((event) => this.deliver(event));
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(runId) === set) this.waiters.delete(runId);
      if (this.waiters.size === 0 && this.subscription) {
        this.subscription.unsubscribe();
        this.subscription = undefined;
      }
    };
  }

  private deliver(event: FleetEvent): void {
    if (event.type !== 'run.state' || !FINAL_RUN_STATES.includes(event.payload.state as RunState)) return;
    const set = this.waiters.get(String(event.payload.id));
    if (set) for (const wake of [...set]) wake();
  }
}
