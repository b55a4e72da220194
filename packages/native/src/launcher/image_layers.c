/* Idmapped image layers for a child that stacks them as overlay lowers.
 * Overlay clones every layer privately when it is created, and a detached mount may only be
 * cloned by who has CAP_SYS_ADMIN over the user namespace owning its anonymous mount namespace.
 * open_tree() gives that namespace the owner of the caller's mount namespace, so the launcher
 * makes the detached mounts from inside the child's mount namespace (owned by the child's user
 * namespace) and goes back to its own right after. Each layer gets its own mount, all idmapped
 * with the child's user namespace: host 0..65535 on disk shows as the container's ids. */
#define _GNU_SOURCE
#include "image_layers.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "errors.h"
#include "syscalls.h"

/* Clones a layer directory as a detached mount that shows the child's ids for host 0..65535. */
static int make_idmapped_layer(int userns_fd, const char *layer_dir, struct step_error *err) {
  cleanup_close int tree_fd = sys_open_tree(AT_FDCWD, layer_dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree_fd < 0) return step_fail(err, "idmap-image", "open_tree", errno);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  attr.userns_fd = (uint64_t)userns_fd;
  if (sys_mount_setattr(tree_fd, "", AT_EMPTY_PATH, &attr) < 0)
    return step_fail(err, "idmap-image", "mount_setattr", errno);
  return take_fd(&tree_fd);
}

static void close_layers(int *layer_fds, int count) {
  for (int i = 0; i < count; i++) {
    if (layer_fds[i] >= 0) close(layer_fds[i]);
    layer_fds[i] = -1;
  }
}

/* Makes every layer's mount while this process stands in the child's mount namespace. */
static int make_layers_in(int child_mnt_fd, int userns_fd, const struct launch_spec *spec, int *layer_fds,
                          struct step_error *err) {
  /* setns() moves our root and cwd too: both are ours again below. */
  cleanup_close int own_mnt_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  cleanup_close int cwd_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (own_mnt_fd < 0 || cwd_fd < 0) return step_fail(err, "idmap-image", "open", errno);
  if (sys_setns(child_mnt_fd, CLONE_NEWNS) < 0) return step_fail(err, "idmap-image", "setns", errno);
  int result = 0;
  for (int i = 0; i < spec->layer_count && result == 0; i++) {
    layer_fds[i] = make_idmapped_layer(userns_fd, spec->layer_dirs[i], err);
    if (layer_fds[i] < 0) result = -1;
  }
  /* The launcher cannot go on in another namespace: it would make every later launch there. */
  if (sys_setns(own_mnt_fd, CLONE_NEWNS) < 0 || fchdir(cwd_fd) < 0) abort();
  return result;
}

int open_image_layers(pid_t child, const struct launch_spec *spec, int *layer_fds, struct step_error *err) {
  for (int i = 0; i < spec->layer_count; i++) layer_fds[i] = -1;
  char path[64];
  if (!spec->idmap_lower) {
    char in_child[4200];
    snprintf(in_child, sizeof in_child, "/proc/%d/root%s", child, spec->layer_dirs[0]);
    layer_fds[0] = open(in_child, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return layer_fds[0] < 0 ? step_fail(err, "open-rootfs-dirs", "open", errno) : 0;
  }
  snprintf(path, sizeof path, "/proc/%d/ns/user", child);
  cleanup_close int userns_fd = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", child);
  cleanup_close int mnt_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (userns_fd < 0 || mnt_fd < 0) return step_fail(err, "idmap-image", "open", errno);
  if (make_layers_in(mnt_fd, userns_fd, spec, layer_fds, err) < 0) {
    close_layers(layer_fds, spec->layer_count);
    return -1;
  }
  return 0;
}
