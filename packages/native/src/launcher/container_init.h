/* The container's init: the host's static tini, bind-mounted read-only at /sbin/nagaya-init and
 * run as PID 1 in front of the plan's argv when the plan asks for an init. */
#ifndef NAGAYA_CONTAINER_INIT_H
#define NAGAYA_CONTAINER_INIT_H

#include "launch_spec.h"
#include "protocol.h"

/* Where the init appears inside the container. */
#define CONTAINER_INIT_PATH "/sbin/nagaya-init"

/* In the launcher: reads the optional "init" field (the host path of tini-static) and builds the
 * init's argv, `/sbin/nagaya-init -- <argv...>`, before clone. Needs spec->argv. */
int init_spec_from_message(const struct message *m, struct launch_spec *spec, struct step_error *err);

/* In the child, with the container's overlay as its working directory and the host's root still
 * its root: bind-mounts the host's init read-only onto a file created at sbin/nagaya-init beneath
 * the overlay. Does nothing without an init. */
void child_mount_init(const struct launch_spec *spec, int handshake_fd);

/* In the child, as the last step: execs the init in front of argv, after checking that argv[0]
 * resolves to something executable (a missing command fails the launch at step "exec", as it does
 * without an init, instead of becoming an init that exits 127). Returns only without an init. */
void child_exec_init(const struct launch_spec *spec, int handshake_fd);

#endif
