/* The loop's epoll set. Each fd the loop waits on is watched through a `struct watch` kept in the
 * object that owns the fd (client, container, exec session); the event carries a pointer to that
 * watch, so the loop finds the owner at once whatever the number of fds.
 * An fd leaves the set (unwatch_fd) before it is closed: a child between clone and execve holds
 * copies of our fds, and the kernel keeps an entry until every copy is closed, so an fd closed
 * while still watched could go on reporting events about an object already freed. */
#ifndef NAGAYA_EVENT_SET_H
#define NAGAYA_EVENT_SET_H

#include <sys/epoll.h>

enum watch_kind {
  WATCH_LISTEN,
  WATCH_SIGNAL,
  WATCH_LOGS,
  WATCH_CLIENT,    /* owner: struct client */
  WATCH_LAUNCH,    /* owner: struct container, its handshake_fd while launching */
  WATCH_CONTAINER, /* owner: struct container, its pidfd once launched */
  WATCH_EXEC_PID,  /* owner: struct pending_exec */
  WATCH_EXEC_STDOUT,
  WATCH_EXEC_STDERR,
  WATCH_EXEC_STDIN, /* owner: struct pending_exec (interactive), watched for room to write */
  WATCH_RUN_OUTPUT, /* owner: struct output_capture of a run's stdout or stderr (run_io.h) */
  WATCH_RUN_STDIN,  /* owner: struct stdin_feed, watched for room to write */
};

struct watch {
  enum watch_kind kind;
  int fd; /* -1 while not in the set */
  void *owner;
};

/* Creates the set; -1 with errno on failure. */
int event_set_open(void);

/* Adds fd (readable) to the set, reported as w; 0, or -1 with errno (w is then not in the set). */
int watch_fd(struct watch *w, enum watch_kind kind, int fd, void *owner);

/* Adds fd to the set for room to write (EPOLLOUT), reported as w; as watch_fd otherwise. */
int watch_fd_writable(struct watch *w, enum watch_kind kind, int fd, void *owner);

/* Takes w's fd out of the set, if it is in it; call it before the fd is closed. */
void unwatch_fd(struct watch *w);

/* Waits up to timeout_ms for events; returns their number (0 on timeout or EINTR), -1 on error. */
int event_set_wait(struct epoll_event *events, int max_events, int timeout_ms);

#endif
