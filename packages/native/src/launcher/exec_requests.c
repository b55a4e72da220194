/* exec requests: a session started in a running container, answered when it ends; or, for an
 * interactive one, answered at once, its output sent as exec-output events as it comes, its
 * input taken from exec-input requests, and its end sent as an exec-exit event. Every event
 * goes to the client that started it only; a client that leaves takes its sessions with it. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "replies.h"
#include "requests.h"
#include "state_files.h"
#include "syscalls.h"

#define DEFAULT_OUTPUT_LIMIT (1024 * 1024)
/* What one exec-output event carries at most, and how many a readable fd sends before others get a turn. */
#define OUTPUT_CHUNK (60 * 1024)
#define OUTPUT_CHUNKS_PER_TURN 4
/* Unsent bytes in the client's socket past which an interactive session's output waits (the client is slow). */
#define CLIENT_BACKLOG_LIMIT (4 * 1024 * 1024)
#define OUTPUT_PAUSE_MS 20
/* What an interactive session's stdin may have waiting; past it exec-input is refused (EAGAIN): wait for the ok. */
#define INPUT_BACKLOG_LIMIT (1024 * 1024)

/* An exec session that cannot be watched is killed and reaped at once: nobody would see it end. */
static void abandon_exec(struct pending_exec *p) {
  sys_pidfd_send_signal(p->session.pidfd, SIGKILL);
  int exit_code, signal_number;
  struct step_error ignored;
  exec_session_finish(&p->session, &exit_code, &signal_number, &ignored);
  exec_session_free(&p->session);
  free(p);
}

void handle_exec(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  if (k == NULL) {
    step_fail(&err, "exec", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  int64_t limit, timeout_ms, run_uid, run_gid, interactive, tty, rows, cols;
  if (request_i64(m, "interactive", 0, 0, 1, &interactive, &err) < 0 ||
      request_i64(m, "tty", 0, 0, 1, &tty, &err) < 0 || request_i64(m, "rows", 24, 1, 65535, &rows, &err) < 0 ||
      request_i64(m, "cols", 80, 1, 65535, &cols, &err) < 0 ||
      request_i64(m, "output_limit", DEFAULT_OUTPUT_LIMIT, 0, INT64_MAX, &limit, &err) < 0 ||
      request_i64(m, "timeout_ms", 0, 0, MAX_TIMEOUT_MS, &timeout_ms, &err) < 0 ||
      request_i64(m, "run_uid", 0, 0, 65535, &run_uid, &err) < 0 ||
      request_i64(m, "run_gid", 0, 0, 65535, &run_gid, &err) < 0) {
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
  er.run_uid = (uid_t)run_uid;
  er.run_gid = (gid_t)run_gid;
  er.interactive = interactive || tty;
  er.tty = tty;
  er.rows = (unsigned short)rows;
  er.cols = (unsigned short)cols;
  char **exes = message_list(m, "exe", &exe_count);
  if (exe_count > MAX_EXEC_CANDIDATES) exe_count = MAX_EXEC_CANDIDATES;
  for (int i = 0; i < exe_count; i++) er.exec_candidates[i] = exes[i];
  free(exes);

  struct pending_exec *p = calloc(1, sizeof *p);
  if (p == NULL) abort();
  int rc = exec_session_start(&p->session, &er, k->proc.pidfd, &k->proc.cgroups, (size_t)limit, &err);
  free(er.argv);
  free(er.envp);
  if (rc < 0) {
    free(p);
    reply_error(c, req, &err);
    return;
  }
  p->client_serial = c->serial;
  p->interactive = er.interactive;
  snprintf(p->req, sizeof p->req, "%s", req);
  p->deadline_ms = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
  if (add_exec(p) < 0) {
    step_fail(&err, "exec", "epoll_ctl", errno);
    abandon_exec(p);
    reply_error(c, req, &err);
    return;
  }
  if (p->interactive) reply_ok(c, req); /* its output follows as events naming req */
}

static struct pending_exec *find_interactive(const struct client *c, const char *session) {
  if (session == NULL) return NULL;
  for (struct pending_exec *p = execs; p; p = p->next)
    if (p->interactive && !p->done && !p->abandoned && p->client_serial == c->serial && strcmp(p->req, session) == 0)
      return p;
  return NULL;
}

static struct watch *output_watch(struct pending_exec *p, enum exec_output which) {
  return which == EXEC_STDOUT ? &p->stdout_watch : &p->stderr_watch;
}

static int output_fd(const struct pending_exec *p, enum exec_output which) {
  return which == EXEC_STDOUT ? p->session.stdout_fd : p->session.stderr_fd;
}

/* Reads and sends up to `chunks` chunks; true once the stream is at its end (EIO: a pty nobody holds). */
static bool send_output(struct pending_exec *p, enum exec_output which, struct client *c, int chunks) {
  char chunk[OUTPUT_CHUNK];
  for (int i = 0; i < chunks; i++) {
    ssize_t n = read(output_fd(p, which), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno == EIO)) return true;
    if (n < 0) return false;
    struct reply r = {0};
    reply_add(&r, "type", "exec-output");
    reply_add(&r, "session", p->req);
    reply_add(&r, "stream", which == EXEC_STDOUT ? "stdout" : "stderr");
    reply_payload(&r, chunk, (size_t)n);
    send_to(c, &r);
    reply_free(&r);
  }
  return false;
}

void relay_exec_output(struct pending_exec *p, enum exec_output which) {
  struct client *c = client_by_serial(p->client_serial);
  if (c == NULL || c->closed) return; /* prune() abandons it */
  int unsent = 0;
  if (ioctl(c->fd, SIOCOUTQ, &unsent) == 0 && unsent > CLIENT_BACKLOG_LIMIT) {
    unwatch_fd(&p->stdout_watch);
    unwatch_fd(&p->stderr_watch);
    p->output_paused_until_ms = monotonic_ms() + OUTPUT_PAUSE_MS;
    return;
  }
  if (send_output(p, which, c, OUTPUT_CHUNKS_PER_TURN)) {
    p->output_eof[which] = true;
    unwatch_fd(output_watch(p, which));
  }
}

void resume_exec_output(struct pending_exec *p) {
  p->output_paused_until_ms = 0;
  if (!p->output_eof[EXEC_STDOUT] && p->stdout_watch.fd < 0 && p->session.stdout_fd >= 0)
    watch_fd(&p->stdout_watch, WATCH_EXEC_STDOUT, p->session.stdout_fd, p);
  if (!p->output_eof[EXEC_STDERR] && p->stderr_watch.fd < 0 && p->session.stderr_fd >= 0)
    watch_fd(&p->stderr_watch, WATCH_EXEC_STDERR, p->session.stderr_fd, p);
}

static void close_stdin(struct pending_exec *p) {
  unwatch_fd(&p->stdin_watch);
  if (p->session.stdin_fd >= 0) close(p->session.stdin_fd);
  p->session.stdin_fd = -1;
  p->input_len = 0;
}

void feed_exec_input(struct pending_exec *p) {
  while (p->input_len > 0 && p->session.stdin_fd >= 0) {
    ssize_t n = write(p->session.stdin_fd, p->input, p->input_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (p->stdin_watch.fd < 0) watch_fd_writable(&p->stdin_watch, WATCH_EXEC_STDIN, p->session.stdin_fd, p);
      return;
    }
    if (n < 0) { /* nobody reads it any more: what waits is dropped */
      close_stdin(p);
      return;
    }
    memmove(p->input, p->input + n, p->input_len - (size_t)n);
    p->input_len -= (size_t)n;
  }
  unwatch_fd(&p->stdin_watch);
  /* EOF on a pty is the terminal's ^D, which the client sends itself: only a pipe is closed */
  if (p->close_stdin_when_written && !p->session.tty) close_stdin(p);
}

void handle_exec_input(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  struct pending_exec *p = find_interactive(c, message_get(m, "session"));
  int64_t eof;
  if (p == NULL) {
    step_fail(&err, "exec-input", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  if (request_i64(m, "eof", 0, 0, 1, &eof, &err) < 0) {
    reply_error(c, req, &err);
    return;
  }
  if (p->input_len + m->payload_len > INPUT_BACKLOG_LIMIT) {
    step_fail(&err, "exec-input", "write", EAGAIN);
    reply_error(c, req, &err);
    return;
  }
  if (p->session.stdin_fd >= 0 && m->payload_len > 0) {
    if (p->input_len + m->payload_len > p->input_cap) {
      size_t cap = p->input_cap ? p->input_cap : 4096;
      while (cap < p->input_len + m->payload_len) cap *= 2;
      p->input = realloc(p->input, cap);
      if (p->input == NULL) abort();
      p->input_cap = cap;
    }
    memcpy(p->input + p->input_len, m->payload, m->payload_len);
    p->input_len += m->payload_len;
  }
  if (eof) p->close_stdin_when_written = true;
  feed_exec_input(p);
  reply_ok(c, req);
}

void handle_exec_resize(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  struct pending_exec *p = find_interactive(c, message_get(m, "session"));
  int64_t rows, cols;
  if (p == NULL) {
    step_fail(&err, "exec-resize", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  if (request_i64(m, "rows", 0, 1, 65535, &rows, &err) < 0 || request_i64(m, "cols", 0, 1, 65535, &cols, &err) < 0) {
    reply_error(c, req, &err);
    return;
  }
  if (exec_session_resize(&p->session, (unsigned short)rows, (unsigned short)cols) < 0) {
    step_fail(&err, "exec-resize", "ioctl(TIOCSWINSZ)", errno);
    reply_error(c, req, &err);
    return;
  }
  reply_ok(c, req);
}

void handle_exec_kill(struct client *c, const char *req, const struct message *m) {
  struct step_error err = {0};
  struct pending_exec *p = find_interactive(c, message_get(m, "session"));
  if (p == NULL) {
    step_fail(&err, "exec-kill", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  abandon_interactive_exec(p);
  reply_ok(c, req);
}

void abandon_interactive_exec(struct pending_exec *p) {
  if (p->abandoned) return;
  p->abandoned = true;
  /* the helper's death kills the command (PDEATHSIG); the pty's hangup reaches what it started */
  sys_pidfd_send_signal(p->session.pidfd, SIGKILL);
  close_stdin(p);
  unwatch_fd(&p->stdout_watch);
  unwatch_fd(&p->stderr_watch);
  int *fds[] = {&p->session.stdout_fd, &p->session.stderr_fd};
  for (int i = 0; i < 2; i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
}

static void complete_interactive_exec(struct pending_exec *p) {
  struct client *c = client_by_serial(p->client_serial);
  unwatch_exec(p);
  /* what the command wrote before it ended, whatever the client's backlog */
  for (int which = EXEC_STDOUT; which <= EXEC_STDERR; which++)
    if (c != NULL && output_fd(p, which) >= 0 && !p->output_eof[which]) send_output(p, which, c, INT32_MAX);
  int exit_code = -1, signal_number = 0;
  struct step_error err = {0};
  struct reply r = {0};
  reply_add(&r, "type", "exec-exit");
  reply_add(&r, "session", p->req);
  if (exec_session_finish(&p->session, &exit_code, &signal_number, &err) < 0) {
    reply_add(&r, "step", err.step);
    reply_add(&r, "syscall", err.syscall);
    reply_addf(&r, "errno", "%d", err.err);
  } else {
    reply_addf(&r, "exit_code", "%d", exit_code);
    reply_addf(&r, "signal", "%d", signal_number);
    reply_addf(&r, "timed_out", "%d", p->timed_out ? 1 : 0);
  }
  send_to(c, &r);
  reply_free(&r);
  exec_session_free(&p->session);
  p->done = true;
}

void complete_exec(struct pending_exec *p) {
  if (p->interactive) {
    complete_interactive_exec(p);
    return;
  }
  int exit_code = -1, signal_number = 0;
  struct step_error err = {0};
  struct client *c = client_by_serial(p->client_serial);
  unwatch_exec(p); /* before exec_session_free closes its fds */
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
