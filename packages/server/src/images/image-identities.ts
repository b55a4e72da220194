import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGroup, parsePasswd } from './image-config';

/** Larger than any real /etc/passwd; a bigger one is not read (names then do not resolve). */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * The user and group names of an image, from the /etc/passwd and /etc/group its stacked layers
 * show (topmost first), for a launch's User by name. Read at import from the layer directories
 * without following any link: a layer whose etc is a symlink, or whose file is not a regular
 * one, hides the file (names stay unresolved rather than read from somewhere the tenant chose).
 * A whiteout of etc hides what lies below, as overlay does; an opaque etc without the file does
 * not (Node reads no xattrs), so a lower layer's file may name users: IDs of the container's own
 * range either way, a wrong name at worst, never a host ID.
 */
export async function readIdentities(
  layersTopFirst: string[],
): Promise<{ passwd: Record<string, [number, number]>; groups: Record<string, number> }> {
  const [passwd, group] = await Promise.all([fileOfStack(layersTopFirst, 'passwd'), fileOfStack(layersTopFirst, 'group')]);
  return { passwd: passwd ? parsePasswd(passwd) : {}, groups: group ? parseGroup(group) : {} };
}

async function fileOfStack(layersTopFirst: string[], name: string): Promise<string | undefined> {
  for (const layer of layersTopFirst) {
    const etc = await lstat(join(layer, 'etc')).catch(() => undefined);
    if (!etc) continue;
    if (!etc.isDirectory()) return undefined; // a symlink, a whiteout or a file: etc ends here
    const file = await lstat(join(layer, 'etc', name)).catch(() => undefined);
    if (file) {
      if (!file.isFile() || file.size > MAX_FILE_BYTES) return undefined;
      return readFile(join(layer, 'etc', name), 'utf8');
    }
  }
  return undefined;
}
