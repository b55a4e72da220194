/* Requests about a container's life: launch (and its completion), stop, kill, list, shutdown;
 * and its end, reaped and reported to every client. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups.h"
#include "deferred.h"
#include "launch_request.h"
#include "log_watch.h"
#include "replies.h"
#include "requests.h"
#include "state_files.h"
#include "syscalls.h"

/* Reaps an exited container, records how it ended, removes its cgroups, tells every client. */
void finish_container(struct container *k) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  int exit_code = -1, signal_number = 0;
  if (!k->orphan) {
    if (waitid(P_PIDFD, (id_t)k->proc.pidfd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0) return;
    exit_code = info.si_code == CLD_EXITED ? info.si_status : -1;
    signal_number = info.si_code == CLD_EXITED ? 0 : info.si_status;
  }
  /* An orphan's status is unknowable, but a timeout of ours that killed it is not. */
  bool timed_out = k->timed_out && (k->orphan || signal_number == SIGKILL);
  bool lost = k->orphan && !timed_out;
  if (k->orphan && timed_out) signal_number = SIGKILL;
  bool oom = cgroups_oom_killed(&k->proc.cgroups);
  cgroups_remove(&k->proc.cgroups);
  /* exit.json is what readers trust to be final: the output is complete before it is written */
  run_io_finish(&k->proc.io);
  struct run_outcome run = {.timed_out = timed_out,
                            .captured = k->proc.io.capture,
                            .stdout_bytes = k->proc.io.out.total,
                            .stderr_bytes = k->proc.io.err.total};
  write_exit_file(k->dir, k->id, exit_code, signal_number, oom, lost, &run);
  unwatch_fd(&k->exit_watch);
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
  reply_addf(&r, "lost", "%d", lost ? 1 : 0);
  reply_addf(&r, "timed_out", "%d", timed_out ? 1 : 0);
  broadcast(&r);
  reply_free(&r);
  /* The veth pair goes with the container's netns, which died with its last process: the
   * kernel unregisters both ends from its netns cleanup work, batched and off this loop (a
   * synchronous RTM_DELLINK here would hold up every request behind it). A relaunch of the id
   * that comes first removes the stale link itself (veth_create). */
}

void handle_launch(struct client *c, const char *req, const struct message *m) {
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
  k->launching = true;
  if (add_container(k) < 0) { /* nobody would hear its verdict: undone at once */
    step_fail(&err, "launch", "epoll_ctl", errno);
    spawn_container_undo(&k->proc);
    remove_launching_file(spec.container_dir);
    free(k);
    goto fail;
  }
  /* The child now sets itself up on its own; the loop answers when its handshake says how it went. */
  k->id = strdup(spec.id);
  k->dir = strdup(spec.container_dir);
  k->nesting = spec.nesting;
  k->has_init = spec.init_host_path != NULL;
  k->timeout_ms = spec.timeout_ms;
  watch_log(k, spec.log_path);
  k->launch_client = c->serial;
  snprintf(k->launch_req, sizeof k->launch_req, "%s", req);
  launch_spec_free(&spec);
  return;
fail:
  launch_spec_free(&spec);
  reply_error(c, req, &err);
}

/* Finishes a launch whose child reported (or, with `cancelled`, abandons it): records and
 * answers it exactly as a synchronous launch did, or undoes it and answers the error. */
void complete_launch(struct container *k, const struct step_error *cancelled) {
  struct step_error err = {0};
  struct client *c = client_by_serial(k->launch_client); /* NULL once it disconnected */
  k->launching = false;
  unwatch_fd(&k->launch_watch); /* both ways below close the handshake */
  int rc;
  if (cancelled != NULL) {
    spawn_container_undo(&k->proc);
    err = *cancelled;
    rc = -1;
  } else {
    rc = spawn_container_result(&k->proc, &err);
  }
  if (rc == 0 && (watch_container_exit(k) < 0 || run_io_watch(&k->proc.io) < 0)) {
    /* nobody would see it end, or its output and stdin would go unserved: undone instead */
    step_fail(&err, "launch", "epoll_ctl", errno);
    unwatch_fd(&k->exit_watch);
    spawn_container_undo(&k->proc);
    rc = -1;
  }
  if (rc == 0) k->running_since_ms = monotonic_ms();
  if (rc == 0 && k->timeout_ms > 0) { /* its argv runs: the run's time starts now */
    k->timeout_at_ms = k->timeout_deadline_ms = monotonic_ms() + k->timeout_ms;
  }
  if (rc < 0) {
    mark_exited(k); /* never ran: no state.json, nothing to report but the error */
    remove_launching_file(k->dir);
    reply_error(c, k->launch_req, &err);
  } else {
    write_state_file(k->dir, k->id, k->proc.pid, k->proc.start_time, &k->proc.cgroups, k->nesting,
                     k->timeout_deadline_ms);
    remove_launching_file(k->dir); /* state.json now says who it is */
    struct reply r = {0};
    reply_add(&r, "type", "launched");
    reply_add(&r, "req", k->launch_req);
    reply_addf(&r, "pid", "%d", k->proc.pid);
    reply_addf(&r, "start_time", "%llu", k->proc.start_time);
    if (k->proc.host_ifname[0] != '\0') reply_add(&r, "host_if", k->proc.host_ifname);
    send_to(c, &r);
    reply_free(&r);
  }
  replay_deferred(k);
}

/* How long after its argv began a run may still be setting up its signal handlers. */
#define YOUNG_RUN_MS 300

void handle_signal(struct client *c, const char *req, const struct message *m, bool is_stop) {
  struct step_error err = {0};
  const char *id = message_get(m, "id");
  struct container *k = id ? find_container(id) : NULL;
  if (k == NULL) {
    step_fail(&err, is_stop ? "stop" : "kill", "lookup", ESRCH);
    reply_error(c, req, &err);
    return;
  }
  if (is_stop) {
    int64_t ms, sig;
    if (request_i64(m, "timeout_ms", 10000, 0, MAX_TIMEOUT_MS, &ms, &err) < 0 ||
        request_i64(m, "signal", SIGTERM, 1, _NSIG - 1, &sig, &err) < 0) {
      reply_error(c, req, &err);
      return;
    }
    /* The stop signal first (SIGTERM unless the request names another); pid 1 ignores signals
     * it has no handler for, so it may do nothing: SIGKILL follows after the timeout. */
    sys_pidfd_send_signal(k->proc.pidfd, ms > 0 ? (int)sig : SIGKILL);
    int64_t now = monotonic_ms(), deadline = now + ms;
    if (k->kill_at_ms == 0 || deadline < k->kill_at_ms) k->kill_at_ms = deadline;
    /* An init (tini) that has not set up its handlers yet drops the signal, as pid 1 does with
     * any it does not handle: one sent in the first instant of a run under an init goes once more
     * when that is over. Only under an init: a service of its own as pid 1 might take a second
     * SIGTERM for "quit now". */
    if (ms > 0 && k->has_init && k->running_since_ms > 0 && now - k->running_since_ms < YOUNG_RUN_MS) {
      int64_t again = k->running_since_ms + YOUNG_RUN_MS;
      if (again < k->kill_at_ms) {
        k->resend_at_ms = again;
        k->resend_signal = (int)sig;
      }
    }
  } else {
    int64_t sig;
    if (request_i64(m, "signal", SIGKILL, 0, _NSIG - 1, &sig, &err) < 0) {
      reply_error(c, req, &err);
      return;
    }
    if (sys_pidfd_send_signal(k->proc.pidfd, (int)sig) < 0) {
      step_fail(&err, "kill", "pidfd_send_signal", errno);
      reply_error(c, req, &err);
      return;
    }
  }
  reply_ok(c, req);
}

void handle_list(struct client *c, const char *req) {
  struct reply r = {0};
  reply_add(&r, "type", "list");
  reply_add(&r, "req", req);
  reply_addf(&r, "launcher_pid", "%d", getpid());
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && !k->launching) reply_addf(&r, "container", "%d %llu %s", k->proc.pid, k->proc.start_time, k->id);
  send_to(c, &r);
  reply_free(&r);
}

void handle_shutdown(struct client *c, const char *req) {
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
