/* The daemon's lists, how their entries join the loop's epoll set, and how they end. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_log.h"
#include "list_sweep.h"
#include "registry.h"

struct client *clients;
struct container *containers;
struct pending_exec *execs;
bool shutting_down;

struct container *find_container(const char *id) {
  for (struct container *k = containers; k; k = k->next)
    if (!k->exited && strcmp(k->id, id) == 0) return k;
  return NULL;
}

struct client *client_by_serial(unsigned long serial) {
  for (struct client *c = clients; c; c = c->next)
    if (c->serial == serial) return c;
  return NULL;
}

int add_client(struct client *c) {
  if (watch_fd(&c->watch, WATCH_CLIENT, c->fd, c) < 0) return -1;
  c->next = clients;
  clients = c;
  return 0;
}

int add_container(struct container *k) {
  k->launch_watch.fd = k->exit_watch.fd = -1;
  int rc = k->launching ? watch_fd(&k->launch_watch, WATCH_LAUNCH, k->proc.handshake_fd, k)
                        : watch_fd(&k->exit_watch, WATCH_CONTAINER, k->proc.pidfd, k);
  if (rc < 0) return -1;
  k->next = containers;
  containers = k;
  return 0;
}

int watch_container_exit(struct container *k) {
  unwatch_fd(&k->launch_watch);
  return watch_fd(&k->exit_watch, WATCH_CONTAINER, k->proc.pidfd, k);
}

void unwatch_exec(struct pending_exec *p) {
  unwatch_fd(&p->pid_watch);
  unwatch_fd(&p->stdout_watch);
  unwatch_fd(&p->stderr_watch);
  unwatch_fd(&p->stdin_watch);
}

int add_exec(struct pending_exec *p) {
  p->pid_watch.fd = p->stdout_watch.fd = p->stderr_watch.fd = p->stdin_watch.fd = -1;
  if (watch_fd(&p->pid_watch, WATCH_EXEC_PID, p->session.pidfd, p) < 0 ||
      watch_fd(&p->stdout_watch, WATCH_EXEC_STDOUT, p->session.stdout_fd, p) < 0 ||
      (p->session.stderr_fd >= 0 && watch_fd(&p->stderr_watch, WATCH_EXEC_STDERR, p->session.stderr_fd, p) < 0)) {
    unwatch_exec(p);
    return -1;
  }
  p->next = execs;
  execs = p;
  return 0;
}

/* A container (or launch) is over: its log is checked one last time (no writer is left), no more
 * watched; prune() frees it. Its fds are closed (and out of the epoll set) by now. */
void mark_exited(struct container *k) {
  if (k->log_path != NULL) console_log_rotate_if_full(k->log_path);
  console_log_unwatch(k->log_wd);
  k->log_wd = -1;
  k->log_rewatch_at = 0;
  k->exited = true;
}

static bool client_closed(const struct client *c) { return c->closed; }
static bool container_exited(const struct container *k) { return k->exited; }
static bool exec_done(const struct pending_exec *p) { return p->done; }

static void release_client(struct client *c) {
  unwatch_fd(&c->watch);
  close(c->fd);
  free(c);
}

static void release_exec(struct pending_exec *p) {
  free(p->input);
  free(p);
}

static void release_container(struct container *k) {
  free(k->id);
  free(k->dir);
  free(k->log_path);
  free(k);
}

void prune(void) {
  LIST_SWEEP(containers, struct container, container_exited, release_container);
  /* An interactive session whose client left is killed: nobody could give it input or see it end. */
  for (struct pending_exec *p = execs; p; p = p->next)
    if (p->interactive && !p->done) {
      struct client *c = client_by_serial(p->client_serial);
      if (c == NULL || c->closed) abandon_interactive_exec(p);
    }
  LIST_SWEEP(clients, struct client, client_closed, release_client);
  LIST_SWEEP(execs, struct pending_exec, exec_done, release_exec);
}
