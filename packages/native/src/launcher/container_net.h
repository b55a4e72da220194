/* The container's side of its network, set up by its first process before it drops capabilities. */
#ifndef NAGAYA_CONTAINER_NET_H
#define NAGAYA_CONTAINER_NET_H

#include "launch_spec.h"

/* Gives eth0 (made by the launcher with its MAC and MTU) its address, brings it up and adds the
 * default route via the gateway. In the child after clone: async-signal-safe only; a failure is
 * reported through handshake_fd and ends the child. */
void child_configure_network(const struct launch_network *net, int handshake_fd);

/* Writes /etc/resolv.conf and /etc/hosts (relative to the new root, after pivot_root) from net;
 * they land in the writable layer. A symlink in their place is replaced, never followed. */
void child_write_network_files(const struct launch_network *net, int handshake_fd);

#endif
