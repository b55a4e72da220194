import type { Db } from './db';

/** The audit trail: who did what to which target. Writing it never fails the request. */
export class AuditStore {
  constructor(private readonly db: Db) {}

  async record(actor: string, action: string, target: string | null, details: Record<string, unknown> = {}): Promise<void> {
    await this.db
      .query('INSERT INTO audit_event (actor, action, target, details) VALUES ($1, $2, $3, $4)', [
        actor,
        action,
        target,
        JSON.stringify(details),
      ])
      .catch(() => undefined);
  }
}
