/* Files the launcher keeps in each container's directory, read by TypeScript after a restart. */
#ifndef NAGAYA_STATE_FILES_H
#define NAGAYA_STATE_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroups.h"

/* Writes state.json: who the container's init is (pid plus start time), who launched it, and
 * its cgroups, so a restarted launcher can find them again. */
int write_state_file(const char *container_dir, const char *id, pid_t pid, unsigned long long start_time,
                     const struct container_cgroups *cg);

/* Reads back what write_state_file wrote; -1 if there is no usable state.json. */
int read_state_file(const char *container_dir, pid_t *pid, unsigned long long *start_time,
                    struct container_cgroups *cg);

/* Writes exit.json: how the container's init ended. exit_code < 0 means killed by signal. */
int write_exit_file(const char *container_dir, const char *id, int exit_code, int signal_number, bool oom_killed,
                    bool lost);

/* Milliseconds since the epoch. */
int64_t wall_clock_ms(void);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t monotonic_ms(void);

#endif
