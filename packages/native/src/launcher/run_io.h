/* A run's stdio through the launcher: stdout and stderr captured apart into <container dir>/stdout
 * and <container dir>/stderr, each kept to its first `limit` bytes (the rest is read and counted,
 * never written, never buffered), and bytes fed to stdin from a file, then EOF.
 * The container writes into pipes the launcher drains from its loop, so it never blocks on a
 * reader that went away; stdin is written without blocking as the pipe has room, and what is
 * left when the container exits (or stops reading and closes it) is dropped.
 * A launcher restart loses both: the pipes' launcher ends die with it (the container then sees
 * EPIPE on output and EOF on stdin); what was captured so far stays in the files. */
#ifndef NAGAYA_RUN_IO_H
#define NAGAYA_RUN_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "event_set.h"
#include "launch_spec.h"

struct output_capture {
  int pipe_fd; /* read end, non-blocking; -1 once at EOF (or not capturing) */
  int file_fd; /* the capture file, 0600; -1 once closed */
  int64_t limit, kept, total;
  struct watch watch;
};

struct stdin_feed {
  int pipe_fd; /* write end, non-blocking; -1 once everything was written or nobody reads */
  int file_fd; /* what to deliver; -1 once closed */
  off_t offset;
  struct watch watch;
};

struct run_io {
  bool capture; /* stdout and stderr go to their own files, not to the console log */
  struct output_capture out, err;
  struct stdin_feed in;
};

/* The child's ends: what it installs as fds 0, 1 and 2. */
struct child_stdio {
  int in, out, err;
};

/* No capture, no feed: every fd -1. */
void run_io_init(struct run_io *io);

/* Sets up a launch's stdio: with spec->output_limit >= 0 two capture pipes and files, with
 * spec->stdin_path a feed pipe; the console log and /dev/null otherwise. Fills child with the
 * ends the child gets (log_fd and null_fd are the defaults, owned by the caller); the caller
 * closes the child's pipe ends with run_io_close_child_ends once it has cloned. */
int run_io_open(const struct launch_spec *spec, int log_fd, int null_fd, struct run_io *io, struct child_stdio *child,
                struct step_error *err);

/* Closes the pipe ends that belong to the child (not log_fd nor null_fd). */
void run_io_close_child_ends(const struct run_io *io, struct child_stdio *child);

/* Watches the launcher's ends once the argv runs; -1 with errno if one cannot be watched. */
int run_io_watch(struct run_io *io);

/* Reads whatever the pipe has into the file (up to its limit) without blocking; closes the pipe at EOF. */
void output_capture_drain(struct output_capture *c);

/* Writes to the container's stdin what the pipe takes without blocking; closes it once all is
 * written (EOF for the reader) or nobody reads any more. */
void stdin_feed_write(struct stdin_feed *f);

/* The container exited: drains what is left of its output, drops what its stdin did not take,
 * closes every fd (out of the loop's set first). */
void run_io_finish(struct run_io *io);

/* Closes every fd without draining: a launch that failed. */
void run_io_undo(struct run_io *io);

#endif
