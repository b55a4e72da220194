import { AllocatorError } from './errors';
import { ID_LIMIT, mergeRanges, type IdRange } from './id-range';
import { DEFAULT_SLICE_SIZE } from './pool-slots';
import type { PoolSpec } from './types';

const DEFAULT_QUARANTINE_SECONDS = 60;
/** What a pool name must look like. */
export const POOL_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A pool spec with every default filled in and every range checked and merged. */
export type ValidPoolSpec = Required<Omit<PoolSpec, 'rawAllowed'>> & { rawAllowed: { uid: IdRange[]; gid: IdRange[] } };

/** Checks ranges from untrusted input and returns them merged. */
export function validateRanges(ranges: unknown, what: string, allowEmpty = false): IdRange[] {
  if (!Array.isArray(ranges) || (!allowEmpty && ranges.length === 0)) {
    throw new AllocatorError('INVALID_INPUT', `${what} must be a ${allowEmpty ? '' : 'non-empty '}array of {start, end}`);
  }
  for (const r of ranges as Array<Partial<IdRange>>) {
    const ok = typeof r === 'object' && r !== null && Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end);
    if (!ok) throw new AllocatorError('INVALID_INPUT', `${what}: every range needs integer start and end`);
    const { start, end } = r as IdRange;
    if (start < 1) throw new AllocatorError('INVALID_INPUT', `${what}: a range may not include host ID 0`, { range: r });
    if (end <= start) throw new AllocatorError('INVALID_INPUT', `${what}: a range must end after it starts`, { range: r });
    if (end > ID_LIMIT) throw new AllocatorError('INVALID_INPUT', `${what}: a range passes ${ID_LIMIT} (2^32 - 1)`, { range: r });
  }
  return mergeRanges(ranges as IdRange[]);
}

/** Checks a pool spec from untrusted input and fills in its defaults. */
export function validatePoolSpec(spec: PoolSpec): ValidPoolSpec {
  if (typeof spec?.name !== 'string' || !POOL_NAME.test(spec.name)) {
    throw new AllocatorError('INVALID_INPUT', 'pool name must be a DNS label (a-z, 0-9, -, at most 63)');
  }
  const sliceSize = spec.sliceSize ?? DEFAULT_SLICE_SIZE;
  if (!Number.isSafeInteger(sliceSize) || sliceSize < DEFAULT_SLICE_SIZE || sliceSize % DEFAULT_SLICE_SIZE !== 0) {
    throw new AllocatorError('INVALID_INPUT', `sliceSize must be a positive multiple of ${DEFAULT_SLICE_SIZE}`);
  }
  const quarantineSeconds = spec.quarantineSeconds ?? DEFAULT_QUARANTINE_SECONDS;
  if (!Number.isSafeInteger(quarantineSeconds) || quarantineSeconds < 0 || quarantineSeconds > 365 * 86400) {
    throw new AllocatorError('INVALID_INPUT', 'quarantineSeconds must be an integer from 0 to one year');
  }
  return {
    name: spec.name,
    uidRanges: validateRanges(spec.uidRanges, 'uidRanges'),
    gidRanges: validateRanges(spec.gidRanges, 'gidRanges'),
    sliceSize,
    quarantineSeconds,
    rawAllowed: {
      uid: validateRanges(spec.rawAllowed?.uid ?? [], 'rawAllowed.uid', true),
      gid: validateRanges(spec.rawAllowed?.gid ?? [], 'rawAllowed.gid', true),
    },
    source: spec.source ?? 'explicit',
  };
}
