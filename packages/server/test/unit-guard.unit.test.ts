import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { UNIT_GUARD_MESSAGE } from '../../../vitest.unit-guard';

// The unit tier's guard (vitest.unit-guard.ts) is what makes "no Postgres, no Redis, no
// namespaces" true by construction: these tests fail if it stops refusing.

describe('the unit tier guard', () => {
  it('refuses sockets, so Postgres and Redis stay out of reach', async () => {
    expect(() => connect(6379, '127.0.0.1')).toThrow(UNIT_GUARD_MESSAGE);
    const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'nobody', password: 'x', database: 'x' });
    await expect(client.connect()).rejects.toThrow(UNIT_GUARD_MESSAGE);
  });

  it('refuses native addons (the launcher and its namespaces come through one) and child processes', () => {
    expect(() => process.dlopen({ exports: {} }, '/nonexistent/nagaya_native.node')).toThrow(UNIT_GUARD_MESSAGE);
    expect(() => spawn('/bin/true')).toThrow(UNIT_GUARD_MESSAGE);
    expect(() => execFileSync('/bin/true')).toThrow(UNIT_GUARD_MESSAGE);
  });
});
