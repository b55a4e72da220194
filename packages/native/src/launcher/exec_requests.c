/* exec requests: a session started in a running container, answered when it ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replies.h"
#include "requests.h"
#include "state_files.h"
#include "syscalls.h"

#define DEFAULT_OUTPUT_LIMIT (1024 * 1024)

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
  int64_t limit, timeout_ms, run_uid, run_gid;
  if (request_i64(m, "output_limit", DEFAULT_OUTPUT_LIMIT, 0, INT64_MAX, &limit, &err) < 0 ||
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
  snprintf(p->req, sizeof p->req, "%s", req);
  p->deadline_ms = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
  if (add_exec(p) < 0) {
    step_fail(&err, "exec", "epoll_ctl", errno);
    abandon_exec(p);
    reply_error(c, req, &err);
  }
}

void complete_exec(struct pending_exec *p) {
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
