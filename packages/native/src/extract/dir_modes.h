/* Directory modes and times, applied after the last entry: a 0555 directory then does not stop
 * later entries, and creating those entries does not undo the directory's mtime. Each directory
 * is opened again beneath the root without following symlinks, and changed through its fd. */
#ifndef NAGAYA_EXTRACT_DIR_MODES_H
#define NAGAYA_EXTRACT_DIR_MODES_H

#include <stdbool.h>
#include <stdint.h>

/* Remembers rel's mode and (when has_mtime) mtime; a later record of the same path wins. */
void dir_modes_record(const char *rel, unsigned mode, bool has_mtime, int64_t mtime_sec, long mtime_nsec);

/* Applies every record; a path that is no longer a directory (a later entry replaced it) is left. */
void dir_modes_apply(int root_fd);

#endif
