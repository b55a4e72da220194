import type { MigrationInterface, QueryRunner } from 'typeorm';
import { PICK_SLOTS_FUNCTION } from './sql/1764600000000-pick-slots.sql';

/**
 * nagaya_pick_slots waits (at most 2 s a lock) for a slot that concurrent callers hold locked,
 * when every free slot is locked, instead of failing with NG003. Databases migrated before the
 * change have the old body (1764400000000 created the first one): this replaces it.
 */
export class PickSlotsWaits1764600000000 implements MigrationInterface {
  name = 'PickSlotsWaits1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(PICK_SLOTS_FUNCTION);
  }

  async down(): Promise<void> {
    // The old body failed under contention; there is nothing worth going back to.
  }
}
