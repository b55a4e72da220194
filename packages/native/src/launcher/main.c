/* nagaya-launcher: a tiny single-threaded daemon, one per state directory, that launches
 * containers on request, owns them as their parent (and subreaper), watches their pidfds and
 * records their exit in the state directory. Node talks to it over <state>/launcher.sock, so the
 * Node process is never forked on the launch path and containers outlive it.
 *
 * Usage: nagaya-launcher --state-dir DIR [--console-log-max BYTES]
 * The invoked process forks the daemon and exits once the socket is listening: 0 ready,
 * 3 another launcher already serves DIR, 1 failure (reason on stderr). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups.h"
#include "confinement.h"
#include "console_log.h"
#include "errors.h"
#include "exec_session.h"
#include "launch_request.h"
#include "protocol.h"
#include "spawn.h"
#include "state_files.h"
#include "syscalls.h"

#define DEFAULT_OUTPUT_LIMIT (1024 * 1024)
#define CLIENT_SNDBUF (16 * 1024 * 1024)

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

static struct client *clients;
static struct container *containers;
static struct pending_exec *execs;
static unsigned long next_client_serial = 1;
static bool shutting_down;
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* ---- replies --------------------------------------------------------------------------- */

static void send_to(struct client *c, const struct reply *r) {
  if (c == NULL || c->closed) return;
  if (send(c->fd, r->buf, r->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) c->closed = true; /* slow or gone */
}

static struct client *client_by_serial(unsigned long serial) {
  for (struct client *c = clients; c; c = c->next)
    if (c->serial == serial) return c;
  return NULL;
}

static void reply_error(struct client *c, const char *req, const struct step_error *err) {
  struct reply r = {0};
  reply_add(&r, "type", "error");
  reply_add(&r, "req", req);
  reply_add(&r, "step", err->step);
  reply_add(&r, "syscall", err->syscall);
  reply_addf(&r, "errno", "%d", err->err);
  send_to(c, &r);
  reply_free(&r);
}

static void reply_ok(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "ok");
  reply_add(&r, "req", req);
  send_to(c, &r);
  reply_free(&r);
}

static void broadcast(const struct reply *r) {
  for (struct client *c = clients; c; c = c->next) send_to(c, r);
}

/* ---- containers ------------------------------------------------------------------------ */

static struct container *find_container(const char *id) {
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && strcmp(k->id, id) == 0) return k;
  return NULL;
}

/* Watches a container's console log from now on (and rotates it at once if it is already full). */
static void watch_log(struct container *k, const char *path) {
  k->log_path = strdup(path);
  k->log_wd = console_log_watch(path);
}

/* A container (or launch) is over: its log is checked one last time (no writer is left), no more
 * watched; prune() frees it. */
static void mark_exited(struct container *k) {
  if (k->log_path != NULL) console_log_rotate_if_full(k->log_path);
  console_log_unwatch(k->log_wd);
  k->log_wd = -1;
  k->log_rewatch_at = 0;
  k->exited = true;
}

/* Reaps an exited container, records how it ended, removes its cgroups, tells every client. */
static void finish_container(struct container *k) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  int exit_code = -1, signal_number = 0;
  if (!k->orphan) {
    if (waitid(P_PIDFD, (id_t)k->proc.pidfd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0) return;
    exit_code = info.si_code == CLD_EXITED ? info.si_status : -1;
    signal_number = info.si_code == CLD_EXITED ? 0 : info.si_status;
  }
  bool oom = cgroups_oom_killed(&k->proc.cgroups);
  write_exit_file(k->dir, k->id, exit_code, signal_number, oom, k->orphan);
  close(k->proc.pidfd);
  k->proc.pidfd = -1;
  mark_exited(k);

  struct reply r = {0};
  reply_add(&r, "type", "exit");
  reply_add(&r, "id", k->id);
  reply_addf(&r, "pid", "%d", k->proc.pid);
  reply_addf(&r, "exit_code", "%d", exit_code);
  reply_addf(&r, "signal", "%d", signal_number);
  reply_addf(&r, "oom", "%d", oom ? 1 : 0);
  reply_addf(&r, "lost", "%d", k->orphan ? 1 : 0);
  broadcast(&r);
  reply_free(&r);
  /* After the reply: the last task can linger in the cgroup for a few ms after its pidfd reports
   * the exit (rmdir says EBUSY and is retried), and no client should wait for that. No request is
   * read before this returns, so nothing sees the exit without the removal having been done. */
  cgroups_remove(&k->proc.cgroups);
}

static void handle_launch(struct client *c, const char *req, const struct message *m) {
  struct launch_spec spec;
  struct step_error err = {0};
  if (launch_spec_from_message(m, &spec, &err) < 0) goto fail;
  if (shutting_down) {
    step_fail(&err, "launch", "shutdown", ESHUTDOWN);
    goto fail;
  }
  if (find_container(spec.id) != NULL) { /* running, or still launching */
    step_fail(&err, "launch", "lookup", EEXIST);
    goto fail;
  }
  /* A launch starts a new run: the records of an earlier one go, including an exit.json a
   * restarted launcher wrote for a half-launch after the client had cleared them. */
  remove_run_records(spec.container_dir);
  struct container *k = calloc(1, sizeof *k);
  if (k == NULL) abort();
  if (spawn_container(&spec, &k->proc, &err) < 0) {
    remove_launching_file(spec.container_dir); /* the child, if there was one, is gone */
    free(k);
    goto fail;
  }
  /* The child now sets itself up on its own; the loop answers when its handshake says how it went. */
  k->id = strdup(spec.id);
  k->dir = strdup(spec.container_dir);
  k->nesting = spec.nesting;
  watch_log(k, spec.log_path);
  k->launching = true;
  k->launch_client = c->serial;
  snprintf(k->launch_req, sizeof k->launch_req, "%s", req);
  k->next = containers;
  containers = k;
  launch_spec_free(&spec);
  return;
fail:
  launch_spec_free(&spec);
  reply_error(c, req, &err);
}

static void handle_message(struct client *c, const char *raw, size_t len);

/* Answers what was asked about a container while it was launching, in the order it was asked:
 * as if the requests had queued behind the launch (they did, when launches were synchronous).
 * A client that disconnected meanwhile still has its requests carried out, unanswered. */
static void replay_deferred(struct container *k) {
  while (k->deferred != NULL) {
    struct deferred_request *d = k->deferred;
    k->deferred = d->next;
    struct client gone = {.fd = -1, .serial = d->client_serial, .closed = true};
    struct client *c = client_by_serial(d->client_serial);
    handle_message(c != NULL ? c : &gone, d->buf, d->len);
    free(d);
  }
}

/* Finishes a launch whose child reported (or, with `cancelled`, abandons it): records and
 * answers it exactly as a synchronous launch did, or undoes it and answers the error. */
static void complete_launch(struct container *k, const struct step_error *cancelled) {
  struct step_error err = {0};
  struct client *c = client_by_serial(k->launch_client); /* NULL once it disconnected */
  k->launching = false;
  int rc;
  if (cancelled != NULL) {
    spawn_container_undo(&k->proc);
    err = *cancelled;
    rc = -1;
  } else {
    rc = spawn_container_result(&k->proc, &err);
  }
  if (rc < 0) {
    mark_exited(k); /* never ran: no state.json, nothing to report but the error */
    remove_launching_file(k->dir);
    reply_error(c, k->launch_req, &err);
  } else {
    write_state_file(k->dir, k->id, k->proc.pid, k->proc.start_time, &k->proc.cgroups, k->nesting);
    remove_launching_file(k->dir); /* state.json now says who it is */
    struct reply r = {0};
    reply_add(&r, "type", "launched");
    reply_add(&r, "req", k->launch_req);
    reply_addf(&r, "pid", "%d", k->proc.pid);
    reply_addf(&r, "start_time", "%llu", k->proc.start_time);
    send_to(c, &r);
    reply_free(&r);
  }
  replay_deferred(k);
}

/* Keeps a request about a launching container until its launch is answered. */
static void defer_request(struct container *k, struct client *c, const char *raw, size_t len) {
  struct deferred_request *d = malloc(sizeof *d + len);
  if (d == NULL) abort();
  d->client_serial = c->serial;
  d->len = len;
  d->next = NULL;
  memcpy(d->buf, raw, len);
  struct deferred_request **tail = &k->deferred;
  while (*tail != NULL) tail = &(*tail)->next;
  *tail = d;
}

static void handle_signal(struct client *c, const char *req, const struct message *m, bool is_stop) {
  struct step_error err = {0};
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  if (k == NULL) {
    step_fail(&err, is_stop ? "stop" : "kill", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  if (is_stop) {
    const char *timeout = message_get(m, "timeout_ms");
    long long ms = timeout ? atoll(timeout) : 10000;
    /* pid 1 ignores signals it has no handler for, so SIGTERM may do nothing: escalate. */
    sys_pidfd_send_signal(k->proc.pidfd, ms > 0 ? SIGTERM : SIGKILL);
    int64_t deadline = monotonic_ms() + (ms > 0 ? ms : 0);
    if (k->kill_at_ms == 0 || deadline < k->kill_at_ms) k->kill_at_ms = deadline;
  } else {
    const char *sig = message_get(m, "signal");
    if (sys_pidfd_send_signal(k->proc.pidfd, sig ? atoi(sig) : SIGKILL) < 0) {
      step_fail(&err, "kill", "pidfd_send_signal", errno);
      reply_error(c, req, &err);
      return;
    }
  }
  reply_ok(c, req);
}

static void handle_exec(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  if (k == NULL) {
    step_fail(&err, "exec", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  struct exec_request er;
  memset(&er, 0, sizeof er);
  int exe_count = 0;
  er.argv = message_list(m, "argv", NULL);
  er.envp = message_list(m, "env", NULL);
  er.cwd = message_get(m, "cwd") ? message_get(m, "cwd") : "/";
  er.nesting = k->nesting;
  char **exes = message_list(m, "exe", &exe_count);
  if (exe_count > MAX_EXEC_CANDIDATES) exe_count = MAX_EXEC_CANDIDATES;
  for (int i = 0; i < exe_count; i++) er.exec_candidates[i] = exes[i];
  free(exes);
  const char *limit_text = message_get(m, "output_limit");
  size_t limit = limit_text ? (size_t)atoll(limit_text) : DEFAULT_OUTPUT_LIMIT;
  const char *timeout = message_get(m, "timeout_ms");

  struct pending_exec *p = calloc(1, sizeof *p);
  if (p == NULL) abort();
  int rc = exec_session_start(&p->session, &er, k->proc.pidfd, &k->proc.cgroups, limit, &err);
  free(er.argv);
  free(er.envp);
  if (rc < 0) {
    free(p);
    reply_error(c, req, &err);
    return;
  }
  p->client_serial = c->serial;
  snprintf(p->req, sizeof p->req, "%s", req);
  long long ms = timeout ? atoll(timeout) : 0;
  p->deadline_ms = ms > 0 ? monotonic_ms() + ms : 0;
  p->next = execs;
  execs = p;
}

static void complete_exec(struct pending_exec *p) {
  int exit_code = -1, signal_number = 0;
  struct step_error err = {0};
  struct client *c = client_by_serial(p->client_serial);
  if (exec_session_finish(&p->session, &exit_code, &signal_number, &err) < 0) {
    reply_error(c, p->req, &err);
  } else {
    struct reply r = {0};
    reply_add(&r, "type", "exec-result");
    reply_add(&r, "req", p->req);
    reply_addf(&r, "exit_code", "%d", exit_code);
    reply_addf(&r, "signal", "%d", signal_number);
    reply_addf(&r, "timed_out", "%d", p->timed_out ? 1 : 0);
    reply_addf(&r, "stdout_len", "%zu", p->session.out.len);
    reply_addf(&r, "stderr_len", "%zu", p->session.err.len);
    reply_addf(&r, "truncated", "%d", p->session.out.truncated || p->session.err.truncated);
    reply_payload(&r, p->session.out.data ? p->session.out.data : "", p->session.out.len);
    reply_payload(&r, p->session.err.data ? p->session.err.data : "", p->session.err.len);
    send_to(c, &r);
    reply_free(&r);
  }
  exec_session_free(&p->session);
  p->done = true;
}

static void handle_list(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "list");
  reply_add(&r, "req", req);
  reply_addf(&r, "launcher_pid", "%d", getpid());
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && !k->launching) reply_addf(&r, "container", "%d %llu %s", k->proc.pid, k->proc.start_time, k->id);
  send_to(c, &r);
  reply_free(&r);
}

static void add_cgroup_root(const char *root, void *arg) { reply_add(arg, "cgroup_root", root); }

/* Where this launcher's containers get their cgroups (asked rarely: list replies stay small). */
static void handle_cgroup_roots(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "cgroup-roots");
  reply_add(&r, "req", req);
  cgroups_each_root(add_cgroup_root, &r);
  send_to(c, &r);
  reply_free(&r);
}

/* Caps the pids of a running container that has no pids bound of its own (see cgroups_bound_pids). */
static void handle_bound_pids(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  const char *id = message_get(m, "id");
  const char *pids = message_get(m, "pids");
  struct container *k = id ? find_container(id) : NULL;
  long long max = pids ? atoll(pids) : 0;
  if (k == NULL || k->launching) step_fail(&err, "bound-pids", "lookup", ESRCH);
  else if (max <= 0) step_fail(&err, "parse-request", "pids", EINVAL);
  if (err.err != 0 || cgroups_bound_pids(k->id, k->proc.pid, max, &k->proc.cgroups, &err) < 0) {
    reply_error(c, req, &err);
    return;
  }
  write_state_file(k->dir, k->id, k->proc.pid, k->proc.start_time, &k->proc.cgroups, k->nesting);
  reply_ok(c, req);
}

static bool has_container(const char *id) { return find_container(id) != NULL; }

static void add_removed(const char *dir, void *arg) {
  if (arg != NULL) reply_add(arg, "removed", dir);
}

/* Removes cgroups no container of ours owns (left by a launcher that died before removing them).
 * Done here, not by the client: between our mkdir and attach of a launch nobody else may rmdir. */
static void handle_prune_cgroups(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "pruned");
  reply_add(&r, "req", req);
  cgroups_prune(has_container, add_removed, &r);
  send_to(c, &r);
  reply_free(&r);
}

static void handle_shutdown(struct client *c, const char *req) {
  shutting_down = true;
  struct step_error cancelled;
  step_fail(&cancelled, "launch", "shutdown", ESHUTDOWN);
  for (struct container *k = containers; k; k = k->next) {
    /* A launching child is abandoned, not killed and then reported as an exited container. */
    if (k->launching) complete_launch(k, &cancelled);
    else if (!k->exited) sys_pidfd_send_signal(k->proc.pidfd, SIGKILL);
  }
  reply_ok(c, req);
}

/* Stop, kill and exec name a container; one still launching gets them once it is answered. */
static bool defers_until_launched(struct client *c, const char *op, const struct message *m, const char *raw,
                                  size_t len) {
  if (strcmp(op, "stop") != 0 && strcmp(op, "kill") != 0 && strcmp(op, "exec") != 0) return false;
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  if (k == NULL || !k->launching) return false;
  defer_request(k, c, raw, len);
  return true;
}

static void handle_message(struct client *c, const char *raw, size_t len) {
  /* Parsing splits fields in place: work on a copy so the request can be kept as received. */
  char *buf = malloc(len + 1);
  struct message *m = malloc(sizeof *m);
  if (buf == NULL || m == NULL) abort();
  memcpy(buf, raw, len);
  buf[len] = '\0';
  if (message_parse(buf, len, m) < 0) goto done;
  const char *op = message_get(m, "op");
  const char *req = message_get(m, "req");
  if (req == NULL) req = "0";
  if (op == NULL) op = "";
  if (defers_until_launched(c, op, m, raw, len)) goto done;
  if (strcmp(op, "launch") == 0) handle_launch(c, req, m);
  else if (strcmp(op, "stop") == 0) handle_signal(c, req, m, true);
  else if (strcmp(op, "kill") == 0) handle_signal(c, req, m, false);
  else if (strcmp(op, "exec") == 0) handle_exec(c, req, m);
  else if (strcmp(op, "list") == 0) handle_list(c, req);
  else if (strcmp(op, "cgroup-roots") == 0) handle_cgroup_roots(c, req);
  else if (strcmp(op, "prune-cgroups") == 0) handle_prune_cgroups(c, req);
  else if (strcmp(op, "bound-pids") == 0) handle_bound_pids(c, req, m);
  else if (strcmp(op, "shutdown") == 0) handle_shutdown(c, req);
  else {
    struct step_error err;
    step_fail(&err, "request", op, EOPNOTSUPP);
    reply_error(c, req, &err);
  }
done:
  free(m);
  free(buf);
}

/* ---- event loop ------------------------------------------------------------------------- */

static void read_client(struct client *c) {
  for (;;) {
    char probe;
    ssize_t size = recv(c->fd, &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (size < 0 && errno == EINTR) continue;
    if (size < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (size <= 0) {
      c->closed = true;
      return;
    }
    char *buf = malloc((size_t)size + 1);
    if (buf == NULL) abort();
    ssize_t n = recv(c->fd, buf, (size_t)size, MSG_DONTWAIT);
    if (n > 0) {
      buf[n] = '\0';
      handle_message(c, buf, (size_t)n);
    }
    free(buf);
    if (n <= 0) return;
  }
}

static void accept_clients(int listen_fd) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    int size = CLIENT_SNDBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    c->fd = fd;
    c->serial = next_client_serial++;
    c->next = clients;
    clients = c;
  }
}

/* Reaps children that are neither containers nor exec helpers (orphans handed to us as subreaper). */
static void reap_strays(void) {
  for (;;) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0) return;
    bool ours = false;
    for (struct container *k = containers; k; k = k->next)
      if (!k->exited && k->proc.pid == info.si_pid) ours = true;
    for (struct pending_exec *p = execs; p; p = p->next)
      if (!p->done && p->session.pid == info.si_pid) ours = true;
    if (ours) return; /* its pidfd will report it */
    waitpid(info.si_pid, NULL, WNOHANG);
  }
}

static void prune(void) {
  for (struct client **pc = &clients; *pc;) {
    struct client *c = *pc;
    if (c->closed) {
      close(c->fd);
      *pc = c->next;
      free(c);
    } else pc = &c->next;
  }
  for (struct container **pk = &containers; *pk;) {
    struct container *k = *pk;
    if (k->exited) {
      *pk = k->next;
      free(k->id);
      free(k->dir);
      free(k->log_path);
      free(k);
    } else pk = &k->next;
  }
  for (struct pending_exec **pp = &execs; *pp;) {
    struct pending_exec *p = *pp;
    if (p->done) {
      *pp = p->next;
      free(p);
    } else pp = &p->next;
  }
}

/* A chatty container would wake us on every write: after an event its log is checked, then not
 * watched for LOG_PAUSE_MS (at most 1000 / LOG_PAUSE_MS wake-ups a second per log). */
#define LOG_PAUSE_MS 50

static void rotate_watched(int wd, void *arg) {
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
static void check_all_logs(void) {
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && k->log_path != NULL) console_log_rotate_if_full(k->log_path);
}

enum slot_kind { SLOT_LISTEN, SLOT_SIGNAL, SLOT_LOGS, SLOT_CLIENT, SLOT_LAUNCH, SLOT_CONTAINER, SLOT_EXEC_PID, SLOT_EXEC_OUT };
struct slot {
  enum slot_kind kind;
  void *item;
};

/* Wakes the loop now and then so an idle launcher notices its state directory was deleted. */
#define IDLE_CHECK_MS 5000

static int next_timeout_ms(void) {
  int64_t now = monotonic_ms(), nearest = now + IDLE_CHECK_MS;
  for (struct container *k = containers; k; k = k->next) {
    if (k->kill_at_ms && k->kill_at_ms < nearest) nearest = k->kill_at_ms;
    if (k->log_rewatch_at && k->log_rewatch_at < nearest) nearest = k->log_rewatch_at;
  }
  for (struct pending_exec *p = execs; p; p = p->next)
    if (p->deadline_ms && !p->timed_out && p->deadline_ms < nearest) nearest = p->deadline_ms;
  return nearest <= now ? 0 : (int)(nearest - now);
}

static void fire_deadlines(void) {
  int64_t now = monotonic_ms();
  for (struct container *k = containers; k; k = k->next) {
    if (k->kill_at_ms && k->kill_at_ms <= now) {
      sys_pidfd_send_signal(k->proc.pidfd, SIGKILL);
      k->kill_at_ms = 0;
    }
    if (k->log_rewatch_at && k->log_rewatch_at <= now && !k->exited) {
      k->log_rewatch_at = 0;
      k->log_wd = console_log_watch(k->log_path); /* checks it first: what it got meanwhile counts */
    }
  }
  for (struct pending_exec *p = execs; p; p = p->next)
    if (p->deadline_ms && !p->timed_out && p->deadline_ms <= now) {
      sys_pidfd_send_signal(p->session.pidfd, SIGKILL);
      p->timed_out = true;
    }
}

static int run_loop(int listen_fd, int signal_fd, int logs_fd) {
  int64_t logs_checked_at = monotonic_ms();
  size_t cap = 64;
  struct pollfd *fds = malloc(cap * sizeof *fds);
  struct slot *slots = malloc(cap * sizeof *slots);
  for (;;) {
    if (shutting_down && containers == NULL && execs == NULL) break;
    /* Nothing to watch and our socket is gone (state directory removed): nobody can reach us. */
    if (containers == NULL && execs == NULL && access(socket_path, F_OK) < 0) break;
    size_t n = 0, needed = 3;
    for (struct client *c = clients; c; c = c->next) needed++;
    for (struct container *k = containers; k; k = k->next) needed++;
    for (struct pending_exec *p = execs; p; p = p->next) needed += 3;
    if (needed > cap) {
      while (cap < needed) cap *= 2;
      fds = realloc(fds, cap * sizeof *fds);
      slots = realloc(slots, cap * sizeof *slots);
      if (fds == NULL || slots == NULL) abort();
    }
#define ADD(fd_, kind_, item_) \
  (fds[n] = (struct pollfd){.fd = (fd_), .events = POLLIN}, slots[n] = (struct slot){(kind_), (item_)}, n++)
    ADD(listen_fd, SLOT_LISTEN, NULL);
    ADD(signal_fd, SLOT_SIGNAL, NULL);
    ADD(logs_fd, SLOT_LOGS, NULL);
    for (struct client *c = clients; c; c = c->next) ADD(c->fd, SLOT_CLIENT, c);
    for (struct container *k = containers; k; k = k->next) {
      if (k->launching) ADD(k->proc.handshake_fd, SLOT_LAUNCH, k);
      else ADD(k->proc.pidfd, SLOT_CONTAINER, k);
    }
    for (struct pending_exec *p = execs; p; p = p->next) {
      ADD(p->session.pidfd, SLOT_EXEC_PID, p);
      ADD(p->session.stdout_fd, SLOT_EXEC_OUT, p);
      ADD(p->session.stderr_fd, SLOT_EXEC_OUT, p);
    }
#undef ADD
    int ready = poll(fds, n, next_timeout_ms());
    if (ready < 0 && errno != EINTR) return 1;
    fire_deadlines();
    if (monotonic_ms() - logs_checked_at >= IDLE_CHECK_MS) {
      check_all_logs();
      logs_checked_at = monotonic_ms();
    }
    if (ready <= 0) continue;
    for (size_t i = 0; i < n; i++) {
      if (fds[i].revents == 0) continue;
      switch (slots[i].kind) {
        case SLOT_LISTEN: accept_clients(listen_fd); break;
        case SLOT_SIGNAL: {
          struct signalfd_siginfo si;
          while (read(signal_fd, &si, sizeof si) == sizeof si) {}
          reap_strays();
          break;
        }
        case SLOT_LOGS: console_logs_drain(rotate_watched, NULL); break;
        case SLOT_CLIENT: {
          struct client *c = slots[i].item;
          if (!c->closed) read_client(c);
          if (fds[i].revents & (POLLHUP | POLLERR)) c->closed = true;
          break;
        }
        case SLOT_LAUNCH: {
          struct container *k = slots[i].item;
          if (k->launching) complete_launch(k, NULL); /* not if shutdown abandoned it meanwhile */
          break;
        }
        case SLOT_CONTAINER: {
          struct container *k = slots[i].item;
          if (!k->exited) finish_container(k);
          break;
        }
        case SLOT_EXEC_OUT: exec_session_drain(&((struct pending_exec *)slots[i].item)->session); break;
        case SLOT_EXEC_PID: {
          struct pending_exec *p = slots[i].item;
          if (!p->done) complete_exec(p);
          break;
        }
      }
    }
    prune();
  }
  return 0;
}

/* ---- start-up --------------------------------------------------------------------------- */

/* A pidfd for pid if it is still the process that started at start_time (checked again after
 * opening, in case the pid was reused in between); -1 if that process is gone. */
static int open_same_process(pid_t pid, unsigned long long start_time) {
  int pidfd = process_start_time(pid) == start_time ? sys_pidfd_open(pid) : -1;
  if (pidfd >= 0 && process_start_time(pid) != start_time) {
    close(pidfd);
    pidfd = -1;
  }
  return pidfd;
}

/* A child the last launcher cloned but never reported launched (it died in between): the launch
 * was not acknowledged, so it will be tried again, and the child must not live on beside the
 * next one as a second init of the same id and slice. Kill it, wait for it, record it as lost. */
static void abandon_half_launch(const char *container_dir, const char *id) {
  pid_t pid;
  unsigned long long start_time;
  struct container_cgroups cg;
  if (read_launching_file(container_dir, &pid, &start_time, &cg) < 0) return;
  int pidfd = open_same_process(pid, start_time);
  if (pidfd >= 0) {
    sys_pidfd_send_signal(pidfd, SIGKILL);
    struct pollfd exited = {.fd = pidfd, .events = POLLIN};
    poll(&exited, 1, 2000); /* not our child: no waitid, but the pidfd turns readable at exit */
    close(pidfd);
  }
  cgroups_remove(&cg);
  write_exit_file(container_dir, id, -1, SIGKILL, false, true);
  remove_launching_file(container_dir);
}

/* After a launcher restart: containers still alive (same pid and start time) are watched again
 * through a pidfd; they are no longer our children, so how they end is recorded as lost. Those
 * that died meanwhile get an exit.json saying so; half-launched ones are killed first. */
static void recover_containers(const char *state_dir) {
  char dir_path[4096];
  snprintf(dir_path, sizeof dir_path, "%s/containers", state_dir);
  DIR *dir = opendir(dir_path);
  if (dir == NULL) return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char container_dir[4400], exit_path[4500];
    snprintf(container_dir, sizeof container_dir, "%s/%s", dir_path, e->d_name);
    snprintf(exit_path, sizeof exit_path, "%s/exit.json", container_dir);
    pid_t pid;
    unsigned long long start_time;
    struct container_cgroups cg;
    bool nesting = false;
    bool has_state = read_state_file(container_dir, &pid, &start_time, &cg, &nesting) == 0;
    if (!has_state && access(exit_path, F_OK) != 0) {
      abandon_half_launch(container_dir, e->d_name); /* nothing to do without launching.json */
      continue;
    }
    remove_launching_file(container_dir); /* left by a launcher that died right after state.json */
    if (!has_state || access(exit_path, F_OK) == 0) continue;
    int pidfd = open_same_process(pid, start_time);
    if (pidfd < 0) {
      cgroups_remove(&cg);
      write_exit_file(container_dir, e->d_name, -1, 0, false, true);
      continue;
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    struct container *k = calloc(1, sizeof *k);
    if (k == NULL) abort();
    k->id = strdup(e->d_name);
    k->dir = strdup(container_dir);
    k->proc.pid = pid;
    k->proc.pidfd = pidfd;
    k->proc.handshake_fd = -1;
    k->proc.start_time = start_time;
    k->proc.cgroups = cg;
    k->orphan = true;
    k->nesting = nesting;
    char log_path[4500];
    snprintf(log_path, sizeof log_path, "%s/console.log", container_dir);
    watch_log(k, log_path);
    k->next = containers;
    containers = k;
  }
  closedir(dir);
}

static int open_listen_socket(const char *state_dir) {
  if ((size_t)snprintf(socket_path, sizeof socket_path, "%s/launcher.sock", state_dir) >= sizeof socket_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
  unlink(socket_path); /* a stale socket of a dead launcher: we hold the lock */
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(socket_path, 0600) < 0 || listen(fd, 64) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

static void report_ready(int ready_fd, char status, const char *what) {
  if (status != 0) {
    char text[512];
    int len = snprintf(text, sizeof text, "%c%s: %s", status, what, strerror(errno));
    ssize_t ignored = write(ready_fd, text, (size_t)len);
    (void)ignored;
  } else {
    ssize_t ignored = write(ready_fd, &status, 1);
    (void)ignored;
  }
}

static int daemon_main(const char *state_dir, int ready_fd) {
  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  if (chdir(state_dir) < 0) {
    report_ready(ready_fd, 1, "chdir state dir");
    return 1;
  }
  int lock_fd = open("launcher.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    report_ready(ready_fd, 1, "open launcher.lock");
    return 1;
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
    report_ready(ready_fd, errno == EWOULDBLOCK ? 3 : 1, "lock launcher.lock");
    return 1;
  }
  struct step_error err;
  if (cgroups_init(state_dir, &err) < 0) {
    errno = err.err;
    report_ready(ready_fd, 1, "cgroup init");
    return 1;
  }
  if (confinement_init() < 0) {
    report_ready(ready_fd, 1, "confinement init (capabilities, seccomp filters)");
    return 1;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  int listen_fd = open_listen_socket(state_dir);
  int logs_fd = console_logs_init();
  if (listen_fd < 0 || signal_fd < 0 || logs_fd < 0) {
    report_ready(ready_fd, 1, "listen on launcher.sock");
    return 1;
  }
  char pid_text[64];
  int len = snprintf(pid_text, sizeof pid_text, "%d %llu\n", getpid(), process_start_time(getpid()));
  int pid_fd = open("launcher.pid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (pid_fd >= 0) {
    ssize_t ignored = write(pid_fd, pid_text, (size_t)len);
    (void)ignored;
    close(pid_fd);
  }
  int log_fd = open("launcher.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) dup2(null_fd, 0);
  if (log_fd >= 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
  }
  recover_containers(state_dir);
  cgroups_prune(has_container, add_removed, NULL);
  report_ready(ready_fd, 0, NULL);
  close(ready_fd);
  int rc = run_loop(listen_fd, signal_fd, logs_fd);
  cgroups_shutdown();
  unlink(socket_path);
  unlink("launcher.pid");
  return rc;
}

int main(int argc, char **argv) {
  const char *state_dir = NULL;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--state-dir") == 0) state_dir = argv[i + 1];
    if (strcmp(argv[i], "--console-log-max") == 0) console_log_max_bytes = atoll(argv[i + 1]);
  }
  if (console_log_max_bytes < 4096) {
    fprintf(stderr, "nagaya-launcher: --console-log-max must be at least 4096\n");
    return 1;
  }
  if (state_dir == NULL || state_dir[0] != '/') {
    fprintf(stderr, "usage: nagaya-launcher --state-dir ABSOLUTE_DIR [--console-log-max BYTES]\n");
    return 1;
  }
  /* Whoever started us may have left fds open, signals ignored or blocked. */
  sys_close_range(3, ~0U, 0);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(ready[0]);
    _exit(daemon_main(state_dir, ready[1]));
  }
  close(ready[1]);
  char text[512];
  ssize_t n = read(ready[0], text, sizeof text - 1);
  if (n <= 0) {
    fprintf(stderr, "nagaya-launcher: daemon exited before it was ready\n");
    return 1;
  }
  text[n] = '\0';
  if (text[0] != 0) fprintf(stderr, "nagaya-launcher: %s\n", text + 1);
  return text[0];
}
