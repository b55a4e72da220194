#define _GNU_SOURCE
#include "dir_modes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "limits.h"
#include "safe_path.h"

struct dir_mode {
  char *rel;
  unsigned mode;
  bool has_mtime;
  struct timespec mtime;
};

static struct dir_mode *records;
static size_t count, capacity, path_bytes;

void dir_modes_record(const char *rel, unsigned mode, bool has_mtime, int64_t mtime_sec, long mtime_nsec) {
  path_bytes += strlen(rel) + 1 + sizeof *records;
  if (path_bytes > EXTRACT_MAX_DIR_RECORD_BYTES) {
    fail(FAIL_PAYLOAD_TOO_LARGE, rel, "the archive's directories take more than %d bytes to record",
         EXTRACT_MAX_DIR_RECORD_BYTES);
  }
  if (count == capacity) {
    capacity = capacity ? capacity * 2 : 256;
    records = realloc(records, capacity * sizeof *records);
    if (!records) fail(FAIL_INTERNAL, rel, "out of memory");
  }
  char *copy = strdup(rel);
  if (!copy) fail(FAIL_INTERNAL, rel, "out of memory");
  records[count++] = (struct dir_mode){copy, mode, has_mtime, {mtime_sec, mtime_nsec}};
}

void dir_modes_apply(int root_fd) {
  /* In order, so the last record of a path is the one that stays. */
  for (size_t i = 0; i < count; i++) {
    const struct dir_mode *d = &records[i];
    int fd = path_open_dir(root_fd, d->rel);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) continue; /* replaced by a later entry */
      fail_errno(d->rel, "openat2", errno);
    }
    if (fchmod(fd, d->mode) < 0) fail_errno(d->rel, "fchmod", errno);
    if (d->has_mtime) {
      struct timespec times[2] = {d->mtime, d->mtime};
      if (futimens(fd, times) < 0) fail_errno(d->rel, "futimens", errno);
    }
    close(fd);
  }
}
