/* Release by scope, as crun's cleanup_close / cleanup_free: a variable declared with one of these
 * is closed or freed whenever it goes out of scope, so an early return cannot leak it and needs
 * no errno save and restore (the release keeps errno). Hand a value on with take_fd / take_ptr.
 * Not for the child after clone or fork: only async-signal-safe code runs there. */
#ifndef NAGAYA_CLEANUP_H
#define NAGAYA_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void close_fd_at_scope_end(int *fd) {
  if (*fd < 0) return;
  int saved = errno;
  close(*fd);
  errno = saved;
}

static inline void free_at_scope_end(void *ptr) {
  int saved = errno;
  free(*(void **)ptr);
  errno = saved;
}

#define cleanup_close __attribute__((cleanup(close_fd_at_scope_end)))
#define cleanup_free __attribute__((cleanup(free_at_scope_end)))

/* Returns fd and leaves -1 behind, so the cleanup no longer closes it. */
static inline int take_fd(int *fd) {
  int taken = *fd;
  *fd = -1;
  return taken;
}

/* Returns the pointer and leaves NULL behind, so the cleanup no longer frees it. */
static inline void *take_ptr(void *ptr) {
  void *taken = *(void **)ptr;
  *(void **)ptr = NULL;
  return taken;
}

#endif
