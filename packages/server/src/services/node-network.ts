import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { macOf } from '@nagaya/contract';
import {
  buildRulesetAddition,
  runNftScript,
  applyRuleset,
  bridgePorts,
  ensureBridge,
  hostIfNameFor,
  buildRulesetRemoval,
  removeStrayPorts,
  type ContainerNetwork,
  type RulesetContainer,
} from '@nagaya/native';
import type { ServerConfig } from '../config';
import { NagayaError } from '../errors';
import type { Logger } from '../observability/logger';
import type { ContainerRow } from '../store/container-store';
import type { NetworkStore, NodeNetworkState, NodeSubnet } from '../store/network-store';
import { NodeNames, projectDomain } from './node-names';

const run = promisify(execFile);

/** What a repair pass found and fixed. */
export interface NetworkRepair {
  /** Leases of containers that cannot be running here, given back. */
  released: number;
  /** Host ends on the bridge with no lease, removed. */
  strayPorts: number;
  /** The tables did not hold what Postgres says (or were gone), and were rebuilt. */
  rebuilt: boolean;
  /** The name server was gone (or ran with other options) and was started again. */
  nameServerStarted: boolean;
  /** The name server's hosts file did not list what Postgres says, and was rewritten. */
  namesRewritten: boolean;
}

/**
 * Host ports containers may not reach on the node: the API's, Postgres's and Redis's, and
 * `listening`, the ports this process's API was given by the kernel (PORT=0).
 */
export function deniedHostPorts(
  config: Pick<ServerConfig, 'port' | 'databaseUrl' | 'redisUrl'>,
  listening: Iterable<number> = [],
): Array<{ port: number }> {
  const portOf = (url: string, fallback: number) => {
    try {
      return Number(new URL(url).port) || fallback;
    } catch {
      return fallback;
    }
  };
  const ports = new Set([portOf(config.databaseUrl, 5432), 5432, portOf(config.redisUrl, 6379), 6379]);
  if (config.port > 0) ports.add(config.port);
  for (const port of listening) ports.add(port);
  return [...ports].sort((a, b) => a - b).map((port) => ({ port }));
}

/**
 * A worker node's container networking (root mode): its subnet in Postgres, the bridge, nagaya's
 * nftables tables and the name server (NodeNames) on the host, and per container an address, its
 * elements in the tables, its name and its launch plan's network. Changes to the tables are serialised here, so a rebuild from a
 * Postgres snapshot never drops a container added meanwhile (the database keeps addresses
 * disjoint; this lock only orders this node's kernel edits).
 */
export class NodeNetwork {
  private queue: Promise<unknown> = Promise.resolve();
  /** nft scripts of attaches and detaches waiting for the next batch, each with what follows it (see batched). */
  private readonly pendingScripts: Array<{
    script: string;
    after?: () => Promise<void>;
    resolve: () => void;
    reject: (err: unknown) => void;
  }> = [];
  /**
   * Attaches per container since this process started: a detach gives the address back only if
   * no attach of the same container took it over between the detach's check and its batch.
   */
  private readonly attaches = new Map<string, number>();
  private batchQueued = false;
  /** The containers' names (the node's dnsmasq); undefined when it could not start, and then no names resolve. */
  names: NodeNames | undefined;
  /** Ports the API of this process listens on, known only once it listens. */
  private readonly listeningPorts = new Set<number>();

  private constructor(
    private readonly config: ServerConfig,
    private readonly networks: NetworkStore,
    private readonly stateDir: string,
    readonly subnet: NodeSubnet,
  ) {}

  /**
   * Sets up the node: its subnet (carved on first start), the bridge, and the tables rebuilt from
   * Postgres. Undefined, with a warning, when the host cannot (no nft, no permission) or the
   * operator turned it off: the node then has no subnet and takes no bridge-mode container.
   */
  static async setUp(config: ServerConfig, networks: NetworkStore, stateDir: string, log: Logger): Promise<NodeNetwork | undefined> {
    // a node without networking keeps no subnet (unless addresses are still leased in it), so the
    // API places no bridge container on it
    const withoutNetwork = async () => {
      await networks.dropSubnet(config.nodeName).catch(() => undefined);
      return undefined;
    };
    if (!config.hostNetwork) return withoutNetwork();
    try {
      await run('nft', ['--version']);
    } catch (err) {
      log.warn('no container networking on this node: nft cannot run', { error: err as Error });
      return withoutNetwork();
    }
    try {
      const subnet =
        (await networks.subnetOf(config.nodeName)) ??
        (await networks.ensureSubnet(config.nodeName, {
          cidr: config.networkCidr,
          prefix: config.networkNodePrefix,
          bridge: config.bridge,
        }));
      await ensureBridge(bridgeOf(config, subnet));
      const node = new NodeNetwork(config, networks, stateDir, subnet);
      await node.rebuild();
      node.names = await NodeNames.start(config, networks, subnet, log).catch((err: unknown) => {
        log.warn('containers get no names on this node: its name server (dnsmasq) did not start', { error: err as Error });
        return undefined;
      });
      log.info('container networking ready', { bridge: subnet.bridge, cidr: subnet.cidr, table: config.nftTable });
      return node;
    } catch (err) {
      log.warn('no container networking on this node: host setup failed', { error: err as Error });
      return withoutNetwork();
    }
  }

  /** The host end of a container's veth on this node. */
  hostIfName(id: string): string {
    return vethName(this.config.vethPrefix, this.stateDir, id);
  }

  /**
   * Leases the container's address, adds it to the tables and returns its launch plan's network:
   * resolv.conf names the bridge's name server and searches the project's zone, so the project's
   * containers on this node resolve by bare name, including those launched later (the name is
   * published a moment after this returns; the launch does not wait for it).
   */
  async attach(c: ContainerRow): Promise<ContainerNetwork> {
    const hostIfName = this.hostIfName(c.id);
    // in the node's queue with detach: a detach of the run before this one (an exit event late)
    // either ran before this lease or sees the row starting and leaves it alone
    // The elements join a batch: launches at once add theirs in one nft run, which the node's
    // queue runs before any later edit (see serial), so the order of edits stays the queue's.
    const { lease, facts, mac, added } = await this.serial(async () => {
      this.attaches.set(c.id, (this.attaches.get(c.id) ?? 0) + 1);
      const { lease, facts } = await this.networks.leaseForLaunch(c.id, this.config.nodeName);
      const mac = macOf(lease.address);
      const added = this.batched(
        buildRulesetAddition(this.rules(), { hostIfName, ip: lease.address, mac, project: String(facts.projectId), publish: publishOf(c) }),
      );
      return { lease, facts, mac, added };
    }, false);
    await added;
    this.names?.schedule();
    return {
      ip: lease.address,
      prefix: lease.prefix,
      gateway: lease.gateway,
      bridge: lease.bridge,
      mac,
      hostIfName,
      nameservers: [lease.gateway],
      search: [projectDomain(facts.project)],
    };
  }

  /**
   * Takes a container out of the tables and gives its address back (exit, stop, failed start,
   * delete); nothing if it holds none. `unlessStarted`: nothing either if its row is starting or
   * running again by now (an exit or stop of an earlier run must not free the next run's address).
   */
  async detach(c: Pick<ContainerRow, 'id' | 'network'>, unlessStarted = false): Promise<void> {
    // The removal joins a batch, as attaches do: a delete of elements waits about 14 ms in the
    // kernel, and one at a time through this queue they held every launch of the node behind them.
    // The address goes back in the batch, once its elements are out; not if an attach of the same
    // container (a restart) leased it again meanwhile, whose elements the same batch adds back.
    const removed = await this.serial(async () => {
      const lease = (await this.networks.leasesOf([c.id])).get(c.id);
      if (!lease) return undefined;
      const { projectId, state } = await this.networks.launchFacts(c.id);
      if (unlessStarted && (state === 'starting' || state === 'running')) return undefined;
      const seen = this.attaches.get(c.id) ?? 0;
      const script = buildRulesetRemoval(this.rules(), {
        hostIfName: this.hostIfName(c.id),
        ip: lease.address,
        mac: macOf(lease.address),
        project: String(projectId),
        publish: publishOf(c),
      });
      // wrapped: a promise returned bare would be awaited here, inside the queue its batch waits behind
      const done = this.batched(script, async () => {
        if ((this.attaches.get(c.id) ?? 0) !== seen) return;
        await this.networks.release(c.id);
        this.attaches.delete(c.id);
      });
      return { done };
    }, false);
    if (!removed) return;
    await removed.done;
    this.names?.schedule();
  }

  /**
   * The reconciler's pass: gives back the leases of containers that cannot run here, removes host
   * ends with no lease, rebuilds the tables when they do not hold exactly the leased ports, and
   * makes sure the name server runs and lists exactly the leased containers.
   */
  async repair(): Promise<NetworkRepair> {
    const tables = await this.serial(async () => {
      const before = new Set(this.ports());
      const released = (await this.networks.releaseIdle(this.config.nodeName)).length;
      const state = await this.networks.forNode(this.config.nodeName);
      const leased = new Set(state.leases.map((l) => this.hostIfName(l.containerId)));
      // a port that joined after `before` belongs to a launch whose lease may be newer than the snapshot
      const keep = new Set([...leased, ...this.ports().filter((p) => !before.has(p))]);
      const strayPorts = (await removeStrayPorts(this.subnet.bridge, keep, this.config.vethPrefix)).length;
      const inTables = await this.tablePorts();
      const rebuilt = released > 0 || !inTables || !sameSet(inTables, leased);
      if (rebuilt) await applyRuleset(this.ruleset(state));
      return { released, strayPorts, rebuilt };
    });
    const names = (await this.names?.repair()) ?? { serverStarted: false, rewritten: false };
    return { ...tables, nameServerStarted: names.serverStarted, namesRewritten: names.rewritten };
  }

  /**
   * Denies containers the port the API of this process listens on: with PORT=0 the kernel picks
   * it after the worker set up the tables, and config.port does not tell it.
   */
  async denyListeningPort(port: number): Promise<void> {
    if (this.listeningPorts.has(port)) return;
    this.listeningPorts.add(port);
    await this.rebuild();
  }

  /** Rebuilds the tables from Postgres (worker start). */
  private async rebuild(): Promise<void> {
    await this.serial(async () => applyRuleset(this.ruleset(await this.networks.forNode(this.config.nodeName))));
  }

  /** The host ends the bridge table lets send now; undefined when the table is missing. */
  private async tablePorts(): Promise<Set<string> | undefined> {
    try {
      const { stdout } = await run('nft', ['-j', 'list', 'set', 'bridge', this.config.nftTable, 'ports']);
      const doc = JSON.parse(stdout) as { nftables: Array<{ set?: { elem?: string[] } }> };
      return new Set(doc.nftables.flatMap((o) => o.set?.elem ?? []));
    } catch {
      return undefined;
    }
  }

  /** The host ends of this node's veths on its bridge now. */
  ports(): string[] {
    return bridgePorts(this.subnet.bridge).filter((p) => p.startsWith(this.config.vethPrefix));
  }

  private rules() {
    return { table: this.config.nftTable, bridge: this.subnet.bridge, subnet: this.subnet.cidr, portPrefix: this.config.vethPrefix };
  }

  private ruleset(state: NodeNetworkState) {
    const publishOf = new Map<string, RulesetContainer['publish']>();
    for (const p of state.ports) {
      if (p.address === null) continue;
      const list = publishOf.get(p.containerId) ?? [];
      list.push({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: p.protocol,
        ...(p.hostIp && p.hostIp !== '0.0.0.0' ? { hostIp: p.hostIp } : {}),
      });
      publishOf.set(p.containerId, list);
    }
    return {
      ...this.rules(),
      deniedHostPorts: deniedHostPorts(this.config, this.listeningPorts),
      containers: state.leases.map((l) => ({
        hostIfName: this.hostIfName(l.containerId),
        ip: l.address,
        mac: l.mac,
        project: String(l.projectId),
        publish: publishOf.get(l.containerId) ?? [],
      })),
    };
  }

  /** Runs kernel edits of this node one at a time. */
  private serial<T>(work: () => Promise<T>, flushFirst = true): Promise<T> {
    // every edit but an attach's or a detach's (which join the batch) first runs the batched edits queued before it
    const run = flushFirst
      ? async () => {
          await this.flushBatch();
          return work();
        }
      : work;
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Queues an nft script for the next batch, which the node's queue runs next (one `nft -f -`
   * for every script queued by then: an nft process costs milliseconds, and at eight launches at
   * once one each made the node's queue the bottleneck). Resolves once the script is in.
   */
  private batched(script: string, after?: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingScripts.push({ script, ...(after ? { after } : {}), resolve, reject });
      if (this.batchQueued) return;
      this.batchQueued = true;
      // cleared before the batch is taken: a script queued while nft runs gets the next batch
      void this.serial(async () => {
        this.batchQueued = false;
        await this.flushBatch();
      }, false);
    });
  }

  /**
   * Runs the queued scripts as one transaction; when it fails, each alone, so one bad script
   * fails only its own launch. What follows a script (a detach's release of the address) runs
   * here too, in the node's queue, once the script is in.
   */
  private async flushBatch(): Promise<void> {
    const batch = this.pendingScripts.splice(0);
    if (batch.length === 0) return;
    const settle = async (b: (typeof batch)[number]) => {
      try {
        await b.after?.();
        b.resolve();
      } catch (err) {
        b.reject(err);
      }
    };
    try {
      await runNftScript(batch.map((b) => b.script).join(''));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const b of batch) await runNftScript(b.script).then(() => settle(b), b.reject);
      return;
    }
    for (const b of batch) await settle(b);
  }
}

/** The host end of a container's veth on a node of this veth prefix (hostIfNameFor's name, 14 characters). */
export function vethName(prefix: string, stateDir: string, id: string): string {
  return hostIfNameFor(stateDir, id, prefix);
}

/** The refusal of a bridge-mode container on a node without container networking. */
export function noNetworkHere(node: string): NagayaError {
  return new NagayaError('INVALID_INPUT', `node ${node} has no container network set up; the container needs network mode bridge`);
}

/** A container's published ports as the tables take them (0.0.0.0, every address, is no hostIp). */
function publishOf(c: Pick<ContainerRow, 'network'>): NonNullable<RulesetContainer['publish']> {
  return (c.network.publish ?? []).map(({ hostIp, ...p }) => (hostIp && hostIp !== '0.0.0.0' ? { ...p, hostIp } : p));
}

function bridgeOf(config: ServerConfig, subnet: NodeSubnet) {
  return { name: subnet.bridge, gatewayCidr: `${subnet.gateway}/${subnet.cidr.split('/')[1]}`, ipForward: config.ipForward };
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
