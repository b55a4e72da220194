/* Parent side of a container launch: clone, id maps, idmapped image, handshake.
 * A launch is started by spawn_container() and finished by spawn_container_result() once
 * handshake_fd is readable; in between the child sets itself up while the caller does other work. */
#ifndef NAGAYA_SPAWN_H
#define NAGAYA_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroups.h"
#include "launch_spec.h"
#include "run_io.h"

struct spawned_container {
  pid_t pid;
  int pidfd;
  unsigned long long start_time; /* field 22 of /proc/<pid>/stat, in clock ticks since boot */
  struct container_cgroups cgroups;
  bool cgroups_created;
  char host_ifname[16]; /* the host end of its veth pair, once made; "" = none */
  int handshake_fd;     /* open while the child sets itself up: readable on its verdict; -1 after */
  struct run_io io;     /* a run's captured output and stdin; every fd -1 for a plain container */
};

/* Starts the container described by spec: clone, id maps, idmapped image, cgroups, go. On
 * success the child is setting itself up and out->handshake_fd is to be watched; on failure
 * nothing it created is left behind. */
int spawn_container(struct launch_spec *spec, struct spawned_container *out, struct step_error *err);

/* Reads the verdict of a started container once its handshake_fd is readable: 0 when its argv
 * is executing (start_time is set, handshake_fd closed); -1 with the child's failed step, after
 * undoing the launch as spawn_container_undo() does. */
int spawn_container_result(struct spawned_container *c, struct step_error *err);

/* Abandons a started container: kills and reaps the child (its mounts die with its mount
 * namespace), removes its cgroups, closes its fds. */
void spawn_container_undo(struct spawned_container *c);

/* Reads a process's start time from /proc/<pid>/stat; 0 when the process is gone or a zombie. */
unsigned long long process_start_time(pid_t pid);

#endif
