/* Per-line timestamps of a console log: see console_index.h. */
#define _GNU_SOURCE
#include "console_index.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

struct index_header {
  char magic[8];
  uint64_t base;
  uint64_t indexed_to;
  int64_t last_ns;
  uint32_t line_bytes;
  uint32_t at_line_start;
  uint64_t reserved;
};
_Static_assert(sizeof(struct index_header) == CONSOLE_INDEX_HEADER_BYTES, "index header layout");

struct index_record {
  uint64_t offset;
  int64_t time_ns;
};
_Static_assert(sizeof(struct index_record) == CONSOLE_INDEX_RECORD_BYTES, "index record layout");

static const char MAGIC[8] = {'N', 'G', 'Y', 'L', 'I', 'D', 'X', '1'};

static void index_path_of(const char *log_path, char *out, size_t size) { snprintf(out, size, "%s.idx", log_path); }

/* Opens the index (made with a fresh header if missing or not ours) and reads its header. */
static int open_index(const char *log_path, struct index_header *h) {
  char path[4200];
  index_path_of(log_path, path, sizeof path);
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
  if (fd < 0) return -1;
  if (pread(fd, h, sizeof *h, 0) == (ssize_t)sizeof *h && memcmp(h->magic, MAGIC, sizeof MAGIC) == 0) return fd;
  memset(h, 0, sizeof *h);
  memcpy(h->magic, MAGIC, sizeof MAGIC);
  h->at_line_start = 1;
  if (ftruncate(fd, 0) < 0 || pwrite(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h) {
    close(fd);
    return -1;
  }
  return fd;
}

static int64_t now_ns(const struct index_header *h) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
  return ns < h->last_ns ? h->last_ns : ns; /* a clock stepped back must not reorder lines */
}

void console_index_update(const char *log_path, int log_fd) {
  struct index_header h;
  cleanup_close int fd = open_index(log_path, &h);
  if (fd < 0) return;
  struct stat st;
  if (fstat(log_fd, &st) < 0) return;
  if (h.indexed_to < h.base) h.indexed_to = h.base;
  uint64_t end = h.base + (uint64_t)st.st_size;
  if (h.indexed_to >= end) return;
  off_t records_end = lseek(fd, 0, SEEK_END);
  if (records_end < (off_t)sizeof h) return;
  int64_t ns = now_ns(&h);
  char buf[65536];
  struct index_record out[512];
  size_t pending = 0;
  while (h.indexed_to < end) {
    size_t want = end - h.indexed_to < sizeof buf ? (size_t)(end - h.indexed_to) : sizeof buf;
    ssize_t got = pread(log_fd, buf, want, (off_t)(h.indexed_to - h.base));
    if (got <= 0) break;
    for (ssize_t i = 0; i < got; i++) {
      if (h.at_line_start || h.line_bytes >= CONSOLE_INDEX_MAX_LINE) {
        out[pending++] = (struct index_record){.offset = h.indexed_to + (uint64_t)i, .time_ns = ns};
        h.at_line_start = 0;
        h.line_bytes = 0;
        if (pending == sizeof out / sizeof out[0]) {
          if (pwrite(fd, out, sizeof out, records_end) != (ssize_t)sizeof out) return;
          records_end += (off_t)sizeof out;
          pending = 0;
        }
      }
      h.line_bytes++;
      if (buf[i] == '\n') h.at_line_start = 1;
    }
    h.indexed_to += (uint64_t)got;
  }
  if (pending > 0 && pwrite(fd, out, pending * sizeof out[0], records_end) != (ssize_t)(pending * sizeof out[0]))
    return;
  h.last_ns = ns;
  /* records first, then the header that covers them: a reader never sees a range without its records */
  ssize_t ignored = pwrite(fd, &h, sizeof h, 0);
  (void)ignored;
}

void console_index_rotated(const char *log_path, off_t dropped, off_t older_bytes) {
  struct index_header h;
  cleanup_close int fd = open_index(log_path, &h);
  if (fd < 0) return;
  h.base += (uint64_t)dropped;
  if (h.indexed_to < h.base) { /* bytes rotated away before anyone saw them: start afresh */
    h.indexed_to = h.base;
    h.at_line_start = 1;
    h.line_bytes = 0;
  }
  /* the new base first, in place, right after the cut: readers place the files right at once
   * (they read the header before and after the files, and read again if base moved) */
  if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) return;
  uint64_t keep_from = h.base - (uint64_t)older_bytes;
  char path[4200], tmp[4210];
  index_path_of(log_path, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  unlink(tmp);
  cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (out < 0) return;
  int ok = pwrite(out, &h, sizeof h, 0) == (ssize_t)sizeof h;
  off_t at = (off_t)sizeof h, written = (off_t)sizeof h;
  struct index_record in[512], kept[513], previous = {0, -1};
  ssize_t got;
  while (ok && (got = pread(fd, in, sizeof in, at)) >= (ssize_t)sizeof in[0]) {
    size_t count = (size_t)got / sizeof in[0], n = 0;
    at += (off_t)(count * sizeof in[0]);
    for (size_t i = 0; i < count; i++) {
      if (in[i].offset < keep_from) {
        previous = in[i];
        continue;
      }
      if (previous.time_ns >= 0) { /* the record that dates the first kept (partial) line */
        kept[n++] = previous;
        previous.time_ns = -1;
      }
      kept[n++] = in[i];
    }
    ok = n == 0 || pwrite(out, kept, n * sizeof kept[0], written) == (ssize_t)(n * sizeof kept[0]);
    written += (off_t)(n * sizeof kept[0]);
  }
  if (ok && previous.time_ns >= 0) ok = pwrite(out, &previous, sizeof previous, written) == (ssize_t)sizeof previous;
  if (ok && rename(tmp, path) == 0) return;
  unlink(tmp);
}
