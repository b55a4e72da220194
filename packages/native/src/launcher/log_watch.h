/* Keeps each container's console log watched (see console_log.h), pausing after every event. */
#ifndef NAGAYA_LOG_WATCH_H
#define NAGAYA_LOG_WATCH_H

#include "registry.h"

void watch_log(struct container *k, const char *path);

/* console_logs_drain's callback: rotates the log of watch wd and pauses its watch. */
void rotate_watched(int wd, void *arg);

void check_all_logs(void);

#endif
