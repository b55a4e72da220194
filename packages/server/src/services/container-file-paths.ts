import { NagayaError } from '../errors';

/**
 * Normalises a path a tenant names inside a container: absolute, no NUL, no `..` component
 * (refused, not resolved: what `..` means depends on symlinks only the container's root can
 * resolve), `.` and repeated slashes dropped. Returns "/a/b" ("/" for the root).
 */
export function containerPath(raw: string): string {
  if (!raw.startsWith('/')) throw new NagayaError('INVALID_INPUT', `path must be absolute, not ${JSON.stringify(raw)}`, { field: 'path' });
  if (raw.includes('\0')) throw new NagayaError('INVALID_INPUT', 'path must not contain a NUL byte', { field: 'path' });
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new NagayaError('INVALID_INPUT', `path must not contain "..": ${JSON.stringify(raw)}`, { field: 'path' });
  if (parts.some((p) => Buffer.byteLength(p) > 255))
    throw new NagayaError('INVALID_INPUT', 'a name in path is longer than 255 bytes', { field: 'path' });
  if (Buffer.byteLength(raw) > 4000) throw new NagayaError('INVALID_INPUT', 'path is longer than 4000 bytes', { field: 'path' });
  return `/${parts.join('/')}`;
}

/** The directory and last name of a normalised path that is not "/". */
export function splitContainerPath(path: string): { dir: string; name: string } {
  const at = path.lastIndexOf('/');
  const name = path.slice(at + 1);
  if (name === '') throw new NagayaError('INVALID_INPUT', 'a file cannot be written at "/"', { field: 'path' });
  return { dir: at === 0 ? '/' : path.slice(0, at), name };
}
