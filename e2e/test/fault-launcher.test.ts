import { randomBytes, randomInt } from 'node:crypto';
import { bridgePorts } from '@nagaya/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OVERLAP_SQL, runningOnTheirSlices, settledSnapshot } from '../support/invariants';
import { eventually, NagayaSystem } from '../support/system';
import { seededRandom } from '../../packages/allocator/test/support/seeded-random';
import { launcherPidOf } from '../../packages/native/test/helpers';

/**
 * The launcher (the daemon that owns the containers) killed with SIGKILL at random moments while
 * the worker launches: the worker must start a new one each time, which adopts what runs, and
 * every launch must end running with its slice. NAGAYA_FAULT_SCALE=full runs 200 launches.
 * Run twice: loopback-only containers, then containers on a bridge of this run's own (its own
 * nftables tables and subnet), where the invariants add one address per running container and
 * no stray veth.
 */

const FULL = process.env.NAGAYA_FAULT_SCALE === 'full';
const LAUNCHES = FULL ? 200 : 48;
const NODE = 'node-a';

for (const networked of [false, true]) {
  const tag = randomBytes(3).toString('hex');
  const BRIDGE = `ngf${tag}`;
  // a prefix of this run's own: other tables on the host hold back nv* ports they do not describe
  const VETH = `f${tag.slice(0, 2)}`;
  const network = networked
    ? {
        env: {
          NAGAYA_HOST_NETWORK: 'on',
          NAGAYA_IP_FORWARD: 'off',
          NAGAYA_VETH_PREFIX: VETH,
          NAGAYA_BRIDGE: BRIDGE,
          NAGAYA_NFT_TABLE: `ngf${tag}`,
          NAGAYA_NETWORK_CIDR: `10.${200 + randomInt(50)}.${randomInt(256)}.0/24`,
        },
        spec: { network: { mode: 'bridge' } },
      }
    : { env: {}, spec: {} };
  let sys: NagayaSystem;
  const launcherPid = () => launcherPidOf(sys.stateDir(NODE));

  describe(`the launcher killed with SIGKILL during launches${networked ? ' (networked)' : ''}`, () => {
    beforeAll(async () => {
      sys = await NagayaSystem.start({ slices: LAUNCHES + 40, nodes: [NODE], env: network.env });
      await sys.db.query('UPDATE id_pool SET quarantine_seconds = 0');
    }, 120_000);
    afterAll(async () => {
      await sys?.stop();
      // nothing of the run outlives it: launchers, containers, and (networked) its bridge and tables
      if (sys) expect(sys.leftovers()).toEqual([]);
    });

    it(`${LAUNCHES} launches, the launcher killed at random moments: a new one takes over each time, nothing lost`, async () => {
      const seed = Number(process.env.NAGAYA_FAULT_SEED ?? Date.now() % 1_000_000);
      const rand = seededRandom(seed);
      const started = Date.now();
      const names: string[] = [];
      const pids = new Set<number>();
      let kills = 0;
      while (names.length < LAUNCHES) {
        const batch = Array.from(
          { length: Math.min(LAUNCHES - names.length, 4 + Math.floor(rand() * 8)) },
          () => `l${names.push(`l${names.length}`) - 1}`,
        );
        const submitting = Promise.all(batch.map((name) => sys.admin.post('/containers', { name, image: 'busybox', ...network.spec })));
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 300)));
        // the launcher of the moment (a new one may still be starting after the last kill)
        const pid = await eventually(
          async () => {
            const p = launcherPid();
            try {
              process.kill(p, 0);
              return pids.has(p) ? undefined : p;
            } catch {
              return undefined;
            }
          },
          15_000,
          'a live launcher that was not killed yet',
          20,
        );
        pids.add(pid);
        process.kill(pid, 'SIGKILL');
        kills++;
        await submitting;
      }
      const killedAt = Date.now();

      const final = await settledSnapshot(sys, [NODE], LAUNCHES);
      const settledAt = Date.now();
      const byState = new Map<string, number>();
      for (const r of final.rows) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
      expect((await sys.db.query(OVERLAP_SQL)).rows[0].n).toBe(0);
      expect(runningOnTheirSlices(final)).toEqual([]); // the kernel's maps, one init per slice
      expect(sys.workers.get(NODE)!.running).toBe(true); // the worker rode it out, never restarted
      console.log(
        `[fault-launcher] seed ${seed}: ${LAUNCHES} launches, ${kills} kill -9 of the launcher in ${((killedAt - started) / 1000).toFixed(1)} s; ` +
          `settled ${((settledAt - killedAt) / 1000).toFixed(1)} s after the last kill; containers ${JSON.stringify(Object.fromEntries(byState))}`,
      );
      // a launch in flight when its launcher died is retried by its job: none may fail for good
      const failures = final.rows.filter((r) => r.state !== 'running').map((r) => `${r.name}: ${JSON.stringify(r.error)}`);
      expect(failures).toEqual([]);
      if (networked) {
        // settledSnapshot's invariants held: one address each, no stray veth; and all are there
        expect(final.ipLeases).toHaveLength(LAUNCHES);
        expect(bridgePorts(BRIDGE).filter((p) => p.startsWith(VETH))).toHaveLength(LAUNCHES);
      }
    }, 420_000);
  });
}
