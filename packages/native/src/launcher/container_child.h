/* The container's first process, between clone() and execve(). */
#ifndef NAGAYA_CONTAINER_CHILD_H
#define NAGAYA_CONTAINER_CHILD_H

#include "launch_spec.h"

/* The directories the child builds its rootfs from and on, in the order the launcher sends them
 * with the go (SCM_RIGHTS). The launcher, host root, opens them through /proc/<child>/root, so
 * they belong to the child's mount namespace (overlayfs takes only layers of the caller's own
 * namespace), and the child reaches them only through these fds, as /proc/self/fd/N links whose
 * walk skips the ancestors' search permission: the state directory stays 0700 although the
 * child acts as the container's own host uid. */
enum rootfs_fd {
  ROOTFS_LOWER, /* the idmapped image mount (detached), or the shifted copy's directory */
  ROOTFS_UPPER,
  ROOTFS_WORK,
  ROOTFS_LOWER_TARGET, /* where the idmapped image is attached */
  ROOTFS_TARGET,       /* where the overlay is attached */
  ROOTFS_FD_COUNT
};

/* Runs in the cloned child: waits for the parent's go, builds the root filesystem, pivots and
 * execs the plan's argv. Never returns; a failed step is written to handshake_fd. */
void container_child_main(const struct launch_spec *spec, int handshake_fd, int log_fd, int null_fd)
    __attribute__((noreturn));

#endif
