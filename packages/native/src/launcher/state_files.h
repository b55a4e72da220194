/* Files the launcher keeps in each container's directory, read by TypeScript after a restart. */
#ifndef NAGAYA_STATE_FILES_H
#define NAGAYA_STATE_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroups.h"

/* Writes state.json: who the container's init is (pid plus start time), who launched it, its
 * cgroups, whether it runs with security.nesting and when (monotonic_ms) its timeout kills it
 * (0: never), so a restarted launcher can find them again, confine exec sessions and re-arm the
 * timeout. */
int write_state_file(const char *container_dir, const char *id, pid_t pid, unsigned long long start_time,
                     const struct container_cgroups *cg, bool nesting, int64_t timeout_at_ms);

/* The run's timeout deadline state.json records (monotonic_ms); 0 when it has none. */
int64_t read_state_timeout(const char *container_dir);

/* Reads back what write_state_file wrote; -1 if there is no usable state.json. A record
 * without "nesting" (written before it existed) reads as false. */
int read_state_file(const char *container_dir, pid_t *pid, unsigned long long *start_time, struct container_cgroups *cg,
                    bool *nesting);

/* launching.json: the same record for a child cloned but not yet reported launched. A launcher
 * that dies in between leaves it behind, so the next one can kill that half-launched child: the
 * launch was never acknowledged and will be tried again, and two inits must never share an id. */
int write_launching_file(const char *container_dir, const char *id, pid_t pid, unsigned long long start_time,
                         const struct container_cgroups *cg, bool nesting);
int read_launching_file(const char *container_dir, pid_t *pid, unsigned long long *start_time,
                        struct container_cgroups *cg);
void remove_launching_file(const char *container_dir);

/* Removes state.json, exit.json, veth and captured output: a new run of the container begins. */
void remove_run_records(const char *container_dir);

/* What a run adds to its exit: whether its timeout killed it, how much output it wrote. */
struct run_outcome {
  bool timed_out;
  bool captured; /* stdout and stderr were captured: their totals below count every byte written */
  int64_t stdout_bytes, stderr_bytes;
};

/* Writes exit.json: how the container's init ended. exit_code < 0 means killed by signal; run
 * may be NULL (no timeout, no capture). */
int write_exit_file(const char *container_dir, const char *id, int exit_code, int signal_number, bool oom_killed,
                    bool lost, const struct run_outcome *run);

/* Milliseconds since the epoch. */
int64_t wall_clock_ms(void);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t monotonic_ms(void);

/* Records the name of the host end of the container's veth pair (file "veth"), so that a later
 * launcher can remove it once the container is gone; remove_run_records() drops it. */
int write_veth_file(const char *container_dir, const char *host_ifname);

/* Reads it back into out (16 bytes); -1 when there is none. */
int read_veth_file(const char *container_dir, char out[16]);

#endif
