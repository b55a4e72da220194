import { ensureNameServer, readNameServerHosts, writeNameServerHosts, type NameServerPaths } from '@nagaya/native';
import type { ServerConfig } from '../config';
import type { Logger } from '../observability/logger';
import type { NetworkStore, NodeSubnet } from '../store/network-store';

/**
 * The zone every container name lives in: `<container>.<project>.nagaya.internal`. A constant, not
 * a setting, so a container's names and search path are the same on every node and after every
 * restart; `.internal` is the top-level domain ICANN reserved for private use (2024), so it never
 * shadows a public name, and `nagaya.` under it keeps clear of other private zones on the host.
 */
export const NAMES_DOMAIN = 'nagaya.internal';

/** A project's zone, its containers' resolv.conf search domain: `ping web` finds web of the same project. */
export function projectDomain(project: string): string {
  return `${project}.${NAMES_DOMAIN}`;
}

/** How long a burst of launches and exits is gathered into one rewrite of the hosts file. */
const COALESCE_MS = 25;

/** The hosts file for these containers: one line each, `<address> <name>.<project>.nagaya.internal`. */
export function namesHostsText(names: Array<{ name: string; project: string; address: string }>): string {
  return names.map((n) => `${n.address} ${n.name}.${projectDomain(n.project)}\n`).join('');
}

/** What a repair of the names found and fixed. */
export interface NamesRepair {
  /** The name server was not running (or ran with other options) and was started. */
  serverStarted: boolean;
  /** The hosts file did not match Postgres and was rewritten. */
  rewritten: boolean;
}

/**
 * The names of a node's containers, served by the node's dnsmasq on the bridge address
 * (see @nagaya/native name-server). The hosts file lists every container with an address on this
 * node, of every project: one dnsmasq serves them all, each project in its own zone.
 *
 * What it does not do:
 * - Per-project answers. dnsmasq has no per-client views, and an nftables rule cannot match a
 *   question's name, so a container that asks for `web.beta.nagaya.internal` (or the PTR of beta's
 *   address) is answered even from project alpha: names and addresses of the node's containers are
 *   visible to every container on the bridge. The walls still drop every packet between projects.
 * - Names on other nodes: each node has its own bridge and subnet and nothing routes between them,
 *   so only this node's containers are listed (a peer on another node could not be reached anyway).
 *
 * Launches do not wait for their name: a change schedules one rewrite for the whole burst within
 * COALESCE_MS, read from Postgres when it is written, so the file is never older than the last
 * lease change plus that. dnsmasq sees the rename by inotify at once.
 */
export class NodeNames {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private pending = false;
  private lastWritten: string | undefined;
  /** How many times the hosts file was written (a burst of launches should make few). */
  writes = 0;

  private constructor(
    private readonly config: ServerConfig,
    private readonly networks: NetworkStore,
    private readonly subnet: NodeSubnet,
    private readonly log: Logger,
    private paths: NameServerPaths,
  ) {}

  /** Starts (or finds running) the node's name server and writes its hosts file from Postgres. */
  static async start(config: ServerConfig, networks: NetworkStore, subnet: NodeSubnet, log: Logger): Promise<NodeNames> {
    const server = await ensureNameServer(nameServerOptions(config, subnet));
    const names = new NodeNames(config, networks, subnet, log, server.paths);
    await names.flush();
    log.info(server.started ? 'name server started' : 'name server kept', { bridge: subnet.bridge, pid: server.pid });
    return names;
  }

  /** Asks for a rewrite soon (a lease was taken or given back); several asks in a burst make one write. */
  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => this.log.warn('could not write the names of the node', { error: err as Error }));
    }, COALESCE_MS);
    this.timer.unref();
  }

  /** Writes the hosts file from Postgres now; resolves once a write that began after this call is done. */
  flush(): Promise<void> {
    this.pending = true;
    this.writing ??= this.drain();
    return this.writing;
  }

  /**
   * The reconciler's pass: starts the name server again when it is gone (or runs with other
   * options), and rewrites the hosts file when it differs from Postgres.
   */
  async repair(): Promise<NamesRepair> {
    const server = await ensureNameServer(nameServerOptions(this.config, this.subnet));
    this.paths = server.paths;
    const wanted = namesHostsText(await this.networks.namesOn(this.config.nodeName));
    const rewritten = readNameServerHosts(this.paths) !== wanted;
    if (rewritten) {
      this.lastWritten = undefined;
      await this.flush();
    }
    return { serverStarted: server.started, rewritten };
  }

  /** Stops a pending rewrite's timer (the worker is closing; the name server keeps running). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        this.pending = false;
        const text = namesHostsText(await this.networks.namesOn(this.config.nodeName));
        if (text === this.lastWritten) continue;
        await writeNameServerHosts(this.paths, text);
        this.lastWritten = text;
        this.writes++;
      }
    } finally {
      // in the same turn as the last check of `pending`: a flush after it starts a new drain
      this.writing = undefined;
    }
  }
}

function nameServerOptions(config: ServerConfig, subnet: NodeSubnet) {
  return { bridge: subnet.bridge, gateway: subnet.gateway, domain: NAMES_DOMAIN, upstream: config.dnsUpstream };
}
