/* What the launcher daemon keeps track of: its clients, its containers (from their launch request
 * on) and the exec sessions under way. All of it is touched by the loop's one thread only. */
#ifndef NAGAYA_REGISTRY_H
#define NAGAYA_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_set.h"
#include "exec_session.h"
#include "spawn.h"

struct client {
  int fd;
  unsigned long serial;
  bool closed;
  struct watch watch;
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
 * still setting itself up: the loop watches proc.handshake_fd (launch_watch), and the launch is
 * answered from launch_client/launch_req when the verdict arrives; from then on it watches
 * proc.pidfd (exit_watch). */
struct container {
  char *id;
  char *dir;
  struct spawned_container proc;
  int64_t kill_at_ms;       /* SIGKILL deadline of a stop in progress; 0 = none */
  int64_t running_since_ms; /* monotonic: when its argv began (the launch was answered); 0 = adopted */
  int64_t resend_at_ms;     /* when a stop signal sent in its first instant goes again; 0 = none */
  int resend_signal;
  bool has_init;               /* runs under tini (container_init.c): an early stop signal is sent again */
  int64_t timeout_ms;          /* a run's timeout, from its launch request; 0 = none */
  int64_t timeout_at_ms;       /* monotonic: when the run's timeout kills it; 0 = not armed */
  int64_t timeout_deadline_ms; /* the same deadline, kept after it fired: state.json records it for a successor */
  bool timed_out;              /* the timeout sent its SIGKILL */
  bool orphan;                 /* found alive after a launcher restart: not our child, exit status unknowable */
  bool nesting;                /* security.nesting: exec sessions get the same seccomp filter as the init */
  bool launching;
  unsigned long launch_client;
  char launch_req[64];
  struct deferred_request *deferred; /* oldest first; replayed once the launch is answered */
  char *log_path;                    /* its console log, kept under console_log_max_bytes */
  int log_wd;                        /* inotify watch of log_path; -1 = none */
  int64_t log_rewatch_at;            /* when to watch log_path again after an event; 0 = not paused */
  bool exited;                       /* also set for a launch that failed: it is then dropped */
  struct watch launch_watch, exit_watch;
  struct container *next;
};

struct pending_exec {
  struct exec_session session;
  unsigned long client_serial;
  char req[64]; /* an interactive session's id too: its events and its input name it */
  int64_t deadline_ms;
  bool timed_out, done;
  /* Interactive: output goes to the client as exec-output events as it comes, input comes in
   * exec-input requests and waits here for room in the command's stdin. */
  bool interactive, close_stdin_when_written, abandoned;
  bool output_eof[2]; /* by enum exec_output */
  char *input;
  size_t input_len, input_cap;
  /* Output is not read while the client's socket holds this much unread: a slow client slows the command. */
  int64_t output_paused_until_ms;
  struct watch pid_watch, stdout_watch, stderr_watch, stdin_watch;
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

/* Lists a new client and watches its socket; -1 with errno (nothing listed) if it cannot be watched. */
int add_client(struct client *c);

/* Lists a container and watches its handshake_fd while launching, else its pidfd; -1 with errno
 * (nothing listed) if the fd cannot be watched. */
int add_container(struct container *k);

/* A launch answered with success: the container's pidfd is watched instead of its handshake. */
int watch_container_exit(struct container *k);

/* Lists an exec session and watches its pidfd and output pipes; -1 with errno (nothing listed,
 * nothing watched) if they cannot be watched. */
int add_exec(struct pending_exec *p);

/* An interactive session's client left: kills the command, hangs its pty up (exec_requests.c). */
void abandon_interactive_exec(struct pending_exec *p);

/* Takes every fd of the exec session out of the loop's set, before the session is freed. */
void unwatch_exec(struct pending_exec *p);

void mark_exited(struct container *k);

/* Frees closed clients, exited containers and finished exec sessions. */
void prune(void);

#endif
