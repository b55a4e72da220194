import { z } from 'zod';
import { nodeName } from './schema-parts';

// Requests of /nodes.

export const nodeParams = { name: nodeName };

export const removeNodeSchema = z.strictObject({
  dead: z.literal(true).meta({
    description: 'The node is gone: its running containers are recorded as lost and their slices fenced. Required.',
  }),
  releaseSlices: z
    .boolean()
    .optional()
    .meta({ description: "Also give back the fenced slices: only once the host is surely off (its containers' processes are gone)." }),
});
export type RemoveNodeInput = z.infer<typeof removeNodeSchema>;
