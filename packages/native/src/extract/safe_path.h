/* Entry paths beneath the extraction root. A path is normalised once (leading '/' and '.'
 * components dropped, '..' refused) and every directory on it is opened with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV, so no symlink,
 * whether in the archive or put there by an earlier entry, is ever followed. */
#ifndef NAGAYA_EXTRACT_SAFE_PATH_H
#define NAGAYA_EXTRACT_SAFE_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "limits.h"

struct entry_path {
  char rel[EXTRACT_MAX_PATH + 1]; /* "a/b/c"; "" is the root itself */
  unsigned depth;
  size_t parent_len; /* rel[0, parent_len) is the parent directory, "" the root */
  const char *leaf;  /* the last component, inside rel; "" for the root */
};

/* Normalises raw into out, refusing '..', names over NAME_MAX, and paths deeper or longer than
 * the limits (INVALID_INPUT, naming entry). */
void path_normalise(const char *raw, const struct extract_limits *limits, struct entry_path *out, const char *entry);

/* Opens the parent directory of p beneath root_fd without following any symlink. With create,
 * missing directories are made (root-owned, 0755, as tar does), each counted against the entry
 * limit; without it a missing one fails (errno ENOENT, return -1) so the caller can word it. A
 * symlink or a non-directory on the way fails as INVALID_INPUT. */
int path_open_parent(int root_fd, const struct entry_path *p, bool create, const struct extract_limits *limits,
                     const char *entry);

/* Opens the directory rel beneath root_fd without following any symlink: the fd, or -1 with
 * errno (ELOOP or ENOTDIR where it is no longer a directory). */
int path_open_dir(int root_fd, const char *rel);

#endif
