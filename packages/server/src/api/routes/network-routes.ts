import type { NetworkView } from '@nagaya/contract';
import { operation, type Operation, type Sendable } from '../operation';

/** /networks: each node's container subnet and how much of it is used. */
export const networkOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/networks',
    summary: "Each node's container subnet (carved from NAGAYA_NETWORK_CIDR), its leased addresses and reserved host ports",
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    handle: async ({ deps }) => ({ networks: (await deps.networks.list()) satisfies Array<Sendable<NetworkView>> }),
  }),
];
