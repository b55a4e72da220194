import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

/** Where Debian's busybox-static installs its binary. */
export const DEFAULT_BUSYBOX = '/bin/busybox';
const MARKER = '.nagaya-image';

function marker(busybox: string): string {
  const st = statSync(busybox);
  return JSON.stringify({ image: 'busybox', source: busybox, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) });
}

/**
 * Builds a busybox image directory (the layout the launcher accepts: owned by 0:0, /bin/busybox
 * plus one symlink per applet, /etc/passwd and group, empty /proc /sys /dev /tmp) from Debian's
 * busybox-static. Does nothing when dir already holds an image of the same binary. The image is
 * built next to dir and renamed into place, so concurrent builders never see half an image.
 */
export function buildBusyboxImage(dir: string, busybox: string = DEFAULT_BUSYBOX): string {
  if (!existsSync(busybox)) {
    throw new Error(`${busybox} not found: install Debian's busybox-static (scripts/ensure-services.sh does)`);
  }
  const wanted = marker(busybox);
  const markerPath = join(dir, MARKER);
  if (existsSync(markerPath) && readFileSync(markerPath, 'utf8') === wanted) return dir;

  // Working copies and retired images are dot-names beside dir: no image name starts with a dot,
  // so an image store listing that directory never takes them for images.
  const sibling = (what: string) => join(dirname(dir), `.${basename(dir)}.${what}-${process.pid}-${Date.now()}`);
  const staging = sibling('building');
  // An image store is root-only (setuid files inside): a missing store is made 0700, beneath a
  // data directory that containers' own uids can still pass through (0711).
  mkdirSync(dirname(dirname(dir)), { recursive: true, mode: 0o711 });
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  rmSync(staging, { recursive: true, force: true });
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'proc', 'sys', 'dev', 'tmp', 'run', 'var/tmp', 'home']) {
    mkdirSync(join(staging, d), { recursive: true, mode: 0o755 });
  }
  chmodSync(join(staging, 'tmp'), 0o1777);
  chmodSync(join(staging, 'root'), 0o700);
  copyFileSync(busybox, join(staging, 'bin/busybox'));
  chmodSync(join(staging, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) {
    const target = join(staging, applet);
    if (applet === 'bin/busybox' || existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(relative(dirname(target), join(staging, 'bin/busybox')), target);
  }
  writeFileSync(join(staging, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(staging, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(staging, 'etc/hostname'), 'busybox\n');
  writeFileSync(join(staging, MARKER), wanted);

  // Put the image in place with rename(2) only, never by removing what is there: containers
  // launched from an image in place use its files (their overlay's lower layer is that very
  // tree), and processes that start together (API and worker) build at the same moment: the
  // one that loses the race discards its own copy.
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(staging, dir);
      return dir;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 5) {
        rmSync(staging, { recursive: true, force: true });
        throw err;
      }
    }
    if (existsSync(markerPath) && readFileSync(markerPath, 'utf8') === wanted) {
      rmSync(staging, { recursive: true, force: true }); // another builder won with the same binary
      return dir;
    }
    // An image of another busybox binary (upgraded since): move it aside, and keep it, since
    // running containers may still use it; then try again.
    // (Two builders of a new binary can, in a window of microseconds, move each other's fresh
    // image aside; the tree stays on disk, so nothing that uses it breaks, and dir is missing
    // only between the two renames: a launch there fails and is retried by its job.)
    try {
      renameSync(dir, sibling('replaced'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // ENOENT: someone else moved it first
        rmSync(staging, { recursive: true, force: true });
        throw err;
      }
    }
  }
}
