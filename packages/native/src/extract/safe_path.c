#define _GNU_SOURCE
#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fail.h"

static int open_beneath(int dir_fd, const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN); /* RESOLVE_BENEATH retries after a concurrent rename */
  return fd;
}

void path_normalise(const char *raw, const struct extract_limits *limits, struct entry_path *out, const char *entry) {
  size_t len = 0;
  unsigned depth = 0;
  size_t parent_len = 0, leaf_at = 0;
  const char *p = raw;
  while (*p) {
    while (*p == '/') p++;
    const char *start = p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - start);
    if (n == 0 || (n == 1 && start[0] == '.')) continue;
    if (n == 2 && start[0] == '.' && start[1] == '.') {
      fail(FAIL_INVALID_INPUT, entry, "a path with a '..' component is refused");
    }
    if (n > EXTRACT_MAX_NAME) fail(FAIL_INVALID_INPUT, entry, "a name is longer than %d bytes", EXTRACT_MAX_NAME);
    if (++depth > limits->max_depth)
      fail(FAIL_INVALID_INPUT, entry, "the path is deeper than %u directories", limits->max_depth);
    if (len + (len ? 1 : 0) + n > limits->max_path) {
      fail(FAIL_INVALID_INPUT, entry,
           "the path is longer than %zu bytes (PATH_MAX less the image directory's own path)", limits->max_path);
    }
    if (len) {
      parent_len = len;
      out->rel[len++] = '/';
    }
    leaf_at = len;
    memcpy(out->rel + len, start, n); /* max_path < EXTRACT_MAX_PATH, so rel fits */
    len += n;
  }
  out->rel[len] = '\0';
  out->depth = depth;
  out->parent_len = depth > 1 ? parent_len : 0;
  out->leaf = out->rel + leaf_at;
}

static __attribute__((noreturn)) void fail_on_path(const char *entry, const char *dir, int err) {
  if (err == ELOOP) fail(FAIL_INVALID_INPUT, entry, "%s is a symlink; nothing is written through a symlink", dir);
  if (err == ENOTDIR) fail(FAIL_INVALID_INPUT, entry, "%s is not a directory", dir);
  fail_errno(entry, "openat2", err);
}

int path_open_parent(int root_fd, const struct entry_path *p, bool create, const struct extract_limits *limits,
                     const char *entry) {
  if (p->parent_len == 0) {
    int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) fail_errno(entry, "fcntl", errno);
    return fd;
  }
  char parent[EXTRACT_MAX_PATH + 1];
  memcpy(parent, p->rel, p->parent_len);
  parent[p->parent_len] = '\0';
  int fd = open_beneath(root_fd, parent, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) return fd;
  if (errno == ENOENT && !create) return -1;

  /* One component at a time: make what is missing, and name the one in the way. */
  fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) fail_errno(entry, "fcntl", errno);
  char *component = parent;
  for (;;) {
    char *slash = strchr(component, '/');
    if (slash) *slash = '\0';
    int next = open_beneath(fd, component, O_RDONLY | O_DIRECTORY);
    if (next < 0 && errno == ENOENT && create) {
      limits_count_entry(limits);
      if (mkdirat(fd, component, 0755) < 0 && errno != EEXIST) fail_errno(entry, "mkdirat", errno);
      next = open_beneath(fd, component, O_RDONLY | O_DIRECTORY);
    }
    if (next < 0) {
      int err = errno;
      if (err == ENOENT && !create) {
        close(fd);
        errno = ENOENT;
        return -1;
      }
      fail_on_path(entry, parent, err); /* parent now ends at the component that failed */
    }
    close(fd);
    fd = next;
    if (!slash) return fd;
    *slash = '/';
    component = slash + 1;
  }
}

int path_open_dir(int root_fd, const char *rel) {
  if (rel[0] == '\0') return fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  return open_beneath(root_fd, rel, O_RDONLY | O_DIRECTORY);
}
