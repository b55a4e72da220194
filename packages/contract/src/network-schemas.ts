import { z } from 'zod';
import { isIpv4, MAX_PUBLISH, NETWORK_MODES, PUBLISH_PROTOCOLS, publishesOverlap } from './network';

// The network of a container create or a run: its mode and published ports.

const port = z.number().int().min(1).max(65535);

export const publishSchema = z
  .strictObject({
    hostPort: port,
    containerPort: port,
    protocol: z.enum(PUBLISH_PROTOCOLS),
    hostIp: z
      .string()
      .refine(isIpv4, 'must be an IPv4 address (dotted quad)')
      .optional()
      .meta({ description: "The node's address to listen on; default (and 0.0.0.0): every address of the node." }),
  })
  .meta({ description: 'Forwards hostIp:hostPort of the node to containerPort of the container.' });

export const networkSchema = z
  .strictObject({
    mode: z.enum(NETWORK_MODES).meta({
      description: "bridge: an interface on the node's bridge with an address leased from the node's subnet; none: loopback only.",
    }),
    publish: z
      .array(publishSchema)
      .max(MAX_PUBLISH)
      .optional()
      .meta({ description: `At most ${MAX_PUBLISH}; a host port taken on the node (by any container) is 409 CONFLICT at create.` }),
  })
  .superRefine((network, ctx) => {
    const publish = network.publish ?? [];
    if (network.mode !== 'bridge' && publish.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['publish'], message: 'ports can be published in bridge mode only' });
    }
    publish.forEach((p, i) => {
      const j = publish.findIndex((q) => publishesOverlap(p, q));
      if (j < i) ctx.addIssue({ code: 'custom', path: ['publish', i], message: `publishes the same host port as publish[${j}]` });
    });
  })
  .meta({ description: "Default: the fleet's NAGAYA_DEFAULT_NETWORK_MODE, bridge unless the admin set none." });
