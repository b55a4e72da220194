/* Host directories mounted into a container: see container_mounts.h.
 * The source is a host path: the launcher opens it in its own mount namespace, as host root, and
 * only ever hands the child a detached clone of it (open_tree without AT_RECURSIVE, so no mount
 * beneath the source comes along). The target is the tenant's business: it is resolved by the
 * kernel with the rootfs as root (RESOLVE_IN_ROOT), so a symlink in the image or in the writable
 * layer ("/evil -> /", "../../..") is followed inside the rootfs and never out of it, and the tree
 * is attached to the directory found by fd (move_mount with both paths empty): no path is walked
 * twice. */
#define _GNU_SOURCE
#include "container_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "errors.h"
#include "parse_i64.h"
#include "syscalls.h"

/* PATH_MAX: the plan refuses longer targets. */
#define MAX_TARGET 4096

/* The step of a failure of mount index: "mount-volume:<index>". Async-signal-safe. */
static void mount_step(char out[48], int index) {
  char digits[12];
  int n = 0;
  do digits[n++] = (char)('0' + index % 10);
  while ((index /= 10) > 0 && n < (int)sizeof digits);
  copy_text(out, 48, "mount-volume:");
  size_t len = sizeof "mount-volume:" - 1;
  while (n > 0) out[len++] = digits[--n];
  out[len] = '\0';
}

static int mount_fail(struct step_error *err, int index, const char *syscall_name, int errnum) {
  char step[48];
  mount_step(step, index);
  return step_fail(err, step, syscall_name, errnum);
}

int launch_mounts_from_message(const struct message *m, struct launch_spec *spec, struct step_error *err) {
  int sources = 0, targets = 0, flag_count = 0;
  cleanup_free char **source = message_list(m, "mount_source", &sources);
  cleanup_free char **target = message_list(m, "mount_target", &targets);
  cleanup_free char **flags = message_list(m, "mount_flags", &flag_count);
  if (sources > MAX_MOUNTS || sources != targets || sources != flag_count)
    return step_fail(err, "parse-request", "mount_source", EINVAL);
  for (int i = 0; i < sources; i++) {
    int64_t bits;
    if (source[i][0] != '/') return step_fail(err, "parse-request", "mount_source", EINVAL);
    /* "/" itself would cover the whole rootfs; the plan refuses it too */
    if (target[i][0] != '/' || target[i][1] == '\0' || strlen(target[i]) > MAX_TARGET)
      return step_fail(err, "parse-request", "mount_target", EINVAL);
    if (parse_i64(flags[i], 0, MOUNT_FLAG_READ_ONLY | MOUNT_FLAG_IDMAP, &bits) < 0)
      return step_fail(err, "parse-request", "mount_flags", EINVAL);
    spec->mounts[i] = (struct launch_mount){.source = source[i],
                                            .target = target[i],
                                            .read_only = (bits & MOUNT_FLAG_READ_ONLY) != 0,
                                            .idmap = (bits & MOUNT_FLAG_IDMAP) != 0};
  }
  spec->mount_count = sources;
  return 0;
}

/* Clones one source directory as a detached mount with the mount's attributes. */
static int make_mount_tree(int userns_fd, const struct launch_mount *mount, int index, struct step_error *err) {
  /* The source comes resolved (no symlink in it): a symlink anywhere on its path now is one a
   * writer of a parent directory swapped in since, to lead the mount elsewhere, and is refused
   * (ELOOP), not followed; a last component that is no directory is refused too (ENOTDIR). */
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  cleanup_close int dir_fd = -1;
  do dir_fd = (int)syscall(SYS_openat2, AT_FDCWD, mount->source, &how, sizeof how);
  while (dir_fd < 0 && errno == EAGAIN);
  if (dir_fd < 0) return mount_fail(err, index, "open", errno);
  cleanup_close int tree_fd = sys_open_tree(dir_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree_fd < 0) return mount_fail(err, index, "open_tree", errno);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  /* A clone of a shared mount joins its peer group: the host's later mounts beneath the source
   * would show up in the container. */
  attr.propagation = MS_PRIVATE;
  if (mount->read_only) attr.attr_set |= MOUNT_ATTR_RDONLY;
  if (mount->idmap) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)userns_fd;
  }
  if (sys_mount_setattr(tree_fd, "", AT_EMPTY_PATH, &attr) < 0) return mount_fail(err, index, "mount_setattr", errno);
  return take_fd(&tree_fd);
}

int open_container_mounts(pid_t child, const struct launch_spec *spec, int *tree_fds, struct step_error *err) {
  for (int i = 0; i < spec->mount_count; i++) tree_fds[i] = -1;
  if (spec->mount_count == 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", child);
  cleanup_close int userns_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (userns_fd < 0) return mount_fail(err, 0, "open", errno);
  for (int i = 0; i < spec->mount_count; i++) {
    tree_fds[i] = make_mount_tree(userns_fd, &spec->mounts[i], i, err);
    if (tree_fds[i] >= 0) continue;
    for (int j = 0; j < i; j++) {
      close(tree_fds[j]);
      tree_fds[j] = -1;
    }
    return -1;
  }
  return 0;
}

/* openat2 of a directory beneath root_fd, symlinks followed as if root_fd were "/". */
static int open_in_root(int root_fd, const char *path) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd;
  do fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN); /* a concurrent rename anywhere; retry as the kernel asks */
  return fd;
}

/* Opens the target directory (at most MAX_TARGET bytes, checked by the parser) beneath root_fd, creating each missing
 * directory (0755, owned by whoever we are: the container's root). Each prefix is resolved from the root again, so a
 * symlink met on the way is followed within the rootfs. A dangling symlink fails (ENOENT): what
 * it names is not created. Returns an O_PATH fd, or -1 with errno. */
static int open_target(int root_fd, const char *target) {
  char prefix[MAX_TARGET + 1];
  size_t len = 0;
  int parent_fd = -1;
  while (target[len] != '\0') {
    while (target[len] == '/') len++; /* the separator(s) before the next component */
    size_t start = len;
    while (target[len] != '\0' && target[len] != '/') len++;
    if (len == start) break; /* a trailing slash */
    memcpy(prefix, target, len);
    prefix[len] = '\0';
    int fd = open_in_root(root_fd, prefix);
    if (fd < 0 && errno == ENOENT) {
      /* the component alone, in the directory its parent prefix resolved to */
      if (mkdirat(parent_fd < 0 ? root_fd : parent_fd, prefix + start, 0755) < 0 && errno != EEXIST) fd = -1;
      else fd = open_in_root(root_fd, prefix);
    }
    if (parent_fd >= 0) close(parent_fd);
    parent_fd = fd;
    if (fd < 0) return -1;
  }
  if (parent_fd < 0) errno = EINVAL; /* "/": refused by the plan */
  return parent_fd;
}

void child_attach_mounts(const struct launch_spec *spec, int handshake_fd, int root_fd, const int *tree_fds) {
  char step[48];
  if (spec->mount_count == 0) return;
  /* The directories made on the way are 0755 whatever umask the launcher was started with (a
   * non-root user of the container must reach a volume below them); the container's own umask is
   * the launcher's again below. */
  mode_t inherited_umask = umask(022);
  for (int i = 0; i < spec->mount_count; i++) {
    int target_fd = open_target(root_fd, spec->mounts[i].target);
    if (target_fd < 0) {
      mount_step(step, i);
      child_fail(handshake_fd, step, "openat2");
    }
    if (sys_move_mount(tree_fds[i], "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
      mount_step(step, i);
      child_fail(handshake_fd, step, "move_mount");
    }
    close(target_fd);
  }
  umask(inherited_umask);
}
