/* The event loop: clients, signals, logs, launches, containers and exec sessions in one poll. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console_log.h"
#include "log_watch.h"
#include "loop.h"
#include "registry.h"
#include "requests.h"
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

int run_loop(int listen_fd, int signal_fd, int logs_fd, const char *socket_path) {
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
