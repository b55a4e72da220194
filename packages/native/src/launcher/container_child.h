/* The container's first process, between clone() and execve(). */
#ifndef NAGAYA_CONTAINER_CHILD_H
#define NAGAYA_CONTAINER_CHILD_H

#include "launch_spec.h"
#include "run_io.h"

/* The directories the child builds its rootfs from and on, in the order the launcher sends them
 * with the go (SCM_RIGHTS): the fixed ones, then one fd per image layer, topmost first. The
 * launcher, host root, opens upper, work and the target through /proc/<child>/root, so they
 * belong to the child's mount namespace, and the child reaches them only through these fds, as
 * /proc/self/fd/N links whose walk skips the ancestors' search permission: the state directory
 * stays 0700 although the child acts as the container's own host uid. A layer is a detached
 * idmapped mount (or the shifted copy's directory) that overlay takes as an fd ("lowerdir+",
 * Linux 6.15 for O_PATH fds and detached mounts). After the layers come the detached mounts of
 * the plan's mounts, one each (see container_mounts.h). */
enum rootfs_fd {
  ROOTFS_UPPER,
  ROOTFS_WORK,
  ROOTFS_TARGET,      /* where the overlay is attached */
  ROOTFS_FIRST_LAYER, /* the topmost layer; the others follow it */
  ROOTFS_FD_MAX = ROOTFS_FIRST_LAYER + MAX_LAYERS + MAX_MOUNTS
};

/* SCM_MAX_FD: the most fds one SCM_RIGHTS message carries. */
_Static_assert(ROOTFS_FD_MAX <= 253, "every rootfs fd must fit one SCM_RIGHTS message");

/* Where the mounts' fds start: right after the last layer's. */
static inline int rootfs_first_mount(const struct launch_spec *spec) { return ROOTFS_FIRST_LAYER + spec->layer_count; }

/* How many rootfs fds a launch sends: the fixed ones, one per layer and one per mount. */
static inline int rootfs_fd_count(const struct launch_spec *spec) {
  return rootfs_first_mount(spec) + spec->mount_count;
}

/* Runs in the cloned child: waits for the parent's go, builds the root filesystem, pivots and
 * execs the plan's argv with stdio as fds 0, 1 and 2. Never returns; a failed step is written to
 * handshake_fd. */
void container_child_main(const struct launch_spec *spec, int handshake_fd, const struct child_stdio *stdio)
    __attribute__((noreturn));

#endif
