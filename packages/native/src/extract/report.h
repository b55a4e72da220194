/* What nagaya-extract prints on stdout: exactly one JSON line, the result or the error. */
#ifndef NAGAYA_EXTRACT_REPORT_H
#define NAGAYA_EXTRACT_REPORT_H

#include <stdint.h>

/* At most this many skipped entries, and this many bytes of their paths, are listed (so the
 * report stays small whatever the names); skippedTotal counts them all. */
#define REPORT_MAX_SKIPPED 1000
#define REPORT_MAX_SKIPPED_BYTES (64 * 1024)

struct extract_totals {
  uint64_t entries; /* archive entries taken (skipped ones included) */
  uint64_t files;   /* regular files written */
  uint64_t directories;
  uint64_t symlinks;
  uint64_t hardlinks;
  uint64_t file_bytes;  /* bytes of regular-file content written */
  uint64_t input_bytes; /* uncompressed archive bytes read */
  uint64_t whiteouts;   /* whiteout devices made (--oci-whiteouts) */
  uint64_t opaque_dirs; /* directories marked opaque (--oci-whiteouts) */
};

/* Remembers an entry that was not extracted (a device or a FIFO) for the result. */
void report_skipped(const char *path, const char *type);

/* Prints the result line. */
void report_result(const struct extract_totals *totals);

/* Prints the error line; entry and syscall_name may be NULL. */
void report_error(const char *code, const char *entry, const char *message, const char *syscall_name, int err);

#endif
