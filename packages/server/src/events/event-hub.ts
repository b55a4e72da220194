import pg from 'pg';
import type { Db } from '../store/db';

/** One row of the event table, as GET /events sends it. */
export interface FleetEvent {
  id: number;
  at: string;
  /** container.created, container.state, container.deleted, job.created, node.joined, node.status, node.deleted, image.created, image.deleted, volume.created, volume.deleted, project.created, project.updated, project.deleted, run.state. */
  type: string;
  /** null for events of the fleet (nodes): only tokens of every project see them. */
  project: string | null;
  container: string | null;
  payload: Record<string, unknown>;
}

/** A subscriber: called with every event the hub delivers, in id order, each once. */
export type EventListener = (event: FleetEvent) => void;

/** The Postgres channel the event triggers notify (migration 1765700000000). */
export const EVENT_CHANNEL = 'nagaya_events';

/** Rows read per query: a burst is caught up in pages, never read whole. */
const PAGE = 1000;
/** The hub's read of what is new, a page at a time (one string, built once: a prepared statement is found by its text). */
const READ_NEW = `SELECT coalesce((SELECT json_agg(e ORDER BY e.id) FROM (
                  SELECT id, at, type, project, container, payload FROM event WHERE id > $1 ORDER BY id LIMIT ${PAGE}) e), '[]') AS events`;
/** How often a gap (an event id whose transaction has not committed yet) is looked at again. */
const GAP_RECHECK_MS = 20;
/** How long a failed read waits before it is tried again. */
const RETRY_MS = 500;
/** How long the LISTEN connection waits before it connects again after losing Postgres. */
const RECONNECT_MS = 1000;

interface HeldGap {
  /** Every id up to here that will ever commit has committed once `writers` are over. */
  upToId: number;
  /** The transactions that were writing events just after the rows past the gap were read. */
  writers: EventWriter[];
}

/** A transaction, by its backend and start time (its xid may not be assigned yet). */
interface EventWriter {
  pid: number;
  xactStart: string;
}

/**
 * Fans the event table out to the API's subscribers: one LISTEN connection, woken by the
 * triggers' NOTIFY, reads the new rows by id (so a notification lost while reconnecting costs
 * nothing: the next read catches up from the last id).
 *
 * Ids come from a sequence, so a transaction may commit after another that took a later id. The
 * hub delivers strictly in id order and never skips an id that may still commit: past a gap it
 * holds back until every transaction that was running when the later rows were read, and wrote
 * an event, is over; an id still missing then was rolled back and is never coming.
 */
export class EventHub {
  private cursor = 0;
  private gap: HeldGap | undefined;
  private readonly listeners = new Set<EventListener>();
  private listenClient: pg.Client | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private pollAgain = false;
  private closed = false;
  private started = false;
  /** Streams with a heartbeat timer running (a test checks that a disconnect stops it). */
  openStreams = 0;
  /** Resolved once the cursor is known and LISTEN is on: subscribers wait for it. */
  readonly ready: Promise<void>;

  constructor(
    private readonly db: Db,
    private readonly databaseUrl: string,
    private readonly warn: (message: string, error: Error) => void = () => undefined,
    /** How often an idle stream sends a comment, so proxies and clients know it is alive. */
    readonly heartbeatMs = 15_000,
  ) {
    this.ready = this.start();
    this.ready.catch(() => undefined);
  }

  /**
   * Whether the hub is started and listening: every event committed from now on will be
   * delivered (read by id, in order), and soon. Not while it reconnects to Postgres.
   */
  get live(): boolean {
    return this.started && !this.closed && this.listenClient !== undefined;
  }

  /** The id of the last event delivered: a subscriber's backlog ends here and its live events start after it. */
  get lastDeliveredId(): number {
    return this.cursor;
  }

  /** How many subscribers are attached (a test checks that none is left behind). */
  get subscriberCount(): number {
    return this.listeners.size;
  }

  /** Adds a subscriber; returns the id after which it gets events, and how to detach it. */
  subscribe(listener: EventListener): { after: number; unsubscribe: () => void } {
    this.listeners.add(listener);
    return { after: this.cursor, unsubscribe: () => this.listeners.delete(listener) };
  }

  /** Events with ids in (after, upTo], oldest first, at most `limit`: a subscriber's backlog. */
  async read(after: number, upTo: number, limit = PAGE): Promise<FleetEvent[]> {
    const { rows } = await this.db.query<FleetEvent & { id: string; at: Date }>(
      'SELECT id, at, type, project, container, payload FROM event WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3',
      [after, upTo, limit],
      { prepared: true },
    );
    return rows.map((r) => ({ ...r, id: Number(r.id), at: new Date(r.at).toISOString() }));
  }

  /** The oldest id still kept, or undefined when the table is empty. */
  async oldestId(): Promise<number | undefined> {
    const { rows } = await this.db.query<{ id: string | null }>('SELECT min(id) AS id FROM event');
    return rows[0]?.id == null ? undefined : Number(rows[0].id);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.gapTimer);
    this.listeners.clear();
    const client = this.listenClient;
    this.listenClient = undefined;
    await client?.end().catch(() => undefined);
  }

  private async start(): Promise<void> {
    await this.connect();
    // The cursor starts at the newest id, once the transactions that might still commit an
    // older one are over: from then on, nothing at or below it is still to come.
    const { rows } = await this.db.query<{ max: string }>('SELECT coalesce(max(id), 0) AS max FROM event');
    const writers = await this.eventWriters();
    for (let waited = 0; waited < 10_000 && (await this.anyRunning(writers)); waited += GAP_RECHECK_MS) {
      await new Promise((resolve) => setTimeout(resolve, GAP_RECHECK_MS));
    }
    this.cursor = Number(rows[0]!.max);
    this.started = true;
  }

  /** Opens the LISTEN connection; on losing it, opens another and catches up by id. */
  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', () => this.poll());
    client.on('error', (err) => {
      this.warn('the event listener lost Postgres; reconnecting', err);
      this.reconnect(client);
    });
    client.on('end', () => this.reconnect(client));
    await client.connect();
    await client.query(`LISTEN ${EVENT_CHANNEL}`);
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listenClient = client;
  }

  private reconnect(lost: pg.Client): void {
    if (this.closed || this.listenClient !== lost) return;
    this.listenClient = undefined;
    lost.end().catch(() => undefined);
    this.connectLater();
  }

  private connectLater(): void {
    this.reconnectTimer = setTimeout(() => {
      this.connect()
        .then(() => this.poll())
        .catch((err: unknown) => {
          this.warn('the event listener cannot reach Postgres; retrying', err as Error);
          if (!this.closed) this.connectLater();
        });
    }, RECONNECT_MS);
  }

  /** Reads and delivers what is new; one read at a time, and once more if woken meanwhile. */
  private poll(): void {
    if (this.closed) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = true;
    this.ready
      .then(() => this.deliverNew())
      .catch((err: unknown) => {
        // no NOTIFY may come again for a while: try again on a timer, not on the next change
        this.warn('reading events failed; retrying', err as Error);
        this.recheckGapSoon(RETRY_MS);
      })
      .finally(() => {
        this.polling = false;
        if (this.pollAgain) {
          this.pollAgain = false;
          this.poll();
        }
      });
  }

  private async deliverNew(): Promise<void> {
    let safeUpTo = this.cursor;
    if (this.gap) {
      if (await this.anyRunning(this.gap.writers)) {
        this.recheckGapSoon();
      } else {
        safeUpTo = this.gap.upToId;
        this.gap = undefined;
      }
    }
    for (;;) {
      const { rows } = await this.db.query<{ events: Array<FleetEvent> }>(READ_NEW, [this.cursor], { prepared: true });
      const { events } = rows[0]!;
      for (const event of events) {
        if (event.id > safeUpTo && event.id !== this.cursor + 1) {
          // an id below this one may belong to a transaction still running: wait for it
          this.gap ??= { upToId: events[events.length - 1]!.id, writers: await this.eventWriters() };
          this.recheckGapSoon();
          return;
        }
        this.cursor = event.id;
        const delivered = { ...event, at: new Date(event.at).toISOString() };
        for (const listener of this.listeners) listener(delivered);
      }
      if (events.length < PAGE) return;
    }
  }

  /** Reads again after `delayMs` (one timer at a time). */
  private recheckGapSoon(delayMs = GAP_RECHECK_MS): void {
    if (this.gapTimer || this.closed) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      this.poll();
    }, delayMs);
  }

  /** The transactions writing events now: those that hold the event table's row-exclusive lock. */
  private async eventWriters(): Promise<EventWriter[]> {
    const { rows } = await this.db.query<{ pid: number; xact_start: string }>(
      `SELECT a.pid, a.xact_start::text AS xact_start FROM pg_stat_activity a
        WHERE a.xact_start IS NOT NULL AND EXISTS (
          SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'relation'
             AND l.relation = 'event'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted)`,
    );
    return rows.map((r) => ({ pid: r.pid, xactStart: r.xact_start }));
  }

  /** Whether any of `writers` is still in the same transaction. */
  private async anyRunning(writers: EventWriter[]): Promise<boolean> {
    if (writers.length === 0) return false;
    const { rows } = await this.db.query<{ running: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_stat_activity a JOIN unnest($1::int[], $2::text[]) AS w (pid, xact_start)
           ON a.pid = w.pid AND a.xact_start::text = w.xact_start) AS running`,
      [writers.map((w) => w.pid), writers.map((w) => w.xactStart)],
    );
    return rows[0]!.running;
  }
}
