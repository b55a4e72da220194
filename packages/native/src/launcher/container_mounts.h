/* Host directories mounted into a container: volumes, and an admin's host paths.
 * The launcher clones each source as a detached mount (idmapped onto the container's user
 * namespace when asked) and hands it over with the go; the child attaches it beneath its new
 * rootfs before pivot_root, at a target resolved inside that rootfs by the kernel. A failure
 * is reported at step "mount-volume:<index>" (index into spec->mounts), which the runtime turns
 * into an error that names the mount. */
#ifndef NAGAYA_CONTAINER_MOUNTS_H
#define NAGAYA_CONTAINER_MOUNTS_H

#include <sys/types.h>

#include "launch_spec.h"
#include "protocol.h"

/* Bits of a "mount_flags" field. */
#define MOUNT_FLAG_READ_ONLY 1
#define MOUNT_FLAG_IDMAP 2

/* Fills spec->mounts from the request's mount_source, mount_target and mount_flags lists (one
 * entry each per mount, in the order they are mounted). -1 with err on a malformed list. */
int launch_mounts_from_message(const struct message *m, struct launch_spec *spec, struct step_error *err);

/* In the launcher: fills tree_fds[0..spec->mount_count) with one detached mount per mount of
 * spec, each nosuid and nodev, read-only when asked, and idmapped with the child's user namespace
 * when asked. A source that is not a directory (or is a symlink) is refused. On failure nothing
 * stays open. */
int open_container_mounts(pid_t child, const struct launch_spec *spec, int *tree_fds, struct step_error *err);

/* In the child, once its rootfs is mounted and root_fd is that mount's root: attaches each tree
 * at its target, resolved beneath root_fd (symlinks in the image stay inside it), creating the
 * missing directories as the container's root. Closes nothing; on a failure reports
 * "mount-volume:<index>" and exits. Only async-signal-safe calls. */
void child_attach_mounts(const struct launch_spec *spec, int handshake_fd, int root_fd, const int *tree_fds);

#endif
