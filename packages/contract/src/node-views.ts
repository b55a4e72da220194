import type { ContainerState } from './container-views';

// What /nodes and /networks return: the nodes, their evacuation and removal, and their subnets.

/** What a node is: taking containers, draining (no new ones), offline, or removed by an admin. */
export const NODE_STATUSES = ['active', 'draining', 'offline', 'removed'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** One entry of GET /nodes. */
export interface NodeView {
  name: string;
  heartbeatAt: string;
  startedAt: string;
  version: string;
  info: Record<string, unknown>;
  online: boolean;
  /** active, draining, offline or removed; a silent node (heartbeat too old) is offline. */
  status: NodeStatus;
  /** When it stopped taking new containers (draining), or null. */
  drainingAt: string | null;
  heartbeatAgeMs: number;
  containers: number;
}

/** POST /nodes/{name}/evacuate. */
export interface EvacuationView {
  node: string;
  status: NodeStatus;
  /** Pending and stopped containers placed on another node. */
  moved: Array<{ project: string; name: string; to: string }>;
  /** Containers that still run there (they are not moved). */
  running: Array<{ project: string; name: string; state: ContainerState }>;
}

/** POST /nodes/{name}/remove. */
export interface NodeRemovalView {
  node: string;
  status: NodeStatus;
  /** Containers recorded as lost, their slices fenced (unless released). */
  lost: Array<{ project: string; name: string }>;
  /** Owners (container ids) whose fenced slices were given back. */
  released: string[];
  moved: Array<{ project: string; name: string; to: string }>;
  /** Runs the node was running: queued again for a fresh attempt elsewhere (a retry left), or failed (NODE_LOST). */
  runs: Array<{ project: string; id: string; state: 'queued' | 'failed' }>;
}

/** One entry of GET /networks: a node's subnet and how much of it is used. */
export interface NetworkView {
  node: string;
  /** The node's subnet, carved from the fleet's network (NAGAYA_NETWORK_CIDR). */
  cidr: string;
  gateway: string;
  bridge: string;
  addresses: { total: number; leased: number; free: number };
  /** Host ports reserved on the node by published ports. */
  hostPorts: number;
  createdAt: string;
}
