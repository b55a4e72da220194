/* A few rtnetlink requests built in a caller's buffer and sent on a NETLINK_ROUTE socket.
 * Only memcpy and raw socket calls, no allocation: also used by the container's child after
 * clone(), where only async-signal-safe code may run. */
#ifndef NAGAYA_RTNL_H
#define NAGAYA_RTNL_H

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RTNL_BUF 1024

struct rtnl_msg {
  union {
    struct nlmsghdr hdr;
    char buf[RTNL_BUF];
  } u;
};

/* Starts a request of that type with its family header (ifinfomsg, ifaddrmsg, rtmsg...). */
static inline void *rtnl_start(struct rtnl_msg *m, uint16_t type, uint16_t flags, const void *family_hdr,
                               size_t family_len) {
  memset(m, 0, sizeof *m);
  m->u.hdr.nlmsg_type = type;
  m->u.hdr.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
  m->u.hdr.nlmsg_seq = 1;
  m->u.hdr.nlmsg_len = NLMSG_LENGTH(family_len);
  memcpy(NLMSG_DATA(&m->u.hdr), family_hdr, family_len);
  return NLMSG_DATA(&m->u.hdr);
}

/* Appends an attribute; returns it (for nesting), or NULL when the buffer is full. */
static inline struct rtattr *rtnl_attr(struct rtnl_msg *m, uint16_t type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(m->u.hdr.nlmsg_len);
  if (at + RTA_SPACE(len) > sizeof m->u.buf) return NULL;
  struct rtattr *a = (struct rtattr *)(m->u.buf + at);
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  m->u.hdr.nlmsg_len = (uint32_t)(at + RTA_ALIGN(a->rta_len));
  return a;
}

static inline struct rtattr *rtnl_attr_str(struct rtnl_msg *m, uint16_t type, const char *s) {
  return rtnl_attr(m, type, s, strlen(s) + 1);
}

static inline struct rtattr *rtnl_attr_u32(struct rtnl_msg *m, uint16_t type, uint32_t v) {
  return rtnl_attr(m, type, &v, sizeof v);
}

/* Closes a nested attribute opened with rtnl_attr(m, type, NULL, 0) (or with a family header). */
static inline void rtnl_end_nest(struct rtnl_msg *m, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((char *)m->u.buf + m->u.hdr.nlmsg_len - (char *)nest);
}

/* Opens a NETLINK_ROUTE socket (CLOEXEC) in the caller's network namespace. */
static inline int rtnl_open(void) { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

/* Sends the request and waits for its ack: 0, or -1 with errno set from the kernel's answer. */
static inline int rtnl_call(int fd, struct rtnl_msg *m) {
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do n = sendto(fd, m->u.buf, m->u.hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  union {
    struct nlmsghdr hdr;
    char buf[RTNL_BUF];
  } answer;
  for (;;) {
    do n = recv(fd, answer.buf, sizeof answer.buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    for (struct nlmsghdr *h = &answer.hdr; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      const struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error == 0) return 0;
      errno = -e->error;
      return -1;
    }
  }
}

#endif
