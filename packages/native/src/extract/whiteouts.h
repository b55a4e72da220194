/* OCI layer whiteouts (nagaya-extract --oci-whiteouts). A layer is unpacked into a directory of
 * its own and stacked as an overlay lower, so its whiteouts become overlay's own: `.wh.NAME` a
 * char device 0:0 named NAME (owner 0:0), `.wh..wh..opq` the xattrs trusted.overlay.opaque=y and
 * user.overlay.opaque=y on its directory (trusted for a mount by root, user for one with
 * userxattr). Both hide only what lower layers hold, never the layer's own entries, whatever
 * order the tar lists them in: markers are recorded as they come and applied at the end, where a
 * name the layer itself wrote is left alone. No `.wh.` name is ever written. */
#ifndef NAGAYA_EXTRACT_WHITEOUTS_H
#define NAGAYA_EXTRACT_WHITEOUTS_H

#include <stdbool.h>
#include <stdint.h>

#include "limits.h"
#include "safe_path.h"

/* Takes the entry at p if it is a whiteout marker (true: the caller writes nothing for it).
 * Its directory is made like any entry's parent, beneath the root and through no symlink; a
 * `.wh.` directory on the path, or a whiteout of "", "." or "..", is INVALID_INPUT. Other aufs
 * metadata (`.wh..wh.*`) is dropped. */
bool whiteout_take(int root_fd, const struct extract_limits *limits, const struct entry_path *p, const char *entry);

/* Makes the recorded whiteouts and opaque marks, skipping any whose name or directory the layer
 * itself replaced; run before dir_modes_apply (a new device node changes its directory's mtime).
 * Counts what it made. */
void whiteouts_apply(int root_fd, uint64_t *whiteouts, uint64_t *opaque_dirs);

#endif
