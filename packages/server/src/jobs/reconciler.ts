import { readFileSync } from 'node:fs';
import type { Allocator } from '@nagaya/allocator';
import { LOST_EXIT, type ContainerRecord, type ContainerRuntime } from '@nagaya/native';
import type { Logger } from '../observability/logger';
import type { ImageStore } from '../images/image-store';
import type { NodeNetwork } from '../services/node-network';
import type { ContainerRow, ContainerStore } from '../store/container-store';
import type { ContainerJobs } from './container-jobs';
import type { VolumeStore } from '../store/volume-store';
import type { JobQueues } from './job-queues';
import type { RunJobs } from './run-jobs';
import type { RunRow } from '../store/run-store';
import type { NodeVolumes } from './node-volumes';
import {
  capsPids,
  compareVolumes,
  isContainerId,
  isUnfinished,
  isYoung,
  jobInFlight,
  mayAdopt,
  mayBeOrphanLease,
  pidsBoundFor,
  recoverUnfinishedRow,
  settleLostRow,
  settleRunningRow,
} from './reconcile-decisions';

export interface ReconcilerDeps {
  nodeName: string;
  containers: ContainerStore;
  allocator: Allocator;
  runtime: ContainerRuntime;
  queues: JobQueues;
  jobs: ContainerJobs;
  log: Logger;
  /** This node's container networking, if it has one: its leases, veths and tables are compared and repaired each pass. */
  network?: NodeNetwork;
  /** This node's image layers: those no image uses are removed, and node_layer is kept true. */
  images?: ImageStore;
  /** This node's volume directories and the volume rows: a directory with no row is removed, a row with no directory reported. */
  volumes?: { dirs: NodeVolumes; rows: VolumeStore };
  /** A row younger than this may still be on its way into a queue: leave it alone. */
  graceMs?: number;
  /** A lease without a container row older than this is an orphan (its launch died half-way). */
  orphanLeaseAgeMs?: number;
  /** pids.max given to a running container found without a pids bound whose row sets none. */
  defaultPidsMax: number;
  /** This node's runs: their containers are theirs to settle, and what a dead worker left is cleaned here. */
  runs?: { jobs: RunJobs; jobState: (run: RunRow) => Promise<string>; requeue: (run: RunRow) => Promise<void> };
}

export interface ReconcileReport {
  exited: number;
  lost: number;
  adopted: number;
  requeued: number;
  strays: number;
  /** Processes of containers recorded as lost (this node was removed as dead), stopped. */
  lostKilled: number;
  orphanLeases: number;
  /** Cgroups of containers that are gone, removed. */
  cgroups: number;
  /** Running containers found without a cgroup of their own with a finite pids.max (launched before every container had one), given one. */
  unbounded: number;
  /** Addresses of containers that cannot be running here, given back. */
  releasedAddresses: number;
  /** Host ends of veths on the bridge whose container holds no address, removed. */
  strayVeths: number;
  /** The node's tables did not hold exactly the leased containers, and were rebuilt from Postgres. */
  rulesRebuilt: number;
  /** The node's name server was not running (or ran with other options), and was started. */
  nameServerStarts: number;
  /** The name server's hosts file did not list exactly the leased containers, and was rewritten. */
  namesRewritten: number;
  /** Image layers no image uses any more, removed from this node's store. */
  unusedLayers: number;
  /** Volume directories with no volume row (a create or delete cut short), older than the grace, removed. */
  orphanVolumes: number;
  /** Volume rows of this node whose directory is missing here, reported (a container mounting one fails to launch). */
  missingVolumes: number;
  /** Containers of runs no longer running them, removed. */
  runContainers: number;
  /** Runs whose job was lost, settled from their container's exit (or failed). */
  runsSettled: number;
  /** Queued runs whose job was lost, queued again. */
  runsRequeued: number;
}

/** Tells whether one of a container's cgroup directories caps its pids. */
function hasPidsBound(cgroups: string[] | undefined): boolean {
  return (cgroups ?? []).some((dir) => {
    try {
      return capsPids(readFileSync(`${dir}/pids.max`, 'utf8'));
    } catch {
      return false;
    }
  });
}

/**
 * Makes the rows of this node agree with what really runs, at start and periodically:
 * a row running whose process is gone becomes stopped or failed with its exit code; a process
 * with no row is stopped and cleaned; a pending, starting or deleting row with no live job gets
 * its job again; a slice whose owner is gone is released; a cgroup whose container is gone is
 * removed, and a running container without a pids bound of its own is given one. A container
 * recorded as lost with this node (removed as dead) is killed if it still runs here, and then its
 * slice's fence is lifted.
 */
export class Reconciler {
  private readonly graceMs: number;
  private readonly orphanLeaseAgeMs: number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.graceMs = deps.graceMs ?? 15_000;
    this.orphanLeaseAgeMs = deps.orphanLeaseAgeMs ?? 120_000;
  }

  async run(): Promise<ReconcileReport> {
    const { runtime, containers, nodeName } = this.deps;
    const report: ReconcileReport = {
      exited: 0,
      lost: 0,
      adopted: 0,
      requeued: 0,
      strays: 0,
      lostKilled: 0,
      orphanLeases: 0,
      cgroups: 0,
      unbounded: 0,
      releasedAddresses: 0,
      strayVeths: 0,
      rulesRebuilt: 0,
      nameServerStarts: 0,
      namesRewritten: 0,
      unusedLayers: 0,
      orphanVolumes: 0,
      missingVolumes: 0,
      runContainers: 0,
      runsSettled: 0,
      runsRequeued: 0,
    };
    const records = new Map((await runtime.adopt()).map((r) => [r.id, r]));
    const rows = await containers.list({ node: nodeName });
    // a run's container is its run worker's: only what no run runs any more is removed here
    for (const row of rows) if (row.kind !== 'run') await this.reconcileRow(row, records.get(row.id), report);
    if (this.deps.runs) {
      const runs = await this.deps.runs.jobs.reconcile(rows, this.deps.runs, this.graceMs);
      report.runContainers = runs.removed;
      report.runsSettled = runs.settled;
      report.runsRequeued = runs.requeued;
    }
    const known = new Set(rows.map((r) => r.id));
    for (const record of records.values()) {
      if (known.has(record.id)) continue;
      if (isContainerId(record.id) && (await containers.findById(record.id))) continue; // moved rows are another node's
      await this.removeStray(record);
      report.strays++;
    }
    report.orphanLeases = await this.releaseOrphanLeases();
    if (this.deps.network) {
      const repair = await this.deps.network.repair();
      report.releasedAddresses = repair.released;
      report.strayVeths = repair.strayPorts;
      report.rulesRebuilt = repair.rebuilt ? 1 : 0;
      report.nameServerStarts = repair.nameServerStarted ? 1 : 0;
      report.namesRewritten = repair.namesRewritten ? 1 : 0;
    }
    if (this.deps.images) {
      const layers = await this.deps.images.reconcileLayers().catch((err: unknown) => {
        this.deps.log.warn('could not reconcile the image layers', { error: err as Error });
        return { removed: 0 };
      });
      report.unusedLayers = layers.removed;
    }
    if (this.deps.volumes) {
      const volumes = await this.reconcileVolumes(this.deps.volumes).catch((err: unknown) => {
        this.deps.log.warn('could not reconcile the volume directories', { error: err as Error });
        return { orphans: 0, missing: 0 };
      });
      report.orphanVolumes = volumes.orphans;
      report.missingVolumes = volumes.missing;
    }
    report.cgroups = (await runtime.pruneCgroups()).length;
    const limitsOf = new Map(rows.map((r) => [r.id, r.limits]));
    for (const record of records.values()) {
      if (record.state !== 'running' || hasPidsBound(record.cgroups)) continue;
      const pids = pidsBoundFor(limitsOf.get(record.id), this.deps.defaultPidsMax);
      try {
        await runtime.boundPids(record.id, pids);
        report.unbounded++;
      } catch (err) {
        this.deps.log.warn('could not give a running container its pids bound', { id: record.id, error: err as Error });
      }
    }
    if (Object.values(report).some((n) => n > 0)) this.deps.log.info('reconciled', { ...report });
    return report;
  }

  private async reconcileRow(row: ContainerRow, record: ContainerRecord | undefined, report: ReconcileReport): Promise<void> {
    const { jobs, containers, queues, nodeName } = this.deps;
    if (row.state === 'lost') {
      // lost with this node when an admin removed it: its process must not outlive that verdict
      const settle = settleLostRow(record);
      if (settle === 'kill') {
        await this.deps.runtime.stop(row.id, 0);
        report.lostKilled++;
      }
      if (settle !== 'done') await this.deps.runtime.remove(row.id);
      // nothing of it is left here: its fence can go (a node back from a partition, not restarted)
      await this.deps.allocator.unfence(this.deps.nodeName, row.id);
      return;
    }
    const young = isYoung(row.updatedAt, Date.now(), this.graceMs);
    if (row.state === 'running' || row.state === 'stopping') {
      const settlement = settleRunningRow(record, young);
      if (settlement.action === 'apply-recorded-exit') {
        await jobs.applyExit(row.id, settlement.exit);
        report.exited++;
      } else if (settlement.action === 'mark-lost') {
        // lost is the verdict on the run this row recorded when it was listed, not on a later one
        await jobs.applyExit(row.id, row.pid === null ? LOST_EXIT : { ...LOST_EXIT, pid: row.pid });
        report.lost++;
      }
      return;
    }
    if (!isUnfinished(row.state)) return;
    if (jobInFlight(await queues.latestFor(row.id))) return;
    if (young) return;
    const leaseOnRecord = mayAdopt(row.state, record) && (await this.deps.allocator.find(row.id)) !== undefined;
    const recovery = recoverUnfinishedRow({ state: row.state, startedAt: row.startedAt }, record, leaseOnRecord);
    if (recovery.action === 'adopt') {
      // the worker died between spawning and recording it: the container is fine
      const { pid, startTime, startedAt } = recovery.record;
      await containers.transition(row.id, ['pending', 'starting'], 'running', {
        pid: pid ?? null,
        startTime: startTime ?? null,
        startedAt: new Date(startedAt ?? Date.now()),
        error: null,
      });
      report.adopted++;
      return;
    }
    if (recovery.removeStray) await this.removeStray(recovery.removeStray);
    if (recovery.backToPending) await containers.transition(row.id, ['starting'], 'pending');
    // a restart whose delayed job was lost (Redis lost its data): started by its policy still
    const byPolicy = row.state === 'restarting' ? { byPolicy: true as const, restartCount: row.restartCount } : {};
    await queues.enqueue(nodeName, { kind: recovery.kind, containerId: row.id, containerName: row.name, ...byPolicy }, { fresh: true });
    report.requeued++;
  }

  /**
   * Removes the volume directories on this disk that no volume row names (a create that made its
   * directory but died before its row, or a delete whose removal failed), once older than the
   * grace (a create records its row right after its directory), and reports the rows of this
   * node whose directory is missing: nothing here can make their files again.
   */
  private async reconcileVolumes(volumes: { dirs: NodeVolumes; rows: VolumeStore }): Promise<{ orphans: number; missing: number }> {
    const { log, nodeName } = this.deps;
    const onDisk = await volumes.dirs.list();
    const recorded = await volumes.rows.existing(onDisk.map((d) => d.id));
    const rows = await volumes.rows.list({ node: nodeName });
    const { orphans, missing } = compareVolumes(onDisk, recorded, rows, Date.now(), this.graceMs);
    for (const d of onDisk.filter((x) => orphans.includes(x.id))) {
      await volumes.dirs.remove(d.project, d.id);
      log.warn('removed a volume directory with no volume row', { project: d.project, id: d.id });
    }
    for (const v of rows.filter((x) => missing.includes(x.id))) {
      log.error('the directory of a volume is missing on its node', { project: v.project, volume: v.name, id: v.id, node: nodeName });
    }
    return { orphans: orphans.length, missing: missing.length };
  }

  private async removeStray(record: ContainerRecord): Promise<void> {
    const { runtime, log } = this.deps;
    try {
      if (record.state === 'running') await runtime.stop(record.id, 2000);
      await runtime.remove(record.id);
      log.warn('removed a container with no row', { id: record.id });
    } catch (err) {
      log.warn('could not remove a stray container', { id: record.id, error: err as Error });
    }
  }

  private async releaseOrphanLeases(): Promise<number> {
    const { allocator, containers } = this.deps;
    let released = 0;
    for (const lease of await allocator.owners()) {
      if (!mayBeOrphanLease(lease, Date.now(), this.orphanLeaseAgeMs)) continue;
      if (await containers.findById(lease.owner)) continue;
      if (await allocator.release(lease.owner)) released++;
    }
    return released;
  }
}
