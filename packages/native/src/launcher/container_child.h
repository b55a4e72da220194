/* The container's first process, between clone() and execve(). */
#ifndef NAGAYA_CONTAINER_CHILD_H
#define NAGAYA_CONTAINER_CHILD_H

#include "launch_spec.h"

/* Runs in the cloned child: waits for the parent's go, builds the root filesystem, pivots and
 * execs the plan's argv. Never returns; a failed step is written to handshake_fd. */
void container_child_main(const struct launch_spec *spec, int handshake_fd, int log_fd, int null_fd)
    __attribute__((noreturn));

#endif
