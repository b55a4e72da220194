/* Reading tar headers: ustar (with its 155-byte prefix), GNU ('L'/'K' long names, base-256
 * numbers) and PAX ('x' records for path, linkpath, size, uid, gid and mtime; 'g' is read and
 * ignored). Each call returns the next real entry with every extension applied. */
#ifndef NAGAYA_EXTRACT_TAR_HEADER_H
#define NAGAYA_EXTRACT_TAR_HEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "input.h"
#include "limits.h"

#define TAR_BLOCK 512

enum entry_kind {
  ENTRY_FILE,
  ENTRY_HARDLINK,
  ENTRY_SYMLINK,
  ENTRY_CHAR_DEVICE,
  ENTRY_BLOCK_DEVICE,
  ENTRY_DIRECTORY,
  ENTRY_FIFO
};

struct tar_entry {
  enum entry_kind kind;
  char path[EXTRACT_MAX_PATH + 1];     /* as the archive spells it: not yet normalised */
  char linkpath[EXTRACT_MAX_PATH + 1]; /* symlink target or hard link source */
  uint64_t size;                       /* data bytes after the header (0 for every kind but files) */
  uint64_t data_left;                  /* of size, not yet read */
  uint64_t uid, gid;
  unsigned mode; /* permission bits and setuid/setgid/sticky only */
  int64_t mtime_sec;
  long mtime_nsec;
};

/* Reads up to the next entry; returns false at the end of the archive (a zero block, or the end
 * of input at a block boundary). Malformed headers fail as INVALID_INPUT. */
bool tar_next(struct input *in, struct tar_entry *e);

/* Skips what is left of the entry's data and its padding to the next block. */
void tar_skip_rest(struct input *in, struct tar_entry *e);

#endif
