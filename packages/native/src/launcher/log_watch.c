/* Console logs under inotify watch, paused after every event. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "console_log.h"
#include "log_watch.h"
#include "state_files.h"
#include "syscalls.h"

/* Watches a container's console log from now on (and rotates it at once if it is already full). */
void watch_log(struct container *k, const char *path) {
  k->log_path = strdup(path);
  k->log_wd = console_log_watch(path);
}

/* A chatty container would wake us on every write: after an event its log is checked, then not
 * watched for LOG_PAUSE_MS (at most 1000 / LOG_PAUSE_MS wake-ups a second per log). */
#define LOG_PAUSE_MS 50

void rotate_watched(int wd, void *arg) {
  (void)arg;
  for (struct container *k = containers; k; k = k->next) {
    if (k->exited || k->log_wd != wd) continue;
    console_log_rotate_if_full(k->log_path);
    console_log_unwatch(k->log_wd);
    k->log_wd = -1;
    k->log_rewatch_at = monotonic_ms() + LOG_PAUSE_MS;
  }
}

/* The backstop of inotify (a watch it could not add, an event queue that overflowed). */
void check_all_logs(void) {
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && k->log_path != NULL) console_log_rotate_if_full(k->log_path);
}
