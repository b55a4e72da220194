// How images are written for people, the same in the CLI and the dashboard (zod-free).

/** Archive extensions a file's name may end with, innermost last. */
const ARCHIVE_EXTENSION = /\.(tar|tgz|gz|tzst|zst|zstd|oci|docker)$/i;

/** A file's name without its directories and archive extensions ("alpine-3.tar.gz" → "alpine-3"): the image name an upload suggests. */
export function archiveBaseName(path: string): string {
  let base = path.replace(/^.*[\\/]/, '');
  while (ARCHIVE_EXTENSION.test(base)) base = base.replace(ARCHIVE_EXTENSION, '');
  return base;
}

/** The hex part of a digest, cut to `length` (12, as Docker prints image ids). */
export function shortDigest(digest: string, length = 12): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, length);
}
