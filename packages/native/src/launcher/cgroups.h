/* Per-container cgroups for memory, pids, cpu and cpu accounting: v1 controllers or a pure v2 hierarchy. */
#ifndef NAGAYA_CGROUPS_H
#define NAGAYA_CGROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "launch_spec.h"

#define CGROUP_SLOTS 4 /* v1: memory, pids, cpu, cpuacct; v2: one unified directory */

struct container_cgroups {
  bool v2;
  int count;
  char dirs[CGROUP_SLOTS][512];
};

/* Detects the cgroup layout and prepares this launcher's subtree, nagaya/<hash of state_dir>,
 * so launchers of different state directories never collide on a container id. */
int cgroups_init(const char *state_dir, struct step_error *err);

/* Removes this launcher's (empty) subtree directories at shutdown. */
void cgroups_shutdown(void);

/* Creates the container's cgroups and writes the spec's limits. Every container has its pids
 * cgroup (launch requests always carry pids.max), and on v1 its memory and cpuacct cgroups where
 * those hierarchies exist, limited or not, so its usage can be read; cpu only when limited. */
int cgroups_create(const struct launch_spec *spec, struct container_cgroups *out, struct step_error *err);

/* Moves a process into every one of the container's cgroups. */
int cgroups_attach(const struct container_cgroups *cg, pid_t pid, struct step_error *err);

/* Tells whether the memory controller OOM-killed a process of the container. */
bool cgroups_oom_killed(const struct container_cgroups *cg);

/* Calls fn for each of this launcher's subtree roots (one per v1 controller, one on v2). */
void cgroups_each_root(void (*fn)(const char *root, void *arg), void *arg);

/* Removes the cgroups under this launcher's subtree whose container is not `alive` (a cgroup
 * that still holds a process is kept: rmdir refuses it). Calls removed() for each one removed. */
void cgroups_prune(bool (*alive)(const char *id), void (*removed)(const char *dir, void *arg), void *arg);

/* Gives a running container whose cgroups do not cap its pids (launched before every container
 * had its pids cgroup) a pids cgroup of its own with pids_max, and moves every process of it
 * there (init and its descendants). Nothing to do when one of its cgroups already caps them. */
int cgroups_bound_pids(const char *id, pid_t init, int64_t pids_max, struct container_cgroups *cg,
                       struct step_error *err);

/* Removes the container's (now empty) cgroups. */
void cgroups_remove(struct container_cgroups *cg);

#endif
