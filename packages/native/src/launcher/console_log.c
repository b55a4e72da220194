/* Capping each container's console log: see console_log.h. */
#define _GNU_SOURCE
#include "console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "console_index.h"

int64_t console_log_max_bytes = 10 * 1024 * 1024;
static int inotify_fd = -1;

int console_logs_init(void) {
  inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return inotify_fd;
}

int console_log_watch(const char *path) {
  if (inotify_fd < 0) return -1;
  int wd = inotify_add_watch(inotify_fd, path, IN_MODIFY);
  if (wd >= 0) console_log_rotate_if_full(path); /* it may have grown while nobody watched */
  return wd;
}

void console_log_unwatch(int wd) {
  if (inotify_fd >= 0 && wd >= 0) inotify_rm_watch(inotify_fd, wd);
}

void console_logs_drain(void (*rotate)(int wd, void *arg), void *arg) {
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  ssize_t n;
  while ((n = read(inotify_fd, buf, sizeof buf)) > 0) {
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *e = (const struct inotify_event *)p;
      if (e->mask & IN_MODIFY) rotate(e->wd, arg);
      p += sizeof *e + e->len;
    }
  }
}

/* Writes the newest console_log_max_bytes of [0, end) of the log to <path>.1, atomically. */
static int save_older_part(const char *path, int fd, off_t end) {
  char older[4200], tmp[4210];
  snprintf(older, sizeof older, "%s.1", path);
  snprintf(tmp, sizeof tmp, "%s.1.tmp", path);
  unlink(tmp); /* a leftover would keep its mode */
  int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (out < 0) return -1;
  off_t from = end > console_log_max_bytes ? end - console_log_max_bytes : 0;
  char buf[65536];
  int rc = 0;
  while (from < end && rc == 0) {
    size_t want = (size_t)(end - from) < sizeof buf ? (size_t)(end - from) : sizeof buf;
    ssize_t got = pread(fd, buf, want, from);
    if (got <= 0 || write(out, buf, (size_t)got) != got) rc = -1;
    else from += got;
  }
  close(out);
  if (rc == 0 && rename(tmp, older) == 0) return 0;
  unlink(tmp);
  return -1;
}

void console_log_rotate_if_full(const char *path) {
  cleanup_close int fd = open(path, O_RDWR | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) return;
  console_index_update(path, fd); /* every look at the log dates its new lines */
  if (st.st_size <= console_log_max_bytes) return;
  /* Collapse whole blocks, and never up to the end (the kernel refuses that): console.log keeps
   * the newest 1 to st_blksize bytes. */
  off_t block = st.st_blksize > 0 ? st.st_blksize : 4096;
  off_t cut = (st.st_size - 1) / block * block;
  if (cut > 0 && save_older_part(path, fd, cut) == 0 && fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, cut) == 0) {
    console_index_rotated(path, cut, cut < console_log_max_bytes ? cut : console_log_max_bytes);
    return;
  }
  if (fstat(fd, &st) == 0 && save_older_part(path, fd, st.st_size) == 0) {
    console_index_update(path, fd); /* what came since the look above, before it is cut away */
    int ignored = ftruncate(fd, 0);
    (void)ignored;
    console_index_rotated(path, st.st_size, st.st_size < console_log_max_bytes ? st.st_size : console_log_max_bytes);
  }
}
