/* The forked daemon: takes the state directory's lock, sets up, recovers, then runs the loop. */
#ifndef NAGAYA_DAEMON_H
#define NAGAYA_DAEMON_H

/* Reports readiness (or why not) on ready_fd; returns the daemon's exit status. */
int daemon_main(const char *state_dir, int ready_fd);

#endif
