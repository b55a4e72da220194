/* Files the launcher keeps in each container's directory, read by TypeScript after a restart. */
#ifndef NAGAYA_STATE_FILES_H
#define NAGAYA_STATE_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes state.json: who the container's init is (pid plus start time) and who launched it. */
int write_state_file(const char *container_dir, const char *id, pid_t pid, unsigned long long start_time);

/* Writes exit.json: how the container's init ended. exit_code < 0 means killed by signal. */
int write_exit_file(const char *container_dir, const char *id, int exit_code, int signal_number, bool oom_killed,
                    bool lost);

/* Milliseconds since the epoch. */
int64_t wall_clock_ms(void);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t monotonic_ms(void);

#endif
