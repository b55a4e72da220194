/* The requests clients send over launcher.sock: requests.c reads and dispatches them, the
 * handlers live with their topic (containers.c, exec_requests.c, cgroup_requests.c). */
#ifndef NAGAYA_REQUESTS_H
#define NAGAYA_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "protocol.h"
#include "registry.h"
#include "request_fields.h"

/* Handles one request as received (raw is not modified). */
void handle_message(struct client *c, const char *raw, size_t len);

/* containers.c */
void handle_launch(struct client *c, const char *req, const struct message *m);
void handle_signal(struct client *c, const char *req, const struct message *m, bool is_stop);
void handle_list(struct client *c, const char *req);
void handle_shutdown(struct client *c, const char *req);
/* Answers a launch once its child reported; `cancelled` abandons it with that error instead. */
void complete_launch(struct container *k, const struct step_error *cancelled);
void finish_container(struct container *k);

/* exec_requests.c */
void handle_exec(struct client *c, const char *req, const struct message *m);
void complete_exec(struct pending_exec *p);
/* Interactive sessions: bytes for stdin (eof=1 closes it once written), a pty's new size. */
void handle_exec_input(struct client *c, const char *req, const struct message *m);
void handle_exec_resize(struct client *c, const char *req, const struct message *m);
/* Kills an interactive session's command; its exec-exit event follows. */
void handle_exec_kill(struct client *c, const char *req, const struct message *m);
/* Sends what an interactive session's stdout or stderr has now as exec-output events. */
void relay_exec_output(struct pending_exec *p, enum exec_output which);
/* Writes what waits for an interactive session's stdin. */
void feed_exec_input(struct pending_exec *p);
/* Resumes reading output paused for a slow client. */
void resume_exec_output(struct pending_exec *p);

/* cgroup_requests.c */
void handle_cgroup_roots(struct client *c, const char *req);
void handle_bound_pids(struct client *c, const char *req, const struct message *m);
void handle_prune_cgroups(struct client *c, const char *req);
/* Removes cgroups no container owns, listing them in r as "removed" unless r is NULL. */
void prune_stray_cgroups(struct reply *r);

#endif
