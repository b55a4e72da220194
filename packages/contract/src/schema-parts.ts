import { z } from 'zod';
import { DNS_LABEL, DNS_LABEL_MESSAGE, IMAGE_NAME, IMAGE_NAME_MESSAGE } from './names';

// The pieces every request schema is built from (names, argv, environment); schemas.ts re-exports
// the public ones.

export const dnsLabel = z.string().regex(DNS_LABEL, DNS_LABEL_MESSAGE);
export const imageName = z.string().regex(IMAGE_NAME, IMAGE_NAME_MESSAGE);
export const nodeName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, 'must be a node name');

/** Postgres text cannot hold NUL: a string that goes into a text column is refused with one (INVALID_INPUT, never a 500). */
export const noNul = (v: string) => !v.includes('\0');

export const envSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, 'environment names are letters, digits and _'),
    z.string().max(32768).refine(noNul, 'no NUL characters'),
  )
  .refine((env) => Object.keys(env).length <= 256, 'at most 256 variables');

export const argv = z.array(z.string().min(1).max(4096).refine(noNul, 'no NUL characters')).min(1).max(256);

export const emptySchema = z.strictObject({});
