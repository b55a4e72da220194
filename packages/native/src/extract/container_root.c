#define _GNU_SOURCE
#include "container_root.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <sched.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
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

/* A directory's tree as a tar on stdout: entries are found by fd (openat O_NOFOLLOW, fstatat
 * AT_SYMLINK_NOFOLLOW), so a symlink is sent as a symlink and never followed; another mount
 * (the container's /proc, a volume) is not entered; devices, FIFOs and sockets are left out. */
static unsigned long long tree_sent, tree_limit;
static dev_t tree_dev;

static void tree_out(const void *buf, size_t n) {
  tree_sent += n;
  if (tree_sent > tree_limit)
    fail(FAIL_PAYLOAD_TOO_LARGE, NULL, "the directory's tar is larger than the limit of %llu bytes", tree_limit);
  write_all(buf, n);
}

static void tree_pad(unsigned long long size) {
  static const char zeros[512];
  if (size % 512) tree_out(zeros, 512 - size % 512);
}

static void tar_header(const char *name, char type, unsigned mode, unsigned uid, unsigned gid, unsigned long long size,
                       long long mtime, const char *linkname) {
  char h[512];
  memset(h, 0, sizeof h);
  snprintf(h, 100, "%s", name);
  snprintf(h + 100, 8, "%07o", mode & 07777);
  snprintf(h + 108, 8, "%07o", uid);
  snprintf(h + 116, 8, "%07o", gid);
  snprintf(h + 124, 12, "%011llo", size);
  snprintf(h + 136, 12, "%011llo", (unsigned long long)(mtime < 0 ? 0 : mtime));
  h[156] = type;
  if (linkname) snprintf(h + 157, 100, "%s", linkname);
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof h; i++) sum += (unsigned char)h[i];
  snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  tree_out(h, sizeof h);
}

static size_t pax_record(char *out, size_t room, const char *key, const char *value) {
  size_t body = strlen(key) + strlen(value) + 3; /* " key=value\n" less the length digits */
  size_t len = body + 1;
  while (len != body + (size_t)snprintf(NULL, 0, "%zu", len)) len = body + (size_t)snprintf(NULL, 0, "%zu", len);
  if (len >= room) fail(FAIL_INVALID_INPUT, value, "a path is too long to send");
  return (size_t)snprintf(out, room, "%zu %s=%s\n", len, key, value);
}

static void tree_entry(const char *rel, const struct stat *st, char type, unsigned long long size, const char *link) {
  static char pax[2 * 4096 + 64];
  size_t n = pax_record(pax, sizeof pax, "path", rel);
  if (link) n += pax_record(pax + n, sizeof pax - n, "linkpath", link);
  tar_header("PaxHeader", 'x', 0644, 0, 0, n, 0, NULL);
  tree_out(pax, n);
  tree_pad(n);
  tar_header(rel, type, st->st_mode, st->st_uid, st->st_gid, size, st->st_mtim.tv_sec, link);
}

static void tree_walk(int dir_fd, const char *rel, unsigned depth) {
  if (depth > 128) fail(FAIL_INVALID_INPUT, rel, "the directory is nested more than 128 deep");
  int list_fd = dup(dir_fd);
  DIR *dir = list_fd < 0 ? NULL : fdopendir(list_fd);
  if (!dir) fail_errno(rel, "fdopendir", errno);
  struct dirent *d;
  static char child[4096];
  while ((d = readdir(dir))) {
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", rel, d->d_name) >= sizeof path)
      fail(FAIL_INVALID_INPUT, rel, "a path is too long");
    struct stat st;
    if (fstatat(dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue; /* gone meanwhile */
    if (st.st_dev != tree_dev) continue;                                    /* another mount */
    if (S_ISDIR(st.st_mode)) {
      int fd = openat(dir_fd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) continue;
      tree_entry(path, &st, '5', 0, NULL);
      tree_walk(fd, path, depth + 1);
      close(fd);
    } else if (S_ISLNK(st.st_mode)) {
      ssize_t n = readlinkat(dir_fd, d->d_name, child, sizeof child - 1);
      if (n < 0) continue;
      child[n] = '\0';
      tree_entry(path, &st, '2', 0, child);
    } else if (S_ISREG(st.st_mode)) {
      int fd = openat(dir_fd, d->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      struct stat again;
      if (fd < 0 || fstat(fd, &again) < 0 || again.st_ino != st.st_ino || !S_ISREG(again.st_mode)) {
        if (fd >= 0) close(fd);
        continue;
      }
      unsigned long long size = (unsigned long long)again.st_size, sent = 0;
      tree_entry(path, &again, '0', size, NULL);
      static char buf[1 << 16];
      while (sent < size) {
        ssize_t r = read(fd, buf, size - sent < sizeof buf ? (size_t)(size - sent) : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { /* shrank while read: zeros keep the tar whole */
          memset(buf, 0, sizeof buf);
          r = (ssize_t)(size - sent < sizeof buf ? size - sent : sizeof buf);
        }
        tree_out(buf, (size_t)r);
        sent += (unsigned long long)r;
      }
      tree_pad(size);
      close(fd);
    }
  }
  closedir(dir);
}

static void container_read_tree(int dir_fd, const struct stat *st, unsigned long long max_bytes) {
  tree_limit = max_bytes;
  tree_dev = st->st_dev;
  static const char head[] = "{\"type\":\"directory\"}\n";
  write_all(head, sizeof head - 1);
  tree_entry(".", st, '5', 0, NULL);
  tree_walk(dir_fd, ".", 0);
  static const char trailer[1024];
  tree_out(trailer, sizeof trailer);
  exit(0);
}

void container_read_file(const char *path, unsigned long long max_bytes) {
  /* O_PATH first: opening a FIFO or a device for reading can block or act on the device. */
  int probe = container_open(path, O_PATH);
  if (probe < 0) fail_errno(path, "openat2", errno);
  struct stat st;
  if (fstat(probe, &st) < 0) fail_errno(path, "fstat", errno);
  if (S_ISDIR(st.st_mode)) {
    int dir_fd = container_open(path, O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0) fail_errno(path, "openat2", errno);
    struct stat dir_st;
    if (fstat(dir_fd, &dir_st) < 0) fail_errno(path, "fstat", errno);
    container_read_tree(dir_fd, &dir_st, max_bytes);
  }
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
