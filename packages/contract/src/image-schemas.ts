import { z } from 'zod';
import { imageName } from './schema-parts';

// Requests of /images: import and pull.

export const imageImportQuery = z.strictObject({
  name: imageName,
});

export const pullImageSchema = z.strictObject({
  reference: z
    .string()
    .min(1)
    .max(512)
    .meta({ description: 'What to pull: [registry/]repository[:tag][@sha256:digest], as Docker writes it (docker.io when no registry).' }),
  name: imageName.optional().meta({ description: "The image's name here; default the repository's last part and the tag (alpine:3)." }),
  auth: z
    .strictObject({ username: z.string().min(1).max(256), password: z.string().min(1).max(4096) })
    .optional()
    .meta({ description: "The registry's credentials, used for this pull only (never stored)." }),
});
export type PullImageInput = z.infer<typeof pullImageSchema>;

export const imageParams = { name: imageName };
