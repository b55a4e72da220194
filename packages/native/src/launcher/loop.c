/* The event loop: clients, signals, logs, launches, containers and exec sessions in one epoll set. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console_log.h"
#include "event_set.h"
#include "log_watch.h"
#include "loop.h"
#include "registry.h"
#include "requests.h"
#include "run_io.h"
#include "state_files.h"
#include "syscalls.h"

#define CLIENT_SNDBUF (16 * 1024 * 1024)

static unsigned long next_client_serial = 1;

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
    if (add_client(c) < 0) { /* cannot be watched: refused, as when accept itself fails */
      close(fd);
      free(c);
    }
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

/* Wakes the loop now and then so an idle launcher notices its state directory was deleted. */
#define IDLE_CHECK_MS 5000

static int next_timeout_ms(void) {
  int64_t now = monotonic_ms(), nearest = now + IDLE_CHECK_MS;
  for (struct container *k = containers; k; k = k->next) {
    if (k->kill_at_ms && k->kill_at_ms < nearest) nearest = k->kill_at_ms;
    if (k->resend_at_ms && k->resend_at_ms < nearest) nearest = k->resend_at_ms;
    if (k->timeout_at_ms && k->timeout_at_ms < nearest) nearest = k->timeout_at_ms;
    if (k->log_rewatch_at && k->log_rewatch_at < nearest) nearest = k->log_rewatch_at;
  }
  for (struct pending_exec *p = execs; p; p = p->next) {
    if (p->deadline_ms && !p->timed_out && p->deadline_ms < nearest) nearest = p->deadline_ms;
    if (p->output_paused_until_ms && p->output_paused_until_ms < nearest) nearest = p->output_paused_until_ms;
  }
  return nearest <= now ? 0 : (int)(nearest - now);
}

static void fire_deadlines(void) {
  int64_t now = monotonic_ms();
  for (struct container *k = containers; k; k = k->next) {
    if (k->kill_at_ms && k->kill_at_ms <= now) {
      sys_pidfd_send_signal(k->proc.pidfd, SIGKILL);
      k->kill_at_ms = 0;
      k->resend_at_ms = 0;
    }
    if (k->resend_at_ms && k->resend_at_ms <= now) {
      if (!k->exited) sys_pidfd_send_signal(k->proc.pidfd, k->resend_signal);
      k->resend_at_ms = 0;
    }
    if (k->timeout_at_ms && k->timeout_at_ms <= now && !k->exited) {
      /* One that ended on its own first (a zombie not yet reaped) did not time out; the signal
       * goes through the pidfd, so a pid reused meanwhile is never hit (ESRCH). */
      bool ended = process_start_time(k->proc.pid) == 0;
      if (!ended && sys_pidfd_send_signal(k->proc.pidfd, SIGKILL) == 0) k->timed_out = true;
      k->timeout_at_ms = 0;
    }
    if (k->log_rewatch_at && k->log_rewatch_at <= now && !k->exited) {
      k->log_rewatch_at = 0;
      k->log_wd = console_log_watch(k->log_path); /* checks it first: what it got meanwhile counts */
    }
  }
  for (struct pending_exec *p = execs; p; p = p->next) {
    if (p->deadline_ms && !p->timed_out && p->deadline_ms <= now) {
      sys_pidfd_send_signal(p->session.pidfd, SIGKILL);
      p->timed_out = true;
    }
    if (p->output_paused_until_ms && p->output_paused_until_ms <= now && !p->done) resume_exec_output(p);
  }
}

static void read_signals(int signal_fd) {
  struct signalfd_siginfo si;
  while (read(signal_fd, &si, sizeof si) == sizeof si) {}
  reap_strays();
}

/* Objects an event names stay allocated until prune(), after the whole batch: an event about one
 * that ended earlier in the batch (its fd already out of the set) is recognised by its state. */
static void dispatch(const struct epoll_event *event) {
  struct watch *w = event->data.ptr;
  switch (w->kind) {
    case WATCH_LISTEN:
      accept_clients(w->fd);
      break;
    case WATCH_SIGNAL:
      read_signals(w->fd);
      break;
    case WATCH_LOGS:
      console_logs_drain(rotate_watched, NULL);
      break;
    case WATCH_CLIENT: {
      struct client *c = w->owner;
      if (!c->closed) read_client(c);
      if (event->events & (EPOLLHUP | EPOLLERR)) c->closed = true;
      break;
    }
    case WATCH_LAUNCH: {
      struct container *k = w->owner;
      if (k->launching) complete_launch(k, NULL); /* not if shutdown abandoned it meanwhile */
      break;
    }
    case WATCH_CONTAINER: {
      struct container *k = w->owner;
      if (!k->exited) finish_container(k);
      break;
    }
    case WATCH_EXEC_STDOUT:
    case WATCH_EXEC_STDERR: {
      struct pending_exec *p = w->owner;
      if (p->done) break;
      enum exec_output which = w->kind == WATCH_EXEC_STDOUT ? EXEC_STDOUT : EXEC_STDERR;
      if (p->interactive) relay_exec_output(p, which);
      else if (exec_session_drain(&p->session, which)) unwatch_fd(w); /* EOF: nothing more to wait for */
      break;
    }
    case WATCH_EXEC_STDIN: {
      struct pending_exec *p = w->owner;
      if (!p->done) feed_exec_input(p);
      break;
    }
    case WATCH_RUN_OUTPUT:
      output_capture_drain(w->owner); /* a no-op once the run's exit closed it */
      break;
    case WATCH_RUN_STDIN:
      stdin_feed_write(w->owner);
      break;
    case WATCH_EXEC_PID: {
      struct pending_exec *p = w->owner;
      if (!p->done) complete_exec(p);
      break;
    }
  }
}

#define MAX_EVENTS 64

int run_loop(int listen_fd, int signal_fd, int logs_fd, const char *socket_path) {
  static struct watch listen_watch, signal_watch, logs_watch;
  if (watch_fd(&listen_watch, WATCH_LISTEN, listen_fd, NULL) < 0 ||
      watch_fd(&signal_watch, WATCH_SIGNAL, signal_fd, NULL) < 0 ||
      watch_fd(&logs_watch, WATCH_LOGS, logs_fd, NULL) < 0)
    return 1;
  int64_t logs_checked_at = monotonic_ms();
  for (;;) {
    if (shutting_down && containers == NULL && execs == NULL) break;
    /* Nothing to watch and our socket is gone (state directory removed): nobody can reach us. */
    if (containers == NULL && execs == NULL && access(socket_path, F_OK) < 0) break;
    struct epoll_event events[MAX_EVENTS];
    int ready = event_set_wait(events, MAX_EVENTS, next_timeout_ms());
    if (ready < 0) return 1;
    fire_deadlines();
    if (monotonic_ms() - logs_checked_at >= IDLE_CHECK_MS) {
      check_all_logs();
      logs_checked_at = monotonic_ms();
    }
    for (int i = 0; i < ready; i++) dispatch(&events[i]);
    prune();
  }
  return 0;
}
