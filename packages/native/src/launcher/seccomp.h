/* The seccomp filter every container process runs under: a deny-list at least as strict as
 * Docker's default profile, built once per launcher as a classic BPF program. */
#ifndef NAGAYA_SECCOMP_H
#define NAGAYA_SECCOMP_H

#include <stdbool.h>
#include <linux/filter.h>

/* Builds both variants (default, and nesting: new user namespaces allowed). Called once at
 * launcher start, before any clone, so children only read the programs. -1 with errno if a
 * program does not fit classic BPF's jump range (a bug, caught by every launcher start). */
int seccomp_filters_build(void);

/* The program for a container: with nesting, clone and unshare may create a user namespace. */
const struct sock_fprog *seccomp_filter_for(bool nesting);

/* Installs the program on the calling thread (no_new_privs must be set). Async-signal-safe. */
int seccomp_install(const struct sock_fprog *prog);

#endif
