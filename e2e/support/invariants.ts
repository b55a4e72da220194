// What must hold of a nagaya at rest, whatever happened to it: every row agrees with its slice
// and with what really runs in the launchers; nothing holds IDs, a cgroup or runs without a row.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bridgePorts } from '@nagaya/native';
import { vethName } from '../../packages/server/src/services/node-network';
import { eventually, type NagayaSystem } from './system';

export interface Snapshot {
  rows: Array<{
    id: string;
    name: string;
    state: string;
    pid: number | null;
    node: string;
    error: { code: string } | null;
    exit_code: number | null;
    /** The container's network mode (bridge: it holds an address while it runs). */
    mode: string;
    restartPolicy: { name: string; maxRetries?: number };
    /** Restarts by its policy since its creation. */
    restart_count: number;
    /** service, or run: the container of one attempt of a run. */
    kind: string;
  }>;
  /** Runs: their state and the container of their current attempt. */
  runs: Array<{ id: string; state: string; container_id: string | null; finished_at: Date | null }>;
  /** Addresses leased in Postgres: container, node, address. */
  ipLeases: Array<{ container: string; node: string; address: string }>;
  /**
   * Per node with a subnet: its bridge, the host ends on it now (nagaya's, named with the veth prefix), and the
   * host end each container of the node would have.
   */
  veths: Map<string, { bridge: string; ports: string[]; hostIfNameOf: (id: string) => string }>;
  slices: Array<{ owner: string; kind: string; lo: string; hi: string }>;
  leases: string[];
  /** Owners whose lease is the pool's shared (non-isolated) slice. */
  sharedLeases: string[];
  /** What each node's launcher runs now. */
  running: Map<string, Array<{ id: string; pid: number }>>;
  /** The container cgroups under each node's launcher subtrees: [directory, container id]. */
  cgroups: Map<string, Array<[string, string]>>;
  /** Projects whose quota counters (project_usage) differ from what their rows add up to. */
  usageDrift: Array<{ project: string; counters: string; recount: string }>;
  /** Owners of fenced slices (containers lost with a removed node), with that node. */
  fenced: Map<string, string>;
  /** Nodes whose processes cannot be read (offline or removed: their rows show `unknown`). */
  unreachable: Set<string>;
  /** Volume rows, the volume directories on disk (`<project>/<id>` under the data directory's volumes/) and the containers' volume mounts. */
  volumes: Array<{ id: string; project: string; name: string; node: string }>;
  volumeDirs: Set<string>;
  volumeMounts: Array<{ container: string; node: string; volumeId: string }>;
}

/** The quota triggers' counters against the rows they count (migration Projects1764800000000). */
const USAGE_DRIFT_SQL = `
  SELECT r.project,
         row(u.containers, u.slices, u.memory_bytes, u.cpus, u.processes, u.disk_bytes)::text AS counters,
         row(r.containers, r.slices, r.memory_bytes, r.cpus, r.processes, r.disk_bytes)::text AS recount
    FROM project_usage_recount r LEFT JOIN project_usage u USING (project)
   WHERE row(u.containers, u.slices, u.memory_bytes, u.cpus, u.processes, u.disk_bytes)
         IS DISTINCT FROM row(r.containers, r.slices, r.memory_bytes, r.cpus, r.processes, r.disk_bytes)`;

/** Lists the container cgroup directories under a launcher's subtree roots. */
function containerCgroups(roots: string[]): Array<[string, string]> {
  return roots.flatMap((root) =>
    readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e): [string, string] => [`${root}/${e.name}`, e.name]),
  );
}

/** Reads the rows, slices and leases, and asks every node's launcher what runs. */
export async function snapshot(sys: NagayaSystem, nodes: string[]): Promise<Snapshot> {
  const rows = (
    await sys.db.query(
      `SELECT id::text, name, state, pid, node, error, exit_code, network->>'mode' AS mode,
              restart_policy AS "restartPolicy", restart_count, kind
         FROM container ORDER BY name`,
    )
  ).rows;
  const runs = (await sys.db.query<Snapshot['runs'][number]>('SELECT id::text, state, container_id::text, finished_at FROM run')).rows;
  const ipLeases = (
    await sys.db.query<Snapshot['ipLeases'][number]>('SELECT container_id::text AS container, node, host(address) AS address FROM ip_lease')
  ).rows;
  const veths: Snapshot['veths'] = new Map();
  for (const { node, bridge } of (await sys.db.query<{ node: string; bridge: string }>('SELECT node, bridge FROM node_subnet')).rows) {
    if (!nodes.includes(node)) continue;
    const stateDir = sys.stateDir(node);
    const prefix = sys.env().NAGAYA_VETH_PREFIX || 'nv';
    veths.set(node, {
      bridge,
      ports: bridgePorts(bridge).filter((p) => p.startsWith(prefix)),
      hostIfNameOf: (id) => vethName(prefix, stateDir, id),
    });
  }
  const slices = (
    await sys.db.query(
      "SELECT owner, kind, lower(uid_range)::text AS lo, upper(uid_range)::text AS hi FROM id_slice WHERE state = 'active' AND owner IS NOT NULL",
    )
  ).rows;
  const leaseRows = (await sys.db.query<{ owner: string; isolated: boolean }>('SELECT owner, isolated FROM id_lease')).rows;
  const leases = leaseRows.map((r) => r.owner);
  const sharedLeases = leaseRows.filter((r) => !r.isolated).map((r) => r.owner);
  const running = new Map<string, Array<{ id: string; pid: number }>>();
  const cgroups = new Map<string, Array<[string, string]>>();
  for (const node of nodes) {
    const runtime = await sys.runtime(node);
    try {
      running.set(
        node,
        (await runtime.running()).map((c) => ({ id: c.id, pid: c.pid })),
      );
      cgroups.set(node, containerCgroups(await runtime.cgroupRoots()));
    } finally {
      runtime.close();
    }
  }
  const usageDrift = (await sys.db.query<Snapshot['usageDrift'][number]>(USAGE_DRIFT_SQL)).rows;
  const fencedRows = (
    await sys.db.query<{ owner: string; node: string }>('SELECT owner, fenced_node AS node FROM id_slice WHERE fenced_node IS NOT NULL')
  ).rows;
  const fenced = new Map(fencedRows.map((r) => [r.owner, r.node]));
  const unreachable = new Set(
    (await sys.db.query<{ name: string }>(`SELECT name FROM node WHERE status IN ('offline', 'removed')`)).rows.map((r) => r.name),
  );
  const volumes = (await sys.db.query<Snapshot['volumes'][number]>('SELECT id::text, project, name, node FROM volume')).rows;
  const volumeMounts = (
    await sys.db.query<Snapshot['volumeMounts'][number]>(
      `SELECT c.name AS container, c.node, m->>'volumeId' AS "volumeId" FROM container c, jsonb_array_elements(c.mounts) m WHERE m->>'kind' = 'volume'`,
    )
  ).rows;
  const volumesRoot = join(sys.dataDir, 'volumes');
  const volumeDirs = new Set(
    (existsSync(volumesRoot) ? readdirSync(volumesRoot) : []).flatMap((project) =>
      readdirSync(join(volumesRoot, project)).map((id) => `${project}/${id}`),
    ),
  );
  return {
    rows,
    runs,
    slices,
    leases,
    sharedLeases,
    running,
    cgroups,
    usageDrift,
    fenced,
    unreachable,
    ipLeases,
    veths,
    volumes,
    volumeDirs,
    volumeMounts,
  };
}

/** Lists every way the snapshot breaks the invariants (empty: all hold). */
export function problems(s: Snapshot): string[] {
  const out: string[] = [];
  const byId = new Map(s.rows.map((r) => [r.id, r]));
  const sliceOwners = new Map<string, number>();
  for (const sl of s.slices) if (sl.kind === 'isolated') sliceOwners.set(sl.owner, (sliceOwners.get(sl.owner) ?? 0) + 1);
  // a fenced slice may outlive its row (a lost container deleted): it waits for its node or an admin
  for (const sl of s.slices)
    if (!byId.has(sl.owner) && !s.fenced.has(sl.owner))
      out.push(`an active ${sl.kind} slice is owned by ${sl.owner}, which has no container row`);
  const leases = new Set(s.leases);
  for (const r of s.rows) {
    // lost is at rest: its node was removed as dead; unknown is never stored
    if (!['running', 'failed', 'stopped', 'lost'].includes(r.state)) out.push(`${r.name} is still ${r.state}`);
    if (r.state === 'lost' && leases.has(r.id) && s.fenced.get(r.id) !== r.node)
      out.push(`${r.name} is lost with ${r.node} but holds a slice not fenced on it`);
    if (s.fenced.has(r.id) && r.state !== 'lost') out.push(`${r.name} is ${r.state} but its slice is fenced`);
    if (r.state === 'lost') {
      for (const [node, list] of s.running)
        if (list.some((c) => c.id === r.id)) out.push(`${r.name} is lost, yet ${node}'s launcher runs it`);
    }
    const shared = s.sharedLeases.includes(r.id);
    if (r.state === 'running' && shared && !leases.has(r.id)) out.push(`${r.name} runs without a lease`);
    if (r.state === 'running' && !shared && !sliceOwners.has(r.id))
      out.push(`${r.name} runs without an active slice (lease: ${leases.has(r.id) ? 'yes' : 'none'})`);
    if (r.state === 'running' && (sliceOwners.get(r.id) ?? 0) > 1) out.push(`${r.name} holds ${sliceOwners.get(r.id)} slices`);
    if (r.state === 'failed' && !['EXITED', 'KILLED', 'LOST', 'OOM_KILLED'].includes(r.error?.code ?? '')) {
      // a launch that failed must have given its slice back
      if (sliceOwners.has(r.id) || leases.has(r.id)) out.push(`${r.name} failed to launch (${r.error?.code}) but still holds its slice`);
    }
    // a row running on an offline node shows unknown: nobody can read what runs there
    if (r.state === 'running' && !s.unreachable.has(r.node)) {
      const live = s.running.get(r.node)?.filter((c) => c.id === r.id) ?? [];
      if (live.length !== 1) out.push(`${r.name} is running on ${r.node} but its launcher runs ${live.length} processes for it`);
      else if (live[0]!.pid !== r.pid) out.push(`${r.name} row says pid ${r.pid}, the launcher runs ${live[0]!.pid}`);
    }
  }
  for (const owner of leases)
    if (!byId.has(owner) && !s.fenced.has(owner)) out.push(`a lease is held by ${owner}, which has no container row`);
  for (const [node, list] of s.running) {
    for (const c of list) {
      const r = byId.get(c.id);
      if (!r) out.push(`${node}'s launcher runs ${c.id} (pid ${c.pid}), which has no row`);
      else if (r.state !== 'running' && r.state !== 'stopping') out.push(`${node}'s launcher runs ${r.name}, whose row is ${r.state}`);
    }
  }
  for (const [node, list] of s.cgroups) {
    const live = new Set((s.running.get(node) ?? []).map((c) => c.id));
    for (const [dir, id] of list) if (!live.has(id)) out.push(`${node} keeps the cgroup ${dir} of ${id}, which its launcher does not run`);
  }
  out.push(...networkProblems(s));
  out.push(...restartProblems(s));
  out.push(...volumeProblems(s));
  out.push(...runProblems(s));
  for (const d of s.usageDrift) out.push(`project ${d.project}'s quota counters say ${d.counters}, its rows add up to ${d.recount}`);
  return out;
}

/**
 * Runs: a run's container lives only while its run runs it (an ended run's container, directory
 * and slice are gone; the slice rules above see a slice without a row), and a run that ended has
 * its end recorded.
 */
export function runProblems(s: Snapshot): string[] {
  const out: string[] = [];
  const runningIn = new Map(s.runs.filter((r) => r.state === 'running' && r.container_id).map((r) => [r.container_id!, r.id]));
  // a lost one is the record of an attempt on a node removed as dead (its run settled then): it
  // keeps its fenced slice until that node comes back and kills what is left of it
  for (const c of s.rows)
    if (c.kind === 'run' && c.state !== 'lost' && !runningIn.has(c.id))
      out.push(`run container ${c.name} is ${c.state}, but no running run has it`);
  for (const r of s.runs) {
    const ended = !['queued', 'running'].includes(r.state);
    if (ended && r.finished_at === null) out.push(`run ${r.id} is ${r.state} with no finish time`);
    if (!ended && r.finished_at !== null) out.push(`run ${r.id} is ${r.state} but has a finish time`);
  }
  return out;
}

/**
 * Restart policies: an on-failure container restarts at most maxRetries times; a container
 * between two runs by its policy (`restarting`, which is not at rest: problems() names it) runs
 * nothing and still holds what its next run takes up again, its slice or shared lease and, in
 * bridge mode, its address on its node.
 */
export function restartProblems(s: Snapshot): string[] {
  const out: string[] = [];
  const sliceOwners = new Set(s.slices.filter((sl) => sl.kind === 'isolated').map((sl) => sl.owner));
  const leases = new Set(s.leases);
  const shared = new Set(s.sharedLeases);
  for (const r of s.rows) {
    const { name, maxRetries } = r.restartPolicy;
    if (name === 'on-failure' && maxRetries !== undefined && r.restart_count > maxRetries)
      out.push(`${r.name} restarted ${r.restart_count} times, its policy on-failure:${maxRetries}`);
    if (name === 'no' && r.restart_count > 0) out.push(`${r.name} has no restart policy but restarted ${r.restart_count} times`);
    if (r.state !== 'restarting') continue;
    if (r.pid !== null) out.push(`${r.name} is restarting but its row keeps the pid ${r.pid}`);
    if (shared.has(r.id) ? !leases.has(r.id) : !sliceOwners.has(r.id)) out.push(`${r.name} is restarting without its slice`);
    if (r.mode === 'bridge') {
      const held = s.ipLeases.filter((l) => l.container === r.id);
      if (held.length !== 1) out.push(`${r.name} is restarting in bridge mode with ${held.length} addresses`);
      else if (held[0]!.node !== r.node) out.push(`${r.name} is restarting on ${r.node} with an address on ${held[0]!.node}`);
    }
  }
  return out;
}

/**
 * Volumes at rest: each row has its directory and each directory its row (the reconciler removes
 * orphans), and a container that mounts a volume mounts one that exists, on its own node.
 */
export function volumeProblems(s: Snapshot): string[] {
  const out: string[] = [];
  const byId = new Map(s.volumes.map((v) => [v.id, v]));
  for (const v of s.volumes) if (!s.volumeDirs.has(`${v.project}/${v.id}`)) out.push(`volume ${v.project}/${v.name} has no directory`);
  for (const d of s.volumeDirs) if (!byId.has(d.split('/')[1]!)) out.push(`the volume directory ${d} has no volume row`);
  for (const m of s.volumeMounts) {
    const v = byId.get(m.volumeId);
    if (!v) out.push(`${m.container} mounts volume ${m.volumeId}, which has no row`);
    else if (v.node !== m.node) out.push(`${m.container} is on ${m.node} but mounts volume ${v.name} of ${v.node}`);
  }
  return out;
}

/**
 * Container networks at rest: a running bridge container holds one address, on its node, that no
 * other holds; a container that does not run holds none; every nv* port on a node's bridge is the
 * host end of a container running there in bridge mode (no stray veth).
 */
export function networkProblems(s: Snapshot): string[] {
  const out: string[] = [];
  const byId = new Map(s.rows.map((r) => [r.id, r]));
  const leasesOf = new Map<string, Array<{ node: string; address: string }>>();
  const holders = new Map<string, string[]>();
  for (const l of s.ipLeases) {
    leasesOf.set(l.container, [...(leasesOf.get(l.container) ?? []), l]);
    holders.set(l.address, [...(holders.get(l.address) ?? []), l.container]);
  }
  for (const [address, ids] of holders) if (ids.length > 1) out.push(`${ids.length} containers hold the address ${address}`);
  for (const r of s.rows) {
    const held = leasesOf.get(r.id) ?? [];
    if (r.state === 'running' && r.mode === 'bridge' && !s.unreachable.has(r.node)) {
      if (held.length !== 1) out.push(`${r.name} runs in bridge mode with ${held.length} addresses`);
      else if (held[0]!.node !== r.node) out.push(`${r.name} runs on ${r.node} with an address on ${held[0]!.node}`);
    }
    // between two runs by its policy it keeps its address for the next (restartProblems checks it)
    if (r.state !== 'running' && r.state !== 'restarting' && held.length > 0)
      out.push(`${r.name} is ${r.state} but holds the address ${held[0]!.address}`);
  }
  for (const l of s.ipLeases) if (!byId.has(l.container)) out.push(`the address ${l.address} is held by ${l.container}, which has no row`);
  for (const [node, { bridge, ports, hostIfNameOf }] of s.veths) {
    const live = new Set(
      s.rows.filter((r) => r.node === node && r.state === 'running' && r.mode === 'bridge').map((r) => hostIfNameOf(r.id)),
    );
    for (const port of ports) if (!live.has(port)) out.push(`${node}'s bridge ${bridge} keeps the veth ${port}, of no running container`);
  }
  return out;
}

/** One SQL check: pairs of active (not quarantined) slices whose uid or gid ranges overlap. */
export const OVERLAP_SQL = `
  SELECT count(*)::int AS n FROM id_slice a JOIN id_slice b ON a.id < b.id
   WHERE a.state <> 'quarantined' AND b.state <> 'quarantined'
     AND (a.uid_range && b.uid_range OR a.gid_range && b.gid_range)`;

/**
 * Counts, per host uid the kernel maps container root to, the processes on this host that are the
 * init of their pid namespace: every running container's slice must have exactly one, whatever a
 * launcher knows or forgot (a second init would be a container nobody manages, holding the slice).
 */
export function initsBySliceBase(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue; // ended, waiting for its parent to reap it
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
      if (!nspid || nspid.length < 2 || nspid.at(-1) !== '1') continue; // not the init of a child pid namespace
      const [nsId, hostId] = readFileSync(`/proc/${entry}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
      if (nsId !== 0 || hostId === 0) continue;
      out.set(hostId!, (out.get(hostId!) ?? 0) + 1);
    } catch {
      /* the process ended while we looked */
    }
  }
  return out;
}

/** Waits until `rows` containers exist and every invariant holds; returns that snapshot. */
export async function settledSnapshot(sys: NagayaSystem, nodes: string[], rows: number, timeoutMs = 240_000): Promise<Snapshot> {
  return eventually(
    async () => {
      const s = await snapshot(sys, nodes);
      if (s.rows.length !== rows) throw new Error(`${s.rows.length} rows`);
      const open = problems(s);
      if (open.length > 0) throw new Error(`${open.length} problems, e.g. ${open.slice(0, 3).join('; ')}`);
      return s;
    },
    timeoutMs,
    'every launch to settle',
    500,
  );
}

/** The pids cgroup of a process (v1 pids hierarchy, else its v2 cgroup), as a directory. */
function pidsCgroupOf(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(':'));
  const v1 = lines.find(([, controllers]) => controllers!.split(',').includes('pids'));
  return v1 ? `/sys/fs/cgroup/pids${v1[2]}` : `/sys/fs/cgroup${lines.find(([h]) => h === '0')?.[2] ?? ''}`;
}

/**
 * What the kernel says of each running container, against its slice: its init's uid_map is the
 * slice, and it is the only init on it; it sits in a pids cgroup of its own with a finite
 * pids.max. Returns what is wrong (empty: all holds).
 */
export function runningOnTheirSlices(s: Snapshot): string[] {
  const out: string[] = [];
  const inits = initsBySliceBase();
  for (const r of s.rows.filter((x) => x.state === 'running')) {
    const cgroup = pidsCgroupOf(r.pid!);
    if (!cgroup.endsWith(`/${r.id}`)) out.push(`${r.name}'s init is in ${cgroup}, not a cgroup of its own`);
    else if (!/^\d+$/.test(readFileSync(`${cgroup}/pids.max`, 'utf8').trim())) out.push(`${r.name}'s pids are not bounded (${cgroup})`);
    const slice = s.slices.find((sl) => sl.owner === r.id && sl.kind === 'isolated');
    if (!slice) continue; // shared-map containers: problems() checks their lease
    const map = readFileSync(`/proc/${r.pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
    const want = [0, Number(slice.lo), Number(slice.hi) - Number(slice.lo)];
    if (map.join(' ') !== want.join(' ')) out.push(`${r.name}'s init maps ${map.join(' ')}, its slice is ${want.join(' ')}`);
    const n = inits.get(Number(slice.lo)) ?? 0;
    if (n !== 1) out.push(`${n} inits run on ${r.name}'s slice`);
  }
  return out;
}
