#define _GNU_SOURCE
#include "partial_file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"

/* The file being written now: its directory (a dup, so the caller may close its own) and name.
 * Read by a signal handler, so both are set before `pending` and cleared after it. */
static int pending_dir = -1;
static char pending_name[64];
static volatile sig_atomic_t pending;

static void discard(void) {
  if (!pending) return;
  pending = 0;
  unlinkat(pending_dir, pending_name, 0); /* async-signal-safe */
}

static void on_signal(int sig) {
  discard();
  _exit(128 + sig);
}

void partial_file_init(void) {
  atexit(discard);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

int partial_file_create(int dir_fd, const char *entry) {
  static unsigned counter;
  if (pending_dir >= 0) close(pending_dir);
  pending_dir = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (pending_dir < 0) fail_errno(entry, "fcntl", errno);
  for (;;) {
    snprintf(pending_name, sizeof pending_name, ".nagaya-partial-%d-%u", (int)getpid(), counter++);
    int fd = openat(pending_dir, pending_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      pending = 1;
      return fd;
    }
    if (errno != EEXIST) fail_errno(entry, "openat", errno); /* EEXIST: one a killed extractor left */
  }
}

void partial_file_commit(int dir_fd, const char *name, const char *entry) {
  struct stat st;
  /* rename cannot replace a directory with a file: an empty one goes, a full one is refused */
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
      unlinkat(dir_fd, name, AT_REMOVEDIR) < 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) fail(FAIL_INVALID_INPUT, entry, "would replace a non-empty directory");
    fail_errno(entry, "unlinkat", errno);
  }
  if (renameat(pending_dir, pending_name, dir_fd, name) < 0) fail_errno(entry, "renameat", errno);
  pending = 0;
}
