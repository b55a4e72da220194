/* The loop's epoll set: see event_set.h. */
#define _GNU_SOURCE
#include "event_set.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

static int epoll_fd = -1;

int event_set_open(void) {
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  return epoll_fd;
}

static int watch_for(struct watch *w, enum watch_kind kind, int fd, void *owner, uint32_t events) {
  w->kind = kind;
  w->owner = owner;
  w->fd = -1;
  struct epoll_event event = {.events = events, .data.ptr = w};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) return -1;
  w->fd = fd;
  return 0;
}

int watch_fd(struct watch *w, enum watch_kind kind, int fd, void *owner) {
  return watch_for(w, kind, fd, owner, EPOLLIN);
}

int watch_fd_writable(struct watch *w, enum watch_kind kind, int fd, void *owner) {
  return watch_for(w, kind, fd, owner, EPOLLOUT);
}

void unwatch_fd(struct watch *w) {
  if (w->fd < 0) return;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
  w->fd = -1;
}

int event_set_wait(struct epoll_event *events, int max_events, int timeout_ms) {
  int n = epoll_wait(epoll_fd, events, max_events, timeout_ms);
  if (n < 0 && errno == EINTR) return 0;
  return n;
}
