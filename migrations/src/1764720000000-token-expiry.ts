import type { MigrationInterface, QueryRunner } from 'typeorm';

/** API tokens may expire (POST /tokens expiresInSeconds); NULL: never. */
export class TokenExpiry1764720000000 implements MigrationInterface {
  name = 'TokenExpiry1764720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_token ADD COLUMN expires_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_token DROP COLUMN expires_at`);
  }
}
