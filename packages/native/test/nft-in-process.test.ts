// nft scripts through libnftables in this process (the addon's nftRun, used by runNftScript): a
// script is one transaction, applied whole or not at all, and a refused one fails with nft's own
// message, as the nft command's would. Real nftables, in a table of this test's own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';

import { loadAddon, NativeError, runNftScript } from '@nagaya/native';

const TABLE = `ngnft${randomBytes(3).toString('hex')}`;
const elements = () => JSON.stringify(JSON.parse(execFileSync('nft', ['-j', 'list', 'set', 'inet', TABLE, 's'], { encoding: 'utf8' })));

afterAll(() => {
  execFileSync('nft', ['delete', 'table', 'inet', TABLE], { stdio: 'ignore' });
});

describe('nft scripts in process', () => {
  it('applies a script as the nft command would', async () => {
    await loadAddon().nftRun(
      `add table inet ${TABLE}\nadd set inet ${TABLE} s { type ipv4_addr; }\nadd element inet ${TABLE} s { 10.77.0.1 }\n`,
    );
    expect(elements()).toContain('10.77.0.1');
    await runNftScript(`add element inet ${TABLE} s { 10.77.0.2 }\ndelete element inet ${TABLE} s { 10.77.0.1 }\n`);
    expect(elements()).toContain('10.77.0.2');
    expect(elements()).not.toContain('10.77.0.1');
  });

  it("refuses a script whole, with nft's message, leaving the tables as they were", async () => {
    const before = elements();
    const err = await runNftScript(`add element inet ${TABLE} s { 10.77.0.3 }\ndelete element inet ${TABLE} s { 10.77.0.99 }\n`).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({
      code: 'HOST_NETWORK',
      message: expect.stringMatching(/^nft failed: Error: Could not process rule: No such file or directory/),
    });
    expect(elements()).toBe(before);
    const bad = await runNftScript('this is not nft\n').catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'HOST_NETWORK', message: expect.stringMatching(/syntax error/) });
  });
});
