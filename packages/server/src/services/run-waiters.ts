import { FINAL_RUN_STATES, type RunState } from '@nagaya/contract';
import type { EventHub, FleetEvent } from '../events/event-hub';

/** Runs submitted here and not seen ending are remembered up to this many (the oldest are forgotten first). */
const SUBMITTED_KEPT = 10_000;

/**
 * Wakes the long polls of GET /runs/:id/wait when their run ends: one subscription to the event
 * hub (held only while someone waits, or a run submitted here has not been seen ending) and a map
 * from run id to its waiters, so an event costs a map lookup whatever the number of waiters, and
 * a run's end reaches its waiter within the hub's delivery time instead of a poll period.
 */
export class RunWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Runs this process submitted whose final run.state event the hub has not delivered yet: id -> project. */
  private readonly submitted = new Map<string, string>();
  private subscription: { unsubscribe: () => void } | undefined;

  constructor(private readonly hub: EventHub) {}

  /**
   * Calls `wake` once the run's state becomes final. Returns how to stop waiting; a waiter must
   * stop in any case (the map forgets it).
   */
  add(runId: string, wake: () => void): () => void {
    const set = this.waiters.get(runId) ?? new Set<() => void>();
    this.waiters.set(runId, set);
    set.add(wake);
    this.subscribe();
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(runId) === set) this.waiters.delete(runId);
      this.unsubscribeIfIdle();
    };
  }

  /**
   * Notes a run this process just inserted, before it is queued (so before anything can end it):
   * until the hub delivers its end, a wait for it knows it exists and has not ended without
   * reading its row (see unended).
   */
  submittedHere(runId: string, project: string): void {
    this.subscribe();
    this.submitted.set(runId, project);
    if (this.submitted.size > SUBMITTED_KEPT) this.submitted.delete(this.submitted.keys().next().value!);
  }

  /**
   * Whether the run is one submitted here, in `project`, whose end the hub has not delivered
   * while it is live: then its end, when it comes, wakes a waiter added now. False when not
   * known, or when the hub is not live (it may have missed events).
   */
  unended(runId: string, project: string): boolean {
    return this.hub.live && this.submitted.get(runId) === project;
  }

  private subscribe(): void {
    this.subscription ??= this.hub.subscribe((event) => this.deliver(event));
  }

  private unsubscribeIfIdle(): void {
    if (this.waiters.size === 0 && this.submitted.size === 0 && this.subscription) {
      this.subscription.unsubscribe();
      this.subscription = undefined;
    }
  }

  private deliver(event: FleetEvent): void {
    if (event.type === 'project.deleted') {
      // its runs went with it, without an end of their own
      for (const [id, project] of this.submitted) if (project === event.project) this.submitted.delete(id);
      this.unsubscribeIfIdle();
      return;
    }
    if (event.type !== 'run.state' || !FINAL_RUN_STATES.includes(event.payload.state as RunState)) return;
    const id = String(event.payload.id);
    if (this.submitted.delete(id)) this.unsubscribeIfIdle();
    const set = this.waiters.get(id);
    if (set) for (const wake of [...set]) wake();
  }
}
