/* What an archive may cost: every limit counts what is actually read or written, never what a
 * header claims, so a gzip bomb or a million empty entries stops at the limit. */
#ifndef NAGAYA_EXTRACT_LIMITS_H
#define NAGAYA_EXTRACT_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* The kernel's PATH_MAX less the NUL: no longer path can be opened anyway. */
#define EXTRACT_MAX_PATH 4095
/* The kernel's NAME_MAX. */
#define EXTRACT_MAX_NAME 255
/* A PAX extended header is a few records of metadata; more is an attempt to make us buffer. */
#define EXTRACT_MAX_PAX_HEADER (1024 * 1024)
/* Directory modes wait in memory until the end (dir_modes.h): their paths may take this much, a
 * hundred times what a large real rootfs needs, so a million deep directories cannot exhaust
 * the host's memory. */
#define EXTRACT_MAX_DIR_RECORD_BYTES (64 * 1024 * 1024)

struct extract_limits {
  uint64_t max_input_bytes; /* uncompressed archive bytes (headers, padding and trailer included) */
  uint64_t max_entries;     /* archive entries, skipped ones included, and directories their paths imply */
  unsigned max_depth;       /* path components of one entry */
  size_t max_path;          /* bytes of one normalised entry path (limits_set_root) */
};

/* Reads the limits from the command line (--max-bytes N --max-entries N --max-depth N), starting
 * at argv[first]; a missing or malformed one is a usage failure. */
void limits_from_args(struct extract_limits *limits, int argc, char **argv, int first);

/* Takes the root's own path off EXTRACT_MAX_PATH for max_path: every path in the image must also
 * be reachable from the host by its absolute path, or the caller's rm of a refused image, and any
 * du or backup, would fail with ENAMETOOLONG and leave it behind. */
void limits_set_root(struct extract_limits *limits, const char *root);

/* Counts one archive entry, or one directory an entry's path implies (each may cost the host an
 * inode: a header of 128 components must not make 128 directories for the price of one entry);
 * fails with PAYLOAD_TOO_LARGE past max_entries. */
void limits_count_entry(const struct extract_limits *limits);

#endif
