/* What the launcher daemon keeps track of: its clients, its containers (from their launch request
 * on) and the exec sessions under way. All of it is touched by the loop's one thread only. */
#ifndef NAGAYA_REGISTRY_H
#define NAGAYA_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec_session.h"
#include "spawn.h"

struct client {
  int fd;
  unsigned long serial;
  bool closed;
  struct client *next;
};

/* A stop, kill or exec that named a container still launching, kept as received. */
struct deferred_request {
  unsigned long client_serial;
  size_t len;
  struct deferred_request *next;
  char buf[];
};

/* A container is listed from its launch request on, so a second launch of its id is refused,
 * its child is never reaped as a stray, and shutdown finds it. While `launching`, its child is
 * still setting itself up: the loop polls proc.handshake_fd rather than proc.pidfd, and the
 * launch is answered from launch_client/launch_req when the verdict arrives. */
struct container {
  char *id;
  char *dir;
  struct spawned_container proc;
  int64_t kill_at_ms; /* SIGKILL deadline of a stop in progress; 0 = none */
  bool orphan;        /* found alive after a launcher restart: not our child, exit status unknowable */
  bool nesting;       /* security.nesting: exec sessions get the same seccomp filter as the init */
  bool launching;
  unsigned long launch_client;
  char launch_req[64];
  struct deferred_request *deferred; /* oldest first; replayed once the launch is answered */
  char *log_path;                    /* its console log, kept under console_log_max_bytes */
  int log_wd;                        /* inotify watch of log_path; -1 = none */
  int64_t log_rewatch_at;            /* when to watch log_path again after an event; 0 = not paused */
  bool exited;                       /* also set for a launch that failed: it is then dropped */
  struct container *next;
};

struct pending_exec {
  struct exec_session session;
  unsigned long client_serial;
  char req[64];
  int64_t deadline_ms;
  bool timed_out, done;
  struct pending_exec *next;
};

extern struct client *clients;
extern struct container *containers;
extern struct pending_exec *execs;
extern bool shutting_down;

/* The container of that id still running or launching; NULL if none. */
struct container *find_container(const char *id);

/* The client of that serial; NULL once it disconnected. */
struct client *client_by_serial(unsigned long serial);

void mark_exited(struct container *k);

/* Frees closed clients, exited containers and finished exec sessions. */
void prune(void);

#endif
