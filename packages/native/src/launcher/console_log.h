/* Capping each container's console log.
 * A container writes its console through an O_APPEND fd of its own (it outlives the launcher, so
 * the launcher cannot sit between it and the file). The launcher watches the files with inotify
 * and, as soon as one passes the limit, moves its older part to console.log.1 (replacing the one
 * before, itself cut to the limit) and keeps only the newest bytes in console.log. The older part
 * is cut off the front with FALLOC_FL_COLLAPSE_RANGE, done by the kernel under the inode lock
 * that appends take too: nothing written meanwhile is lost. Where the filesystem cannot collapse
 * (tmpfs, ...), it copies and truncates instead, which loses what is written between the two.
 * So that a chatty container does not wake the launcher on every write, a log that saw an event
 * is checked, then not watched for LOG_PAUSE_MS (50 ms), then checked and watched again.
 * How far a log overshoots: by what the container writes in those 50 ms plus one turn of the
 * launcher's loop (or in 5 s, IDLE_CHECK_MS, if inotify has no watch left); at rest, once the
 * launcher has looked again, it is within the limit.
 * Every look also dates the lines appended since the last one, in console.log.idx (console_index.h). */
#ifndef NAGAYA_CONSOLE_LOG_H
#define NAGAYA_CONSOLE_LOG_H

#include <stdint.h>

/* The launcher's limit (--console-log-max), or the default of 10 MiB. */
extern int64_t console_log_max_bytes;

/* The inotify fd the loop watches (non-blocking, close-on-exec); -1 on failure. */
int console_logs_init(void);

/* Watches a log for growth; returns the watch descriptor, or -1 (the periodic check still sees it). */
int console_log_watch(const char *path);

/* Stops watching a log. */
void console_log_unwatch(int wd);

/* Reads the inotify events queued and calls rotate(wd, arg) once per watch that saw a write. */
void console_logs_drain(void (*rotate)(int wd, void *arg), void *arg);

/* Rotates the log at path if it is larger than console_log_max_bytes. */
void console_log_rotate_if_full(const char *path);

#endif
