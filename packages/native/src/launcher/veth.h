/* The host side of a container's network: its veth pair, made and removed with rtnetlink. */
#ifndef NAGAYA_VETH_H
#define NAGAYA_VETH_H

#include <sys/types.h>

#include "launch_spec.h"

/* Creates the veth pair of net: the host end (net->host_ifname, up, on net->bridge) and its peer
 * as eth0 (net->mac, net->mtu) in the network namespace of pid. A leftover link of the same name
 * (a container of that id that is gone) is removed first. */
int veth_create(const struct launch_network *net, pid_t pid, struct step_error *err);

/* Removes a host-side veth by name (its peer goes with it); quietly nothing if it is gone. */
void veth_delete(const char *host_ifname);

#endif
