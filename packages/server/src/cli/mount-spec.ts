import type { MountInput } from '@nagaya/contract/schemas';

/**
 * Parses a `--mount` value: `volume:NAME:/path[:ro]` or `host:/dir:/path[:ro][:shift]` (options
 * in any order, each once). Returns undefined for anything else; the API checks the names and paths.
 */
export function parseMount(spec: string): MountInput | undefined {
  const [kind, source, path, ...options] = spec.split(':');
  if (!source || !path?.startsWith('/')) return undefined;
  if (new Set(options).size !== options.length) return undefined;
  const readOnly = options.includes('ro');
  if (kind === 'volume') {
    if (options.some((o) => o !== 'ro')) return undefined;
    return { volume: source, path, ...(readOnly ? { readOnly } : {}) };
  }
  if (kind === 'host') {
    if (!source.startsWith('/') || options.some((o) => o !== 'ro' && o !== 'shift')) return undefined;
    return { hostPath: source, path, ...(readOnly ? { readOnly } : {}), ...(options.includes('shift') ? { shift: true } : {}) };
  }
  return undefined;
}
