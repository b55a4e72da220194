import type { CreateContainerInput } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import type { ContainerNetwork } from '../store/container-store';
import type { NetworkStore } from '../store/network-store';
import type { NodeStore } from '../store/node-store';
import { capacityOf, limitsBeyond } from './node-capacity';
import { NetworkedNodes } from './networked-nodes';
import { NodePlacement } from './node-placement';

/**
 * Chooses the node of a new container: NodePlacement's choice among active nodes, narrowed to the
 * nodes that can enforce its limits and, in bridge mode, have a container network.
 */
export class ContainerPlacement {
  private readonly nodes: NodePlacement;
  private readonly networked: NetworkedNodes;

  constructor(nodes: NodeStore, nodeOfflineMs: number, networks: NetworkStore) {
    this.nodes = new NodePlacement(nodes, nodeOfflineMs);
    this.networked = new NetworkedNodes(networks);
  }

  /**
   * The node for a new container: one that can enforce its limits and, in bridge mode, has a
   * container network (its worker set one up: it has a subnet). A refusal for want of a network
   * is made only on a fresh read of the networked nodes.
   */
  async choose(input: CreateContainerInput, network: ContainerNetwork, holding: ReadonlySet<string>): Promise<string> {
    try {
      return await this.chooseOnce(input, network, holding);
    } catch (err) {
      throw input.network ? err : defaultNetworkRefused(err);
    }
  }

  private async chooseOnce(input: CreateContainerInput, network: ContainerNetwork, holding: ReadonlySet<string>): Promise<string> {
    const choose = (networked: Set<string> | undefined) =>
      this.nodes.choose(
        input.node,
        (n) => {
          if (networked && !networked.has(n.name)) {
            return {
              field: 'network.mode',
              message: `node ${n.name} has no container network (its worker has not set up bridge networking)`,
            };
          }
          const capacity = capacityOf(n);
          return capacity ? limitsBeyond(input.limits, capacity)[0] : undefined;
        },
        holding,
      );
    if (network.mode !== 'bridge') return choose(undefined);
    const askedAt = performance.now();
    try {
      return await choose(await this.networked.get());
    } catch (err) {
      const forNetwork = err instanceof NagayaError && (err.details as { field?: string } | undefined)?.field === 'network.mode';
      if (!forNetwork || this.networked.readSince(askedAt)) throw err;
      return choose(await this.networked.get(true));
    }
  }

  /** Counts a container placed on `node` until the next read of the nodes. */
  placed(node: string): void {
    this.nodes.placed(node);
  }

  /** Forgets the nodes read so far: the next choice reads them afresh (one began to drain meanwhile). */
  invalidate(): void {
    this.nodes.invalidate();
  }
}

/**
 * A refusal for want of a network when the request named no mode: say that bridge was the
 * fleet's default, so the user knows the way out (ask for none, or set up the nodes' network).
 */
function defaultNetworkRefused(err: unknown): unknown {
  const forNetwork = err instanceof NagayaError && (err.details as { field?: string } | undefined)?.field === 'network.mode';
  if (!forNetwork) return err;
  return new NagayaError(
    err.code,
    `${err.message}; bridge is this fleet's default network mode (NAGAYA_DEFAULT_NETWORK_MODE): ask for network {"mode": "none"} to run without one`,
    err.details,
  );
}
