/* Working inside a running container's filesystem, for file copy: the extractor joins the
 * container's user and mount namespaces, so "/" is the container's root as the container sees it
 * (its overlay, volumes and all), owners are the container's own 0..65535 (written as the slice's
 * host ids by the kernel), and the extractor can do no more there than the container's root. */
#pragma once

#include <sys/types.h>

/* Joins the user and mount namespaces of the process pid (the container's init); exits on failure. */
void container_enter(pid_t pid);

/* Opens path inside the current root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): a
 * symlink on the way is followed, but never out of the root. Returns the fd or -1 (errno). */
int container_open(const char *path, int flags);

/* --read: writes one JSON line {"type":"file",size,mode,uid,gid} and the regular file's bytes to
 * stdout. A directory, device, FIFO or socket is refused. Exits. */
__attribute__((noreturn)) void container_read_file(const char *path, unsigned long long max_bytes);
