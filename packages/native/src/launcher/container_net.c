/* The container's side of its network: eth0's address, link and default route over rtnetlink,
 * and its resolv.conf and hosts files. Runs in the child after clone(): no allocation, no stdio,
 * only raw syscalls on buffers on the stack. */
#define _GNU_SOURCE
#include "container_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "rtnl.h"

static int eth0_index(int handshake_fd) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) child_fail(handshake_fd, "configure-eth0", "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  copy_text(ifr.ifr_name, sizeof ifr.ifr_name, "eth0");
  if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0) child_fail(handshake_fd, "configure-eth0", "ioctl");
  close(sock);
  return ifr.ifr_ifindex;
}

void child_configure_network(const struct launch_network *net, int handshake_fd) {
  int index = eth0_index(handshake_fd);
  int fd = rtnl_open();
  if (fd < 0) child_fail(handshake_fd, "configure-eth0", "socket");
  struct rtnl_msg m;

  struct ifinfomsg link = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  rtnl_start(&m, RTM_NEWLINK, 0, &link, sizeof link);
  if (rtnl_call(fd, &m) < 0) child_fail(handshake_fd, "eth0-up", "rtnetlink");

  struct ifaddrmsg addr = {.ifa_family = AF_INET, .ifa_prefixlen = net->prefix, .ifa_index = (unsigned)index};
  rtnl_start(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &addr, sizeof addr);
  rtnl_attr(&m, IFA_LOCAL, &net->ip, 4);
  rtnl_attr(&m, IFA_ADDRESS, &net->ip, 4);
  uint32_t host_mask = net->prefix >= 32 ? 0 : htonl(0xffffffffu >> net->prefix);
  uint32_t broadcast = net->ip | host_mask;
  rtnl_attr(&m, IFA_BROADCAST, &broadcast, 4);
  if (rtnl_call(fd, &m) < 0) child_fail(handshake_fd, "eth0-address", "rtnetlink");

  struct rtmsg route = {.rtm_family = AF_INET,
                        .rtm_table = RT_TABLE_MAIN,
                        .rtm_protocol = RTPROT_BOOT,
                        .rtm_scope = RT_SCOPE_UNIVERSE,
                        .rtm_type = RTN_UNICAST};
  rtnl_start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &route, sizeof route);
  rtnl_attr(&m, RTA_GATEWAY, &net->gateway, 4);
  rtnl_attr_u32(&m, RTA_OIF, (uint32_t)index);
  if (rtnl_call(fd, &m) < 0) child_fail(handshake_fd, "default-route", "rtnetlink");
  close(fd);
}

/* Replaces path with a new regular file holding text (0644, owned by the container's root). */
static int write_fresh_file(const char *path, const char *text) {
  if (unlink(path) < 0 && errno != ENOENT) return -1;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t len = strlen(text), done = 0;
  while (done < len) {
    ssize_t n = write(fd, text + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return -1;
    }
    done += (size_t)n;
  }
  return close(fd);
}

void child_write_network_files(const struct launch_network *net, int handshake_fd) {
  if (net->resolv_conf == NULL && net->hosts == NULL) return;
  if (mkdir("/etc", 0755) < 0 && errno != EEXIST) child_fail(handshake_fd, "network-files", "mkdir");
  if (net->resolv_conf != NULL && write_fresh_file("/etc/resolv.conf", net->resolv_conf) < 0)
    child_fail(handshake_fd, "network-files", "write");
  if (net->hosts != NULL && write_fresh_file("/etc/hosts", net->hosts) < 0)
    child_fail(handshake_fd, "network-files", "write");
}
