import type { AuditEventView } from '@nagaya/contract';
import type { Sendable } from '../api/operation';
import type { Db } from './db';

/** Who did something: the token's name, and the project it acted in (null: fleet-wide). */
export interface AuditActor {
  name: string;
}

/**
 * An ISO 8601 date-time as Postgres reads it: in UTC, and as BC for ISO years 0000 and before.
 * Postgres refuses the ISO text itself for year 0000 (it has no year 0) and for offsets past
 * ±15:59, both of which ISO 8601 (and the contract's schema) allow.
 */
export function postgresInstant(iso: string): string {
  const at = new Date(iso);
  const year = at.getUTCFullYear();
  const rest = at
    .toISOString()
    .replace(/^[-+]?\d+/, '')
    .replace(/Z$/, '+00');
  return year >= 1 ? `${String(year).padStart(4, '0')}${rest}` : `${String(1 - year).padStart(4, '0')}${rest} BC`;
}

/** The audit trail: who did what, in which project, to which target. Writing it never fails the request. */
export class AuditStore {
  constructor(private readonly db: Db) {}

  async record(
    actor: AuditActor,
    project: string | null,
    action: string,
    target: string | null,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.db
      .query('INSERT INTO audit_event (actor, project, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
        actor.name,
        project,
        action,
        target,
        JSON.stringify(details),
      ])
      .catch(() => undefined);
  }

  /** Newest first: of one project when given, from `since` on when given. */
  async list(filter: { project?: string; since?: string; limit?: number }): Promise<Array<Sendable<AuditEventView>>> {
    const { rows } = await this.db.query<Sendable<AuditEventView> & { id: string }>(
      `SELECT id, at, actor, project, action, target, details FROM audit_event
        WHERE ($1::text IS NULL OR project = $1) AND ($2::timestamptz IS NULL OR at >= $2)
        ORDER BY at DESC, id DESC LIMIT $3`,
      [filter.project ?? null, filter.since === undefined ? null : postgresInstant(filter.since), filter.limit ?? 200],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }
}
