#define _GNU_SOURCE
#include "container_root.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <unistd.h>

#include "fail.h"

void container_enter(pid_t pid) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) fail_errno(NULL, "pidfd_open", errno);
  /* Both at once: the kernel joins the user namespace first, so the mount namespace is entered
   * with the container root's capabilities and no more. setns resets root and cwd to that
   * namespace's root (the container's pivoted root). */
  if (setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0) fail_errno(NULL, "setns", errno);
  close(pidfd);
  /* Become the container's root: host root is not mapped there, and files it made would fail
   * (EOVERFLOW). setgroups may be denied in the namespace; the supplementary groups then stay
   * unmapped, which grants nothing there. */
  if (setresgid(0, 0, 0) < 0) fail_errno(NULL, "setresgid", errno);
  if (setgroups(0, NULL) < 0 && errno != EPERM) fail_errno(NULL, "setgroups", errno);
  if (setresuid(0, 0, 0) < 0) fail_errno(NULL, "setresuid", errno);
  if (chdir("/") < 0) fail_errno(NULL, "chdir", errno);
}

int container_open(const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return -1;
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  int saved = errno;
  close(root);
  errno = saved;
  return fd;
}

static void write_all(const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(1); /* the reader left: nothing to report to */
    buf += w;
    n -= (size_t)w;
  }
}

void container_read_file(const char *path, unsigned long long max_bytes) {
  /* O_PATH first: opening a FIFO or a device for reading can block or act on the device. */
  int probe = container_open(path, O_PATH);
  if (probe < 0) fail_errno(path, "openat2", errno);
  struct stat st;
  if (fstat(probe, &st) < 0) fail_errno(path, "fstat", errno);
  if (S_ISDIR(st.st_mode)) fail(FAIL_INVALID_INPUT, path, "is a directory");
  if (!S_ISREG(st.st_mode)) fail(FAIL_INVALID_INPUT, path, "is not a regular file (a device, FIFO or socket)");
  int fd = container_open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) fail_errno(path, "openat2", errno);
  struct stat again;
  if (fstat(fd, &again) < 0) fail_errno(path, "fstat", errno);
  if (again.st_dev != st.st_dev || again.st_ino != st.st_ino || !S_ISREG(again.st_mode)) {
    fail(FAIL_INVALID_INPUT, path, "changed while it was opened");
  }
  if ((unsigned long long)again.st_size > max_bytes) {
    fail(FAIL_PAYLOAD_TOO_LARGE, path, "the file has %" PRId64 " bytes, more than the limit of %llu",
         (int64_t)again.st_size, max_bytes);
  }
  char head[256];
  int n = snprintf(head, sizeof head, "{\"type\":\"file\",\"size\":%" PRId64 ",\"mode\":%u,\"uid\":%u,\"gid\":%u}\n",
                   (int64_t)again.st_size, (unsigned)(again.st_mode & 07777), (unsigned)again.st_uid,
                   (unsigned)again.st_gid);
  write_all(head, (size_t)n);
  static char buf[1 << 16];
  unsigned long long sent = 0;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) exit(1);
    if (r == 0) break;
    /* A file that grows while read is cut at the size announced. */
    size_t take = (size_t)r;
    if (sent + take > (unsigned long long)again.st_size) take = (size_t)((unsigned long long)again.st_size - sent);
    write_all(buf, take);
    sent += take;
    if (sent == (unsigned long long)again.st_size) break;
  }
  if (sent < (unsigned long long)again.st_size) exit(1); /* shrank while read: the reader sees it short */
  exit(0);
}
