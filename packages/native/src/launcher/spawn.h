/* Parent side of a container launch: clone, id maps, idmapped image, handshake. */
#ifndef NAGAYA_SPAWN_H
#define NAGAYA_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#include "cgroups.h"
#include "launch_spec.h"

struct spawned_container {
  pid_t pid;
  int pidfd;
  unsigned long long start_time; /* field 22 of /proc/<pid>/stat, in clock ticks since boot */
  struct container_cgroups cgroups;
};

/* Launches the container described by spec; on failure nothing it created is left behind. */
int spawn_container(struct launch_spec *spec, struct spawned_container *out, struct step_error *err);

/* Reads a process's start time from /proc/<pid>/stat; 0 when the process is gone or a zombie. */
unsigned long long process_start_time(pid_t pid);

#endif
