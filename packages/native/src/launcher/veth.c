/* The host side of a container's network: one RTM_NEWLINK makes the veth pair, with the host end
 * up on the bridge and the peer already named eth0 inside the container's network namespace. No
 * `ip` process is spawned: a launch must stay fast. */
#define _GNU_SOURCE
#include "veth.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <net/if.h>
#include <string.h>

#include "cleanup.h"
#include "errors.h"
#include "rtnl.h"

static int add_veth(int fd, const struct launch_network *net, unsigned bridge_index, pid_t pid) {
  struct rtnl_msg m;
  struct ifinfomsg host = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  rtnl_start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &host, sizeof host);
  rtnl_attr_str(&m, IFLA_IFNAME, net->host_ifname);
  if (net->mtu > 0) rtnl_attr_u32(&m, IFLA_MTU, net->mtu);
  rtnl_attr_u32(&m, IFLA_MASTER, bridge_index);
  struct rtattr *linkinfo = rtnl_attr(&m, IFLA_LINKINFO, NULL, 0);
  rtnl_attr_str(&m, IFLA_INFO_KIND, "veth");
  struct rtattr *data = rtnl_attr(&m, IFLA_INFO_DATA, NULL, 0);
  struct ifinfomsg peer_hdr = {.ifi_family = AF_UNSPEC};
  struct rtattr *peer = rtnl_attr(&m, VETH_INFO_PEER, &peer_hdr, sizeof peer_hdr);
  rtnl_attr_str(&m, IFLA_IFNAME, "eth0");
  rtnl_attr(&m, IFLA_ADDRESS, net->mac, sizeof net->mac);
  if (net->mtu > 0) rtnl_attr_u32(&m, IFLA_MTU, net->mtu);
  if (rtnl_attr_u32(&m, IFLA_NET_NS_PID, (uint32_t)pid) == NULL) {
    errno = EMSGSIZE;
    return -1;
  }
  rtnl_end_nest(&m, peer);
  rtnl_end_nest(&m, data);
  rtnl_end_nest(&m, linkinfo);
  return rtnl_call(fd, &m);
}

static int delete_link(int fd, const char *name) {
  struct rtnl_msg m;
  struct ifinfomsg hdr = {.ifi_family = AF_UNSPEC};
  rtnl_start(&m, RTM_DELLINK, 0, &hdr, sizeof hdr);
  rtnl_attr_str(&m, IFLA_IFNAME, name);
  return rtnl_call(fd, &m);
}

int veth_create(const struct launch_network *net, pid_t pid, struct step_error *err) {
  cleanup_close int fd = rtnl_open();
  if (fd < 0) return step_fail(err, "create-veth", "socket", errno);
  unsigned bridge_index = if_nametoindex(net->bridge);
  if (bridge_index == 0) return step_fail(err, "create-veth", "if_nametoindex", errno);
  if (add_veth(fd, net, bridge_index, pid) == 0) return 0;
  if (errno != EEXIST) return step_fail(err, "create-veth", "rtnetlink", errno);
  /* The name is the container's own: a link by that name is a leftover of an earlier run. */
  if (delete_link(fd, net->host_ifname) < 0 && errno != ENODEV)
    return step_fail(err, "create-veth", "rtnetlink", errno);
  if (add_veth(fd, net, bridge_index, pid) < 0) return step_fail(err, "create-veth", "rtnetlink", errno);
  return 0;
}

void veth_delete(const char *host_ifname) {
  if (host_ifname == NULL || host_ifname[0] == '\0') return;
  cleanup_close int fd = rtnl_open();
  if (fd >= 0) delete_link(fd, host_ifname);
}
