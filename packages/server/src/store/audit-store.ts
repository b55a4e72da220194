import type { AuditEventView } from '@nagaya/contract';
import type { Sendable } from '../api/operation';
import type { Db } from './db';

/** Who did something: the token's name, and the project it acted in (null: fleet-wide). */
export interface AuditActor {
  name: string;
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
      [filter.project ?? null, filter.since ?? null, filter.limit ?? 200],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }
}
