// `npm run bench:launch`: launch latency of busybox /bin/true, 200 times each way, same rootfs and
// same uid/gid map:
//   nagaya: the addon called from this Node process (launch request to exit observed);
//   crun:   Debian's crun spawned from this Node process with an equivalent OCI bundle.
// Prints a table, then one JSON line. crun refuses this machine's hybrid cgroup layout, so the
// benchmark re-runs itself in a private mount namespace (`unshare -m`) with
// /sys/fs/cgroup/unified unmounted; both runtimes are measured from inside it.
// Options: BENCH_RUNS (200), BENCH_SKIP_CRUN=1, BENCH_DEBIAN=1 (also launch from a debootstrap'ed
// Debian rootfs, ~10,000 files, to show the idmapped overlay does not care about rootfs size),
// BENCH_CONCURRENCY=N (also BENCH_CONCURRENT_RUNS launches of long-running busybox `sleep`, default
// 200, with N in flight: p50/p90 launch-to-running latency and launches/s, printed as an extra
// table and JSON line; the sequential figures and their JSON line are unchanged).
// Every run also launches the same container with a network (eth0 on a bench bridge of its own,
// ngb<pid>, with no traffic), interleaved with the others: net_ms_p50 and ratio_net_over_none
// in the JSON line, nft_apply_ms_{1,200} (rebuilding nagaya's tables) and nft_add_ms (adding one
// container to 200: the worker's cost before a networked launch, not in net_ms).
// BENCH_SKIP_NET=1 leaves them out.
// Every run also launches busybox split into 3 layer directories (bin; the rest; one small file),
// stacked as idmapped overlay lowers as an OCI image's layers are, interleaved with the others:
// oci_ms_p50 and ratio_oci_over_busybox in the JSON line.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  addToRuleset,
  applyRuleset,
  buildBusyboxImage,
  ContainerRuntime,
  ensureBridge,
  macFromIp,
  prepareShiftedCopy,
  removeBridge,
  removeRuleset,
  type ContainerNetwork,
  type IdMapLine,
} from '../packages/native/src';

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const WARMUP = 10;
const HOST_BASE = 1_900_000_000;
const MAP: IdMapLine[] = [{ nsId: 0, hostId: HOST_BASE, count: 65536 }];
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 0);
const CONCURRENT_RUNS = Number(process.env.BENCH_CONCURRENT_RUNS ?? 200);
const INNER_FLAG = 'NAGAYA_BENCH_IN_PRIVATE_MOUNT_NS';
const NET_BRIDGE = `ngb${(process.pid % 0xfffff).toString(16)}`;
const NET_PREFIX = '10.253.77';
const NET_TABLE = `ngb${process.pid}`;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summarize(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), min: s[0], max: s[s.length - 1] };
}

/** Re-executes this script under `unshare -m` with the cgroup2 hierarchy unmounted (for crun). */
function reexecInPrivateMountNamespace(): never {
  const script = 'mount --make-rprivate / && { umount /sys/fs/cgroup/unified 2>/dev/null || true; } && exec "$@"';
  const result = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [INNER_FLAG]: '1' },
  });
  process.exit(result.status ?? 1);
}

function ensureCrun(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v crun']).stdout.toString().trim();
  if (found) return found;
  console.error('crun not found: installing Debian package crun (apt-get install crun)');
  const install = spawnSync(
    'sh',
    [
      '-c',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends crun || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends crun)',
    ],
    { stdio: 'inherit' },
  );
  if (install.status !== 0) return undefined;
  return spawnSync('sh', ['-c', 'command -v crun']).stdout.toString().trim() || undefined;
}

/** Writes an OCI bundle equivalent to a nagaya launch: same namespaces, maps, mounts, masks. */
function writeCrunBundle(dir: string, rootfs: string): void {
  mkdirSync(dir, { recursive: true });
  const toOci = (lines: IdMapLine[]) => lines.map((l) => ({ containerID: l.nsId, hostID: l.hostId, size: l.count }));
  const config = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/true'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      uidMappings: toOci(MAP),
      gidMappings: toOci(MAP),
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup'].map((type) => ({ type })),
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/acpi', '/sys/firmware'],
      readonlyPaths: ['/proc/sys', '/proc/irq', '/proc/bus', '/proc/sysrq-trigger'],
    },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

function runCrunOnce(crun: string, bundle: string, stateRoot: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(crun, ['--root', stateRoot, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const elapsed = performance.now() - started;
      if (code === 0) resolve(elapsed);
      else reject(new Error(`crun exited ${code}: ${stderr.trim()}`));
    });
  });
}

function benchNetwork(i: number): ContainerNetwork {
  return { ip: `${NET_PREFIX}.${2 + (i % 250)}`, prefix: 24, gateway: `${NET_PREFIX}.1`, bridge: NET_BRIDGE };
}

/** Splits the busybox image into 3 layer dirs (topmost first): a small extra file, all but /bin, /bin. */
function splitIntoLayers(image: string, dir: string): string[] {
  const [top, middle, bottom] = ['layer3', 'layer2', 'layer1'].map((name) => join(dir, name));
  for (const layer of [top, middle, bottom]) mkdirSync(layer, { recursive: true });
  execFileSync('cp', ['-a', join(image, 'bin'), bottom]);
  const rest = readdirSync(image).filter((name) => name !== 'bin');
  execFileSync('cp', ['-a', ...rest.map((name) => join(image, name)), middle]);
  mkdirSync(join(top, 'etc'));
  writeFileSync(join(top, 'etc/oci-layer'), 'layer3\n');
  return [top, middle, bottom];
}

/** A one-layer image directory, or layer directories topmost first. */
type Rootfs = string | string[];

async function launchNagayaOnce(runtime: ContainerRuntime, rootfs: Rootfs, id: string, network?: ContainerNetwork): Promise<number> {
  const image = typeof rootfs === 'string' ? { image: rootfs } : { layers: rootfs };
  const started = performance.now();
  await runtime.launch({ id, ...image, argv: ['/bin/true'], uidMap: MAP, gidMap: MAP, hostname: 'bench', network });
  const status = await runtime.wait(id);
  const elapsed = performance.now() - started;
  if (status.exitCode !== 0) throw new Error(`nagaya ${id} exited ${JSON.stringify(status)}`);
  await runtime.remove(id);
  return elapsed;
}

/**
 * Runs nagaya and (when given) crun launches alternately, so both see the same machine load;
 * the first WARMUP runs of each are dropped.
 */
async function benchInterleaved(
  runtime: ContainerRuntime,
  image: string,
  label: string,
  runs: number,
  crun?: { path: string; work: string },
  withNetwork = false,
  ociLayers?: string[],
) {
  const nagaya: number[] = [];
  const net: number[] = [];
  const oci: number[] = [];
  const crunSamples: number[] = [];
  let bundle = '';
  let stateRoot = '';
  if (crun) {
    bundle = join(crun.work, 'crun-bundle');
    stateRoot = join(crun.work, 'crun-state');
    mkdirSync(stateRoot, { recursive: true });
    writeCrunBundle(bundle, image);
  }
  for (let i = 0; i < WARMUP + runs; i++) {
    const n = await launchNagayaOnce(runtime, image, `${label}-${i}`);
    if (i >= WARMUP) nagaya.push(n);
    if (withNetwork) {
      const m = await launchNagayaOnce(runtime, image, `${label}-net-${i}`, benchNetwork(i));
      if (i >= WARMUP) net.push(m);
    }
    if (ociLayers) {
      const o = await launchNagayaOnce(runtime, ociLayers, `${label}-oci-${i}`);
      if (i >= WARMUP) oci.push(o);
    }
    if (crun) {
      const c = await runCrunOnce(crun.path, bundle, stateRoot, `bench-${process.pid}-${label}-${i}`);
      if (i >= WARMUP) crunSamples.push(c);
    }
  }
  return { nagaya, crun: crunSamples, net, oci };
}

/**
 * Keeps `concurrency` launches in flight until `runs` containers were launched (after a warm-up
 * of `concurrency` launches per loop), like a server creating long-running containers: each runs
 * `sleep`, and all are stopped once the measurement is over. A sample is launch() called to
 * launch() resolved (argv executing).
 */
async function benchConcurrent(runtime: ContainerRuntime, image: string, runs: number, concurrency: number) {
  const latencies: number[] = [];
  const launched: string[] = [];
  let next = 0;
  const loop = async (label: string, total: number, samples?: number[]) => {
    while (next < total) {
      const id = `${label}-${next++}`;
      const started = performance.now();
      await runtime.launch({ id, image, argv: ['sleep', '600'], uidMap: MAP, gidMap: MAP, hostname: 'bench' });
      samples?.push(performance.now() - started);
      launched.push(id);
    }
  };
  const stopAll = async () => {
    const ids = launched.splice(0);
    await Promise.all(ids.map((id) => runtime.stop(id, 0)));
    await Promise.all(ids.map((id) => runtime.remove(id)));
  };
  await Promise.all(Array.from({ length: concurrency }, () => loop('warm', WARMUP)));
  await stopAll();
  next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => loop('conc', runs, latencies)));
  const wallMs = performance.now() - started;
  await stopAll();
  return { stats: summarize(latencies), perSecond: (runs * 1000) / wallMs };
}

/** Median times of replacing nagaya's tables (a table of the bench's own) with 1 and with 200 containers, and of adding one to the 200. */
async function benchRulesetApply(): Promise<{ one: number; many: number; add: number }> {
  const timeApply = async (n: number) => {
    const containers = Array.from({ length: n }, (_, i) => {
      const ip = `10.253.${78 + Math.floor(i / 250)}.${2 + (i % 250)}`;
      return {
        hostIfName: `nvbench${i}`,
        ip,
        mac: macFromIp(ip),
        project: `p${i % 10}`,
        publish: [{ hostPort: 40000 + i, containerPort: 80, protocol: 'tcp' as const }],
      };
    });
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      await applyRuleset({ table: NET_TABLE, bridge: NET_BRIDGE, subnet: '10.253.0.0/16', containers });
      times.push(performance.now() - started);
    }
    return summarize(times).p50;
  };
  const one = await timeApply(1);
  const many = await timeApply(200);
  // one more container into the 200: what the worker pays before each networked launch
  const adds: number[] = [];
  for (let i = 0; i < 7; i++) {
    const ip = `10.253.90.${2 + i}`;
    const started = performance.now();
    await addToRuleset(
      { table: NET_TABLE, bridge: NET_BRIDGE, subnet: '10.253.0.0/16' },
      {
        hostIfName: `nvadd${i}`,
        ip,
        mac: macFromIp(ip),
        project: 'p1',
        publish: [{ hostPort: 45000 + i, containerPort: 80, protocol: 'tcp' }],
      },
    );
    adds.push(performance.now() - started);
  }
  return { one, many, add: summarize(adds).p50 };
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n++;
    if (entry.isDirectory()) n += countFiles(join(dir, entry.name));
  }
  return n;
}

/** Builds (once) a minimal Debian rootfs with debootstrap from the apt sources' mirror. */
function debianRootfs(): string {
  const dir = join(tmpdir(), 'nagaya-bench-images', 'debian-bookworm');
  if (existsSync(join(dir, 'bin/true'))) return dir;
  if (!spawnSync('sh', ['-c', 'command -v debootstrap']).stdout.length) {
    execFileSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap'], {
      stdio: 'inherit',
    });
  }
  const mirror = process.env.BENCH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  console.error(`debootstrap --variant=minbase bookworm ${dir} ${mirror} (takes a few minutes)`);
  rmSync(dir, { recursive: true, force: true });
  execFileSync('debootstrap', ['--variant=minbase', 'bookworm', dir, mirror], { stdio: 'inherit' });
  return dir;
}

function row(name: string, s: ReturnType<typeof summarize>): string {
  const f = (x: number) => x.toFixed(2).padStart(8);
  return `${name.padEnd(28)}${f(s.p50)}${f(s.p90)}${f(s.p99)}${f(s.min)}${f(s.max)}`;
}

async function main(): Promise<void> {
  if (process.env[INNER_FLAG] !== '1' && process.env.BENCH_SKIP_CRUN !== '1') reexecInPrivateMountNamespace();

  const work = mkdtempSync(join(tmpdir(), 'nagaya-bench-'));
  chmodSync(work, 0o711);
  const image = buildBusyboxImage(join(tmpdir(), 'nagaya-bench-images', 'busybox'));
  // buildBusyboxImage makes a missing store 0700, as a real one must be; crun's container (its own
  // uids) has to walk through this scratch one to reach the same rootfs.
  chmodSync(join(tmpdir(), 'nagaya-bench-images'), 0o711);
  const runtime = await ContainerRuntime.open({ stateDir: join(work, 'state') });
  const withNetwork = process.env.BENCH_SKIP_NET !== '1';
  try {
    if (withNetwork) await ensureBridge({ name: NET_BRIDGE, gatewayCidr: `${NET_PREFIX}.1/24`, ipForward: false });
    const crun = process.env.BENCH_SKIP_CRUN === '1' ? undefined : ensureCrun();
    const ociLayers = splitIntoLayers(image, join(work, 'oci-layers'));
    const samples = await benchInterleaved(
      runtime,
      image,
      'busybox',
      RUNS,
      crun ? { path: crun, work } : undefined,
      withNetwork,
      ociLayers,
    );
    const nagaya = summarize(samples.nagaya);
    const ociStats = summarize(samples.oci);
    const rows = [row('nagaya busybox /bin/true', nagaya), row('nagaya ... as 3 layers (OCI)', ociStats)];
    const netStats = withNetwork ? summarize(samples.net) : undefined;
    if (netStats) rows.push(row('nagaya ... with eth0 (veth)', netStats));
    const nftApply = withNetwork ? await benchRulesetApply() : undefined;
    const crunStats = crun ? summarize(samples.crun) : undefined;
    if (crunStats) rows.push(row('crun busybox /bin/true', crunStats));
    let debian: { files: number; stats: ReturnType<typeof summarize>; shiftMs: number } | undefined;
    if (process.env.BENCH_DEBIAN === '1') {
      const rootfs = debianRootfs();
      const stats = summarize((await benchInterleaved(runtime, rootfs, 'debian', RUNS)).nagaya);
      // What the idmapped overlay saves: the chown-shifted private copy a launch needs without it.
      const shiftStarted = performance.now();
      await prepareShiftedCopy(rootfs, join(work, 'debian-shifted'), MAP, MAP);
      const shiftMs = performance.now() - shiftStarted;
      debian = { files: countFiles(rootfs), stats, shiftMs };
      rows.push(row(`nagaya debian (${debian.files} files)`, debian.stats));
    }

    console.log(`launch to exit observed, ${RUNS} runs each (alternating) after ${WARMUP} warm-up runs (ms)`);
    console.log(
      `${'runtime'.padEnd(28)}${'p50'.padStart(8)}${'p90'.padStart(8)}${'p99'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}`,
    );
    for (const r of rows) console.log(r);
    if (debian)
      console.log(`chown-shifted copy of the Debian rootfs (the fallback without idmapped mounts): ${debian.shiftMs.toFixed(0)} ms`);
    const round = (x: number) => Math.round(x * 100) / 100;
    const result: Record<string, unknown> = {
      bench: 'launch',
      nagaya_ms_p50: round(nagaya.p50),
      nagaya_ms_p90: round(nagaya.p90),
      crun_ms_p50: crunStats ? round(crunStats.p50) : null,
      ratio_crun_over_nagaya: crunStats ? round(crunStats.p50 / nagaya.p50) : null,
      oci_ms_p50: round(ociStats.p50),
      oci_ms_p90: round(ociStats.p90),
      ratio_oci_over_busybox: round(ociStats.p50 / nagaya.p50),
    };
    if (netStats && nftApply) {
      result.net_ms_p50 = round(netStats.p50);
      result.net_ms_p90 = round(netStats.p90);
      result.ratio_net_over_none = round(netStats.p50 / nagaya.p50);
      result.nft_apply_ms_1 = round(nftApply.one);
      result.nft_apply_ms_200 = round(nftApply.many);
      result.nft_add_ms = round(nftApply.add);
      console.log(
        `nagaya's nftables tables (worker, before a launch): rebuilt ${nftApply.one.toFixed(1)} ms for 1 container, ${nftApply.many.toFixed(1)} ms for 200; one added ${nftApply.add.toFixed(1)} ms`,
      );
    }
    if (debian) {
      result.debian_files = debian.files;
      result.nagaya_debian_ms_p50 = round(debian.stats.p50);
      result.shifted_copy_debian_ms = Math.round(debian.shiftMs);
    }
    console.log(JSON.stringify(result));
    if (CONCURRENCY > 0) {
      const conc = await benchConcurrent(runtime, image, CONCURRENT_RUNS, CONCURRENCY);
      console.log(`launch to running, ${CONCURRENT_RUNS} launches of busybox sleep with ${CONCURRENCY} in flight (ms)`);
      console.log(
        `${'runtime'.padEnd(28)}${'p50'.padStart(8)}${'p90'.padStart(8)}${'p99'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}${'launch/s'.padStart(10)}`,
      );
      console.log(`${row(`nagaya busybox x${CONCURRENCY}`, conc.stats)}${conc.perSecond.toFixed(1).padStart(10)}`);
      console.log(
        JSON.stringify({
          bench: 'launch-concurrent',
          concurrency: CONCURRENCY,
          runs: CONCURRENT_RUNS,
          nagaya_ms_p50: round(conc.stats.p50),
          nagaya_ms_p90: round(conc.stats.p90),
          launches_per_s: round(conc.perSecond),
        }),
      );
    }
  } finally {
    await runtime.shutdown().catch(() => runtime.close());
    if (withNetwork) {
      await removeRuleset(NET_TABLE).catch(() => undefined);
      await removeBridge(NET_BRIDGE).catch(() => undefined);
    }
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
